//! RFC 8707 at the authorization and token endpoints: which registered APIs a request's
//! `resource` names, whether the client may have them, and what its access token is then for.

use std::time::Duration;

use super::client::Client;
use super::error::OAuthError;
use super::resource::{self, Api, Audience, AudienceError, Resource};
use super::scope::Scope;
use crate::keys::{KeyRing, SigningAlg, SigningKey};
use crate::store::{ApiRow, Store, StoreError};
use crate::tokens::claims::Aud;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// `invalid_target` (RFC 8707 §2), with what was wrong.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TargetError> for OAuthError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Invalid(m) => OAuthError::InvalidTarget(m.into()),
            TargetError::Store(s) => s.into(),
        }
    }
}

/// A stored API in its checked form. The store holds only what registration checked; a row
/// that does not parse any more (edited by hand) keeps no scopes and the client's settings.
pub fn api_from_row(row: ApiRow) -> Api {
    Api {
        identifier: Resource::from_stored(row.identifier),
        name: row.name,
        scopes: Scope::parse(&row.scopes).unwrap_or_else(|_| Scope::empty()),
        access_token_ttl: row
            .access_token_ttl
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
        signing_alg: row
            .signing_alg
            .as_deref()
            .and_then(|a| SigningAlg::parse(a).ok()),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// The APIs `requested` names (the `resource` parameter, repeats joined by spaces): each an
/// absolute URI without a fragment, registered, and allowed to `client` (RFC 8707 §2:
/// otherwise `invalid_target`). Empty when the request names none.
pub async fn allowed(
    store: &Store,
    client: &Client,
    requested: Option<&str>,
) -> Result<Vec<Api>, TargetError> {
    let requested =
        resource::parse_requested(requested).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if requested.is_empty() {
        return Ok(Vec::new());
    }
    let usable = store.usable_apis(client.id.as_str()).await?;
    requested
        .iter()
        .map(|r| {
            usable
                .iter()
                .find(|a| a.identifier == r.as_str())
                .cloned()
                .map(api_from_row)
                .ok_or_else(|| {
                    TargetError::Invalid(format!(
                        "the resource {r} is not an API this client may get tokens for"
                    ))
                })
        })
        .collect()
}

/// The audience of a token request's access token (RFC 8707 §2.2). `granted` are the
/// resources of the authorization (code or refresh family); `requested` the `resource` of the
/// token request. A requested resource must be among those granted; without one the token is
/// for all of them. Either way each must still be allowed to the client (an API removed from
/// it since is refused). `None`: no resource anywhere, the token keeps today's audience (the
/// client id).
pub async fn for_token(
    store: &Store,
    client: &Client,
    granted: &[Resource],
    requested: Option<&str>,
    scope: &Scope,
) -> Result<Option<Audience>, OAuthError> {
    let asked =
        resource::parse_requested(requested).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if let Some(extra) = asked.iter().find(|r| !granted.contains(r)) {
        return Err(OAuthError::InvalidTarget(
            format!("the resource {extra} was not granted by the authorization (RFC 8707 §2.2)")
                .into(),
        ));
    }
    let chosen = if asked.is_empty() { granted } else { &asked };
    if chosen.is_empty() {
        return Ok(None);
    }
    let apis = allowed(store, client, Some(&resource::join(chosen))).await?;
    audience(&apis, scope).map(Some)
}

/// `resource::audience_for`, its refusals as token-endpoint errors.
pub fn audience(apis: &[Api], scope: &Scope) -> Result<Audience, OAuthError> {
    resource::audience_for(apis, scope).map_err(|e| match e {
        AudienceError::NoScope(_) => OAuthError::InvalidScope(e.to_string().into()),
        AudienceError::MixedAlgorithms(..) => OAuthError::InvalidTarget(e.to_string().into()),
    })
}

/// The `aud` of an access token: the API(s), or else the client itself.
pub fn token_aud(audience: Option<&Audience>, client: &Client) -> Aud {
    audience.map_or_else(
        || client.id.to_string().into(),
        |a| Aud::from_list(a.aud.clone()),
    )
}

/// An access token's lifetime: the API's when it sets one, else the client's or the server's.
pub fn token_ttl(audience: Option<&Audience>, client: &Client, default: Duration) -> Duration {
    audience
        .and_then(|a| a.ttl)
        .unwrap_or_else(|| client.access_token_ttl_or(default))
}

/// The key that signs an access token: the API's algorithm when it names one, else the
/// client's. The ring holds a key of every algorithm, so a missing one is a server error.
pub fn access_key<'k>(
    keys: &'k KeyRing,
    client: &Client,
    audience: Option<&Audience>,
) -> Result<&'k SigningKey, OAuthError> {
    let alg = audience
        .and_then(|a| a.signing_alg)
        .unwrap_or(client.signing_alg);
    keys.for_alg(alg).ok_or_else(|| {
        OAuthError::ServerError(anyhow::anyhow!("no {alg} key in the keys directory"))
    })
}
