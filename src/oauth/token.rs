//! The token endpoint's rules (RFC 6749 §3.2, §5): authenticate the client, read
//! `grant_type`, and hand over to the grant. A new grant is a module under `grants/` and one
//! arm in `exchange`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::client::{Client, GrantType};
use super::client_auth::{self, ClientCredentials};
use super::error::OAuthError;
use super::grants;
use super::rate_limit::ClientRateLimiter;
use crate::clock::UnixTime;
use crate::config::Settings;
use crate::keys::{KeyRing, LiveKeys, SigningAlg, SigningKey};
use crate::revocation::RevocationList;
use crate::store::Store;

use super::dpop::{Dpop, Expected};

/// The form parameters of a token request, each present at most once (the HTTP layer refuses
/// repeats, RFC 6749 §3.2, except `resource`, whose values it joins with spaces: RFC 8707 §2)
/// and never empty (§3.1: empty means omitted). Client credentials
/// have already been taken out.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    params: BTreeMap<String, String>,
    /// The `DPoP` header as sent (RFC 9449 §4.1), not yet checked.
    dpop_proof: Option<String>,
    /// The thumbprint of the key of the proof that passed every check (`exchange` sets it):
    /// what the grant binds its tokens to.
    dpop_jkt: Option<String>,
}

impl TokenRequest {
    pub fn new(params: BTreeMap<String, String>) -> Self {
        Self {
            params,
            ..Self::default()
        }
    }

    pub fn with_dpop_proof(mut self, proof: Option<String>) -> Self {
        self.dpop_proof = proof;
        self
    }

    /// The key a valid DPoP proof came with: tokens the grant issues are bound to it.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_jkt.as_deref()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// What a grant needs besides the request: the store, the keys, the settings and the time.
pub struct TokenContext<'a> {
    pub store: &'a Store,
    /// The ring the request took when it began (verification, and the keys that sign unless
    /// the revocation list has learnt of their revocation since).
    pub keys: &'a KeyRing,
    /// The node's live keys, where a signer whose key was revoked during the request gets the
    /// successor (`key_for`), and the node's `max_unsynced`.
    pub live: &'a LiveKeys,
    pub max_unsynced: Duration,
    pub settings: &'a Settings,
    pub revocations: &'a RevocationList,
    pub now: UnixTime,
    pub rate_limit: &'a ClientRateLimiter,
    pub dpop: &'a Dpop,
}

impl TokenContext<'_> {
    /// The key for the client's registered algorithm (see `key_for`).
    pub async fn signing_key(&self, client: &Client) -> Result<Arc<SigningKey>, OAuthError> {
        self.key_for(client.signing_alg, client).await
    }

    /// The key that signs for `alg` here, checked against the revocation list right before it
    /// signs. The ring the request took when it began may sign with a key the list has learnt
    /// of since (while the grant awaited the store): then the successor is taken from the
    /// node's live keys, waiting for the key rescan as `LiveKeys::for_signing` does. A grant
    /// that has already spent its code or refresh token must not lose it to a 503 when a
    /// successor signs within that wait. The ring holds a key of every algorithm a client can
    /// register (they are generated at start), so an error means this node cannot sign for it
    /// now (its active key was revoked and the successor's file is not here yet, or the rescan
    /// cannot read the records): 503 until it can, never a silent fallback to another
    /// algorithm.
    pub async fn key_for(
        &self,
        alg: SigningAlg,
        client: &Client,
    ) -> Result<Arc<SigningKey>, OAuthError> {
        let unrevoked = |key: &Arc<SigningKey>| !self.revocations.revokes_kid(key.kid());
        if let Some(key) = self.keys.signer(alg).filter(unrevoked) {
            return Ok(key);
        }
        let live = self.live.for_signing(self.max_unsynced, &[alg]).await;
        match live.and_then(|ring| ring.signer(alg)).filter(unrevoked) {
            Some(key) => Ok(key),
            None => {
                tracing::error!(
                    %alg,
                    client_id = %client.id,
                    "no key can sign for this algorithm on this node"
                );
                Err(OAuthError::TemporarilyUnavailable)
            }
        }
    }
}

/// RFC 6749 §5.1. Optional members are left out when absent.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    /// Native SSO §3.4: for the first app of a group that asked for `device_sso`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_secret: Option<String>,
}

impl TokenResponse {
    /// An access token alone, with the scope it carries (none: left out).
    pub fn access_only(
        token: crate::tokens::access::AccessToken,
        scope: &super::scope::Scope,
    ) -> Self {
        Self {
            token_type: token.token_type(),
            access_token: token.token,
            expires_in: token.expires_in,
            scope: (!scope.is_empty()).then(|| scope.to_string()),
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
            device_secret: None,
        }
    }
}

/// Grant types this server serves today; discovery advertises exactly these.
pub const SUPPORTED_GRANTS: &[GrantType] = &[
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
    GrantType::TokenExchange,
    GrantType::DeviceCode,
];

pub async fn exchange(
    ctx: &TokenContext<'_>,
    credentials: &ClientCredentials,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let client = client_auth::authenticate(ctx.store, credentials).await?;
    ctx.rate_limit
        .check(client.id.as_str(), ctx.now)
        .map_err(OAuthError::RateLimited)?;
    let grant_type = request
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("the grant_type parameter is missing"))?;
    let grant = GrantType::parse(grant_type)
        .ok()
        .filter(|g| SUPPORTED_GRANTS.contains(g))
        .ok_or_else(|| {
            OAuthError::UnsupportedGrantType(
                format!(
                    "grant type '{}' is not supported; supported: {}",
                    grant_type.escape_default(),
                    supported_grants_text()
                )
                .into(),
            )
        })?;
    if !client.allows_grant(grant) {
        return Err(OAuthError::UnauthorizedClient(
            format!(
                "this client is not registered for the {} grant",
                grant.as_str()
            )
            .into(),
        ));
    }
    let request = &checked_proof(ctx, &client, request).await?;
    match grant {
        GrantType::ClientCredentials => {
            grants::client_credentials::exchange(ctx, &client, request).await
        }
        GrantType::AuthorizationCode => {
            grants::authorization_code::exchange(ctx, &client, request).await
        }
        GrantType::RefreshToken => grants::refresh_token::exchange(ctx, &client, request).await,
        GrantType::TokenExchange => grants::token_exchange::exchange(ctx, &client, request).await,
        GrantType::DeviceCode => grants::device_code::exchange(ctx, &client, request).await,
    }
}

/// RFC 9449 §4.3, §5: the request's DPoP proof, checked once the client is known (so that an
/// unauthenticated caller can make us store nothing, and the rate limit bounds what a client
/// can). A client registered to require DPoP must send one.
async fn checked_proof(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenRequest, OAuthError> {
    let Some(raw) = request.dpop_proof.as_deref() else {
        if client.require_dpop {
            return Err(OAuthError::InvalidDpopProof(
                "this client must send a DPoP proof with every token request (RFC 9449 §5)".into(),
            ));
        }
        return Ok(request.clone());
    };
    let expected = Expected {
        htm: "POST",
        htu: ctx.dpop.token_url(),
        access_token: None,
    };
    let proof = ctx
        .dpop
        .check(ctx.store, raw, &expected, ctx.dpop.require_nonce, ctx.now)
        .await?;
    Ok(TokenRequest {
        dpop_jkt: Some(proof.jkt),
        ..request.clone()
    })
}

fn supported_grants_text() -> String {
    SUPPORTED_GRANTS
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
