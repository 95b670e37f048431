//! `POST /revoke` (RFC 7009).

use serde_json::Value;
use tessera::tokens::opaque::{self, Kind};

use crate::dual;
use crate::helpers::{Backend, spawn_app};

/// RFC 7009 §2.1-2.2: a client revokes its access token: 200, and from then on introspection
/// (RFC 7662 §2.2) says it is inactive. Revoking it again is still a 200 (§2.2).
async fn a_revoked_access_token_is_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let token = app.access_token(&client).await;
    let other = app.access_token(&client).await;
    assert_eq!(app.introspect(&client, &token).await["active"], true);

    let res = app.revoke(&client, &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.text().await.unwrap().is_empty());
    assert_eq!(
        app.introspect(&client, &token).await,
        serde_json::json!({ "active": false })
    );
    // Only that token: the client's other token is untouched.
    assert_eq!(app.introspect(&client, &other).await["active"], true);

    // §2.2: already revoked; token_type_hint is only a hint (§2.1), even a wrong one.
    let res = app
        .post_form_basic(
            "/revoke",
            &client,
            &[("token", &token), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.state.revocations.len(), 1, "revoked once, not twice");
}

/// RFC 7009 §2.2: "invalid tokens do not cause an error response since the client cannot
/// handle such an error in a reasonable way": unknown, malformed, expired: all 200.
async fn an_unknown_or_malformed_token_answers_200(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let expired = app.access_token(&client).await;
    app.clock.advance(301);
    let refresh = opaque::generate(Kind::Refresh);
    for token in ["garbage", "a.b.c", refresh.as_str(), expired.as_str()] {
        let res = app.revoke(&client, token).await;
        assert_eq!(res.status(), 200, "{token}");
    }
    assert!(app.state.revocations.is_empty());
}

/// RFC 7009 §2.1: the server "verifies whether the token was issued to the client making the
/// revocation request". Another client's token is left alone; the answer is the same 200 as
/// for an unknown token (§2.2), so a client learns nothing about other clients' tokens.
async fn another_clients_token_answers_200_and_stays_active(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.create_service_client("api.read").await;
    let intruder = app.create_service_client("api.read").await;
    let token = app.access_token(&owner).await;

    let res = app.revoke(&intruder, &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.introspect(&owner, &token).await["active"], true);
    assert!(app.state.revocations.is_empty());
}

/// RFC 7009 §2.1: the client authenticates (RFC 6749 §2.3); without that, 401 invalid_client.
async fn revocation_requires_client_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let token = app.access_token(&client).await;
    app.assert_requires_client_auth("/revoke", &client, &token)
        .await;
    assert_eq!(app.introspect(&client, &token).await["active"], true);
}

/// RFC 7009 §2.1: `token` is REQUIRED; a request without it is invalid_request (RFC 6749
/// §5.2), and the endpoint answers POST only.
async fn a_revocation_request_without_a_token_is_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let res = app
        .post_form_basic("/revoke", &client, &[("token_type_hint", "access_token")])
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    assert_eq!(app.get("/revoke").await.status(), 405);
}

dual!(
    a_revoked_access_token_is_inactive,
    an_unknown_or_malformed_token_answers_200,
    another_clients_token_answers_200_and_stays_active,
    revocation_requires_client_authentication,
    a_revocation_request_without_a_token_is_invalid_request,
);
