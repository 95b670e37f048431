//! `/admin/revocations`: the live entries of the revocation list, and revoking by hand a token
//! (`jti`), a user or a client. Entries take effect on every node (DESIGN §4).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::users::ConfirmPage;
use super::{AdminSession, ConsoleError, ConsoleResult, PageQuery, split_page};
use crate::admin::revocations::{self, EntryInfo, ManualTarget, RevokeError};
use crate::clock;
use crate::error::PageError;
use crate::http::pages;
use crate::startup::AppState;

struct Row {
    id: i64,
    kind: &'static str,
    target: String,
    issued_before: String,
    revoked_at: String,
    expires_at: String,
    reason: String,
}

impl From<&EntryInfo> for Row {
    fn from(e: &EntryInfo) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            target: e.target.clone(),
            issued_before: e.issued_before.map(clock::display).unwrap_or_default(),
            revoked_at: clock::display(e.revoked_at),
            expires_at: clock::display(e.expires_at),
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
    let entries = revocations::list(
        &state.store,
        state.clock.now(),
        super::PAGE_SIZE + 1,
        query.offset(),
    )
    .await?;
    let (entries, more) = split_page(entries);
    let rows: Vec<Row> = entries.iter().map(Row::from).collect();
    Ok(pages::render(
        StatusCode::OK,
        &ListPage {
            csrf: &admin.csrf(),
            entries: &rows,
            live: state.revocations.len(),
            page: query.page(),
            more,
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

fn revoke_error(e: RevokeError) -> ConsoleError {
    match e {
        RevokeError::Store(s) => s.into(),
        other => PageError::BadRequest(other.to_string()).into(),
    }
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    form: web::Form<RevokeForm>,
) -> ConsoleResult {
    let form = form.into_inner();
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let target = ManualTarget::parse(&form.kind, &form.value).map_err(revoke_error)?;
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
        return Ok(pages::render(
            StatusCode::OK,
            &ConfirmPage {
                csrf: &admin.csrf(),
                title: "Revoke tokens",
                message: &message,
                action: "/admin/revocations",
                button: "Revoke now",
                cancel: "/admin/revocations",
                fields: &[("kind", &form.kind), ("value", value)],
            },
        )?);
    }
    let entry = revocations::revoke(&state.store, &state.revocations, target, state.clock.now())
        .await
        .map_err(revoke_error)?;
    let entry = EntryInfo::from(entry);
    admin
        .record(
            &req,
            &state,
            "revocation.created",
            Some(&format!("{}:{}", entry.kind, entry.target)),
            Some(serde_json::json!({ "id": entry.id, "expires_at": entry.expires_at })),
        )
        .await?;
    Ok(pages::redirect("/admin/revocations"))
}
