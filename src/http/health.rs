use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::startup::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers within its acquire timeout and the keys are loaded.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    if state.keys.current().is_empty() {
        return Err(ApiError::Unavailable);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}
