//! A grant dies with what it came from (DESIGN §4): codes and refresh tokens stop working when
//! their session ends or the password changes, replays cannot grow the revocation list, a
//! concurrent replay always revokes what the first redemption issued, and the grace window
//! never splits a family.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::code_flow::{CB, client, error_of, get_code, pkce, redeem, refresh, standard};
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestClient, http_client, location, spawn_app, spawn_app_with,
    spawn_node,
};

async fn setup(backend: Backend) -> (TestApp, TestClient) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "public", true).await;
    (app, c)
}

async fn tokens_of(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.expect("tokens")
}

/// `tessera` run as an operator would, against the app's database and keys.
fn command(app: &TestApp, args: &[&str], dir: &tempfile::TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.env_clear()
        .current_dir(dir.path())
        .env("DATABASE_URL", &app.db.url)
        .env("TESSERA_KEYS_DIR", &app.keys_dir)
        .env("TESSERA_ISSUER", &app.address)
        .env("TESSERA_LOG_LEVEL", "warn")
        .env("USER", "ops-alice")
        .args(args);
    cmd
}

fn tessera(app: &TestApp, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("dir");
    command(app, args, &dir).output().expect("run tessera")
}

fn passwd(app: &TestApp) {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("dir");
    let mut child = command(app, &["user", "passwd", "alice", "--password-stdin"], &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"an entirely new passphrase")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A code obtained before `tessera user passwd` does not redeem afterwards, and a refresh
/// token obtained before does not refresh: the password change ended the grant.
async fn a_code_does_not_outlive_a_password_change(backend: Backend) {
    let (app, c) = setup(backend).await;
    let browser = http_client();
    let before = pkce();
    let held = get_code(
        &app,
        &browser,
        &standard(&c, &before, "openid offline_access"),
    )
    .await;
    let p = pkce();
    let code = get_code(&app, &browser, &standard(&c, &p, "openid offline_access")).await;
    let rt = tokens_of(redeem(&app, &c, &code, &p.verifier).await).await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();

    passwd(&app);

    let (status, error) = error_of(redeem(&app, &c, &held, &before.verifier).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let res = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &c.id),
        ])
        .await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
}

/// A code obtained before signing out does not redeem after: the sign-in it came from ended.
async fn a_code_does_not_outlive_sign_out(backend: Backend) {
    let (app, c) = setup(backend).await;
    let browser = http_client();
    let p = pkce();
    let code = get_code(&app, &browser, &standard(&c, &p, "openid offline_access")).await;
    let csrf = app.account_csrf(&browser).await;
    let out = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);
    let (_, error) = error_of(redeem(&app, &c, &code, &p.verifier).await).await;
    assert_eq!(error, "invalid_grant");
}

/// A code obtained before an administrator ended the session does not redeem after.
async fn a_code_does_not_outlive_its_session_ended_by_an_admin(backend: Backend) {
    let (app, c) = setup(backend).await;
    let browser = http_client();
    let p = pkce();
    let code = get_code(&app, &browser, &standard(&c, &p, "openid")).await;
    let sessions = app
        .state
        .store
        .live_sessions_page(None, app.clock.now(), 0, 10, 0)
        .await
        .expect("sessions");
    let sid = sessions[0].row.sid.clone();
    tessera::sessions::end_by_sid(
        &app.state.store,
        &app.state.revocations,
        &app.state.backchannel,
        &sid,
        app.clock.now(),
    )
    .await
    .expect("end")
    .expect("the session existed");
    let (_, error) = error_of(redeem(&app, &c, &code, &p.verifier).await).await;
    assert_eq!(error, "invalid_grant");
}

async fn revocation_rows(app: &TestApp) -> usize {
    app.state
        .store
        .live_revocations(app.clock.now())
        .await
        .expect("rows")
        .len()
}

/// DESIGN §4: replaying a used code 40 times writes one revocation entry, not 40.
async fn replaying_a_used_code_writes_one_revocation(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let code = get_code(
        &app,
        &http_client(),
        &standard(&c, &p, "openid offline_access"),
    )
    .await;
    tokens_of(redeem(&app, &c, &code, &p.verifier).await).await;
    let before = revocation_rows(&app).await;
    for _ in 0..40 {
        let (_, error) = error_of(redeem(&app, &c, &code, &p.verifier).await).await;
        assert_eq!(error, "invalid_grant");
    }
    assert_eq!(revocation_rows(&app).await, before + 1);
    assert_eq!(app.state.revocations.len(), before + 1);
}

/// RFC 6749 §4.1.2, attacked: one code redeemed by 8 parallel requests. Exactly one wins, and
/// whatever it got is dead once the replays land, however the commits interleave.
async fn a_concurrent_replay_always_revokes_the_first_redemption(backend: Backend) {
    let (app, _) = setup(backend).await;
    // Confidential, so that it may introspect its own tokens.
    let c = client(&app, "confidential", true).await;
    let browser = http_client();
    for _ in 0..3 {
        let p = pkce();
        let code = get_code(&app, &browser, &standard(&c, &p, "openid offline_access")).await;
        let attempts = (0..8).map(|_| redeem(&app, &c, &code, &p.verifier));
        let answers = futures_util::future::join_all(attempts).await;
        let mut won = Vec::new();
        for res in answers {
            match res.status() {
                StatusCode::OK => won.push(res.json::<Value>().await.expect("tokens")),
                status => assert_eq!(status, StatusCode::BAD_REQUEST),
            }
        }
        assert_eq!(won.len(), 1, "exactly one redemption wins");
        let at = won[0]["access_token"].as_str().expect("at");
        let rt = won[0]["refresh_token"].as_str().expect("rt");
        assert_eq!(app.introspect(&c, at).await["active"], false);
        assert_eq!(
            error_of(refresh(&app, &c, rt, None).await).await.1,
            "invalid_grant"
        );
    }
}

/// Families that break the rotation's invariants: more than one unused token (two live
/// branches), or more than one token still holding a sealed successor (a database copy plus
/// an old token would unseal the chain).
async fn broken_families(app: &TestApp) -> Vec<(String, i64)> {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.expect("db");
    sqlx::query_as(
        "select family_id, count(*) from refresh_tokens where used_at is null \
         group by family_id having count(*) > 1 \
         union all \
         select family_id, count(*) from refresh_tokens where successor_sealed is not null \
         group by family_id having count(*) > 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("query")
}

/// RFC 9700 §4.14.2, attacked: one refresh token presented by 8 parallel requests split across
/// two nodes, with no grace window. Exactly one request rotates it; the others are reuse, so
/// the family (and with it the winner's successor) is dead, and no family is ever left with
/// two unused tokens.
async fn a_burst_of_one_refresh_token_on_two_nodes_rotates_it_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", true).await;
    let other = spawn_node(&app).await;
    for round in 0..3 {
        let rt = first_refresh_token(&app, &c).await;
        let attempts =
            (0..8).map(|i| refresh(if i % 2 == 0 { &app } else { &other }, &c, &rt, None));
        let mut won = Vec::new();
        for res in futures_util::future::join_all(attempts).await {
            match res.status() {
                StatusCode::OK => won.push(res.json::<Value>().await.expect("tokens")),
                status => assert_eq!(status, StatusCode::BAD_REQUEST, "round {round}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one rotation wins");
        let successor = won[0]["refresh_token"].as_str().expect("rt");
        assert_eq!(
            error_of(refresh(&other, &c, successor, None).await).await.1,
            "invalid_grant",
            "round {round}: the reuse revoked the winner's family"
        );
        assert_eq!(broken_families(&app).await, [], "round {round}");
    }
}

/// A family revoked after the grant read its token (a logout or a reuse detected by another
/// request, committed in between) cannot be rotated: the store's rotation checks the family
/// itself and writes nothing.
async fn a_rotation_after_the_family_was_revoked_writes_nothing(backend: Backend) {
    use tessera::store::{Rotation, Successor};
    use tessera::tokens::opaque;
    let (app, _, rt) = with_grace(backend).await;
    let store = &app.state.store;
    let hash = opaque::hash(&rt);
    let row = store
        .refresh_token(&hash)
        .await
        .expect("read")
        .expect("row");
    let family = row.family.family_id.clone();
    assert!(
        store
            .revoke_family(&family, "test", app.clock.now())
            .await
            .expect("revoke")
    );
    let successor = opaque::generate(opaque::Kind::Refresh);
    let successor_hash = opaque::hash(&successor);
    let rotation = store
        .rotate_refresh_token(
            &hash,
            Successor {
                hash: &successor_hash,
                sealed: "sealed",
                idle_expires_at: app.clock.now() + 3600,
            },
            &family,
            app.clock.now(),
        )
        .await
        .expect("rotate");
    assert_eq!(rotation, Rotation::Revoked);
    assert!(
        store
            .refresh_token(&successor_hash)
            .await
            .expect("read")
            .is_none()
    );
    let again = store
        .refresh_token(&hash)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        again.used_at, None,
        "the presented token was not marked used"
    );
}

/// DESIGN §4 through the refresh grant's own read of the user (token, family and user in one
/// query): a user disabled, whose password changed, or deleted, in the database alone (no
/// revocation entry, as when another node's write has not been heard of yet) gets no new
/// tokens; another user's change leaves the family alone.
async fn refresh_reads_the_users_current_row(backend: Backend) {
    use sqlx::Connection;
    let (app, c, rt) = with_grace(backend).await;
    let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.expect("db");
    let rt = tokens_of(refresh(&app, &c, &rt, None).await).await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();
    // Another user's row changing does not touch this family.
    app.create_user("bob", PASSWORD).await;
    sqlx::query("update users set disabled = 1, password_changed_at = $1 where username = 'bob'")
        .bind(app.clock.now() + 1)
        .execute(&mut conn)
        .await
        .expect("disable bob");
    let rt = tokens_of(refresh(&app, &c, &rt, None).await).await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();
    sqlx::query("update users set disabled = 1 where username = 'alice'")
        .execute(&mut conn)
        .await
        .expect("disable");
    let (_, error) = error_of(refresh(&app, &c, &rt, None).await).await;
    assert_eq!(error, "invalid_grant", "a disabled user");
    sqlx::query("update users set disabled = 0, password_changed_at = $1 where username = 'alice'")
        .bind(app.clock.now() + 1)
        .execute(&mut conn)
        .await
        .expect("password change");
    let (_, error) = error_of(refresh(&app, &c, &rt, None).await).await;
    assert_eq!(error, "invalid_grant", "a password changed after the grant");
    sqlx::query("delete from users where username = 'alice'")
        .execute(&mut conn)
        .await
        .expect("delete");
    let (_, error) = error_of(refresh(&app, &c, &rt, None).await).await;
    assert_eq!(error, "invalid_grant", "a user no longer there");
}

/// Each rotation forgets the sealed successor of the token used before it, so that a family
/// rotated many times keeps exactly one (the last used token's, for the grace window).
async fn rotation_keeps_one_sealed_successor_per_family(backend: Backend) {
    let (app, c, mut rt) = with_grace(backend).await;
    for _ in 0..4 {
        let next = tokens_of(refresh(&app, &c, &rt, None).await).await;
        rt = next["refresh_token"].as_str().expect("rt").to_string();
    }
    assert_eq!(broken_families(&app).await, []);
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.expect("db");
    let sealed: i64 = sqlx::query_scalar(
        "select count(*) from refresh_tokens where successor_sealed is not null",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count");
    assert_eq!(sealed, 1, "the last used token keeps its sealed successor");
}

async fn first_refresh_token(app: &TestApp, c: &TestClient) -> String {
    let p = pkce();
    let code = get_code(
        app,
        &http_client(),
        &standard(c, &p, "openid offline_access"),
    )
    .await;
    tokens_of(redeem(app, c, &code, &p.verifier).await).await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string()
}

/// An app with a 10 s grace window, a confidential client and its first refresh token.
async fn with_grace(backend: Backend) -> (TestApp, TestClient, String) {
    let app = spawn_app_with(backend, |s| {
        s.refresh_token_grace = Duration::from_secs(10);
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", true).await;
    let rt = first_refresh_token(&app, &c).await;
    (app, c, rt)
}

/// RFC 9700 §4.14.2 with a grace window: a token presented twice within it gets the same
/// successor both times (the family never has two live branches); past the window it is
/// reuse and the family is revoked.
async fn a_reuse_within_the_grace_window_gets_the_same_successor(backend: Backend) {
    let (app, c, rt) = with_grace(backend).await;
    let answers =
        futures_util::future::join_all((0..4).map(|_| refresh(&app, &c, &rt, None))).await;
    let mut successors = Vec::new();
    for res in answers {
        successors.push(
            tokens_of(res).await["refresh_token"]
                .as_str()
                .expect("rt")
                .to_string(),
        );
    }
    successors.dedup();
    assert_eq!(successors.len(), 1, "one successor: {successors:?}");
    let next = &successors[0];
    assert_ne!(next, &rt);
    // The client moves on; the old token is now reuse even inside the window.
    let moved = tokens_of(refresh(&app, &c, next, None).await).await;
    let (_, error) = error_of(refresh(&app, &c, &rt, None).await).await;
    assert_eq!(error, "invalid_grant");
    let latest = moved["refresh_token"].as_str().expect("rt");
    let (_, error) = error_of(refresh(&app, &c, latest, None).await).await;
    assert_eq!(error, "invalid_grant", "the reuse revoked the family");
}

/// Past the grace window the same token is reuse and revokes the family.
async fn a_reuse_after_the_grace_window_revokes_the_family(backend: Backend) {
    let (app, c, rt) = with_grace(backend).await;
    let next = tokens_of(refresh(&app, &c, &rt, None).await).await;
    app.clock.advance(11);
    let (_, error) = error_of(refresh(&app, &c, &rt, None).await).await;
    assert_eq!(error, "invalid_grant");
    let next = next["refresh_token"].as_str().expect("rt");
    let (_, error) = error_of(refresh(&app, &c, next, None).await).await;
    assert_eq!(error, "invalid_grant");
}

/// DESIGN §4: a revocation entry is honoured by the refresh grant even when the store's family
/// was not touched (an entry written by another node, a CLI, or a racing logout): a session
/// entry, then a user entry, each stop the next refresh.
async fn refresh_honours_the_revocation_list_not_only_the_store(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", true).await;
    let rt = first_refresh_token(&app, &c).await;
    let tokens = tokens_of(refresh(&app, &c, &rt, None).await).await;
    let sid = crate::helpers::jwt_claims(tokens["access_token"].as_str().expect("at"))["sid"]
        .as_str()
        .expect("sid")
        .to_string();
    app.state
        .revocations
        .revoke_session(&app.state.store, &sid, "logout", app.clock.now())
        .await
        .expect("revoke");
    let next = tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(
        error_of(refresh(&app, &c, next, None).await).await.1,
        "invalid_grant"
    );

    let rt = first_refresh_token(&app, &c).await;
    app.clock.advance(1);
    app.state
        .revocations
        .revoke_user(&app.state.store, &alice.id, "admin", app.clock.now())
        .await
        .expect("revoke");
    assert_eq!(
        error_of(refresh(&app, &c, &rt, None).await).await.1,
        "invalid_grant"
    );
}

/// RFC 6749 §4.1.3: `redirect_uri` is REQUIRED at the token endpoint only "if the
/// redirect_uri parameter was included in the authorization request".
async fn redirect_uri_is_required_at_the_token_endpoint_only_when_it_was_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = app
        .create_client(tessera::oauth::client::RegistrationInput {
            name: "One redirect".into(),
            client_type: "public".into(),
            redirect_uris: vec![CB.into()],
            scope: Some("openid".into()),
            first_party: true,
            ..Default::default()
        })
        .await;
    let browser = http_client();
    let p = pkce();
    let without: Vec<_> = standard(&c, &p, "openid")
        .into_iter()
        .filter(|(k, _)| *k != "redirect_uri")
        .collect();
    let code = get_code(&app, &browser, &without).await;
    let res = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &p.verifier),
            ("client_id", &c.id),
        ])
        .await;
    assert_eq!(
        res.status(),
        200,
        "no redirect_uri was sent, none is required"
    );

    let p = pkce();
    let code = get_code(&app, &browser, &standard(&c, &p, "openid")).await;
    let res = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &p.verifier),
            ("client_id", &c.id),
        ])
        .await;
    assert_eq!(
        error_of(res).await.1,
        "invalid_grant",
        "it was sent, so it is required"
    );
}

/// RFC 6749 §5.2: `invalid_client` says the same for an unknown client and for a known one
/// authenticated the wrong way, so that it does not tell which ids exist and which are
/// confidential.
async fn invalid_client_does_not_tell_client_types_apart(backend: Backend) {
    let (app, public) = setup(backend).await;
    let confidential = client(&app, "confidential", true).await;
    let mut bodies = Vec::new();
    for form in [
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "no-such-client"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", confidential.id.as_str()),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", public.id.as_str()),
            ("client_secret", "guess"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", confidential.id.as_str()),
            ("client_secret", "guess"),
        ],
    ] {
        let res = app.post_token(&form).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        bodies.push(res.json::<Value>().await.expect("json"));
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
    assert_eq!(bodies[0]["error"], "invalid_client");
}

/// A disabled user's clients hear of it (Back-Channel Logout §2.5), signed with the
/// algorithm each client registered, and the CLI's own `user disable` delivers too.
async fn disabling_a_user_sends_back_channel_logout_in_the_clients_algorithm(backend: Backend) {
    use std::io::Write;
    use std::net::TcpListener;
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let listening = TcpListener::bind("127.0.0.1:0").expect("bind");
    let uri = format!(
        "http://127.0.0.1:{}/logout",
        listening.local_addr().expect("a").port()
    );
    let c = app
        .create_client(tessera::oauth::client::RegistrationInput {
            name: "EdDSA app".into(),
            client_type: "confidential".into(),
            redirect_uris: vec![CB.into()],
            scope: Some("openid".into()),
            first_party: true,
            backchannel_logout_uri: Some(uri),
            signing_alg: Some("EdDSA".into()),
            ..Default::default()
        })
        .await;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listening.accept() {
            let body = crate::logout_everywhere::read_request(&mut stream);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            let _ = tx.send(body);
        }
    });
    let p = pkce();
    get_code(&app, &http_client(), &standard(&c, &p, "openid")).await;
    let out = tessera(&app, &["user", "disable", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
        .await
        .expect("join")
        .expect("the client received a logout request");
    let token: String = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("a logout_token parameter");
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
}

/// OpenID Connect Core §3.1.3.6: `at_hash` is the left half of the hash "used by the alg of
/// the JOSE header"; for EdDSA over Ed25519 that hash is SHA-512 (what `openidconnect`
/// computes), for RS256 SHA-256.
async fn at_hash_uses_the_hash_of_the_id_tokens_algorithm(backend: Backend) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::{Digest, Sha256, Sha512};
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    for (alg, half) in [("EdDSA", 32), ("RS256", 16)] {
        let c = app
            .create_client(tessera::oauth::client::RegistrationInput {
                name: format!("{alg} app"),
                client_type: "public".into(),
                redirect_uris: vec![CB.into()],
                scope: Some("openid".into()),
                first_party: true,
                signing_alg: Some(alg.into()),
                ..Default::default()
            })
            .await;
        let p = pkce();
        let code = get_code(&app, &http_client(), &standard(&c, &p, "openid")).await;
        let tokens = tokens_of(redeem(&app, &c, &code, &p.verifier).await).await;
        let at = tokens["access_token"].as_str().expect("at");
        let claims = crate::helpers::jwt_claims(tokens["id_token"].as_str().expect("id"));
        let expected = match alg {
            "EdDSA" => URL_SAFE_NO_PAD.encode(&Sha512::digest(at.as_bytes())[..half]),
            _ => URL_SAFE_NO_PAD.encode(&Sha256::digest(at.as_bytes())[..half]),
        };
        assert_eq!(claims["at_hash"], expected.as_str(), "{alg}");
    }
}

/// OpenID Connect Core §2 / §3.1.2.1: `auth_time` is when the authentication happened, and
/// `max_age` is measured from it. With TOTP the authentication completes at the code step: a
/// user who took longer over the code than `max_age` must get the code, not the login page
/// again, and the ID token's `auth_time` is the code step's time.
async fn max_age_counts_from_the_code_step_for_users_with_totp(backend: Backend) {
    let (app, c) = setup(backend).await;
    let alice = app
        .state
        .store
        .user_by_username_key("alice")
        .await
        .expect("store")
        .expect("alice");
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    app.state
        .store
        .put_pending_totp(&alice.id, secret, app.clock.now())
        .await
        .expect("totp");
    app.state
        .store
        .confirm_totp(&alice.id, app.clock.now())
        .await
        .expect("confirm");
    let browser = http_client();
    let p = pkce();
    let params = [standard(&c, &p, "openid"), vec![("max_age", "30")]].concat();
    let start = crate::code_flow::authorize_url(&app, &params);
    let res = browser.get(&start).send().await.expect("authorize");
    let login = location(&res);
    assert!(login.starts_with("/login"), "{login}");
    let html = browser
        .get(app.url(&login))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let mut form = crate::helpers::hidden_inputs(&html);
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), PASSWORD.into()));
    let res = browser
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .expect("password step");
    let step = location(&res);
    assert!(step.starts_with("/login/mfa"), "{step}");
    app.clock.advance(60);
    let html = browser
        .get(app.url(&step))
        .send()
        .await
        .expect("mfa page")
        .text()
        .await
        .expect("html");
    let mut form = crate::helpers::hidden_inputs(&html);
    form.push(("code".into(), crate::admin::code(secret, app.clock.now())));
    let res = browser
        .post(app.url("/login/mfa"))
        .form(&form)
        .send()
        .await
        .expect("code step");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = location(&res);
    assert!(back.starts_with("/authorize"), "{back}");
    let res = browser.get(app.url(&back)).send().await.expect("authorize");
    let to = location(&res);
    assert!(
        to.starts_with(CB),
        "the code, not the login page again: {to}"
    );
    let code = crate::helpers::query_of(&to)["code"].clone();
    let tokens = tokens_of(redeem(&app, &c, &code, &p.verifier).await).await;
    let claims = crate::helpers::jwt_claims(tokens["id_token"].as_str().expect("id"));
    assert_eq!(claims["auth_time"], app.clock.now());
}

/// A sign-in whose password check overlaps a password change never leaves a session behind:
/// either the change ends it, or it is refused for using a password that no longer holds.
/// Raced for real: each round signs in with the current password while the password changes.
async fn a_sign_in_racing_a_password_change_never_keeps_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let mut current = PASSWORD.to_string();
    for round in 0..6 {
        let browser = http_client();
        let csrf = app.login_csrf(&browser).await;
        let next = format!("the passphrase of round {round}");
        let form = [
            ("username", "alice"),
            ("password", current.as_str()),
            ("csrf", csrf.as_str()),
        ];
        let sign_in = app.post_login_with(&browser, &form);
        let change = tessera::accounts::manage::set_password(
            &app.state.store,
            &app.state.revocations,
            &app.state.backchannel,
            &app.state.hasher,
            "alice",
            secrecy::SecretString::from(next.clone()),
            &app.clock,
        );
        let (_, changed) = tokio::join!(sign_in, change);
        changed.expect("password changed");
        let res = browser
            .get(app.url("/account"))
            .send()
            .await
            .expect("account");
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "round {round}: a session signed in with the old password survived the change"
        );
        current = next;
    }
}

dual!(
    a_sign_in_racing_a_password_change_never_keeps_a_session,
    max_age_counts_from_the_code_step_for_users_with_totp,
    refresh_honours_the_revocation_list_not_only_the_store,
    at_hash_uses_the_hash_of_the_id_tokens_algorithm,
    a_code_does_not_outlive_a_password_change,
    a_code_does_not_outlive_sign_out,
    a_code_does_not_outlive_its_session_ended_by_an_admin,
    replaying_a_used_code_writes_one_revocation,
    a_concurrent_replay_always_revokes_the_first_redemption,
    a_reuse_within_the_grace_window_gets_the_same_successor,
    a_reuse_after_the_grace_window_revokes_the_family,
    a_burst_of_one_refresh_token_on_two_nodes_rotates_it_once,
    rotation_keeps_one_sealed_successor_per_family,
    a_rotation_after_the_family_was_revoked_writes_nothing,
    refresh_reads_the_users_current_row,
    redirect_uri_is_required_at_the_token_endpoint_only_when_it_was_sent,
    invalid_client_does_not_tell_client_types_apart,
    disabling_a_user_sends_back_channel_logout_in_the_clients_algorithm,
);
