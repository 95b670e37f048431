//! `GET /admin/audit`: the audit log, newest first, filtered by actor, action and time,
//! paginated.

use actix_web::http::StatusCode;
use actix_web::web;

use super::PageQuery;
use crate::admin::{AdminError, audit, clean_filter};
use crate::http::admin::{AdminSession, ConsoleResult, service};
use crate::http::pages::{self, LocalTime};
use crate::startup::AppState;
use crate::store::{AuditEntry, AuditFilter};

/// An audit entry as the console shows it (the log, and the recent entries of a detail page).
pub struct Row {
    pub at: LocalTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub origin: String,
}

impl From<&AuditEntry> for Row {
    fn from(e: &AuditEntry) -> Self {
        Self {
            at: LocalTime::at(e.at),
            actor: e.actor.clone(),
            action: if e.count > 1 {
                format!("{} (×{})", e.action, e.count)
            } else {
                e.action.clone()
            },
            target: e.target.clone().unwrap_or_default(),
            detail: e.detail.clone().unwrap_or_default(),
            origin: format!(
                "{} {}",
                e.ip.as_deref().unwrap_or_default(),
                e.user_agent.as_deref().unwrap_or_default()
            ),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/audit.html")]
struct AuditPage<'a> {
    entries: &'a [Row],
    actor: &'a str,
    action: &'a str,
    from: &'a str,
    to: &'a str,
    /// The filters, URL-encoded, for the pager's links.
    query: &'a str,
    page: i64,
    more: bool,
}

/// A time filter as typed (empty: no bound).
fn bound(text: &str, end_of_day: bool) -> Result<Option<i64>, AdminError> {
    match text {
        "" => Ok(None),
        t => audit::parse_time(t, end_of_day)
            .map(Some)
            .map_err(|e| AdminError::invalid(if end_of_day { "to" } else { "from" }, e)),
    }
}

pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let actor = clean_filter(query.actor.as_deref(), 200);
    let action = clean_filter(query.action.as_deref(), 200);
    let from = clean_filter(query.from.as_deref(), 40);
    let to = clean_filter(query.to.as_deref(), 40);
    let filter = AuditFilter {
        actor: &actor,
        action: &action,
        since: bound(&from, false)?,
        until: bound(&to, true)?,
    };
    let found = service(&state).audit_log(&filter, &query.paging()).await?;
    let rows: Vec<Row> = found.items.iter().map(Row::from).collect();
    Ok(pages::render(
        StatusCode::OK,
        &AuditPage {
            entries: &rows,
            actor: &actor,
            action: &action,
            from: &from,
            to: &to,
            query: &format!(
                "actor={}&action={}&from={}&to={}",
                urlencoding::encode(&actor),
                urlencoding::encode(&action),
                urlencoding::encode(&from),
                urlencoding::encode(&to)
            ),
            page: i64::from(found.page),
            more: found.next_page.is_some(),
        },
    )?)
}
