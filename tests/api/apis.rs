//! APIs (resource servers) and resource indicators (RFC 8707): the audience of an access
//! token is the API a request names, with only that API's scopes; every refusal cites §2.

use serde_json::{Value, json};
use tessera::admin::Actor;
use tessera::admin::apis::{ApiInput, ClientApisPatch};
use tessera::oauth::client::RegistrationInput;

use crate::code_flow::{Pkce, authorize_url, pkce};
use crate::dual;
use crate::helpers::{
    Backend, Browser, PASSWORD, TestApp, TestClient, http_client, jwt_claims, location, query_of,
    service_client, spawn_app,
};

pub(crate) const ORDERS: &str = "https://orders.example.com";
pub(crate) const BILLING: &str = "https://billing.example.com/api";
const UNUSED: &str = "https://unused.example.com";
pub(crate) const NATIVE_CB: &str = "com.example.app:/cb";
const WEB_CB: &str = "https://app.example.com/cb";
pub(crate) const ALICE: Browser<'static> = Browser {
    username: "alice",
    password: PASSWORD,
    consent: Some("allow"),
};

pub(crate) async fn add_api(
    app: &TestApp,
    identifier: &str,
    scope: &str,
    ttl: Option<&str>,
    alg: Option<&str>,
) {
    tessera::http::admin::service(&app.state)
        .add_api(
            &Actor::cli(),
            ApiInput {
                identifier: identifier.into(),
                name: Some(format!("The {} API", scope.split('.').next().unwrap_or(""))),
                scope: scope.into(),
                access_token_ttl: ttl.map(str::to_string),
                signing_alg: alg.map(str::to_string),
            },
        )
        .await
        .expect("add the API");
}

async fn allow(app: &TestApp, client: &TestClient, apis: &[&str], serves: &[&str]) {
    links(app, client, apis, serves, &[]).await;
}

/// Sets every list of a client's APIs: used, served, and exchanged into.
pub(crate) async fn links(
    app: &TestApp,
    client: &TestClient,
    apis: &[&str],
    serves: &[&str],
    exchange: &[&str],
) {
    let list = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect());
    tessera::http::admin::service(&app.state)
        .update_client_apis(
            &Actor::cli(),
            &client.id,
            ClientApisPatch {
                apis: list(apis),
                serves_apis: list(serves),
                exchange_audiences: list(exchange),
                ..ClientApisPatch::default()
            },
        )
        .await
        .expect("set the client's APIs");
}

/// Three APIs: orders (two scopes), billing (one scope, 2 min, EdDSA), and one no client may use.
async fn three_apis(app: &TestApp) {
    add_api(app, ORDERS, "orders.read orders.write", None, None).await;
    add_api(app, BILLING, "billing.read", Some("2m"), Some("EdDSA")).await;
    add_api(app, UNUSED, "unused.read", None, None).await;
}

pub(crate) fn code_client(client_type: &str, redirect: &str) -> RegistrationInput {
    RegistrationInput {
        name: "Shop app".into(),
        client_type: client_type.into(),
        redirect_uris: vec![redirect.into()],
        scope: Some("openid profile offline_access orders.read orders.write billing.read".into()),
        ..RegistrationInput::default()
    }
}

pub(crate) fn params<'a>(
    client: &'a TestClient,
    redirect: &'a str,
    p: &'a Pkce,
    scope: &'a str,
    resources: &[&'a str],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("state", "s1"),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend(resources.iter().map(|r| ("resource", *r)));
    params
}

/// Signs alice in, approves, and returns where Tessera sent the browser.
async fn authorize(app: &TestApp, params: &[(&str, &str)]) -> String {
    let browser = http_client();
    let res = app
        .browse(&browser, &authorize_url(app, params), ALICE)
        .await;
    location(&res)
}

pub(crate) fn code_of(to: &str) -> String {
    query_of(to)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {to}"))
}

pub(crate) async fn redeem(
    app: &TestApp,
    c: &TestClient,
    redirect: &str,
    code: &str,
    verifier: &str,
    resource: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ];
    form.extend(resource.map(|r| ("resource", r)));
    match &c.secret {
        Some(secret) => app.post_token_basic(&c.id, secret, &form).await,
        None => {
            form.push(("client_id", c.id.as_str()));
            app.post_token(&form).await
        }
    }
}

/// `POST /token` with client_credentials, each of `resources` as a `resource`.
async fn client_credentials(
    app: &TestApp,
    c: &TestClient,
    resources: &[&str],
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(resources.iter().map(|r| ("resource", *r)));
    form.extend(scope.map(|s| ("scope", s)));
    app.post_token_basic(&c.id, c.secret(), &form).await
}

/// `POST /token` with a refresh token, and a `resource` when given.
async fn refresh(
    app: &TestApp,
    c: &TestClient,
    token: &str,
    resource: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend(resource.map(|r| ("resource", r)));
    app.post_token_basic(&c.id, c.secret(), &form).await
}

/// The access token of a successful answer, and its claims.
pub(crate) async fn access_of(res: reqwest::Response) -> (String, Value) {
    let body = ok_json(res).await;
    let token = body["access_token"].as_str().unwrap().to_string();
    let claims = jwt_claims(&token);
    (token, claims)
}

pub(crate) async fn ok_json(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

pub(crate) async fn error_of(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    body["error"].as_str().unwrap_or_default().to_string()
}

fn header_of(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

dual!(
    a_native_app_gets_a_token_for_the_api_it_names_with_only_its_scopes,
    several_resources_at_authorize_are_narrowed_one_at_a_time_at_the_token_endpoint,
    client_credentials_with_a_resource_gets_the_apis_audience_lifetime_and_algorithm,
    a_resource_that_is_malformed_unknown_or_not_allowed_is_invalid_target,
    the_apis_backend_may_introspect_its_tokens_and_no_others,
    the_admin_api_refuses_a_token_meant_for_an_api,
    an_api_still_referenced_by_a_client_cannot_be_removed,
    the_admin_api_registers_apis_and_gives_them_to_clients_audited,
    consent_to_scopes_at_one_api_is_not_consent_at_another,
    api_identifiers_are_canonical_short_and_unlike_others_and_scopes_not_tesseras,
    userinfo_refuses_a_token_for_an_api_even_with_openid,
);

/// An identifier is the `aud` resource servers compare as a string, so it is registered in
/// one canonical form, short enough to be a key on every backend (3 KB was a 500 on
/// PostgreSQL), and not a look-alike of another; an API cannot define Tessera's own scopes
/// (its tokens would carry them, e.g. `tessera:admin`).
async fn api_identifiers_are_canonical_short_and_unlike_others_and_scopes_not_tesseras(
    backend: Backend,
) {
    use tessera::admin::AdminError;
    let app = spawn_app(backend).await;
    add_api(&app, ORDERS, "orders.read", None, None).await;
    add_api(&app, "https://orders.example.com/v1", "v1.read", None, None).await;
    let admin = tessera::http::admin::service(&app.state);
    let add = |identifier: String, scope: String| {
        let admin = &admin;
        async move {
            admin
                .add_api(
                    &Actor::cli(),
                    ApiInput {
                        identifier,
                        scope,
                        ..ApiInput::default()
                    },
                )
                .await
        }
    };
    let long = format!("https://long.example.com/{}", "a".repeat(3000));
    for bad in [
        "HTTPS://mail.example.com",
        "https://MAIL.example.com",
        "https://mail.example.com:443",
        "https://mail.example.com./",
        "https://mail.example.com/a/../b",
        long.as_str(),
    ] {
        let res = add(bad.into(), "mail.read".into()).await;
        assert!(
            matches!(res, Err(AdminError::Invalid(..))),
            "{bad}: {res:?}"
        );
    }
    for twin in [
        "https://orders.example.com/",
        "https://orders.example.com/V1",
    ] {
        let res = add(twin.into(), "x.read".into()).await;
        assert!(
            matches!(res, Err(AdminError::Conflict(_))),
            "{twin}: {res:?}"
        );
    }
    for reserved in [
        "openid",
        "offline_access",
        "profile",
        "email",
        "roles",
        "device_sso",
        "tessera:admin",
    ] {
        let res = add(
            "https://mail.example.com".into(),
            format!("mail.read {reserved}"),
        )
        .await;
        assert!(
            matches!(res, Err(AdminError::Invalid(..))),
            "{reserved}: {res:?}"
        );
    }
    let many = (0..101)
        .map(|i| format!("s{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let res = add("https://mail.example.com".into(), many).await;
    assert!(matches!(res, Err(AdminError::Invalid(..))), "{res:?}");
    add("https://mail.example.com".into(), "mail.read".into())
        .await
        .expect("a canonical identifier with its own scopes");
}

/// Consent is to scopes at the APIs named: approving `orders.read billing.read` for the orders
/// API does not let the same client get a code for the billing API without asking, and with
/// prompt=none that is consent_required (OIDC Core §3.1.2.6), not a silent grant.
async fn consent_to_scopes_at_one_api_is_not_consent_at_another(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    three_apis(&app).await;
    let web = app.create_client(code_client("confidential", WEB_CB)).await;
    allow(&app, &web, &[ORDERS, BILLING], &[]).await;
    let browser = http_client();
    let scope = "openid orders.read billing.read";
    let p = pkce();
    let at = |resources: &[&'static str], extra: Option<(&'static str, &'static str)>| {
        let mut q = params(&web, WEB_CB, &p, scope, resources);
        q.extend(extra);
        authorize_url(&app, &q)
    };
    let to = location(&app.browse(&browser, &at(&[ORDERS], None), ALICE).await);
    code_of(&to);
    // The same API again: remembered, a code without a page.
    let res = browser.get(at(&[ORDERS], None)).send().await.unwrap();
    code_of(&location(&res));

    // Another API with the same scopes: the consent page, naming it.
    let res = browser.get(at(&[BILLING], None)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"action="/consent""#), "{html}");
    assert!(html.contains("The billing API"), "{html}");
    // Both at once still asks: one of them was never approved.
    let res = browser
        .get(at(&[ORDERS, BILLING], None))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = browser
        .get(at(&[BILLING], Some(("prompt", "none"))))
        .send()
        .await
        .unwrap();
    let to = location(&res);
    assert_eq!(query_of(&to)["error"], "consent_required", "{to}");

    // Approving it remembers both APIs (the union): neither asks again.
    let to = location(&app.browse(&browser, &at(&[BILLING], None), ALICE).await);
    code_of(&to);
    let res = browser
        .get(at(&[ORDERS, BILLING], Some(("prompt", "none"))))
        .send()
        .await
        .unwrap();
    code_of(&location(&res));
}

/// RFC 8707 §2: a public client with PKCE and a private-use redirect (RFC 8252 §7.1) names
/// one API; its access token is for that API alone, with only the scopes the API defines.
async fn a_native_app_gets_a_token_for_the_api_it_names_with_only_its_scopes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    three_apis(&app).await;
    let native = app.create_client(code_client("public", NATIVE_CB)).await;
    allow(&app, &native, &[ORDERS], &[]).await;
    let p = pkce();

    // The consent page names the API being asked for.
    let browser = http_client();
    let scope = "openid orders.read billing.read";
    app.login_as(&browser, "alice", PASSWORD).await;
    let url = authorize_url(&app, &params(&native, NATIVE_CB, &p, scope, &[ORDERS]));
    let html = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"<ul id="apis">"#), "{html}");
    assert!(html.contains("The orders API"), "{html}");

    let to = authorize(&app, &params(&native, NATIVE_CB, &p, scope, &[ORDERS])).await;
    assert!(to.starts_with(NATIVE_CB), "{to}");
    let body =
        ok_json(redeem(&app, &native, NATIVE_CB, &code_of(&to), &p.verifier, None).await).await;
    let access = body["access_token"].as_str().unwrap();
    let claims = jwt_claims(access);
    // One audience: a string, the API's identifier (RFC 9068 §3).
    assert_eq!(claims["aud"], json!(ORDERS));
    assert_eq!(claims["client_id"], json!(native.id));
    // billing.read is the client's but not this API's; openid is no API's.
    assert_eq!(claims["scope"], "orders.read");
    assert_eq!(body["scope"], "orders.read");
    // The ID token is still the client's.
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], json!(native.id));

    // userinfo serves the client's own tokens, not an API's (RFC 6750 §3.1).
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

/// RFC 8707 §2.1 and §2.2: several resources at the authorization request; each token
/// request then asks for one of them (or all), never for one not granted; refreshes too.
async fn several_resources_at_authorize_are_narrowed_one_at_a_time_at_the_token_endpoint(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    three_apis(&app).await;
    let web = app.create_client(code_client("confidential", WEB_CB)).await;
    allow(&app, &web, &[ORDERS, BILLING, UNUSED], &[]).await;
    let p = pkce();
    let scope = "openid offline_access orders.read billing.read";
    let to = authorize(&app, &params(&web, WEB_CB, &p, scope, &[ORDERS, BILLING])).await;
    let code = code_of(&to);

    // §2.2: a resource the authorization did not grant is refused, and the code survives.
    let res = redeem(&app, &web, WEB_CB, &code, &p.verifier, Some(UNUSED)).await;
    assert_eq!(error_of(res).await, "invalid_target");

    let body = ok_json(redeem(&app, &web, WEB_CB, &code, &p.verifier, Some(BILLING)).await).await;
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!(BILLING));
    assert_eq!(claims["scope"], "billing.read");
    let refresh_token = body["refresh_token"].as_str().unwrap().to_string();

    // The refresh family remembers both resources: the next token is for the other one.
    let body = ok_json(refresh(&app, &web, &refresh_token, Some(ORDERS)).await).await;
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!(ORDERS));
    assert_eq!(claims["scope"], "orders.read");
    let refresh_token = body["refresh_token"].as_str().unwrap().to_string();

    // §2.2: several granted, one per token request. Without `resource` the server cannot
    // pick one, and a token for both would let either API replay it at the other.
    let res = refresh(&app, &web, &refresh_token, None).await;
    assert_eq!(error_of(res).await, "invalid_target");
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    form.extend([("resource", ORDERS), ("resource", BILLING)]);
    let res = app.post_token_basic(&web.id, web.secret(), &form).await;
    assert_eq!(error_of(res).await, "invalid_target");

    // §2.2: never one the authorization did not grant, even one the client is allowed.
    let res = refresh(&app, &web, &refresh_token, Some(UNUSED)).await;
    assert_eq!(error_of(res).await, "invalid_target");

    // A refresh checks the client's APIs again: one taken from it since is refused, the
    // others still work.
    allow(&app, &web, &[ORDERS, UNUSED], &[]).await;
    let res = refresh(&app, &web, &refresh_token, Some(BILLING)).await;
    assert_eq!(error_of(res).await, "invalid_target");
    let (_, claims) = access_of(refresh(&app, &web, &refresh_token, Some(ORDERS)).await).await;
    assert_eq!(claims["aud"], json!(ORDERS));

    // A flow without `resource` is unchanged: the token is the client's own.
    let p = pkce();
    let to = authorize(&app, &params(&web, WEB_CB, &p, "openid", &[])).await;
    let body = ok_json(redeem(&app, &web, WEB_CB, &code_of(&to), &p.verifier, None).await).await;
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!(web.id));
}

/// RFC 8707 §2 with client_credentials: the token is for the API, with the API's lifetime and
/// signing algorithm, and only the scopes it defines.
async fn client_credentials_with_a_resource_gets_the_apis_audience_lifetime_and_algorithm(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    three_apis(&app).await;
    let svc = app
        .create_service_client("billing.read orders.read reports.run")
        .await;
    allow(&app, &svc, &[BILLING, ORDERS], &[]).await;
    let res = client_credentials(&app, &svc, &[BILLING], None).await;
    let body = ok_json(res).await;
    let token = body["access_token"].as_str().unwrap();
    let claims = jwt_claims(token);
    assert_eq!(claims["aud"], json!(BILLING));
    assert_eq!(claims["scope"], "billing.read");
    assert_eq!(body["expires_in"], 120);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    assert_eq!(header_of(token)["alg"], "EdDSA");

    // RFC 8707 §2.2: one resource per token request; two (the parameter repeated) would make
    // a token that either API could replay at the other.
    let res = client_credentials(&app, &svc, &[ORDERS, BILLING], None).await;
    assert_eq!(error_of(res).await, "invalid_target");

    // Without `resource`, as before: the client's own audience and every scope it has.
    let (token, claims) = access_of(client_credentials(&app, &svc, &[], None).await).await;
    assert_eq!(claims["aud"], json!(svc.id));
    assert_eq!(header_of(&token)["alg"], "RS256");

    // A scope the API does not define is dropped; asking only for such scopes is invalid_scope.
    let res = client_credentials(&app, &svc, &[ORDERS], Some("reports.run")).await;
    assert_eq!(error_of(res).await, "invalid_scope");
}

/// RFC 8707 §2: "the value of the resource parameter MUST be an absolute URI … MUST NOT
/// include a fragment component"; a resource the server does not know or the client may not
/// have is `invalid_target` too. At the token endpoint as a JSON error, at the authorization
/// endpoint as an error redirect.
async fn a_resource_that_is_malformed_unknown_or_not_allowed_is_invalid_target(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    three_apis(&app).await;
    let svc = app.create_service_client("orders.read unused.read").await;
    allow(&app, &svc, &[ORDERS], &[]).await;
    let cases = [
        "/orders",                          // relative
        "https://orders.example.com/#frag", // fragment
        "https://nowhere.example.com",      // unknown
        UNUSED,                             // registered, not allowed to this client
    ];
    for resource in cases {
        let res = client_credentials(&app, &svc, &[resource], None).await;
        assert_eq!(error_of(res).await, "invalid_target", "{resource}");
    }
    // One bad value among good ones spoils the request.
    let res = client_credentials(&app, &svc, &[ORDERS, UNUSED], None).await;
    assert_eq!(error_of(res).await, "invalid_target");
    // §2: one value with a space is not an absolute URI, and not two resources either.
    let two_in_one = format!("{ORDERS} {ORDERS}/x");
    let res = client_credentials(&app, &svc, &[&two_in_one], None).await;
    assert_eq!(error_of(res).await, "invalid_target");
    // At most ten values, refused before anything is looked up.
    let many = vec![ORDERS; 11];
    let res = client_credentials(&app, &svc, &many, None).await;
    assert_eq!(error_of(res).await, "invalid_target");

    let web = app.create_client(code_client("confidential", WEB_CB)).await;
    allow(&app, &web, &[ORDERS], &[]).await;
    let p = pkce();
    for resource in cases {
        let url = authorize_url(&app, &params(&web, WEB_CB, &p, "openid", &[resource]));
        let res = http_client().get(url).send().await.unwrap();
        let to = location(&res);
        assert!(to.starts_with(WEB_CB), "{resource}: {to}");
        let q = query_of(&to);
        assert_eq!(q["error"], "invalid_target", "{resource}");
        assert_eq!(q["state"], "s1");
    }
    for resources in [vec![two_in_one.as_str()], many] {
        let url = authorize_url(&app, &params(&web, WEB_CB, &p, "openid", &resources));
        let to = location(&http_client().get(url).send().await.unwrap());
        assert_eq!(query_of(&to)["error"], "invalid_target", "{to}");
    }
}

/// A client that serves an API (its backend) may introspect tokens whose `aud` names that
/// API, and learns nothing of tokens for another API (RFC 7662 §4).
async fn the_apis_backend_may_introspect_its_tokens_and_no_others(backend: Backend) {
    let app = spawn_app(backend).await;
    three_apis(&app).await;
    let svc = app.create_service_client("orders.read billing.read").await;
    allow(&app, &svc, &[ORDERS, BILLING], &[]).await;
    let orders_backend = app.create_service_client("nothing").await;
    allow(&app, &orders_backend, &[], &[ORDERS]).await;
    let bystander = app.create_service_client("nothing").await;

    let (orders, _) = access_of(client_credentials(&app, &svc, &[ORDERS], None).await).await;
    let (billing, _) = access_of(client_credentials(&app, &svc, &[BILLING], None).await).await;

    let seen = app.introspect(&orders_backend, &orders).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["aud"], json!(ORDERS));
    assert_eq!(seen["scope"], "orders.read");
    assert_eq!(seen["client_id"], json!(svc.id));
    for (caller, token) in [(&orders_backend, &billing), (&bystander, &orders)] {
        assert_eq!(
            app.introspect(caller, token).await,
            json!({ "active": false })
        );
    }
    // The client it was issued to still sees its own.
    assert_eq!(app.introspect(&svc, &billing).await["active"], true);

    // Giving a client_credentials client a new API lets it mint tokens that API accepts:
    // an actor without a recent sign-in (here a client's own token) may not.
    let admin = tessera::http::admin::service(&app.state);
    let by_token = Actor::client(&bystander.id);
    let patch = |apis: &[&str]| ClientApisPatch {
        apis: Some(apis.iter().map(|s| s.to_string()).collect()),
        ..ClientApisPatch::default()
    };
    let res = admin
        .update_client_apis(&by_token, &bystander.id, patch(&[ORDERS]))
        .await;
    assert!(
        matches!(res, Err(tessera::admin::AdminError::NotRecent { .. })),
        "{res:?}"
    );
    // Taking one away is not dangerous.
    admin
        .update_client_apis(&by_token, &svc.id, patch(&[ORDERS]))
        .await
        .expect("removing a use link needs no recent sign-in");

    // The backend verifies offline too: it may pull the revocation list without being a
    // resource server for every token; a client that serves nothing may not.
    let pull = |c: &TestClient| {
        app.client
            .get(app.url("/revocations?since=0"))
            .basic_auth(&c.id, Some(c.secret()))
            .send()
    };
    assert_eq!(pull(&orders_backend).await.unwrap().status(), 200);
    assert_eq!(pull(&bystander).await.unwrap().status(), 403);
    allow(&app, &orders_backend, &[], &[]).await;
    assert_eq!(pull(&orders_backend).await.unwrap().status(), 403);
}

/// The admin API takes only tokens meant for it: a token whose `aud` is an API is refused,
/// even with the admin scope.
async fn the_admin_api_refuses_a_token_meant_for_an_api(backend: Backend) {
    let app = spawn_app(backend).await;
    add_api(&app, ORDERS, "orders.read", None, None).await;
    let ops = app.create_service_client("tessera:admin orders.read").await;
    allow(&app, &ops, &[ORDERS], &[]).await;
    let own = app.access_token(&ops).await;
    let (for_api, _) = access_of(client_credentials(&app, &ops, &[ORDERS], None).await).await;
    assert_eq!(admin_api_status(&app, &own).await, 200);
    assert_eq!(admin_api_status(&app, &for_api).await, 401);
}

/// The status of `GET /admin/api/v1/apis` with `token` as bearer.
pub(crate) async fn admin_api_status(app: &TestApp, token: &str) -> reqwest::StatusCode {
    app.client
        .get(app.url("/admin/api/v1/apis"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// An API a client still uses cannot be removed (the error names the client); once no
/// client refers to it, it can. Both are audited.
async fn an_api_still_referenced_by_a_client_cannot_be_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    three_apis(&app).await;
    let admin = tessera::http::admin::service(&app.state);
    let svc = app.create_client(service_client("orders.read")).await;
    allow(&app, &svc, &[ORDERS], &[]).await;
    let err = admin.remove_api(&Actor::cli(), ORDERS).await.unwrap_err();
    assert!(err.to_string().contains(&svc.id), "{err}");
    // An API removed between the check and the write (the foreign key) is a conflict, not a
    // 500, and the links are written all or nothing: the client keeps what it had.
    let store = &app.state.store;
    let mut change = store
        .begin_client_apis_change(&svc.id)
        .await
        .unwrap()
        .unwrap();
    let res = change
        .replace(
            store,
            &[BILLING.into(), "https://gone.example.com".into()],
            &[],
            &[],
            app.clock.now(),
        )
        .await;
    drop(change);
    assert!(
        matches!(res, Err(tessera::store::StoreError::Conflict(_))),
        "{res:?}"
    );
    let kept = store
        .client_apis(&svc.id, tessera::store::ApiRole::Use)
        .await
        .unwrap();
    assert_eq!(kept, [ORDERS]);
    allow(&app, &svc, &[], &[]).await;
    admin.remove_api(&Actor::cli(), ORDERS).await.unwrap();
    assert!(admin.api(ORDERS).await.is_err());
    // Referring to an unknown API is a clear error.
    let err = admin
        .update_client_apis(
            &Actor::cli(),
            &svc.id,
            ClientApisPatch {
                apis: Some(vec![ORDERS.into()]),
                ..ClientApisPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no API"), "{err}");
    let audit = app
        .state
        .store
        .audit_about("cli", ORDERS, ORDERS, 10)
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"api.created"), "{actions:?}");
    assert!(actions.contains(&"api.deleted"), "{actions:?}");
}

/// An API with a long identifier, to see how it wraps on a phone.
pub const LONG: &str =
    "https://inventory.warehouse.example.com/api/v2/a-rather-long-path/that/must/wrap/on/a/phone";
pub const LONG_ENCODED: &str = "https%3A%2F%2Finventory.warehouse.example.com%2Fapi%2Fv2%2Fa-rather-long-path%2Fthat%2Fmust%2Fwrap%2Fon%2Fa%2Fphone";

/// APIs for the console's pages (`admin_look`): two registered, `web` allowed one and the long
/// one.
pub async fn register_for_the_console(app: &TestApp, web: &TestClient) {
    add_api(
        app,
        ORDERS,
        "orders.read orders.write",
        Some("10m"),
        Some("ES256"),
    )
    .await;
    add_api(
        app,
        LONG,
        "inventory.read inventory.write inventory.admin",
        None,
        None,
    )
    .await;
    allow(app, web, &[ORDERS, LONG], &[]).await;
}

/// The consent page names the APIs asked for, and fits a desktop and a phone screen
/// (screenshots in target/screens/consent-apis-*.png).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_page_names_the_apis_and_fits_desktop_and_phone_screens() {
    use crate::admin_browser::{fill, submit};
    use crate::browser::{browser, chromedriver};
    use fantoccini::Locator;

    let app = spawn_app(Backend::Sqlite).await;
    app.create_user("alice", PASSWORD).await;
    three_apis(&app).await;
    add_api(&app, LONG, "inventory.read", None, None).await;
    let native = app
        .create_client(RegistrationInput {
            scope: Some("openid orders.read inventory.read".into()),
            ..code_client("public", NATIVE_CB)
        })
        .await;
    allow(&app, &native, &[ORDERS, LONG], &[]).await;
    let p = pkce();
    let scope = "openid orders.read inventory.read";
    let url = authorize_url(
        &app,
        &params(&native, NATIVE_CB, &p, scope, &[ORDERS, LONG]),
    );

    let driver = chromedriver().await;
    let b = browser(&driver).await;
    b.goto(&url).await.unwrap();
    fill(&b, "username", "alice").await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    let apis = b
        .wait()
        .for_element(Locator::Id("apis"))
        .await
        .expect("the consent page lists the APIs")
        .text()
        .await
        .unwrap();
    assert!(apis.contains("The orders API"), "{apis}");
    assert!(apis.contains("The inventory API"), "{apis}");
    crate::admin_look::look(&b, "consent-apis").await;
    b.close().await.expect("close");
}

/// `tessera api add|list|show|remove` and `tessera client add --api/--serves-api`,
/// `client set-apis`, as an operator runs them; then a server on the same database issues a
/// token for the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_registers_apis_and_gives_them_to_clients() {
    use crate::cli_config::{stderr, tessera};
    use crate::helpers::{TestDb, spawn_on};

    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let run = |args: &[&str]| tessera(dir.path(), args, &[("DATABASE_URL", &db.url)]);
    let json_of = |out: std::process::Output| -> Value {
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("stdout is JSON")
    };

    let added = json_of(run(&[
        "api",
        "add",
        "--identifier",
        ORDERS,
        "--scope",
        "orders.read orders.write",
        "--name",
        "Orders",
        "--access-token-ttl",
        "5m",
        "--signing-alg",
        "EdDSA",
        "--json",
    ]));
    assert_eq!(added["identifier"], ORDERS);
    assert_eq!(added["access_token_ttl"], 300);
    assert_eq!(added["signing_alg"], "EdDSA");
    // Text output, one field per line.
    let out = run(&["api", "show", ORDERS]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("scope: orders.read orders.write"), "{text}");
    // Bad input: one line on stderr, a non-zero exit.
    for bad in [
        vec!["api", "add", "--identifier", "/relative", "--scope", "a"],
        vec![
            "api",
            "add",
            "--identifier",
            "https://x.example/#f",
            "--scope",
            "a",
        ],
        vec!["api", "add", "--identifier", ORDERS, "--scope", "a"],
        vec![
            "api",
            "add",
            "--identifier",
            BILLING,
            "--scope",
            "a",
            "--signing-alg",
            "HS256",
        ],
    ] {
        let out = run(&bad);
        assert!(!out.status.success(), "{bad:?}");
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    }
    let list = json_of(run(&["api", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);

    // A client that names an unknown API is refused, and nothing is registered.
    let out = run(&[
        "client",
        "add",
        "--name",
        "Svc",
        "--type",
        "confidential",
        "--grant-type",
        "client_credentials",
        "--scope",
        "orders.read",
        "--api",
        BILLING,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no API"), "{}", stderr(&out));
    let clients = json_of(run(&["client", "list", "--json"]));
    assert!(clients.as_array().unwrap().is_empty());
    // A public client cannot serve an API.
    let out = run(&[
        "client",
        "add",
        "--name",
        "App",
        "--type",
        "public",
        "--redirect-uri",
        NATIVE_CB,
        "--serves-api",
        ORDERS,
    ]);
    assert!(!out.status.success());

    let svc = json_of(run(&[
        "client",
        "add",
        "--name",
        "Svc",
        "--type",
        "confidential",
        "--grant-type",
        "client_credentials",
        "--scope",
        "orders.read",
        "--api",
        ORDERS,
        "--json",
    ]));
    let id = svc["client_id"].as_str().unwrap().to_string();
    let secret = svc["client_secret"].as_str().unwrap().to_string();
    let backend = json_of(run(&[
        "client",
        "add",
        "--name",
        "Orders backend",
        "--type",
        "confidential",
        "--grant-type",
        "client_credentials",
        "--scope",
        "x",
        "--serves-api",
        ORDERS,
        "--exchange-audience",
        ORDERS,
        "--json",
    ]));
    let shown = json_of(run(&[
        "client",
        "show",
        backend["client_id"].as_str().unwrap(),
        "--json",
    ]));
    assert_eq!(shown["serves_apis"], json!([ORDERS]));
    assert_eq!(shown["exchange_audiences"], json!([ORDERS]));
    assert_eq!(shown["apis"], json!([]));
    let shown = json_of(run(&["client", "show", &id, "--json"]));
    assert_eq!(shown["apis"], json!([ORDERS]));

    // In use: removal is refused and names the clients.
    let out = run(&["api", "remove", ORDERS]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&id), "{}", stderr(&out));

    // A server on the database issues the API's token: its audience, lifetime and algorithm.
    let app = spawn_on(db.shared(), tempfile::tempdir().unwrap(), |_| {}).await;
    let res = app
        .post_token_basic(
            &id,
            &secret,
            &[("grant_type", "client_credentials"), ("resource", ORDERS)],
        )
        .await;
    let body = ok_json(res).await;
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(token)["aud"], json!(ORDERS));
    assert_eq!(body["expires_in"], 300);
    assert_eq!(header_of(token)["alg"], "EdDSA");

    // Take the API from both clients, then it can go.
    for client in [id.as_str(), backend["client_id"].as_str().unwrap()] {
        let cleared = json_of(run(&["client", "set-apis", client, "--json"]));
        assert_eq!(
            cleared,
            json!({ "apis": [], "serves_apis": [], "exchange_audiences": [],
                    "exchange_refresh": false, "exchange_impersonate": false })
        );
    }
    // The token-exchange options (RFC 8693), for a confidential client only.
    let backend_id = backend["client_id"].as_str().unwrap();
    let args = [
        "client",
        "set-apis",
        backend_id,
        "--exchange-refresh",
        "--exchange-impersonate",
        "--json",
    ];
    let set = json_of(run(&args));
    assert_eq!(set["exchange_refresh"], true);
    assert_eq!(set["exchange_impersonate"], true);
    let public = run(&[
        "client",
        "add",
        "--name",
        "App",
        "--type",
        "public",
        "--redirect-uri",
        NATIVE_CB,
        "--exchange-impersonate",
    ]);
    assert!(
        !public.status.success(),
        "a public client may not impersonate"
    );
    json_of(run(&["client", "set-apis", backend_id, "--json"]));
    let removed = json_of(run(&["api", "remove", ORDERS, "--json"]));
    assert_eq!(removed["identifier"], ORDERS);
    assert!(!run(&["api", "show", ORDERS]).status.success());
}

/// `/admin/api/v1/apis` and `/clients/{id}/apis`: the CLI's operations over JSON, each audited.
async fn the_admin_api_registers_apis_and_gives_them_to_clients_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let ops = app.create_service_client("tessera:admin").await;
    let token = app.access_token(&ops).await;
    let svc = app.create_service_client("orders.read").await;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = app
            .client
            .request(method, app.url(&format!("/admin/api/v1{path}")))
            .bearer_auth(&token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let new = json!({ "identifier": ORDERS, "scope": "orders.read", "access_token_ttl": "90s" });
    let (status, created) = call(reqwest::Method::POST, "/apis", Some(new.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["access_token_ttl"], 90);
    assert_eq!(call(reqwest::Method::POST, "/apis", Some(new)).await.0, 409);
    let bad = json!({ "identifier": "https://x.example/#frag", "scope": "a" });
    assert_eq!(call(reqwest::Method::POST, "/apis", Some(bad)).await.0, 400);
    let (status, list) = call(reqwest::Method::GET, "/apis", None).await;
    assert_eq!(
        (status, list[0]["identifier"].clone()),
        (200, json!(ORDERS))
    );
    let one = format!(
        "/apis/by-identifier?identifier={}",
        urlencoding::encode(ORDERS)
    );
    assert_eq!(
        call(reqwest::Method::GET, &one, None).await.1["scope"],
        "orders.read"
    );

    // Letting a client_credentials client use an API (mint tokens it accepts) needs an
    // administrator's recent sign-in; a code-flow client's tokens need a user, so not then.
    let svc_path = format!("/clients/{}/apis", svc.id);
    let (status, _) = call(
        reqwest::Method::PUT,
        &svc_path,
        Some(json!({ "apis": [ORDERS] })),
    )
    .await;
    assert_eq!(status, 403);
    let web = app.create_client(code_client("confidential", WEB_CB)).await;
    let path = format!("/clients/{}/apis", web.id);
    let unknown = json!({ "apis": [BILLING] });
    assert_eq!(
        call(reqwest::Method::PUT, &path, Some(unknown)).await.0,
        400
    );
    let (status, set) = call(
        reqwest::Method::PUT,
        &path,
        Some(json!({ "apis": [ORDERS] })),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        call(reqwest::Method::GET, &path, None).await.1,
        json!({ "apis": [ORDERS], "serves_apis": [], "exchange_audiences": [],
                "exchange_refresh": false, "exchange_impersonate": false })
    );
    // Serving an API (seeing its tokens) needs an administrator's recent sign-in.
    let serve = json!({ "serves_apis": [ORDERS] });
    assert_eq!(call(reqwest::Method::PUT, &path, Some(serve)).await.0, 403);
    // So does removing an API.
    assert_eq!(call(reqwest::Method::DELETE, &one, None).await.0, 403);

    let (_, audit) = call(reqwest::Method::GET, "/audit?per_page=100", None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"api.created"), "{actions:?}");
    assert!(actions.contains(&"client.apis_updated"), "{actions:?}");
}

/// /userinfo serves the client's own tokens: a token for an API is refused even when the API
/// defines `openid` (so the scope alone would let it through), with RFC 6750 §3.1's challenge.
async fn userinfo_refuses_a_token_for_an_api_even_with_openid(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let me = "https://me.example.com";
    // The admin service refuses an API that defines Tessera's own scopes; a row written some
    // other way (by hand, or before that rule) must still not make userinfo answer.
    app.state
        .store
        .insert_api(&tessera::store::ApiRow {
            identifier: me.into(),
            name: None,
            scopes: "openid profile".into(),
            access_token_ttl: None,
            signing_alg: None,
            created_at: 0,
            updated_at: 0,
        })
        .await
        .unwrap();
    let web = app.create_client(code_client("confidential", WEB_CB)).await;
    allow(&app, &web, &[me], &[]).await;
    let bearer = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/userinfo"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    for (resources, status) in [(&[me][..], 401), (&[][..], 200)] {
        let p = pkce();
        let to = authorize(&app, &params(&web, WEB_CB, &p, "openid profile", resources)).await;
        let res = redeem(&app, &web, WEB_CB, &code_of(&to), &p.verifier, None).await;
        let (token, claims) = access_of(res).await;
        assert_eq!(claims["scope"], "openid profile");
        let res = bearer(token).await;
        assert_eq!(res.status(), status, "{resources:?}");
        if status == 401 {
            let challenge = res.headers()["www-authenticate"].to_str().unwrap();
            assert!(
                challenge.contains(r#"error="invalid_token""#),
                "{challenge}"
            );
        }
    }
}
