//! `POST /device_authorization` (RFC 8628 §3.1–3.2): the client authenticates as at /token,
//! `oauth::device` decides, the answer is JSON that no one caches.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{extractors, form};
use crate::http::current_session::client_ip;
use crate::oauth::client_auth;
use crate::oauth::device;
use crate::oauth::error::OAuthError;
use crate::startup::AppState;

pub async fn device_authorization(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form::read(&req, payload).await?;
    let credentials = extractors::client_credentials(&req, &mut params)?;
    let client = client_auth::authenticate(&state.store, &credentials).await?;
    let now = state.clock.now();
    // The token endpoint's per-client budget: issuing device codes is as cheap to ask for.
    state
        .token_rate_limit
        .check(client.id.as_str(), now)
        .map_err(OAuthError::RateLimited)?;
    let answer = device::authorize(
        &state.store,
        &state.settings,
        &client,
        params.get("scope").map(String::as_str),
        params.get("resource").map(String::as_str),
        &client_ip(&req),
        now,
    )
    .await?;
    Ok(super::no_store().json(answer))
}
