//! Logging with `tracing`: human-readable or JSON lines, level from settings or `RUST_LOG`;
//! the root span of each request, with secrets taken out of the URL it records.

use std::borrow::Cow;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls (tests start many apps) are no-ops.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// Query parameters whose values are secrets or bearer credentials: an ID token
/// (`id_token_hint` on `/end-session`), an authorization code, a token, a client secret. A
/// log is read by more people than the server is, so their values never reach it.
const SECRET_PARAMS: &[&str] = &[
    "id_token_hint",
    "code",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "logout_token",
    "code_verifier",
    "password",
    // RFC 8628: the user code (34.6 bits, guessable once it is known to be live) and the
    // device code.
    "user_code",
    "device_code",
];

/// Parameters whose value is a URL of ours, redacted whole when it carries a secret parameter
/// (`/login?return_to=%2Fdevice%3Fuser_code%3D…`).
const NESTED_PARAMS: &[&str] = &["return_to"];

/// The request target as it may be logged: the path, and the query with the value of every
/// secret parameter replaced by `[redacted]`. Names are matched after percent-decoding (so
/// `id%5Ftoken%5Fhint` is caught too). Borrows when there is nothing to hide.
pub fn redact_target(path_and_query: &str) -> Cow<'_, str> {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return Cow::Borrowed(path_and_query);
    };
    let secret = |pair: &str| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
        if SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            return true;
        }
        NESTED_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s)) && {
            let value = value.replace('+', " ");
            let value = percent_encoding::percent_decode_str(&value).decode_utf8_lossy();
            matches!(redact_target(&value), Cow::Owned(_))
        }
    };
    if !query
        .split('&')
        .any(|pair| pair.contains('=') && secret(pair))
    {
        return Cow::Borrowed(path_and_query);
    }
    let mut out = String::with_capacity(path_and_query.len());
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if secret(pair) => {
                out.push_str(name);
                out.push_str("=[redacted]");
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

/// The request's root span: `tracing-actix-web`'s default fields, except that the target is
/// redacted (`redact_target`) — the default logs the full URL, and with it the ID token of
/// every `/end-session?id_token_hint=…`. The field values are only computed when the span is
/// enabled, so at the default `warn` level a request pays for none of them.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let target = request.uri().path_and_query().map_or("", |p| p.as_str());
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %request.match_pattern().as_deref().unwrap_or("default"),
            http.target = %redact_target(target),
            // Never `realip_remote_addr`: it believes any client's `X-Forwarded-For`.
            http.client_ip = %crate::http::client_addr::client_ip(request.request()),
            http.user_agent = %request
                .headers()
                .get(header::USER_AGENT)
                .and_then(|h| h.to_str().ok())
                .unwrap_or(""),
            request_id = %request
                .extensions()
                .get::<RequestId>()
                .map(ToString::to_string)
                .unwrap_or_default(),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::redact_target;

    #[test]
    fn user_codes_are_redacted_also_inside_return_to() {
        assert_eq!(
            redact_target("/device?user_code=WDJB-MJHT"),
            "/device?user_code=[redacted]"
        );
        assert_eq!(
            redact_target("/token?grant_type=x&device_code=tdc_abc"),
            "/token?grant_type=x&device_code=[redacted]"
        );
        assert_eq!(
            redact_target("/login?return_to=%2Fdevice%3Fuser_code%3DWDJB-MJHT&x=1"),
            "/login?return_to=[redacted]&x=1"
        );
        assert_eq!(
            redact_target("/login?return_to=%2Fdevice%3Fuser%255Fcode%3DWDJB-MJHT"),
            "/login?return_to=[redacted]"
        );
        assert_eq!(
            redact_target("/login?return_to=%2Faccount%3Ftab%3Dsessions"),
            "/login?return_to=%2Faccount%3Ftab%3Dsessions",
            "a return_to without a secret is kept"
        );
    }

    #[test]
    fn secret_query_values_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_target(
                "/end-session?id_token_hint=eyJ.eyJ.sig&state=s1&post_logout_redirect_uri=https%3A%2F%2Fapp"
            ),
            "/end-session?id_token_hint=[redacted]&state=s1&post_logout_redirect_uri=https%3A%2F%2Fapp"
        );
        assert_eq!(
            redact_target("/cb?code=tc_abc&state=xyz"),
            "/cb?code=[redacted]&state=xyz"
        );
        assert_eq!(
            redact_target("/x?Access_Token=a&refresh_token=b&client_secret=c&token=d"),
            "/x?Access_Token=[redacted]&refresh_token=[redacted]&client_secret=[redacted]&token=[redacted]"
        );
        // A percent-encoded name is the same parameter to the server, so it is caught too.
        assert_eq!(
            redact_target("/end-session?id%5Ftoken%5Fhint=eyJ"),
            "/end-session?id%5Ftoken%5Fhint=[redacted]"
        );
    }

    #[test]
    fn targets_without_secrets_are_borrowed_unchanged() {
        for target in [
            "/jwks",
            "/authorize?client_id=app&state=s&scope=openid",
            "/x?codes=1&tokens",
            "/x?code",
            "/end-session?",
        ] {
            assert!(
                matches!(redact_target(target), std::borrow::Cow::Borrowed(t) if t == target),
                "{target}"
            );
        }
    }
}
