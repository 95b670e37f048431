//! A request enters here. `routes` lists every path and its handler, in one place.

mod account;
pub mod admin;
mod authorize;
pub mod client_addr;
mod cookies;
mod csrf;
mod current_session;
mod device;
mod device_authorization;
mod discovery;
mod dpop;
mod end_session;
mod extractors;
mod form;
mod headers;
mod health;
mod introspect;
mod jwks;
mod login;
mod metrics;
mod pages;
mod return_to;
mod revocations;
mod revoke;
mod token;
mod userinfo;

use actix_web::error::UrlencodedError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};

use crate::error::{ApiError, PageError};

pub use headers::security_headers;
pub use metrics::record as record_metrics;

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
    .route("/device", web::get().to(device::show))
    .route("/device", web::post().to(device::submit))
    .service(
        web::resource("/device_authorization")
            .route(web::post().to(device_authorization::device_authorization))
            .default_service(web::to(token::method_not_allowed)),
    )
    .route("/account", web::get().to(account::show))
    .route(
        "/account/sessions/end-others",
        web::post().to(account::end_other_sessions),
    )
    .route("/static/tessera.css", web::get().to(pages::stylesheet))
    .route("/static/admin.js", web::get().to(pages::admin_script))
    .service(
        web::resource("/token")
            .route(web::post().to(token::token))
            .default_service(web::to(token::method_not_allowed)),
    )
    .service(
        web::resource("/introspect")
            .route(web::post().to(introspect::introspect))
            .default_service(web::to(token::method_not_allowed)),
    )
    .service(
        web::resource("/revoke")
            .route(web::post().to(revoke::revoke))
            .default_service(web::to(token::method_not_allowed)),
    )
    .route("/revocations", web::get().to(revocations::list))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/metrics", web::get().to(metrics::metrics))
    .configure(admin::routes)
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// A 200 that no one caches: token data (RFC 6749 §5.1, RFC 7662 §2.2, RFC 7009 §2.2).
fn no_store() -> HttpResponseBuilder {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    res
}

/// Largest form body a page accepts; a login form is a few hundred bytes.
pub const FORM_LIMIT: usize = 64 * 1024;

/// Any other body extractor (`Bytes`, `String`) reads at most this much.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(FORM_LIMIT)
}

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
