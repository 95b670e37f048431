//! Cookies: `HttpOnly; SameSite=Lax; Path=/`, and on https also `Secure` with the `__Host-`
//! prefix (which makes the browser refuse a cookie set by a sibling domain or over http).

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};

/// The login session.
pub const SESSION: &str = "tessera_session";
/// A pre-login secret that the login form's CSRF token is bound to.
pub const LOGIN: &str = "tessera_login";

pub fn name(base: &str, https: bool) -> String {
    if https {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

pub fn build(base: &str, value: String, https: bool) -> Cookie<'static> {
    Cookie::build(name(base, https), value)
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .finish()
}

pub fn removal(base: &str, https: bool) -> Cookie<'static> {
    let mut c = build(base, String::new(), https);
    c.make_removal();
    c
}

pub fn read(req: &HttpRequest, base: &str, https: bool) -> Option<String> {
    req.cookie(&name(base, https))
        .map(|c| c.value().to_string())
}
