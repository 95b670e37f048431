//! JWS compact serialisation (RFC 7515 §7.1) signed with the ring's parsed key, and
//! verification that picks the key by `kid` and the algorithm from the key, never the header.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::keys::{KeyRing, SigningKey};

#[derive(Debug, thiserror::Error)]
pub enum JwsError {
    #[error("could not serialise the token")]
    Serialize(#[from] serde_json::Error),
    #[error("could not sign the token")]
    Sign,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names an unknown key")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(jsonwebtoken::errors::Error),
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
    })?;
    let payload = serde_json::to_vec(claims)?;
    let mut out = String::with_capacity(64 + payload.len() * 4 / 3 + 350);
    URL_SAFE_NO_PAD.encode_string(&header, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
    let signature = key.sign(out.as_bytes()).map_err(|_| JwsError::Sign)?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
    Ok(out)
}

/// Verifies signature and the registered claims `validation` asks for. The key comes from the
/// ring by `kid`, and only that key's algorithm is accepted (RFC 8725 §3.1).
pub fn verify<T: DeserializeOwned>(
    ring: &KeyRing,
    token: &str,
    configure: impl FnOnce(&mut Validation),
) -> Result<T, JwsError> {
    let header = decode_header(token).map_err(|_| JwsError::Malformed)?;
    let kid = header.kid.ok_or(JwsError::UnknownKey)?;
    let key = ring.get(&kid).ok_or(JwsError::UnknownKey)?;
    let mut validation = Validation::new(key.alg());
    validation.leeway = 0;
    configure(&mut validation);
    decode::<T>(token, key.decoding_key(), &validation)
        .map(|data| data.claims)
        .map_err(JwsError::Invalid)
}
