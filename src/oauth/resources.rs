//! RFC 8707 at the authorization and token endpoints: which registered APIs a request's
//! `resource` names, whether the client may have them, and what its access token is then for.

use std::sync::Arc;
use std::time::Duration;

use super::client::Client;
use super::error::OAuthError;
use super::resource::{self, Api, Audience, AudienceError, Resource};
use super::scope::Scope;
use super::token::TokenContext;
use crate::keys::{SigningAlg, SigningKey};
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
/// token request. Several resources may be granted at once, but each token is for one of them
/// (§2.2), so that no API can replay its token at another: the one named, which must be among
/// those granted, or the only one granted. It must still be allowed to the client (an API
/// removed from it since is refused). `None`: no resource anywhere, the token keeps today's
/// audience (the client id).
pub async fn for_token(
    store: &Store,
    client: &Client,
    granted: &[Resource],
    requested: Option<&str>,
    scope: &Scope,
) -> Result<Option<Audience>, OAuthError> {
    let asked =
        resource::parse_requested(requested).map_err(|e| TargetError::Invalid(e.to_string()))?;
    let chosen = match (asked.as_slice(), granted) {
        ([], []) => return Ok(None),
        ([], [only]) => only,
        ([], _) => {
            return Err(OAuthError::InvalidTarget(
                "several resources were granted; name one with resource (RFC 8707 §2.2)".into(),
            ));
        }
        ([one], _) if granted.contains(one) => one,
        ([one], _) => {
            return Err(OAuthError::InvalidTarget(
                format!("the resource {one} was not granted by the authorization (RFC 8707 §2.2)")
                    .into(),
            ));
        }
        _ => return Err(one_per_request()),
    };
    let apis = allowed(store, client, Some(chosen.as_str())).await?;
    audience(&apis, scope).map(Some)
}

/// The API of a client_credentials request's token: at most one `resource`, as at the end of
/// every other grant (RFC 8707 §2.2), so that the token is good at one API only.
pub async fn one_allowed(
    store: &Store,
    client: &Client,
    requested: Option<&str>,
) -> Result<Option<Api>, OAuthError> {
    let mut apis = allowed(store, client, requested).await?;
    match apis.len() {
        0 | 1 => Ok(apis.pop()),
        _ => Err(one_per_request()),
    }
}

fn one_per_request() -> OAuthError {
    OAuthError::InvalidTarget(
        "name one resource per token request: a token is for one API (RFC 8707 §2.2)".into(),
    )
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
/// client's. As for `TokenContext::key_for`, an error means this node cannot sign for it now
/// (its active key was revoked and no successor signs here yet): 503 until it can, never a
/// silent fallback to another algorithm.
pub async fn access_key(
    ctx: &TokenContext<'_>,
    client: &Client,
    audience: Option<&Audience>,
) -> Result<Arc<SigningKey>, OAuthError> {
    let alg = audience
        .and_then(|a| a.signing_alg)
        .unwrap_or(client.signing_alg);
    ctx.key_for(alg, client).await
}
