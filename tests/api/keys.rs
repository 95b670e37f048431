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
    let token = tessera::tokens::jws::sign(
        app.state.keys.current().active().expect("signer"),
        "JWT",
        &claims,
    )
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
    // Key files only: the directory also holds the `.lock` that nodes starting together take.
    let files: Vec<_> = std::fs::read_dir(&app.keys_dir)
        .expect("keys dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
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

/// A new deployment: three nodes started together on one PostgreSQL database and one empty
/// keys directory. One of them creates each algorithm's key while the others wait for it; all
/// three start, publish the same keys, and no half-written or temporary file is left.
#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_started_together_on_an_empty_keys_directory_share_its_keys() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let db = crate::helpers::TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let keys_dir = dir.path().join("keys");
    let ports: Vec<u16> = (0..3)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port()
        })
        .collect();
    let mut nodes: Vec<_> = ports
        .iter()
        .map(|port| {
            Command::new(env!("CARGO_BIN_EXE_tessera"))
                .arg("serve")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .current_dir(dir.path())
                .env("DATABASE_URL", &db.url)
                .env("TESSERA_KEYS_DIR", &keys_dir)
                .env("TESSERA_BIND", format!("127.0.0.1:{port}"))
                .env("TESSERA_ISSUER", "http://127.0.0.1:1")
                .env("TESSERA_LOG_LEVEL", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a node")
        })
        .collect();

    let http = crate::helpers::http_client();
    let mut jwks = Vec::new();
    for (node, port) in nodes.iter_mut().zip(&ports) {
        let started = Instant::now();
        let body = loop {
            if let Some(status) = node.try_wait().expect("wait") {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut node.stderr.take().expect("stderr"), &mut err)
                    .expect("read stderr");
                panic!("a node exited ({status}): {err}");
            }
            if let Ok(res) = http
                .get(format!("http://127.0.0.1:{port}/jwks"))
                .send()
                .await
            {
                break res.json::<Value>().await.expect("JWKS");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "a node did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        jwks.push(body);
    }
    for node in &mut nodes {
        let _ = node.kill();
        let _ = node.wait();
    }

    assert_eq!(jwks[0]["keys"].as_array().expect("keys").len(), 3);
    assert_eq!(jwks[0], jwks[1], "node 2 publishes node 1's keys");
    assert_eq!(jwks[0], jwks[2], "node 3 publishes node 1's keys");
    let mut names: Vec<String> = std::fs::read_dir(&keys_dir)
        .expect("keys dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".lock")
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        3,
        "one key file per algorithm, nothing else: {names:?}"
    );
    assert!(names.iter().all(|n| n.ends_with(".pem")), "{names:?}");
}
