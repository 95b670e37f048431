//! Security headers on every response (DESIGN §5).

use actix_web::middleware::DefaultHeaders;

pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        // No inline script anywhere; styles and images only from this origin. `form-action` is
        // left out on purpose: browsers apply it to the redirect after a form post, which
        // would block the redirect back to a client after login or consent.
        .add((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; \
             base-uri 'none'; frame-ancestors 'none'",
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
}
