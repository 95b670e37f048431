//! `GET /jwks`: the published keys (RFC 7517 §5), public members only: next, active and
//! retiring keys, rendered once per change of the ring. The `ETag` is a hash of the document,
//! so it changes exactly when the keys do, and a cache that revalidates with `If-None-Match`
//! gets a 304 until then (RFC 9110 §13.1.2).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::startup::AppState;

pub async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ring = state.keys.current();
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches(v, ring.etag()));
    let mut res = HttpResponse::build(if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    res.insert_header((header::ETAG, ring.etag()))
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", state.settings.jwks_max_age.as_secs()),
        ));
    if not_modified {
        return res.finish();
    }
    res.insert_header((header::CONTENT_TYPE, "application/jwk-set+json"))
        .body(ring.jwks_json().to_string())
}

/// RFC 9110 §13.1.2: `*`, or a list of entity tags compared weakly (`W/` ignored).
fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .map(|tag| tag.trim())
            .any(|tag| tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_a_star() {
        let etag = r#""abc""#;
        for yes in [r#""abc""#, r#"W/"abc""#, r#""x", "abc""#, "*", r#" "abc" "#] {
            assert!(matches(yes, etag), "{yes}");
        }
        for no in [r#""abd""#, "abc", r#""abc"x"#, "", r#""ab""#] {
            assert!(!matches(no, etag), "{no}");
        }
    }
}
