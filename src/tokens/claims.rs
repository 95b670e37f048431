//! Claim sets of the JWTs Tessera issues.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// An access token's claims (RFC 9068 §2.2). Optional members are left out when absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user, or for client_credentials the client itself (RFC 9068 §2.2).
    pub sub: String,
    /// The resource the token is for; for client_credentials, the client id (see
    /// `tokens::access`).
    pub aud: String,
    pub client_id: String,
    /// Space-separated granted scopes (RFC 9068 §2.2.3); absent when none were granted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub jti: String,
    /// The SSO session (OIDC Front/Back-Channel Logout `sid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixTime>,
    /// The user's roles (RFC 9068 §2.2.3.1, RFC 7643 §4.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Private claim: the refresh-token family the token came from, so that revoking the
    /// family reaches its access tokens through the revocation list (DESIGN §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
    /// The `kid` of the key that signed the token: a JWS header member, not a claim (never
    /// serialized), set by verification so that a revoked key's tokens are found by the
    /// revocation list like any other (issue 13).
    #[serde(skip)]
    pub kid: Option<String>,
}
