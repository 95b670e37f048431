//! A request enters here. `routes` lists every path and its handler, in one place.

mod account;
pub mod admin;
mod authorize;
mod cookies;
mod csrf;
mod current_session;
mod discovery;
mod end_session;
mod extractors;
mod form;
mod headers;
mod health;
mod jwks;
mod login;
mod pages;
mod return_to;
mod token;
mod userinfo;

use actix_web::error::UrlencodedError;
use actix_web::{HttpRequest, web};

use crate::error::{ApiError, PageError};

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
    .route("/", web::get().to(|| async { pages::redirect("/account") }))
    .route("/authorize", web::get().to(authorize::authorize))
    .route("/authorize", web::post().to(authorize::authorize))
    .route("/consent", web::post().to(authorize::consent))
    .route("/userinfo", web::get().to(userinfo::userinfo))
    .route("/userinfo", web::post().to(userinfo::userinfo))
    .route("/end-session", web::get().to(end_session::end_session))
    .route("/end-session", web::post().to(end_session::end_session))
    .route("/login", web::get().to(login::show))
    .route("/login", web::post().to(login::submit))
    .route("/logout", web::post().to(login::logout))
    .route("/account", web::get().to(account::show))
    .route(
        "/account/sessions/end-others",
        web::post().to(account::end_other_sessions),
    )
    .route("/static/tessera.css", web::get().to(pages::stylesheet))
    .service(
        web::resource("/token")
            .route(web::post().to(token::token))
            .default_service(web::to(token::method_not_allowed)),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .configure(admin::routes)
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// Largest form body a page accepts; a login form is a few hundred bytes.
pub const FORM_LIMIT: usize = 64 * 1024;

/// Malformed or oversized form bodies on pages get a readable page, never a 500.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default().limit(FORM_LIMIT).error_handler(
        |err: UrlencodedError, _req: &HttpRequest| {
            let page = match err {
                UrlencodedError::Overflow { .. } => PageError::TooLarge,
                UrlencodedError::ContentType => {
                    PageError::BadRequest("The form was not sent as a web form.".into())
                }
                _ => PageError::BadRequest("The form could not be read.".into()),
            };
            page.into()
        },
    )
}
