use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::dual;
use crate::helpers::{Backend, spawn_app, spawn_on};

async fn fetch_jwks(app: &crate::helpers::TestApp) -> Value {
    let res = app.get("/jwks").await;
    assert_eq!(res.status(), 200);
    let cache = res.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    res.json().await.expect("json")
}

/// RFC 7517 §4 members present; RFC 7518 §6.3.2 private members absent.
async fn jwks_publishes_public_rsa_members_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let jwks = fetch_jwks(&app).await;
    let keys = jwks["keys"].as_array().expect("keys");
    // One key per algorithm (RS256, ES256, EdDSA); the default, RS256, comes first.
    assert_eq!(keys.len(), 3);
    let key = keys[0].as_object().expect("object");
    for member in ["kid", "kty", "alg", "use", "n", "e"] {
        assert!(key.contains_key(member), "missing {member}");
    }
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        assert!(
            !key.contains_key(private),
            "private member {private} published"
        );
    }
    // RSA-2048: the modulus is 256 bytes.
    let n = URL_SAFE_NO_PAD
        .decode(key["n"].as_str().expect("n"))
        .expect("b64");
    assert_eq!(n.len(), 256);
    for key in &keys[1..] {
        let key = key.as_object().expect("object");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(!key.contains_key(private), "private {private} published");
        }
    }
}

/// RFC 7638 §3: the kid is the SHA-256 thumbprint of {"e","kty","n"}, recomputed here.
async fn kid_is_the_rfc7638_thumbprint(backend: Backend) {
    let app = spawn_app(backend).await;
    let jwks = fetch_jwks(&app).await;
    let key = &jwks["keys"][0];
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        key["e"].as_str().expect("e"),
        key["n"].as_str().expect("n")
    );
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    assert_eq!(key["kid"], thumbprint);
}

/// A JWT signed by the server's active key verifies with an independent verifier
/// (jsonwebtoken) fed only the published JWKS; a tampered one does not.
async fn tokens_signed_by_the_server_verify_against_the_published_jwks(backend: Backend) {
    let app = spawn_app(backend).await;
    let claims = serde_json::json!({ "iss": app.address, "sub": "alice", "exp": 4_000_000_000u64 });
    let token = tessera::tokens::jws::sign(app.state.keys.current().active(), "JWT", &claims)
        .expect("sign");

    let set: JwkSet = app.get("/jwks").await.json().await.expect("jwks");
    let header = jsonwebtoken::decode_header(&token).expect("header");
    let jwk = set
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid is published");
    let key = DecodingKey::from_jwk(jwk).expect("key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&app.address]);
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("verifies");
    assert_eq!(data.claims["sub"], "alice");

    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","exp":4000000000}"#);
    parts[1] = &forged_payload;
    let forged = parts.join(".");
    assert!(jsonwebtoken::decode::<Value>(&forged, &key, &validation).is_err());
}

/// DESIGN §7: the key is generated once; a restart with the same directory keeps the kid, and
/// the file is private to its owner.
async fn a_restart_with_the_same_keys_directory_keeps_the_kid(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;

    let app = spawn_app(backend).await;
    let kid_before = fetch_jwks(&app).await["keys"][0]["kid"].clone();
    let files: Vec<_> = std::fs::read_dir(&app.keys_dir)
        .expect("keys dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 3, "one key per algorithm");
    for file in &files {
        let mode = std::fs::metadata(file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let all_before = fetch_jwks(&app).await;

    let (db, keys) = app.stop().await;
    let app = spawn_on(db, keys, |_| {}).await;
    let kid_after = fetch_jwks(&app).await["keys"][0]["kid"].clone();
    assert_eq!(kid_before, kid_after);
    assert_eq!(all_before, fetch_jwks(&app).await, "same keys, same order");
}

dual!(
    jwks_publishes_public_rsa_members_only,
    kid_is_the_rfc7638_thumbprint,
    tokens_signed_by_the_server_verify_against_the_published_jwks,
    a_restart_with_the_same_keys_directory_keeps_the_kid
);
