//! `GET /admin/audit`: the audit log, newest first, filtered by actor, action and time,
//! paginated.

use actix_web::http::StatusCode;
use actix_web::web;

use super::{AdminSession, ConsoleError, ConsoleResult, PageQuery, clean_filter, split_page};
use crate::admin::audit;
use crate::error::PageError;
use crate::http::pages;
use crate::startup::AppState;
use crate::store::{AuditEntry, AuditFilter};

struct Row {
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    origin: String,
}

impl From<&AuditEntry> for Row {
    fn from(e: &AuditEntry) -> Self {
        Self {
            at: crate::clock::display(e.at),
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

pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let actor = clean_filter(query.actor.as_deref(), 200);
    let action = clean_filter(query.action.as_deref(), 200);
    let from = clean_filter(query.from.as_deref(), 40);
    let to = clean_filter(query.to.as_deref(), 40);
    let bound = |text: &str, end: bool| -> Result<Option<i64>, ConsoleError> {
        match text {
            "" => Ok(None),
            t => audit::parse_time(t, end)
                .map(Some)
                .map_err(|e| PageError::BadRequest(e).into()),
        }
    };
    let filter = AuditFilter {
        actor: &actor,
        action: &action,
        since: bound(&from, false)?,
        until: bound(&to, true)?,
    };
    let entries = state
        .store
        .list_audit(&filter, super::PAGE_SIZE + 1, query.offset())
        .await?;
    let (entries, more) = split_page(entries);
    let rows: Vec<Row> = entries.iter().map(Row::from).collect();
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
            page: query.page(),
            more,
        },
    )?)
}
