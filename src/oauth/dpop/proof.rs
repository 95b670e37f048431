//! A DPoP proof (RFC 9449 §4.2) and its checks (§4.3), without I/O: the replay check and the
//! nonce are the caller's (`super::check`). The signature is verified with the public key the
//! proof carries; the thumbprint of that key (RFC 7638) is what tokens are bound to.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::clock::UnixTime;

/// §4.2: the `typ` of a proof.
pub const TYP: &str = "dpop+jwt";

/// The algorithms a proof may be signed with (`dpop_signing_alg_values_supported`): asymmetric
/// only (§4.3 point 5), and only those the verifier implements.
pub const ALGS: &[&str] = &["ES256", "EdDSA", "RS256", "PS256"];

/// Refused before any parsing: a proof with an ES256 or Ed25519 key is about 600 bytes, one
/// with an RSA-4096 key under 3 KiB.
pub const MAX_PROOF_BYTES: usize = 4096;

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;
const MAX_RSA_BYTES: usize = 512;

/// Why a proof is refused (`invalid_dpop_proof`, §5 and §7.1). Worded for the client's
/// developer; says nothing the client did not send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidProof(pub Cow<'static, str>);

fn invalid(why: &'static str) -> InvalidProof {
    InvalidProof(why.into())
}

/// What the request the proof came with was: its method and URL (the configured one, never
/// built from the request's `Host`), and for a resource request the access token (§4.3 point
/// 11: `ath`).
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub htm: &'a str,
    pub htu: &'a Url,
    pub access_token: Option<&'a str>,
}

/// How old or how far ahead a proof's `iat` may be (§4.3 point 11, §11.1).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Seconds a proof stays acceptable after its `iat`.
    pub lifetime: i64,
    /// Seconds of clock difference tolerated in either direction.
    pub skew: i64,
}

impl Window {
    /// The last second at which a proof issued at `iat` can be accepted: until then its `jti`
    /// must be remembered (§11.1).
    pub fn expires(&self, iat: UnixTime) -> UnixTime {
        iat.saturating_add(self.lifetime).saturating_add(self.skew)
    }
}

/// A proof that passed §4.3 (all but the nonce and replay checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key, base64url: `cnf.jkt` (§6.1).
    pub jkt: String,
    pub jti: String,
    pub iat: UnixTime,
    pub nonce: Option<String>,
}

impl Proof {
    /// The key under which the replay store remembers this proof: the key and the `jti`
    /// together, so that two clients choosing the same `jti` do not collide.
    pub fn replay_key(&self) -> String {
        crate::tokens::opaque::hash(&format!("{}.{}", self.jkt, self.jti))
    }
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Map<String, serde_json::Value>>,
    /// RFC 7515 §4.1.11: no extension is understood, so any is refused.
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Checks a proof as §4.3 says, at `now`.
pub fn verify(
    raw: &str,
    expected: &Expected<'_>,
    window: Window,
    now: UnixTime,
) -> Result<Proof, InvalidProof> {
    // Point 1: one well-formed JWT (the HTTP layer already refused repeats and huge headers).
    if raw.len() > MAX_PROOF_BYTES {
        return Err(invalid("the DPoP proof is too large"));
    }
    let mut parts = raw.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the DPoP proof is not a JWT"));
    };
    let header: Header = decode_part(h)?;
    // Point 4: `typ`.
    if header.typ.as_deref() != Some(TYP) {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    if header.crit.is_some() {
        return Err(invalid("the DPoP proof lists critical extensions"));
    }
    // Point 5: an asymmetric algorithm we support (never `none`, never HMAC).
    let alg = match header.alg.as_str() {
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        "RS256" => Algorithm::RS256,
        "PS256" => Algorithm::PS256,
        _ => {
            return Err(invalid(
                "the DPoP proof's alg is not one of dpop_signing_alg_values_supported",
            ));
        }
    };
    // Point 7: a public key, of the algorithm's type, without private members.
    let jwk = header
        .jwk
        .ok_or_else(|| invalid("the DPoP proof carries no jwk"))?;
    let jkt = thumbprint(&jwk, alg)?;
    let parsed: Jwk = serde_json::from_value(serde_json::Value::Object(jwk))
        .map_err(|_| invalid("the DPoP proof's jwk is not a valid public key"))?;
    let key = DecodingKey::from_jwk(&parsed)
        .map_err(|_| invalid("the DPoP proof's jwk is not a valid public key"))?;
    // Point 6: the signature, with that key.
    let message_len = h.len() + 1 + p.len();
    let signed = raw.get(..message_len).unwrap_or_default();
    let verified = jsonwebtoken::crypto::verify(s, signed.as_bytes(), &key, alg).unwrap_or(false);
    if !verified {
        return Err(invalid("the DPoP proof's signature does not verify"));
    }
    let claims: Claims = decode_part(p)?;
    // Point 3: the required claims.
    let (Some(jti), Some(htm), Some(htu), Some(iat)) =
        (claims.jti, claims.htm, claims.htu, claims.iat)
    else {
        return Err(invalid(
            "the DPoP proof lacks a required claim (jti, htm, htu, iat)",
        ));
    };
    // §11.1: enough entropy to be unique; a bound on what we keep per proof.
    if jti.len() < 16 || jti.len() > 256 {
        return Err(invalid("the DPoP proof's jti must be 16 to 256 characters"));
    }
    // Point 8: the method.
    if htm != expected.htm {
        return Err(invalid("the DPoP proof's htm is not this request's method"));
    }
    // Point 9: the URL, without query and fragment, after normalisation (§4.3, RFC 3986 §6).
    if !same_target(&htu, expected.htu) {
        return Err(invalid("the DPoP proof's htu is not this endpoint's URL"));
    }
    // Point 11: `iat` within the window (a whole number of seconds).
    let iat = iat
        .as_i64()
        .ok_or_else(|| invalid("the DPoP proof's iat is not a number of seconds"))?;
    if iat > now.saturating_add(window.skew) {
        return Err(invalid("the DPoP proof's iat is in the future"));
    }
    if now > window.expires(iat) {
        return Err(invalid("the DPoP proof is too old (iat)"));
    }
    // Point 12: `ath`, the SHA-256 of the access token presented with the proof.
    if let Some(token) = expected.access_token {
        let want = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        let ath = claims
            .ath
            .ok_or_else(|| invalid("the DPoP proof lacks ath"))?;
        if !crate::tokens::opaque::ct_eq(&ath, &want) {
            return Err(invalid(
                "the DPoP proof's ath is not the hash of the access token",
            ));
        }
    }
    Ok(Proof {
        jkt,
        jti,
        iat,
        nonce: claims.nonce,
    })
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, InvalidProof> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| invalid("the DPoP proof is not a JWT"))?;
    serde_json::from_slice(&bytes).map_err(|_| invalid("the DPoP proof is not a JWT"))
}

/// `htu` as sent against the endpoint's configured URL. Query and fragment of `htu` are
/// ignored (§4.3 point 9); scheme and host case, default ports and dot segments normalise.
fn same_target(htu: &str, endpoint: &Url) -> bool {
    let Ok(mut sent) = Url::parse(htu) else {
        return false;
    };
    sent.set_query(None);
    sent.set_fragment(None);
    sent.username().is_empty() && sent.password().is_none() && sent == *endpoint
}

/// RFC 7638 §3: the SHA-256 of the required members in lexicographic order, base64url. The
/// key's type must fit the algorithm, and it must hold no private member (§4.3 point 7).
pub fn thumbprint(
    jwk: &serde_json::Map<String, serde_json::Value>,
    alg: Algorithm,
) -> Result<String, InvalidProof> {
    const PRIVATE: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    if PRIVATE.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("the DPoP proof's jwk holds a private key"));
    }
    let member = |name: &str| -> Result<&str, InvalidProof> {
        jwk.get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid("the DPoP proof's jwk lacks a required member"))
    };
    let kty = member("kty")?;
    // The members are base64url or fixed names, so they need no JSON escaping; any other
    // character is refused rather than escaped differently from the client.
    let plain = |v: &str| {
        v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let canonical = match (alg, kty) {
        (Algorithm::ES256, "EC") if member("crv")? == "P-256" => {
            let (x, y) = (member("x")?, member("y")?);
            (plain(x) && plain(y))
                .then(|| format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#))
        }
        (Algorithm::EdDSA, "OKP") if member("crv")? == "Ed25519" => {
            let x = member("x")?;
            plain(x).then(|| format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#))
        }
        (Algorithm::RS256 | Algorithm::PS256, "RSA") => {
            let (e, n) = (member("e")?, member("n")?);
            // RFC 7518 §6.3.1.1: `n` is unsigned big-endian with no leading zero octet (a
            // padded one would give the same key another thumbprint). Above 4096 bits a key
            // only costs us verification time.
            let modulus = URL_SAFE_NO_PAD
                .decode(n)
                .map_err(|_| invalid("the DPoP proof's RSA modulus is not base64url"))?;
            if modulus.first() == Some(&0) {
                return Err(invalid(
                    "the DPoP proof's RSA modulus has a leading zero octet",
                ));
            }
            if modulus.len() < MIN_RSA_BYTES {
                return Err(invalid(
                    "the DPoP proof's RSA key is shorter than 2048 bits",
                ));
            }
            if modulus.len() > MAX_RSA_BYTES {
                return Err(invalid("the DPoP proof's RSA key is longer than 4096 bits"));
            }
            (plain(e) && plain(n)).then(|| format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#))
        }
        _ => None,
    }
    .ok_or_else(|| invalid("the DPoP proof's jwk does not fit its alg"))?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint_is_reproduced() {
        // RFC 7638 §3.1 (an RSA key; its thumbprint is given there).
        let jwk: serde_json::Value = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let map = jwk.as_object().unwrap();
        assert_eq!(
            thumbprint(map, Algorithm::RS256).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert!(thumbprint(map, Algorithm::ES256).is_err());
        let mut private = map.clone();
        private.insert("d".into(), "x".into());
        assert!(thumbprint(&private, Algorithm::RS256).is_err());
    }

    #[test]
    fn htu_ignores_query_and_fragment_and_normalises_case_and_port() {
        let endpoint = Url::parse("https://id.example/token").unwrap();
        assert!(same_target("https://id.example/token", &endpoint));
        assert!(same_target("HTTPS://ID.example:443/token?x=1#f", &endpoint));
        assert!(!same_target("https://evil.example/token", &endpoint));
        assert!(!same_target("https://id.example/token/", &endpoint));
        assert!(!same_target("https://u:p@id.example/token", &endpoint));
        assert!(!same_target("/token", &endpoint));
    }

    /// RS256 and PS256 proofs verify with the RSA key they carry (§4.3 points 5 to 7).
    #[test]
    fn rsa_proofs_verify_with_their_own_key() {
        use aws_lc_rs::rsa::{KeyPair, KeySize};
        use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RSA_PSS_SHA256};
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = pair.public_key();
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        });
        let htu = Url::parse("https://id.example/token").unwrap();
        let expected = Expected {
            htm: "POST",
            htu: &htu,
            access_token: None,
        };
        let window = Window {
            lifetime: 60,
            skew: 5,
        };
        let rng = aws_lc_rs::rand::SystemRandom::new();
        for (alg, padding) in [
            (
                "RS256",
                &RSA_PKCS1_SHA256 as &'static dyn aws_lc_rs::signature::RsaEncoding,
            ),
            ("PS256", &RSA_PSS_SHA256),
        ] {
            let header = serde_json::json!({"typ": TYP, "alg": alg, "jwk": jwk});
            let claims = serde_json::json!({"jti": "0123456789abcdef", "htm": "POST",
                "htu": "https://id.example/token", "iat": 1000});
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
            );
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(padding, &rng, input.as_bytes(), &mut sig)
                .unwrap();
            let proof = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig));
            let verified = verify(&proof, &expected, window, 1000).unwrap();
            assert_eq!(
                verified.jkt,
                thumbprint(jwk.as_object().unwrap(), Algorithm::RS256).unwrap()
            );
        }
    }
}
