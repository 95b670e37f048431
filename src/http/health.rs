use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::startup::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers within its acquire timeout, the keys are loaded, and the
/// node has read the key records within `jwks_max_age` (else it signs nothing), and every
/// algorithm's active key can sign here.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    if state.keys.current().is_empty()
        || !state.keys.current().signs_all()
        || state
            .keys
            .for_signing(crate::keys::manage::max_unsynced(&state.settings))
            .is_none()
    {
        return Err(ApiError::Unavailable);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}
