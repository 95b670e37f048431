//! Verifying an access token offline (RFC 9068 §4), then against the revocation list.

use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;

use crate::State;
use crate::error::AuthError;
use crate::jwks::Lookup;
use crate::revocations::{Origin, TokenFacts, max_staleness};

/// The claims this API reads from Tessera's access tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub client_id: String,
    /// One audience or several (RFC 7519 §4.1.3); `jsonwebtoken` has checked that this API's
    /// identifier is among them.
    pub aud: Audience,
    #[serde(default)]
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sid: Option<String>,
    /// The refresh-token family the token came from (Tessera's private claim).
    pub fam: Option<String>,
    /// After a token exchange (RFC 8693): the tokens this one was made from (Tessera's
    /// private claim), so that revoking any of them reaches this one.
    #[serde(default)]
    pub xo: Vec<Origin>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(a) => std::slice::from_ref(a),
            Self::Many(list) => list,
        }
    }
}

impl AccessClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

pub async fn verify(state: &State, token: &str) -> Result<AccessClaims, AuthError> {
    let header = decode_header(token).map_err(|_| AuthError::InvalidToken("malformed token"))?;
    // RFC 9068 §4: the type must be at+jwt (an ID token or logout token is not an access token).
    let typ = header
        .typ
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if typ != "at+jwt" && typ != "application/at+jwt" {
        return Err(AuthError::InvalidToken("not an access token (typ)"));
    }
    let kid = header
        .kid
        .as_deref()
        .ok_or(AuthError::InvalidToken("no kid"))?;
    let key = match state.jwks.key(&state.http, kid).await {
        Lookup::Found(key) => key,
        Lookup::Unknown => return Err(AuthError::InvalidToken("unknown signing key")),
    };
    // The key's type picks the algorithm; a header naming another one (HS256 with the public
    // key as secret, `none`) is refused.
    if header.alg != key.alg {
        return Err(AuthError::InvalidToken("algorithm does not match the key"));
    }
    let mut validation = Validation::new(key.alg);
    validation.set_issuer(&[&state.config.issuer]);
    validation.set_audience(&[&state.config.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = state.config.leeway.as_secs();
    let claims = decode::<AccessClaims>(token, &key.key, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AuthError::InvalidToken(match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::InvalidAudience => "not for this API (aud)",
                ErrorKind::InvalidIssuer => "another issuer",
                ErrorKind::InvalidSignature => "bad signature",
                _ => "invalid token",
            })
        })?
        .claims;

    // The revocation list must be recent: an API that lost Tessera would otherwise accept
    // revoked tokens for as long as they live.
    let fresh = state
        .revocations
        .last_pull()
        .await
        .is_some_and(|at| at.elapsed() <= max_staleness(state.config.revocations_every));
    if !fresh {
        return Err(AuthError::Unavailable);
    }
    let facts = TokenFacts {
        kid,
        jti: &claims.jti,
        sid: claims.sid.as_deref(),
        fam: claims.fam.as_deref(),
        sub: &claims.sub,
        client_id: &claims.client_id,
        aud: claims.aud.as_slice(),
        iat: claims.iat,
        origins: &claims.xo,
    };
    if state.revocations.is_revoked(&facts).await {
        return Err(AuthError::InvalidToken("revoked"));
    }
    Ok(claims)
}
