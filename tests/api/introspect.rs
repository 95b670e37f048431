//! `POST /introspect` (RFC 7662).

use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::RsaKeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera::keys::SigningKey;
use tessera::oauth::introspection::AccessTokenCheck;
use tessera::tokens::opaque::{self, Kind};

use crate::dual;
use crate::helpers::{Backend, jwt_claims, spawn_app, spawn_node_with};

fn inactive() -> Value {
    json!({ "active": false })
}

/// RFC 7662 §2.2: a live token is active, with its scope, client_id, sub, aud, iss, exp, iat,
/// jti and token_type; the answer is not cached.
async fn a_live_access_token_is_active_with_its_claims(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read api.write").await;
    let token = app.access_token(&client).await;
    let claims = jwt_claims(&token);

    let res = app
        .post_form_basic("/introspect", &client, &[("token", &token)])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "active": true,
            "scope": "api.read api.write",
            "client_id": client.id,
            "token_type": "Bearer",
            "exp": claims["exp"],
            "iat": claims["iat"],
            "sub": client.id,
            "aud": client.id,
            "iss": app.address,
            "jti": claims["jti"],
        })
    );

    // RFC 7662 §2.1: token_type_hint is only a hint; a wrong one does not hide the token.
    let res = app
        .post_form_basic(
            "/introspect",
            &client,
            &[("token", &token), ("token_type_hint", "refresh_token")],
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["active"], true);
    // A resource server is not the token's client, and may introspect it.
    let resource_server = app.create_resource_server_client().await;
    assert_eq!(
        app.introspect(&resource_server, &token).await["active"],
        true
    );
}

/// Issue 11 point 9, RFC 7662 §4: an ordinary client learns nothing about another client's
/// tokens (not even that they are live); the token's own client and a client registered as a
/// resource server do. The same holds for refresh tokens.
async fn only_the_tokens_client_and_resource_servers_see_it_active(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_service_client("api.read").await;
    let b = app.create_service_client("api.read").await;
    let api = app.create_resource_server_client().await;
    let token = app.access_token(&a).await;
    assert_eq!(app.introspect(&a, &token).await["active"], true);
    assert_eq!(app.introspect(&b, &token).await, inactive());
    assert_eq!(app.introspect(&api, &token).await["active"], true);
    assert_eq!(app.introspect(&api, &token).await["client_id"], a.id);
    // B's own token is still active for B.
    let bs = app.access_token(&b).await;
    assert_eq!(app.introspect(&b, &bs).await["active"], true);
    assert_eq!(app.introspect(&a, &bs).await, inactive());
}

/// RFC 7662 §2.2: "active ... has not expired": past `exp`, the token is inactive.
async fn an_expired_access_token_is_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let token = app.access_token(&client).await;
    let exp = jwt_claims(&token)["exp"].as_i64().expect("exp");
    // The test clock runs with real time: set it to the last second before `exp` right before
    // asking, so that a slow machine between the mint and the question changes nothing.
    app.clock.advance(exp - 1 - app.clock.now());
    assert_eq!(app.introspect(&client, &token).await["active"], true);
    app.clock.advance(exp - app.clock.now());
    assert_eq!(app.introspect(&client, &token).await, inactive());
}

/// Introspection remembers verified signatures (by the token's SHA-256), but judges the
/// revocation list and expiry on every request: a token answered active, and so cached, is
/// inactive once revoked; another, once it expires.
async fn a_cached_token_is_inactive_once_revoked_or_expired(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let revoked = app.access_token(&client).await;
    let expiring = app.access_token(&client).await;
    for token in [&revoked, &expiring] {
        assert_eq!(app.introspect(&client, token).await["active"], true);
        assert_eq!(app.introspect(&client, token).await["active"], true);
    }
    assert_eq!(
        app.state.verified_tokens.len(),
        2,
        "both signatures are cached"
    );

    assert_eq!(app.revoke(&client, &revoked).await.status(), 200);
    assert_eq!(app.introspect(&client, &revoked).await, inactive());
    assert_eq!(app.introspect(&client, &expiring).await["active"], true);
    app.clock.advance(300);
    assert_eq!(app.introspect(&client, &expiring).await, inactive());
}

/// RFC 7662 §4 / RFC 8725 §3.1: a token is active only if this server signed it with a key of
/// its ring: a tampered payload, a foreign key (under its own kid or under ours), or
/// `alg: none` are all inactive, and the answer says nothing more.
async fn forged_access_tokens_are_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read api.write").await;
    let token = app
        .post_token_basic(
            &client.id,
            client.secret(),
            &[("grant_type", "client_credentials"), ("scope", "api.read")],
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = jwt_claims(&token);
    claims["scope"] = json!("api.read api.write");
    let tampered_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());

    let tampered = format!("{}.{}.{}", parts[0], tampered_payload, parts[2]);

    let foreign = SigningKey::from_rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()).unwrap();
    let foreign_kid = tessera::tokens::jws::sign(&foreign, "at+jwt", &claims).unwrap();

    let ring = app.state.keys.current();
    let our_kid = ring.active().expect("signer").kid().to_string();
    let header = |alg: &str| {
        URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "typ": "at+jwt", "kid": our_kid }).to_string())
    };
    let input = format!("{}.{}", header("RS256"), tampered_payload);
    let signature = URL_SAFE_NO_PAD.encode(foreign.sign(input.as_bytes()).unwrap());
    let foreign_key_our_kid = format!("{input}.{signature}");
    let alg_none = format!("{}.{}.", header("none"), tampered_payload);

    assert_eq!(app.introspect(&client, &token).await["active"], true);
    for forged in [tampered, foreign_kid, foreign_key_our_kid, alg_none] {
        assert_eq!(
            app.introspect(&client, &forged).await,
            inactive(),
            "{forged}"
        );
    }
}

/// RFC 7662 §2.2 / RFC 9068 §4: a token another server issued is not active here, whether that
/// server has its own keys or shares ours under another issuer URL.
async fn a_token_from_another_issuer_is_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;

    let other = spawn_app(backend).await;
    let other_client = other.create_service_client("api.read").await;
    let foreign = other.access_token(&other_client).await;
    assert_eq!(app.introspect(&client, &foreign).await, inactive());

    // Same database and keys, another issuer URL: the signature verifies, `iss` does not.
    let sibling = spawn_node_with(&app, |_| {}).await;
    let token = sibling.access_token(&client).await;
    assert_ne!(jwt_claims(&token)["iss"], app.address);
    assert_eq!(sibling.introspect(&client, &token).await["active"], true);
    assert_eq!(app.introspect(&client, &token).await, inactive());
}

/// RFC 7662 §2.1: "the endpoint MUST also require some form of authorization"; failures are
/// RFC 6749 §5.2 invalid_client (401). A public client proves nothing, so it is refused too.
async fn introspection_requires_client_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let token = app.access_token(&client).await;

    app.assert_requires_client_auth("/introspect", &client, &token)
        .await;

    let public = app
        .create_client(crate::helpers::code_flow_client("public"))
        .await;
    let res = app
        .client
        .post(app.url("/introspect"))
        .form(&[("token", token.as_str()), ("client_id", &public.id)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

/// RFC 7662 §2.1 (`token` REQUIRED, form-encoded POST) and RFC 6749 §5.2 invalid_request: a
/// malformed request is a 400 with a JSON error; another method is a 405.
async fn a_malformed_introspection_request_is_a_json_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let token = app.access_token(&client).await;
    let cases = [
        app.client
            .post(app.url("/introspect"))
            .basic_auth(&client.id, Some(client.secret()))
            .json(&json!({ "token": token })),
        app.client
            .post(app.url("/introspect"))
            .basic_auth(&client.id, Some(client.secret()))
            .form(&[("token_type_hint", "access_token")]),
        app.client
            .post(app.url("/introspect"))
            .basic_auth(&client.id, Some(client.secret()))
            .form(&[("token", token.as_str()), ("token", "x")]),
    ];
    for request in cases {
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.expect("a JSON error");
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    let res = app.get("/introspect").await;
    assert_eq!(res.status(), 405);
}

/// RFC 7662 §2.2: a token this server does not know is inactive: garbage, and (until the
/// refresh-token grant exists) refresh-token-shaped strings.
async fn unknown_tokens_are_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let refresh = opaque::generate(Kind::Refresh);
    for token in ["garbage", "a.b.c", "eyJ.eyJ.sig", refresh.as_str()] {
        assert_eq!(app.introspect(&client, token).await, inactive(), "{token}");
    }
}

/// DESIGN §4 and §6: introspecting an access token reads no database. With the pool closed, the
/// check the endpoint runs after client authentication (keys + in-memory list, no store, not
/// async) still tells a live token from a revoked one, and the HTTP endpoint answers too: the
/// caller comes from the client cache. Only a caller the cache does not hold needs the store,
/// and gets 503.
async fn introspecting_an_access_token_reads_no_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let uncached = app.create_service_client("api.read").await;
    let live = app.access_token(&client).await;
    let revoked = app.access_token(&client).await;
    assert_eq!(app.revoke(&client, &revoked).await.status(), 200);
    let caller = app
        .state
        .store
        .get_client(&client.id)
        .await
        .unwrap()
        .unwrap();

    app.state.store.close().await;
    assert!(app.state.store.ping().await.is_err(), "the pool is closed");
    let issuer = app.state.settings.issuer();
    let keys = app.state.keys.current();
    let check = AccessTokenCheck {
        keys: &keys,
        revocations: &app.state.revocations,
        verified: &app.state.verified_tokens,
        issuer: &issuer,
        now: app.clock.now(),
    };
    let answer = serde_json::to_value(check.introspect(&caller, &live)).unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], client.id);
    assert_eq!(
        serde_json::to_value(check.introspect(&caller, &revoked)).unwrap(),
        inactive()
    );

    let res = app
        .post_form_basic("/introspect", &client, &[("token", &live)])
        .await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["active"], true);
    let res = app
        .post_form_basic("/introspect", &uncached, &[("token", &live)])
        .await;
    assert_eq!(res.status(), 503);
}

dual!(
    a_live_access_token_is_active_with_its_claims,
    only_the_tokens_client_and_resource_servers_see_it_active,
    an_expired_access_token_is_inactive,
    a_cached_token_is_inactive_once_revoked_or_expired,
    forged_access_tokens_are_inactive,
    a_token_from_another_issuer_is_inactive,
    introspection_requires_client_authentication,
    a_malformed_introspection_request_is_a_json_400,
    unknown_tokens_are_inactive,
    introspecting_an_access_token_reads_no_database,
);
