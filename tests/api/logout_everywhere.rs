//! Revocation reaching the tokens of the code flow (DESIGN §4): logout on every node, refresh
//! reuse, refresh-token revocation and introspection, and back-channel logout.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tessera::oauth::client::RegistrationInput;

use crate::code_flow::{client, get_code, pkce, redeem, refresh, standard};
use crate::dual;
use crate::helpers::{Backend, PASSWORD, TestApp, TestClient, http_client, spawn_app, spawn_node};

async fn signed_in_tokens(app: &TestApp, c: &TestClient, browser: &reqwest::Client) -> Value {
    let p = pkce();
    let code = get_code(app, browser, &standard(c, &p, "openid offline_access")).await;
    redeem(app, c, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("tokens")
}

async fn userinfo_status(app: &TestApp, at: &str) -> u16 {
    app.client
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .expect("userinfo")
        .status()
        .as_u16()
}

/// Introspection on `app` until `active` is false, for at most about a second.
async fn inactive_within_a_second(app: &TestApp, rs: &TestClient, token: &str) -> bool {
    for _ in 0..20 {
        if app.introspect(rs, token).await["active"] == false {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Logout ends every token of the session, on every node: the access token is inactive at
/// introspection and refused at /userinfo, and the refresh token fails.
async fn logout_ends_every_token_of_the_session_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", true).await;
    let rs = app.create_resource_server_client().await;
    let node_b = match backend {
        Backend::Postgres => Some(spawn_node(&app).await),
        Backend::Sqlite => None, // SQLite is one node
    };
    let browser = http_client();
    let tokens = signed_in_tokens(&app, &c, &browser).await;
    let at = tokens["access_token"].as_str().expect("at");
    let rt = tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(app.introspect(&rs, at).await["active"], true);
    assert_eq!(userinfo_status(&app, at).await, 200);
    // Refresh tokens introspect too, for the client they belong to.
    let rt_info = app.introspect(&c, rt).await;
    assert_eq!(rt_info["active"], true);
    assert_eq!(rt_info["token_type"], "refresh_token");

    let csrf = app.account_csrf(&browser).await;
    browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");

    assert_eq!(app.introspect(&rs, at).await["active"], false);
    assert_eq!(userinfo_status(&app, at).await, 401);
    if let Some(b) = &node_b {
        assert!(
            inactive_within_a_second(b, &rs, at).await,
            "node B still accepts it"
        );
        assert_eq!(userinfo_status(b, at).await, 401);
    }
    assert_eq!(app.introspect(&c, rt).await["active"], false);
    let res = refresh(&app, &c, rt, None).await;
    assert_eq!(res.status(), 400);
}

/// RFC 9700 §4.14.2: refresh reuse revokes the family, and with it the family's live access
/// tokens (through the `fam` claim on the revocation list).
async fn refresh_reuse_makes_the_familys_access_tokens_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", true).await;
    let rs = app.create_resource_server_client().await;
    let tokens = signed_in_tokens(&app, &c, &http_client()).await;
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let next: Value = refresh(&app, &c, rt, None)
        .await
        .json()
        .await
        .expect("json");
    let live_at = next["access_token"].as_str().expect("at");
    assert_eq!(app.introspect(&rs, live_at).await["active"], true);
    assert_eq!(refresh(&app, &c, rt, None).await.status(), 400, "reuse");
    assert_eq!(app.introspect(&rs, live_at).await["active"], false);
    assert_eq!(userinfo_status(&app, live_at).await, 401);
}

/// RFC 7009 §2.1: revoking a refresh token revokes its access tokens too; another client's
/// refresh token is left alone.
async fn revoking_a_refresh_token_revokes_its_family(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", true).await;
    let other = client(&app, "confidential", true).await;
    let rs = app.create_resource_server_client().await;
    let tokens = signed_in_tokens(&app, &c, &http_client()).await;
    let at = tokens["access_token"].as_str().expect("at");
    let rt = tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(app.revoke(&other, rt).await.status(), 200);
    assert_eq!(
        app.introspect(&c, rt).await["active"],
        true,
        "another client cannot revoke it"
    );
    assert_eq!(app.revoke(&c, rt).await.status(), 200);
    assert_eq!(app.introspect(&c, rt).await["active"], false);
    assert_eq!(app.introspect(&rs, at).await["active"], false);
    assert_eq!(refresh(&app, &c, rt, None).await.status(), 400);
}

/// A password change revokes every token the user had.
async fn a_password_change_revokes_the_users_access_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", true).await;
    let rs = app.create_resource_server_client().await;
    let tokens = signed_in_tokens(&app, &c, &http_client()).await;
    let at = tokens["access_token"].as_str().expect("at");
    tessera::accounts::manage::set_password(
        &app.state.store,
        &app.state.revocations,
        &app.state.backchannel,
        &app.state.hasher,
        "alice",
        secrecy::SecretString::from("another fine passphrase".to_string()),
        &app.clock,
    )
    .await
    .expect("passwd");
    assert_eq!(app.introspect(&rs, at).await["active"], false);
}

/// One HTTP request read from a socket: its body.
pub fn read_request(stream: &mut std::net::TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0usize);
            if body.len() >= len {
                return body.to_string();
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// OpenID Connect Back-Channel Logout 1.0 §2.5-2.6: a client that took part in the session
/// receives a logout token that verifies against the JWKS, carries the session's sid and the
/// logout event, and no nonce. A client that never answers does not delay the logout.
async fn back_channel_logout_reaches_the_clients_of_the_session(backend: Backend) {
    let app = spawn_app_with_slow_backchannel(backend).await;
    app.create_user("alice", PASSWORD).await;
    let listening = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hanging = TcpListener::bind("127.0.0.1:0").expect("bind");
    let listening_uri = format!(
        "http://127.0.0.1:{}/logout",
        listening.local_addr().expect("a").port()
    );
    let hanging_uri = format!(
        "http://127.0.0.1:{}/logout",
        hanging.local_addr().expect("a").port()
    );
    let register = |uri: String| RegistrationInput {
        name: "Back-channel app".into(),
        client_type: "confidential".into(),
        redirect_uris: vec![crate::code_flow::CB.into()],
        scope: Some("openid".into()),
        first_party: true,
        backchannel_logout_uri: Some(uri),
        ..RegistrationInput::default()
    };
    let good = app.create_client(register(listening_uri)).await;
    let dead = app.create_client(register(hanging_uri)).await;

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listening.accept() {
            let body = read_request(&mut stream);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            let _ = tx.send(body);
        }
    });
    // Accepts and never answers; keeps the connection open until the test ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hanging.accept() {
            held.push(stream);
        }
    });

    let browser = http_client();
    for c in [&good, &dead] {
        let p = pkce();
        get_code(&app, &browser, &standard(c, &p, "openid")).await;
    }
    let session_sid = {
        let p = pkce();
        let code = get_code(&app, &browser, &standard(&good, &p, "openid")).await;
        let tokens: Value = redeem(&app, &good, &code, &p.verifier)
            .await
            .json()
            .await
            .expect("json");
        crate::helpers::jwt_claims(tokens["id_token"].as_str().expect("id"))["sid"].clone()
    };

    let csrf = app.account_csrf(&browser).await;
    let logout = tokio::time::timeout(
        Duration::from_secs(5),
        browser
            .post(app.url("/logout"))
            .form(&[("csrf", csrf.as_str())])
            .send(),
    )
    .await
    .expect("the logout page does not wait for a client that never answers")
    .expect("logout");
    assert_eq!(logout.status(), 200);

    let body = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
        .await
        .expect("join")
        .expect("the client received a logout request");
    let token: String = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("a logout_token parameter");
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let set: JwkSet = app.get("/jwks").await.json().await.expect("jwks");
    let key = DecodingKey::from_jwk(
        set.find(header.kid.as_deref().expect("kid"))
            .expect("published"),
    )
    .expect("key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&[&good.id]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .expect("the logout token verifies")
        .claims;
    assert_eq!(claims["sid"], session_sid);
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
}

/// A client whose back-channel logout endpoint is down (nothing listens) still keeps the
/// session it was not told of: after the bounded attempts Tessera gives up, logs it and counts
/// it per client in `/metrics`, so an operator sees which client missed logouts. A client that
/// answered is not counted.
async fn a_client_whose_backchannel_endpoint_is_down_shows_in_metrics(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |s| {
        s.backchannel_logout_timeout = Duration::from_secs(2);
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    let listening = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = |l: &TcpListener| l.local_addr().expect("addr").port();
    let good_uri = format!("http://127.0.0.1:{}/logout", port(&listening));
    // Bound then closed: connections are refused.
    let down_uri = format!(
        "http://127.0.0.1:{}/logout",
        port(&TcpListener::bind("127.0.0.1:0").expect("bind"))
    );
    let register = |uri: String| RegistrationInput {
        name: "Back-channel app".into(),
        client_type: "confidential".into(),
        redirect_uris: vec![crate::code_flow::CB.into()],
        scope: Some("openid".into()),
        first_party: true,
        backchannel_logout_uri: Some(uri),
        ..RegistrationInput::default()
    };
    let good = app.create_client(register(good_uri)).await;
    let down = app.create_client(register(down_uri)).await;
    std::thread::spawn(move || {
        while let Ok((mut stream, _)) = listening.accept() {
            let _ = read_request(&mut stream);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let browser = http_client();
    for c in [&good, &down] {
        let p = pkce();
        get_code(&app, &browser, &standard(c, &p, "openid")).await;
    }
    let failures = |text: &str, id: &str| {
        let series = format!("tessera_backchannel_logout_failures_total{{client=\"{id}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series).map(str::to_string))
    };
    let metrics = || async { app.get("/metrics").await.text().await.expect("metrics") };
    assert_eq!(failures(&metrics().await, &down.id), None);

    let csrf = app.account_csrf(&browser).await;
    let res = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), 200);
    // Three attempts, 0.5 s and 1 s apart.
    let started = std::time::Instant::now();
    let text = loop {
        let text = metrics().await;
        if failures(&text, &down.id).is_some() {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no failure counted for the client whose endpoint is down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failures(&text, &down.id).as_deref(), Some("1"));
    assert_eq!(failures(&text, &good.id), None, "the client that answered");
}

async fn spawn_app_with_slow_backchannel(backend: Backend) -> TestApp {
    // A long delivery timeout: a logout that waited for deliveries would take 30 s.
    crate::helpers::spawn_app_with(backend, |s| {
        s.backchannel_logout_timeout = Duration::from_secs(30);
    })
    .await
}

dual!(
    logout_ends_every_token_of_the_session_everywhere,
    refresh_reuse_makes_the_familys_access_tokens_inactive,
    revoking_a_refresh_token_revokes_its_family,
    a_password_change_revokes_the_users_access_tokens,
    back_channel_logout_reaches_the_clients_of_the_session,
    a_client_whose_backchannel_endpoint_is_down_shows_in_metrics,
);
