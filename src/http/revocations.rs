//! `GET /revocations?since=CURSOR`: the revocation list for resource servers that verify
//! access tokens offline. The caller authenticates with HTTP Basic (a GET has no form body).

use actix_web::{HttpRequest, HttpResponse, web};

use super::{extractors, form, no_store};
use crate::oauth::error::OAuthError;
use crate::oauth::revocation;
use crate::startup::AppState;

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let mut query = form::parse(req.query_string().as_bytes())
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let since = revocation::parse_since(query.remove("since").as_deref())?;
    // Credentials in a query string would end up in logs: only the Authorization header.
    let credentials = extractors::client_credentials(&req, &mut Default::default())?;
    let page = revocation::list_since(&state.store, &credentials, since, state.clock.now()).await?;
    Ok(no_store().json(page))
}
