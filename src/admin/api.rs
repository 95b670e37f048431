//! The admin JSON API's contract: its error codes and its pagination (which the service's
//! lists and the console's pages use too). The handlers, and the OpenAPI document generated
//! from them, are in `http/admin/api/`; `error.rs` maps `ApiError` to HTTP.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Actor, Admin};
use crate::accounts::Role;
use crate::oauth::scope::Scope;
use crate::tokens::claims::AccessClaims;

/// The scope that opens the admin API (to an admin user's token, or a client granted it).
pub const ADMIN_SCOPE: &str = "tessera:admin";

/// Errors of the admin API. `code()` is stable: clients may match on it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a Bearer access token is required")]
    Unauthenticated,
    #[error("the access token is invalid or expired")]
    InvalidToken,
    /// RFC 9449 §7.2: a DPoP-bound token presented as a bearer token.
    #[error("the access token is DPoP-bound and the admin API takes only bearer tokens")]
    DpopBound,
    #[error("the token lacks the tessera:admin scope")]
    InsufficientScope,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    ForbiddenBecause(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The stable error codes; the OpenAPI document lists them as the `code` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthenticated,
    InvalidToken,
    InsufficientScope,
    Forbidden,
    InvalidRequest,
    NotFound,
    Conflict,
    TemporarilyUnavailable,
    ServerError,
}

/// The body of every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people: its wording may change; match on `code`.
    pub message: String,
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthenticated => ErrorCode::Unauthenticated,
            ApiError::InvalidToken | ApiError::DpopBound => ErrorCode::InvalidToken,
            ApiError::InsufficientScope => ErrorCode::InsufficientScope,
            ApiError::Forbidden(_) | ApiError::ForbiddenBecause(_) => ErrorCode::Forbidden,
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::Unavailable => ErrorCode::TemporarilyUnavailable,
            ApiError::Internal(_) => ErrorCode::ServerError,
        }
    }

    /// What the client is sent (`error.rs` adds the status and headers).
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        }
    }
}

/// The one mapping of the admin service's errors to the API's.
impl From<super::AdminError> for ApiError {
    fn from(e: super::AdminError) -> Self {
        use super::AdminError as E;
        match e {
            E::NotFound(_) => ApiError::NotFound,
            E::Invalid(_, message) => ApiError::InvalidRequest(message),
            E::Conflict(message) => ApiError::Conflict(message),
            E::Forbidden(message) => ApiError::ForbiddenBecause(message),
            not_recent @ E::NotRecent { .. } => ApiError::ForbiddenBecause(not_recent.to_string()),
            E::Store(s) => s.into(),
            E::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => ApiError::Unavailable,
            other => ApiError::Internal(other.into()),
        }
    }
}

impl Admin<'_> {
    /// Whom a verified, unrevoked access token speaks for on the admin API: an administrator
    /// whose session is still alive (and passed the second factor when that is required), or
    /// a client still registered with the `tessera:admin` scope.
    pub async fn api_caller(&self, claims: &AccessClaims) -> Result<Actor, ApiError> {
        let scope = Scope::parse(&claims.scope).unwrap_or_else(|_| Scope::empty());
        let user = if claims.sid.is_none() && claims.sub == claims.client_id {
            None
        } else {
            let user = self
                .store
                .user_by_id(&claims.sub)
                .await?
                .filter(|u| !u.disabled)
                .ok_or(ApiError::InvalidToken)?;
            if !user.has_role(Role::Admin) {
                return Err(ApiError::Forbidden("the admin API is for administrators"));
            }
            Some(user)
        };
        if !scope.contains(ADMIN_SCOPE) {
            return Err(ApiError::InsufficientScope);
        }
        let Some(user) = user else {
            // The client must still exist and still be allowed the scope.
            let client = self
                .store
                .get_client(&claims.client_id)
                .await?
                .ok_or(ApiError::InvalidToken)?;
            if !client.scopes.contains(ADMIN_SCOPE) {
                return Err(ApiError::InsufficientScope);
            }
            return Ok(Actor::client(client.id.as_str()));
        };
        // The session the token came from must still be alive: its TOTP step (or its sign-in
        // time) means nothing once it has ended or expired.
        let sid = claims.sid.as_deref().unwrap_or_default();
        let session = self
            .store
            .unexpired_session_by_sid(sid, self.now())
            .await?
            .ok_or(ApiError::Forbidden(
                "the token's session has ended: sign in again and use a new token",
            ))?;
        if self.policy.admin_require_totp && session.mfa_at.is_none() {
            return Err(ApiError::Forbidden(
                "the token's session did not pass the second factor (TOTP)",
            ));
        }
        // The token's own `auth_time`, not the session's: a sign-in again in the console must
        // not make every older token of that session count as recent.
        Ok(Actor::user(&user, claims.auth_time))
    }
}

pub const MAX_PER_PAGE: u32 = 100;

/// `?page=1&per_page=50` on every list (per_page at most 100).
#[derive(Debug, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// 1-based; default 1.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Default 50, at most 100.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

impl Paging {
    pub fn page(&self) -> u32 {
        self.page.unwrap_or(1).max(1)
    }

    pub fn per_page(&self) -> u32 {
        self.per_page.unwrap_or(50).clamp(1, MAX_PER_PAGE)
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page() - 1) * i64::from(self.per_page())
    }

    /// The `limit` to fetch: one row more than the page shows, to know whether another follows.
    pub fn limit(&self) -> i64 {
        i64::from(self.per_page()) + 1
    }

    /// The first page of `per_page` rows (a detail page's recent entries).
    pub fn first(per_page: u32) -> Self {
        Self {
            page: Some(1),
            per_page: Some(per_page),
        }
    }

    /// A page of `rows` fetched with `limit()`.
    pub fn wrap<T>(&self, mut rows: Vec<T>) -> PageOf<T> {
        let per_page = self.per_page();
        let more = rows.len() > per_page as usize;
        rows.truncate(per_page as usize);
        PageOf {
            items: rows,
            page: self.page(),
            per_page,
            next_page: more.then(|| self.page() + 1),
        }
    }
}

/// One page of a list; `next_page` is null on the last.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub next_page: Option<u32>,
}

impl<T> PageOf<T> {
    /// The same page with its items shown another way.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PageOf<U> {
        PageOf {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            per_page: self.per_page,
            next_page: self.next_page,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_is_bounded() {
        let p = Paging {
            page: Some(0),
            per_page: Some(1000),
        };
        assert_eq!((p.page(), p.per_page(), p.offset()), (1, 100, 0));
        let page = Paging {
            page: Some(2),
            per_page: Some(2),
        }
        .wrap(vec![1, 2, 3]);
        assert_eq!((page.items.len(), page.next_page), (2, Some(3)));
    }
}
