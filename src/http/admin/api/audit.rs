//! `/audit`: the audit log, newest first, filtered by actor, action and time.

use actix_web::http::StatusCode;
use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Refusals, json};
use crate::admin::api::{ErrorBody, PageOf, Paging};
use crate::admin::clean_filter;
use crate::http::admin::service;
use crate::startup::AppState;
use crate::store::{AuditEntry, AuditFilter};

/// `?actor=&action=&since=&until=` on the audit log: exact matches; empty or absent matches
/// all.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// `user:NAME`, `client:ID`, `cli:USER` or `anonymous`.
    actor: Option<String>,
    /// Such as `login.failed` or `client.created`.
    action: Option<String>,
    /// Entries at or after this time (Unix seconds).
    since: Option<i64>,
    /// Entries at or before this time (Unix seconds).
    until: Option<i64>,
}

/// An audit entry. `detail` is the JSON the action recorded (before/after); never a secret.
#[derive(Serialize, ToSchema)]
struct AuditJson {
    id: i64,
    /// Unix seconds.
    at: i64,
    actor: String,
    action: String,
    target: Option<String>,
    detail: Option<serde_json::Value>,
    ip: Option<String>,
    user_agent: Option<String>,
    /// How many events the entry stands for: 1, or more when anonymous events past the
    /// per-minute cap were folded into it.
    count: i64,
}

impl From<AuditEntry> for AuditJson {
    fn from(e: AuditEntry) -> Self {
        // Entries hold JSON; should one not parse, it is still shown, as a string.
        let detail = e
            .detail
            .map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d)));
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail,
            ip: e.ip,
            user_agent: e.user_agent,
            count: e.count,
        }
    }
}

/// The audit log, newest first.
#[utoipa::path(
    tag = "audit",
    params(Paging, AuditQuery),
    responses(
        (status = 200, body = PageOf<AuditJson>),
        (status = 400, body = ErrorBody, description = "A bad query (`invalid_request`)"),
        Refusals
    )
)]
#[get("/audit")]
pub(super) async fn list_audit(
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
    query: web::Query<AuditQuery>,
) -> ApiResult {
    let actor = clean_filter(query.actor.as_deref(), 200);
    let action = clean_filter(query.action.as_deref(), 200);
    let filter = AuditFilter {
        actor: &actor,
        action: &action,
        since: query.since,
        until: query.until,
    };
    let entries = service(&state).audit_log(&filter, &paging).await?;
    Ok(json(StatusCode::OK, &entries.map(AuditJson::from)))
}
