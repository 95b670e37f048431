//! The device authorization grant (RFC 8628) through HTTP: `/device_authorization`, the
//! `/device` page and the `device_code` grant at `/token`, on both backends; attacks in
//! parallel bursts and across two nodes; the page driven end to end in headless Chromium.

use fantoccini::Locator;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use tessera::oauth::client::RegistrationInput;

use crate::admin_browser::fill;
use crate::admin_look::look;
use crate::admin_walk::{axe_source, axe_violations};
use crate::browser::{browser, chromedriver};
use crate::cli_config::{stderr, tessera};
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestClient, TestDb, csrf_in, http_client, jwt_claims, location,
    spawn_app, spawn_app_with, spawn_node, spawn_on,
};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const ALPHABET: &str = "BCDFGHJKLMNPQRSTVWXZ";

/// A TV app: public unless `client_type` says otherwise; device grant and refresh.
async fn device_client(app: &TestApp, client_type: &str) -> TestClient {
    app.create_client(RegistrationInput {
        name: "Living-room TV".into(),
        client_type: client_type.into(),
        grant_types: vec![GRANT.into(), "refresh_token".into()],
        scope: Some("openid profile offline_access".into()),
        ..RegistrationInput::default()
    })
    .await
}

/// A form POST authenticated as `c`: HTTP Basic for a confidential client, `client_id` in the
/// body for a public one.
async fn post_as(
    app: &TestApp,
    path: &str,
    c: &TestClient,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut req = app.client.post(app.url(path));
    match &c.secret {
        Some(secret) => req = req.basic_auth(&c.id, Some(secret)),
        None => form.push(("client_id", &c.id)),
    }
    req.form(&form).send().await.expect("request failed")
}

/// §3.1: a device authorization request that must succeed.
async fn start(app: &TestApp, c: &TestClient, scope: &str) -> Value {
    let res = post_as(app, "/device_authorization", c, &[("scope", scope)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.expect("json")
}

async fn poll(app: &TestApp, c: &TestClient, device_code: &str) -> reqwest::Response {
    post_as(
        app,
        "/token",
        c,
        &[("grant_type", GRANT), ("device_code", device_code)],
    )
    .await
}

/// The `error` of a poll, or "ok" for tokens.
async fn poll_error(app: &TestApp, c: &TestClient, device_code: &str) -> String {
    let res = poll(app, c, device_code).await;
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    if status == 200 {
        assert!(body["access_token"].is_string());
        return "ok".into();
    }
    assert_eq!(status, 400, "{body}");
    body["error"].as_str().expect("error").to_string()
}

/// A signed-in browser (cookie jar) for `name`.
async fn signed_in(app: &TestApp, name: &str) -> reqwest::Client {
    let b = http_client();
    app.create_user(name, PASSWORD).await;
    assert_eq!(app.login_as(&b, name, PASSWORD).await.status(), 303);
    b
}

/// The /device form's CSRF token for a signed-in browser.
async fn device_csrf(app: &TestApp, b: &reqwest::Client) -> String {
    let res = b.get(app.url("/device")).send().await.expect("GET /device");
    assert_eq!(res.status(), 200);
    csrf_in(&res.text().await.expect("html"))
}

async fn post_device(
    app: &TestApp,
    b: &reqwest::Client,
    form: &[(&str, &str)],
) -> reqwest::Response {
    b.post(app.url("/device"))
        .form(form)
        .send()
        .await
        .expect("POST /device")
}

/// The user types `code`, sees the request, and answers `decision` ("allow" or "deny").
async fn decide(
    app: &TestApp,
    b: &reqwest::Client,
    code: &str,
    decision: &str,
) -> reqwest::Response {
    let csrf = device_csrf(app, b).await;
    let res = post_device(app, b, &[("csrf", &csrf), ("user_code", code)]).await;
    assert_eq!(res.status(), 200, "the confirmation page");
    let html = res.text().await.expect("html");
    assert!(
        html.contains("Living-room TV"),
        "§5.4: the page names the client"
    );
    post_device(
        app,
        b,
        &[("csrf", &csrf), ("user_code", code), ("decision", decision)],
    )
    .await
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn db(app: &TestApp) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&app.db.url).await.expect("db")
}

/// RFC 8628 §4: discovery names the endpoint, and the grant type among the supported ones.
async fn discovery_advertises_the_device_endpoint_and_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = app.get(path).await.json().await.unwrap();
        assert_eq!(
            doc["device_authorization_endpoint"],
            app.url("/device_authorization")
        );
        assert!(
            doc["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&Value::from(GRANT))
        );
    }
}

/// RFC 8628 §3.2: the response's members; §6.1: the user code is 8 characters of the
/// consonant alphabet shown as XXXX-XXXX; the device code is high-entropy and stored only as
/// its SHA-256; §3.1: client authentication as at the token endpoint (public clients by
/// client_id, confidential clients with their secret), and only for clients of the grant.
async fn the_device_authorization_response_follows_section_3_2(backend: Backend) {
    let app = spawn_app(backend).await;
    let public = device_client(&app, "public").await;
    let confidential = device_client(&app, "confidential").await;
    let d = start(&app, &public, "openid profile").await;
    let device_code = d["device_code"].as_str().unwrap();
    assert!(device_code.starts_with("tdc_") && device_code.len() == 47);
    let user_code = d["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| ALPHABET.contains(c))
    );
    assert_eq!(d["verification_uri"], app.url("/device"));
    assert_eq!(
        d["verification_uri_complete"],
        app.url(&format!("/device?user_code={user_code}"))
    );
    assert_eq!(d["expires_in"], 600, "default 10 minutes");
    assert_eq!(d["interval"], 5, "default 5 seconds");

    // Stored hashed: neither code appears in the table as sent.
    let mut c = db(&app).await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("select device_code_hash, user_code_hash from device_codes")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, sha256_hex(device_code));
    assert_eq!(
        rows[0].1,
        sha256_hex(&user_code.replace('-', "")),
        "the user code is stored as the SHA-256 of its normalised form (no dash, upper case)"
    );
    assert!(!rows[0].1.contains(&user_code.replace('-', "")));

    // A confidential client authenticates with its secret; a wrong one is invalid_client.
    start(&app, &confidential, "openid").await;
    let res = app
        .client
        .post(app.url("/device_authorization"))
        .basic_auth(&confidential.id, Some("tcs_wrong"))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .post(app.url("/device_authorization"))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "no client at all");

    // Scope checked like /authorize: only the client's scopes.
    let res = post_as(
        &app,
        "/device_authorization",
        &public,
        &[("scope", "openid admin")],
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");

    // `resource` as at /authorize (RFC 8707 §2): an API the client may not use is refused.
    let res = post_as(
        &app,
        "/device_authorization",
        &public,
        &[
            ("scope", "openid"),
            ("resource", "https://api.unknown.example/"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target");

    // A client not registered for the grant.
    let code_app = app
        .create_client(crate::helpers::code_flow_client("public"))
        .await;
    let res = post_as(
        &app,
        "/device_authorization",
        &code_app,
        &[("scope", "openid")],
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(
        poll_error(&app, &code_app, device_code).await,
        "unauthorized_client"
    );

    // Only POST.
    let res = app.get("/device_authorization").await;
    assert_eq!(res.status(), 405);
}

/// The whole flow without a browser: §3.5 authorization_pending until the user decides; the
/// page (§3.3) takes the code in any case and without its dash, names the client and its
/// scopes (§5.4), and the approval is answered with tokens once: an access token for the
/// user, an ID token (openid) and a refresh token that rotates with reuse detection.
async fn an_approved_device_gets_tokens_once_and_refreshes_like_any_user_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid profile offline_access").await;
    let device_code = d["device_code"].as_str().unwrap();
    let user_code = d["user_code"].as_str().unwrap();
    assert_eq!(
        poll_error(&app, &c, device_code).await,
        "authorization_pending",
        "§3.5"
    );

    let b = signed_in(&app, "alice").await;
    // verification_uri_complete pre-fills the code but still asks (§5.4).
    let res = b
        .get(d["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"value="{user_code}""#)),
        "pre-filled"
    );
    assert!(
        !html.contains("decision"),
        "no approval without a confirmation step"
    );

    let typed = user_code.replace('-', " ").to_lowercase();
    let csrf = csrf_in(&html);
    let res = post_device(&app, &b, &[("csrf", &csrf), ("user_code", &typed)]).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Living-room TV"));
    assert!(
        page.contains("See your username and name"),
        "the scopes are shown"
    );
    assert!(
        page.contains(user_code),
        "the code, to compare with the device"
    );
    assert_eq!(
        poll_error(&app, &c, device_code).await,
        "slow_down",
        "polled again at once"
    );
    app.clock.advance(20);
    assert_eq!(
        poll_error(&app, &c, device_code).await,
        "authorization_pending"
    );

    let res = post_device(
        &app,
        &b,
        &[
            ("csrf", &csrf),
            ("user_code", &typed),
            ("decision", "allow"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Device connected"));

    let res = poll(&app, &c, device_code).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let tokens: Value = res.json().await.unwrap();
    let claims = jwt_claims(tokens["access_token"].as_str().unwrap());
    let alice = app
        .state
        .store
        .user_by_username_key("alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claims["sub"], alice.id.as_str());
    assert_eq!(claims["client_id"], c.id.as_str());
    assert!(claims["sid"].is_string(), "bound to the approving session");
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], c.id.as_str());
    assert_eq!(id["preferred_username"], "alice");
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();

    // Redeemed once (§3.5 / RFC 6749 §10.5): the next poll gets nothing.
    assert_eq!(poll_error(&app, &c, device_code).await, "invalid_grant");

    // Refresh rotates; a reused refresh token revokes the family.
    let refresh = |token: String| {
        let app = &app;
        let c = &c;
        async move {
            post_as(
                app,
                "/token",
                c,
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };
    let res = refresh(rt.clone()).await;
    assert_eq!(res.status(), 200);
    let next: Value = res.json().await.unwrap();
    let rt2 = next["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(refresh(rt.clone()).await.status(), 400, "reuse");
    assert_eq!(refresh(rt2).await.status(), 400, "the family is revoked");
}

/// §3.5: every poll before the interval is over is answered slow_down, and from then on the
/// interval is 5 seconds longer, stored so that another node (PostgreSQL) measures against
/// the same interval.
async fn polling_too_fast_slows_down_and_the_interval_grows_on_every_node(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid").await;
    let code = d["device_code"].as_str().unwrap();
    assert_eq!(poll_error(&app, &c, code).await, "authorization_pending");
    app.clock.advance(2);
    let res = poll(&app, &c, code).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "slow_down", "2 s < the 5 s interval");
    assert_eq!(
        body["error_description"],
        "polled too fast; wait 10 seconds between requests"
    );
    // The interval is 10 s now: 5 s later (enough before) is too fast.
    app.clock.advance(5);
    assert_eq!(poll_error(&app, &c, code).await, "slow_down");
    // 15 s now.
    app.clock.advance(10);
    assert_eq!(poll_error(&app, &c, code).await, "slow_down");
    // 20 s now; 19 s later is on time (1 s of grace for the clocks of other nodes).
    app.clock.advance(19);
    assert_eq!(poll_error(&app, &c, code).await, "authorization_pending");
    app.clock.advance(25);
    assert_eq!(poll_error(&app, &c, code).await, "authorization_pending");
    let mut conn = db(&app).await;
    let interval: i64 = sqlx::query_scalar("select interval_secs from device_codes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(interval, 20, "persisted: 5 + 3 × 5");
    // 3 s early (2 s if the wall clock ticks meanwhile) is more than the grace.
    app.clock.advance(17);
    assert_eq!(poll_error(&app, &c, code).await, "slow_down");

    if backend == Backend::Postgres {
        let node = spawn_node(&app).await;
        node.clock.advance(app.clock.now() - node.clock.now() + 10);
        assert_eq!(
            poll_error(&node, &c, code).await,
            "slow_down",
            "node B measures against the stored interval"
        );
        node.clock.advance(30);
        assert_eq!(poll_error(&node, &c, code).await, "authorization_pending");
        // Node B sees the approval made through node A.
        let b = signed_in(&app, "alice").await;
        let res = decide(&app, &b, d["user_code"].as_str().unwrap(), "allow").await;
        assert_eq!(res.status(), 200);
        node.clock.advance(30);
        assert_eq!(poll_error(&node, &c, code).await, "ok");
        assert_eq!(poll_error(&app, &c, code).await, "invalid_grant");
    }
}

/// §3.5: a denied request answers access_denied; an expired one expired_token, and the page
/// no longer finds it (§3.3).
async fn denied_and_expired_requests_answer_as_section_3_5(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let b = signed_in(&app, "alice").await;
    let denied = start(&app, &c, "openid").await;
    let res = decide(&app, &b, denied["user_code"].as_str().unwrap(), "deny").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Request denied"));
    let code = denied["device_code"].as_str().unwrap();
    assert_eq!(poll_error(&app, &c, code).await, "access_denied");
    // Decided once: approving afterwards finds nothing pending.
    let csrf = device_csrf(&app, &b).await;
    let res = post_device(
        &app,
        &b,
        &[
            ("csrf", &csrf),
            ("user_code", denied["user_code"].as_str().unwrap()),
            ("decision", "allow"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("This request was already answered")
    );
    app.clock.advance(10);
    assert_eq!(poll_error(&app, &c, code).await, "access_denied");

    let late = start(&app, &c, "openid").await;
    app.clock.advance(601);
    assert_eq!(
        poll_error(&app, &c, late["device_code"].as_str().unwrap()).await,
        "expired_token"
    );
    let csrf = device_csrf(&app, &b).await;
    let res = post_device(
        &app,
        &b,
        &[
            ("csrf", &csrf),
            ("user_code", late["user_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("not valid, or it has expired")
    );
}

/// §3.5 with RFC 6749 §5.2: an unknown device code, a code of another client, and the
/// missing parameter are refused; a code never names another client's request.
async fn unknown_codes_and_codes_of_another_client_are_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let other = device_client(&app, "confidential").await;
    let d = start(&app, &c, "openid").await;
    let code = d["device_code"].as_str().unwrap();
    assert_eq!(poll_error(&app, &other, code).await, "invalid_grant");
    assert_eq!(
        poll_error(&app, &c, "tdc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await,
        "invalid_grant"
    );
    assert_eq!(poll_error(&app, &c, "not-a-code").await, "invalid_grant");
    let res = post_as(&app, "/token", &c, &[("grant_type", GRANT)]).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    // Another client's approved code is still not this client's.
    let b = signed_in(&app, "alice").await;
    decide(&app, &b, d["user_code"].as_str().unwrap(), "allow").await;
    assert_eq!(poll_error(&app, &other, code).await, "invalid_grant");
    assert_eq!(poll_error(&app, &c, code).await, "ok");
}

/// A device code redeems once: a parallel burst of redemptions of an approved code gets
/// exactly one token response (the state changes in one conditional UPDATE).
async fn a_parallel_burst_of_redemptions_yields_one_token_response(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid offline_access").await;
    let b = signed_in(&app, "alice").await;
    decide(&app, &b, d["user_code"].as_str().unwrap(), "allow").await;
    let code = d["device_code"].as_str().unwrap();
    let results = futures_util::future::join_all((0..20).map(|_| poll_error(&app, &c, code))).await;
    let ok = results.iter().filter(|r| *r == "ok").count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(
        results.iter().all(|r| r == "ok" || r == "invalid_grant"),
        "{results:?}"
    );
    let mut conn = db(&app).await;
    let families: i64 = sqlx::query_scalar("select count(*) from refresh_families")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(families, 1);
}

/// Approve and deny are single-use: a parallel burst of decisions on one code decides once.
async fn a_parallel_burst_of_decisions_decides_once(backend: Backend) {
    // The throttle must not be what turns the losers away.
    let app = spawn_app_with(backend, |s| {
        s.device_max_failures = 100;
        s.device_max_failures_per_user = 100;
        s.device_max_failures_per_ip = 100;
    })
    .await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid").await;
    let user_code = d["user_code"].as_str().unwrap();
    let b = signed_in(&app, "alice").await;
    let csrf = device_csrf(&app, &b).await;
    let results = futures_util::future::join_all((0..16).map(|i| {
        let b = b.clone();
        let csrf = csrf.clone();
        let app = &app;
        async move {
            let decision = if i % 2 == 0 { "allow" } else { "deny" };
            let res = post_device(
                app,
                &b,
                &[
                    ("csrf", &csrf),
                    ("user_code", user_code),
                    ("decision", decision),
                ],
            )
            .await;
            let status = res.status().as_u16();
            let gone = res
                .text()
                .await
                .unwrap()
                .contains("This request was already answered");
            (status, gone)
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| s.0 == 200).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|s| s.0 == 400 && s.1).count(),
        15,
        "the others: the request is no longer pending {results:?}"
    );
    let answer = poll_error(&app, &c, d["device_code"].as_str().unwrap()).await;
    assert!(answer == "ok" || answer == "access_denied", "{answer}");
}

/// §5.1: wrong user codes are throttled per session, and the limit holds under a parallel
/// burst (an attempt is reserved before the code is looked at): exactly `device_max_failures`
/// get an answer, the rest 429 with Retry-After; then even the right code waits.
async fn wrong_codes_are_throttled_per_session_under_a_parallel_burst(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid").await;
    let b = signed_in(&app, "alice").await;
    let csrf = device_csrf(&app, &b).await;
    let results = futures_util::future::join_all((0..24).map(|i| {
        let b = b.clone();
        let csrf = csrf.clone();
        let app = &app;
        async move {
            let guess = format!("BCDF-GH{}", &ALPHABET[i % 20..i % 20 + 1].repeat(2));
            let res = post_device(app, &b, &[("csrf", &csrf), ("user_code", &guess)]).await;
            (
                res.status().as_u16(),
                res.headers().contains_key("retry-after"),
            )
        }
    }))
    .await;
    let wrong = results.iter().filter(|(s, _)| *s == 400).count();
    let throttled = results.iter().filter(|(s, r)| *s == 429 && *r).count();
    assert_eq!(wrong, 5, "{results:?}");
    assert_eq!(throttled, 19, "{results:?}");
    let res = post_device(
        &app,
        &b,
        &[
            ("csrf", &csrf),
            ("user_code", d["user_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(res.status(), 429, "the session waits, right code or not");
    assert!(res.text().await.unwrap().contains("Too many wrong codes"));
    // Another session (from another address in real life) is not held back by this one.
    let other = signed_in(&app, "bob").await;
    let res = decide(&app, &other, d["user_code"].as_str().unwrap(), "allow").await;
    assert_eq!(res.status(), 200);
}

/// §5.1: the client address is counted too: sessions that take turns from one address share
/// its budget, also under a parallel burst.
async fn wrong_codes_are_throttled_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.device_max_failures = 100;
        s.device_max_failures_per_ip = 6;
    })
    .await;
    let sessions = [
        signed_in(&app, "alice").await,
        signed_in(&app, "bob").await,
        signed_in(&app, "carol").await,
    ];
    let mut forms = Vec::new();
    for b in &sessions {
        forms.push((b.clone(), device_csrf(&app, b).await));
    }
    let results = futures_util::future::join_all((0..18).map(|i| {
        let (b, csrf) = forms[i % 3].clone();
        let app = &app;
        async move {
            post_device(app, &b, &[("csrf", &csrf), ("user_code", "BBBB-BBBB")])
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 400).count(),
        6,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|s| **s == 429).count(),
        12,
        "{results:?}"
    );
}

/// The page: sign-in first (the code survives the login), CSRF on every POST, the strict CSP
/// of every page, no cache.
async fn the_device_page_needs_a_sign_in_and_a_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid").await;
    let user_code = d["user_code"].as_str().unwrap();
    let anonymous = http_client();
    let res = anonymous
        .get(d["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to_login = location(&res);
    assert!(to_login.starts_with("/login?return_to="), "{to_login}");
    assert!(to_login.contains(user_code), "{to_login}");
    // Junk in user_code is not carried to the login page.
    let res = anonymous
        .get(app.url("/device?user_code=%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?return_to=%2Fdevice");
    let res = anonymous
        .post(app.url("/device"))
        .form(&[("user_code", user_code)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "a POST without a session goes to the login page too"
    );

    // The login form comes back to /device with the code.
    app.create_user("alice", PASSWORD).await;
    let res = anonymous.get(app.url(&to_login)).send().await.unwrap();
    let html = res.text().await.unwrap();
    let res = anonymous
        .post(app.url("/login"))
        .form(
            &crate::helpers::hidden_inputs(&html)
                .into_iter()
                .chain([
                    ("username".to_string(), "alice".to_string()),
                    ("password".to_string(), PASSWORD.to_string()),
                ])
                .collect::<Vec<_>>(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), format!("/device?user_code={user_code}"));
    let res = anonymous
        .get(app.url(&location(&res)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.text().await.unwrap().contains(user_code));

    // CSRF: no token, a wrong token, and a cross-site POST are all refused.
    for form in [
        vec![("user_code", user_code), ("decision", "allow")],
        vec![
            ("csrf", "forged"),
            ("user_code", user_code),
            ("decision", "allow"),
        ],
    ] {
        let res = post_device(&app, &anonymous, &form).await;
        assert_eq!(res.status(), 403);
    }
    let csrf = device_csrf(&app, &anonymous).await;
    let res = anonymous
        .post(app.url("/device"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("csrf", csrf.as_str()),
            ("user_code", user_code),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        poll_error(&app, &c, d["device_code"].as_str().unwrap()).await,
        "authorization_pending",
        "nothing was approved"
    );
}

/// The grant is bound to the approving session like the code flow's: signing out ends its
/// refresh and access tokens; a sign-out between approval and redemption leaves nothing to
/// redeem; a disabled user gets nothing.
async fn logout_ends_the_device_grant_and_a_disabled_user_gets_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let rs = app.create_resource_server_client().await;
    let b = signed_in(&app, "alice").await;
    let d = start(&app, &c, "openid offline_access").await;
    decide(&app, &b, d["user_code"].as_str().unwrap(), "allow").await;
    let tokens: Value = poll(&app, &c, d["device_code"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(&rs, at).await["active"], true);

    // A second request approved in the same session, not yet redeemed.
    let pending = start(&app, &c, "openid").await;
    decide(&app, &b, pending["user_code"].as_str().unwrap(), "allow").await;

    let csrf = app.account_csrf(&b).await;
    b.post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(app.introspect(&rs, at).await["active"], false);
    let res = post_as(
        &app,
        "/token",
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        poll_error(&app, &c, pending["device_code"].as_str().unwrap()).await,
        "invalid_grant",
        "the approving session ended"
    );

    // A disabled user: approved, then disabled before the device polls.
    let b = signed_in(&app, "bob").await;
    let d = start(&app, &c, "openid").await;
    decide(&app, &b, d["user_code"].as_str().unwrap(), "allow").await;
    let bob = app
        .state
        .store
        .user_by_username_key("bob")
        .await
        .unwrap()
        .unwrap();
    app.state
        .store
        .set_user_disabled(&bob.id, true, app.clock.now())
        .await
        .unwrap();
    assert_eq!(
        poll_error(&app, &c, d["device_code"].as_str().unwrap()).await,
        "invalid_grant"
    );
}

/// What anyone who knows a public client's id can make the server store is bounded: past
/// `device_max_live_codes_per_client` live requests, 429 `temporarily_unavailable`, also under a
/// parallel burst; expired requests stop counting and the purge removes them.
async fn live_device_codes_per_client_are_bounded_and_purged(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.device_max_live_codes_per_client = 4).await;
    let first_at = app.clock.now();
    let c = device_client(&app, "public").await;
    let results = futures_util::future::join_all((0..12).map(|_| {
        let app = &app;
        let c = &c;
        async move {
            let res = post_as(app, "/device_authorization", c, &[("scope", "openid")]).await;
            let status = res.status().as_u16();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = res.json().await.unwrap();
            (
                status,
                retry,
                body["error"].as_str().unwrap_or_default().to_string(),
            )
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|r| r.0 == 200).count(),
        4,
        "{results:?}"
    );
    assert!(
        // 600 s, or 599 when the wall clock ticked during the burst.
        results.iter().filter(|r| r.0 != 200).all(|r| r.0 == 429
            && matches!(r.1.as_deref(), Some("600" | "599"))
            && r.2 == "temporarily_unavailable"),
        "like /token's rate limit, until the earliest live code expires: {results:?}"
    );
    app.clock.advance(100);
    let res = post_as(&app, "/device_authorization", &c, &[("scope", "openid")]).await;
    assert_eq!(res.status(), 429);
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = first_at + 600 - app.clock.now();
    assert!(
        (expected - 1..=expected + 1).contains(&retry),
        "{retry} vs {expected}: until the earliest live code expires"
    );
    app.clock.advance(601);
    start(&app, &c, "openid").await;

    let policy = tessera::purge::Policy::from_settings(&app.state.settings);
    let outcome = tessera::purge::run_once(
        &app.state.store,
        policy,
        app.clock.now() + tessera::purge::CLOCK_SKEW_MARGIN,
    )
    .await
    .unwrap();
    let tessera::purge::Outcome::Ran(purged) = outcome else {
        panic!("no purge ran");
    };
    assert_eq!(purged.device_codes, 4, "the expired ones, not the live one");
    let mut conn = db(&app).await;
    let left: i64 = sqlx::query_scalar("select count(*) from device_codes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 1);
}

/// `tessera client add --grant-type urn:ietf:params:oauth:grant-type:device_code` registers a
/// public device client that a server then serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_registers_a_device_client() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let out = tessera(
        dir.path(),
        &[
            "client",
            "add",
            "--name",
            "Living-room TV",
            "--type",
            "public",
            "--grant-type",
            GRANT,
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid offline_access",
            "--json",
        ],
        &[("DATABASE_URL", &db.url)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        added["grant_types"],
        serde_json::json!(["refresh_token", GRANT])
    );
    let app = spawn_on(db, tempfile::tempdir().unwrap(), |_| {}).await;
    let c = TestClient {
        id: added["client_id"].as_str().unwrap().to_string(),
        secret: None,
    };
    let d = start(&app, &c, "openid").await;
    assert_eq!(
        poll_error(&app, &c, d["device_code"].as_str().unwrap()).await,
        "authorization_pending"
    );
}

/// End to end in headless Chromium: the device asks for codes, the person opens the
/// verification URI, signs in, finds the code already typed, continues, sees the client and
/// what it asks, approves; the polling device gets its tokens. The page is looked at 1280 and
/// 390 px wide (screenshots in target/screens/), never scrolls sideways, and an axe-core pass
/// finds no serious or critical violation.
async fn a_person_connects_a_device_in_a_real_browser(backend: Backend) {
    let app = behind_a_proxy(backend, |_| {}).await;
    app.create_user("alice", PASSWORD).await;
    let c = device_client(&app, "public").await;
    // The device on another network than the browser (an IPv6 /48, the longest one shown).
    let res = app
        .client
        .post(app.url("/device_authorization"))
        .header("x-forwarded-for", "2001:db8:aaaa:bbbb::7")
        .form(&[
            ("client_id", c.id.as_str()),
            ("scope", "openid profile offline_access"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let d: Value = res.json().await.unwrap();
    let device_code = d["device_code"].as_str().unwrap().to_string();
    let user_code = d["user_code"].as_str().unwrap().to_string();
    let axe = axe_source();
    let driver = chromedriver().await;
    let b = browser(&driver).await;

    b.goto(&app.url("/device")).await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/login");
    fill(&b, "username", "alice").await;
    fill(&b, "password", PASSWORD).await;
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let input = b
        .wait()
        .for_element(Locator::Id("user_code"))
        .await
        .unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/device");
    look(&b, "device-enter").await;
    assert_eq!(
        axe_violations(&b, &axe).await,
        Vec::<String>::new(),
        "device-enter"
    );

    // A wrong code first: a readable error, the form again.
    input.send_keys("bbbb bbbb").await.unwrap();
    b.find(Locator::Css("form[action='/device'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = b.wait().for_element(Locator::Css("p.error")).await.unwrap();
    assert!(error.text().await.unwrap().contains("not valid"));
    look(&b, "device-wrong-code").await;
    assert_eq!(
        axe_violations(&b, &axe).await,
        Vec::<String>::new(),
        "device-wrong-code"
    );

    // The code as the device shows it, typed in lower case.
    let input = b.find(Locator::Id("user_code")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(&user_code.to_lowercase()).await.unwrap();
    b.find(Locator::Css("form[action='/device'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let client = b.wait().for_element(Locator::Id("client")).await.unwrap();
    assert_eq!(client.text().await.unwrap(), "Living-room TV");
    assert_eq!(
        b.find(Locator::Id("code"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        user_code
    );
    let warning = b.find(Locator::Id("elsewhere")).await.unwrap();
    assert!(warning.text().await.unwrap().contains("another network"));
    let requested = b.find(Locator::Id("requested")).await.unwrap();
    assert!(
        requested
            .text()
            .await
            .unwrap()
            .contains("from network 2001:db8:aaaa::/48")
    );
    look(&b, "device-confirm").await;
    assert_eq!(
        axe_violations(&b, &axe).await,
        Vec::<String>::new(),
        "device-confirm"
    );
    assert_eq!(
        poll_error(&app, &c, &device_code).await,
        "authorization_pending"
    );

    b.find(Locator::Css("button[value=allow]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = b.wait().for_element(Locator::Id("done")).await.unwrap();
    assert_eq!(done.text().await.unwrap(), "Device connected");
    look(&b, "device-done").await;
    assert_eq!(
        axe_violations(&b, &axe).await,
        Vec::<String>::new(),
        "device-done"
    );

    app.clock.advance(5);
    let res = poll(&app, &c, &device_code).await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    assert!(tokens["id_token"].is_string());
    assert!(tokens["refresh_token"].is_string());
    b.close().await.unwrap();
}

dual!(
    discovery_advertises_the_device_endpoint_and_grant,
    the_device_authorization_response_follows_section_3_2,
    an_approved_device_gets_tokens_once_and_refreshes_like_any_user_grant,
    polling_too_fast_slows_down_and_the_interval_grows_on_every_node,
    denied_and_expired_requests_answer_as_section_3_5,
    unknown_codes_and_codes_of_another_client_are_invalid_grant,
    a_parallel_burst_of_redemptions_yields_one_token_response,
    a_parallel_burst_of_decisions_decides_once,
    wrong_codes_are_throttled_per_session_under_a_parallel_burst,
    wrong_codes_are_throttled_per_address,
    the_device_page_needs_a_sign_in_and_a_csrf_token,
    logout_ends_the_device_grant_and_a_disabled_user_gets_nothing,
    live_device_codes_per_client_are_bounded_and_purged,
    a_person_connects_a_device_in_a_real_browser,
    wrong_codes_are_throttled_per_account_across_new_sessions,
    live_device_codes_per_address_are_bounded_under_a_burst,
    the_confirm_page_says_when_and_from_where_the_device_asked,
    an_unknown_decision_is_refused_and_decides_nothing,
    a_client_that_lost_the_grant_has_no_pending_requests,
    approved_requests_give_nothing_after_a_password_change_or_revocation,
    approved_requests_give_nothing_once_the_session_expired,
    a_slow_down_interval_is_capped,
    an_approved_request_for_an_api_just_taken_from_the_client_gives_nothing,
);

/// A client behind a proxy the app trusts: `x-forwarded-for` names the client address.
async fn behind_a_proxy(
    backend: Backend,
    configure: impl FnOnce(&mut tessera::config::Settings),
) -> TestApp {
    spawn_app_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        configure(s);
    })
    .await
}

/// A cookie jar whose every request comes from `address` (through the trusted proxy).
fn browser_at(address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn start_from(app: &TestApp, c: &TestClient, address: &str) -> reqwest::Response {
    app.client
        .post(app.url("/device_authorization"))
        .header("x-forwarded-for", address)
        .form(&[("client_id", c.id.as_str()), ("scope", "openid")])
        .send()
        .await
        .unwrap()
}

/// §5.1: wrong codes count per account, whatever the session: signing in again (a new
/// session, here from the same address, with a generous address limit) gives no more
/// guesses, also in a parallel burst across sessions; another account is not held back.
async fn wrong_codes_are_throttled_per_account_across_new_sessions(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.device_max_failures = 100;
        s.device_max_failures_per_ip = 1000;
        s.device_max_failures_per_user = 6;
    })
    .await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid").await;
    let user_code = d["user_code"].as_str().unwrap();
    app.create_user("mallory", PASSWORD).await;
    let mut forms = Vec::new();
    for _ in 0..3 {
        let b = http_client();
        assert_eq!(app.login_as(&b, "mallory", PASSWORD).await.status(), 303);
        let csrf = device_csrf(&app, &b).await;
        forms.push((b, csrf));
    }
    let results = futures_util::future::join_all((0..12).map(|i| {
        let (b, csrf) = forms[i % 3].clone();
        let app = &app;
        async move {
            post_device(app, &b, &[("csrf", &csrf), ("user_code", "BBBB-BBBB")])
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 400).count(),
        6,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|s| **s == 429).count(),
        6,
        "{results:?}"
    );
    // A fresh sign-in is held back too, right code or not.
    let b = http_client();
    assert_eq!(app.login_as(&b, "mallory", PASSWORD).await.status(), 303);
    let csrf = device_csrf(&app, &b).await;
    let res = post_device(&app, &b, &[("csrf", &csrf), ("user_code", user_code)]).await;
    assert_eq!(res.status(), 429, "a new session of the same account waits");
    assert!(res.headers().contains_key("retry-after"));
    let other = signed_in(&app, "bob").await;
    assert_eq!(decide(&app, &other, user_code, "allow").await.status(), 200);
}

/// One requester cannot take a public client's whole bound: at most
/// `device_max_live_codes_per_address` live requests per IPv4 address or IPv6 /64, counted
/// under the same lock as the client's bound (a parallel burst does not overshoot); other
/// addresses still get codes.
async fn live_device_codes_per_address_are_bounded_under_a_burst(backend: Backend) {
    let app = behind_a_proxy(backend, |s| {
        s.device_max_live_codes_per_address = 5;
        s.device_max_live_codes_per_client = 100;
    })
    .await;
    let c = device_client(&app, "public").await;
    for (first, second) in [
        ("203.0.113.7", "203.0.113.8"),
        ("2001:db8:1:2::1", "2001:db8:1:3::1"),
    ] {
        let results = futures_util::future::join_all((0..12).map(|i| {
            let app = &app;
            let c = &c;
            // IPv6: one /64 however its addresses vary.
            let address = if first.contains(':') {
                format!("2001:db8:1:2::{:x}", i + 1)
            } else {
                first.to_string()
            };
            async move {
                let res = start_from(app, c, &address).await;
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap();
                (
                    status,
                    body["error"].as_str().unwrap_or_default().to_string(),
                )
            }
        }))
        .await;
        assert_eq!(
            results.iter().filter(|r| r.0 == 200).count(),
            5,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .filter(|r| r.0 != 200)
                .all(|r| r.0 == 429 && r.1 == "temporarily_unavailable"),
            "{results:?}"
        );
        assert_eq!(
            start_from(&app, &c, second).await.status(),
            200,
            "another address"
        );
    }
    let mut conn = db(&app).await;
    let live: i64 = sqlx::query_scalar("select count(*) from device_codes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(live, 12);
}

/// §5.4: the confirm page tells when and from which network (a /24 here, never the address)
/// the device asked, and warns when that is not the browser's network.
async fn the_confirm_page_says_when_and_from_where_the_device_asked(backend: Backend) {
    let app = behind_a_proxy(backend, |_| {}).await;
    let c = device_client(&app, "public").await;
    let res = start_from(&app, &c, "203.0.113.7").await;
    let d: Value = res.json().await.unwrap();
    let user_code = d["user_code"].as_str().unwrap();
    let mut conn = db(&app).await;
    let stored: String = sqlx::query_scalar("select requester from device_codes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, "203.0.113.7");
    app.clock.advance(150);
    for (name, address, elsewhere) in [
        ("alice", "203.0.113.99", false),
        ("bob", "198.51.100.2", true),
    ] {
        let b = browser_at(address);
        app.create_user(name, PASSWORD).await;
        assert_eq!(app.login_as(&b, name, PASSWORD).await.status(), 303);
        let csrf = device_csrf(&app, &b).await;
        let res = post_device(&app, &b, &[("csrf", &csrf), ("user_code", user_code)]).await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(
            html.contains(
                "asked 2 minutes ago from network <strong class=\"network\">203.0.113.0/24</strong>"
            ),
            "{html}"
        );
        assert!(
            !html.contains("203.0.113.7"),
            "the address itself is not shown"
        );
        assert_eq!(
            html.contains("id=\"elsewhere\""),
            elsewhere,
            "{address}: {html}"
        );
    }
}

/// The decision is `allow` or `deny`, nothing else: anything else is a 400 page, and the
/// request stays pending.
async fn an_unknown_decision_is_refused_and_decides_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid").await;
    let user_code = d["user_code"].as_str().unwrap();
    let b = signed_in(&app, "alice").await;
    let csrf = device_csrf(&app, &b).await;
    for decision in ["", "Allow", "no", "deny "] {
        let res = post_device(
            &app,
            &b,
            &[
                ("csrf", &csrf),
                ("user_code", user_code),
                ("decision", decision),
            ],
        )
        .await;
        assert_eq!(res.status(), 400, "{decision:?}");
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("not one this page gives")
        );
    }
    assert_eq!(
        poll_error(&app, &c, d["device_code"].as_str().unwrap()).await,
        "authorization_pending"
    );
    assert_eq!(decide(&app, &b, user_code, "deny").await.status(), 200);
    assert_eq!(
        poll_error(&app, &c, d["device_code"].as_str().unwrap()).await,
        "access_denied"
    );
}

/// A client that is no longer registered for the grant: its pending requests are wrong codes
/// on the page, and an approved one gives no tokens.
async fn a_client_that_lost_the_grant_has_no_pending_requests(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.client_cache_ttl = std::time::Duration::ZERO).await;
    let c = device_client(&app, "public").await;
    let pending = start(&app, &c, "openid").await;
    let approved = start(&app, &c, "openid").await;
    let b = signed_in(&app, "alice").await;
    assert_eq!(
        decide(&app, &b, approved["user_code"].as_str().unwrap(), "allow")
            .await
            .status(),
        200
    );
    let mut conn = db(&app).await;
    sqlx::query("update clients set grant_types = 'refresh_token' where client_id = $1")
        .bind(&c.id)
        .execute(&mut conn)
        .await
        .unwrap();
    let csrf = device_csrf(&app, &b).await;
    let res = post_device(
        &app,
        &b,
        &[
            ("csrf", &csrf),
            ("user_code", pending["user_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("That code is not valid"));
    assert_eq!(
        poll_error(&app, &c, approved["device_code"].as_str().unwrap()).await,
        "unauthorized_client"
    );
}

/// Between approval and redemption: a password change (which ends the user's sessions) or an
/// administrator revoking the client's tokens leaves the approved request worth nothing.
async fn approved_requests_give_nothing_after_a_password_change_or_revocation(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = device_client(&app, "public").await;
    let b = signed_in(&app, "alice").await;
    let d = start(&app, &c, "openid offline_access").await;
    assert_eq!(
        decide(&app, &b, d["user_code"].as_str().unwrap(), "allow")
            .await
            .status(),
        200
    );
    app.clock.advance(1);
    let alice = app
        .state
        .store
        .user_by_username_key("alice")
        .await
        .unwrap()
        .unwrap();
    app.state
        .store
        .change_password(&alice.id, &alice.password_hash, app.clock.now())
        .await
        .unwrap();
    app.clock.advance(1);
    assert_eq!(
        poll_error(&app, &c, d["device_code"].as_str().unwrap()).await,
        "invalid_grant",
        "password changed"
    );

    let b = signed_in(&app, "bob").await;
    let d = start(&app, &c, "openid offline_access").await;
    assert_eq!(
        decide(&app, &b, d["user_code"].as_str().unwrap(), "allow")
            .await
            .status(),
        200
    );
    app.clock.advance(1);
    tessera::admin::clients::revoke_client_tokens(
        &app.state.store,
        &app.state.revocations,
        &c.id,
        app.clock.now(),
        app.clock.now(),
    )
    .await
    .unwrap();
    app.clock.advance(1);
    assert_eq!(
        poll_error(&app, &c, d["device_code"].as_str().unwrap()).await,
        "invalid_grant",
        "the client's tokens were revoked after the approval"
    );
}

/// An approval in a session that expires (idle) before the device polls gives nothing.
async fn approved_requests_give_nothing_once_the_session_expired(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.session_idle_ttl = std::time::Duration::from_secs(120);
    })
    .await;
    let c = device_client(&app, "public").await;
    let b = signed_in(&app, "alice").await;
    let d = start(&app, &c, "openid").await;
    assert_eq!(
        decide(&app, &b, d["user_code"].as_str().unwrap(), "allow")
            .await
            .status(),
        200
    );
    app.clock.advance(300);
    assert_eq!(
        poll_error(&app, &c, d["device_code"].as_str().unwrap()).await,
        "invalid_grant"
    );
}

/// §3.5's slow_down adds 5 s, but never past 60 s, nor past the code's remaining life (a
/// device told to wait longer would only find it expired).
async fn a_slow_down_interval_is_capped(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.device_poll_interval = std::time::Duration::from_secs(58);
    })
    .await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid").await;
    let code = d["device_code"].as_str().unwrap();
    assert_eq!(poll_error(&app, &c, code).await, "authorization_pending");
    app.clock.advance(2);
    let body: Value = poll(&app, &c, code).await.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
    assert_eq!(
        body["error_description"],
        "polled too fast; wait 60 seconds between requests"
    );
    let app = spawn_app_with(backend, |s| {
        s.device_code_ttl = std::time::Duration::from_secs(60);
        s.device_poll_interval = std::time::Duration::from_secs(20);
    })
    .await;
    let c = device_client(&app, "public").await;
    let d = start(&app, &c, "openid").await;
    let code = d["device_code"].as_str().unwrap();
    app.clock.advance(30);
    assert_eq!(poll_error(&app, &c, code).await, "authorization_pending");
    app.clock.advance(7);
    let body: Value = poll(&app, &c, code).await.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
    let wait: String = body["error_description"]
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    // 23 s left (22 if the wall clock ticked): less than 20 + 5.
    assert!(wait == "23" || wait == "22", "{body}");
}

/// A node whose cached links still show ORDERS for the TV after ORDERS was taken from it
/// (only the `client_api` entry is written here, the links stay as cached): the request it
/// approved for ORDERS gives nothing at the token endpoint, so that no family refreshes for
/// ORDERS once it is linked again (RFC 8707 §2: `invalid_target`).
async fn an_approved_request_for_an_api_just_taken_from_the_client_gives_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    crate::apis::add_api(&app, crate::apis::ORDERS, "orders.read", None, None).await;
    let c = app
        .create_client(RegistrationInput {
            name: "Living-room TV".into(),
            client_type: "public".into(),
            grant_types: vec![GRANT.into(), "refresh_token".into()],
            scope: Some("openid offline_access orders.read".into()),
            ..RegistrationInput::default()
        })
        .await;
    crate::apis::links(&app, &c, &[crate::apis::ORDERS], &[], &[]).await;
    let asked = [
        ("scope", "openid offline_access orders.read"),
        ("resource", crate::apis::ORDERS),
    ];
    let res = post_as(&app, "/device_authorization", &c, &asked).await;
    assert_eq!(res.status(), 200);
    let d: Value = res.json().await.expect("json");
    let b = signed_in(&app, "alice").await;
    let user_code = d["user_code"].as_str().expect("user_code");
    assert_eq!(decide(&app, &b, user_code, "allow").await.status(), 200);
    crate::exchanged_families::taken_behind_the_links(&app, &c.id, crate::apis::ORDERS).await;
    // Polled after the entry's cover (issued up to 60 s on, here) has passed: the request
    // was made within it, which is what counts.
    app.clock.advance(120);
    let device_code = d["device_code"].as_str().expect("device_code");
    assert_eq!(poll_error(&app, &c, device_code).await, "invalid_target");
}
