//! `POST /revoke` (RFC 7009): 200 with an empty body whenever the client authenticated and
//! sent a token, whether or not anything was revoked (§2.2).

use actix_web::{HttpRequest, HttpResponse, web};

use super::introspect::access_token_check;
use super::{extractors, form, no_store};
use crate::oauth::error::OAuthError;
use crate::oauth::revocation::{self, RevocationContext};
use crate::oauth::token::TokenRequest;
use crate::startup::AppState;

pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form::read(&req, payload).await?;
    let credentials = extractors::client_credentials(&req, &mut params)?;
    let issuer = state.settings.issuer();
    let ctx = RevocationContext {
        store: &state.store,
        check: access_token_check(&state, &issuer),
    };
    revocation::revoke(&ctx, &credentials, &TokenRequest::new(params)).await?;
    Ok(no_store().finish())
}
