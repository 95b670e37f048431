//! `POST /revoke` (RFC 7009): 200 with an empty body whenever the client authenticated and
//! sent a token, whether or not anything was revoked (§2.2).

use actix_web::{HttpRequest, HttpResponse, web};

use super::{extractors, introspect, no_store};
use crate::oauth::error::OAuthError;
use crate::oauth::revocation;
use crate::startup::AppState;

pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let (credentials, request) = extractors::client_form(&req, payload).await?;
    let issuer = state.settings.issuer();
    let keys = state.keys.current();
    revocation::revoke(
        &introspect::context(&state, &keys, &issuer),
        &credentials,
        &request,
    )
    .await?;
    Ok(no_store().finish())
}
