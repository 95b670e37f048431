use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::startup::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness, for what is local to this node only: the database answers within its acquire
/// timeout, the keys are loaded, the node has read the key records within `jwks_max_age`
/// (else it signs nothing), and every algorithm with an active record can sign here (its file
/// is in this node's keys directory, and the revocation list does not hold the key revoked). An algorithm with no active record at all (revoked with
/// no successor) is a cluster-wide state: failing every node for it would take every login
/// down with it, so it is reported by the logs and `tessera_signing_alg_without_signer`.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    // Judged on the ring without the keys the revocation list holds revoked: a revoked key
    // that still signs here until the rescan drops it does not make an algorithm ready.
    if !state
        .keys
        .signs_all_now(crate::keys::manage::max_unsynced(&state.settings))
    {
        return Err(ApiError::Unavailable);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}
