use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::startup::AppState;

/// RFC 7517 key set, rendered once at start; public members only.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/jwk-set+json"))
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", state.settings.jwks_max_age.as_secs()),
        ))
        .body(state.keys.jwks_json().to_string())
}
