//! Errors are mapped to HTTP in this one place: status, headers and a generic body. The cause
//! goes to the log; clients never see library or database text.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::oauth::error::OAuthError;
use crate::store::StoreError;

/// Errors of JSON endpoints that are not OAuth endpoints (health, JWKS, 404s).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            ApiError::NotFound => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unavailable => "temporarily_unavailable",
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                "server_error"
            }
        };
        let mut res = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unavailable) {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .json(serde_json::json!({ "error": code, "error_description": self.to_string() }))
    }
}

/// Errors of HTML pages: a readable page with the right status, never internals.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the request is too large")]
    TooLarge,
    #[error("the page does not exist")]
    NotFound,
    #[error("the service is temporarily unavailable; please try again in a moment")]
    Unavailable,
    #[error("something went wrong on our side; please try again")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "database unavailable");
                PageError::Unavailable
            }
            other => PageError::Internal(other.into()),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::Internal(e.into())
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        use askama::Template;
        let title = match self {
            PageError::BadRequest(_) => "Bad request",
            PageError::Forbidden(_) => "Forbidden",
            PageError::TooLarge => "Too large",
            PageError::NotFound => "Not found",
            PageError::Unavailable => "Unavailable",
            PageError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                "Error"
            }
        };
        let message = self.to_string();
        let body = ErrorPage {
            title,
            message: &message,
        }
        .render()
        .unwrap_or_else(|_| message.clone());
        let mut res = HttpResponse::build(self.status_code());
        if matches!(self, PageError::Unavailable) {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}

/// RFC 6749 §5.2: a JSON body `{"error", "error_description"}`, 400 except 401 for
/// `invalid_client` (with `WWW-Authenticate` when the client used Basic), 503 when the store is
/// down, 500 for internal errors (cause logged, never sent). Like every token response, errors
/// are not cached (§5.1).
impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            OAuthError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            OAuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            OAuthError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        match self {
            OAuthError::InvalidClient { basic: true, .. } => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tessera\""),
                ));
            }
            OAuthError::MethodNotAllowed(allow) => {
                res.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            OAuthError::TemporarilyUnavailable => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            OAuthError::RateLimited(retry_after) => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after)));
            }
            // RFC 9449 §8: the nonce to use, in a header the client reads.
            OAuthError::UseDpopNonce(nonce) => {
                if let Ok(value) = HeaderValue::from_str(nonce) {
                    res.insert_header(("DPoP-Nonce", value));
                }
            }
            OAuthError::ServerError(cause) => {
                tracing::error!(error = ?cause, "internal error");
            }
            _ => {}
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
            .json(
                serde_json::json!({ "error": self.code(), "error_description": self.to_string() }),
            )
    }
}

/// RFC 6750 §3: a `WWW-Authenticate: Bearer` challenge naming the error, and a JSON body.
impl ResponseError for crate::oauth::error::BearerError {
    fn status_code(&self) -> StatusCode {
        use crate::oauth::error::BearerError as E;
        match self {
            E::Missing | E::InvalidToken | E::DpopInvalidToken(_) | E::InvalidDpopProof(_) => {
                StatusCode::UNAUTHORIZED
            }
            E::InvalidRequest => StatusCode::BAD_REQUEST,
            E::InsufficientScope(_) => StatusCode::FORBIDDEN,
            E::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        use crate::oauth::error::BearerError as E;
        let code = match self {
            E::Missing => None,
            E::InvalidRequest => Some("invalid_request"),
            E::InvalidToken => Some("invalid_token"),
            E::InsufficientScope(_) => Some("insufficient_scope"),
            E::Unavailable => Some("temporarily_unavailable"),
            E::DpopInvalidToken(_) => Some("invalid_token"),
            E::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
        };
        // RFC 9449 §7.1: the DPoP scheme's challenge names the algorithms a proof may use.
        let dpop = format!("DPoP algs=\"{}\"", crate::oauth::dpop::ALGS.join(" "));
        // A quoted-string of visible ASCII (RFC 9110 §11.2): section signs spelled out.
        let description: String = self
            .to_string()
            .replace('§', "section ")
            .chars()
            .filter(|c| (c.is_ascii_graphic() || *c == ' ') && *c != '"' && *c != '\\')
            .collect();
        let challenge = match (self, code) {
            (E::DpopInvalidToken(_) | E::InvalidDpopProof(_), Some(code)) => {
                format!("{dpop}, error=\"{code}\", error_description=\"{description}\"")
            }
            (_, None) => "Bearer realm=\"tessera\"".to_string(),
            (_, Some(code)) => format!(
                "Bearer realm=\"tessera\", error=\"{code}\", error_description=\"{description}\""
            ),
        };
        let mut res = HttpResponse::build(self.status_code());
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            res.insert_header((header::WWW_AUTHENTICATE, value));
        }
        // No credentials at all: either scheme will do (RFC 9449 §7.2).
        if matches!(self, E::Missing)
            && let Ok(value) = HeaderValue::from_str(&dpop)
        {
            res.append_header((header::WWW_AUTHENTICATE, value));
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .json(serde_json::json!({
                "error": code.unwrap_or("invalid_request"),
                "error_description": self.to_string(),
            }))
    }
}

/// Console pages: a redirect (sign in, second factor, re-authentication) or an error page.
impl ResponseError for crate::http::admin::ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Redirect(_) => StatusCode::SEE_OTHER,
            Self::Page(page) => page.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Redirect(location) => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location.as_str()))
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .finish(),
            Self::Page(page) => page.error_response(),
        }
    }
}

/// The admin JSON API: `{"error": {"code", "message"}}` with a stable code; a Bearer challenge
/// on 401 (RFC 6750 §3); internals logged, never sent.
impl ResponseError for crate::admin::api::ApiError {
    fn status_code(&self) -> StatusCode {
        use crate::admin::api::ApiError as E;
        match self {
            E::Unauthenticated | E::InvalidToken | E::DpopBound => StatusCode::UNAUTHORIZED,
            E::InsufficientScope | E::Forbidden(_) | E::ForbiddenBecause(_) => {
                StatusCode::FORBIDDEN
            }
            E::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            E::NotFound => StatusCode::NOT_FOUND,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        use crate::admin::api::ApiError as E;
        let mut res = HttpResponse::build(self.status_code());
        match self {
            E::Unauthenticated => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"tessera\""),
                ));
            }
            E::InvalidToken => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"tessera\", error=\"invalid_token\""),
                ));
            }
            // RFC 9449 §7.2: the challenge names the DPoP scheme, as /userinfo's does.
            E::DpopBound => {
                let challenge = format!(
                    "DPoP algs=\"{}\", error=\"invalid_token\", error_description=\"the access token is DPoP-bound\"",
                    crate::oauth::dpop::ALGS.join(" ")
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    res.insert_header((header::WWW_AUTHENTICATE, value));
                }
            }
            E::InsufficientScope => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"tessera:admin\"",
                    ),
                ));
            }
            E::Unavailable => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            E::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            _ => {}
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .json(self.body())
    }
}
