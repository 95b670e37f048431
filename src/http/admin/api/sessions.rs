//! `/sessions…`: live login sessions (all, or one user's), and ending one.

use actix_web::http::StatusCode;
use actix_web::{delete, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Caller, Refusals, json, no_content};
use crate::admin::api::{ErrorBody, PageOf, Paging};
use crate::admin::sessions::SessionInfo;
use crate::admin::users::UserRef;
use crate::http::admin::service;
use crate::startup::AppState;

/// `?user=` on the session list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SessionQuery {
    /// Only this user's sessions (a user id).
    user: Option<String>,
}

/// A live login session. Named by its public `sid`; the cookie never leaves the store.
#[derive(Serialize, ToSchema)]
struct SessionJson {
    sid: String,
    user_id: String,
    username: String,
    /// When the user signed in (Unix seconds).
    auth_time: i64,
    /// How: `pwd`, or `pwd otp` after the second factor.
    amr: String,
    second_factor: bool,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    last_seen_at: i64,
    /// Unix seconds; the idle timeout may end it sooner.
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl From<SessionInfo> for SessionJson {
    fn from(s: SessionInfo) -> Self {
        Self {
            sid: s.sid,
            user_id: s.user_id,
            username: s.username,
            auth_time: s.auth_time,
            amr: s.amr,
            second_factor: s.second_factor,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}

/// Live sessions, most recently used first; `user` keeps one user's.
#[utoipa::path(
    tag = "sessions",
    params(Paging, SessionQuery),
    responses(
        (status = 200, body = PageOf<SessionJson>),
        (status = 400, body = ErrorBody, description = "A bad query (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
        Refusals
    )
)]
#[get("/sessions")]
pub(super) async fn list_sessions(
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
    query: web::Query<SessionQuery>,
) -> ApiResult {
    let svc = service(&state);
    let user = match query.user.as_deref() {
        Some(id) => Some(svc.user(UserRef::Id(id)).await?),
        None => None,
    };
    let found = svc.sessions(user.as_ref(), &paging).await?;
    Ok(json(StatusCode::OK, &found.map(SessionJson::from)))
}

/// Ends a session: the browser is signed out, the session's tokens are revoked and its clients
/// told (back-channel logout).
#[utoipa::path(
    tag = "sessions",
    params(("sid" = String, Path, description = "The session's sid")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, body = ErrorBody, description = "No such live session (`not_found`)"),
        Refusals
    )
)]
#[delete("/sessions/{sid}")]
pub(super) async fn end_session(
    state: web::Data<AppState>,
    caller: Caller,
    sid: web::Path<String>,
) -> ApiResult {
    service(&state).end_session(&caller.0, &sid).await?;
    Ok(no_content())
}
