use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::startup::AppState;

/// OpenID Connect Discovery 1.0 §4.
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    metadata(&state.discovery.openid)
}

/// RFC 8414 §3.
pub async fn oauth_authorization_server(state: web::Data<AppState>) -> HttpResponse {
    metadata(&state.discovery.oauth)
}

fn metadata(json: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/json")
        .body(json.to_string())
}
