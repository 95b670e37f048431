//! `/admin/revocations`: the live entries of the revocation list, and revoking by hand a token
//! (`jti`), a user or a client. Entries take effect on every node (DESIGN §4).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::{ConfirmPage, PageQuery, confirm};
use crate::admin::AdminError;
use crate::admin::revocations::{EntryInfo, ManualTarget};
use crate::error::PageError;
use crate::http::admin::{AdminSession, ConsoleError, ConsoleResult, service};
use crate::http::pages::{self, LocalTime};
use crate::startup::AppState;

struct Row {
    id: i64,
    kind: &'static str,
    target: String,
    issued_before: LocalTime,
    revoked_at: LocalTime,
    expires_at: LocalTime,
    reason: String,
}

impl From<&EntryInfo> for Row {
    fn from(e: &EntryInfo) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            target: e.target.clone(),
            issued_before: LocalTime(e.issued_before),
            revoked_at: LocalTime::at(e.revoked_at),
            expires_at: LocalTime::at(e.expires_at),
            reason: e.reason.clone(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/revocations.html")]
struct ListPage<'a> {
    csrf: &'a str,
    entries: &'a [Row],
    live: usize,
    page: i64,
    more: bool,
}

pub async fn list(
    state: web::Data<AppState>,
    admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let found = service(&state).revocations(&query.paging()).await?;
    let rows: Vec<Row> = found.items.iter().map(Row::from).collect();
    Ok(pages::render(
        StatusCode::OK,
        &ListPage {
            csrf: &admin.csrf(),
            entries: &rows,
            live: state.revocations.len(),
            page: i64::from(found.page),
            more: found.next_page.is_some(),
        },
    )?)
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    form: web::Form<RevokeForm>,
) -> ConsoleResult {
    let form = form.into_inner();
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let target = ManualTarget::parse(&form.kind, &form.value)?;
    let value = form.value.trim();
    if form.confirm != "yes" {
        let message = match &target {
            ManualTarget::Jti(_) => format!(
                "Revoke the access token with jti {value}? Resource servers refuse it from now \
                 on; nothing else changes."
            ),
            ManualTarget::User(_) => format!(
                "Revoke every token issued so far to the user {value}? Their sessions stay; \
                 use Sign out everywhere to end them too."
            ),
            ManualTarget::Client(_) => {
                format!(
                    "Revoke every token issued so far to the client {value}? Tokens it gets \
                     from now on still work; delete the client to stop it for good."
                )
            }
        };
        return confirm(&ConfirmPage {
            csrf: &admin.csrf(),
            title: "Revoke tokens",
            message: &message,
            action: "/admin/revocations",
            button: "Revoke now",
            cancel: "/admin/revocations",
            fields: &[("kind", &form.kind), ("value", value)],
        });
    }
    // An unknown user or client is a mistake in the form here, not a missing page.
    service(&state)
        .revoke(&admin.actor, target)
        .await
        .map_err(|e| match e {
            AdminError::NotFound(message) => PageError::BadRequest(message).into(),
            other => ConsoleError::from(other),
        })?;
    Ok(pages::redirect("/admin/revocations"))
}
