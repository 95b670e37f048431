//! A request enters here. `routes` lists every path and its handler, in one place.

mod discovery;
mod extractors;
mod form;
mod headers;
mod health;
mod jwks;
mod token;

use actix_web::web;

use crate::error::ApiError;

pub use headers::security_headers;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery::openid_configuration),
    )
    .route(
        "/.well-known/oauth-authorization-server",
        web::get().to(discovery::oauth_authorization_server),
    )
    .route("/jwks", web::get().to(jwks::jwks))
    .service(
        web::resource("/token")
            .route(web::post().to(token::token))
            .default_service(web::to(token::method_not_allowed)),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
