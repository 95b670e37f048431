//! Reading credentials off a request. The checks against the store are in `oauth`.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::form;
use crate::oauth::client::ClientSecret;
use crate::oauth::client_auth::ClientCredentials;
use crate::oauth::error::OAuthError;
use crate::oauth::token::TokenRequest;

/// Standard base64, padded or not: clients differ.
const BASIC_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Takes the client's credentials from the `Authorization` header and from `client_id` /
/// `client_secret` in the form (which are removed from `params`, so grants never see them).
///
/// RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request, so a
/// Basic header together with `client_secret` in the body is `invalid_request`. A `client_id`
/// in the body beside Basic is tolerated (§4.1.3 asks some clients to send it) only when it
/// names the same client.
pub fn client_credentials(
    req: &HttpRequest,
    params: &mut BTreeMap<String, String>,
) -> Result<ClientCredentials, OAuthError> {
    let form_id = params.remove("client_id");
    let form_secret = params.remove("client_secret");
    let basic = basic_credentials(req)?;
    match (basic, form_id, form_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "the client authenticated twice: HTTP Basic and client_secret in the body; \
             use one method (RFC 6749 §2.3)",
        )),
        (Some((id, _)), Some(form_id), None) if form_id != id => Err(OAuthError::invalid_request(
            "client_id in the body differs from the HTTP Basic one",
        )),
        (Some((client_id, secret)), _, None) => Ok(ClientCredentials::Basic { client_id, secret }),
        (None, Some(client_id), Some(secret)) => Ok(ClientCredentials::Post {
            client_id,
            secret: ClientSecret::new(secret),
        }),
        (None, Some(client_id), None) => Ok(ClientCredentials::None { client_id }),
        (None, None, Some(_)) => Err(OAuthError::invalid_request(
            "client_secret was sent without client_id",
        )),
        (None, None, None) => Ok(ClientCredentials::Missing),
    }
}

/// A form POST to an endpoint where clients authenticate (`/introspect`, `/revoke`): the
/// client's credentials, and the other parameters.
pub async fn client_form(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(ClientCredentials, TokenRequest), OAuthError> {
    let mut params = form::read(req, payload).await?;
    let credentials = client_credentials(req, &mut params)?;
    Ok((credentials, TokenRequest::new(params)))
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
/// A header that is present but unusable fails authentication (401 with `WWW-Authenticate`).
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, ClientSecret)>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = |why: &'static str| OAuthError::invalid_client(why, true);
    let value = value
        .to_str()
        .map_err(|_| bad("the Authorization header is malformed"))?;
    let (scheme, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| bad("the Authorization header is malformed"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad(
            "unsupported authentication scheme; use HTTP Basic or the form body",
        ));
    }
    let decoded = BASIC_B64
        .decode(encoded.trim())
        .map_err(|_| bad("the Basic credentials are not base64"))?;
    let (id, secret) = decoded
        .iter()
        .position(|&b| b == b':')
        .map(|i| (&decoded[..i], &decoded[i + 1..]))
        .ok_or_else(|| bad("the Basic credentials have no ':'"))?;
    let id = form::decode_component(id).map_err(|_| bad("the Basic client id is not UTF-8"))?;
    let secret =
        form::decode_component(secret).map_err(|_| bad("the Basic client secret is not UTF-8"))?;
    if id.is_empty() {
        return Err(bad("the Basic credentials name no client"));
    }
    Ok(Some((id, ClientSecret::new(secret))))
}
