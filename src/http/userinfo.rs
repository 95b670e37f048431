//! `GET/POST /userinfo` (OIDC Core §5.3), with bearer tokens per RFC 6750.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::oauth::dpop::{DpopError, Expected};
use crate::oauth::error::BearerError;
use crate::oauth::grants::user_tokens::profile_claims;
use crate::oauth::scope::Scope;
use crate::startup::AppState;
use crate::tokens::access::verify_access_token;

/// How the access token came: as a bearer token (RFC 6750) or under the DPoP scheme (RFC 9449
/// §7.1).
enum Presented {
    Bearer(String),
    Dpop(String),
}

/// RFC 6750 §2.1 (header) or §2.2 (form body of a POST), or RFC 9449 §7.1 (`Authorization:
/// DPoP`). A token in two places at once is an error (RFC 6750 §2).
fn presented(req: &HttpRequest, body: &[u8]) -> Result<Presented, BearerError> {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            let token = token.trim().to_string();
            if scheme.eq_ignore_ascii_case("bearer") {
                Some(Presented::Bearer(token))
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Some(Presented::Dpop(token))
            } else {
                None
            }
        });
    let from_body = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| Presented::Bearer(v.into_owned()));
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest),
        (Some(p), None) | (None, Some(p)) => match &p {
            Presented::Bearer(t) | Presented::Dpop(t) if !t.is_empty() => Ok(p),
            _ => Err(BearerError::Missing),
        },
        (None, None) => Err(BearerError::Missing),
    }
}

pub async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, BearerError> {
    let presented = presented(&req, &body)?;
    let (Presented::Bearer(token) | Presented::Dpop(token)) = &presented;
    let dpop = matches!(presented, Presented::Dpop(_));
    let now = state.clock.now();
    let invalid = || match dpop {
        true => BearerError::DpopInvalidToken("the access token is invalid, expired or revoked"),
        false => BearerError::InvalidToken,
    };
    let claims = verify_access_token(&state.keys.current(), &state.settings.issuer(), token, now)
        .map_err(|_| invalid())?;
    // A token for an API (RFC 8707) is that API's alone; userinfo serves the client's own.
    if state.revocations.is_revoked(&claims) || !claims.aud.is_only(&claims.client_id) {
        return Err(invalid());
    }
    match (dpop, &claims.cnf) {
        (false, None) => {}
        // RFC 9449 §7.1: a bound token is never accepted as a bearer token.
        (false, Some(_)) => {
            return Err(BearerError::DpopInvalidToken(
                "the access token is DPoP-bound: send it with the DPoP scheme and a proof",
            ));
        }
        // §7.1: the proof's key must be the one the token is bound to; an unbound token has
        // none, so it is refused before any proof is looked at.
        (true, None) => {
            return Err(BearerError::DpopInvalidToken(
                "the access token is not DPoP-bound: send it as a Bearer token",
            ));
        }
        (true, Some(cnf)) => {
            state
                .userinfo_dpop_rate_limit
                .check(&cnf.jkt, now)
                .map_err(|_| BearerError::Unavailable)?;
            let proof = super::dpop::proof(&req)
                .map_err(|e| BearerError::InvalidDpopProof(e.description().into()))?
                .ok_or(BearerError::InvalidDpopProof(
                    "the DPoP scheme needs a DPoP proof header (RFC 9449 §7.1)".into(),
                ))?;
            let expected = Expected {
                htm: req.method().as_str(),
                htu: state.dpop.userinfo_url(),
                access_token: Some(token),
            };
            // Checked after the token and its key, so that only the holder of a valid bound
            // token's key can make us remember a proof.
            state
                .dpop
                .check_bound(&state.store, &proof, &expected, false, Some(&cnf.jkt), now)
                .await
                .map_err(|e| match e {
                    DpopError::Invalid(why) => BearerError::InvalidDpopProof(why),
                    DpopError::WrongKey => BearerError::DpopInvalidToken(
                        "the access token is not bound to the DPoP proof's key",
                    ),
                    DpopError::UseNonce(_) | DpopError::Store(_) => BearerError::Unavailable,
                })?;
        }
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
