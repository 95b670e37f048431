//! `POST /introspect` (RFC 7662): read the form and the caller's credentials, let
//! `oauth::introspection` decide, answer JSON that no one caches.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{extractors, no_store};
use crate::keys::KeyRing;
use crate::oauth::error::OAuthError;
use crate::oauth::introspection::{self, AccessTokenCheck, PresentedTokenContext};
use crate::startup::AppState;

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let (credentials, request) = extractors::client_form(&req, payload).await?;
    let issuer = state.settings.issuer();
    let keys = state.keys.current();
    let answer =
        introspection::introspect(&context(&state, &keys, &issuer), &credentials, &request).await?;
    Ok(no_store().json(answer))
}

/// The store for client authentication, and the I/O-free access-token check: keys (the
/// node's current ring, taken once for the request), the in-memory revocation list, the time.
pub fn context<'a>(
    state: &'a AppState,
    keys: &'a KeyRing,
    issuer: &'a str,
) -> PresentedTokenContext<'a> {
    PresentedTokenContext {
        store: &state.store,
        check: AccessTokenCheck {
            keys,
            revocations: &state.revocations,
            verified: &state.verified_tokens,
            issuer,
            now: state.clock.now(),
        },
        backchannel: &state.backchannel,
    }
}
