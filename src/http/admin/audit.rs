//! `GET /admin/audit`: the audit log, newest first, filtered by actor and action, paginated.

use actix_web::http::StatusCode;
use actix_web::web;

use super::{AdminSession, ConsoleResult, PageQuery, split_page};
use crate::http::pages;
use crate::startup::AppState;
use crate::store::AuditEntry;

struct Row {
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    origin: String,
}

fn when(t: i64) -> String {
    u64::try_from(t)
        .map(|s| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
            )
            .to_string()
        })
        .unwrap_or_default()
}

impl From<&AuditEntry> for Row {
    fn from(e: &AuditEntry) -> Self {
        Self {
            at: when(e.at),
            actor: e.actor.clone(),
            action: e.action.clone(),
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
    actor_encoded: &'a str,
    action_encoded: &'a str,
    page: i64,
    more: bool,
}

fn filter(raw: Option<&str>) -> String {
    raw.unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let actor = filter(query.actor.as_deref());
    let action = filter(query.action.as_deref());
    let entries = state
        .store
        .list_audit(&actor, &action, super::PAGE_SIZE + 1, query.offset())
        .await?;
    let (entries, more) = split_page(entries);
    let rows: Vec<Row> = entries.iter().map(Row::from).collect();
    Ok(pages::render(
        StatusCode::OK,
        &AuditPage {
            entries: &rows,
            actor: &actor,
            action: &action,
            actor_encoded: &urlencoding::encode(&actor),
            action_encoded: &urlencoding::encode(&action),
            page: query.page(),
            more,
        },
    )?)
}
