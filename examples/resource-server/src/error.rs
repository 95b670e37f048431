//! Refusals as RFC 6750 §3 says: 401 with `WWW-Authenticate: Bearer` (and `error` when a token
//! was presented), 403 `insufficient_scope` naming the scope needed.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};

pub const REALM: &str = "orders";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No bearer token (§3.1: no error code then).
    Missing,
    /// Malformed, forged, expired, for another audience, of the wrong type, revoked.
    InvalidToken(&'static str),
    /// A good token without the scope the route needs.
    InsufficientScope(&'static str),
    /// The revocation list is too old to trust (Tessera unreachable): refuse rather than
    /// accept tokens that may have been revoked.
    Unavailable,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("no bearer token"),
            Self::InvalidToken(why) => write!(f, "invalid token: {why}"),
            Self::InsufficientScope(scope) => write!(f, "needs scope {scope}"),
            Self::Unavailable => f.write_str("revocation list out of date"),
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Missing | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((CACHE_CONTROL, "no-store"));
        let (challenge, body) = match self {
            Self::Missing => (format!(r#"Bearer realm="{REALM}""#), None),
            Self::InvalidToken(why) => (
                format!(
                    r#"Bearer realm="{REALM}", error="invalid_token", error_description="{why}""#
                ),
                Some(serde_json::json!({"error": "invalid_token", "error_description": why})),
            ),
            Self::InsufficientScope(scope) => (
                format!(r#"Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}""#),
                Some(serde_json::json!({"error": "insufficient_scope", "scope": scope})),
            ),
            Self::Unavailable => {
                res.insert_header((RETRY_AFTER, "5"));
                return res.json(serde_json::json!({"error": "temporarily_unavailable"}));
            }
        };
        res.insert_header((WWW_AUTHENTICATE, challenge));
        match body {
            Some(body) => res.json(body),
            None => res.finish(),
        }
    }
}
