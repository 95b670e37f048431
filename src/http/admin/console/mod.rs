//! The console's pages: each handler extracts (the gate's `AdminSession`, a path, a query or
//! a form), calls one operation of the admin service and renders its template. What the
//! pages share is here: the list query, the confirmation page, and the one mapping of the
//! service's errors to console answers.

pub mod apis;
pub mod audit;
pub mod clients;
pub mod dashboard;
pub mod keys;
pub mod mfa;
pub mod revocations;
pub mod sessions;
pub mod users;

use actix_web::http::StatusCode;
use serde::Deserialize;

use super::{ConsoleError, ConsoleResult};
use crate::admin::AdminError;
use crate::admin::api::Paging;
use crate::error::PageError;
use crate::http::pages;

/// The service's errors as the console answers them. `back`: where an action that needs a
/// recent sign-in comes back to after the re-authentication page.
pub fn error(e: AdminError, back: &str) -> ConsoleError {
    match e {
        AdminError::NotFound(_) => PageError::NotFound.into(),
        AdminError::Invalid(_, message) | AdminError::Conflict(message) => {
            PageError::BadRequest(message).into()
        }
        AdminError::Forbidden(message) => PageError::Forbidden(message).into(),
        AdminError::NotRecent { .. } => ConsoleError::Redirect(format!(
            "/admin/reauth?return_to={}",
            urlencoding::encode(back)
        )),
        AdminError::Store(s) => s.into(),
        AdminError::Internal(cause) => PageError::Internal(cause).into(),
    }
}

/// `error` for an action that needs a recent sign-in, coming back to `back`.
pub fn back_to(back: &str) -> impl Fn(AdminError) -> ConsoleError + '_ {
    move |e| error(e, back)
}

/// The input mistakes a form page shows again with its message (400); the rest as `error`.
pub fn form_error(e: AdminError, back: &str) -> Result<String, ConsoleError> {
    match e {
        AdminError::Invalid(_, message) | AdminError::Conflict(message) => Ok(message),
        other => Err(error(other, back)),
    }
}

/// Rows per console page.
pub const PAGE_SIZE: u32 = 20;

/// `?page=N` (1-based) and the filters of the lists.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    /// The sessions page's user filter (a username or id).
    #[serde(default)]
    pub user: Option<String>,
    /// The audit log's time filter: `2026-11-27`, `2026-11-27 14:00` or RFC 3339, UTC.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

impl PageQuery {
    pub fn paging(&self) -> Paging {
        Paging {
            page: self.page,
            per_page: Some(PAGE_SIZE),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/confirm.html")]
pub struct ConfirmPage<'a> {
    pub csrf: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    pub cancel: &'a str,
    /// Hidden fields the action needs again (name, value).
    pub fields: &'a [(&'a str, &'a str)],
}

/// The confirmation page of a POST that was not confirmed yet.
pub fn confirm(page: &ConfirmPage<'_>) -> ConsoleResult {
    Ok(pages::render(StatusCode::OK, page)?)
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub confirm: String,
    #[serde(default)]
    pub grant: String,
}

impl ConfirmForm {
    pub fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}
