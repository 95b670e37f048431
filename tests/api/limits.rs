//! Issue 11: limits that hold under concurrency (an attempt is reserved in the store before the
//! password or code is checked), trusted proxies, step-up where it matters.

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::admin::{enrol_admin, password_only, post_code};
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, http_client, spawn_app, spawn_app_with, spawn_node,
};

const BURST: usize = 24;
/// `login_max_failures` (the default) plus the one attempt that may be in flight.
const MOST_EVALUATED: usize = 5 + 1;

/// Sorts a burst's answers into evaluated (`evaluated_status`) and throttled (429, which must
/// carry `Retry-After`); anything else fails the test.
fn tally(responses: Vec<reqwest::Response>, evaluated_status: StatusCode) -> (usize, usize) {
    let (mut evaluated, mut throttled) = (0, 0);
    for res in responses {
        match res.status() {
            s if s == evaluated_status => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let retry: i64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1, "{retry}");
                throttled += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    (evaluated, throttled)
}

async fn failures_in_store(app: &TestApp, key: &str) -> i64 {
    app.state
        .store
        .login_failures(key)
        .await
        .unwrap()
        .map_or(0, |f| f.count)
}

async fn a_burst_of_parallel_wrong_passwords_gets_no_more_tries_than_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    let csrf = app.login_csrf(&client).await;
    let burst = (0..BURST).map(|i| {
        let (client, csrf, url) = (client.clone(), csrf.clone(), app.url("/login"));
        async move {
            client
                .post(url)
                .form(&[
                    ("username", "alice"),
                    ("password", &format!("wrong password {i}")),
                    ("csrf", &csrf),
                ])
                .send()
                .await
                .unwrap()
        }
    });
    let (evaluated, throttled) = tally(join_all(burst).await, StatusCode::UNAUTHORIZED);
    eprintln!("a burst of {BURST} wrong passwords: {evaluated} evaluated, {throttled} got 429");
    assert!(
        evaluated <= MOST_EVALUATED,
        "{evaluated} passwords evaluated"
    );
    assert_eq!(evaluated + throttled, BURST);
    assert!(failures_in_store(&app, "user:alice").await <= MOST_EVALUATED as i64);
    // And the right password waits too.
    let res = app.login_as(&client, "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Two nodes on one database (as behind a load balancer): the burst is split between them and
/// still gets no more tries, because the reservation is one statement in the shared store.
async fn a_burst_split_across_two_nodes_gets_no_more_tries_than_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = spawn_node(&app).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    let csrf = app.login_csrf(&client).await;
    let burst = (0..BURST).map(|i| {
        let node = if i % 2 == 0 { &app } else { &other };
        let (client, csrf, url) = (client.clone(), csrf.clone(), node.url("/login"));
        async move {
            client
                .post(url)
                .form(&[
                    ("username", "alice"),
                    ("password", &format!("wrong password {i}")),
                    ("csrf", &csrf),
                ])
                .send()
                .await
                .unwrap()
        }
    });
    let (evaluated, throttled) = tally(join_all(burst).await, StatusCode::UNAUTHORIZED);
    assert!(
        evaluated <= MOST_EVALUATED,
        "{evaluated} passwords evaluated"
    );
    assert_eq!(evaluated + throttled, BURST);
    assert!(failures_in_store(&app, "user:alice").await <= MOST_EVALUATED as i64);
}

async fn a_burst_of_parallel_wrong_totp_codes_gets_no_more_tries_than_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = enrol_admin(&app).await;
    let (client, csrf) = password_only(&app).await;
    let burst = (0..BURST).map(|i| {
        let (app, client, csrf) = (&app, &client, &csrf);
        async move {
            let field = if i % 2 == 0 { "code" } else { "recovery_code" };
            let value = if i % 2 == 0 {
                format!("{:06}", 100_000 + i)
            } else {
                format!("wrong-code-{i}")
            };
            post_code(app, client, csrf, field, &value).await
        }
    });
    let (evaluated, throttled) = tally(join_all(burst).await, StatusCode::UNAUTHORIZED);
    assert!(evaluated <= MOST_EVALUATED, "{evaluated} codes evaluated");
    assert_eq!(evaluated + throttled, BURST);
    let user = app
        .state
        .store
        .user_by_username_key(crate::admin::ADMIN)
        .await
        .unwrap()
        .unwrap();
    assert!(failures_in_store(&app, &format!("totp:{}", user.id)).await <= MOST_EVALUATED as i64);
    // Even a right recovery code waits now.
    let res = post_code(&app, &client, &csrf, "recovery_code", &enrolled.recovery[0]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A server behind a proxy at 127.0.0.1 (the tests' TCP peer), 3 failures per address.
async fn behind_a_proxy(backend: Backend, trusted: bool) -> TestApp {
    spawn_app_with(backend, |s| {
        if trusted {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }
        s.login_max_failures_per_ip = 3;
    })
    .await
}

/// A wrong password for a new account each time (so only the address limit can bite), with
/// `header: value` added.
async fn wrong_password_via(
    app: &TestApp,
    account: usize,
    header: &str,
    value: &str,
) -> reqwest::Response {
    let client = http_client();
    let csrf = app.login_csrf(&client).await;
    client
        .post(app.url("/login"))
        .header(header, value)
        .form(&[
            ("username", format!("user{account}").as_str()),
            ("password", "wrong"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap()
}

async fn behind_a_trusted_proxy_one_client_address_is_throttled_and_the_others_are_not(
    backend: Backend,
) {
    let app = behind_a_proxy(backend, true).await;
    for i in 0..3 {
        let res = wrong_password_via(&app, i, "x-forwarded-for", "203.0.113.7").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = wrong_password_via(&app, 3, "x-forwarded-for", "203.0.113.7").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not locked out.
    let res = wrong_password_via(&app, 4, "x-forwarded-for", "198.51.100.2").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = wrong_password_via(&app, 5, "x-forwarded-for", "203.0.113.8").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn a_client_cannot_dodge_the_address_limit_by_forging_forwarded_headers(backend: Backend) {
    // Not behind a trusted proxy: the headers are ignored.
    let app = behind_a_proxy(backend, false).await;
    for i in 0..3 {
        let forged = format!("203.0.113.{i}");
        let res = wrong_password_via(&app, i, "x-forwarded-for", &forged).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = wrong_password_via(&app, 3, "forwarded", "for=192.0.2.99").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    // Behind a trusted proxy, entries left of what the proxy appended are the client's own.
    let app = behind_a_proxy(backend, true).await;
    for i in 0..3 {
        let forged = format!("192.0.2.{i}, 203.0.113.7");
        let res = wrong_password_via(&app, i, "x-forwarded-for", &forged).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = wrong_password_via(&app, 3, "x-forwarded-for", "192.0.2.50, 203.0.113.7").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A wrong password sent through the proxy with both headers: what the proxy wrote in one and
/// what the client wrote in the other.
async fn wrong_password_with(app: &TestApp, account: usize, headers: &[(&str, &str)]) -> u16 {
    let client = http_client();
    let csrf = app.login_csrf(&client).await;
    let mut req = client.post(app.url("/login"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.form(&[
        ("username", format!("user{account}").as_str()),
        ("password", "wrong"),
        ("csrf", &csrf),
    ])
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

/// Behind a proxy that writes X-Forwarded-For (the default `trusted_proxy_header`), a client
/// that adds its own `Forwarded` with a new address each time does not get new tries; and
/// with `trusted_proxy_header = "forwarded"` it is the other way round.
async fn only_the_header_the_proxy_writes_is_believed(backend: Backend) {
    let app = behind_a_proxy(backend, true).await;
    for i in 0..3 {
        let forged = format!("for=192.0.2.{i}");
        let status = wrong_password_with(
            &app,
            i,
            &[("forwarded", &forged), ("x-forwarded-for", "203.0.113.7")],
        )
        .await;
        assert_eq!(status, 401);
    }
    let status = wrong_password_with(
        &app,
        3,
        &[
            ("forwarded", "for=192.0.2.99"),
            ("x-forwarded-for", "203.0.113.7"),
        ],
    )
    .await;
    assert_eq!(status, 429, "keyed by what the proxy wrote");

    let app = spawn_app_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.trusted_proxy_header = tessera::config::ProxyHeader::Forwarded;
        s.login_max_failures_per_ip = 3;
    })
    .await;
    for i in 0..3 {
        let forged = format!("192.0.2.{i}");
        let status = wrong_password_with(
            &app,
            i,
            &[
                ("x-forwarded-for", &forged),
                ("forwarded", "for=203.0.113.7"),
            ],
        )
        .await;
        assert_eq!(status, 401);
    }
    let status = wrong_password_with(
        &app,
        3,
        &[
            ("x-forwarded-for", "192.0.2.99"),
            ("forwarded", r#"for="[2001:db8::1]:4711", for=203.0.113.7"#),
        ],
    )
    .await;
    assert_eq!(status, 429, "keyed by the RFC 7239 header");
}

async fn ipv6_clients_are_limited_per_64_so_new_addresses_do_not_buy_new_tries(backend: Backend) {
    let app = behind_a_proxy(backend, true).await;
    for i in 0..3 {
        let addr = format!("2001:db8:1:2::{:x}", i + 1);
        let res = wrong_password_via(&app, i, "x-forwarded-for", &addr).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = wrong_password_via(&app, 3, "x-forwarded-for", "2001:db8:1:2:ffff::1").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = wrong_password_via(&app, 4, "x-forwarded-for", "2001:db8:1:3::1").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "another /64");
}

async fn sessions_and_the_audit_log_record_the_client_address_behind_a_trusted_proxy(
    backend: Backend,
) {
    let app = behind_a_proxy(backend, true).await;
    let user = app.create_user("alice", PASSWORD).await;
    let client = http_client();
    let csrf = app.login_csrf(&client).await;
    let res = client
        .post(app.url("/login"))
        .header("x-forwarded-for", "198.51.100.23")
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let sessions = app
        .state
        .store
        .user_sessions(&user.id, app.clock.now())
        .await
        .unwrap();
    assert_eq!(sessions[0].ip.as_deref(), Some("198.51.100.23"));
    let entries = app
        .state
        .store
        .list_audit(
            &tessera::store::AuditFilter {
                actor: "",
                action: "login.succeeded",
                since: None,
                until: None,
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(entries[0].ip.as_deref(), Some("198.51.100.23"));
}

async fn the_issuer_stays_the_configured_url_whatever_host_headers_say(backend: Backend) {
    let app = behind_a_proxy(backend, true).await;
    let res = http_client()
        .get(app.url("/.well-known/openid-configuration"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example;proto=https")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(!body.contains("evil.example"), "{body}");
    let meta: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(meta["issuer"], app.address.as_str());
}

dual!(
    a_burst_of_parallel_wrong_passwords_gets_no_more_tries_than_the_limit,
    a_burst_split_across_two_nodes_gets_no_more_tries_than_the_limit,
    a_burst_of_parallel_wrong_totp_codes_gets_no_more_tries_than_the_limit,
    behind_a_trusted_proxy_one_client_address_is_throttled_and_the_others_are_not,
    a_client_cannot_dodge_the_address_limit_by_forging_forwarded_headers,
    only_the_header_the_proxy_writes_is_believed,
    ipv6_clients_are_limited_per_64_so_new_addresses_do_not_buy_new_tries,
    sessions_and_the_audit_log_record_the_client_address_behind_a_trusted_proxy,
    the_issuer_stays_the_configured_url_whatever_host_headers_say,
);
