//! ID tokens (OIDC Core §2, §3.1.3.6): who signed in, when and how, for one client.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use super::jws::{self, JwsError};
use crate::clock::UnixTime;
use crate::keys::{KeyRing, SigningAlg, SigningKey};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub auth_time: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Native SSO §3.4: binds the ID token to the device secret (`ds_hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    pub azp: String,
    #[serde(flatten)]
    pub profile: ProfileClaims,
}

/// Claims released by scope (OIDC Core §5.4): `profile` and `email`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProfileClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// OIDC Core §3.1.3.6: base64url of the left half of the hash of the access token, with the
/// hash that goes with the ID token's `alg`: SHA-256 for RS256 and ES256, SHA-512 for EdDSA
/// over Ed25519 (the rule relying-party libraries such as `openidconnect` apply).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    match alg {
        SigningAlg::Rs256 | SigningAlg::Es256 => {
            URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16])
        }
        SigningAlg::EdDsa => URL_SAFE_NO_PAD.encode(&Sha512::digest(access_token.as_bytes())[..32]),
    }
}

/// Native SSO §3.4: `ds_hash` is computed from the device secret as `at_hash` is from the
/// access token.
pub fn ds_hash(alg: SigningAlg, device_secret: &str) -> String {
    at_hash(alg, device_secret)
}

/// The `typ` header of our ID tokens.
const TYP: &str = "JWT";

pub fn mint(key: &SigningKey, claims: &IdClaims) -> Result<String, JwsError> {
    jws::sign(key, TYP, claims)
}

/// Checks an `id_token_hint` (RP-initiated logout): our signature and issuer. Expiry is not
/// checked: a hint may be presented after the ID token expired (OIDC RP-Initiated Logout §2).
pub fn verify_hint(ring: &KeyRing, issuer: &str, token: &str) -> Result<IdClaims, JwsError> {
    verify_ignoring_expiry(ring, issuer, token).map(|(claims, _)| claims)
}

/// Our signature and issuer, not the expiry (an ID token hint, and a Native SSO subject token,
/// Native SSO §4.3, are valid after the token expired). Also the algorithm it was signed with,
/// which decides the hash of `at_hash` and `ds_hash`.
pub fn verify_ignoring_expiry(
    ring: &KeyRing,
    issuer: &str,
    token: &str,
) -> Result<(IdClaims, SigningAlg), JwsError> {
    let verified = jws::verify::<IdClaims>(ring, token)?;
    // RFC 8725 §3.11: an access token (`at+jwt`) is never taken for an ID token.
    if verified.header.typ.as_deref() != Some(TYP) {
        return Err(JwsError::Malformed);
    }
    // `verify` checked the header's alg is its key's algorithm, so this names the key's.
    let alg = SigningAlg::parse(&verified.header.alg).map_err(|_| JwsError::WrongAlgorithm)?;
    if verified.claims.iss == issuer {
        Ok((verified.claims, alg))
    } else {
        Err(JwsError::OtherIssuer)
    }
}
