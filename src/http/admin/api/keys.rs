//! `/keys`: the signing keys of this node, public facts only.

use actix_web::http::StatusCode;
use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiResult, Refusals, json};
use crate::admin::keys as admin_keys;
use crate::startup::AppState;

/// A signing key: public facts only, never key material.
#[derive(Serialize, ToSchema)]
struct KeyJson {
    /// The RFC 7638 thumbprint.
    kid: String,
    alg: String,
    /// `active`, `signing` or `published`.
    state: &'static str,
    /// Unix seconds, when known.
    created_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct KeyList {
    items: Vec<KeyJson>,
}

/// The signing keys of this node: the active key first.
#[utoipa::path(
    tag = "keys",
    responses((status = 200, body = KeyList), Refusals)
)]
#[get("/keys")]
pub(super) async fn list_keys(state: web::Data<AppState>) -> ApiResult {
    let items = admin_keys::list(&state.keys.current())
        .into_iter()
        .map(|k| KeyJson {
            kid: k.kid,
            alg: k.alg,
            state: k.state,
            created_at: k.created_at,
        })
        .collect();
    Ok(json(StatusCode::OK, &KeyList { items }))
}
