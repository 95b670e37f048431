//! JWS compact serialisation (RFC 7515 §7.1) signed with the ring's parsed key, and
//! verification that picks the key by `kid` and the algorithm from the key, never the header.
//! Verification is our own (not `jsonwebtoken`'s `decode`, which decoded the header three
//! times, re-parsed the public key and parsed the claims twice per token): it is on the path
//! of every introspection and userinfo request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyRing, SigningKey};

#[derive(Debug, thiserror::Error)]
pub enum JwsError {
    #[error("could not serialise the token")]
    Serialize(serde_json::Error),
    #[error("could not sign the token")]
    Sign,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names an unknown key")]
    UnknownKey,
    #[error("the token's alg is not its key's algorithm")]
    WrongAlgorithm,
    #[error("the token's header lists critical extensions")]
    CriticalExtension,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token was issued by another issuer")]
    OtherIssuer,
    #[error("the token's claims are not what was expected: {0}")]
    Claims(serde_json::Error),
}

#[derive(Serialize)]
struct Header<'a> {
    alg: jsonwebtoken::Algorithm,
    typ: &'a str,
    kid: &'a str,
}

/// `typ` is the media type of RFC 8725 §3.11: `at+jwt`, `JWT` (ID token), `logout+jwt`.
pub fn sign<T: Serialize>(key: &SigningKey, typ: &str, claims: &T) -> Result<String, JwsError> {
    let header = serde_json::to_vec(&Header {
        alg: key.alg(),
        typ,
        kid: key.kid(),
    })
    .map_err(JwsError::Serialize)?;
    let payload = serde_json::to_vec(claims).map_err(JwsError::Serialize)?;
    let mut out = String::with_capacity(64 + payload.len() * 4 / 3 + 350);
    URL_SAFE_NO_PAD.encode_string(&header, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
    let signature = key.sign(out.as_bytes()).map_err(|_| JwsError::Sign)?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
    Ok(out)
}

/// The protected header members a verifier reads (RFC 7515 §4.1); others are ignored.
#[derive(Debug, Deserialize)]
pub struct ReceivedHeader {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    /// RFC 7515 §4.1.11: extensions the recipient must understand. We understand none, so a
    /// token that lists any is invalid (an empty list is invalid too).
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// A token whose signature checked out: its header and its claims, not yet judged.
#[derive(Debug)]
pub struct Verified<T> {
    pub header: ReceivedHeader,
    pub claims: T,
}

/// Verifies the signature of a compact JWS and parses its claims; judging them (issuer,
/// expiry, type) is the caller's business.
pub fn verify<T: DeserializeOwned>(ring: &KeyRing, token: &str) -> Result<Verified<T>, JwsError> {
    let (header, payload) = verify_signature(ring, token)?;
    let claims = parse_claims(&payload)?;
    Ok(Verified { header, claims })
}

/// The claims of a payload `verify_signature` returned.
pub fn parse_claims<T: DeserializeOwned>(payload: &[u8]) -> Result<T, JwsError> {
    serde_json::from_slice(payload).map_err(JwsError::Claims)
}

/// Verifies the signature of a compact JWS; returns its header and its decoded payload. The
/// key comes from the ring by `kid`, and the header's `alg` must be that key's algorithm
/// (RFC 8725 §3.1: the header never picks the verifier). Each part is decoded once.
pub fn verify_signature(
    ring: &KeyRing,
    token: &str,
) -> Result<(ReceivedHeader, Vec<u8>), JwsError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let header: ReceivedHeader = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(JwsError::Malformed)?;
    if header.crit.is_some() {
        return Err(JwsError::CriticalExtension);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| ring.get(kid))
        .ok_or(JwsError::UnknownKey)?;
    if header.alg != key.signing_alg().as_str() {
        return Err(JwsError::WrongAlgorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwsError::Malformed)?;
    // RFC 7515 §5.2: the signing input is the two encoded parts as sent, with their dot.
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(signing_input.as_bytes(), &signature) {
        return Err(JwsError::BadSignature);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| JwsError::Malformed)?;
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::keys::test_ring as ring;

    #[test]
    fn a_signed_token_verifies_and_any_change_breaks_it() {
        let (_dir, ring) = ring();
        let token = sign(
            ring.active().unwrap(),
            "JWT",
            &serde_json::json!({"sub": "a"}),
        )
        .unwrap();
        let ok: Verified<serde_json::Value> = verify(&ring, &token).unwrap();
        assert_eq!(ok.claims["sub"], "a");
        assert_eq!(ok.header.typ.as_deref(), Some("JWT"));

        let parts: Vec<&str> = token.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(br#"{"sub":"b"}"#);
        let tampered = format!("{}.{other}.{}", parts[0], parts[2]);
        assert!(matches!(
            verify::<serde_json::Value>(&ring, &tampered),
            Err(JwsError::BadSignature)
        ));
        // The header names our key but another algorithm: refused before any verification.
        let kid = ring.active().unwrap().kid();
        let hs = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#));
        let confused = format!("{hs}.{}.{}", parts[1], parts[2]);
        assert!(matches!(
            verify::<serde_json::Value>(&ring, &confused),
            Err(JwsError::WrongAlgorithm)
        ));
        // RFC 7515 §4.1.11: a `crit` extension we do not understand makes the JWS invalid,
        // even when the signature over the header is good.
        let key = ring.active().unwrap();
        let crit = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"{}","kid":"{kid}","crit":["exp"],"exp":1}}"#,
            key.signing_alg().as_str()
        ));
        let input = format!("{crit}.{}", parts[1]);
        let sig = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).unwrap());
        assert!(matches!(
            verify::<serde_json::Value>(&ring, &format!("{input}.{sig}")),
            Err(JwsError::CriticalExtension)
        ));
        for malformed in ["", "a.b", &format!("{token}.x"), "!.!.!"] {
            assert!(
                verify::<serde_json::Value>(&ring, malformed).is_err(),
                "{malformed}"
            );
        }
    }
}
