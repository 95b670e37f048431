//! An emergency revocation against a node that is busy signing (issue 13): the revocation
//! list of the other node may learn of the revoked `kid` before its key rescan reads the
//! record that revokes it. Every answer of `/token` meanwhile is a token of a key that is not
//! revoked (it verifies and is active at introspection) or a clean 503
//! `temporarily_unavailable`, never a 500, and once the node's revocation list holds the kid
//! it never signs with it again (a token born revoked).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tessera::config::Settings;
use tokio::sync::Mutex;

use crate::admin_api::fresh_admin_api;
use crate::dual;
use crate::helpers::{Backend, TestApp, TestClient};
use crate::key_review::token_status;
use crate::key_rotation::{Deployment, configure, kid_of, parties, published_within};

/// The key rescan runs every 3 s (PostgreSQL also wakes it with a notification), while the
/// revocation list is polled every second: on SQLite the list learns of a revoked key first.
fn slow_rescan(s: &mut Settings) {
    configure(s);
    s.key_rescan_interval = Duration::from_secs(3);
}

/// One answer of `/token`: when it was sent, its status and body.
struct Answer {
    sent: Instant,
    status: StatusCode,
    body: Value,
}

async fn hammer(node: &TestApp, client: &TestClient, stop: &AtomicBool, seen: &Mutex<Vec<Answer>>) {
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let (status, body) = token_status(node, client).await;
        seen.lock().await.push(Answer { sent, status, body });
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn a_node_never_signs_with_a_key_another_node_has_just_revoked(backend: Backend) {
    let d = Deployment::with(backend, slow_rescan).await;
    let p = parties(&d.app).await;
    // The node that signs is the other one (on SQLite, the only one).
    let other = d.node.as_ref().unwrap_or(&d.app);
    let leaked = kid_of(&other.access_token(&p.service).await);
    let api = fresh_admin_api(&d.app, "keyadmin").await;

    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Vec::new());
    let known_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let watch = {
        let (revocations, known_at) = (other.state.revocations.clone(), known_at.clone());
        let leaked = leaked.clone();
        tokio::spawn(async move {
            while !revocations.revokes_kid(&leaked) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            *known_at.lock().unwrap() = Some(Instant::now());
        })
    };
    let revoke = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, body) = api
            .call(Method::POST, &format!("/keys/{leaked}/revoke"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(published_within(other, &leaked, false, Duration::from_secs(10)).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        body["successor"].as_str().expect("a successor").to_string()
    };
    let hammers = async {
        let one = || hammer(other, &p.service, &stop, &seen);
        tokio::join!(one(), one(), one(), one());
    };
    let (successor, ()) = tokio::join!(revoke, hammers);
    watch.await.unwrap();
    let known_at = known_at
        .lock()
        .unwrap()
        .expect("the node learned of the revocation");

    let seen = seen.into_inner();
    let mut by_leaked = 0;
    let mut by_successor = 0;
    for answer in &seen {
        match answer.status {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(answer.body["error"], "temporarily_unavailable");
                continue;
            }
            status => panic!("/token answered {status}: {}", answer.body),
        }
        let token = answer.body["access_token"].as_str().expect("a token");
        let kid = kid_of(token);
        let active = other.introspect(&p.rs, token).await["active"] == true;
        if kid == leaked {
            by_leaked += 1;
            assert!(
                answer.sent < known_at,
                "a token was signed by a key the node's revocation list already held revoked"
            );
            assert!(
                !active,
                "a token of the revoked key is active at introspection"
            );
        } else {
            by_successor += 1;
            assert_eq!(kid, successor);
            assert!(active, "a token of the successor is not active");
        }
    }
    assert!(by_successor > 0, "the successor signed nothing");
    eprintln!(
        "{} answers: {by_leaked} by the revoked key before the node knew, {by_successor} by its \
         successor, {} 503",
        seen.len(),
        seen.len() - by_leaked - by_successor
    );
}

/// A revocation entry for `kid` (as `keys revoke` writes with the record): the node's list
/// learns of it at once, while the key records still name the key as before.
async fn revoke_in_list_only(app: &TestApp, kid: &str) {
    app.state
        .revocations
        .revoke(
            &app.state.store,
            tessera::revocation::Revocation::new(
                tessera::revocation::Target::Kid(kid.to_string()),
                tessera::revocation::reason::KEY_REVOKED,
                app.clock.now(),
            ),
        )
        .await
        .expect("revoke");
}

/// The same race for back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4
/// signs them like ID tokens): once the node's revocation list holds the active key's kid,
/// and before its key rescan has dropped the key (here never: only the list knows), no logout
/// token is signed with it. A relying party that refetched the JWKS would refuse such a token,
/// and delivery retries the same token: the logout would be lost. Before the revocation, the
/// same logout is delivered with that kid (the setup works).
async fn a_logout_token_is_never_signed_with_a_kid_the_revocation_list_holds(backend: Backend) {
    use std::io::Write;

    let app = crate::helpers::spawn_app(backend).await;
    app.create_user("alice", crate::helpers::PASSWORD).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let uri = format!(
        "http://127.0.0.1:{}/logout",
        listener.local_addr().expect("addr").port()
    );
    let client = app
        .create_client(crate::logout_everywhere::backchannel_registration(uri))
        .await;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        while let Ok((mut stream, _)) = listener.accept() {
            let body = crate::logout_everywhere::read_request(&mut stream);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            let token = url::form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "logout_token")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if tx.send(token).is_err() {
                return;
            }
        }
    });
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let received = |wait: Duration| {
        let rx = rx.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let rx = rx.lock().unwrap();
                let start = Instant::now();
                let mut kids = Vec::new();
                while let Some(left) = wait.checked_sub(start.elapsed()) {
                    match rx.recv_timeout(left) {
                        Ok(token) => kids.push(kid_of(&token)),
                        Err(_) => break,
                    }
                }
                kids
            })
            .await
            .unwrap()
        }
    };
    let sign_in_and_out = || async {
        let browser = crate::helpers::http_client();
        let p = crate::code_flow::pkce();
        crate::code_flow::get_code(
            &app,
            &browser,
            &crate::code_flow::standard(&client, &p, "openid"),
        )
        .await;
        let csrf = app.account_csrf(&browser).await;
        let logout = browser
            .post(app.url("/logout"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .expect("logout");
        assert_eq!(logout.status(), 200);
    };

    sign_in_and_out().await;
    let before = received(Duration::from_secs(5)).await;
    assert_eq!(before.len(), 1, "the logout was delivered: {before:?}");
    let kid = before[0].clone();

    // Only the revocation list learns of it: the key records still name the key active.
    revoke_in_list_only(&app, &kid).await;
    assert!(app.state.revocations.revokes_kid(&kid));
    sign_in_and_out().await;
    let after = received(tessera::keys::REVOKED_SIGNER_WAIT + Duration::from_secs(3)).await;
    assert!(
        !after.contains(&kid),
        "a logout token was signed with a kid the node's revocation list holds revoked"
    );
}

/// A service client of `app`, and the ring a token request of it takes when it begins.
async fn request_ring(
    app: &TestApp,
) -> (tessera::oauth::client::Client, Arc<tessera::keys::KeyRing>) {
    let service = app.create_service_client("api.read").await;
    let client = app
        .state
        .store
        .get_client(&service.id)
        .await
        .expect("store")
        .expect("client");
    let max_unsynced = tessera::keys::manage::max_unsynced(&app.state.settings);
    let ring = app
        .state
        .keys
        .for_signing(max_unsynced, &[])
        .await
        .expect("a ring");
    (client, ring)
}

/// What a grant of that request works with.
fn context<'a>(
    app: &'a TestApp,
    ring: &'a tessera::keys::KeyRing,
) -> tessera::oauth::token::TokenContext<'a> {
    tessera::oauth::token::TokenContext {
        store: &app.state.store,
        keys: ring,
        live: &app.state.keys,
        max_unsynced: tessera::keys::manage::max_unsynced(&app.state.settings),
        settings: &app.state.settings,
        revocations: &app.state.revocations,
        now: app.clock.now(),
        rate_limit: &app.state.token_rate_limit,
        dpop: &app.state.dpop,
    }
}

/// A grant checks its key against the revocation list again as it signs (and before it spends
/// a code or refresh token): the ring the request took when it began may still sign with a kid
/// the list has learnt of since. Then no key is handed out: 503 `temporarily_unavailable`.
async fn a_grant_does_not_sign_with_a_key_revoked_while_it_ran(backend: Backend) {
    use tessera::oauth::error::OAuthError;

    let app = crate::helpers::spawn_app(backend).await;
    let (client, ring) = request_ring(&app).await;
    let ctx = context(&app, &ring);
    let kid = ctx
        .signing_key(&client)
        .await
        .expect("signs")
        .kid()
        .to_string();
    assert!(
        tessera::oauth::resources::access_key(&ctx, &client, None)
            .await
            .is_ok()
    );

    revoke_in_list_only(&app, &kid).await;
    assert!(matches!(
        ctx.signing_key(&client).await,
        Err(OAuthError::TemporarilyUnavailable)
    ));
    assert!(matches!(
        tessera::oauth::resources::access_key(&ctx, &client, None).await,
        Err(OAuthError::TemporarilyUnavailable)
    ));
}

/// Issue 13 review 5, finding 1: a grant that has spent its code or refresh token when it
/// finds the key it took at the start revoked (the revocation list learnt of it meanwhile)
/// signs with the successor rather than answer a 503 the client cannot retry (the code is
/// spent; a refresh retry is reuse and revokes the family). Here the request's ring still
/// signs with the revoked key, as it would for a grant that began before the revocation.
async fn a_grant_whose_key_is_revoked_while_it_runs_signs_with_the_successor(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, configure).await;
    let (client, ring) = request_ring(&app).await;
    let ctx = context(&app, &ring);
    let kid = ring
        .for_alg(client.signing_alg)
        .expect("signs")
        .kid()
        .to_string();

    let api = fresh_admin_api(&app, "keyadmin").await;
    let (status, body) = api
        .call(Method::POST, &format!("/keys/{kid}/revoke"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let successor = body["successor"].as_str().expect("a successor");
    let learnt = Instant::now();
    while !app.state.revocations.revokes_kid(&kid) {
        assert!(
            learnt.elapsed() < Duration::from_secs(10),
            "the list never learnt of it"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        ring.for_alg(client.signing_alg).expect("a key").kid(),
        kid,
        "the request's ring still signs with the revoked key"
    );

    let key = ctx.signing_key(&client).await.expect("the successor signs");
    assert_eq!(key.kid(), successor);
    let access = tessera::oauth::resources::access_key(&ctx, &client, None)
        .await
        .expect("the successor signs access tokens");
    assert_eq!(access.kid(), successor);
}

/// Issue 13 review 5, findings 3 and 6: `/readyz` fails while the active key is revoked; once a
/// signer has waited `REVOKED_SIGNER_WAIT` in vain for the
/// rescan to drop a revoked key (here it never does: only the revocation list knows), the node
/// remembers it, and later requests answer 503 at once rather than wait again.
async fn a_node_waits_for_a_revoked_key_only_once(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let service = app.create_service_client("api.read").await;
    let kid = kid_of(&app.access_token(&service).await);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    revoke_in_list_only(&app, &kid).await;
    // Finding 6: while its key is revoked, the algorithm does not count as signing here.
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    let first = Instant::now();
    let (status, body) = token_status(&app, &service).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(first.elapsed() >= tessera::keys::REVOKED_SIGNER_WAIT);

    let second = Instant::now();
    let (status, body) = token_status(&app, &service).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        second.elapsed() < Duration::from_millis(500),
        "the second request waited again: {:?}",
        second.elapsed()
    );
}

dual!(
    a_grant_whose_key_is_revoked_while_it_runs_signs_with_the_successor,
    a_node_waits_for_a_revoked_key_only_once,
    a_grant_does_not_sign_with_a_key_revoked_while_it_ran,
    a_node_never_signs_with_a_key_another_node_has_just_revoked,
    a_logout_token_is_never_signed_with_a_kid_the_revocation_list_holds
);
