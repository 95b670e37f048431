//! `POST /introspect` (RFC 7662): read the form and the caller's credentials, let
//! `oauth::introspection` decide, answer JSON that no one caches.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{extractors, form, no_store};
use crate::oauth::error::OAuthError;
use crate::oauth::introspection::{self, AccessTokenCheck, IntrospectionContext};
use crate::oauth::token::TokenRequest;
use crate::startup::AppState;

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form::read(&req, payload).await?;
    let credentials = extractors::client_credentials(&req, &mut params)?;
    let issuer = state.settings.issuer();
    let ctx = IntrospectionContext {
        store: &state.store,
        check: access_token_check(&state, &issuer),
    };
    let answer = introspection::introspect(&ctx, &credentials, &TokenRequest::new(params)).await?;
    Ok(no_store().json(answer))
}

/// The I/O-free access-token checker for this request: keys, revocation list, time.
pub fn access_token_check<'a>(state: &'a AppState, issuer: &'a str) -> AccessTokenCheck<'a> {
    AccessTokenCheck {
        keys: &state.keys,
        revocations: &state.revocations,
        issuer,
        now: state.clock.now(),
    }
}
