//! `GET /admin`: counts of users, clients, active sessions, live revocations and the tokens
//! issued this hour by every node, and the activity charts (`admin::stats`). Before the first
//! user exists nobody can sign in, so the page says how to create the first administrator.

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};

use crate::admin::stats;
use crate::cli::FIRST_ADMIN_COMMAND;
use crate::http::admin::{AdminSession, ConsoleResult, service};
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
    stats: &'a stats::Dashboard,
    issuance_interval: String,
}

#[derive(askama::Template)]
#[template(path = "admin/first_admin.html")]
struct FirstAdmin<'a> {
    command: &'a str,
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> ConsoleResult {
    let svc = service(&state);
    // No user, so no session either: a login form here could not be passed.
    if !svc.has_users().await? {
        return Ok(pages::render(
            StatusCode::OK,
            &FirstAdmin {
                command: FIRST_ADMIN_COMMAND,
            },
        )?);
    }
    let admin = AdminSession::extract(&req).await?;
    let overview = svc.overview().await?;
    Ok(pages::render(
        StatusCode::OK,
        &Dashboard {
            csrf: &admin.csrf(),
            username: &admin.user().username,
            users: overview.users,
            clients: overview.clients,
            sessions: overview.sessions,
            revocations: overview.revocations,
            stats: &overview.activity,
            issuance_interval: humantime::format_duration(state.settings.audit_issuance_interval)
                .to_string(),
        },
    )?)
}
