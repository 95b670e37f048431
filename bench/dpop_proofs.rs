//! Writes DPoP proofs (RFC 9449 §4.2) for `POST <htu>`, one per line, for `bench/dpop.sh`: each
//! request of the load run sends a fresh proof, as a client does. Every proof has its own `jti`
//! and `iat` = the given time; all share one key.
//!
//!     cargo run --release --example dpop_proofs -- ES256|EdDSA <htu> <iat> <count> > proofs
use std::io::{BufWriter, Write};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// Signs a proof's signing input.
type Sign = Box<dyn Fn(&[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, alg, htu, iat, count] = args.as_slice() else {
        return Err("usage: dpop_proofs ES256|EdDSA <htu> <iat> <count>".into());
    };
    let iat: i64 = iat.parse()?;
    let count: usize = count.parse()?;
    let rng = SystemRandom::new();
    let sign: Sign;
    let jwk = match alg.as_str() {
        "ES256" => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .map_err(|e| e.to_string())?;
            let point = pair.public_key().as_ref().to_vec();
            let jwk = serde_json::json!({"kty": "EC", "crv": "P-256",
                "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])});
            let rng = rng.clone();
            sign = Box::new(move |m| Ok(pair.sign(&rng, m)?.as_ref().to_vec()));
            jwk
        }
        "EdDSA" => {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| e.to_string())?;
            let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519",
                "x": B64.encode(pair.public_key().as_ref())});
            sign = Box::new(move |m| Ok(pair.sign(m).as_ref().to_vec()));
            jwk
        }
        other => return Err(format!("unknown alg {other}").into()),
    };
    let header = B64.encode(serde_json::to_vec(
        &serde_json::json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk}),
    )?);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let claims = serde_json::json!({"jti": uuid::Uuid::new_v4().to_string(),
            "htm": "POST", "htu": htu, "iat": iat});
        let signing_input = format!("{header}.{}", B64.encode(serde_json::to_vec(&claims)?));
        let signature = sign(signing_input.as_bytes())?;
        writeln!(out, "{signing_input}.{}", B64.encode(signature))?;
    }
    out.flush()?;
    Ok(())
}
