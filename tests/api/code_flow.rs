//! The authorization code flow by hand: every negative case cites its RFC section.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tessera::oauth::client::RegistrationInput;

use crate::dual;
use crate::helpers::{
    Backend, Browser, PASSWORD, TestApp, TestClient, http_client, location, query_of, spawn_app,
    spawn_app_with,
};

pub const CB: &str = "https://app.example.com/cb";
const ALICE: Browser<'static> = Browser {
    username: "alice",
    password: PASSWORD,
    consent: Some("allow"),
};

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

pub async fn client(app: &TestApp, client_type: &str, first_party: bool) -> TestClient {
    app.create_client(RegistrationInput {
        name: "Photo app".into(),
        client_type: client_type.into(),
        redirect_uris: vec![CB.into(), "http://127.0.0.1/native".into()],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
        scope: Some("openid profile email offline_access".into()),
        first_party,
        ..RegistrationInput::default()
    })
    .await
}

pub fn authorize_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).expect("url");
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

pub fn standard<'a>(
    client: &'a TestClient,
    p: &'a Pkce,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", CB),
        ("scope", scope),
        ("state", "xyz"),
        ("nonce", "n-0S6"),
        ("code_challenge", &p.challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// Runs the browser part and returns the code.
pub async fn get_code(app: &TestApp, browser: &reqwest::Client, params: &[(&str, &str)]) -> String {
    let res = app
        .browse(browser, &authorize_url(app, params), ALICE)
        .await;
    let to = location(&res);
    assert!(to.starts_with(CB), "{to}");
    query_of(&to)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {to}"))
}

pub async fn redeem(
    app: &TestApp,
    c: &TestClient,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", verifier),
        ("client_id", c.id.as_str()),
    ];
    match &c.secret {
        Some(secret) => app.post_token_basic(&c.id, secret, &form[..4]).await,
        None => app.post_token(&form).await,
    }
}

pub async fn refresh(
    app: &TestApp,
    c: &TestClient,
    token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    app.post_token_basic(&c.id, c.secret(), &form).await
}

pub async fn error_of(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res.json().await.expect("json error");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

/// Redirect error at /authorize: the client's URI, `error`, `state` and `iss` (RFC 9207).
async fn authorize_error(app: &TestApp, params: &[(&str, &str)]) -> String {
    let browser = http_client();
    app.login_as(&browser, "alice", PASSWORD).await;
    let res = browser
        .get(authorize_url(app, params))
        .send()
        .await
        .expect("authorize");
    assert!(res.status().is_redirection(), "{}", res.status());
    let to = location(&res);
    assert!(to.starts_with(CB), "{to}");
    let q = query_of(&to);
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    assert_eq!(q.get("iss"), Some(&app.address));
    q.get("error").cloned().unwrap_or_default()
}

async fn setup(backend: Backend) -> (TestApp, TestClient) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", true).await;
    (app, c)
}

/// RFC 7636 §4.4.1 / RFC 9700 §2.1.1: a public client without PKCE is refused, and so is
/// `plain` (and a challenge with no method, which means plain, §4.3).
async fn pkce_is_required_and_only_s256_is_accepted(backend: Backend) {
    let (app, _) = setup(backend).await;
    let public = client(&app, "public", true).await;
    let base = [
        ("response_type", "code"),
        ("client_id", public.id.as_str()),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "xyz"),
    ];
    assert_eq!(authorize_error(&app, &base).await, "invalid_request");
    let p = pkce();
    let mut plain = base.to_vec();
    plain.extend([
        ("code_challenge", p.verifier.as_str()),
        ("code_challenge_method", "plain"),
    ]);
    assert_eq!(authorize_error(&app, &plain).await, "invalid_request");
    let mut no_method = base.to_vec();
    no_method.push(("code_challenge", p.challenge.as_str()));
    assert_eq!(authorize_error(&app, &no_method).await, "invalid_request");
}

/// RFC 7636 §4.6: the verifier must match the challenge.
async fn a_wrong_code_verifier_is_invalid_grant(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let code = get_code(&app, &http_client(), &standard(&c, &p, "openid")).await;
    let other = pkce();
    let (status, error) = error_of(redeem(&app, &c, &code, &other.verifier).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

/// RFC 6749 §4.1.2: a code is single use; a second redemption fails and revokes the tokens
/// the first one issued.
async fn a_replayed_code_fails_and_revokes_the_first_tokens(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let code = get_code(
        &app,
        &http_client(),
        &standard(&c, &p, "openid offline_access"),
    )
    .await;
    let first = redeem(&app, &c, &code, &p.verifier).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    let rt = first["refresh_token"].as_str().expect("refresh token");
    let (_, error) = error_of(redeem(&app, &c, &code, &p.verifier).await).await;
    assert_eq!(error, "invalid_grant");
    let (_, error) = error_of(refresh(&app, &c, rt, None).await).await;
    assert_eq!(
        error, "invalid_grant",
        "the first redemption's refresh token is revoked"
    );
}

/// RFC 6749 §4.1.3: the code was issued to another client.
async fn a_code_redeemed_by_another_client_is_invalid_grant(backend: Backend) {
    let (app, c) = setup(backend).await;
    let other = client(&app, "confidential", true).await;
    let p = pkce();
    let code = get_code(&app, &http_client(), &standard(&c, &p, "openid")).await;
    let (_, error) = error_of(redeem(&app, &other, &code, &p.verifier).await).await;
    assert_eq!(error, "invalid_grant");
    // ...and the rightful client can still use it.
    assert_eq!(redeem(&app, &c, &code, &p.verifier).await.status(), 200);
}

/// RFC 6749 §4.1.2: codes are short-lived (60 s here; injected clock).
async fn an_expired_code_is_invalid_grant(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let code = get_code(&app, &http_client(), &standard(&c, &p, "openid")).await;
    app.clock.advance(61);
    let (_, error) = error_of(redeem(&app, &c, &code, &p.verifier).await).await;
    assert_eq!(error, "invalid_grant");
}

/// RFC 6749 §4.1.3: redirect_uri must be identical to the authorization request's.
async fn a_different_redirect_uri_at_the_token_endpoint_is_invalid_grant(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let code = get_code(&app, &http_client(), &standard(&c, &p, "openid")).await;
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example.com/other"),
                ("code_verifier", &p.verifier),
            ],
        )
        .await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
}

/// RFC 6749 §4.1.2.1, RFC 9700 §4.1.3: an unregistered redirect URI is never redirected to;
/// the user sees an error page. Exact matching: every variant is unregistered.
async fn unregistered_redirect_uris_are_never_redirected_to(backend: Backend) {
    let (app, c) = setup(backend).await;
    let public = client(&app, "public", true).await;
    let p = pkce();
    let browser = http_client();
    app.login_as(&browser, "alice", PASSWORD).await;
    let cases = [
        (&c, "https://app.example.com/cb/evil"),
        (&c, "https://app.example.com/cb?x=1"),
        (&c, "https://app.example.com:8443/cb"),
        (&c, "http://app.example.com/cb"),
        (&c, "https://user@app.example.com/cb"),
        (&c, "https://APP.example.com/cb"),
        (&c, "https://app.example.com/cb/"),
        (&c, "https://evil.example/cb"),
        // A confidential client gets no loopback port latitude (RFC 8252 §7.3 is for native apps).
        (&c, "http://127.0.0.1:5000/native"),
        (&public, "http://127.0.0.1:5000/other"),
        (&public, "http://localhost:5000/native"),
    ];
    for (client, uri) in cases {
        let url = authorize_url(
            &app,
            &[
                ("response_type", "code"),
                ("client_id", &client.id),
                ("redirect_uri", uri),
                ("scope", "openid"),
                ("state", "xyz"),
                ("code_challenge", &p.challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let res = browser.get(url).send().await.expect("authorize");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(res.headers().get("location").is_none(), "{uri}");
        assert!(res.text().await.expect("html").contains("<h1>"), "{uri}");
    }
    // RFC 8252 §7.3: a native (public) client's loopback redirect may use any port.
    let url = authorize_url(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", &public.id),
            ("redirect_uri", "http://127.0.0.1:51234/native"),
            ("scope", "openid"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let res = browser.get(url).send().await.expect("authorize");
    assert!(
        location(&res).starts_with("http://127.0.0.1:51234/native?code="),
        "{}",
        location(&res)
    );
    // An unknown client is a page too.
    let res = browser
        .get(authorize_url(
            &app,
            &[
                ("response_type", "code"),
                ("client_id", "nope"),
                ("redirect_uri", CB),
            ],
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// RFC 6749 §3.1: parameters must not be repeated. A repeated client_id or redirect_uri
/// cannot be trusted, so it is a page; others are sent back as invalid_request.
async fn repeated_authorization_parameters_are_refused(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let mut twice = standard(&c, &p, "openid");
    twice.push(("scope", "openid profile"));
    assert_eq!(authorize_error(&app, &twice).await, "invalid_request");
    let mut client_twice = standard(&c, &p, "openid");
    client_twice.push(("client_id", c.id.as_str()));
    let browser = http_client();
    let res = browser
        .get(authorize_url(&app, &client_twice))
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
}

/// RFC 6749 §4.1.2.1: unsupported_response_type and invalid_scope go back to the client.
async fn bad_response_types_and_scopes_go_back_to_the_client(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let mut token = standard(&c, &p, "openid");
    token[0] = ("response_type", "token");
    assert_eq!(
        authorize_error(&app, &token).await,
        "unsupported_response_type"
    );
    assert_eq!(
        authorize_error(&app, &standard(&c, &p, "openid admin")).await,
        "invalid_scope"
    );
}

/// DESIGN §3, RFC 9700 §4.14.2: refresh tokens rotate; presenting a used one revokes the whole
/// family, the newest token included.
async fn refresh_token_reuse_revokes_the_family(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let code = get_code(
        &app,
        &http_client(),
        &standard(&c, &p, "openid offline_access"),
    )
    .await;
    let tokens: Value = redeem(&app, &c, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let first = tokens["refresh_token"].as_str().expect("rt").to_string();
    let res = refresh(&app, &c, &first, None).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.expect("json");
    let second = second["refresh_token"]
        .as_str()
        .expect("successor")
        .to_string();
    assert_ne!(first, second);

    let (_, error) = error_of(refresh(&app, &c, &first, None).await).await;
    assert_eq!(error, "invalid_grant", "a used refresh token is refused");
    let (_, error) = error_of(refresh(&app, &c, &second, None).await).await;
    assert_eq!(error, "invalid_grant", "reuse revoked the whole family");
}

/// DESIGN §3: within the grace window a token refreshed twice (two tabs) succeeds twice.
async fn a_double_refresh_within_the_grace_window_succeeds(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.refresh_token_grace = std::time::Duration::from_secs(10)
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", true).await;
    let p = pkce();
    let code = get_code(
        &app,
        &http_client(),
        &standard(&c, &p, "openid offline_access"),
    )
    .await;
    let tokens: Value = redeem(&app, &c, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let rt = tokens["refresh_token"].as_str().expect("rt").to_string();
    let (a, b) = tokio::join!(refresh(&app, &c, &rt, None), refresh(&app, &c, &rt, None));
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    // Past the window, the same token is reuse.
    app.clock.advance(11);
    let (_, error) = error_of(refresh(&app, &c, &rt, None).await).await;
    assert_eq!(error, "invalid_grant");
}

/// RFC 6749 §6: the scope may be narrowed, never widened.
async fn refresh_can_narrow_but_not_widen_the_scope(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let code = get_code(
        &app,
        &http_client(),
        &standard(&c, &p, "openid offline_access"),
    )
    .await;
    let tokens: Value = redeem(&app, &c, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let rt = tokens["refresh_token"].as_str().expect("rt").to_string();
    let (_, error) =
        error_of(refresh(&app, &c, &rt, Some("openid offline_access email")).await).await;
    assert_eq!(error, "invalid_scope");
    let res = refresh(&app, &c, &rt, Some("offline_access")).await;
    assert_eq!(res.status(), 200);
    let narrowed: Value = res.json().await.expect("json");
    assert_eq!(narrowed["scope"], "offline_access");
    assert!(narrowed.get("id_token").is_none(), "no openid, no ID token");
}

/// RFC 6749 §5.2: a wrong secret at the token endpoint is invalid_client, 401.
async fn a_wrong_client_secret_is_invalid_client(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let code = get_code(&app, &http_client(), &standard(&c, &p, "openid")).await;
    let res = app
        .post_token_basic(
            &c.id,
            "tcs_wrong",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &p.verifier),
            ],
        )
        .await;
    assert_eq!(
        error_of(res).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".to_string())
    );
}

/// OIDC Core §3.1.2.1 and §3.1.2.3: single sign-on without the form; prompt=login shows it;
/// prompt=none without a session is login_required; logout ends SSO.
async fn single_sign_on_and_prompts(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let browser = http_client();
    let none = [standard(&c, &p, "openid"), vec![("prompt", "none")]].concat();
    let res = browser
        .get(authorize_url(&app, &none))
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        query_of(&location(&res)).get("error").map(String::as_str),
        Some("login_required")
    );

    get_code(&app, &browser, &standard(&c, &p, "openid")).await;
    // Signed in: straight back to the client with a code, no form.
    let res = browser
        .get(authorize_url(&app, &standard(&c, &p, "openid")))
        .send()
        .await
        .expect("authorize");
    assert!(
        query_of(&location(&res)).contains_key("code"),
        "{}",
        location(&res)
    );
    let res = browser
        .get(authorize_url(&app, &none))
        .send()
        .await
        .expect("authorize");
    assert!(query_of(&location(&res)).contains_key("code"));
    // prompt=login asks again.
    let login = [standard(&c, &p, "openid"), vec![("prompt", "login")]].concat();
    let res = browser
        .get(authorize_url(&app, &login))
        .send()
        .await
        .expect("authorize");
    assert!(location(&res).starts_with("/login"), "{}", location(&res));
    // max_age=0 too, once time has passed.
    app.clock.advance(5);
    let aged = [standard(&c, &p, "openid"), vec![("max_age", "1")]].concat();
    let res = browser
        .get(authorize_url(&app, &aged))
        .send()
        .await
        .expect("authorize");
    assert!(location(&res).starts_with("/login"));

    let csrf = app.account_csrf(&browser).await;
    browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    let res = browser
        .get(authorize_url(&app, &standard(&c, &p, "openid")))
        .send()
        .await
        .expect("authorize");
    assert!(location(&res).starts_with("/login"), "logout ends SSO");
}

/// Consent: shown for third-party clients, remembered, asked again with prompt=consent;
/// denial is access_denied (RFC 6749 §4.1.2.1).
async fn consent_is_asked_remembered_and_can_be_denied(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = client(&app, "confidential", false).await;
    let p = pkce();
    let browser = http_client();
    let deny = Browser {
        consent: Some("deny"),
        ..ALICE
    };
    let res = app
        .browse(
            &browser,
            &authorize_url(&app, &standard(&c, &p, "openid profile")),
            deny,
        )
        .await;
    let q = query_of(&location(&res));
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));

    let page = browser
        .get(authorize_url(&app, &standard(&c, &p, "openid profile")))
        .send()
        .await
        .expect("consent");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Photo app") && html.contains("See your username and name"));

    get_code(&app, &browser, &standard(&c, &p, "openid profile")).await;
    // Remembered: no page the second time.
    let res = browser
        .get(authorize_url(&app, &standard(&c, &p, "openid profile")))
        .send()
        .await
        .expect("a");
    assert!(query_of(&location(&res)).contains_key("code"));
    // A wider scope, or prompt=consent, asks again.
    let res = browser
        .get(authorize_url(
            &app,
            &standard(&c, &p, "openid profile email"),
        ))
        .send()
        .await
        .expect("a");
    assert_eq!(res.status(), 200);
    let again = [standard(&c, &p, "openid"), vec![("prompt", "consent")]].concat();
    let res = browser
        .get(authorize_url(&app, &again))
        .send()
        .await
        .expect("a");
    assert_eq!(res.status(), 200);
    // prompt=none cannot show the page.
    let silent = [standard(&c, &p, "openid email"), vec![("prompt", "none")]].concat();
    let res = browser
        .get(authorize_url(&app, &silent))
        .send()
        .await
        .expect("a");
    assert_eq!(
        query_of(&location(&res)).get("error").map(String::as_str),
        Some("consent_required")
    );
    // The consent form is CSRF-protected.
    let res = browser
        .post(app.url("/consent"))
        .form(
            &[
                standard(&c, &p, "openid email"),
                vec![("decision", "allow"), ("csrf", "forged")],
            ]
            .concat(),
        )
        .send()
        .await
        .expect("consent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// OIDC Core §5.3.3, RFC 6750 §3.1: bad, expired or foreign tokens get 401 invalid_token with
/// a Bearer challenge; a token without openid gets 403 insufficient_scope.
async fn userinfo_refuses_bad_expired_and_foreign_tokens(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let code = get_code(&app, &http_client(), &standard(&c, &p, "openid email")).await;
    let tokens: Value = redeem(&app, &c, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let at = tokens["access_token"].as_str().expect("at").to_string();
    let get = |token: String| {
        let client = app.client.clone();
        let url = app.url("/userinfo");
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("userinfo")
        }
    };
    let ok = get(at.clone()).await;
    assert_eq!(ok.status(), 200);
    let info: Value = ok.json().await.expect("json");
    assert_eq!(info["email"], "alice@example.com");
    assert!(
        info.get("preferred_username").is_none(),
        "no profile scope, no profile claims"
    );

    let none = app
        .client
        .get(app.url("/userinfo"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(
        none.headers()["www-authenticate"]
            .to_str()
            .expect("h")
            .starts_with("Bearer")
    );
    let mut forged = at.clone();
    forged.pop();
    let bad = get(forged).await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .expect("h")
            .contains("invalid_token")
    );
    // A token from another issuer (another Tessera with its own keys).
    let other = spawn_app(backend).await;
    let svc = other.create_service_client("api").await;
    let foreign: Value = other
        .post_token_basic(
            &svc.id,
            svc.secret(),
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .expect("json");
    let res = get(foreign["access_token"].as_str().expect("at").to_string()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Our own client_credentials token has no openid scope.
    let svc = app.create_service_client("api").await;
    let own: Value = app
        .post_token_basic(
            &svc.id,
            svc.secret(),
            &[("grant_type", "client_credentials")],
        )
        .await
        .json()
        .await
        .expect("json");
    let res = get(own["access_token"].as_str().expect("at").to_string()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.clock.advance(301);
    assert_eq!(get(at).await.status(), StatusCode::UNAUTHORIZED, "expired");
}

/// OIDC RP-Initiated Logout §2-3: with a matching id_token_hint and a registered
/// post_logout_redirect_uri the session ends and the user goes back with `state`; the
/// session's refresh tokens stop working. An unregistered URI is an error page.
async fn rp_initiated_logout_ends_the_session_and_its_refresh_tokens(backend: Backend) {
    let (app, c) = setup(backend).await;
    let p = pkce();
    let browser = http_client();
    let code = get_code(&app, &browser, &standard(&c, &p, "openid offline_access")).await;
    let tokens: Value = redeem(&app, &c, &code, &p.verifier)
        .await
        .json()
        .await
        .expect("json");
    let id_token = tokens["id_token"].as_str().expect("id token");
    let rt = tokens["refresh_token"].as_str().expect("rt");

    let bad = browser
        .get(app.url(&format!(
            "/end-session?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/"
        )))
        .send()
        .await
        .expect("end-session");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        browser
            .get(app.url("/account"))
            .send()
            .await
            .expect("a")
            .status(),
        200,
        "still signed in"
    );

    let res = browser
        .get(app.url(&format!(
            "/end-session?id_token_hint={id_token}&post_logout_redirect_uri=https://app.example.com/bye&state=s1"
        )))
        .send()
        .await
        .expect("end-session");
    assert_eq!(location(&res), "https://app.example.com/bye?state=s1");
    assert_eq!(
        browser
            .get(app.url("/account"))
            .send()
            .await
            .expect("a")
            .status(),
        StatusCode::SEE_OTHER
    );
    let (_, error) = error_of(refresh(&app, &c, rt, None).await).await;
    assert_eq!(
        error, "invalid_grant",
        "the session's refresh tokens are revoked"
    );

    // Without a hint, a signed-in user is asked first (no forced cross-site logout).
    app.login_as(&browser, "alice", PASSWORD).await;
    let page = browser
        .get(app.url("/end-session"))
        .send()
        .await
        .expect("end-session");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("Sign out of Tessera?")
    );
    assert_eq!(
        browser
            .get(app.url("/account"))
            .send()
            .await
            .expect("a")
            .status(),
        200
    );
}

dual!(
    pkce_is_required_and_only_s256_is_accepted,
    a_wrong_code_verifier_is_invalid_grant,
    a_replayed_code_fails_and_revokes_the_first_tokens,
    a_code_redeemed_by_another_client_is_invalid_grant,
    an_expired_code_is_invalid_grant,
    a_different_redirect_uri_at_the_token_endpoint_is_invalid_grant,
    unregistered_redirect_uris_are_never_redirected_to,
    repeated_authorization_parameters_are_refused,
    bad_response_types_and_scopes_go_back_to_the_client,
    refresh_token_reuse_revokes_the_family,
    a_double_refresh_within_the_grace_window_succeeds,
    refresh_can_narrow_but_not_widen_the_scope,
    a_wrong_client_secret_is_invalid_client,
    single_sign_on_and_prompts,
    consent_is_asked_remembered_and_can_be_denied,
    userinfo_refuses_bad_expired_and_foreign_tokens,
    rp_initiated_logout_ends_the_session_and_its_refresh_tokens
);

/// A client registered for ES256 gets ES256 access and ID tokens from the code and refresh
/// grants, and the ID token verifies against the published JWKS with jsonwebtoken.
async fn an_es256_client_gets_es256_id_tokens_that_verify_against_the_jwks(backend: Backend) {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let c = app
        .create_client(RegistrationInput {
            name: "EC app".into(),
            client_type: "confidential".into(),
            redirect_uris: vec![CB.into()],
            scope: Some("openid profile offline_access".into()),
            first_party: true,
            signing_alg: Some("ES256".into()),
            ..RegistrationInput::default()
        })
        .await;
    let p = pkce();
    let browser = http_client();
    let code = get_code(
        &app,
        &browser,
        &standard(&c, &p, "openid profile offline_access"),
    )
    .await;
    let res = redeem(&app, &c, &code, &p.verifier).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    let set: JwkSet = app.get("/jwks").await.json().await.expect("jwks");
    let check = |token: &str, aud: Option<&str>| {
        let header = jsonwebtoken::decode_header(token).expect("header");
        assert_eq!(header.alg, Algorithm::ES256);
        let jwk = set.find(header.kid.as_deref().expect("kid")).expect("kid");
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[&app.address]);
        match aud {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).expect("key"), &v)
            .expect("verifies")
            .claims
    };
    let id = check(body["id_token"].as_str().expect("id_token"), Some(&c.id));
    assert_eq!(id["nonce"], "n-0S6");
    check(body["access_token"].as_str().expect("at"), None);

    let res = refresh(&app, &c, body["refresh_token"].as_str().expect("rt"), None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    check(body["access_token"].as_str().expect("at"), None);
}

dual!(an_es256_client_gets_es256_id_tokens_that_verify_against_the_jwks);
