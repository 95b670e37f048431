//! The admin console and API: the admin gate, TOTP (enrolment, sign-in step, throttling,
//! recovery codes), recent authentication, CSRF on every form, the audit log, the JSON API.

use reqwest::StatusCode;
use totp_rs::{Builder, Secret};

use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, csrf_in, hidden_inputs, http_client, location, spawn_app,
};

pub(crate) const ADMIN: &str = "root";

/// Every console page a GET can reach (ids filled in by `console_gets`).
fn console_gets(user_id: &str, client_id: &str) -> Vec<String> {
    [
        "/admin",
        "/admin/users",
        "/admin/users/new",
        "/admin/users/{u}",
        "/admin/users/{u}/admin",
        "/admin/clients",
        "/admin/clients/new",
        "/admin/clients/{c}",
        "/admin/clients/{c}/edit",
        "/admin/clients/{c}/rotate",
        "/admin/clients/{c}/delete",
        "/admin/sessions",
        "/admin/revocations",
        "/admin/keys",
        "/admin/audit",
        "/admin/reauth",
    ]
    .iter()
    .map(|p| p.replace("{u}", user_id).replace("{c}", client_id))
    .collect()
}

/// Every console form (POST).
fn console_posts(user_id: &str, client_id: &str) -> Vec<String> {
    [
        "/admin/mfa",
        "/admin/mfa/enrol",
        "/admin/reauth",
        "/admin/users",
        "/admin/users/{u}/disable",
        "/admin/users/{u}/enable",
        "/admin/users/{u}/password",
        "/admin/users/{u}/admin",
        "/admin/users/{u}/sign-out",
        "/admin/clients",
        "/admin/clients/{c}/rotate",
        "/admin/clients/{c}/delete",
        "/admin/clients/{c}/edit",
        "/admin/sessions/some-sid/end",
        "/admin/revocations",
        "/admin/keys/rotate",
        "/admin/keys/some-kid/promote",
        "/admin/keys/some-kid/revoke",
    ]
    .iter()
    .map(|p| p.replace("{u}", user_id).replace("{c}", client_id))
    .collect()
}

/// Every API route: (method, path).
fn api_routes(user_id: &str, client_id: &str) -> Vec<(reqwest::Method, String)> {
    use reqwest::Method;
    vec![
        (Method::GET, "/admin/api/v1/openapi.json".into()),
        (Method::GET, "/admin/api/v1/users".into()),
        (Method::POST, "/admin/api/v1/users".into()),
        (Method::GET, format!("/admin/api/v1/users/{user_id}")),
        (
            Method::POST,
            format!("/admin/api/v1/users/{user_id}/disable"),
        ),
        (
            Method::POST,
            format!("/admin/api/v1/users/{user_id}/enable"),
        ),
        (
            Method::POST,
            format!("/admin/api/v1/users/{user_id}/password"),
        ),
        (Method::PUT, format!("/admin/api/v1/users/{user_id}/admin")),
        (
            Method::POST,
            format!("/admin/api/v1/users/{user_id}/sign-out"),
        ),
        (Method::GET, "/admin/api/v1/clients".into()),
        (Method::POST, "/admin/api/v1/clients".into()),
        (Method::GET, format!("/admin/api/v1/clients/{client_id}")),
        (Method::DELETE, format!("/admin/api/v1/clients/{client_id}")),
        (Method::PATCH, format!("/admin/api/v1/clients/{client_id}")),
        (
            Method::POST,
            format!("/admin/api/v1/clients/{client_id}/rotate-secret"),
        ),
        (Method::GET, "/admin/api/v1/audit".into()),
        (Method::GET, "/admin/api/v1/sessions".into()),
        // Any sid will do for the gate; this one reads as the document's path too.
        (Method::DELETE, "/admin/api/v1/sessions/{sid}".into()),
        (Method::GET, "/admin/api/v1/revocations".into()),
        (Method::POST, "/admin/api/v1/revocations".into()),
        (Method::GET, "/admin/api/v1/keys".into()),
        (Method::POST, "/admin/api/v1/keys".into()),
        (Method::POST, "/admin/api/v1/keys/{kid}/promote".into()),
        (Method::POST, "/admin/api/v1/keys/{kid}/revoke".into()),
    ]
}

pub(crate) async fn create_admin(app: &TestApp, name: &str) -> tessera::accounts::User {
    let user = app.create_user(name, PASSWORD).await;
    app.state
        .store
        .set_user_roles(&user.id, "admin", app.clock.now())
        .await
        .unwrap();
    user
}

pub(crate) fn code(secret: &str, now: i64) -> String {
    let bytes = Secret::try_from_base32(secret).unwrap().as_bytes().to_vec();
    let totp = Builder::new().with_secret(bytes).build().unwrap();
    totp.generate(now as u64).to_string()
}

pub(crate) fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    let j = html[i..].find(end).unwrap() + i;
    &html[i..j]
}

/// An admin who signed in and enrolled TOTP: the client (session passed TOTP), the secret and
/// the recovery codes.
pub(crate) struct Enrolled {
    pub client: reqwest::Client,
    pub secret: String,
    pub recovery: Vec<String>,
}

pub(crate) async fn enrol_admin(app: &TestApp) -> Enrolled {
    create_admin(app, ADMIN).await;
    let client = http_client();
    let res = app.login_as(&client, ADMIN, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&res).starts_with("/admin/mfa?"),
        "{}",
        location(&res)
    );
    let res = client.get(app.url(&location(&res))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/admin/mfa/enrol?"));
    let res = client.get(app.url(&location(&res))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"src="data:image/png;base64,"#),
        "a QR code image"
    );
    let secret = between(&html, r#"<code id="totp-secret">"#, "</code>").to_string();
    let mut form = hidden_inputs(&html);
    form.push(("password".into(), PASSWORD.into()));
    form.push(("code".into(), code(&secret, app.clock.now())));
    let res = client
        .post(app.url("/admin/mfa/enrol"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let list = between(&html, r#"<ul id="recovery-codes">"#, "</ul>");
    let recovery: Vec<String> = list
        .split("<code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    // The secret is never shown again.
    let page = client
        .get(app.url("/admin/mfa/enrol"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let dash = client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(dash.status(), 200);
    assert!(!dash.text().await.unwrap().contains(&secret));
    Enrolled {
        client,
        secret,
        recovery,
    }
}

/// A new browser that signed in with the password only; the TOTP step is next.
pub(crate) async fn password_only(app: &TestApp) -> (reqwest::Client, String) {
    let client = http_client();
    let res = app.login_as(&client, ADMIN, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let step = location(&res);
    assert!(step.starts_with("/admin/mfa?"), "{step}");
    let res = client.get(app.url(&step)).send().await.unwrap();
    assert_eq!(res.status(), 200, "the TOTP form");
    let csrf = csrf_in(&res.text().await.unwrap());
    (client, csrf)
}

pub(crate) async fn post_code(
    app: &TestApp,
    client: &reqwest::Client,
    csrf: &str,
    field: &str,
    value: &str,
) -> reqwest::Response {
    client
        .post(app.url("/admin/mfa"))
        .form(&[("csrf", csrf), ("return_to", "/admin"), (field, value)])
        .send()
        .await
        .unwrap()
}

async fn anonymous_users_are_sent_to_login_and_non_admins_get_403_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("bob", PASSWORD).await;
    let c = app.create_service_client("api.read").await;

    let anon = http_client();
    let res = anon.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?return_to=%2Fadmin");
    for path in console_gets(&user.id, &c.id) {
        let res = anon.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&res).starts_with("/login?return_to="), "{path}");
    }

    let bob = http_client();
    app.login_as(&bob, "bob", PASSWORD).await;
    let csrf = app.account_csrf(&bob).await;
    for path in console_gets(&user.id, &c.id) {
        let res = bob.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "GET {path}");
    }
    for path in console_posts(&user.id, &c.id) {
        let res = bob
            .post(app.url(&path))
            .form(&[("csrf", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {path}");
    }
    let res = bob.get(app.url("/admin/mfa/enrol")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The API: a token of a non-admin user (even with the scope) or of a client without the
    // scope is refused with 403; no token at all is 401.
    let bob_token = user_token(&app, &user.id, "s", "openid tessera:admin");
    let res = app
        .post_token_basic(&c.id, c.secret(), &[("grant_type", "client_credentials")])
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    let client_token = body["access_token"].as_str().unwrap().to_string();
    for (method, path) in api_routes(&user.id, &c.id) {
        let req = || {
            app.client
                .request(method.clone(), app.url(&path))
                .json(&serde_json::json!({}))
        };
        assert_eq!(req().send().await.unwrap().status(), 401, "{method} {path}");
        for token in [&bob_token, &client_token] {
            let res = req().bearer_auth(token).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert!(body["error"]["code"].is_string(), "{body}");
        }
    }
}

async fn admin_sign_in_requires_totp_once_enrolled(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = enrol_admin(&app).await;
    let (client, csrf) = password_only(&app).await;
    // Without the step, the console is out of reach.
    let res = client.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/admin/mfa?return_to=%2Fadmin%2Fusers"));

    let res = post_code(&app, &client, &csrf, "code", "000000").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A fresh step's code opens the console (the enrolment's step was used already).
    app.clock.advance(30);
    let fresh = code(&enrolled.secret, app.clock.now());
    let res = post_code(&app, &client, &csrf, "code", &fresh).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/admin");
    // The same code again is refused: a code works once (RFC 6238 §5.2).
    let (other, csrf2) = password_only(&app).await;
    let res = post_code(&app, &other, &csrf2, "code", &fresh).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = client.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

async fn repeated_wrong_codes_are_throttled(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = enrol_admin(&app).await;
    let (client, csrf) = password_only(&app).await;
    for _ in 0..5 {
        let res = post_code(&app, &client, &csrf, "code", "123456").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let right = code(&enrolled.secret, app.clock.now());
    let res = post_code(&app, &client, &csrf, "code", &right).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even a right code waits"
    );
    assert!(res.headers().contains_key("retry-after"));
    let res = post_code(&app, &client, &csrf, "recovery_code", &enrolled.recovery[0]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn a_recovery_code_works_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = enrol_admin(&app).await;
    let (client, csrf) = password_only(&app).await;
    let res = post_code(&app, &client, &csrf, "recovery_code", &enrolled.recovery[3]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/admin");
    assert_eq!(
        client.get(app.url("/admin")).send().await.unwrap().status(),
        200
    );

    let (again, csrf) = password_only(&app).await;
    let res = post_code(&app, &again, &csrf, "recovery_code", &enrolled.recovery[3]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Another one, typed in capitals, works.
    let other = enrolled.recovery[4].to_uppercase();
    let res = post_code(&app, &again, &csrf, "recovery_code", &other).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn a_sensitive_action_after_the_window_asks_to_sign_in_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = enrol_admin(&app).await;
    let client = &enrolled.client;
    let c = app.create_service_client("api.read").await;
    let confirm = format!("/admin/clients/{}/delete", c.id);
    let res = client.get(app.url(&confirm)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csrf = csrf_in(&res.text().await.unwrap());

    app.clock.advance(16 * 60);
    let res = client
        .post(app.url(&confirm))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let reauth = location(&res);
    assert_eq!(
        reauth,
        format!("/admin/reauth?return_to={}", urlencoding::encode(&confirm))
    );
    assert!(
        app.state.store.get_client(&c.id).await.unwrap().is_some(),
        "not deleted yet"
    );

    let html = client
        .get(app.url(&reauth))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_inputs(&html);
    form.push(("password".into(), "wrong password".into()));
    form.push(("code".into(), code(&enrolled.secret, app.clock.now())));
    let res = client
        .post(app.url("/admin/reauth"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let mut form = hidden_inputs(&html);
    form.push(("password".into(), PASSWORD.into()));
    app.clock.advance(30);
    form.push(("code".into(), code(&enrolled.secret, app.clock.now())));
    let res = client
        .post(app.url("/admin/reauth"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), confirm);

    let res = client
        .post(app.url(&confirm))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/admin/clients");
    assert!(app.state.store.get_client(&c.id).await.unwrap().is_none());
}

async fn every_console_form_needs_the_session_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = enrol_admin(&app).await;
    let user = app.create_user("bob", PASSWORD).await;
    let c = app.create_service_client("api.read").await;
    for path in console_posts(&user.id, &c.id) {
        for form in [vec![], vec![("csrf", "forged")]] {
            let mut form = form;
            form.extend([("confirm", "yes"), ("password", "a new long password 123")]);
            let res = enrolled
                .client
                .post(app.url(&path))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::FORBIDDEN,
                "POST {path} with {form:?}"
            );
        }
    }
    // Nothing changed.
    let bob = app.state.store.user_by_id(&user.id).await.unwrap().unwrap();
    assert!(!bob.disabled && bob.roles.is_empty());
    assert!(app.state.store.get_client(&c.id).await.unwrap().is_some());
}

async fn the_audit_log_records_login_failures_and_admin_changes_without_secrets(backend: Backend) {
    let app = spawn_app(backend).await;
    let enrolled = enrol_admin(&app).await;
    let client = &enrolled.client;
    let wrong = "my-wrong-password-4711";
    let res = app.login_as(&http_client(), ADMIN, wrong).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A client registered in the console; its secret is shown once.
    let html = client
        .get(app.url("/admin/clients/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = client
        .post(app.url("/admin/clients"))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("name", "Reports"),
            ("client_type", "confidential"),
            ("grant_types", "client_credentials"),
            ("scope", "reports.read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let secret = between(&html, r#"<code id="client-secret">"#, "</code>").to_string();
    let id = between(&html, r#"<code id="client-id">"#, "</code>").to_string();
    let res = app
        .post_token_basic(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(res.status(), 200, "the console's client works");

    // Rotating the secret (a fresh sign-in: within the window) shows the new one once.
    let rotate = format!("/admin/clients/{id}/rotate");
    let html = client
        .get(app.url(&rotate))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = client
        .post(app.url(&rotate))
        .form(&[("csrf", csrf_in(&html).as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let rotated = between(&html, r#"<code id="client-secret">"#, "</code>").to_string();
    assert_ne!(rotated, secret);

    let entries = app
        .state
        .store
        .list_audit(&Default::default(), 100, 0)
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "login.failed",
        "login.succeeded",
        "totp.enrolled",
        "client.created",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let failed = entries.iter().find(|e| e.action == "login.failed").unwrap();
    assert_eq!(failed.target.as_deref(), Some(ADMIN));
    assert!(failed.ip.is_some());
    let created = entries
        .iter()
        .find(|e| e.action == "client.created")
        .unwrap();
    assert_eq!(created.actor, format!("user:{ADMIN}"));
    assert!(created.detail.as_deref().unwrap().contains("Reports"));
    for e in &entries {
        let text = format!("{e:?}");
        for s in [wrong, PASSWORD, &secret, &rotated, &enrolled.secret] {
            assert!(!text.contains(s), "a secret in {text}");
        }
    }
    // The audit page filters by action and shows no secret either.
    let page = client
        .get(app.url("/admin/audit?action=login.failed"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("login.failed"));
    assert!(!page.contains("client.created"));
    assert!(!page.contains(wrong));
}

async fn an_api_client_registers_a_client_that_completes_client_credentials(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |s| s.admin_require_totp = false).await;
    // An administrator who just signed in: a client's own token may not register a
    // client_credentials client or delete one (issue 11, `step_up.rs`).
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
    let token = user_token(&app, &root.id, &sid, "tessera:admin");
    app.create_service_client("api.read").await;
    let api = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(&format!("/admin/api/v1{path}")))
            .bearer_auth(&token)
    };

    let res = api(reqwest::Method::POST, "/clients")
        .json(&serde_json::json!({
            "name": "Billing",
            "grant_types": ["client_credentials"],
            "scope": "billing.read"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: serde_json::Value = res.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let res = app
        .post_token_basic(id, secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(res.status(), 200);
    let granted: serde_json::Value = res.json().await.unwrap();
    assert_eq!(granted["scope"], "billing.read");

    let res = api(reqwest::Method::GET, "/clients?per_page=1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: serde_json::Value = res.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_page"], 2);
    assert!(!page.to_string().contains("secret"), "{page}");

    // Users: create, list with search, disable; bad input gets a stable code.
    let res = api(reqwest::Method::POST, "/users")
        .json(&serde_json::json!({ "username": "carol", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let carol: serde_json::Value = res.json().await.unwrap();
    assert!(!carol.to_string().contains("argon2"));
    let res = api(reqwest::Method::POST, "/users")
        .json(&serde_json::json!({ "username": "carol", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "conflict"
    );
    let res = api(reqwest::Method::POST, "/users")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let found: serde_json::Value = api(reqwest::Method::GET, "/users?q=CAR")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["username"], "carol");
    let path = format!("/users/{}/disable", carol["id"].as_str().unwrap());
    let res = api(reqwest::Method::POST, &path).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["disabled"],
        true
    );

    let res = api(reqwest::Method::DELETE, &format!("/clients/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post_token_basic(id, secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The OpenAPI document parses and lists every route.
    let res = api(reqwest::Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path) in api_routes("{id}", "{id}") {
        let path = path.trim_start_matches("/admin/api/v1");
        let op = &doc["paths"][path][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {path} in the OpenAPI document");
    }
    let audit = app
        .state
        .store
        .list_audit(
            &tessera::store::AuditFilter {
                actor: "user:root",
                ..Default::default()
            },
            100,
            0,
        )
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "client.deleted"));
}

/// An access token for `user_id` in session `sid` with `scope`, as /token would mint it.
pub(crate) fn user_token(app: &TestApp, user_id: &str, sid: &str, scope: &str) -> String {
    let now = app.clock.now();
    tessera::tokens::access::mint(
        app.state.keys.current().active().expect("signer"),
        &app.state.settings.issuer(),
        tessera::tokens::access::AccessGrant {
            subject: user_id.into(),
            audience: "admin-cli".into(),
            client_id: "admin-cli".into(),
            scope: scope.into(),
            ttl: std::time::Duration::from_secs(300),
            sid: Some(sid.into()),
            auth_time: Some(now),
            roles: None,
            family: None,
            ..Default::default()
        },
        now,
    )
    .unwrap()
    .token
}

async fn an_admin_users_token_opens_the_api_only_from_a_session_that_passed_totp(backend: Backend) {
    let app = spawn_app(backend).await;
    let _enrolled = enrol_admin(&app).await;
    let root = app
        .state
        .store
        .user_by_username_key(ADMIN)
        .await
        .unwrap()
        .unwrap();
    let passed = app
        .state
        .store
        .user_sessions(&root.id, app.clock.now())
        .await
        .unwrap();
    assert_eq!(passed.len(), 1);
    let _pending = password_only(&app).await;
    let sessions = app
        .state
        .store
        .user_sessions(&root.id, app.clock.now())
        .await
        .unwrap();
    let pending = sessions.iter().find(|s| s.sid != passed[0].sid).unwrap();

    let get = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/admin/api/v1/users"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let ok = get(user_token(
        &app,
        &root.id,
        &passed[0].sid,
        "openid tessera:admin",
    ))
    .await;
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["items"][0]["username"], ADMIN);
    let res = get(user_token(
        &app,
        &root.id,
        &pending.sid,
        "openid tessera:admin",
    ))
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = get(user_token(&app, &root.id, &passed[0].sid, "openid")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_scope");
    let res = get("not-a-token".into()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "invalid_token"
    );
}

async fn without_required_totp_an_admin_signs_in_with_the_password_alone(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |s| s.admin_require_totp = false).await;
    create_admin(&app, ADMIN).await;
    let client = http_client();
    let res = app.login_as(&client, ADMIN, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
    assert_eq!(
        client.get(app.url("/admin")).send().await.unwrap().status(),
        200
    );
    // Recent sign-in still guards sensitive actions: password only on the re-auth page.
    app.clock.advance(16 * 60);
    let c = app.create_service_client("api.read").await;
    let res = client
        .get(app.url(&format!("/admin/clients/{}/delete", c.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = client
        .get(app.url(&location(&res)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(r#"name="code""#));
    let mut form = hidden_inputs(&html);
    form.push(("password".into(), PASSWORD.into()));
    let res = client
        .post(app.url("/admin/reauth"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/admin/clients/{}/delete", c.id));
}

/// DESIGN §4: the admin API honours the revocation list like every token-taking endpoint.
async fn a_revoked_token_no_longer_opens_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let ops = app.create_service_client("tessera:admin").await;
    let token = app.access_token(&ops).await;
    let get = || {
        app.client
            .get(app.url("/admin/api/v1/clients"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);
    assert_eq!(app.revoke(&ops, &token).await.status(), 200);
    assert_eq!(get().await.unwrap().status(), 401);
}

/// Issue 11 point 9: the console registers a resource server (a checkbox) and its edit form
/// turns the flag off and on again.
async fn the_console_registers_and_edits_a_resource_server(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = enrol_admin(&app).await.client;
    let page = |path: String| {
        let client = client.clone();
        let url = app.url(&path);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page("/admin/clients/new".into()).await;
    let res = client
        .post(app.url("/admin/clients"))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("name", "Orders API"),
            ("client_type", "confidential"),
            ("grant_types", "client_credentials"),
            ("scope", "orders"),
            ("resource_server", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let id = between(&html, r#"<code id="client-id">"#, "</code>").to_string();
    let stored = |app: &TestApp, id: String| {
        let store = app.state.store.clone();
        async move {
            store
                .get_client(&id)
                .await
                .unwrap()
                .unwrap()
                .resource_server
        }
    };
    assert!(stored(&app, id.clone()).await);

    // The edit form shows it checked; leaving the box empty turns it off.
    let edit = format!("/admin/clients/{id}/edit");
    let html = page(edit.clone()).await;
    assert!(html.contains(r#"name="resource_server" value="yes" checked"#));
    let res = client
        .post(app.url(&edit))
        .form(&[("csrf", csrf_in(&html).as_str()), ("name", "Orders API")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(!stored(&app, id.clone()).await);
    let html = page(edit.clone()).await;
    let res = client
        .post(app.url(&edit))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("name", "Orders API"),
            ("resource_server", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(stored(&app, id).await);
}

dual!(
    the_console_registers_and_edits_a_resource_server,
    a_revoked_token_no_longer_opens_the_api,
    anonymous_users_are_sent_to_login_and_non_admins_get_403_everywhere,
    admin_sign_in_requires_totp_once_enrolled,
    repeated_wrong_codes_are_throttled,
    a_recovery_code_works_exactly_once,
    a_sensitive_action_after_the_window_asks_to_sign_in_again,
    every_console_form_needs_the_session_csrf_token,
    the_audit_log_records_login_failures_and_admin_changes_without_secrets,
    an_api_client_registers_a_client_that_completes_client_credentials,
    an_admin_users_token_opens_the_api_only_from_a_session_that_passed_totp,
    without_required_totp_an_admin_signs_in_with_the_password_alone,
);
