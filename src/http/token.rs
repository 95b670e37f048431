//! `POST /token` (RFC 6749 §3.2): read the form and the client's credentials, let
//! `oauth::token` decide, answer JSON that no one caches (§5.1).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{extractors, form};
use crate::oauth::client::GrantType;
use crate::oauth::error::OAuthError;
use crate::oauth::token::{self, TokenContext, TokenRequest};
use crate::startup::AppState;

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form::read(&req, payload).await?;
    let grant = params
        .get("grant_type")
        .and_then(|g| GrantType::parse(g).ok())
        .map(GrantType::as_str);
    let credentials = extractors::client_credentials(&req, &mut params)?;
    let proof = super::dpop::proof_header(&req)?;
    let max_unsynced = crate::keys::manage::max_unsynced(&state.settings);
    // No wait here: the grant waits (`TokenContext::key_for`) only for the algorithms it signs.
    let keys = state
        .keys
        .for_signing(max_unsynced, &[])
        .await
        .ok_or(OAuthError::TemporarilyUnavailable)?;
    let now = state.clock.now();
    let ctx = TokenContext {
        store: &state.store,
        keys: &keys,
        live: &state.keys,
        max_unsynced,
        settings: &state.settings,
        revocations: &state.revocations,
        now,
        rate_limit: &state.token_rate_limit,
        dpop: &state.dpop,
    };
    let request = TokenRequest::new(params).with_dpop_proof(proof);
    let result = token::exchange(&ctx, &credentials, &request).await;
    match (&result, grant) {
        (Ok(_), Some(grant)) => {
            state.metrics.token_issued(grant);
            // Issued, so the credentials named a registered client.
            state
                .activity
                .token_issued(now, grant, credentials.client_id());
        }
        (Err(OAuthError::RateLimited(_)), _) => state.metrics.rate_limited(),
        _ => {}
    }
    let response = result?;
    let mut ok = HttpResponse::Ok();
    // RFC 9449 §8: a fresh nonce with every answer, so that clients rarely meet use_dpop_nonce.
    if let Some(nonce) = state.dpop.nonce(now) {
        ok.insert_header(("DPoP-Nonce", nonce));
    }
    Ok(ok
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}

/// Any other method on /token: 405 with `Allow: POST` and an RFC 6749 error body.
pub async fn method_not_allowed() -> Result<HttpResponse, OAuthError> {
    Err(OAuthError::MethodNotAllowed("POST"))
}
