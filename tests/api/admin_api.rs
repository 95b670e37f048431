//! The admin JSON API beyond the basics in `admin.rs`: its OpenAPI document (valid OpenAPI 3.1,
//! listing exactly the served routes), the gate on every documented route, and each operation
//! end to end with its audit entry.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin::create_admin;
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestClient, code_flow_client, http_client, spawn_app,
    spawn_app_with,
};

/// A caller of the API with one token.
pub(crate) struct Api<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) token: String,
}

impl Api<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .app
            .client
            .request(method, self.app.url(&format!("/admin/api/v1{path}")))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// The status and the JSON body (`null` when there is none).
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let res = self.send(method, path, body).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}"))
        };
        (status, body)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.call(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    /// The audit entries with this action, newest first, read through the API.
    pub(crate) async fn audit(&self, action: &str) -> Vec<Value> {
        let page = self
            .ok(Method::GET, &format!("/audit?action={action}"), None)
            .await;
        page["items"].as_array().unwrap().clone()
    }
}

/// A client_credentials caller (a client granted `tessera:admin`) and its id.
pub(crate) async fn ops_api(app: &TestApp) -> (Api<'_>, TestClient) {
    let ops = app.create_service_client("tessera:admin").await;
    let token = app.access_token(&ops).await;
    (Api { app, token }, ops)
}

/// The API as an administrator who has just signed in (recent enough for every action).
pub(crate) async fn fresh_admin_api<'a>(app: &'a TestApp, name: &str) -> Api<'a> {
    let admin = create_admin(app, name).await;
    let token = user_token(app, &admin.id, "tessera:admin", app.clock.now()).await;
    Api { app, token }
}

/// An access token for a user signed in at `auth_time`, from a live session (the API's gate
/// checks it), as /token mints it.
async fn user_token(app: &TestApp, user_id: &str, scope: &str, auth_time: i64) -> String {
    let now = app.clock.now();
    let user = app.state.store.user_by_id(user_id).await.unwrap().unwrap();
    let session = tessera::sessions::create(
        &app.state.store,
        &user,
        "pwd",
        false,
        app.state.session_lifetimes,
        tessera::sessions::Origin {
            ip: None,
            user_agent: None,
        },
        now,
    )
    .await
    .unwrap()
    .expect("the password has not changed");
    // As if it passed TOTP at `auth_time` too, so that the token works whatever
    // `admin_require_totp` says.
    app.state
        .store
        .set_session_mfa(
            &tessera::tokens::opaque::hash(&session.secret),
            "pwd otp",
            auth_time,
        )
        .await
        .unwrap();
    tessera::tokens::access::mint(
        app.state.keys.current().active().expect("signer"),
        &app.state.settings.issuer(),
        tessera::tokens::access::AccessGrant {
            subject: user_id.into(),
            audience: "admin-cli".into(),
            client_id: "admin-cli".into(),
            scope: scope.into(),
            ttl: std::time::Duration::from_secs(300),
            sid: Some(session.sid),
            auth_time: Some(auth_time),
            roles: None,
            family: None,
            ..Default::default()
        },
        now,
    )
    .unwrap()
    .token
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// Every (path, method) the served document lists, paths relative to `/admin/api/v1`.
fn documented(doc: &Value) -> Vec<(String, Method)> {
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            routes.push((path.clone(), method));
        }
    }
    routes
}

/// A documented path with every `{param}` filled in.
fn fill(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        let j = rest[i..].find('}').unwrap() + i;
        out.push_str(&rest[..i]);
        out.push_str(value);
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    out
}

/// The list of routes comes from the document the server serves, which is generated from the
/// same declarations that register the routes; so a new route is covered without editing this.
async fn every_documented_route_is_served_and_refuses_non_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let (api, _) = ops_api(&app).await;
    let doc = api.ok(Method::GET, "/openapi.json", None).await;
    let routes = documented(&doc);
    assert!(routes.len() >= 14, "{routes:?}");

    let bob = app.create_user("bob", PASSWORD).await;
    let bob_token = user_token(&app, &bob.id, "openid tessera:admin", app.clock.now()).await;
    let other = app.create_service_client("api.read").await;
    let other_token = app.access_token(&other).await;
    for (path, method) in &routes {
        // A made-up id: the gate answers before anything is looked up.
        let url = app.url(&format!("/admin/api/v1{}", fill(path, "nobody")));
        let req = || app.client.request(method.clone(), &url).json(&json!({}));
        let res = req().send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(res.headers().contains_key("www-authenticate"));
        assert_eq!(code(&res.json().await.unwrap()), "unauthenticated");

        let res = req().bearer_auth(&bob_token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(code(&res.json().await.unwrap()), "forbidden");

        let res = req().bearer_auth(&other_token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(code(&res.json().await.unwrap()), "insufficient_scope");
    }

    // And nothing undocumented answers on a documented path: the other methods find no route.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = app.url(&format!("/admin/api/v1{}", fill(path, "nobody")));
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            if item.get(method.as_str().to_lowercase()).is_some() {
                continue;
            }
            let res = app
                .client
                .request(method.clone(), &url)
                .bearer_auth(&api.token)
                .send()
                .await
                .unwrap();
            assert!(
                [StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&res.status()),
                "{method} {path} answered {} but is not documented",
                res.status()
            );
        }
    }
}

/// Walks a JSON document and collects every `$ref`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

async fn the_openapi_document_is_valid_openapi_3_1(backend: Backend) {
    let app = spawn_app(backend).await;
    let (api, _) = ops_api(&app).await;
    let res = api.send(Method::GET, "/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let text = res.text().await.unwrap();

    // A typed parse (the oas3 crate reads OpenAPI 3.1) and its reference resolution.
    let spec = oas3::from_json(&text).unwrap();
    let version = spec.validate_version().unwrap();
    assert_eq!((version.major, version.minor), (3, 1));
    let mut ids = std::collections::HashSet::new();
    for (path, method, op) in spec.operations() {
        let id = op.operation_id.clone().unwrap_or_default();
        assert!(
            ids.insert(id.clone()),
            "{method} {path}: operation id '{id}' twice"
        );
        op.request_body(&spec).unwrap();
        op.parameters(&spec).unwrap();
        let responses = op.responses(&spec);
        for status in ["401", "403"] {
            assert!(
                responses.contains_key(status),
                "{method} {path} lacks {status}"
            );
        }
        // Path parameters are declared, once each.
        let declared: Vec<String> = op
            .parameters(&spec)
            .unwrap()
            .into_iter()
            .filter(|p| p.location == oas3::spec::ParameterIn::Path)
            .map(|p| p.name)
            .collect();
        let in_path: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, in_path, "{method} {path}");
    }

    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external {r}"));
        assert!(doc.pointer(pointer).is_some(), "{r} resolves to nothing");
    }
    // Every operation needs the bearer token; the error body lists the stable codes.
    assert_eq!(doc["security"], json!([{ "bearer": [] }]));
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    assert_eq!(doc["servers"][0]["url"], "/admin/api/v1");
    let mut codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        [
            "conflict",
            "forbidden",
            "insufficient_scope",
            "invalid_request",
            "invalid_token",
            "not_found",
            "server_error",
            "temporarily_unavailable",
            "unauthenticated"
        ]
    );
    let users = &doc["paths"]["/users"]["get"]["parameters"];
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["page", "per_page", "q"]);
    // No schema offers a hash.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        for field in schema["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.keys())
        {
            assert!(!field.contains("hash"), "{name}.{field}");
        }
    }
}

async fn users_are_managed_end_to_end_and_every_change_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let (api, ops) = ops_api(&app).await;
    let actor = format!("client:{}", ops.id);
    let dave = api
        .ok(
            Method::POST,
            "/users",
            Some(json!({ "username": "dave", "password": PASSWORD })),
        )
        .await;
    let id = dave["id"].as_str().unwrap().to_string();

    let shown = api.ok(Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(
        (&shown["username"], &shown["disabled"]),
        (&json!("dave"), &json!(false))
    );
    assert!(!shown.to_string().contains("argon2"), "{shown}");
    let (status, body) = api.call(Method::GET, "/users/nobody", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    // Disable, then enable.
    let shown = api
        .ok(Method::POST, &format!("/users/{id}/disable"), None)
        .await;
    assert_eq!(shown["disabled"], true);
    let shown = api
        .ok(Method::POST, &format!("/users/{id}/enable"), None)
        .await;
    assert_eq!(shown["disabled"], false);
    let enabled = api.audit("user.enabled").await;
    assert_eq!(enabled.len(), 1);
    assert_eq!(
        (&enabled[0]["actor"], &enabled[0]["target"]),
        (&json!(actor), &json!(id))
    );
    assert_eq!(enabled[0]["detail"]["after"]["disabled"], false);

    // A new password: the old one stops working, the new one signs in; a weak one is refused.
    // Setting someone's password needs an administrator's recent sign-in, never a client's
    // token (issue 11: whoever sets it can sign in as that user).
    let admin = fresh_admin_api(&app, "root").await;
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/users/{id}/password"),
            Some(json!({ "password": "a wholly different passphrase" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let signed_in = http_client();
    assert_eq!(
        app.login_as(&signed_in, "dave", PASSWORD).await.status(),
        303
    );
    let new_password = "a wholly different passphrase";
    let (status, body) = admin
        .call(
            Method::POST,
            &format!("/users/{id}/password"),
            Some(json!({ "password": "short" })),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, _) = admin
        .call(
            Method::POST,
            &format!("/users/{id}/password"),
            Some(json!({ "password": new_password })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.login_as(&http_client(), "dave", PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login_as(&http_client(), "dave", new_password)
            .await
            .status(),
        303
    );
    let reset = api.audit("user.password_reset").await;
    assert_eq!((reset.len(), &reset[0]["actor"]), (1, &json!("user:root")));

    // Grant, then revoke, the admin role: an administrator's recent sign-in, never a client.
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/users/{id}/admin"),
            Some(json!({ "admin": true })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let shown = admin
        .ok(
            Method::PUT,
            &format!("/users/{id}/admin"),
            Some(json!({ "admin": true })),
        )
        .await;
    assert_eq!(shown["roles"], json!(["admin"]));
    let shown = admin
        .ok(
            Method::PUT,
            &format!("/users/{id}/admin"),
            Some(json!({ "admin": false })),
        )
        .await;
    assert_eq!(shown["roles"], json!([]));
    let granted = api.audit("user.admin_granted").await;
    assert_eq!(
        granted[0]["detail"],
        json!({ "before": { "roles": "" }, "after": { "roles": "admin" } })
    );
    assert_eq!(api.audit("user.admin_revoked").await.len(), 1);

    // Sign out everywhere: the browser's session ends.
    let browser = http_client();
    assert_eq!(
        app.login_as(&browser, "dave", new_password).await.status(),
        303
    );
    let ended = api
        .ok(Method::POST, &format!("/users/{id}/sign-out"), None)
        .await;
    // The browser's, and the one the new password signed in above.
    assert_eq!(ended["sessions_ended"], 2);
    let res = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "signed out");
    let signed_out = api.audit("user.signed_out").await;
    assert_eq!(signed_out[0]["detail"]["sessions_ended"], 2);

    // The audit log filters by actor, pages, and never holds a password.
    let page = api
        .ok(
            Method::GET,
            &format!("/audit?actor={actor}&per_page=2"),
            None,
        )
        .await;
    assert_eq!(
        (page["items"].as_array().unwrap().len(), &page["next_page"]),
        (2, &json!(2))
    );
    let all = api.ok(Method::GET, "/audit?per_page=100", None).await;
    let text = all.to_string();
    for secret in [PASSWORD, new_password, ops.secret()] {
        assert!(!text.contains(secret), "a secret in the audit log");
    }
    let none = api.ok(Method::GET, "/audit?actor=user:nobody", None).await;
    assert_eq!(none["items"], json!([]));
}

async fn clients_are_shown_and_their_secrets_rotated_end_to_end(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin_require_totp = false).await;
    // A freshly signed-in administrator: registering a client_credentials client and rotating
    // a secret need a recent sign-in, which a client's token never is (issue 11).
    let api = fresh_admin_api(&app, "root").await;
    let created = api
        .ok(
            Method::POST,
            "/clients",
            Some(json!({ "name": "Billing", "grant_types": ["client_credentials"], "scope": "billing.read" })),
        )
        .await;
    let id = created["client_id"].as_str().unwrap().to_string();
    let old = created["client_secret"].as_str().unwrap().to_string();

    let shown = api.ok(Method::GET, &format!("/clients/{id}"), None).await;
    assert_eq!(
        (&shown["name"], &shown["scope"]),
        (&json!("Billing"), &json!("billing.read"))
    );
    assert!(!shown.to_string().contains("secret"), "{shown}");
    let (status, body) = api.call(Method::GET, "/clients/nobody", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    let rotated = api
        .ok(Method::POST, &format!("/clients/{id}/rotate-secret"), None)
        .await;
    assert_eq!(rotated["client_id"], json!(id));
    let new = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new, old);
    let grant = [("grant_type", "client_credentials")];
    assert_eq!(app.post_token_basic(&id, &old, &grant).await.status(), 401);
    assert_eq!(app.post_token_basic(&id, new, &grant).await.status(), 200);
    let entries = api.audit("client.secret_rotated").await;
    assert_eq!((entries.len(), &entries[0]["target"]), (1, &json!(id)));
    let log = api
        .ok(Method::GET, "/audit?per_page=100", None)
        .await
        .to_string();
    assert!(
        !log.contains(new) && !log.contains(&old),
        "a secret in the audit log"
    );

    // PATCH changes only what it names; bad values are refused and change nothing.
    let patched = api
        .ok(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "name": "Billing v2", "access_token_ttl": "2m" })),
        )
        .await;
    assert_eq!(
        (
            &patched["name"],
            &patched["access_token_ttl"],
            &patched["scope"]
        ),
        (&json!("Billing v2"), &json!(120), &json!("billing.read"))
    );
    let (status, body) = api
        .call(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "post_logout_redirect_uris": ["not a uri"] })),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, body) = api
        .call(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "scope": "x" })),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "scope is fixed"
    );
    let cleared = api
        .ok(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "access_token_ttl": null })),
        )
        .await;
    assert_eq!(
        (&cleared["name"], cleared.get("access_token_ttl")),
        (&json!("Billing v2"), None)
    );
    let entries = api.audit("client.updated").await;
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[1]["detail"]["after"]["access_token_ttl"],
        json!(120)
    );

    // Native SSO: a client joins a group and leaves it (null).
    let joined = api
        .ok(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "native_sso_group": "acme" })),
        )
        .await;
    assert_eq!(joined["native_sso_group"], json!("acme"));
    let left = api
        .ok(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "native_sso_group": null })),
        )
        .await;
    assert_eq!(left.get("native_sso_group"), None);

    // A public client has no secret to rotate.
    let public = app.create_client(code_flow_client("public")).await;
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/clients/{}/rotate-secret", public.id),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

/// The console's recent-sign-in rule holds for a user's token too; and an admin cannot lock
/// themselves out.
async fn a_users_token_needs_a_recent_sign_in_for_sensitive_actions(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin_require_totp = false).await;
    let root = create_admin(&app, "root").await;
    let erin = app.create_user("erin", PASSWORD).await;
    let window = app.state.settings.admin_reauth_window.as_secs() as i64;
    let stale = Api {
        app: &app,
        token: user_token(
            &app,
            &root.id,
            "tessera:admin",
            app.clock.now() - window - 1,
        )
        .await,
    };
    let fresh = Api {
        app: &app,
        token: user_token(&app, &root.id, "tessera:admin", app.clock.now()).await,
    };
    let target = app.create_service_client("api.read").await;
    let sensitive = [
        (
            Method::PUT,
            format!("/users/{}/admin", erin.id),
            Some(json!({ "admin": true })),
        ),
        (
            Method::POST,
            format!("/clients/{}/rotate-secret", target.id),
            None,
        ),
        (Method::DELETE, format!("/clients/{}", target.id), None),
        (
            Method::POST,
            "/users".to_string(),
            Some(json!({ "username": "frank", "password": PASSWORD, "roles": ["admin"] })),
        ),
    ];
    for (method, path, body) in &sensitive {
        let (status, answer) = stale.call(method.clone(), path, body.clone()).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{method} {path}"
        );
    }
    assert!(fresh.audit("user.admin_granted").await.is_empty());
    // The rest needs no recent sign-in.
    stale
        .ok(Method::POST, &format!("/users/{}/disable", erin.id), None)
        .await;
    for (method, path, body) in sensitive {
        fresh.ok(method, &path, body).await;
    }
    let granted = fresh.audit("user.admin_granted").await;
    assert_eq!(granted[0]["actor"], "user:root");
    // Disabling an administrator (erin is one now) needs a recent sign-in too, and a client's
    // token never has one: neither can lock every administrator out.
    fresh
        .ok(Method::POST, &format!("/users/{}/enable", erin.id), None)
        .await;
    let (ops, _) = ops_api(&app).await;
    for api in [&stale, &ops] {
        let (status, answer) = api
            .call(Method::POST, &format!("/users/{}/disable", erin.id), None)
            .await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{answer}"
        );
    }
    let shown = fresh
        .ok(Method::GET, &format!("/users/{}", erin.id), None)
        .await;
    assert_eq!(shown["disabled"], false);

    let (status, body) = fresh
        .call(Method::POST, &format!("/users/{}/disable", root.id), None)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, body) = fresh
        .call(
            Method::PUT,
            &format!("/users/{}/admin", root.id),
            Some(json!({ "admin": false })),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let shown = fresh
        .ok(Method::GET, &format!("/users/{}", root.id), None)
        .await;
    assert_eq!(
        (&shown["disabled"], &shown["roles"]),
        (&json!(false), &json!(["admin"]))
    );
}

/// Bad input is the caller's to fix: 400 with `invalid_request`, never a 500 or a text page.
async fn bad_input_gets_400_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    // An administrator's fresh token, so that the steps that need a recent sign-in (a password
    // reset) get as far as reading the body.
    let api = fresh_admin_api(&app, "root").await;
    let user = app.create_user("gina", PASSWORD).await;
    let raw = |method: Method, path: &str, body: &'static str| {
        app.client
            .request(method, app.url(&format!("/admin/api/v1{path}")))
            .bearer_auth(&api.token)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases = [
        raw(Method::GET, "/users?per_page=many", ""),
        raw(Method::GET, "/clients?page=-1", ""),
        raw(Method::GET, "/audit?page=x", ""),
        raw(Method::POST, &format!("/users/{}/password", user.id), "{"),
        raw(
            Method::POST,
            &format!("/users/{}/password", user.id),
            r#"{"password": 7}"#,
        ),
        raw(
            Method::PUT,
            &format!("/users/{}/admin", user.id),
            r#"{"admin": "yes"}"#,
        ),
        raw(
            Method::PUT,
            &format!("/users/{}/admin", user.id),
            r#"{"admin": true, "x": 1}"#,
        ),
        raw(
            Method::POST,
            "/users",
            r#"{"username": "h", "password": "p", "roles": ["root"]}"#,
        ),
        raw(
            Method::POST,
            "/clients",
            r#"{"name": "x", "client_type": "sideways"}"#,
        ),
    ];
    for req in cases {
        let res = req.send().await.unwrap();
        let url = res.url().to_string();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{url}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(code(&body), "invalid_request", "{url}: {body}");
    }
}

async fn sessions_are_listed_and_ended(backend: Backend) {
    let app = spawn_app(backend).await;
    let (api, ops) = ops_api(&app).await;
    let ivy = app.create_user("ivy", PASSWORD).await;
    let jon = app.create_user("jon", PASSWORD).await;
    let browser = http_client();
    assert_eq!(app.login_as(&browser, "ivy", PASSWORD).await.status(), 303);
    assert_eq!(
        app.login_as(&http_client(), "jon", PASSWORD).await.status(),
        303
    );

    let all = api.ok(Method::GET, "/sessions", None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let page = api
        .ok(Method::GET, &format!("/sessions?user={}", ivy.id), None)
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (&items[0]["username"], &items[0]["user_id"]),
        (&json!("ivy"), &json!(ivy.id))
    );
    let sid = items[0]["sid"].as_str().unwrap().to_string();
    let (status, body) = api.call(Method::GET, "/sessions?user=nobody", None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    let (status, _) = api
        .call(Method::DELETE, &format!("/sessions/{sid}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let res = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "ivy is signed out");
    let (status, body) = api
        .call(Method::DELETE, &format!("/sessions/{sid}"), None)
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let left = api
        .ok(Method::GET, &format!("/sessions?user={}", jon.id), None)
        .await;
    assert_eq!(left["items"].as_array().unwrap().len(), 1, "jon's stays");
    let ended = api.audit("session.ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (
            &ended[0]["actor"],
            &ended[0]["target"],
            &ended[0]["detail"]["user_id"]
        ),
        (
            &json!(format!("client:{}", ops.id)),
            &json!(sid),
            &json!(ivy.id)
        )
    );
}

async fn revocations_are_listed_and_made_by_hand(backend: Backend) {
    let app = spawn_app(backend).await;
    let (api, _) = ops_api(&app).await;
    let billing = app.create_service_client("billing.read").await;
    let token = app.access_token(&billing).await;
    assert_eq!(app.introspect(&billing, &token).await["active"], true);

    let (status, entry) = api
        .call(
            Method::POST,
            "/revocations",
            Some(json!({ "kind": "client", "value": billing.id })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    assert_eq!(
        (&entry["kind"], &entry["target"]),
        (&json!("client"), &json!(billing.id))
    );
    assert_eq!(app.introspect(&billing, &token).await["active"], false);

    let kim = app.create_user("kim", PASSWORD).await;
    let by_name = api
        .ok(
            Method::POST,
            "/revocations",
            Some(json!({ "kind": "user", "value": "kim" })),
        )
        .await;
    assert_eq!(
        (&by_name["kind"], &by_name["target"]),
        (&json!("user"), &json!(kim.id))
    );
    api.ok(
        Method::POST,
        "/revocations",
        Some(json!({ "kind": "jti", "value": "a-jti" })),
    )
    .await;
    let (status, body) = api
        .call(
            Method::POST,
            "/revocations",
            Some(json!({ "kind": "user", "value": "nobody" })),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    let live = api.ok(Method::GET, "/revocations?per_page=2", None).await;
    assert_eq!(
        (live["items"].as_array().unwrap().len(), &live["next_page"]),
        (2, &json!(2))
    );
    let live = api.ok(Method::GET, "/revocations", None).await;
    let targets: Vec<&str> = live["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    for t in [billing.id.as_str(), kim.id.as_str(), "a-jti"] {
        assert!(targets.contains(&t), "{t} in {targets:?}");
    }
    let made = api.audit("revocation.created").await;
    assert_eq!(made.len(), 3);
    assert!(
        made.iter()
            .any(|e| e["target"] == json!(format!("client:{}", billing.id)))
    );
}

async fn keys_are_listed_without_key_material(backend: Backend) {
    let app = spawn_app(backend).await;
    let (api, _) = ops_api(&app).await;
    let res = api.send(Method::GET, "/keys", None).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("PRIVATE") && !text.contains("\"d\""),
        "{text}"
    );
    let keys: Value = serde_json::from_str(&text).unwrap();
    let items = keys["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert_eq!(items[0]["state"], "active");
    let ring = app.state.keys.current();
    let kid = ring.active().expect("signer").kid().to_string();
    assert_eq!(items[0]["kid"], json!(kid));
    assert!(items.iter().all(|k| k["alg"].is_string()));
}

async fn the_audit_log_filters_by_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let (api, _) = ops_api(&app).await;
    let first = app.create_user("lea", PASSWORD).await;
    api.ok(Method::POST, &format!("/users/{}/disable", first.id), None)
        .await;
    // The test clock follows the wall clock (plus `advance`): read it after the first change.
    let t0 = app.clock.now();
    app.clock.advance(100);
    api.ok(Method::POST, &format!("/users/{}/enable", first.id), None)
        .await;
    let actions = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    let early = api
        .ok(Method::GET, &format!("/audit?until={t0}"), None)
        .await;
    assert!(actions(early).contains(&"user.disabled".to_string()));
    let late = api
        .ok(Method::GET, &format!("/audit?since={}", t0 + 50), None)
        .await;
    assert_eq!(actions(late), ["user.enabled"]);
    let window = api
        .ok(
            Method::GET,
            &format!("/audit?since={t0}&until={t0}&action=user.enabled"),
            None,
        )
        .await;
    assert_eq!(window["items"], json!([]));
}

/// Issue 11 point 9: a client is made a resource server at registration or by PATCH (API), or
/// with `tessera client add --resource-server` (CLI); only then may it pull `/revocations`.
/// A public client cannot be one.
async fn resource_servers_are_registered_and_edited(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin_require_totp = false).await;
    // Making a client a resource server needs a recent sign-in (it sees every token): a
    // client's own token may not, a freshly signed-in administrator may.
    let (ops, _) = ops_api(&app).await;
    let (status, _) = ops
        .call(
            Method::POST,
            "/clients",
            Some(json!({ "name": "Sneaky", "scope": "orders", "resource_server": true })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let api = fresh_admin_api(&app, "root").await;
    let created = api
        .ok(
            Method::POST,
            "/clients",
            Some(
                json!({ "name": "Orders API", "grant_types": ["client_credentials"],
                         "scope": "orders", "resource_server": true }),
            ),
        )
        .await;
    assert_eq!(created["resource_server"], json!(true));
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let pull = || {
        app.client
            .get(app.url("/revocations"))
            .basic_auth(&id, Some(&secret))
            .send()
    };
    assert_eq!(pull().await.unwrap().status(), 200);

    let patched = api
        .ok(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "resource_server": false })),
        )
        .await;
    assert_eq!(
        (&patched["resource_server"], &patched["name"]),
        (&json!(false), &json!("Orders API"))
    );
    assert_eq!(pull().await.unwrap().status(), 403);
    // Other edits keep it as it is.
    api.ok(
        Method::PATCH,
        &format!("/clients/{id}"),
        Some(json!({ "resource_server": true })),
    )
    .await;
    let renamed = api
        .ok(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "name": "Orders API v2" })),
        )
        .await;
    assert_eq!(renamed["resource_server"], json!(true));
    assert_eq!(pull().await.unwrap().status(), 200);

    let (status, body) = api
        .call(
            Method::POST,
            "/clients",
            Some(json!({ "name": "SPA", "client_type": "public",
                         "redirect_uris": ["https://spa.example.com/cb"],
                         "resource_server": true })),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    // The CLI.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_clear()
        .current_dir(dir.path())
        .env("DATABASE_URL", &app.db.url)
        .env("TESSERA_LOG_LEVEL", "warn")
        .args([
            "client",
            "add",
            "--name",
            "Ledger API",
            "--type",
            "confidential",
            "--grant-type",
            "client_credentials",
            "--resource-server",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["resource_server"], json!(true));
}

dual!(
    resource_servers_are_registered_and_edited,
    sessions_are_listed_and_ended,
    revocations_are_listed_and_made_by_hand,
    keys_are_listed_without_key_material,
    the_audit_log_filters_by_time,
    every_documented_route_is_served_and_refuses_non_admins,
    the_openapi_document_is_valid_openapi_3_1,
    users_are_managed_end_to_end_and_every_change_is_audited,
    clients_are_shown_and_their_secrets_rotated_end_to_end,
    a_users_token_needs_a_recent_sign_in_for_sensitive_actions,
    bad_input_gets_400_invalid_request,
);
