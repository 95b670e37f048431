//! `application/x-www-form-urlencoded` bodies, read strictly: a size limit, UTF-8 only, and
//! repeated parameters visible (serde_urlencoded would silently keep one of them).

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;

use crate::oauth::error::OAuthError;
use crate::oauth::resource;

/// Token requests are a handful of short parameters; anything bigger is not one.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the request body is not valid UTF-8 form data")]
    NotUtf8,
    #[error("the parameter {0} is included more than once (RFC 6749 §3.2)")]
    Repeated(String),
    /// A `resource` value that cannot be carried: `invalid_target` (RFC 8707 §2).
    #[error("{0}")]
    Target(String),
}

/// The one parameter that may repeat: RFC 8707 §2 names several resources by repeating it.
/// Its values are joined with a space by `oauth::resource::push_requested`, which refuses a
/// value with a space of its own (it would read back as two) and more than ten values.
pub const REPEATABLE: &str = "resource";

/// Parses a form body into name → value. Per RFC 6749 §3.1, a parameter sent without a value
/// is treated as omitted; a name present twice (with values) is an error (§3.2), except
/// `REPEATABLE`.
pub fn parse(body: &[u8]) -> Result<BTreeMap<String, String>, FormError> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode_component(name)?;
        let value = decode_component(value)?;
        if value.is_empty() {
            continue;
        }
        match params.get_mut(&name) {
            Some(joined) if name == REPEATABLE => push_resource(joined, &value)?,
            Some(_) => return Err(FormError::Repeated(name.escape_default().to_string())),
            None if name == REPEATABLE => {
                push_resource(params.entry(name).or_default(), &value)?;
            }
            None => {
                params.insert(name, value);
            }
        }
    }
    Ok(params)
}

fn push_resource(joined: &mut String, value: &str) -> Result<(), FormError> {
    resource::push_requested(joined, value).map_err(|e| FormError::Target(e.to_string()))
}

/// One form-urlencoded component: `+` is a space, `%XX` a byte, and the result must be UTF-8.
/// A `%` not followed by two hex digits is kept as it is (as `percent_encoding` does). One
/// pass into one buffer: a token in a body is ~700 bytes, on every introspection.
pub fn decode_component(raw: &[u8]) -> Result<String, FormError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let escaped = match (b, raw.get(i + 1..i + 3)) {
            (b'%', Some(&[hi, lo])) => hex(hi).zip(hex(lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (b, escaped) {
            (_, Some(byte)) => {
                bytes.push(byte);
                i += 3;
            }
            (b'+', None) => {
                bytes.push(b' ');
                i += 1;
            }
            (_, None) => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(bytes).map_err(|_| FormError::NotUtf8)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Reads a form body: the media type must be `application/x-www-form-urlencoded` (RFC 6749
/// §3.2) and the body at most `MAX_BODY` bytes. Every failure is an `invalid_request`.
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<BTreeMap<String, String>, OAuthError> {
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !media_type.is_some_and(|m| m.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded (RFC 6749 §3.2)",
        ));
    }
    let too_large = || OAuthError::invalid_request("the request body is too large");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| OAuthError::invalid_request("the request body could not be read"))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    parse(&body).map_err(|e| match e {
        FormError::Target(m) => OAuthError::InvalidTarget(m.into()),
        e => OAuthError::invalid_request(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded() {
        let p = parse(b"grant_type=client_credentials&scope=a+b%20c&x=%C3%A9").unwrap();
        assert_eq!(p["grant_type"], "client_credentials");
        assert_eq!(p["scope"], "a b c");
        assert_eq!(p["x"], "é");
    }

    #[test]
    fn components_decode_like_percent_encoding_does() {
        for raw in [
            &b"a+b%20c%2B%25"[..],
            b"%",
            b"%4",
            b"%zz%41",
            b"100%",
            b"%e2%82%ac+",
            b"plain",
            b"",
        ] {
            let plus: Vec<u8> = raw
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            let expected: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
            assert_eq!(
                decode_component(raw).unwrap().as_bytes(),
                expected,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let p = parse(b"scope=&a=1&&b&scope=x").unwrap();
        assert_eq!(p.get("scope").map(String::as_str), Some("x"));
        assert!(!p.contains_key("b"));
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(
            parse(b"scope=a&scope=b"),
            Err(FormError::Repeated("scope".into()))
        );
    }

    #[test]
    fn resource_may_repeat_and_its_values_are_joined() {
        let p = parse(b"resource=https%3A%2F%2Fa.example&resource=https://b.example").unwrap();
        assert_eq!(p["resource"], "https://a.example https://b.example");
        assert!(matches!(
            parse(b"resource=https://a.example+https://b.example"),
            Err(FormError::Target(_))
        ));
    }

    #[test]
    fn invalid_utf8_is_refused_raw_or_percent_encoded() {
        assert_eq!(parse(b"a=%FF"), Err(FormError::NotUtf8));
        assert_eq!(parse(b"a=\xff"), Err(FormError::NotUtf8));
        assert_eq!(parse(b"%C3=1"), Err(FormError::NotUtf8));
    }
}
