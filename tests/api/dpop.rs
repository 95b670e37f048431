//! DPoP (RFC 9449) through HTTP: proofs at the token endpoint, bound access and refresh tokens,
//! bound codes, server nonces, replays (on a second node too), and bound tokens at /userinfo,
//! introspection and token exchange. Every refusal cites its section.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tessera::oauth::client::RegistrationInput;

use crate::apis::{
    ALICE, BILLING, NATIVE_CB, ORDERS, add_api, code_client, code_of, links, params,
};
use crate::code_flow::{authorize_url, pkce};
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestClient, http_client, jwt_claims, location, service_client,
    spawn_app, spawn_app_with, spawn_node, spawn_node_with,
};

/// A client's DPoP key and the proofs it signs.
enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

pub struct DpopKey {
    signer: Signer,
    jwk: Value,
    /// RFC 7638 SHA-256 thumbprint, computed here independently of the server.
    pub jkt: String,
}

impl DpopKey {
    pub fn es256() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        // Uncompressed point: 0x04 || x || y.
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..65]),
        );
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        Self {
            signer: Signer::Es256(pair),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
            jkt: URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())),
        }
    }

    pub fn eddsa() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        Self {
            signer: Signer::EdDsa(pair),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            jkt: URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())),
        }
    }

    fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Es256(_) => "ES256",
            Signer::EdDsa(_) => "EdDSA",
        }
    }

    /// The header a well-formed proof has (§4.2).
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk})
    }

    /// Signs any header and claims, well-formed or not.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let mut out = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()));
        let signature = match &self.signer {
            Signer::Es256(pair) => pair
                .sign(&SystemRandom::new(), out.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            Signer::EdDsa(pair) => pair.sign(out.as_bytes()).as_ref().to_vec(),
        };
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(signature));
        out
    }

    /// The claims of a fresh, well-formed proof for `htm` `htu` at the server's time.
    pub fn claims(app: &TestApp, htm: &str, htu: &str) -> Value {
        json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": htm,
            "htu": htu,
            "iat": app.clock.now(),
        })
    }

    /// A valid proof for `POST /token`.
    pub fn token_proof(&self, app: &TestApp) -> String {
        self.sign(
            &self.header(),
            &Self::claims(app, "POST", &app.url("/token")),
        )
    }

    /// A valid proof for `GET /userinfo` with `token` (`ath`, §4.2).
    pub fn userinfo_proof(&self, app: &TestApp, token: &str) -> String {
        let mut claims = Self::claims(app, "GET", &app.url("/userinfo"));
        claims["ath"] = json!(ath(token));
        self.sign(&self.header(), &claims)
    }
}

fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// `POST /token` as `client` (Basic for a confidential one), with `proof` as the DPoP header.
async fn token_with(
    app: &TestApp,
    client: &TestClient,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> reqwest::Response {
    let mut req = app.client.post(app.url("/token"));
    let mut form = form.to_vec();
    match &client.secret {
        Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
        None => form.push(("client_id", client.id.as_str())),
    }
    if let Some(proof) = proof {
        req = req.header("DPoP", proof);
    }
    req.form(&form).send().await.unwrap()
}

async fn client_credentials(
    app: &TestApp,
    client: &TestClient,
    proof: Option<&str>,
) -> reqwest::Response {
    token_with(app, client, &[("grant_type", "client_credentials")], proof).await
}

async fn json_of(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn ok(res: reqwest::Response) -> Value {
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A 400 with `error`; returns the description.
async fn refused(res: reqwest::Response, error: &str) -> String {
    let (status, body) = json_of(res).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], error, "{body}");
    body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

dual!(
    a_proof_binds_the_client_credentials_token_to_its_key,
    every_check_of_section_4_3_refuses_a_bad_proof,
    htu_is_compared_with_the_configured_url_not_the_host_header,
    a_replayed_proof_is_refused,
    a_burst_of_one_proof_is_accepted_at_most_once,
    a_client_that_requires_dpop_gets_nothing_without_a_proof,
    a_server_nonce_is_required_when_configured_then_accepted,
    a_public_clients_refresh_token_is_bound_to_its_key,
    a_code_bound_with_dpop_jkt_needs_a_proof_of_that_key,
    userinfo_takes_a_bound_token_only_with_the_dpop_scheme_and_ath,
    a_bound_subject_token_is_exchanged_only_with_a_proof_of_its_key,
    discovery_advertises_the_proof_algorithms,
    the_admin_api_refuses_a_bound_token_sent_as_bearer,
    userinfo_remembers_only_proofs_that_fit_the_token,
    userinfo_proofs_are_rate_limited_per_key,
);

/// A public app for alice, its DPoP key, and an access token bound to that key.
async fn bound_token(app: &TestApp) -> (TestClient, DpopKey, String) {
    let client = public_app(app).await;
    let key = DpopKey::es256();
    let (code, verifier) = code_for(app, &client, &[]).await;
    let body = ok(redeem(app, &client, &code, &verifier, Some(&key.token_proof(app))).await).await;
    let token = body["access_token"].as_str().unwrap().to_string();
    (client, key, token)
}

/// §11.1: each proof /userinfo accepts is remembered, so their number per key is limited
/// (`token_rate_limit_per_client` a second): over it, 503 `temporarily_unavailable`, and the
/// next second it works again.
async fn userinfo_proofs_are_rate_limited_per_key(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.token_rate_limit_per_client = 3).await;
    let (_, key, token) = bound_token(&app).await;
    let send = || {
        app.client
            .get(app.url("/userinfo"))
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", key.userinfo_proof(&app, &token))
            .send()
    };
    // A burst of 10: at most 3 a second pass (at most two seconds can be spanned).
    let responses = futures_util::future::join_all((0..10).map(|_| send())).await;
    let statuses: Vec<u16> = responses
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!((3..=6).contains(&passed), "{statuses:?}");
    let refused = responses
        .iter()
        .map(|r| r.as_ref().unwrap())
        .find(|r| r.status() == 503)
        .expect("a refusal");
    assert!(
        challenges(refused).contains("temporarily_unavailable"),
        "{}",
        challenges(refused)
    );
    app.clock.advance(2);
    assert_eq!(send().await.unwrap().status(), 200);
}

/// §7.1, §11.1: /userinfo checks the token and that the proof is of the token's key before it
/// records the proof: a proof of another key, or one sent with an unbound token under the DPoP
/// scheme, is refused and takes no room in the replay store. A proof without `ath` (§4.3
/// point 12) or with another method's `htm` (point 5) is refused.
async fn userinfo_remembers_only_proofs_that_fit_the_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, key, bound) = bound_token(&app).await;
    let (code, verifier) = code_for(&app, &client, &[]).await;
    let body = ok(redeem(&app, &client, &code, &verifier, None).await).await;
    let unbound = body["access_token"].as_str().unwrap().to_string();
    let send = |token: &str, proof: String| {
        app.client
            .get(app.url("/userinfo"))
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", proof)
            .send()
    };
    // Whether the store still takes the proof as new, i.e. it was never recorded.
    let unrecorded = |signer: &DpopKey, claims: &Value| {
        let hash = tessera::tokens::opaque::hash(&format!(
            "{}.{}",
            signer.jkt,
            claims["jti"].as_str().unwrap()
        ));
        let store = app.state.store.clone();
        let now = app.clock.now();
        async move {
            store
                .record_dpop_proof(&hash, now + 600, now)
                .await
                .unwrap()
        }
    };
    let proof_claims = |token: &str| {
        let mut claims = DpopKey::claims(&app, "GET", &app.url("/userinfo"));
        claims["ath"] = json!(ath(token));
        claims
    };

    let thief = DpopKey::es256();
    let claims = proof_claims(&bound);
    let res = send(&bound, thief.sign(&thief.header(), &claims))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        challenges(&res).contains(r#"error="invalid_token""#),
        "{}",
        challenges(&res)
    );
    assert!(
        unrecorded(&thief, &claims).await,
        "a proof of another key was recorded"
    );

    let claims = proof_claims(&unbound);
    let res = send(&unbound, key.sign(&key.header(), &claims))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        challenges(&res).contains(r#"error="invalid_token""#),
        "{}",
        challenges(&res)
    );
    assert!(
        unrecorded(&key, &claims).await,
        "a proof with an unbound token was recorded"
    );

    // §4.3 point 12: at a resource, `ath` is required.
    let mut claims = proof_claims(&bound);
    claims.as_object_mut().unwrap().remove("ath");
    let res = send(&bound, key.sign(&key.header(), &claims))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        challenges(&res).contains(r#"error="invalid_dpop_proof""#),
        "{}",
        challenges(&res)
    );
    // §4.3 point 5: a proof for GET does not do for a POST.
    let res = app
        .client
        .post(app.url("/userinfo"))
        .header("Authorization", format!("DPoP {bound}"))
        .header("DPoP", key.sign(&key.header(), &proof_claims(&bound)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        challenges(&res).contains(r#"error="invalid_dpop_proof""#),
        "{}",
        challenges(&res)
    );
    // The right proof still works.
    let res = send(&bound, key.userinfo_proof(&app, &bound))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The `WWW-Authenticate` challenges of a response, joined.
fn challenges(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("WWW-Authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// §7.2: a DPoP-bound access token MUST NOT be accepted as a bearer token: the admin API
/// refuses a bound `tessera:admin` token sent as `Bearer` (401, a DPoP challenge naming
/// `invalid_token`), while the same client's unbound token opens it.
async fn the_admin_api_refuses_a_bound_token_sent_as_bearer(backend: Backend) {
    let app = spawn_app(backend).await;
    let ops = app.create_service_client("tessera:admin").await;
    let key = DpopKey::es256();
    let body = ok(client_credentials(&app, &ops, Some(&key.token_proof(&app))).await).await;
    let bound = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&bound)["cnf"]["jkt"], key.jkt.as_str());
    let unbound = app.access_token(&ops).await;
    let get = |token: &str| {
        app.client
            .get(app.url("/admin/api/v1/clients"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get(&unbound).await.unwrap().status(), 200);
    let res = get(&bound).await.unwrap();
    assert_eq!(res.status(), 401);
    let c = challenges(&res);
    assert!(c.starts_with("DPoP "), "{c}");
    assert!(c.contains(r#"error="invalid_token""#), "{c}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token", "{body}");
}

/// §5, §6.1: a valid proof makes the token `token_type: DPoP` with `cnf.jkt`, the RFC 7638
/// thumbprint of the proof's key (ES256 and EdDSA both); §6.2: introspection returns `cnf`.
async fn a_proof_binds_the_client_credentials_token_to_its_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.create_service_client("api.read").await;
    for key in [DpopKey::es256(), DpopKey::eddsa()] {
        let body = ok(client_credentials(&app, &service, Some(&key.token_proof(&app))).await).await;
        assert_eq!(body["token_type"], "DPoP", "{body}");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(jwt_claims(token)["cnf"], json!({"jkt": key.jkt}));
        let rs = app.create_resource_server_client().await;
        let answer = app.introspect(&rs, token).await;
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(answer["token_type"], "DPoP");
        assert_eq!(answer["cnf"]["jkt"], key.jkt.as_str());
    }
    // Without a proof: a bearer token, as before.
    let body = ok(client_credentials(&app, &service, None).await).await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        jwt_claims(body["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
}

/// §4.3: each check, broken alone, refuses the proof with `invalid_dpop_proof` (§5).
async fn every_check_of_section_4_3_refuses_a_bad_proof(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.create_service_client("api.read").await;
    let key = DpopKey::es256();
    let other = DpopKey::es256();
    let htu = app.url("/token");
    let now = app.clock.now();
    let good = || DpopKey::claims(&app, "POST", &htu);
    let with = |name: &str, value: Value| {
        let mut claims = good();
        claims[name] = value;
        key.sign(&key.header(), &claims)
    };
    let without = |name: &str| {
        let mut claims = good();
        claims.as_object_mut().unwrap().remove(name);
        key.sign(&key.header(), &claims)
    };
    let header_with = |name: &str, value: Value| {
        let mut header = key.header();
        header[name] = value;
        key.sign(&header, &good())
    };
    let mut private_jwk = key.header();
    private_jwk["jwk"]["d"] = json!("AAAA");
    let mut no_jwk = key.header();
    no_jwk.as_object_mut().unwrap().remove("jwk");
    // Signed by one key, carrying another's public key.
    let forged = other.sign(&key.header(), &good());
    let tampered = {
        let proof = key.token_proof(&app);
        let mut parts: Vec<&str> = proof.split('.').collect();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good()).unwrap());
        parts[1] = &body;
        parts.join(".")
    };
    let cases: Vec<(&str, String)> = vec![
        ("§4.3 (1): not a JWT", "not-a-jwt".into()),
        (
            "§4.3 (4): typ is dpop+jwt",
            header_with("typ", json!("JWT")),
        ),
        ("§4.3 (5): alg none", header_with("alg", json!("none"))),
        (
            "§4.3 (5): a symmetric alg",
            header_with("alg", json!("HS256")),
        ),
        (
            "§4.3 (5): alg fits the key",
            header_with("alg", json!("EdDSA")),
        ),
        ("§4.3 (7): a jwk", key.sign(&no_jwk, &good())),
        ("§4.3 (7): no private key", key.sign(&private_jwk, &good())),
        ("§4.3 (6): the signature, by the jwk", forged),
        ("§4.3 (6): the signature covers the claims", tampered),
        ("§4.3 (3): jti", without("jti")),
        ("§4.3 (3): htm", without("htm")),
        ("§4.3 (3): htu", without("htu")),
        ("§4.3 (3): iat", without("iat")),
        ("§4.3 (8): htm is the method", with("htm", json!("GET"))),
        (
            "§4.3 (9): htu is the endpoint",
            with("htu", json!(app.url("/userinfo"))),
        ),
        (
            "§4.3 (9): htu's host",
            with("htu", json!("https://evil.example/token")),
        ),
        ("§4.3 (11): iat not too old", with("iat", json!(now - 120))),
        (
            "§4.3 (11): iat not in the future",
            with("iat", json!(now + 60)),
        ),
        ("§4.3 (2): a crit header", header_with("crit", json!(["x"]))),
    ];
    // What the error_description names for each check.
    let named = |check: &str| match check {
        c if c.contains("(1)") => "not a JWT",
        c if c.contains("(4)") => "typ",
        c if c.contains("(5): alg fits") => "does not fit its alg",
        c if c.contains("(5)") => "alg is not one of",
        c if c.contains("(7): a jwk") => "no jwk",
        c if c.contains("(7)") => "private key",
        c if c.contains("(6)") => "signature",
        c if c.contains("(3)") => "required claim",
        c if c.contains("(8)") => "htm",
        c if c.contains("(9)") => "htu",
        c if c.contains("too old") => "too old",
        c if c.contains("(11)") => "future",
        c if c.contains("(2)") => "critical",
        _ => "DPoP",
    };
    for (check, proof) in cases {
        let res = client_credentials(&app, &service, Some(&proof)).await;
        let why = refused(res, "invalid_dpop_proof").await;
        assert!(why.contains(named(check)), "{check}: {why}");
    }
    // §4.3 (7): an RSA key of 2048 to 4096 bits, its modulus without a leading zero octet
    // (RFC 7518 §6.3.1.1). Checked before the signature, so a dummy one will do.
    let rsa = |modulus: Vec<u8>| {
        let header = json!({
            "typ": "dpop+jwt",
            "alg": "RS256",
            "jwk": {"kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode(modulus)},
        });
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good()).unwrap()),
            URL_SAFE_NO_PAD.encode([1u8; 256]),
        )
    };
    let mut padded = vec![0u8];
    padded.extend([0x80u8; 256]);
    for (modulus, named) in [
        (vec![0x80u8; 255], "shorter than 2048 bits"),
        (vec![0x80u8; 513], "longer than 4096 bits"),
        (padded, "leading zero"),
    ] {
        let why = refused(
            client_credentials(&app, &service, Some(&rsa(modulus))).await,
            "invalid_dpop_proof",
        )
        .await;
        assert!(why.contains(named), "{named}: {why}");
    }
    // §4.3 (11) with the configured skew: 5 s ahead and 60 s old are still fine.
    for iat in [now + 5, now - 60] {
        let proof = with("iat", json!(iat));
        ok(client_credentials(&app, &service, Some(&proof)).await).await;
    }
    // §4.3 (9): query and fragment of htu are ignored.
    let proof = with("htu", json!(format!("{htu}?a=b#c")));
    ok(client_credentials(&app, &service, Some(&proof)).await).await;

    // §4.3 (1): exactly one DPoP header.
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&service.id, service.secret.as_deref())
        .header("DPoP", key.token_proof(&app))
        .header("DPoP", key.token_proof(&app))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    refused(res, "invalid_dpop_proof").await;
    // A huge header is refused before it is parsed.
    let huge = format!("{}.{}.x", "a".repeat(5000), "b".repeat(10));
    refused(
        client_credentials(&app, &service, Some(&huge)).await,
        "invalid_dpop_proof",
    )
    .await;
}

/// §4.3 (9), §11.1: `htu` names the URL the server is configured with; a `Host` header the
/// client chose cannot make a proof for another server's URL pass.
async fn htu_is_compared_with_the_configured_url_not_the_host_header(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.create_service_client("api.read").await;
    let key = DpopKey::es256();
    let send = |proof: String| {
        app.client
            .post(app.url("/token"))
            .header("Host", "evil.example")
            .basic_auth(&service.id, service.secret.as_deref())
            .header("DPoP", proof)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let for_host = key.sign(
        &key.header(),
        &DpopKey::claims(&app, "POST", "http://evil.example/token"),
    );
    refused(send(for_host).await.unwrap(), "invalid_dpop_proof").await;
    ok(send(key.token_proof(&app)).await.unwrap()).await;
}

/// §11.1: a proof is accepted once; the same proof again is refused (and on PostgreSQL, at
/// another node too: `a_replayed_proof_is_refused_by_a_second_node`).
async fn a_replayed_proof_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.create_service_client("api.read").await;
    let key = DpopKey::eddsa();
    let proof = key.token_proof(&app);
    ok(client_credentials(&app, &service, Some(&proof)).await).await;
    let why = refused(
        client_credentials(&app, &service, Some(&proof)).await,
        "invalid_dpop_proof",
    )
    .await;
    assert!(why.contains("used before"), "{why}");
    // Still refused late in its window; once the window is over, iat refuses it anyway.
    app.clock.advance(60);
    refused(
        client_credentials(&app, &service, Some(&proof)).await,
        "invalid_dpop_proof",
    )
    .await;
}

/// §11.1 under attack: the same proof sent many times at once is accepted at most once.
async fn a_burst_of_one_proof_is_accepted_at_most_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.create_service_client("api.read").await;
    let key = DpopKey::es256();
    let proof = key.token_proof(&app);
    let burst = (0..16).map(|_| client_credentials(&app, &service, Some(&proof)));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(accepted, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}

/// §5.2 (`dpop_bound_access_tokens`): a client registered to require DPoP gets
/// `invalid_dpop_proof` without a proof, and bound tokens with one.
async fn a_client_that_requires_dpop_gets_nothing_without_a_proof(backend: Backend) {
    let app = spawn_app(backend).await;
    let strict = app
        .create_client(RegistrationInput {
            require_dpop: true,
            ..service_client("api.read")
        })
        .await;
    refused(
        client_credentials(&app, &strict, None).await,
        "invalid_dpop_proof",
    )
    .await;
    let key = DpopKey::es256();
    let body = ok(client_credentials(&app, &strict, Some(&key.token_proof(&app))).await).await;
    assert_eq!(body["token_type"], "DPoP");
}

/// §8: with `dpop_nonce` on, a proof without the server's nonce gets `use_dpop_nonce` and the
/// nonce in `DPoP-Nonce`; a new proof with it is accepted, also after the window turned once.
async fn a_server_nonce_is_required_when_configured_then_accepted(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.dpop_nonce = true).await;
    let service = app.create_service_client("api.read").await;
    let key = DpopKey::es256();
    let res = client_credentials(&app, &service, Some(&key.token_proof(&app))).await;
    let nonce = res
        .headers()
        .get("DPoP-Nonce")
        .expect("DPoP-Nonce")
        .to_str()
        .unwrap()
        .to_string();
    refused(res, "use_dpop_nonce").await;
    let with_nonce = |nonce: &str| {
        let mut claims = DpopKey::claims(&app, "POST", &app.url("/token"));
        claims["nonce"] = json!(nonce);
        key.sign(&key.header(), &claims)
    };
    let res = client_credentials(&app, &service, Some(&with_nonce(&nonce))).await;
    assert!(res.headers().get("DPoP-Nonce").is_some());
    ok(res).await;
    // A made-up nonce is not one.
    refused(
        client_credentials(&app, &service, Some(&with_nonce("made-up"))).await,
        "use_dpop_nonce",
    )
    .await;
    // The previous window's nonce still works; two windows later it does not.
    app.clock.advance(300);
    ok(client_credentials(&app, &service, Some(&with_nonce(&nonce))).await).await;
    app.clock.advance(300);
    refused(
        client_credentials(&app, &service, Some(&with_nonce(&nonce))).await,
        "use_dpop_nonce",
    )
    .await;
}

/// A public app's code flow with DPoP: its tokens come back bound and its refresh token too.
async fn public_app(app: &TestApp) -> TestClient {
    app.create_user("alice", PASSWORD).await;
    app.create_client(code_client("public", NATIVE_CB)).await
}

/// Runs alice through /authorize (with `extra` parameters) and returns the code and verifier.
async fn code_for(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> (String, String) {
    let p = pkce();
    let mut query = params(client, NATIVE_CB, &p, "openid offline_access", &[]);
    query.extend_from_slice(extra);
    let to = location(
        &app.browse(&http_client(), &authorize_url(app, &query), ALICE)
            .await,
    );
    (code_of(&to), p.verifier)
}

async fn redeem(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", NATIVE_CB),
        ("code_verifier", verifier),
    ];
    token_with(app, client, &form, proof).await
}

async fn refresh(
    app: &TestApp,
    client: &TestClient,
    token: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    token_with(app, client, &form, proof).await
}

/// §5: a public client's refresh token is bound to the key of the proof it was issued with
/// (MUST). Used with another key it is `invalid_grant`; without a proof `invalid_dpop_proof`;
/// with its key it works and stays bound.
async fn a_public_clients_refresh_token_is_bound_to_its_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = public_app(&app).await;
    let key = DpopKey::es256();
    let (code, verifier) = code_for(&app, &client, &[]).await;
    let body = ok(redeem(
        &app,
        &client,
        &code,
        &verifier,
        Some(&key.token_proof(&app)),
    )
    .await)
    .await;
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt.as_str()
    );
    let rt = body["refresh_token"].as_str().unwrap().to_string();

    let thief = DpopKey::es256();
    refused(
        refresh(&app, &client, &rt, Some(&thief.token_proof(&app))).await,
        "invalid_grant",
    )
    .await;
    refused(
        refresh(&app, &client, &rt, None).await,
        "invalid_dpop_proof",
    )
    .await;
    // Neither refusal spent the token: its holder still refreshes.
    let body = ok(refresh(&app, &client, &rt, Some(&key.token_proof(&app))).await).await;
    assert_eq!(body["token_type"], "DPoP");
    let next = body["refresh_token"].as_str().unwrap();
    refused(
        refresh(&app, &client, next, Some(&thief.token_proof(&app))).await,
        "invalid_grant",
    )
    .await;
}

/// §10: `dpop_jkt` at /authorize binds the code; only a proof of that key redeems it.
async fn a_code_bound_with_dpop_jkt_needs_a_proof_of_that_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = public_app(&app).await;
    let key = DpopKey::eddsa();
    let (code, verifier) = code_for(&app, &client, &[("dpop_jkt", key.jkt.as_str())]).await;
    refused(
        redeem(&app, &client, &code, &verifier, None).await,
        "invalid_dpop_proof",
    )
    .await;
    let other = DpopKey::eddsa();
    refused(
        redeem(
            &app,
            &client,
            &code,
            &verifier,
            Some(&other.token_proof(&app)),
        )
        .await,
        "invalid_grant",
    )
    .await;
    let body = ok(redeem(
        &app,
        &client,
        &code,
        &verifier,
        Some(&key.token_proof(&app)),
    )
    .await)
    .await;
    assert_eq!(body["token_type"], "DPoP");
    let issued = body["access_token"].as_str().unwrap().to_string();
    let rs = app.create_resource_server_client().await;

    // RFC 6749 §4.1.2 with RFC 9449 §10: replaying the used code without its key's proof (or
    // with another key's) is refused and revokes nothing; only the key holder's replay does.
    refused(
        redeem(&app, &client, &code, &verifier, None).await,
        "invalid_dpop_proof",
    )
    .await;
    refused(
        redeem(
            &app,
            &client,
            &code,
            &verifier,
            Some(&other.token_proof(&app)),
        )
        .await,
        "invalid_grant",
    )
    .await;
    refused(
        redeem(
            &app,
            &client,
            &code,
            "wrong-verifier-wrong-verifier-wrong-verifier",
            Some(&key.token_proof(&app)),
        )
        .await,
        "invalid_grant",
    )
    .await;
    let answer = app.introspect(&rs, &issued).await;
    assert_eq!(
        answer["active"], true,
        "a replay without the key revoked: {answer}"
    );
    refused(
        redeem(
            &app,
            &client,
            &code,
            &verifier,
            Some(&key.token_proof(&app)),
        )
        .await,
        "invalid_grant",
    )
    .await;
    let answer = app.introspect(&rs, &issued).await;
    assert_eq!(answer["active"], false, "{answer}");

    // A malformed dpop_jkt is refused at /authorize (sent to the client as invalid_request).
    let p = pkce();
    let mut query = params(&client, NATIVE_CB, &p, "openid", &[]);
    query.push(("dpop_jkt", "not-a-thumbprint"));
    let res = http_client()
        .get(authorize_url(&app, &query))
        .send()
        .await
        .unwrap();
    assert!(
        location(&res).contains("error=invalid_request"),
        "{}",
        location(&res)
    );
}

/// §7.1: /userinfo takes a bound token with `Authorization: DPoP` and a proof whose `ath` is
/// the token's hash; a bound token sent as `Bearer` is refused with a DPoP challenge that
/// names `invalid_token` and `algs`; a wrong `ath` or another key's proof is refused.
async fn userinfo_takes_a_bound_token_only_with_the_dpop_scheme_and_ath(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = public_app(&app).await;
    let key = DpopKey::es256();
    let (code, verifier) = code_for(&app, &client, &[]).await;
    let body = ok(redeem(
        &app,
        &client,
        &code,
        &verifier,
        Some(&key.token_proof(&app)),
    )
    .await)
    .await;
    let token = body["access_token"].as_str().unwrap().to_string();
    let userinfo = |scheme: &str, proof: Option<String>| {
        let mut req = app
            .client
            .get(app.url("/userinfo"))
            .header("Authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            req = req.header("DPoP", proof);
        }
        req.send()
    };
    let challenge = |res: &reqwest::Response| {
        res.headers()
            .get_all("WWW-Authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    };

    let res = userinfo("DPoP", Some(key.userinfo_proof(&app, &token)))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["sub"].is_string(), "{body}");

    // §7.1: as a bearer token, refused.
    let res = userinfo("Bearer", None).await.unwrap();
    assert_eq!(res.status(), 401);
    let c = challenge(&res);
    assert!(c.starts_with("DPoP "), "{c}");
    assert!(c.contains(r#"error="invalid_token""#), "{c}");
    assert!(c.contains(r#"algs="ES256 EdDSA RS256 PS256""#), "{c}");

    // §4.3 (12): ath must be the token's hash.
    let mut claims = DpopKey::claims(&app, "GET", &app.url("/userinfo"));
    claims["ath"] = json!(ath("another token"));
    let res = userinfo("DPoP", Some(key.sign(&key.header(), &claims)))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        challenge(&res).contains(r#"error="invalid_dpop_proof""#),
        "{}",
        challenge(&res)
    );
    // No proof at all under the DPoP scheme.
    let res = userinfo("DPoP", None).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).contains(r#"error="invalid_dpop_proof""#));
    // §7.1: another key's proof (valid in itself) does not fit the token.
    let thief = DpopKey::es256();
    let res = userinfo("DPoP", Some(thief.userinfo_proof(&app, &token)))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        challenge(&res).contains(r#"error="invalid_token""#),
        "{}",
        challenge(&res)
    );
    // §11.1: a proof used once at /userinfo is not used again.
    let proof = key.userinfo_proof(&app, &token);
    assert_eq!(
        userinfo("DPoP", Some(proof.clone()))
            .await
            .unwrap()
            .status(),
        200
    );
    let res = userinfo("DPoP", Some(proof)).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).contains(r#"error="invalid_dpop_proof""#));
}

/// RFC 8693 with RFC 9449 §6: a bound subject token is exchanged only with a proof of its key
/// (`invalid_request` otherwise, RFC 8693 §2.2.2: an unacceptable subject_token), and the new
/// token is bound to the requester's proof key.
async fn a_bound_subject_token_is_exchanged_only_with_a_proof_of_its_key(backend: Backend) {
    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    add_api(&app, ORDERS, "orders.read orders.write", None, None).await;
    add_api(&app, BILLING, "billing.read billing.write", None, None).await;
    let native = app
        .create_client(RegistrationInput {
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            ..code_client("public", NATIVE_CB)
        })
        .await;
    links(&app, &native, &[ORDERS], &[], &[]).await;
    let backend_client = app
        .create_client(RegistrationInput {
            name: "Orders backend".into(),
            client_type: "confidential".into(),
            grant_types: vec!["client_credentials".into(), EXCHANGE.into()],
            scope: Some("orders.read billing.read".into()),
            ..RegistrationInput::default()
        })
        .await;
    links(&app, &backend_client, &[], &[ORDERS], &[BILLING]).await;

    let key = DpopKey::es256();
    let p = pkce();
    let query = params(&native, NATIVE_CB, &p, "openid orders.read", &[ORDERS]);
    let to = location(
        &app.browse(&http_client(), &authorize_url(&app, &query), ALICE)
            .await,
    );
    let body = ok(redeem(
        &app,
        &native,
        &code_of(&to),
        &p.verifier,
        Some(&key.token_proof(&app)),
    )
    .await)
    .await;
    let subject = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&subject)["cnf"]["jkt"], key.jkt.as_str());
    let subject_token = subject.clone();
    let p2 = pkce();

    let actor = app.access_token(&backend_client).await;
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", ACCESS),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS),
        ("audience", BILLING),
    ];
    refused(
        token_with(&app, &backend_client, &form, None).await,
        "invalid_request",
    )
    .await;
    let thief = DpopKey::es256();
    refused(
        token_with(&app, &backend_client, &form, Some(&thief.token_proof(&app))).await,
        "invalid_request",
    )
    .await;
    let body =
        ok(token_with(&app, &backend_client, &form, Some(&key.token_proof(&app))).await).await;
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt.as_str()
    );

    // A bound actor token needs a proof of its key too (RFC 9449 §6, RFC 8693 §2.2.2).
    let backend_key = DpopKey::es256();
    let body =
        ok(client_credentials(&app, &backend_client, Some(&backend_key.token_proof(&app))).await)
            .await;
    let bound_actor = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        jwt_claims(&bound_actor)["cnf"]["jkt"],
        backend_key.jkt.as_str()
    );
    let to = location(
        &app.browse(
            &http_client(),
            &authorize_url(
                &app,
                &params(&native, NATIVE_CB, &p2, "openid orders.read", &[ORDERS]),
            ),
            ALICE,
        )
        .await,
    );
    let body = ok(redeem(&app, &native, &code_of(&to), &p2.verifier, None).await).await;
    let unbound = body["access_token"].as_str().unwrap().to_string();
    let form = |subject: &'static str| {
        let subject = if subject == "bound" {
            &subject_token
        } else {
            &unbound
        };
        vec![
            ("grant_type", EXCHANGE.to_string()),
            ("subject_token", subject.clone()),
            ("subject_token_type", ACCESS.to_string()),
            ("actor_token", bound_actor.clone()),
            ("actor_token_type", ACCESS.to_string()),
            ("audience", BILLING.to_string()),
        ]
    };
    let send = |subject: &'static str, proof: Option<String>| {
        let form = form(subject);
        let backend_client = &backend_client;
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_with(app, backend_client, &form, proof.as_deref()).await
        }
    };
    let why = refused(send("unbound", None).await, "invalid_request").await;
    assert!(why.contains("actor_token"), "{why}");
    refused(
        send("unbound", Some(thief.token_proof(&app))).await,
        "invalid_request",
    )
    .await;
    let body = ok(send("unbound", Some(backend_key.token_proof(&app))).await).await;
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        backend_key.jkt.as_str()
    );
    // Subject and actor bound to different keys: one proof cannot prove both.
    refused(
        send("bound", Some(key.token_proof(&app))).await,
        "invalid_request",
    )
    .await;
    refused(
        send("bound", Some(backend_key.token_proof(&app))).await,
        "invalid_request",
    )
    .await;
}

/// §5.1: `dpop_signing_alg_values_supported`.
async fn discovery_advertises_the_proof_algorithms(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = app.get(path).await.json().await.unwrap();
        assert_eq!(
            doc["dpop_signing_alg_values_supported"],
            json!(["ES256", "EdDSA", "RS256", "PS256"])
        );
    }
}

/// §11.1 across nodes: a proof accepted by one node is refused by another (PostgreSQL: the
/// replay store is shared).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_proof_is_refused_by_a_second_node() {
    let a = spawn_app(Backend::Postgres).await;
    let b = spawn_node(&a).await;
    let service = a.create_service_client("api.read").await;
    let key = DpopKey::es256();
    let proof = key.token_proof(&a);
    ok(client_credentials(&a, &service, Some(&proof)).await).await;
    let why = refused(
        client_credentials(&b, &service, Some(&proof)).await,
        "invalid_dpop_proof",
    )
    .await;
    assert!(why.contains("used before"), "{why}");
    // A burst split over both nodes: still one success.
    let proof = key.token_proof(&a);
    let burst = (0..16).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        client_credentials(node, &service, Some(&proof))
    });
    let accepted = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .filter(|r| r.status() == 200)
        .count();
    assert_eq!(accepted, 1);
}

/// §8: nonces are derived from a secret every node shares: node A's nonce works at node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_from_one_node_is_accepted_by_another() {
    let a = spawn_app_with(Backend::Postgres, |s| s.dpop_nonce = true).await;
    let issuer = a.address.clone();
    let b = spawn_node_with(&a, move |s| {
        s.issuer = issuer;
        s.dpop_nonce = true;
    })
    .await;
    let service = a.create_service_client("api.read").await;
    let key = DpopKey::es256();
    let res = client_credentials(&a, &service, Some(&key.token_proof(&a))).await;
    let nonce = res.headers()["DPoP-Nonce"].to_str().unwrap().to_string();
    refused(res, "use_dpop_nonce").await;
    let mut claims = DpopKey::claims(&a, "POST", &a.url("/token"));
    claims["nonce"] = json!(nonce);
    let body =
        ok(client_credentials(&b, &service, Some(&key.sign(&key.header(), &claims))).await).await;
    assert_eq!(body["token_type"], "DPoP");
}

/// §11.1: what the replay store keeps expires with the proof's window; the purge job deletes it
/// then (PostgreSQL; SQLite keeps it in memory), and never before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_deletes_proofs_whose_window_is_over() {
    use tessera::purge::{Outcome, Policy, run_once};
    // (iat + dpop_proof_lifetime + dpop_clock_skew + 1 is when a row may go.)
    let app = spawn_app(Backend::Postgres).await;
    let service = app.create_service_client("api.read").await;
    let key = DpopKey::es256();
    ok(client_credentials(&app, &service, Some(&key.token_proof(&app))).await).await;
    let policy = Policy::from_settings(&app.state.settings);
    let purged = |at| {
        let store = app.state.store.clone();
        async move {
            match run_once(&store, policy, at).await.unwrap() {
                Outcome::Ran(p) => p.dpop_proofs,
                other => panic!("{other:?}"),
            }
        }
    };
    // The purge keeps a margin for nodes whose clocks differ.
    let now = app.clock.now() + tessera::purge::CLOCK_SKEW_MARGIN;
    assert_eq!(purged(now + 60).await, 0, "still inside the window");
    assert_eq!(purged(now + 60 + 5 + 1).await, 1);
}

/// `tessera client add --require-dpop` registers a client that needs a proof (§5.2), shown as
/// `require_dpop` by the CLI (the admin API's client representation is the same `ClientView`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_add_require_dpop_registers_a_client_that_needs_a_proof() {
    use crate::cli_config::{stderr, tessera};
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let out = tessera(
        dir.path(),
        &[
            "client",
            "add",
            "--name",
            "Strict service",
            "--type",
            "confidential",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api.read",
            "--require-dpop",
            "--json",
        ],
        &[("DATABASE_URL", &db.url)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["require_dpop"], true, "{added}");
    let app = crate::helpers::spawn_on(db, tempfile::tempdir().unwrap(), |_| {}).await;
    let client = TestClient {
        id: added["client_id"].as_str().unwrap().into(),
        secret: added["client_secret"].as_str().map(str::to_string),
    };
    refused(
        client_credentials(&app, &client, None).await,
        "invalid_dpop_proof",
    )
    .await;
    let key = DpopKey::eddsa();
    ok(client_credentials(&app, &client, Some(&key.token_proof(&app))).await).await;
}
