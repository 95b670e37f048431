//! The session-backed login page (DESIGN §5): cookies, fixation, logout, CSRF, throttling,
//! no user enumeration, no open redirect, bad input.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};

use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, http_client, set_cookie, spawn_app, spawn_app_with, spawn_on,
};

fn location(res: &reqwest::Response) -> &str {
    res.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("cookie value")
}

/// /account with only this session cookie, from a client with no jar.
async fn account_with_cookie(app: &TestApp, name: &str, value: &str) -> reqwest::Response {
    http_client()
        .get(app.url("/account"))
        .header(COOKIE, format!("{name}={value}"))
        .send()
        .await
        .expect("GET /account")
}

async fn login_success_sets_a_private_session_cookie_and_shows_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    let res = app.login_as(&client, "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
    let cookie = set_cookie(&res, "tessera_session").expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    // DESIGN §3: 256 random bits, base64url, behind the session prefix.
    assert_eq!(cookie_value(cookie).len(), "ts_".len() + 43);

    let page = client
        .get(app.url("/account"))
        .send()
        .await
        .expect("account");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"<span id="who">alice</span>"#), "{html}");
    assert!(html.contains("(this one)"));
}

/// On https the cookie is `Secure` and `__Host-` prefixed.
async fn on_https_the_cookies_are_secure_and_host_prefixed(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.issuer = "https://id.example.test".into()).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    let form = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page");
    let pre = set_cookie(&form, "__Host-tessera_login")
        .expect("pre-login cookie")
        .to_string();
    assert!(pre.contains("Secure"), "{pre}");
    let csrf = crate::helpers::csrf_in(&form.text().await.expect("html"));
    let res = client
        .post(app.url("/login"))
        .header(
            COOKIE,
            format!("__Host-tessera_login={}", cookie_value(&pre)),
        )
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&res, "__Host-tessera_session").expect("host-prefixed cookie");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

/// Session fixation: each login issues a new session id, and the old one stops working.
async fn every_login_issues_a_new_session_id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    let first = app.login_as(&client, "alice", PASSWORD).await;
    let first = cookie_value(set_cookie(&first, "tessera_session").expect("cookie"));
    let second = app.login_as(&client, "alice", PASSWORD).await;
    let second = cookie_value(set_cookie(&second, "tessera_session").expect("cookie"));
    assert_ne!(first, second);
    let old = account_with_cookie(&app, "tessera_session", &first).await;
    assert_eq!(
        old.status(),
        StatusCode::SEE_OTHER,
        "the replaced session is gone"
    );
    let new = account_with_cookie(&app, "tessera_session", &second).await;
    assert_eq!(new.status(), 200);
}

async fn logout_ends_the_session_on_the_server(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    let res = app.login_as(&client, "alice", PASSWORD).await;
    let secret = cookie_value(set_cookie(&res, "tessera_session").expect("cookie"));
    let csrf = app.account_csrf(&client).await;
    let out = client
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);
    assert!(out.text().await.expect("html").contains("signed out"));
    // The old cookie, replayed by someone who kept it, no longer opens anything.
    let replay = account_with_cookie(&app, "tessera_session", &secret).await;
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    assert!(location(&replay).starts_with("/login"));
}

/// CSRF (DESIGN §5): without the token, with a wrong one, or from a foreign origin: 403 page.
async fn forms_without_a_valid_csrf_token_or_from_another_origin_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    let csrf = app.login_csrf(&client).await;
    let creds = [("username", "alice"), ("password", PASSWORD)];

    let none = app.post_login_with(&client, &creds).await;
    assert_eq!(none.status(), StatusCode::FORBIDDEN);
    assert!(
        none.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let wrong = app
        .post_login_with(&client, &[creds[0], creds[1], ("csrf", "AAAA")])
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // A token from another browser (another pre-login cookie) is worthless here.
    let other = app.login_csrf(&http_client()).await;
    let foreign_token = app
        .post_login_with(&client, &[creds[0], creds[1], ("csrf", &other)])
        .await;
    assert_eq!(foreign_token.status(), StatusCode::FORBIDDEN);
    let foreign_origin = client
        .post(app.url("/login"))
        .header("Origin", "https://evil.example")
        .form(&[creds[0], creds[1], ("csrf", &csrf)])
        .send()
        .await
        .expect("post");
    assert_eq!(foreign_origin.status(), StatusCode::FORBIDDEN);
    for site in ["cross-site", "same-site"] {
        let res = client
            .post(app.url("/login"))
            .header("Sec-Fetch-Site", site)
            .header("Origin", "null")
            .form(&[creds[0], creds[1], ("csrf", &csrf)])
            .send()
            .await
            .expect("post");
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "Sec-Fetch-Site: {site}"
        );
    }
    // And the real thing works.
    let ok = app
        .post_login_with(&client, &[creds[0], creds[1], ("csrf", &csrf)])
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);

    // Logout without the session-bound token leaves the session alone.
    let forged = client
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        client
            .get(app.url("/account"))
            .send()
            .await
            .expect("account")
            .status(),
        200
    );
}

/// Throttling: after 5 failures, 429 + Retry-After, even for the right password; after the
/// window (injected clock, no sleeping) the right password works. No permanent lock-out.
async fn password_guessing_is_throttled_and_the_window_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    for _ in 0..5 {
        let res = app.login_as(&client, "alice", "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let blocked = app.login_as(&client, "alice", PASSWORD).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = blocked.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");

    app.clock.advance(15 * 60);
    let ok = app.login_as(&client, "alice", PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
}

/// An unknown user and a wrong password get the same status and the same page.
async fn unknown_users_and_wrong_passwords_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    app.create_user("carol", PASSWORD).await;
    tessera::accounts::manage::set_disabled(
        &app.state.store,
        &app.state.revocations,
        &app.state.backchannel,
        "carol",
        true,
        app.clock.now(),
    )
    .await
    .expect("disable");
    let client = http_client();
    let mut answers = Vec::new();
    for name in ["alice", "mallory", "carol"] {
        let res = app.login_as(&client, name, "not the password").await;
        let status = res.status();
        let body = res.text().await.expect("html").replace(name, "NAME");
        answers.push((status, body));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answers[0], answers[1],
        "unknown user differs from wrong password"
    );
    assert_eq!(
        answers[0], answers[2],
        "disabled user differs from wrong password"
    );
    // A disabled user with the right password gets the same answer too.
    let res = app.login_as(&client, "carol", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// `return_to` accepts only a path on this server.
async fn return_to_never_leaves_the_site(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    for evil in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/%2F/evil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "javascript:alert(1)",
    ] {
        let client = http_client();
        let csrf = app.login_csrf(&client).await;
        let res = app
            .post_login_with(
                &client,
                &[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("csrf", &csrf),
                    ("return_to", evil),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/account", "return_to={evil}");
    }
    let client = http_client();
    let csrf = app.login_csrf(&client).await;
    let res = app
        .post_login_with(
            &client,
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("return_to", "/account?tab=sessions"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/account?tab=sessions");
}

/// Oversized and malformed input: 4xx with a readable page, never 500; the server keeps going.
async fn oversized_and_malformed_input_gets_a_readable_4xx(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    let csrf = app.login_csrf(&client).await;
    let huge = "a".repeat(1024 * 1024);

    let big_name = app
        .post_login_with(
            &client,
            &[("username", &huge), ("password", "x"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(big_name.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(big_name.text().await.expect("html").contains("<h1>"));
    let big_password = app
        .post_login_with(
            &client,
            &[("username", "alice"), ("password", &huge), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(big_password.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let nul = app
        .post_login_with(
            &client,
            &[
                ("username", "ali\0ce"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(nul.status(), StatusCode::UNAUTHORIZED);

    let bad_utf8 = client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            format!("username=%ff%fe%00&password=\u{0}\u{1}&csrf={csrf}")
                .into_bytes()
                .into_iter()
                .chain([0xff, 0xfe])
                .collect::<Vec<u8>>(),
        )
        .send()
        .await
        .expect("post");
    assert!(bad_utf8.status().is_client_error(), "{}", bad_utf8.status());

    let json = client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(r#"{"username":"alice"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(json.status(), StatusCode::BAD_REQUEST);
    assert!(json.text().await.expect("html").contains("<h1>"));

    assert_eq!(app.get("/healthz").await.status(), 200);
    let ok = app.login_as(&client, "alice", PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
}

/// A hash made with old argon2 parameters is replaced at the next successful login.
async fn a_login_upgrades_a_hash_made_with_old_parameters(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("alice", PASSWORD).await;
    assert!(
        user.password_hash.contains("m=1024,t=1,p=1"),
        "{}",
        user.password_hash
    );
    let (db, keys) = app.stop().await;
    let app = spawn_on(db, keys, |s| {
        s.argon2_memory_kib = 2048;
        s.argon2_iterations = 2;
    })
    .await;
    let res = app.login_as(&http_client(), "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let after = app
        .state
        .store
        .user_by_id(&user.id)
        .await
        .expect("store")
        .expect("user");
    assert!(
        after.password_hash.contains("m=2048,t=2,p=1"),
        "{}",
        after.password_hash
    );
    assert_eq!(
        app.login_as(&http_client(), "alice", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

/// Disabling a user or changing their password ends their sessions.
async fn disabling_a_user_or_changing_the_password_ends_their_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    app.login_as(&client, "alice", PASSWORD).await;
    tessera::accounts::manage::set_password(
        &app.state.store,
        &app.state.revocations,
        &app.state.backchannel,
        &app.state.hasher,
        "alice",
        secrecy::SecretString::from("a brand new passphrase".to_string()),
        &app.clock,
    )
    .await
    .expect("passwd");
    let res = client
        .get(app.url("/account"))
        .send()
        .await
        .expect("account");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    app.login_as(&client, "alice", "a brand new passphrase")
        .await;
    assert_eq!(
        client
            .get(app.url("/account"))
            .send()
            .await
            .expect("account")
            .status(),
        200
    );
    tessera::accounts::manage::set_disabled(
        &app.state.store,
        &app.state.revocations,
        &app.state.backchannel,
        "alice",
        true,
        app.clock.now(),
    )
    .await
    .expect("disable");
    let res = client
        .get(app.url("/account"))
        .send()
        .await
        .expect("account");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

/// Sessions expire when idle and at their absolute limit.
async fn sessions_expire_when_idle_and_at_their_absolute_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let client = http_client();
    app.login_as(&client, "alice", PASSWORD).await;
    app.clock.advance(2 * 3600 + 1);
    let res = client
        .get(app.url("/account"))
        .send()
        .await
        .expect("account");
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "idle for more than 2 h"
    );

    app.login_as(&client, "alice", PASSWORD).await;
    for _ in 0..10 {
        app.clock.advance(3600 + 1800);
        let res = client
            .get(app.url("/account"))
            .send()
            .await
            .expect("account");
        if res.status() != 200 {
            return;
        }
    }
    panic!("a session kept busy outlived the 12 h absolute lifetime");
}

async fn signing_out_of_other_sessions_keeps_this_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let phone = http_client();
    let laptop = http_client();
    app.login_as(&phone, "alice", PASSWORD).await;
    app.login_as(&laptop, "alice", PASSWORD).await;
    let csrf = app.account_csrf(&laptop).await;
    let res = laptop
        .post(app.url("/account/sessions/end-others"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("end others");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        laptop
            .get(app.url("/account"))
            .send()
            .await
            .expect("a")
            .status(),
        200
    );
    assert_eq!(
        phone
            .get(app.url("/account"))
            .send()
            .await
            .expect("a")
            .status(),
        StatusCode::SEE_OTHER
    );
}

async fn the_login_page_is_accessible_and_uncached(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/login").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("script-src 'self'")
    );
    let html = res.text().await.expect("html");
    for needle in [
        r#"<label for="username">"#,
        r#"<label for="password">"#,
        r#"autocomplete="username""#,
        r#"autocomplete="current-password""#,
        r#"name="viewport""#,
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    assert!(!html.contains("<script"), "no script needed to sign in");
}

dual!(
    login_success_sets_a_private_session_cookie_and_shows_the_account,
    on_https_the_cookies_are_secure_and_host_prefixed,
    every_login_issues_a_new_session_id,
    logout_ends_the_session_on_the_server,
    forms_without_a_valid_csrf_token_or_from_another_origin_are_refused,
    password_guessing_is_throttled_and_the_window_ends,
    unknown_users_and_wrong_passwords_get_the_same_answer,
    return_to_never_leaves_the_site,
    oversized_and_malformed_input_gets_a_readable_4xx,
    a_login_upgrades_a_hash_made_with_old_parameters,
    disabling_a_user_or_changing_the_password_ends_their_sessions,
    sessions_expire_when_idle_and_at_their_absolute_limit,
    signing_out_of_other_sessions_keeps_this_one,
    the_login_page_is_accessible_and_uncached
);
