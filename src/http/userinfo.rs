//! `GET/POST /userinfo` (OIDC Core §5.3), with bearer tokens per RFC 6750.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::oauth::error::BearerError;
use crate::oauth::grants::user_tokens::profile_claims;
use crate::oauth::scope::Scope;
use crate::startup::AppState;
use crate::tokens::access::verify_access_token;

/// RFC 6750 §2.1 (header) or §2.2 (form body of a POST). Both at once is an error (§2).
fn bearer(req: &HttpRequest, body: &[u8]) -> Result<String, BearerError> {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    let from_body = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned());
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest),
        (Some(t), None) | (None, Some(t)) if !t.is_empty() => Ok(t),
        _ => Err(BearerError::Missing),
    }
}

pub async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, BearerError> {
    let token = bearer(&req, &body)?;
    let now = state.clock.now();
    let claims = verify_access_token(&state.keys.current(), &state.settings.issuer(), &token, now)
        .map_err(|_| BearerError::InvalidToken)?;
    // A token for an API (RFC 8707) is that API's alone; userinfo serves the client's own.
    if state.revocations.is_revoked(&claims) || !claims.aud.is_only(&claims.client_id) {
        return Err(BearerError::InvalidToken);
    }
    let scope = Scope::parse(&claims.scope).unwrap_or_else(|_| Scope::empty());
    if !scope.contains("openid") {
        return Err(BearerError::InsufficientScope("openid"));
    }
    let user = state
        .store
        .user_by_id(&claims.sub)
        .await
        .map_err(|_| BearerError::Unavailable)?
        .filter(|u| !u.disabled)
        .ok_or(BearerError::InvalidToken)?;
    let mut body = serde_json::to_value(profile_claims(&user, &scope))
        .map_err(|_| BearerError::InvalidToken)?;
    if let Some(map) = body.as_object_mut() {
        map.insert("sub".into(), serde_json::Value::String(user.id));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}
