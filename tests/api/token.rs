//! `POST /token` with the client_credentials grant, client authentication, and the access
//! tokens it issues (RFC 6749 §2.3, §3.2, §4.4, §5; RFC 9068).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tessera::oauth::client::RegistrationInput;
use tessera::tokens::access::{AccessTokenError, verify_access_token};

use crate::dual;
use crate::helpers::{Backend, TestApp, TestClient, code_flow_client, service_client, spawn_app};

const CC: (&str, &str) = ("grant_type", "client_credentials");

/// Checks the RFC 6749 §5.2 error shape and the no-store headers (§5.1), returns the body.
async fn assert_error(res: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(res.status(), status);
    assert_no_store(&res);
    let body: Value = res.json().await.expect("a JSON error body");
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

fn assert_no_store(res: &reqwest::Response) {
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["pragma"], "no-cache");
}

/// A client_credentials token response for `client` (Basic, no scope), which must succeed.
async fn issue(app: &TestApp, client: &TestClient) -> Value {
    let res = app
        .post_token_basic(&client.id, client.secret(), &[CC])
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

/// Verifies `token` with jsonwebtoken fed only the published JWKS (not our verifier), returns
/// the header's typ and the claims.
async fn verify_with_published_jwks(app: &TestApp, token: &str) -> (String, Value) {
    let set: JwkSet = app.get("/jwks").await.json().await.expect("jwks");
    let header = jsonwebtoken::decode_header(token).expect("header");
    let jwk = set
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid is published");
    let key = DecodingKey::from_jwk(jwk).expect("key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&app.address]);
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("verifies");
    (header.typ.expect("typ"), data.claims)
}

/// RFC 6749 §4.4 with client_secret_basic (§2.3.1); RFC 9068 §2 token contents.
async fn client_credentials_with_basic_issues_an_at_jwt_that_verifies_against_the_jwks(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read api.write").await;
    let res = app
        .post_token_basic(&client.id, client.secret(), &[CC, ("scope", "api.read")])
        .await;
    assert_eq!(res.status(), 200);
    assert_no_store(&res);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "api.read");
    // RFC 6749 §4.4.3: no refresh token; no user, so no ID token.
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");

    let token = body["access_token"].as_str().expect("access_token");
    let (typ, claims) = verify_with_published_jwks(&app, token).await;
    assert_eq!(typ, "at+jwt");
    assert_eq!(claims["iss"], app.address);
    assert_eq!(claims["sub"], client.id);
    assert_eq!(claims["client_id"], client.id);
    assert_eq!(claims["aud"], client.id);
    assert_eq!(claims["scope"], "api.read");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 300);
    assert!((iat - app.clock.now()).abs() <= 5);
    let jti = claims["jti"].as_str().expect("jti");
    assert!(uuid::Uuid::parse_str(jti).is_ok(), "{jti}");
    for absent in ["sid", "auth_time", "roles", "fam"] {
        assert!(claims.get(absent).is_none(), "{absent} present: {claims}");
    }

    // A second token has its own jti.
    let again: Value = issue(&app, &client).await;
    let (_, claims2) =
        verify_with_published_jwks(&app, again["access_token"].as_str().unwrap()).await;
    assert_ne!(claims2["jti"], claims["jti"]);
}

/// RFC 6749 §2.3.1: client_secret_post.
async fn client_credentials_with_client_secret_post_works(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let res = app
        .post_token(&[
            CC,
            ("client_id", &client.id),
            ("client_secret", client.secret()),
        ])
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let (_, claims) =
        verify_with_published_jwks(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], client.id);
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding, so the server
/// decodes them: a secret with its '_' written as %5F still authenticates.
async fn basic_credentials_are_form_urldecoded(backend: Backend) {
    use base64::Engine;
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let encoded_secret = client.secret().replace('_', "%5F");
    assert_ne!(encoded_secret, client.secret());
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", client.id, encoded_secret));
    let res = app
        .client
        .post(app.url("/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[CC])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// DESIGN §3: a per-client access-token lifetime overrides the setting.
async fn a_per_client_access_token_ttl_is_honoured(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app
        .create_client(RegistrationInput {
            access_token_ttl: Some("90s".into()),
            ..service_client("api.read")
        })
        .await;
    let body: Value = issue(&app, &client).await;
    assert_eq!(body["expires_in"], 90);
    let (_, claims) =
        verify_with_published_jwks(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        90
    );
}

/// RFC 6749 §5.2 invalid_client: a failed Basic authentication is a 401 with
/// `WWW-Authenticate`; the same through the body is a 401 too.
async fn a_wrong_secret_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let res = app
        .post_token_basic(&client.id, "tcs_not-the-secret", &[CC])
        .await;
    assert_eq!(res.headers()["www-authenticate"], "Basic realm=\"tessera\"");
    let wrong = assert_error(res, 401, "invalid_client").await;

    let res = app
        .post_token(&[CC, ("client_id", &client.id), ("client_secret", "nope")])
        .await;
    assert_error(res, 401, "invalid_client").await;

    // RFC 6749 §5.2: an unknown client fails the same way, with the same words (no way to
    // tell which client ids exist).
    let res = app
        .post_token_basic("no-such-client", client.secret(), &[CC])
        .await;
    let unknown = assert_error(res, 401, "invalid_client").await;
    assert_eq!(wrong, unknown);
}

/// RFC 6749 §5.2: no client authentication at all is invalid_client.
async fn a_request_without_client_authentication_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.post_token(&[CC]).await;
    assert_error(res, 401, "invalid_client").await;
    // RFC 6749 §2.3.1: a confidential client cannot skip its secret.
    let client = app.create_service_client("api.read").await;
    let res = app.post_token(&[CC, ("client_id", &client.id)]).await;
    assert_error(res, 401, "invalid_client").await;
    // A scheme other than Basic: the client tried the header and failed (§5.2).
    let res = app
        .client
        .post(app.url("/token"))
        .bearer_auth("abc")
        .form(&[CC])
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("www-authenticate"));
    assert_error(res, 401, "invalid_client").await;
}

/// RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
/// request."
async fn basic_and_client_secret_post_at_once_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let res = app
        .post_token_basic(
            &client.id,
            client.secret(),
            &[
                CC,
                ("client_id", &client.id),
                ("client_secret", client.secret()),
            ],
        )
        .await;
    assert_error(res, 400, "invalid_request").await;
}

/// RFC 6749 §4.1.3 has clients send client_id in the body; beside Basic it is accepted when
/// it names the same client, and is invalid_request (§2.3: one client per request) otherwise.
async fn a_client_id_in_the_body_beside_basic_must_match(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let other = app.create_service_client("api.read").await;
    let res = app
        .post_token_basic(
            &client.id,
            client.secret(),
            &[CC, ("client_id", &client.id)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post_token_basic(&client.id, client.secret(), &[CC, ("client_id", &other.id)])
        .await;
    assert_error(res, 400, "invalid_request").await;
}

/// RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential
/// clients"; §5.2 unauthorized_client: the client may not use this grant type.
async fn a_public_client_cannot_use_client_credentials(backend: Backend) {
    let app = spawn_app(backend).await;
    let public = app.create_client(code_flow_client("public")).await;
    assert!(public.secret.is_none());
    let res = app.post_token(&[CC, ("client_id", &public.id)]).await;
    assert_error(res, 400, "unauthorized_client").await;
}

/// RFC 6749 §5.2 unauthorized_client: a confidential client registered without the grant.
async fn a_client_not_registered_for_the_grant_is_unauthorized_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.create_client(code_flow_client("confidential")).await;
    let res = app.post_token_basic(&web.id, web.secret(), &[CC]).await;
    assert_error(res, 400, "unauthorized_client").await;
}

/// RFC 6749 §5.2 unsupported_grant_type.
async fn an_unknown_grant_type_is_unsupported_grant_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    for grant in ["password", "urn:ietf:params:oauth:grant-type:jwt-bearer"] {
        let res = app
            .post_token_basic(&client.id, client.secret(), &[("grant_type", grant)])
            .await;
        assert_error(res, 400, "unsupported_grant_type").await;
    }
}

/// RFC 6749 §5.2 invalid_request: "missing a required parameter" (grant_type, §4.4.2).
async fn a_missing_grant_type_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let res = app
        .post_token_basic(&client.id, client.secret(), &[("scope", "api.read")])
        .await;
    let body = assert_error(res, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("grant_type")
    );
    // RFC 6749 §3.1: a parameter without a value counts as omitted.
    let res = app
        .post_token_basic(&client.id, client.secret(), &[("grant_type", "")])
        .await;
    assert_error(res, 400, "invalid_request").await;
}

/// RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once."
async fn a_repeated_parameter_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read api.write").await;
    for form in [
        vec![CC, CC],
        vec![CC, ("scope", "api.read"), ("scope", "api.write")],
    ] {
        let res = app
            .post_token_basic(&client.id, client.secret(), &form)
            .await;
        assert_error(res, 400, "invalid_request").await;
    }
    // Two client_ids in the body: also a repeat, not "the first one wins".
    let res = app
        .post_token(&[
            CC,
            ("client_id", &client.id),
            ("client_id", "other"),
            ("client_secret", client.secret()),
        ])
        .await;
    assert_error(res, 400, "invalid_request").await;
}

/// RFC 6749 §5.2 invalid_scope: "exceeds the scope granted by the resource owner" — here the
/// client's registered scopes. User scopes make no sense without a user (§4.4).
async fn a_scope_beyond_the_clients_is_invalid_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("openid api.read").await;
    for scope in ["api.read admin", "api.write", "openid", "bad\"scope"] {
        let res = app
            .post_token_basic(&client.id, client.secret(), &[CC, ("scope", scope)])
            .await;
        assert_error(res, 400, "invalid_scope").await;
    }
}

/// Without a `scope` parameter the client gets its registered scopes minus those that need a
/// user (RFC 6749 §3.3 lets the server pick a default and say so in the response).
async fn without_a_scope_the_client_gets_its_registered_service_scopes(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app
        .create_service_client("openid offline_access api.read api.write")
        .await;
    let body: Value = issue(&app, &client).await;
    assert_eq!(body["scope"], "api.read api.write");
}

/// RFC 6749 §3.2 (POST with application/x-www-form-urlencoded) and §5.2: anything that is not
/// such a body is invalid_request with a JSON error, never a 500 or an HTML page.
async fn malformed_bodies_get_a_json_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let post = |content_type: Option<&'static str>, body: Vec<u8>| {
        let mut req = app
            .client
            .post(app.url("/token"))
            .basic_auth(&client.id, Some(client.secret()))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let form = Some("application/x-www-form-urlencoded");
    let cases: Vec<(Option<&'static str>, Vec<u8>)> = vec![
        (
            Some("application/json"),
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
        ),
        (None, b"grant_type=client_credentials".to_vec()),
        (form, b"grant_type=client_credentials&scope=%FF".to_vec()),
        (
            form,
            b"grant_type=client_credentials&scope=\xc3\x28".to_vec(),
        ),
        (
            form,
            b"grant_type=client_credentials&pad="
                .iter()
                .copied()
                .chain(std::iter::repeat_n(b'a', 2 << 20))
                .collect(),
        ),
        (form, b"%%%&&&===".to_vec()),
    ];
    for (i, (ct, body)) in cases.into_iter().enumerate() {
        let res = post(ct, body).await.unwrap();
        assert_eq!(res.status(), 400, "case {i}");
        assert_error(res, 400, "invalid_request").await;
    }
    // A form with the charset parameter is still a form.
    let res = post(
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        b"grant_type=client_credentials".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
}

/// RFC 6749 §3.2: the token endpoint is POST only. A GET must not be a 404 (discovery
/// advertises the endpoint) and answers with an OAuth error.
async fn other_methods_on_the_token_endpoint_get_405(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/token").await;
    assert_eq!(res.headers()["allow"], "POST");
    assert_error(res, 405, "invalid_request").await;
}

/// DESIGN §8: with the database down, /token answers 503 temporarily_unavailable (RFC 6749
/// §5.2 defines the code for the authorization endpoint; we use it here too) with no detail.
async fn a_store_outage_is_a_503_temporarily_unavailable(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    app.state.store.close().await;
    let res = app
        .post_token_basic(&client.id, client.secret(), &[CC])
        .await;
    let body = assert_error(res, 503, "temporarily_unavailable").await;
    let text = body.to_string().to_lowercase();
    assert!(!text.contains("pool") && !text.contains("sqlx"), "{text}");
}

/// Our own verifier (for /userinfo, /introspect later): accepts the token, refuses it at `exp`
/// (time from the argument, not the wall clock), refuses a JWT whose typ is not at+jwt
/// (RFC 9068 §4) and a token from another issuer.
async fn verify_access_token_checks_typ_issuer_and_expiry(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let body: Value = issue(&app, &client).await;
    let token = body["access_token"].as_str().unwrap();
    let ring = &app.state.keys.current();
    let now = app.clock.now();
    let claims = verify_access_token(ring, &app.address, token, now).expect("valid");
    assert_eq!(claims.client_id, client.id);
    assert!(matches!(
        verify_access_token(ring, &app.address, token, claims.exp),
        Err(AccessTokenError::Expired)
    ));
    assert!(verify_access_token(ring, "https://other.example", token, now).is_err());

    let id_token_like = tessera::tokens::jws::sign(
        ring.active().expect("signer"),
        "JWT",
        &serde_json::json!({"iss": app.address, "sub": "x", "aud": "x", "iat": now, "exp": now + 60}),
    )
    .unwrap();
    assert!(matches!(
        verify_access_token(ring, &app.address, &id_token_like, now),
        Err(AccessTokenError::WrongType)
    ));
}

/// RFC 8414 §2: the metadata names the token endpoint and exactly what it supports.
async fn discovery_advertises_the_token_endpoint(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["token_endpoint"], format!("{}/token", app.address));
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert!(
        doc["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "openid")
    );
}

dual!(
    client_credentials_with_basic_issues_an_at_jwt_that_verifies_against_the_jwks,
    client_credentials_with_client_secret_post_works,
    basic_credentials_are_form_urldecoded,
    a_per_client_access_token_ttl_is_honoured,
    a_wrong_secret_is_invalid_client,
    a_request_without_client_authentication_is_invalid_client,
    basic_and_client_secret_post_at_once_is_invalid_request,
    a_client_id_in_the_body_beside_basic_must_match,
    a_public_client_cannot_use_client_credentials,
    a_client_not_registered_for_the_grant_is_unauthorized_client,
    an_unknown_grant_type_is_unsupported_grant_type,
    a_missing_grant_type_is_invalid_request,
    a_repeated_parameter_is_invalid_request,
    a_scope_beyond_the_clients_is_invalid_scope,
    without_a_scope_the_client_gets_its_registered_service_scopes,
    malformed_bodies_get_a_json_400,
    other_methods_on_the_token_endpoint_get_405,
    a_store_outage_is_a_503_temporarily_unavailable,
    verify_access_token_checks_typ_issuer_and_expiry,
    discovery_advertises_the_token_endpoint
);
