//! Token introspection (RFC 7662): may a resource server still honour this token?
//!
//! Checking an access token reads no database: the signature is checked against the key ring
//! and revocation against the in-memory list (`AccessTokenCheck` holds no `Store` and its
//! methods are not `async`, so it cannot query one). Besides client authentication, the store
//! is read once, for the caller's 'serve' links, only for a live token whose caller is neither
//! its client, its `aud`, nor a resource server (`served_api_token`).
//!
//! `username` (§2.2) is not returned: an access token carries the user's stable id (`sub`),
//! not their username, and looking it up would put a query on every introspection. Resource
//! servers that need a display name ask `/userinfo`.

use std::sync::Arc;

use serde::Serialize;

use super::client::{Client, ClientType};
use super::client_auth::{self, ClientCredentials};
use super::error::OAuthError;
use super::token::TokenRequest;
use crate::clock::UnixTime;
use crate::keys::KeyRing;
use crate::revocation::RevocationList;
use crate::store::Store;
use crate::tokens::access::verify_access_token;
use crate::tokens::claims::{AccessClaims, Act, Aud};
use crate::tokens::opaque;
use crate::tokens::presented::{self, Presented};
use crate::tokens::verified_cache::VerifiedTokens;

/// RFC 7662 §2.2. An inactive token is `{"active": false}` and nothing else, whatever the
/// reason (expired, revoked, forged, unknown key, another issuer), so the answer reveals
/// nothing about why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub token: Option<ActiveToken>,
}

/// The members of an active token's answer (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveToken {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub client_id: String,
    pub token_type: &'static str,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub sub: String,
    /// As the token has it: one string, or an array for several APIs.
    pub aud: Aud,
    pub iss: String,
    pub jti: String,
    /// RFC 8693 §4.1: who acts for the subject, after a delegated exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
    /// RFC 9449 §6.2: the DPoP key a bound token needs a proof of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::oauth::dpop::Cnf>,
}

impl Introspection {
    pub fn inactive() -> Self {
        Self {
            active: false,
            token: None,
        }
    }

    fn active(claims: &AccessClaims) -> Self {
        Self {
            active: true,
            token: Some(ActiveToken {
                scope: (!claims.scope.is_empty()).then(|| claims.scope.clone()),
                client_id: claims.client_id.clone(),
                // RFC 9449 §6.2: a bound token is of type DPoP.
                token_type: match claims.cnf {
                    Some(_) => "DPoP",
                    None => "Bearer",
                },
                exp: claims.exp,
                iat: claims.iat,
                sub: claims.sub.clone(),
                aud: claims.aud.clone(),
                iss: claims.iss.clone(),
                jti: claims.jti.clone(),
                act: claims.act.clone(),
                cnf: claims.cnf.clone(),
            }),
        }
    }
}

/// Checks access tokens without I/O: keys, the in-memory revocation list, the time, and the
/// node's cache of signatures already verified.
#[derive(Clone, Copy)]
pub struct AccessTokenCheck<'a> {
    pub keys: &'a KeyRing,
    pub revocations: &'a RevocationList,
    pub verified: &'a VerifiedTokens,
    pub issuer: &'a str,
    pub now: UnixTime,
}

impl AccessTokenCheck<'_> {
    /// The claims of a token this issuer signed with a key of its ring, not expired at `now`,
    /// whatever its revocation status. A token seen before is found by its SHA-256 instead of
    /// verifying its signature again; expiry is judged against `now` either way.
    pub fn verified(&self, token: &str) -> Option<Arc<AccessClaims>> {
        let digest = VerifiedTokens::digest(token);
        if let Some(claims) = self.verified.get(&digest, self.issuer, self.now) {
            // Only while its key is still in the ring: a retired or revoked key's tokens stop
            // here even after the revocation entry for that key has been purged.
            let key_kept = claims
                .kid
                .as_deref()
                .is_some_and(|kid| self.keys.get(kid).is_some());
            return key_kept.then_some(claims);
        }
        let claims = Arc::new(verify_access_token(self.keys, self.issuer, token, self.now).ok()?);
        self.verified.insert(digest, claims.clone(), self.now);
        Some(claims)
    }

    /// The claims of a token a resource server may honour now: verified and not revoked. The
    /// revocation list is consulted on every call, cached signature or not (DESIGN §4).
    pub fn live(&self, token: &str) -> Option<Arc<AccessClaims>> {
        self.verified(token)
            .filter(|claims| !self.revocations.is_revoked(claims))
    }

    /// The answer `caller` gets: active only for a token it may know about (`may_see`).
    pub fn introspect(&self, caller: &Client, token: &str) -> Introspection {
        self.live(token)
            .filter(|claims| may_see(caller, claims))
            .map_or_else(Introspection::inactive, |claims| {
                Introspection::active(&claims)
            })
    }
}

/// What `POST /introspect` and `POST /revoke` need: the store (client authentication, and
/// refresh tokens once they exist) and the I/O-free access-token check.
pub struct PresentedTokenContext<'a> {
    pub store: &'a Store,
    pub check: AccessTokenCheck<'a>,
    /// Revoking a device secret ends its session, whose clients are told.
    pub backchannel: &'a crate::sessions::Backchannel,
}

/// RFC 7662 §2.1: the caller authenticates; `token` is required; `token_type_hint` is
/// accepted and ignored, because the token's shape already says what it can be.
pub async fn introspect(
    ctx: &PresentedTokenContext<'_>,
    credentials: &ClientCredentials,
    request: &TokenRequest,
) -> Result<Introspection, OAuthError> {
    let client = client_auth::authenticate(ctx.store, credentials).await?;
    require_confidential(&client, credentials)?;
    let token = required_token(request, "RFC 7662 §2.1")?;
    Ok(match presented::classify(token) {
        // Verified and judged against the revocation list once, whoever may see it.
        Presented::AccessToken(jwt) => match ctx.check.live(jwt) {
            None => Introspection::inactive(),
            Some(claims) if may_see(&client, &claims) => Introspection::active(&claims),
            Some(claims) => served_api_token(ctx, &client, &claims).await?,
        },
        Presented::RefreshToken(rt) => refresh_token(ctx, &client, rt).await?,
        // A device secret is not a token a resource server is shown.
        Presented::DeviceSecret(_) | Presented::Unrecognised => Introspection::inactive(),
    })
}

/// The answer for a live token `caller` may not see as its own: active when the caller serves
/// an API the token is for (`--serves-api`: the API's backend checks the tokens sent to it).
/// The links come from the node's cache (`Store::served_apis`), read at most once per
/// client change.
async fn served_api_token(
    ctx: &PresentedTokenContext<'_>,
    caller: &Client,
    claims: &AccessClaims,
) -> Result<Introspection, OAuthError> {
    let served = ctx.store.served_apis(caller.id.as_str()).await?;
    Ok(match served.iter().any(|api| claims.aud.contains(api)) {
        true => Introspection::active(claims),
        false => Introspection::inactive(),
    })
}

/// Whether `caller` may learn that an access token is active (RFC 7662 §4: the server may
/// answer inactive to a caller that has no business knowing; otherwise any client could read
/// the subject, scope and lifetime of every other client's tokens): the client it was issued
/// to, the audience it was issued for, or a client registered as a resource server.
pub fn may_see(caller: &Client, claims: &AccessClaims) -> bool {
    caller.resource_server
        || claims.client_id == caller.id.as_str()
        || claims.aud.contains(caller.id.as_str())
}

/// RFC 7662 §2.1 asks the endpoint to authenticate its callers, and §4 to guard against token
/// scanning. A public client proves nothing (anyone can send its client_id), so introspection,
/// like pulling the revocation list, is for confidential clients (resource servers) only.
pub fn require_confidential(
    client: &Client,
    credentials: &ClientCredentials,
) -> Result<(), OAuthError> {
    if client.client_type == ClientType::Confidential {
        Ok(())
    } else {
        Err(OAuthError::invalid_client(
            "this endpoint is for confidential clients: authenticate with a client secret",
            matches!(credentials, ClientCredentials::Basic { .. }),
        ))
    }
}

/// The `token` parameter, which RFC 7662 §2.1 and RFC 7009 §2.1 both require.
pub fn required_token<'r>(
    request: &'r TokenRequest,
    section: &'static str,
) -> Result<&'r str, OAuthError> {
    request.get("token").ok_or_else(|| {
        OAuthError::invalid_request(format!("the token parameter is missing ({section})"))
    })
}

/// A refresh token is active while it is unused (or within the grace of its use), unexpired,
/// and its family unrevoked. Only the client it was issued to, or a resource server, learns
/// that (RFC 7662 §2.2: the server may answer inactive to a caller that may not know).
async fn refresh_token(
    ctx: &PresentedTokenContext<'_>,
    client: &Client,
    token: &str,
) -> Result<Introspection, OAuthError> {
    let now = ctx.check.now;
    let Some(row) = ctx.store.refresh_token(&opaque::hash(token)).await? else {
        return Ok(Introspection::inactive());
    };
    let family = &row.family;
    let live = (family.client_id == client.id.as_str() || client.resource_server)
        && family.revoked_at.is_none()
        && row.used_at.is_none()
        && family.expires_at > now
        && row.idle_expires_at > now;
    if !live {
        return Ok(Introspection::inactive());
    }
    Ok(Introspection {
        active: true,
        token: Some(ActiveToken {
            scope: (!family.scope.is_empty()).then(|| family.scope.clone()),
            client_id: family.client_id.clone(),
            token_type: "refresh_token",
            exp: row.idle_expires_at.min(family.expires_at),
            iat: family.created_at,
            sub: family.user_id.clone(),
            aud: family.client_id.clone().into(),
            iss: ctx.check.issuer.to_string(),
            // Not a JWT: the family id names it for the revocation list.
            jti: family.family_id.clone(),
            act: None,
            cnf: family
                .dpop_jkt
                .clone()
                .map(|jkt| crate::oauth::dpop::Cnf { jkt }),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client::ClientId;

    fn client(id: &str, resource_server: bool) -> Client {
        Client {
            id: ClientId::parse(id).unwrap(),
            name: id.into(),
            client_type: ClientType::Confidential,
            secret_hash: None,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            scopes: crate::oauth::scope::Scope::parse("api").unwrap(),
            first_party: false,
            resource_server,
            access_token_ttl: None,
            backchannel_logout_uri: None,
            signing_alg: crate::keys::SigningAlg::default(),
            native_sso_group: None,
            exchange_refresh: false,
            exchange_impersonate: false,
            require_dpop: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn claims(client_id: &str, aud: &str) -> AccessClaims {
        AccessClaims {
            iss: "https://id.example".into(),
            sub: "user-1".into(),
            aud: aud.into(),
            client_id: client_id.into(),
            scope: String::new(),
            exp: 2000,
            iat: 1000,
            jti: "j".into(),
            sid: None,
            auth_time: None,
            roles: None,
            fam: None,
            act: None,
            may_act: None,
            xo: Vec::new(),
            cnf: None,
            kid: None,
        }
    }

    #[test]
    fn a_token_is_seen_by_its_client_its_audience_and_resource_servers_only() {
        let token = claims("app", "orders-api");
        assert!(may_see(&client("app", false), &token));
        assert!(may_see(&client("orders-api", false), &token));
        assert!(may_see(&client("gateway", true), &token));
        assert!(!may_see(&client("other-app", false), &token));
    }
}
