//! OpenID Connect Native SSO for Mobile Apps 1.0 through the RFC 8693 token-exchange grant:
//! a vendor's apps share a device's sign-in. Sections cited are the Native SSO spec's unless
//! they say RFC 8693.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tessera::oauth::client::RegistrationInput;

use crate::admin::between;
use crate::code_flow::{Pkce, authorize_url, error_of, pkce};
use crate::dual;
use crate::helpers::{
    Backend, Browser, PASSWORD, TestApp, TestClient, csrf_in, hidden_inputs, http_client,
    jwt_claims, location, query_of, spawn_app, spawn_node,
};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const DEVICE_SECRET: &str = "urn:openid:params:token-type:device-secret";
const MAIL_CB: &str = "com.example.mail:/oauth2redirect";
const FIRST_SCOPE: &str = "openid profile offline_access device_sso";
const ALICE: Browser<'static> = Browser {
    username: "alice",
    password: PASSWORD,
    consent: Some("allow"),
};

/// A public mobile app of `group` (None: in no group) with PKCE and a private-use redirect.
async fn app_of(app: &TestApp, name: &str, group: Option<&str>, scope: &str) -> TestClient {
    register(app, name, group, scope, false).await
}

/// A first-party app of `group`: it needs no stored consent to join the device's sign-in.
async fn first_party_app_of(app: &TestApp, name: &str, group: &str, scope: &str) -> TestClient {
    register(app, name, Some(group), scope, true).await
}

async fn register(
    app: &TestApp,
    name: &str,
    group: Option<&str>,
    scope: &str,
    first_party: bool,
) -> TestClient {
    app.create_client(RegistrationInput {
        name: name.into(),
        client_type: "public".into(),
        redirect_uris: vec![MAIL_CB.into()],
        grant_types: vec![
            "authorization_code".into(),
            "refresh_token".into(),
            EXCHANGE.into(),
        ],
        scope: Some(scope.into()),
        native_sso_group: group.map(str::to_string),
        first_party,
        ..RegistrationInput::default()
    })
    .await
}

/// The first app signs in with the code flow (PKCE, private-use redirect) and asks for
/// `device_sso`; its token response.
async fn first_app_tokens(
    app: &TestApp,
    c: &TestClient,
    browser: &reqwest::Client,
    scope: &str,
) -> Value {
    let (code, verifier) = first_app_code(app, c, browser, scope).await;
    let res = redeem(app, c, &code, &verifier).await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

/// The code flow up to the code: (code, PKCE verifier).
async fn first_app_code(
    app: &TestApp,
    c: &TestClient,
    browser: &reqwest::Client,
    scope: &str,
) -> (String, String) {
    let p: Pkce = pkce();
    let params = [
        ("response_type", "code"),
        ("client_id", c.id.as_str()),
        ("redirect_uri", MAIL_CB),
        ("scope", scope),
        ("state", "s"),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let res = app
        .browse(browser, &authorize_url(app, &params), ALICE)
        .await;
    let to = location(&res);
    assert!(to.starts_with(MAIL_CB), "{to}");
    let code = query_of(&to.replacen(MAIL_CB, "https://x/", 1))["code"].clone();
    (code, p.verifier)
}

/// The code redemption of a public app.
async fn redeem(app: &TestApp, c: &TestClient, code: &str, verifier: &str) -> reqwest::Response {
    app.post_token(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", MAIL_CB),
        ("code_verifier", verifier),
        ("client_id", &c.id),
    ])
    .await
}

/// The token exchange of §4.1 by `c` with the first app's ID token and device secret.
async fn exchange(
    app: &TestApp,
    c: &TestClient,
    id_token: &str,
    device_secret: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let issuer = app.address.clone();
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("client_id", c.id.as_str()),
        ("subject_token", id_token),
        ("subject_token_type", ID_TOKEN),
        ("actor_token", device_secret),
        ("actor_token_type", DEVICE_SECRET),
        ("audience", issuer.as_str()),
    ];
    for (k, v) in extra {
        form.retain(|(name, _)| name != k);
        form.push((k, v));
    }
    form.retain(|(_, v)| !v.is_empty());
    app.post_token(&form).await
}

/// The refresh grant for a public client.
async fn refresh(app: &TestApp, c: &TestClient, token: &str) -> reqwest::Response {
    app.post_token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", &c.id),
    ])
    .await
}

/// Signs the browser's user out (the login session ends).
async fn logout(app: &TestApp, browser: &reqwest::Client) {
    let csrf = app.account_csrf(browser).await;
    let res = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection());
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// Two apps of group `acme`, signed in to the first; (first app's tokens, first, second).
async fn setup(app: &TestApp, browser: &reqwest::Client) -> (Value, TestClient, TestClient) {
    app.create_user("alice", PASSWORD).await;
    let mail = app_of(app, "Mail", Some("acme"), FIRST_SCOPE).await;
    let photos = first_party_app_of(app, "Photos", "acme", FIRST_SCOPE).await;
    let tokens = first_app_tokens(app, &mail, browser, FIRST_SCOPE).await;
    (tokens, mail, photos)
}

/// §3.4: with `device_sso` granted to an app of a group, the token response carries a
/// `device_secret`, and the ID token `sid` and `ds_hash` (the left half of the SHA-256 of the
/// secret for RS256, base64url, as `at_hash`). The store keeps only the secret's hash (§3.2).
async fn the_first_app_gets_a_device_secret_and_an_id_token_bound_to_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tokens, mail, _) = setup(&app, &http_client()).await;
    let secret = str_of(&tokens, "device_secret");
    assert!(secret.starts_with("tds_"), "{secret}");
    let claims = jwt_claims(str_of(&tokens, "id_token"));
    assert_eq!(claims["aud"], mail.id.as_str());
    assert!(claims["sid"].is_string(), "{claims}");
    let expected = URL_SAFE_NO_PAD.encode(&Sha256::digest(secret.as_bytes())[..16]);
    assert_eq!(claims["ds_hash"], expected.as_str());

    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.db.url)
        .await
        .expect("connect");
    let stored: Vec<(String,)> = sqlx::query_as("select secret_hash from device_secrets")
        .fetch_all(&mut db)
        .await
        .expect("device_secrets");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, secret);
    assert!(!stored[0].0.contains(&secret[4..]));

    // Without a group, `device_sso` cannot even be registered (§3.1: the secret is shared
    // only within a group), and a code flow without it gets no secret.
    let plain = first_app_tokens(&app, &mail, &http_client(), "openid profile").await;
    assert!(plain.get("device_secret").is_none(), "{plain}");
    assert!(
        jwt_claims(str_of(&plain, "id_token"))
            .get("ds_hash")
            .is_none()
    );
}

/// §4.2, §4.3: a second app of the group gets its own tokens without a login page, with an
/// ID token that expired long ago (its expiry is not checked), in the same session: its ID
/// token has the same `sid` and `ds_hash`. RFC 8693 §2.2.1: `issued_token_type`.
async fn a_second_app_of_the_group_signs_in_silently_with_an_expired_id_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let rs = app.create_resource_server_client().await;
    let (tokens, _mail, photos) = setup(&app, &http_client()).await;
    let id_token = str_of(&tokens, "id_token");
    let first = jwt_claims(id_token);
    app.clock.advance(3600);
    assert!(first["exp"].as_i64().unwrap() < app.clock.now());

    let res = exchange(
        &app,
        &photos,
        id_token,
        str_of(&tokens, "device_secret"),
        &[],
    )
    .await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.expect("json");
    assert_eq!(got["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(got["token_type"], "Bearer");
    assert!(got.get("device_secret").is_none(), "{got}");
    assert!(got["refresh_token"].is_string(), "{got}");
    let second = jwt_claims(str_of(&got, "id_token"));
    assert_eq!(second["aud"], photos.id.as_str());
    assert_eq!(second["sub"], first["sub"]);
    assert_eq!(second["sid"], first["sid"]);
    assert_eq!(second["ds_hash"], first["ds_hash"]);
    let access = str_of(&got, "access_token");
    let info = app.introspect(&rs, access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], photos.id.as_str());
    // The second app takes part in the session, so logout (and back-channel logout) reach it.
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.db.url)
        .await
        .unwrap();
    let members: Vec<(String,)> =
        sqlx::query_as("select client_id from session_clients where sid = $1")
            .bind(first["sid"].as_str().unwrap().to_string())
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert!(members.iter().any(|(c,)| *c == photos.id), "{members:?}");
    // The second app's refresh token works like any other.
    let res = refresh(&app, &photos, str_of(&got, "refresh_token")).await;
    assert_eq!(res.status(), 200);
}

/// A device secret dies with its session: once the session is idle longer than
/// `session_idle_ttl`, the exchange is `invalid_grant` (§4.3: the session must be alive).
async fn a_device_secret_dies_with_its_idle_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tokens, _, photos) = setup(&app, &http_client()).await;
    app.clock.advance(2 * 3600 + 1);
    let res = exchange(
        &app,
        &photos,
        str_of(&tokens, "id_token"),
        str_of(&tokens, "device_secret"),
        &[],
    )
    .await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
}

/// RFC 8693 §2.2.1: asked for an ID token (`requested_token_type`), the second app gets it in
/// `access_token`, with `token_type` `N_A` and `issued_token_type` naming it, and no refresh
/// token.
async fn a_second_app_may_ask_for_an_id_token_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tokens, _mail, photos) = setup(&app, &http_client()).await;
    let first = jwt_claims(str_of(&tokens, "id_token"));
    let res = exchange(
        &app,
        &photos,
        str_of(&tokens, "id_token"),
        str_of(&tokens, "device_secret"),
        &[("requested_token_type", ID_TOKEN)],
    )
    .await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.unwrap();
    assert_eq!(got["issued_token_type"], ID_TOKEN);
    assert_eq!(got["token_type"], "N_A");
    // RFC 8693 §2.2.1: expires_in is the issued token's lifetime: the ID token's.
    let issued = jwt_claims(str_of(&got, "access_token"));
    assert_eq!(
        got["expires_in"].as_i64(),
        Some(issued["exp"].as_i64().unwrap() - issued["iat"].as_i64().unwrap())
    );
    assert!(got["expires_in"].as_i64().unwrap() > 0, "{got}");
    assert!(got.get("refresh_token").is_none(), "{got}");
    assert!(got.get("id_token").is_none(), "{got}");
    let id_token = jwt_claims(str_of(&got, "access_token"));
    assert_eq!(id_token["aud"], photos.id.as_str());
    assert_eq!(id_token["sid"], first["sid"]);
    assert_eq!(id_token["ds_hash"], first["ds_hash"]);
}

/// §4.3: only apps of the ID token's group may exchange it: an app of another group gets
/// `invalid_grant`; an app of no group may not use the exchange at all (RFC 6749 §5.2
/// `unauthorized_client`).
async fn an_app_of_another_group_gets_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tokens, _, _) = setup(&app, &http_client()).await;
    let other = app_of(&app, "Rival", Some("globex"), FIRST_SCOPE).await;
    let loner = app_of(&app, "Loner", None, "openid profile").await;
    for (c, code) in [(&other, "invalid_grant"), (&loner, "unauthorized_client")] {
        let res = exchange(
            &app,
            c,
            str_of(&tokens, "id_token"),
            str_of(&tokens, "device_secret"),
            &[("scope", "openid")],
        )
        .await;
        assert_eq!(
            error_of(res).await,
            (reqwest::StatusCode::BAD_REQUEST, code.into())
        );
    }
}

/// §4.3: a device secret that is not one, or was revoked, is `invalid_grant`. Revoking the
/// device secret (RFC 7009, any app of the group) signs the device out: the session ends with
/// every app's tokens.
async fn a_wrong_or_revoked_device_secret_is_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tokens, mail, photos) = setup(&app, &http_client()).await;
    let id_token = str_of(&tokens, "id_token");
    let secret = str_of(&tokens, "device_secret");
    let forged = format!("tds_{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
    for wrong in [
        forged.as_str(),
        "not-a-secret",
        str_of(&tokens, "refresh_token"),
    ] {
        let res = exchange(&app, &photos, id_token, wrong, &[]).await;
        assert_eq!(error_of(res).await.1, "invalid_grant", "{wrong}");
    }
    // An app of another group cannot revoke it (RFC 7009 §2.1: left alone).
    let rival = app_of(&app, "Rival", Some("globex"), FIRST_SCOPE).await;
    let res = app
        .client
        .post(app.url("/revoke"))
        .form(&[("token", secret), ("client_id", rival.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        exchange(&app, &photos, id_token, secret, &[])
            .await
            .status(),
        200
    );

    let res = app
        .client
        .post(app.url("/revoke"))
        .form(&[
            ("token", secret),
            ("token_type_hint", "device_secret"),
            ("client_id", mail.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = exchange(&app, &photos, id_token, secret, &[]).await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
    // The session it was bound to ended: the first app's refresh token is dead too.
    let res = refresh(&app, &mail, str_of(&tokens, "refresh_token")).await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
}

/// §4.3: the device secret must be the one the ID token is bound to (`ds_hash`, `sid`): a
/// valid secret of another session of the same user, or another secret of the same session,
/// with a valid ID token, is refused.
async fn a_device_secret_of_another_session_does_not_match_the_id_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = http_client();
    let (tokens, mail, photos) = setup(&app, &browser).await;
    let elsewhere = first_app_tokens(&app, &mail, &http_client(), FIRST_SCOPE).await;
    assert_ne!(
        jwt_claims(str_of(&elsewhere, "id_token"))["sid"],
        jwt_claims(str_of(&tokens, "id_token"))["sid"]
    );
    let res = exchange(
        &app,
        &photos,
        str_of(&tokens, "id_token"),
        str_of(&elsewhere, "device_secret"),
        &[],
    )
    .await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
    // A second code flow in the same browser session: the same `sid`, another device secret.
    // Only `ds_hash` tells the pairs apart.
    let again = first_app_tokens(&app, &mail, &browser, FIRST_SCOPE).await;
    assert_eq!(
        jwt_claims(str_of(&again, "id_token"))["sid"],
        jwt_claims(str_of(&tokens, "id_token"))["sid"]
    );
    let res = exchange(
        &app,
        &photos,
        str_of(&tokens, "id_token"),
        str_of(&again, "device_secret"),
        &[],
    )
    .await;
    assert_eq!(error_of(res).await.1, "invalid_grant", "ds_hash mismatch");
    // One secret per app and session: the second code flow replaced the first one's secret,
    // so the first pair is dead and the session holds one row for Mail.
    assert_refused(&app, &photos, &tokens).await;
    assert_eq!(device_secret_rows(&app).await, 2, "one per session");
    // Each live pair on its own works.
    for t in [&elsewhere, &again] {
        let res = exchange(
            &app,
            &photos,
            str_of(t, "id_token"),
            str_of(t, "device_secret"),
            &[],
        )
        .await;
        assert_eq!(res.status(), 200);
    }
}

/// Signing out ends every app's session and tokens of the device, on every node: the exchange
/// fails, and the second app's tokens are inactive at introspection and refresh.
async fn after_logout_the_exchange_fails_and_the_second_apps_tokens_are_dead(backend: Backend) {
    let app = spawn_app(backend).await;
    let rs = app.create_resource_server_client().await;
    let node_b = match backend {
        Backend::Postgres => Some(spawn_node(&app).await),
        Backend::Sqlite => None, // SQLite is one node
    };
    let browser = http_client();
    let (tokens, _, photos) = setup(&app, &browser).await;
    let (id_token, secret) = (
        str_of(&tokens, "id_token"),
        str_of(&tokens, "device_secret"),
    );
    let got: Value = exchange(&app, &photos, id_token, secret, &[])
        .await
        .json()
        .await
        .unwrap();
    let access = str_of(&got, "access_token");
    assert_eq!(app.introspect(&rs, access).await["active"], true);

    logout(&app, &browser).await;

    let res = exchange(&app, &photos, id_token, secret, &[]).await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
    assert_eq!(app.introspect(&rs, access).await["active"], false);
    if let Some(b) = &node_b {
        assert!(
            soon_inactive(b, &rs, access).await,
            "node B still accepts the second app's token"
        );
        // Node B serves the same issuer.
        let res = exchange(b, &photos, id_token, secret, &[("audience", &app.address)]).await;
        assert_eq!(error_of(res).await.1, "invalid_grant");
    }
    let res = refresh(&app, &photos, str_of(&got, "refresh_token")).await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
}

/// §4.3: the second app gets no more than the first grant (and than it may have): a wider
/// scope is `invalid_scope`; a narrower one is granted as asked.
async fn a_scope_wider_than_the_first_grant_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let mail = app_of(&app, "Mail", Some("acme"), FIRST_SCOPE).await;
    let photos =
        first_party_app_of(&app, "Photos", "acme", "openid profile email device_sso").await;
    let tokens = first_app_tokens(&app, &mail, &http_client(), "openid device_sso").await;
    let (id_token, secret) = (
        str_of(&tokens, "id_token"),
        str_of(&tokens, "device_secret"),
    );
    let res = exchange(
        &app,
        &photos,
        id_token,
        secret,
        &[("scope", "openid profile")],
    )
    .await;
    assert_eq!(error_of(res).await.1, "invalid_scope");
    let got: Value = exchange(&app, &photos, id_token, secret, &[("scope", "openid")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["scope"], "openid");
    assert!(got.get("refresh_token").is_none(), "{got}");
}

/// RFC 8693 §2.1 and §2.2.2: malformed exchange requests are `invalid_request` (missing
/// `subject_token_type`; `actor_token` without `actor_token_type`; an unsupported
/// `requested_token_type` or subject type), and an audience other than the issuer is
/// `invalid_target`.
async fn malformed_exchange_requests_are_refused_as_rfc8693_says(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tokens, _, photos) = setup(&app, &http_client()).await;
    let (id_token, secret) = (
        str_of(&tokens, "id_token"),
        str_of(&tokens, "device_secret"),
    );
    let cases: [(&[(&str, &str)], &str); 6] = [
        // §2.1: subject_token_type is REQUIRED.
        (&[("subject_token_type", "")], "invalid_request"),
        // §2.1: subject_token is REQUIRED.
        (&[("subject_token", "")], "invalid_request"),
        // §2.1: actor_token_type is REQUIRED when actor_token is present.
        (&[("actor_token_type", "")], "invalid_request"),
        // §2.2.2: an unsupported requested_token_type.
        (
            &[(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:saml2",
            )],
            "invalid_request",
        ),
        // §2.2.2: an ID token is no valid access token; an access-token subject is served
        // by the access-token exchange, where a subject_token "invalid for any reason" MUST
        // be `invalid_request`.
        (&[("subject_token_type", ACCESS_TOKEN)], "invalid_request"),
        // §2.2.2: the audience is not one this server issues for.
        (
            &[("audience", "https://elsewhere.example")],
            "invalid_target",
        ),
    ];
    for (extra, code) in cases {
        let res = exchange(&app, &photos, id_token, secret, extra).await;
        assert_eq!(
            error_of(res).await,
            (reqwest::StatusCode::BAD_REQUEST, code.into()),
            "{extra:?}"
        );
    }
    // The same request without the faults succeeds.
    assert_eq!(
        exchange(&app, &photos, id_token, secret, &[])
            .await
            .status(),
        200
    );
    // A client not registered for the grant (RFC 6749 §5.2).
    let no_grant = app
        .create_client(RegistrationInput {
            name: "Old".into(),
            client_type: "public".into(),
            redirect_uris: vec![MAIL_CB.into()],
            native_sso_group: Some("acme".into()),
            ..RegistrationInput::default()
        })
        .await;
    let res = exchange(&app, &no_grant, id_token, secret, &[]).await;
    assert_eq!(error_of(res).await.1, "unauthorized_client");
}

/// Whether `node` finds the token inactive within a second (it learns of revocations by
/// NOTIFY or polling).
async fn soon_inactive(node: &TestApp, rs: &TestClient, token: &str) -> bool {
    for _ in 0..20 {
        if node.introspect(rs, token).await["active"] == false {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The same exchange replayed in parallel: each may succeed, but nothing it issued outlives
/// the session (every grant joins it and dies at logout).
async fn parallel_replays_of_one_exchange_all_die_with_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let rs = app.create_resource_server_client().await;
    let browser = http_client();
    let (tokens, _, photos) = setup(&app, &browser).await;
    let (id_token, secret) = (
        str_of(&tokens, "id_token"),
        str_of(&tokens, "device_secret"),
    );
    let answers = futures_util::future::join_all(
        (0..8).map(|_| exchange(&app, &photos, id_token, secret, &[])),
    )
    .await;
    let mut issued = Vec::new();
    for res in answers {
        assert!(
            res.status() == 200 || res.status() == 400,
            "{}",
            res.status()
        );
        if res.status() == 200 {
            issued.push(res.json::<Value>().await.unwrap());
        }
    }
    assert!(!issued.is_empty());

    logout(&app, &browser).await;
    for got in &issued {
        assert_eq!(
            app.introspect(&rs, str_of(got, "access_token")).await["active"],
            false
        );
        let res = refresh(&app, &photos, str_of(got, "refresh_token")).await;
        assert_eq!(error_of(res).await.1, "invalid_grant");
    }
}

async fn device_secret_rows(app: &TestApp) -> i64 {
    count(app, "select count(*) from device_secrets").await
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.db.url)
        .await
        .expect("connect");
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut db).await.expect("count");
    n
}

/// The exchange of the second app (Photos) with the first app's pair.
async fn photos_exchange(app: &TestApp, photos: &TestClient, tokens: &Value) -> reqwest::Response {
    exchange(
        app,
        photos,
        str_of(tokens, "id_token"),
        str_of(tokens, "device_secret"),
        &[],
    )
    .await
}

/// The exchange with the first app's pair is `invalid_grant`.
async fn assert_refused(app: &TestApp, c: &TestClient, tokens: &Value) {
    let res = photos_exchange(app, c, tokens).await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
}

/// DESIGN §3: a second redemption of the code revokes what the first issued, the device
/// secret with it (it belongs to that grant's family).
async fn a_replayed_code_kills_the_device_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let mail = app_of(&app, "Mail", Some("acme"), FIRST_SCOPE).await;
    let photos = first_party_app_of(&app, "Photos", "acme", FIRST_SCOPE).await;
    let (code, verifier) = first_app_code(&app, &mail, &http_client(), FIRST_SCOPE).await;
    let tokens: Value = redeem(&app, &mail, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(photos_exchange(&app, &photos, &tokens).await.status(), 200);
    let res = redeem(&app, &mail, &code, &verifier).await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
    assert_refused(&app, &photos, &tokens).await;
}

/// Two redemptions of one code at once: the loser revokes what the winner issued, and the
/// winner's device secret (kept in the same transaction as its family) dies with it, whatever
/// the order.
async fn parallel_redemptions_leave_no_live_device_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let mail = app_of(&app, "Mail", Some("acme"), FIRST_SCOPE).await;
    let photos = first_party_app_of(&app, "Photos", "acme", FIRST_SCOPE).await;
    let (code, verifier) = first_app_code(&app, &mail, &http_client(), FIRST_SCOPE).await;
    let answers =
        futures_util::future::join_all((0..4).map(|_| redeem(&app, &mail, &code, &verifier))).await;
    let mut won = Vec::new();
    for res in answers {
        let status = res.status();
        assert!(status == 200 || status == 400, "{status}");
        if status == 200 {
            won.push(res.json::<Value>().await.unwrap());
        }
    }
    assert_eq!(won.len(), 1);
    assert_refused(&app, &photos, &won[0]).await;
}

/// RFC 9700 §4.14: refresh-token reuse revokes the family, and the device secret that came
/// with it.
async fn refresh_token_reuse_kills_the_device_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tokens, mail, photos) = setup(&app, &http_client()).await;
    let first_rt = str_of(&tokens, "refresh_token");
    assert_eq!(refresh(&app, &mail, first_rt).await.status(), 200);
    app.clock.advance(5);
    let res = refresh(&app, &mail, first_rt).await;
    assert_eq!(error_of(res).await.1, "invalid_grant");
    assert_refused(&app, &photos, &tokens).await;
}

/// RFC 7009: the first app revoking its refresh token revokes its grant, the device secret
/// with it.
async fn revoking_the_first_apps_refresh_token_kills_the_device_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tokens, mail, photos) = setup(&app, &http_client()).await;
    let res = app
        .client
        .post(app.url("/revoke"))
        .form(&[
            ("token", str_of(&tokens, "refresh_token")),
            ("client_id", mail.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_refused(&app, &photos, &tokens).await;
}

/// An administrator revoking the first app's tokens stops its device secret for every app of
/// the group, and for good: still after the revocation-list entry (1 h) has expired.
async fn revoking_the_first_apps_tokens_kills_its_device_secret_for_good(backend: Backend) {
    revoked_by_an_administrator_for_good(backend, "client").await;
}

/// The same for an administrator revoking the user's tokens.
async fn revoking_the_users_tokens_kills_the_device_secret_for_good(backend: Backend) {
    revoked_by_an_administrator_for_good(backend, "user").await;
}

/// An administrator revokes the first app's (`client`) or the user's (`user`) tokens through
/// the admin API; the device secret is refused at once and after the entry has expired.
async fn revoked_by_an_administrator_for_good(backend: Backend, kind: &str) {
    let app = spawn_app(backend).await;
    let (tokens, mail, photos) = setup(&app, &http_client()).await;
    let ops = app.create_service_client("tessera:admin").await;
    let token = app.access_token(&ops).await;
    let value = match kind {
        "client" => mail.id.clone(),
        _ => "alice".to_string(),
    };
    let res = app
        .client
        .post(app.url("/admin/api/v1/revocations"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "kind": kind, "value": value }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_refused(&app, &photos, &tokens).await;
    // Past the entry's life (the longest access-token lifetime), within the session's idle
    // time; the purge drops the entry, so only the store's revoked family refuses now.
    app.clock.advance(2 * 3600 - 60);
    let purged = tessera::revocation::purge::purge_once(
        &app.state.store,
        &app.state.revocations,
        app.clock.now(),
    )
    .await
    .unwrap();
    assert!(purged.memory >= 1, "the {kind} entry expired");
    assert_refused(&app, &photos, &tokens).await;
}

/// DESIGN §4: the exchange checks the revocation list for the grant the secret came from (the
/// first app's family and client), not only for the caller: an entry naming either refuses it,
/// and an entry for one grant leaves another alone.
async fn a_revocation_entry_for_the_first_apps_grant_stops_the_exchange(backend: Backend) {
    use tessera::revocation::{Revocation, Target, reason};
    let app = spawn_app(backend).await;
    let (tokens, mail, photos) = setup(&app, &http_client()).await;
    let other = first_app_tokens(&app, &mail, &http_client(), FIRST_SCOPE).await;
    let list = &app.state.revocations;
    let fam = jwt_claims(str_of(&tokens, "access_token"))["fam"]
        .as_str()
        .unwrap()
        .to_string();
    // The list only: the store's family stays unrevoked.
    list.revoke_family(&app.state.store, &fam, reason::ADMIN, app.clock.now())
        .await
        .unwrap();
    assert_refused(&app, &photos, &tokens).await;
    assert_eq!(photos_exchange(&app, &photos, &other).await.status(), 200);
    app.clock.advance(1);
    let target = Target::Client {
        client_id: mail.id.clone(),
        before: app.clock.now(),
    };
    list.revoke(
        &app.state.store,
        Revocation::new(target, reason::ADMIN, app.clock.now()),
    )
    .await
    .unwrap();
    assert_refused(&app, &photos, &other).await;
}

/// Native SSO skips the browser, not the consent: an app that is not first-party gets only
/// what the user approved for it (stored consent).
async fn a_second_app_needs_the_users_consent_or_first_party(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let mail = app_of(&app, "Mail", Some("acme"), FIRST_SCOPE).await;
    let photos = app_of(&app, "Photos", Some("acme"), FIRST_SCOPE).await;
    let tokens = first_app_tokens(&app, &mail, &http_client(), FIRST_SCOPE).await;
    let res = photos_exchange(&app, &photos, &tokens).await;
    let (status, error) = error_of(res).await;
    assert_eq!((status.as_u16(), error.as_str()), (400, "invalid_grant"));

    // The user approves Photos for `openid profile` (its own code flow elsewhere).
    first_app_tokens(&app, &photos, &http_client(), "openid profile").await;
    let narrow = [("scope", "openid profile")];
    let (id_token, secret) = (
        str_of(&tokens, "id_token"),
        str_of(&tokens, "device_secret"),
    );
    let res = exchange(&app, &photos, id_token, secret, &narrow).await;
    assert_eq!(res.status(), 200);
    // More than approved (the default: all the first app got) is still refused.
    assert_refused(&app, &photos, &tokens).await;
    // A first-party app needs no stored consent.
    let calendar = first_party_app_of(&app, "Calendar", "acme", FIRST_SCOPE).await;
    assert_eq!(
        photos_exchange(&app, &calendar, &tokens).await.status(),
        200
    );
}

/// An exchange without a refresh token stores no refresh family (repeating it stores nothing
/// new); its access token carries no `fam` and still dies at logout, on every node, through
/// its `sid`.
async fn an_exchange_without_a_refresh_token_stores_no_family_and_dies_at_logout(backend: Backend) {
    let app = spawn_app(backend).await;
    let rs = app.create_resource_server_client().await;
    let node_b = match backend {
        Backend::Postgres => Some(spawn_node(&app).await),
        Backend::Sqlite => None,
    };
    let browser = http_client();
    let (tokens, _, photos) = setup(&app, &browser).await;
    let families = count(&app, "select count(*) from refresh_families").await;
    let (id_token, secret) = (
        str_of(&tokens, "id_token"),
        str_of(&tokens, "device_secret"),
    );
    let mut access = Vec::new();
    for extra in [
        [("scope", "openid profile")],
        [("requested_token_type", ID_TOKEN)],
    ] {
        let got: Value = exchange(&app, &photos, id_token, secret, &extra)
            .await
            .json()
            .await
            .unwrap();
        assert!(got.get("refresh_token").is_none(), "{got}");
        access.push(str_of(&got, "access_token").to_string());
    }
    assert_eq!(
        count(&app, "select count(*) from refresh_families").await,
        families
    );
    let at = &access[0];
    assert!(jwt_claims(at).get("fam").is_none(), "{}", jwt_claims(at));
    assert_eq!(app.introspect(&rs, at).await["active"], true);
    logout(&app, &browser).await;
    assert_eq!(app.introspect(&rs, at).await["active"], false);
    if let Some(b) = &node_b {
        assert!(
            soon_inactive(b, &rs, at).await,
            "node B still accepts the token"
        );
    }
}

/// An ID token needs `openid` (OIDC Core §3.1.2.1): asked for without it, `invalid_scope`
/// (RFC 6749 §5.2); and `device_sso` without `openid` is refused at `/authorize`, since the
/// device secret is bound to the ID token.
async fn an_id_token_and_a_device_secret_need_openid(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tokens, mail, photos) = setup(&app, &http_client()).await;
    let res = exchange(
        &app,
        &photos,
        str_of(&tokens, "id_token"),
        str_of(&tokens, "device_secret"),
        &[("requested_token_type", ID_TOKEN), ("scope", "profile")],
    )
    .await;
    assert_eq!(error_of(res).await.1, "invalid_scope");

    let p = pkce();
    let params = [
        ("response_type", "code"),
        ("client_id", mail.id.as_str()),
        ("redirect_uri", MAIL_CB),
        ("scope", "profile device_sso"),
        ("state", "s"),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let res = app
        .browse(&http_client(), &authorize_url(&app, &params), ALICE)
        .await;
    let to = location(&res);
    let q = query_of(&to.replacen(MAIL_CB, "https://x/", 1));
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("invalid_scope"),
        "{to}"
    );
    assert!(!q.contains_key("code"));
}

/// Discovery advertises the grant and Native SSO (§5; RFC 8414 §2).
async fn discovery_advertises_token_exchange_and_native_sso(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["native_sso_supported"], true);
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(grants.iter().any(|g| g == EXCHANGE), "{grants:?}");
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.iter().any(|s| s == "device_sso"), "{scopes:?}");
}

/// The console registers a group member, shows its group on the client's page, and the edit
/// form changes it (empty: no group).
async fn the_console_registers_shows_and_edits_a_native_sso_group(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = crate::admin::enrol_admin(&app).await.client;
    let page = |path: String| {
        let admin = admin.clone();
        let url = app.url(&path);
        async move { admin.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page("/admin/clients/new".into()).await;
    let res = admin
        .post(app.url("/admin/clients"))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("name", "Mail"),
            ("client_type", "public"),
            ("redirect_uris", MAIL_CB),
            ("scope", "openid device_sso"),
            ("native_sso_group", "acme"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = between(
        &res.text().await.unwrap(),
        r#"<code id="client-id">"#,
        "</code>",
    )
    .to_string();
    let detail = page(format!("/admin/clients/{id}")).await;
    assert!(detail.contains("<code>acme</code>"), "{detail}");

    let html = page(format!("/admin/clients/{id}/edit")).await;
    assert!(html.contains(r#"name="native_sso_group" type="text" value="acme""#));
    let mut form = hidden_inputs(&html);
    form.extend([
        ("name".to_string(), "Mail".to_string()),
        ("redirect_uris".to_string(), MAIL_CB.to_string()),
        ("native_sso_group".to_string(), "globex".to_string()),
    ]);
    let res = admin
        .post(app.url(&format!("/admin/clients/{id}/edit")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let detail = page(format!("/admin/clients/{id}")).await;
    assert!(detail.contains("<code>globex</code>"), "{detail}");
}

dual!(
    the_console_registers_shows_and_edits_a_native_sso_group,
    the_first_app_gets_a_device_secret_and_an_id_token_bound_to_it,
    a_second_app_of_the_group_signs_in_silently_with_an_expired_id_token,
    a_second_app_may_ask_for_an_id_token_only,
    a_device_secret_dies_with_its_idle_session,
    an_app_of_another_group_gets_invalid_grant,
    a_wrong_or_revoked_device_secret_is_invalid_grant,
    a_device_secret_of_another_session_does_not_match_the_id_token,
    after_logout_the_exchange_fails_and_the_second_apps_tokens_are_dead,
    a_scope_wider_than_the_first_grant_is_refused,
    malformed_exchange_requests_are_refused_as_rfc8693_says,
    parallel_replays_of_one_exchange_all_die_with_the_session,
    discovery_advertises_token_exchange_and_native_sso,
    a_replayed_code_kills_the_device_secret,
    parallel_redemptions_leave_no_live_device_secret,
    refresh_token_reuse_kills_the_device_secret,
    revoking_the_first_apps_refresh_token_kills_the_device_secret,
    revoking_the_first_apps_tokens_kills_its_device_secret_for_good,
    revoking_the_users_tokens_kills_the_device_secret_for_good,
    a_second_app_needs_the_users_consent_or_first_party,
    a_revocation_entry_for_the_first_apps_grant_stops_the_exchange,
    an_exchange_without_a_refresh_token_stores_no_family_and_dies_at_logout,
    an_id_token_and_a_device_secret_need_openid,
);
