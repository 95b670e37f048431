//! `GET /admin`: counts of users, clients and active sessions. Token issuance is not counted:
//! access tokens are not stored (DESIGN §3), and the metrics branch owns issuance counters.

use actix_web::http::StatusCode;
use actix_web::web;

use super::{AdminSession, ConsoleResult};
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
}

pub async fn show(state: web::Data<AppState>, admin: AdminSession) -> ConsoleResult {
    let now = state.clock.now();
    let store = &state.store;
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
        },
    )?)
}
