//! Rendering askama views into responses, and the stylesheet they share.

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

/// A time in a page: `<time class="local" datetime="2026-12-02T03:00:00Z">2026-12-02 03:00
/// UTC</time>`; the console's script may show it in the browser's zone, and the UTC text
/// stands without script. Empty for no time. Markup from a number only, so askama need not
/// escape it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime(pub Option<crate::clock::UnixTime>);

impl LocalTime {
    pub fn at(t: crate::clock::UnixTime) -> Self {
        Self(Some(t))
    }
}

impl std::fmt::Display for LocalTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(t) = self.0 else {
            return Ok(());
        };
        let at = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(t).unwrap_or_default());
        let iso = humantime::format_rfc3339_seconds(at).to_string();
        let text = iso.get(..16).unwrap_or(&iso).replace('T', " ");
        write!(
            f,
            r#"<time class="local" datetime="{iso}">{text} UTC</time>"#
        )
    }
}

impl askama::filters::HtmlSafe for LocalTime {}

#[cfg(test)]
mod tests {
    use super::LocalTime;

    #[test]
    fn times_are_marked_up_in_utc_to_the_minute() {
        assert_eq!(
            LocalTime::at(1_795_737_600 + 3 * 3600 + 59).to_string(),
            r#"<time class="local" datetime="2026-11-27T03:00:59Z">2026-11-27 03:00 UTC</time>"#
        );
        assert_eq!(LocalTime(None).to_string(), "");
    }
}
