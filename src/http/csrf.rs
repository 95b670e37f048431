//! CSRF defence for every form: a token derived from a secret cookie (the session's, or the
//! pre-login one), which a cross-site page can neither read nor compute; plus an `Origin` /
//! `Sec-Fetch-Site` check on every POST.

use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::PageError;
use crate::tokens::opaque;

/// The form token for a cookie secret. Deriving it (instead of storing it) binds it to the
/// session and rotates it with the session id.
pub fn token_for(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tessera-csrf\0");
    h.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

const REFUSED: &str = "This form has expired or was not sent from this site. \
                       Go back, reload the page and try again.";

/// Refuses a POST that comes from another site or whose token does not match `secret`.
pub fn verify(
    req: &HttpRequest,
    issuer_origin: &str,
    secret: Option<&str>,
    form_token: &str,
) -> Result<(), PageError> {
    check_origin(req, issuer_origin)?;
    match secret {
        Some(secret) if opaque::ct_eq(&token_for(secret), form_token) => Ok(()),
        _ => Err(PageError::Forbidden(REFUSED.into())),
    }
}

/// Browsers say where a request comes from in `Sec-Fetch-Site` (all current ones) or `Origin`.
/// Our pages send `Referrer-Policy: no-referrer`, under which Chromium sends `Origin: null`
/// even for a same-origin form, so `Sec-Fetch-Site` is asked first and `null` proves nothing
/// either way (the token check still applies).
fn check_origin(req: &HttpRequest, issuer_origin: &str) -> Result<(), PageError> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ => Err(PageError::Forbidden(REFUSED.into())),
        };
    }
    match headers.get("origin").map(|o| o.as_bytes()) {
        Some(b"null") | None => Ok(()),
        Some(origin) if origin == issuer_origin.as_bytes() => Ok(()),
        Some(_) => Err(PageError::Forbidden(REFUSED.into())),
    }
}
