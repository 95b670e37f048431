//! Rendering askama views into responses, the stylesheet they share and the console's script.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;

use crate::error::PageError;

/// Renders a page. Pages carry forms or personal data, so none of them is cached.
pub fn render(status: StatusCode, view: &impl askama::Template) -> Result<HttpResponse, PageError> {
    let body = view.render()?;
    Ok(HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

const STYLESHEET: &str = include_str!("../../templates/static/tessera.css");

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .content_type("text/css; charset=utf-8")
        .body(STYLESHEET)
}

/// The console's one script: it shows times in the browser's zone. Pages work without it.
const ADMIN_SCRIPT: &str = include_str!("../../templates/static/admin.js");

pub async fn admin_script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .content_type("application/javascript; charset=utf-8")
        .body(ADMIN_SCRIPT)
}
