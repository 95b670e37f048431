//! Per-client signing algorithms (DESIGN §3): RS256 by default, ES256 and EdDSA on request.
//! Tokens are checked with jsonwebtoken fed only the published JWKS, never our own verifier.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::dual;
use crate::helpers::{Backend, TestApp, service_client, spawn_app};

/// A client_credentials access token for a service client registered with `alg`.
async fn token_for(app: &TestApp, alg: Option<&str>) -> String {
    let mut input = service_client("api.read");
    input.signing_alg = alg.map(str::to_string);
    let client = app.create_client(input).await;
    let res = app
        .post_token_basic(
            &client.id,
            client.secret(),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_string()
}

/// Verifies with the JWK the token's kid names, expecting `alg`; returns the JWK.
async fn verify_against_jwks(app: &TestApp, token: &str, alg: Algorithm) -> Value {
    let set: JwkSet = app.get("/jwks").await.json().await.expect("jwks");
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, alg);
    let kid = header.kid.expect("kid");
    let jwk = set.find(&kid).expect("kid is published");
    let key = DecodingKey::from_jwk(jwk).expect("key");
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&app.address]);
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("verifies");
    assert_eq!(data.claims["client_id"], data.claims["sub"]);
    // A signature over other claims fails: the check is real.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","exp":4000000000}"#);
    parts[1] = &forged;
    assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &key, &validation).is_err());
    serde_json::to_value(jwk).expect("jwk json")
}

fn thumbprint(canonical: String) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

async fn a_client_registered_for_eddsa_gets_eddsa_tokens_that_verify_against_the_jwks(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let token = token_for(&app, Some("EdDSA")).await;
    let jwk = verify_against_jwks(&app, &token, Algorithm::EdDSA).await;
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    // RFC 8037 §2 + RFC 7638: the kid is the thumbprint of {"crv","kty","x"}.
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        jwk["x"].as_str().expect("x")
    );
    assert_eq!(jwk["kid"], thumbprint(canonical));
    // Our own verifier accepts it too (key chosen by kid).
    tessera::tokens::access::verify_access_token(
        &app.state.keys.current(),
        &app.address,
        &token,
        app.clock.now(),
    )
    .expect("tessera verifies its EdDSA token");
}

async fn a_client_registered_for_es256_gets_es256_tokens_that_verify_against_the_jwks(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let token = token_for(&app, Some("ES256")).await;
    let jwk = verify_against_jwks(&app, &token, Algorithm::ES256).await;
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().expect("x"),
        jwk["y"].as_str().expect("y")
    );
    assert_eq!(jwk["kid"], thumbprint(canonical));
    // RFC 7518 §3.4: the signature is r ‖ s, 64 bytes, not DER.
    let sig = URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().expect("signature"))
        .expect("b64");
    assert_eq!(sig.len(), 64);
}

async fn clients_get_rs256_unless_they_ask_and_discovery_lists_every_algorithm(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = token_for(&app, None).await;
    let jwk = verify_against_jwks(&app, &token, Algorithm::RS256).await;
    assert_eq!(jwk["kty"], "RSA");

    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"])
    );
}

/// A token whose header claims another algorithm than its key's is refused: the key, chosen
/// by kid, decides the algorithm (RFC 8725 §3.1).
async fn a_token_claiming_another_alg_for_an_eddsa_key_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = token_for(&app, Some("EdDSA")).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).expect("b64")).expect("json");
    let mut header = header.as_object().expect("object").clone();
    header.insert("alg".into(), "ES256".into());
    parts[0] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("json"));
    let relabelled = parts.join(".");
    assert!(
        tessera::tokens::access::verify_access_token(
            &app.state.keys.current(),
            &app.address,
            &relabelled,
            app.clock.now(),
        )
        .is_err()
    );
}

dual!(
    a_client_registered_for_eddsa_gets_eddsa_tokens_that_verify_against_the_jwks,
    a_client_registered_for_es256_gets_es256_tokens_that_verify_against_the_jwks,
    clients_get_rs256_unless_they_ask_and_discovery_lists_every_algorithm,
    a_token_claiming_another_alg_for_an_eddsa_key_is_refused
);

/// `tessera keys generate --alg` writes a private (0600) key that `keys list` then shows;
/// an unknown algorithm is refused with the list of known ones. The keys directory holds the
/// RS256 key a start made (a command on a database without records refuses a directory with
/// no key file: `key_files_scan`).
#[test]
fn keys_generate_writes_a_private_key_of_the_chosen_algorithm() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let tessera = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .env_clear()
            .current_dir(dir.path())
            .env("TESSERA_KEYS_DIR", &keys)
            .env("TESSERA_LOG_LEVEL", "warn")
            .args(args)
            .output()
            .unwrap()
    };
    let day = 24 * 3600;
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&keys)
            .unwrap();
    }
    tessera::keys::generate(&keys, tessera::keys::SigningAlg::Rs256, 1_700_000_000 - day).unwrap();
    let out = tessera(&["keys", "generate", "--alg", "EdDSA"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(path.ends_with("-eddsa.pem"), "{path}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let out = tessera(&["keys", "list"]);
    assert!(out.status.success());
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.contains("\tEdDSA\t"), "{listed}");

    let out = tessera(&["keys", "generate", "--alg", "HS256"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RS256, ES256, EdDSA"), "{err}");
}
