//! The admin JSON API's contract: its error codes, its pagination and its OpenAPI document.
//! The handlers are in `http/admin/api.rs`; `error.rs` maps `ApiError` to HTTP.

use serde::{Deserialize, Serialize};

/// The scope that opens the admin API (to an admin user's token, or a client granted it).
pub const ADMIN_SCOPE: &str = "tessera:admin";

/// Errors of the admin API. `code()` is stable: clients may match on it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a Bearer access token is required")]
    Unauthenticated,
    #[error("the access token is invalid or expired")]
    InvalidToken,
    #[error("the token lacks the tessera:admin scope")]
    InsufficientScope,
    #[error("{0}")]
    Forbidden(&'static str),
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

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::InvalidToken => "invalid_token",
            ApiError::InsufficientScope => "insufficient_scope",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::NotFound => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable => "temporarily_unavailable",
            ApiError::Internal(_) => "server_error",
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

pub const MAX_PER_PAGE: u32 = 100;

/// `?page=1&per_page=50` (per_page at most 100).
#[derive(Debug, Deserialize, Default)]
pub struct Paging {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    /// Search text (users only).
    pub q: Option<String>,
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

    /// A page of `rows` fetched with `limit = per_page + 1`.
    pub fn wrap<T: Serialize>(&self, mut rows: Vec<T>) -> PageOf<T> {
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

#[derive(Debug, Serialize)]
pub struct PageOf<T: Serialize> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub next_page: Option<u32>,
}

/// The OpenAPI 3.1 document, hand-written in one place (`openapi.json` beside this file).
pub const OPENAPI: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_is_json_and_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/users",
            "/users/{id}/disable",
            "/clients",
            "/clients/{id}",
            "/openapi.json",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path}");
        }
    }

    #[test]
    fn paging_is_bounded() {
        let p = Paging {
            page: Some(0),
            per_page: Some(1000),
            q: None,
        };
        assert_eq!((p.page(), p.per_page(), p.offset()), (1, 100, 0));
        let page = Paging {
            page: Some(2),
            per_page: Some(2),
            q: None,
        }
        .wrap(vec![1, 2, 3]);
        assert_eq!((page.items.len(), page.next_page), (2, Some(3)));
    }
}
