//! Logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4): `typ: logout+jwt`, the
//! back-channel logout event, `sid` and `sub`, and never a `nonce`.

use serde::{Deserialize, Serialize};

use super::jws::{self, JwsError};
use crate::clock::UnixTime;
use crate::keys::SigningKey;

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid (OIDC Back-Channel Logout §2.4 recommends a short `exp`).
pub const LIFETIME: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutClaims {
    pub iss: String,
    pub aud: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    pub jti: String,
    pub sub: String,
    pub sid: String,
    pub events: serde_json::Value,
}

pub fn mint(
    key: &SigningKey,
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: &str,
    now: UnixTime,
) -> Result<String, JwsError> {
    let claims = LogoutClaims {
        iss: issuer.to_string(),
        aud: client_id.to_string(),
        iat: now,
        exp: now.saturating_add(LIFETIME.as_secs() as i64),
        jti: uuid::Uuid::new_v4().to_string(),
        sub: sub.to_string(),
        sid: sid.to_string(),
        events: serde_json::json!({ EVENT: {} }),
    };
    jws::sign(key, "logout+jwt", &claims)
}
