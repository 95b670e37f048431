//! `/keys`: the signing keys of this node (public facts only), and the key actions: stage a
//! successor, promote a next key now, revoke.

use actix_web::http::StatusCode;
use actix_web::{get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, Caller, Refusals, json};
use crate::admin::api::{ApiError, ErrorBody};
use crate::admin::keys as admin_keys;
use crate::http::admin::service;
use crate::keys::SigningAlg;
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

/// Which algorithm to stage a key for.
#[derive(Deserialize, ToSchema)]
struct RotateJson {
    /// `RS256` (the default), `ES256` or `EdDSA`.
    #[serde(default)]
    alg: Option<String>,
}

/// What a key action did; the times are Unix seconds.
#[derive(Serialize, ToSchema)]
struct KeyActionJson {
    kid: String,
    alg: String,
    /// `key.rotated`, `key.promoted` or `key.revoked`.
    action: &'static str,
    /// For a staged key: when it starts signing.
    active_at: Option<i64>,
    /// The key that stops signing (rotation, promotion) and when it leaves JWKS.
    replaces: Option<String>,
    replaced_retire_after: Option<i64>,
    /// For a revoked key: its state before, and the key that signs in its place.
    was: Option<String>,
    successor: Option<String>,
}

impl KeyActionJson {
    fn new(kid: String, alg: SigningAlg, action: &'static str) -> Self {
        Self {
            kid,
            alg: alg.to_string(),
            action,
            active_at: None,
            replaces: None,
            replaced_retire_after: None,
            was: None,
            successor: None,
        }
    }
}

/// Stages a successor for an algorithm, as `tessera keys rotate`: published now, signing
/// after `key_publish_ahead`. Needs a recent sign-in; audited (`key.rotated`).
#[utoipa::path(
    tag = "keys",
    request_body = RotateJson,
    responses(
        (status = 201, body = KeyActionJson),
        (status = 400, body = ErrorBody, description = "An unknown algorithm (`invalid_request`)"),
        (status = 409, body = ErrorBody, description = "A next key of the algorithm is already staged (`conflict`)"),
        Refusals
    )
)]
#[post("/keys")]
pub(super) async fn rotate_key(
    state: web::Data<AppState>,
    caller: Caller,
    input: web::Json<RotateJson>,
) -> ApiResult {
    let alg = match input.alg.as_deref() {
        None => SigningAlg::default(),
        Some(alg) => SigningAlg::parse(alg).map_err(|e| ApiError::InvalidRequest(e.to_string()))?,
    };
    let staged = service(&state)
        .rotate_key(&caller.0, &state.settings, alg)
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &KeyActionJson {
            active_at: Some(staged.active_at),
            replaces: staged.replaces,
            replaced_retire_after: staged.replaced_retire_after,
            ..KeyActionJson::new(staged.kid, staged.alg, "key.rotated")
        },
    ))
}

/// Makes a next key sign now, once it has been published for `jwks_max_age`; the active key of
/// its algorithm starts retiring. Needs a recent sign-in; audited (`key.promoted`).
#[utoipa::path(
    tag = "keys",
    params(("kid" = String, Path, description = "The key's kid")),
    responses(
        (status = 200, body = KeyActionJson),
        (status = 404, body = ErrorBody, description = "No such key (`not_found`)"),
        (status = 409, body = ErrorBody, description = "Not a next key, or published for less than jwks_max_age (`conflict`)"),
        Refusals
    )
)]
#[post("/keys/{kid}/promote")]
pub(super) async fn promote_key(
    state: web::Data<AppState>,
    caller: Caller,
    kid: web::Path<String>,
) -> ApiResult {
    let promoted = service(&state)
        .promote_key(&caller.0, &state.settings, &kid)
        .await?;
    Ok(json(
        StatusCode::OK,
        &KeyActionJson {
            replaces: promoted.replaces,
            replaced_retire_after: promoted.replaced_retire_after,
            ..KeyActionJson::new(promoted.kid, promoted.alg, "key.promoted")
        },
    ))
}

/// Revokes a key at once, as `tessera keys revoke`: it leaves JWKS, its tokens become
/// inactive, and an active key's successor signs at once. Needs a recent sign-in; audited
/// (`key.revoked`). Revoking a revoked key changes nothing.
#[utoipa::path(
    tag = "keys",
    params(("kid" = String, Path, description = "The key's kid")),
    responses(
        (status = 200, body = KeyActionJson),
        (status = 404, body = ErrorBody, description = "No such key (`not_found`)"),
        Refusals
    )
)]
#[post("/keys/{kid}/revoke")]
pub(super) async fn revoke_key(
    state: web::Data<AppState>,
    caller: Caller,
    kid: web::Path<String>,
) -> ApiResult {
    let revoked = service(&state)
        .revoke_key(&caller.0, &state.settings, &kid)
        .await?;
    Ok(json(
        StatusCode::OK,
        &KeyActionJson {
            was: Some(revoked.was.to_string()),
            successor: revoked.successor,
            ..KeyActionJson::new(revoked.kid, revoked.alg, "key.revoked")
        },
    ))
}
