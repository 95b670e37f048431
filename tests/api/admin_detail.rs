//! The console's detail pages: a user's (their recent audit entries and live sessions), a
//! client's (its recent audit entries and the live sessions that used it) and a session's
//! (its user, times, origin, the clients it signed in to, and ending it).

use reqwest::StatusCode;

use crate::admin::{between, enrol_admin};
use crate::admin_console::{page, post_confirmed};
use crate::code_flow::{client, get_code, pkce, standard};
use crate::dual;
use crate::helpers::{Backend, PASSWORD, TestApp, csrf_in, http_client, spawn_app};

/// The sids of a user's sessions, newest use first.
async fn sids_of(app: &TestApp, user_id: &str) -> Vec<String> {
    let sessions = app
        .state
        .store
        .user_sessions(user_id, app.clock.now())
        .await
        .unwrap();
    sessions.into_iter().map(|s| s.sid).collect()
}

/// Times are marked up for the browser's zone, UTC in the text.
fn assert_local_times(html: &str) {
    let time = between(html, r#"<time class="local" datetime=""#, "</time>");
    let (iso, text) = time.split_once(r#"">"#).unwrap();
    assert!(iso.ends_with('Z') && iso.contains('T'), "{time}");
    assert!(
        text.ends_with(" UTC") && text.starts_with(&iso[..10]),
        "{time}"
    );
}

async fn a_users_page_shows_their_recent_activity_and_live_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = enrol_admin(&app).await;
    let bob = app.create_user("bob", PASSWORD).await;
    app.create_user("carol", PASSWORD).await;
    app.login_as(&http_client(), "bob", PASSWORD).await;
    app.login_as(&http_client(), "carol", PASSWORD).await;
    let bobs = sids_of(&app, &bob.id).await;
    assert_eq!(bobs.len(), 1);

    // An administrator's action on bob: an entry about him (target `user:ID`).
    let revocations = page(&app, &admin, "/admin/revocations").await;
    let res = post_confirmed(
        &app,
        &admin,
        "/admin/revocations",
        &csrf_in(&revocations),
        &[("kind", "user"), ("value", "bob")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let html = page(&app, &admin, &format!("/admin/users/{}", bob.id)).await;
    let audit = between(
        &html,
        r#"<table class="data" id="recent-audit">"#,
        "</table>",
    );
    let revoked = audit
        .find("revocation.created")
        .expect("the admin's action on bob");
    let signed_in = audit.find("login.succeeded").expect("bob's own sign-in");
    assert!(revoked < signed_in, "newest first: {audit}");
    assert!(
        audit.contains("user:bob") && audit.contains("user:root"),
        "{audit}"
    );
    assert!(!audit.contains("user:carol"), "only bob's: {audit}");
    assert_local_times(audit);

    let sessions = between(
        &html,
        r#"<table class="data" id="active-sessions">"#,
        "</table>",
    );
    assert!(
        sessions.contains(&format!("/admin/sessions/{}", bobs[0])),
        "{sessions}"
    );
    assert_eq!(
        sessions.matches("<tr>").count(),
        2,
        "a head row and bob's: {sessions}"
    );

    // Signed out everywhere, he has no session left to show.
    let res = post_confirmed(
        &app,
        &admin,
        &format!("/admin/users/{}/sign-out", bob.id),
        &csrf_in(&html),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = page(&app, &admin, &format!("/admin/users/{}", bob.id)).await;
    assert!(!html.contains(r#"id="active-sessions""#), "{html}");
    assert!(between(&html, r#"id="recent-audit">"#, "</table>").contains("user.signed_out"));
}

/// At most the newest 20 entries.
async fn a_users_page_shows_the_newest_twenty_entries(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = enrol_admin(&app).await;
    let bob = app.create_user("bob", PASSWORD).await;
    for _ in 0..25 {
        app.login_as(&http_client(), "bob", PASSWORD).await;
    }
    let html = page(&app, &admin, &format!("/admin/users/{}", bob.id)).await;
    let audit = between(&html, r#"id="recent-audit">"#, "</table>");
    assert_eq!(audit.matches("login.succeeded").count(), 20, "{audit}");
}

async fn a_clients_page_shows_its_recent_activity_and_the_sessions_that_used_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = enrol_admin(&app).await;
    let alice = app.create_user("alice", PASSWORD).await;
    let photos = client(&app, "confidential", true).await;
    let other = client(&app, "confidential", true).await;
    let browser = http_client();
    let p = pkce();
    get_code(&app, &browser, &standard(&photos, &p, "openid")).await;
    let sid = sids_of(&app, &alice.id).await.pop().unwrap();
    // Another session of alice's that never used the client.
    app.login_as(&http_client(), "alice", PASSWORD).await;

    let html = page(&app, &admin, "/admin/revocations").await;
    let res = post_confirmed(
        &app,
        &admin,
        "/admin/revocations",
        &csrf_in(&html),
        &[("kind", "client"), ("value", &photos.id)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let html = page(&app, &admin, &format!("/admin/clients/{}", photos.id)).await;
    let audit = between(
        &html,
        r#"<table class="data" id="recent-audit">"#,
        "</table>",
    );
    assert!(audit.contains("revocation.created"), "{audit}");
    assert!(audit.contains(&format!("client:{}", photos.id)), "{audit}");
    assert!(
        !audit.contains("login.succeeded"),
        "about the client only: {audit}"
    );
    assert_local_times(audit);
    let sessions = between(
        &html,
        r#"<table class="data" id="active-sessions">"#,
        "</table>",
    );
    assert!(
        sessions.contains(&sid) && sessions.contains("alice"),
        "{sessions}"
    );
    assert_eq!(
        sessions.matches("<tr>").count(),
        2,
        "only the session that used it"
    );

    let html = page(&app, &admin, &format!("/admin/clients/{}", other.id)).await;
    assert!(!html.contains(r#"id="active-sessions""#), "{html}");
    assert!(!html.contains(r#"id="recent-audit""#), "{html}");
}

async fn a_sessions_page_shows_its_user_origin_and_clients_and_ends_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = enrol_admin(&app).await;
    let alice = app.create_user("alice", PASSWORD).await;
    let photos = client(&app, "confidential", true).await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("DetailTest/1.0")
        .build()
        .unwrap();
    let p = pkce();
    get_code(&app, &browser, &standard(&photos, &p, "openid")).await;
    let sid = sids_of(&app, &alice.id).await.pop().unwrap();

    // The sessions list links to it.
    let list = page(&app, &admin, "/admin/sessions?user=alice").await;
    assert!(
        list.contains(&format!(r#"href="/admin/sessions/{sid}""#)),
        "{list}"
    );

    let html = page(&app, &admin, &format!("/admin/sessions/{sid}")).await;
    let facts = between(&html, r#"<dl class="kv" id="session">"#, "</dl>");
    assert!(facts.contains(&sid) && facts.contains("alice"), "{facts}");
    assert!(
        facts.contains("127.0.0.1") && facts.contains("DetailTest/1.0"),
        "{facts}"
    );
    assert_local_times(facts);
    let clients = between(&html, r#"<ul id="session-clients">"#, "</ul>");
    assert!(
        clients.contains("Photo app") && clients.contains(&photos.id),
        "{clients}"
    );

    let res = post_confirmed(
        &app,
        &admin,
        &format!("/admin/sessions/{sid}/end"),
        &csrf_in(&html),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(sids_of(&app, &alice.id).await.is_empty());
    let gone = admin
        .client
        .get(app.url(&format!("/admin/sessions/{sid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let made_up = admin
        .client
        .get(app.url("/admin/sessions/no-such-session"))
        .send()
        .await
        .unwrap();
    assert_eq!(made_up.status(), StatusCode::NOT_FOUND);
}

dual!(
    a_users_page_shows_their_recent_activity_and_live_sessions,
    a_users_page_shows_the_newest_twenty_entries,
    a_clients_page_shows_its_recent_activity_and_the_sessions_that_used_it,
    a_sessions_page_shows_its_user_origin_and_clients_and_ends_it,
);
