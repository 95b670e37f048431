//! `/revocations`: the live entries of the revocation list, and revoking by hand.

use actix_web::http::StatusCode;
use actix_web::{get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, Caller, Refusals, json};
use crate::admin::api::{ErrorBody, PageOf, Paging};
use crate::admin::revocations::{EntryInfo, ManualTarget};
use crate::http::admin::service;
use crate::startup::AppState;

/// An entry of the revocation list.
#[derive(Serialize, ToSchema)]
struct RevocationJson {
    id: i64,
    /// `jti`, `sid`, `family`, `user` or `client`.
    kind: &'static str,
    target: String,
    /// For `user` and `client`: tokens issued at or before this time (Unix seconds) are revoked.
    issued_before: Option<i64>,
    /// Unix seconds.
    revoked_at: i64,
    /// When the entry lapses: no token it could match is still valid then (Unix seconds).
    expires_at: i64,
    reason: String,
}

impl From<EntryInfo> for RevocationJson {
    fn from(e: EntryInfo) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            target: e.target,
            issued_before: e.issued_before,
            revoked_at: e.revoked_at,
            expires_at: e.expires_at,
            reason: e.reason,
        }
    }
}

/// The live entries of the revocation list, newest first.
#[utoipa::path(
    tag = "revocations",
    params(Paging),
    responses(
        (status = 200, body = PageOf<RevocationJson>),
        (status = 400, body = ErrorBody, description = "A bad query (`invalid_request`)"),
        Refusals
    )
)]
#[get("/revocations")]
pub(super) async fn list_revocations(
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
) -> ApiResult {
    let entries = service(&state).revocations(&paging).await?;
    Ok(json(StatusCode::OK, &entries.map(RevocationJson::from)))
}

/// What to revoke by hand.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RevokeJson {
    /// `jti` (one access token), `user` (every token issued to a user so far: by id or
    /// username) or `client` (every token issued to a client so far).
    #[schema(example = "user")]
    kind: String,
    value: String,
}

/// Revokes by hand; every node honours it within a second (DESIGN §4).
#[utoipa::path(
    tag = "revocations",
    request_body = RevokeJson,
    responses(
        (status = 201, body = RevocationJson),
        (status = 400, body = ErrorBody, description = "A bad kind or value (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such user or client (`not_found`)"),
        Refusals
    )
)]
#[post("/revocations")]
pub(super) async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    input: web::Json<RevokeJson>,
) -> ApiResult {
    let target = ManualTarget::parse(&input.kind, &input.value)?;
    let entry = service(&state).revoke(&caller.0, target).await?;
    Ok(json(StatusCode::CREATED, &RevocationJson::from(entry)))
}
