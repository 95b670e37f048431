//! `OAuthError`: the error codes of RFC 6749 §5.2 (and the few HTTP-level cases the token
//! endpoint adds). `crate::error` turns them into responses; this module only decides.

use std::borrow::Cow;

use crate::store::StoreError;
use crate::tokens::jws::JwsError;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Missing, repeated or malformed parameter; two client authentication methods at once.
    #[error("{0}")]
    InvalidRequest(Cow<'static, str>),
    /// Client authentication failed (401). `basic` says the client tried HTTP Basic, so the
    /// answer carries `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    #[error("{description}")]
    InvalidClient {
        description: Cow<'static, str>,
        basic: bool,
    },
    #[error("{0}")]
    InvalidGrant(Cow<'static, str>),
    #[error("{0}")]
    UnauthorizedClient(Cow<'static, str>),
    /// The client authenticated but may not use this endpoint (403, `unauthorized_client`).
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    #[error("{0}")]
    UnsupportedGrantType(Cow<'static, str>),
    #[error("{0}")]
    InvalidScope(Cow<'static, str>),
    /// RFC 8693 §2.2.2, RFC 8707 §2: the requested audience or resource is malformed, unknown,
    /// or not allowed to the client.
    #[error("{0}")]
    InvalidTarget(Cow<'static, str>),
    /// RFC 9449 §5: the DPoP proof is missing where required, malformed, or fails a check.
    #[error("{0}")]
    InvalidDpopProof(Cow<'static, str>),
    /// RFC 9449 §8: the proof must carry the server's nonce (sent in `DPoP-Nonce`).
    #[error("a DPoP nonce is required: sign a new proof with the nonce of the DPoP-Nonce header")]
    UseDpopNonce(String),
    /// RFC 8628 §3.5: the user has not decided yet; poll again after the interval.
    #[error("the user has not yet approved or denied the request")]
    AuthorizationPending,
    /// RFC 8628 §3.5: polled faster than the interval, which is now 5 seconds longer.
    #[error("polled too fast; wait {0} seconds between requests")]
    SlowDown(i64),
    /// RFC 8628 §3.5: the user denied the request.
    #[error("the user denied the request")]
    AccessDenied,
    /// RFC 8628 §3.5: the device code expired; start again.
    #[error("the device code has expired; start a new device authorization")]
    ExpiredToken,
    /// The endpoint exists but answers only another method (405).
    #[error("this endpoint accepts only {0}")]
    MethodNotAllowed(&'static str),
    /// The client sent more token requests than its rate limit allows (429 + Retry-After).
    #[error("too many token requests from this client; retry after {0} s")]
    RateLimited(u64),
    /// The store is unreachable (503, retry later).
    #[error("the service is temporarily unavailable; retry later")]
    TemporarilyUnavailable,
    /// Anything else: logged with its cause, answered with a generic message (500).
    #[error("internal error")]
    ServerError(#[source] anyhow::Error),
}

impl OAuthError {
    /// The RFC 6749 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::MethodNotAllowed(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) | Self::Forbidden(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce(_) => "use_dpop_nonce",
            // RFC 6749 §4.1.2.1: the server is temporarily unable to handle the request.
            Self::TemporarilyUnavailable | Self::RateLimited(_) => "temporarily_unavailable",
            Self::ServerError(_) => "server_error",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown(_) => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(description.into())
    }

    pub fn invalid_client(description: impl Into<Cow<'static, str>>, basic: bool) -> Self {
        Self::InvalidClient {
            description: description.into(),
            basic,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "database unavailable");
                Self::TemporarilyUnavailable
            }
            other => Self::ServerError(other.into()),
        }
    }
}

impl From<crate::oauth::dpop::DpopError> for OAuthError {
    fn from(e: crate::oauth::dpop::DpopError) -> Self {
        use crate::oauth::dpop::DpopError as E;
        match e {
            E::Invalid(why) => Self::InvalidDpopProof(why),
            E::WrongKey => {
                Self::InvalidDpopProof("the DPoP proof is not of the expected key".into())
            }
            E::UseNonce(nonce) => Self::UseDpopNonce(nonce),
            E::Store(e) => e.into(),
        }
    }
}

impl From<JwsError> for OAuthError {
    fn from(e: JwsError) -> Self {
        Self::ServerError(e.into())
    }
}

/// Errors of endpoints that take a bearer access token (RFC 6750 §3.1).
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// No token: 401 with a bare challenge (§3.1: no error code).
    #[error("an access token is required")]
    Missing,
    #[error("the request is malformed")]
    InvalidRequest,
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    #[error("the access token lacks the {0} scope")]
    InsufficientScope(&'static str),
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable,
    /// RFC 9449 §7.1: a DPoP-bound token sent as a bearer token, a token whose key is not the
    /// proof's, or an invalid token under the DPoP scheme (a `DPoP` challenge).
    #[error("{0}")]
    DpopInvalidToken(&'static str),
    /// RFC 9449 §7.1: the proof is missing or fails a check.
    #[error("{0}")]
    InvalidDpopProof(Cow<'static, str>),
}
