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

/// A time in a page: `<time class="local" datetime="2026-12-02T03:00:00Z">2026-12-02 03:00
/// UTC</time>`; the console's script may show it in the browser's zone, and the UTC text
/// stands without script. A dash for no time. Markup from a number only, so askama need not
/// escape it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime(pub Option<crate::clock::UnixTime>);

impl LocalTime {
    pub fn at(t: crate::clock::UnixTime) -> Self {
        Self(Some(t))
    }
}

impl LocalTime {
    /// RFC 3339 and the text shown without script (`2026-12-02 03:00`), in UTC.
    fn parts(&self) -> Option<(String, String)> {
        let at = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(self.0?).unwrap_or_default());
        let iso = humantime::format_rfc3339_seconds(at).to_string();
        let text = iso.get(..16).unwrap_or(&iso).replace('T', " ");
        Some((iso, text))
    }

    /// Plain text for attributes (`aria-label`, `title`): `2026-12-02 03:00 UTC`.
    pub fn utc_text(&self) -> String {
        self.parts()
            .map_or_else(String::new, |(_, text)| format!("{text} UTC"))
    }
}

impl std::fmt::Display for LocalTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.parts() {
            Some((iso, text)) => write!(
                f,
                r#"<time class="local" datetime="{iso}">{text} UTC</time>"#
            ),
            None => f.write_str(r#"<span class="empty">—</span>"#),
        }
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
        assert_eq!(
            LocalTime(None).to_string(),
            r#"<span class="empty">—</span>"#
        );
    }
}
