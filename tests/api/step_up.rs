//! Issue 11, step-up where it matters: changing the second factor needs the current password
//! (and a current code when it is on); powerful client registrations and new redirect URIs need
//! a recent sign-in, which a client's token never is; the admin API's gate needs the token's
//! session to be alive.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::account_totp::{account_page, enrol};
use crate::admin::{ADMIN, between, code, create_admin, enrol_admin, user_token};
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, csrf_in, hidden_inputs, http_client, location, spawn_app,
    spawn_app_with,
};

/// Posts the TOTP enrolment form at `path` with the right code and `password`.
async fn post_enrolment(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    password: Option<&str>,
) -> reqwest::Response {
    let res = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "the enrolment page at {path}");
    let html = res.text().await.unwrap();
    let secret = between(&html, r#"<code id="totp-secret">"#, "</code>").to_string();
    let mut form = hidden_inputs(&html);
    if let Some(password) = password {
        form.push(("password".into(), password.into()));
    }
    form.push(("code".into(), code(&secret, app.clock.now())));
    browser
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn a_stolen_session_cookie_cannot_turn_on_totp_without_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("bob", PASSWORD).await;
    let thief = http_client();
    app.login_as(&thief, "bob", PASSWORD).await;
    for password in [None, Some("a guess")] {
        let res = post_enrolment(&app, &thief, "/account/mfa", password).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(
        account_page(&app, &thief)
            .await
            .contains("Turn on two-factor sign-in"),
        "still off"
    );
    // The owner, who knows the password, can.
    let res = post_enrolment(&app, &thief, "/account/mfa", Some(PASSWORD)).await;
    assert_eq!(res.status(), 200);
}

/// A stolen cookie cannot read the secret the owner will confirm: every showing of the
/// enrolment page makes a new secret, and only the secret a page showed can be confirmed with
/// that page, so a secret read by the thief is never the one the owner's app holds.
async fn a_stolen_session_cookie_cannot_plant_the_owners_next_totp_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let bob = app.create_user("bob", PASSWORD).await;
    let owner = http_client();
    app.login_as(&owner, "bob", PASSWORD).await;
    let page = |html: String| {
        let secret = between(&html, r#"<code id="totp-secret">"#, "</code>").to_string();
        (secret, hidden_inputs(&html))
    };
    let get = || async {
        let res = owner.get(app.url("/account/mfa")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        page(res.text().await.unwrap())
    };
    // The thief (same cookie) looks first; then the owner opens the page.
    let (planted, _) = get().await;
    let (shown, mut form) = get().await;
    assert_ne!(planted, shown, "a new secret at every showing");
    // The thief looks again before the owner confirms: the owner's page is out of date, and
    // confirming it does not enrol the thief's secret.
    let (replaced, _) = get().await;
    form.push(("password".into(), PASSWORD.into()));
    form.push(("code".into(), code(&shown, app.clock.now())));
    let res = owner
        .post(app.url("/account/mfa"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let row = app
        .state
        .store
        .totp_credential(&bob.id)
        .await
        .unwrap()
        .unwrap();
    assert!(row.confirmed_at.is_none(), "nothing was enrolled");
    // A code for the thief's current secret, sent with the owner's page, is refused too.
    form.retain(|(k, _)| k != "code");
    form.push(("code".into(), code(&replaced, app.clock.now())));
    let res = owner
        .post(app.url("/account/mfa"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The owner starts again and enrols a secret no one else has seen.
    let res = post_enrolment(&app, &owner, "/account/mfa", Some(PASSWORD)).await;
    assert_eq!(res.status(), 200);
    let row = app
        .state
        .store
        .totp_credential(&bob.id)
        .await
        .unwrap()
        .unwrap();
    assert!(row.confirmed_at.is_some());
    assert!(![planted, shown, replaced].contains(&row.secret));
}

async fn a_stolen_admin_cookie_cannot_enrol_the_thiefs_authenticator(backend: Backend) {
    let app = spawn_app(backend).await;
    create_admin(&app, ADMIN).await;
    let thief = http_client();
    let res = app.login_as(&thief, ADMIN, PASSWORD).await;
    assert!(location(&res).starts_with("/admin/mfa?"));
    let res = post_enrolment(&app, &thief, "/admin/mfa/enrol", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = thief.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the console stays shut"
    );
}

async fn turning_totp_off_needs_the_current_password_as_well_as_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("bob", PASSWORD).await;
    let browser = http_client();
    app.login_as(&browser, "bob", PASSWORD).await;
    let secret = enrol(&app, &browser).await;
    let csrf = csrf_in(&account_page(&app, &browser).await);
    app.clock.advance(30);
    let right_code = code(&secret, app.clock.now());
    for password in ["", "a guess"] {
        let res = browser
            .post(app.url("/account/mfa/disable"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("password", password),
                ("code", &right_code),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    assert!(
        account_page(&app, &browser)
            .await
            .contains("On: each sign-in"),
        "still on"
    );
}

/// The console's new-client form, posted by `admin` with `fields`.
async fn register_in_console(
    app: &TestApp,
    admin: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let res = admin
        .get(app.url("/admin/clients/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csrf = csrf_in(&res.text().await.unwrap());
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    admin
        .post(app.url("/admin/clients"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn powerful_clients_and_new_redirect_uris_need_a_recent_sign_in_in_the_console(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let enrolled = enrol_admin(&app).await;
    let admin = &enrolled.client;
    let window = app.state.settings.admin_reauth_window.as_secs() as i64;
    // Registered while the sign-in is fresh.
    let res = register_in_console(
        &app,
        admin,
        &[
            ("name", "Web"),
            ("client_type", "confidential"),
            ("redirect_uris", "https://app.example.com/cb"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let web_app = app.state.store.list_clients_page(10, 0).await.unwrap()[0]
        .id
        .to_string();
    app.clock.advance(window + 60);

    for fields in [
        [
            ("name", "Robot"),
            ("client_type", "confidential"),
            ("grant_types", "client_credentials"),
        ],
        [
            ("name", "Ops"),
            ("client_type", "confidential"),
            ("scope", "openid tessera:admin"),
        ],
        [
            ("name", "Web 2"),
            ("client_type", "public"),
            ("redirect_uris", "https://evil.example/cb"),
        ],
    ] {
        let res = register_in_console(&app, admin, &fields).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{fields:?}");
        assert!(location(&res).starts_with("/admin/reauth?"), "{fields:?}");
    }
    assert_eq!(
        app.state
            .store
            .list_clients_page(10, 0)
            .await
            .unwrap()
            .len(),
        1
    );

    // Editing: a new redirect URI needs it; a new name does not.
    let edit_path = format!("/admin/clients/{web_app}/edit");
    let csrf = csrf_in(
        &admin
            .get(app.url(&edit_path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let edit = |name: &'static str, uris: &'static str| {
        let form = [
            ("csrf", csrf.clone()),
            ("name", name.into()),
            ("redirect_uris", uris.into()),
        ];
        admin.post(app.url(&edit_path)).form(&form).send()
    };
    let res = edit("Web", "https://app.example.com/cb https://evil.example/cb")
        .await
        .unwrap();
    assert!(
        location(&res).starts_with("/admin/reauth?"),
        "{}",
        location(&res)
    );
    let res = edit("Web renamed", "https://app.example.com/cb")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/admin/clients/{web_app}"));
    let shown = app.state.store.get_client(&web_app).await.unwrap().unwrap();
    assert_eq!(shown.redirect_uris.len(), 1);
}

async fn a_clients_token_never_counts_as_a_recent_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let ops = app.create_service_client("tessera:admin").await;
    let token = app.access_token(&ops).await;
    let target = app.create_service_client("api.read").await;
    let call = |method: Method, path: String, body: Option<serde_json::Value>| {
        let mut req = app
            .client
            .request(method, app.url(&format!("/admin/api/v1{path}")))
            .bearer_auth(&token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
    };
    let sensitive = [
        (
            Method::POST,
            "/clients".to_string(),
            Some(json!({ "name": "Robot", "grant_types": ["client_credentials"] })),
        ),
        (
            Method::POST,
            "/clients".to_string(),
            Some(json!({ "name": "Web", "redirect_uris": ["https://evil.example/cb"] })),
        ),
        (
            Method::POST,
            format!("/clients/{}/rotate-secret", target.id),
            None,
        ),
        (Method::DELETE, format!("/clients/{}", target.id), None),
    ];
    for (method, path, body) in sensitive {
        let res = call(method.clone(), path.clone(), body).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    assert!(
        app.state
            .store
            .get_client(&target.id)
            .await
            .unwrap()
            .is_some()
    );
    // Everyday reads and harmless edits still work.
    let res = call(
        Method::PATCH,
        format!("/clients/{}", target.id),
        Some(json!({ "name": "Renamed" })),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
}

async fn an_admin_token_from_an_old_sign_in_cannot_register_powerful_clients_or_add_redirect_uris(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |s| s.admin_require_totp = false).await;
    let root = create_admin(&app, ADMIN).await;
    app.login_as(&http_client(), ADMIN, PASSWORD).await;
    let sid = app
        .state
        .store
        .user_sessions(&root.id, app.clock.now())
        .await
        .unwrap()[0]
        .sid
        .clone();
    let window = app.state.settings.admin_reauth_window.as_secs() as i64;
    app.clock.advance(window + 60);
    // Minted now from the live session, but the sign-in behind it is old.
    let now = app.clock.now();
    let stale = tessera::tokens::access::mint(
        app.state.keys.current().active().expect("signer"),
        &app.state.settings.issuer(),
        tessera::tokens::access::AccessGrant {
            subject: root.id.clone(),
            audience: "admin-cli".into(),
            client_id: "admin-cli".into(),
            scope: "tessera:admin".into(),
            ttl: std::time::Duration::from_secs(300),
            sid: Some(sid),
            auth_time: Some(now - window - 60),
            roles: None,
            family: None,
            ..Default::default()
        },
        now,
    )
    .unwrap()
    .token;
    let web = app
        .create_client(crate::helpers::code_flow_client("confidential"))
        .await;
    let call = |method: Method, path: String, body: serde_json::Value| {
        app.client
            .request(method, app.url(&format!("/admin/api/v1{path}")))
            .bearer_auth(&stale)
            .json(&body)
            .send()
    };
    for (method, path, body) in [
        (
            Method::POST,
            "/clients".to_string(),
            json!({ "name": "Robot", "grant_types": ["client_credentials"] }),
        ),
        (
            Method::POST,
            "/clients".to_string(),
            json!({ "name": "Ops", "scope": "tessera:admin" }),
        ),
        (
            Method::PATCH,
            format!("/clients/{}", web.id),
            json!({ "redirect_uris": ["https://app.example.com/cb", "https://evil.example/cb"] }),
        ),
    ] {
        let res = call(method.clone(), path.clone(), body).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    let shown = app.state.store.get_client(&web.id).await.unwrap().unwrap();
    assert_eq!(shown.redirect_uris.len(), 1);
    // A harmless edit needs no recent sign-in.
    let res = call(
        Method::PATCH,
        format!("/clients/{}", web.id),
        json!({ "name": "Renamed" }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
}

async fn an_admin_api_token_is_refused_once_its_session_has_expired(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.admin_require_totp = false;
        s.session_ttl = std::time::Duration::from_secs(60);
    })
    .await;
    let root = create_admin(&app, ADMIN).await;
    app.login_as(&http_client(), ADMIN, PASSWORD).await;
    let sid = app
        .state
        .store
        .user_sessions(&root.id, app.clock.now())
        .await
        .unwrap()[0]
        .sid
        .clone();
    let get = |token: String| {
        app.client
            .get(app.url("/admin/api/v1/users"))
            .bearer_auth(token)
            .send()
    };
    let fresh = user_token(&app, &root.id, &sid, "tessera:admin");
    assert_eq!(get(fresh).await.unwrap().status(), 200);
    app.clock.advance(61);
    // A token minted now (still valid itself) from the expired session.
    let late = user_token(&app, &root.id, &sid, "tessera:admin");
    assert_eq!(get(late).await.unwrap().status(), StatusCode::FORBIDDEN);
    let made_up = user_token(&app, &root.id, "no-such-session", "tessera:admin");
    assert_eq!(get(made_up).await.unwrap().status(), StatusCode::FORBIDDEN);
}

dual!(
    a_stolen_session_cookie_cannot_plant_the_owners_next_totp_secret,
    a_stolen_session_cookie_cannot_turn_on_totp_without_the_password,
    a_stolen_admin_cookie_cannot_enrol_the_thiefs_authenticator,
    turning_totp_off_needs_the_current_password_as_well_as_a_code,
    powerful_clients_and_new_redirect_uris_need_a_recent_sign_in_in_the_console,
    a_clients_token_never_counts_as_a_recent_sign_in,
    an_admin_token_from_an_old_sign_in_cannot_register_powerful_clients_or_add_redirect_uris,
    an_admin_api_token_is_refused_once_its_session_has_expired,
);
