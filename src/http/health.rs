use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::keys::SigningAlg;
use crate::startup::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers within its acquire timeout, the keys are loaded, and the
/// node has read the key records within `jwks_max_age` (else it signs nothing), and every
/// algorithm's active key can sign here, and so can a key of every algorithm that a client
/// or an API is registered with (an algorithm whose active key was revoked with no successor
/// has no active record at all, and nothing signs for it).
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    let ring = state.keys.current();
    if ring.is_empty()
        || !ring.signs_all()
        || state
            .keys
            .for_signing(crate::keys::manage::max_unsynced(&state.settings))
            .is_none()
    {
        return Err(ApiError::Unavailable);
    }
    let in_use = state.store.signing_algs_in_use().await?;
    let unsigned: Vec<SigningAlg> = in_use
        .iter()
        .filter_map(|alg| SigningAlg::parse(alg).ok())
        .chain([SigningAlg::default()])
        .filter(|alg| ring.for_alg(*alg).is_none())
        .collect();
    if !unsigned.is_empty() {
        tracing::warn!(algs = ?unsigned, "not ready: no key signs for an algorithm clients use");
        return Err(ApiError::Unavailable);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}
