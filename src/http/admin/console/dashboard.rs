//! `GET /admin`: counts of users, clients, active sessions, live revocations, and the tokens
//! issued in the last hour by every node (from the audit log's periodic counts, see
//! `admin::issuance`).

use actix_web::http::StatusCode;
use actix_web::web;

use crate::admin::issuance;
use crate::http::admin::{AdminSession, ConsoleResult};
use crate::http::pages;
use crate::startup::AppState;

#[derive(askama::Template)]
#[template(path = "admin/dashboard.html")]
struct Dashboard<'a> {
    csrf: &'a str,
    username: &'a str,
    users: i64,
    clients: i64,
    sessions: i64,
    revocations: usize,
    tokens_last_hour: u64,
    tokens_by_grant: &'a [(String, u64)],
    issuance_interval: String,
}

pub async fn show(state: web::Data<AppState>, admin: AdminSession) -> ConsoleResult {
    let now = state.clock.now();
    let store = &state.store;
    let (tokens_last_hour, by_grant) = issuance::since(store, now - 3600).await?;
    let by_grant: Vec<(String, u64)> = by_grant.into_iter().collect();
    Ok(pages::render(
        StatusCode::OK,
        &Dashboard {
            csrf: &admin.csrf(),
            username: &admin.user().username,
            users: store.count_users().await?,
            clients: store.count_clients().await?,
            sessions: store
                .count_live_sessions(now, now - state.session_lifetimes.idle_secs)
                .await?,
            revocations: state.revocations.len(),
            tokens_last_hour,
            tokens_by_grant: &by_grant,
            issuance_interval: humantime::format_duration(state.settings.audit_issuance_interval)
                .to_string(),
        },
    )?)
}
