//! Token exchange of Tessera's own access tokens (RFC 8693, issue 12 §2): a client turns a
//! user's token for one API into a token for another, under its exchange policy
//! (`client_apis` roles `serve` and `exchange`). The new token keeps the subject's `sub`,
//! `sid` and refresh family (`fam`), so every revocation that reaches the subject (logout,
//! password change, family or user revocation) reaches it too, on every node at once.
//!
//! Decisions (issue 12 §2 leaves them open):
//! - The subject must be a user's token: a client's own `client_credentials` token has no
//!   user to act for and is refused.
//! - The actor token must be an access token issued to the requesting client: a service
//!   presents its own token, never someone else's.
//! - Without an actor token (impersonation, §1.1) the exchange is refused: no client is
//!   registered for it today.
//! - The new token lives at most as long as the subject has left: an exchange never extends
//!   a grant.
//! - No refresh token is issued (§2.2.1 makes it optional).

use std::time::Duration;

use super::{ExchangeRequest, TokenType};
use crate::oauth::client::{Client, ClientType};
use crate::oauth::error::OAuthError;
use crate::oauth::resource::{Audience, Resource};
use crate::oauth::resources;
use crate::oauth::scope::Scope;
use crate::oauth::token::{TokenContext, TokenResponse};
use crate::tokens::access::{self, AccessGrant, AccessTokenError, verify_access_token};
use crate::tokens::claims::{AccessClaims, Act};

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::InvalidGrant(description.into())
}

pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &ExchangeRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    match request.requested_token_type {
        None | Some(TokenType::AccessToken) => {}
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "an access token is exchanged only for an access token, not {} (RFC 8693 §2.2.2)",
                other.as_str()
            )));
        }
    }
    let issuer = ctx.settings.issuer();
    let subject = live_token(ctx, &issuer, request.subject_token, "subject_token")?;
    // A client's own token (client_credentials) speaks for no user.
    if subject.sub == subject.client_id {
        return Err(invalid_grant(
            "the subject_token must be a user's access token",
        ));
    }
    // Whether the user is still live (enabled, password unchanged) is judged as for any
    // access token: disabling the user or changing the password writes a `user` entry that
    // outlives every token issued before it, and `live_token` consulted the list (with the
    // session, family and client) above. No database read: DESIGN §6.

    let act = actor(ctx, &issuer, client, request, &subject)?;

    // The one policy look-up: what the client serves and may exchange into.
    let policy = ctx.store.exchange_policy(client.id.as_str()).await?;
    // Who may exchange: the subject's own client, or the backend of an API it is for. A
    // token stolen by any other client is refused like a foreign one.
    let own = subject.client_id == client.id.as_str();
    let serves = client.client_type == ClientType::Confidential
        && policy
            .iter()
            .any(|(serve, api)| *serve && subject.aud.contains(&api.identifier));
    if !(own || serves) {
        return Err(invalid_grant(
            "the subject_token was not issued to this client nor for an API it serves",
        ));
    }

    let target = target(request)?;
    let api = policy
        .into_iter()
        .find(|(serve, api)| !*serve && api.identifier == target.as_str())
        .map(|(_, api)| resources::api_from_row(api))
        .ok_or_else(|| {
            OAuthError::InvalidTarget(
                format!("this client may not exchange tokens into {target} (RFC 8693 §2.2.2)")
                    .into(),
            )
        })?;

    // At most what the client may have for the API; and no wider than the subject when the
    // target is an audience it already had, or when the caller is a public client (it holds
    // no secret, so it may only narrow).
    let mut allowed = client.scopes.intersection(&api.scopes);
    let subject_scope = Scope::parse(&subject.scope).unwrap_or_else(|_| Scope::empty());
    if subject.aud.contains(target.as_str()) || client.client_type == ClientType::Public {
        allowed = allowed.intersection(&subject_scope);
    }
    let scope = match &request.scope {
        Some(asked) => {
            if let Some(extra) = asked.excess(&allowed).next() {
                return Err(OAuthError::InvalidScope(
                    format!("the scope {extra} may not be exchanged into {target}").into(),
                ));
            }
            asked.clone()
        }
        // Without `scope`, all that is allowed: a new audience's scopes are its own, never
        // the subject's, and `allowed` is already narrowed to the subject's where it must be.
        None => allowed,
    };
    if scope.is_empty() {
        return Err(OAuthError::InvalidScope(
            format!("no scope may be exchanged into {target} by this client").into(),
        ));
    }
    let audience = Audience {
        aud: vec![target.to_string()],
        scope: scope.clone(),
        ttl: api.access_token_ttl,
        signing_alg: api.signing_alg,
    };
    let remaining = Duration::from_secs(u64::try_from(subject.exp - ctx.now).unwrap_or(0));
    let ttl =
        resources::token_ttl(Some(&audience), client, ctx.settings.access_token_ttl).min(remaining);
    let token = access::mint(
        resources::access_key(ctx.keys, client, Some(&audience))?,
        &issuer,
        AccessGrant {
            subject: subject.sub.clone(),
            audience: resources::token_aud(Some(&audience), client),
            client_id: client.id.to_string(),
            scope: scope.to_string(),
            ttl,
            sid: subject.sid.clone(),
            auth_time: subject.auth_time,
            roles: subject.roles.clone().filter(|_| scope.contains("roles")),
            family: subject.fam.clone(),
            act: Some(act),
            may_act: None,
        },
        ctx.now,
    )?;
    // §2.2.1: `scope` is required when it differs from the request; the exchange never
    // grants an empty one, so it is always sent and the client need not compare.
    Ok(TokenResponse {
        issued_token_type: Some(TokenType::AccessToken.as_str()),
        ..TokenResponse::access_only(token, &scope)
    })
}

/// One of our access tokens, verified (signature, `iss`, `exp`) and not revoked: the same
/// checks introspection makes. §2.2.2: a subject (or actor) token that is not is
/// `invalid_grant`, whatever the reason.
fn live_token(
    ctx: &TokenContext<'_>,
    issuer: &str,
    token: &str,
    parameter: &'static str,
) -> Result<AccessClaims, OAuthError> {
    let claims = verify_access_token(ctx.keys, issuer, token, ctx.now).map_err(|e| {
        let why = match e {
            AccessTokenError::Expired => "has expired",
            _ => "is not a valid access token of this server",
        };
        OAuthError::InvalidGrant(format!("the {parameter} {why}").into())
    })?;
    if ctx.revocations.is_revoked(&claims) {
        return Err(OAuthError::InvalidGrant(
            format!("the {parameter} has been revoked").into(),
        ));
    }
    Ok(claims)
}

/// RFC 8693 §4.1: the actor of a delegation, with the subject's own actor nested inside.
/// Without an actor token the exchange would be impersonation (§1.1), which no client may do.
fn actor(
    ctx: &TokenContext<'_>,
    issuer: &str,
    client: &Client,
    request: &ExchangeRequest<'_>,
    subject: &AccessClaims,
) -> Result<Act, OAuthError> {
    let Some((token, kind)) = request.actor else {
        return Err(OAuthError::UnauthorizedClient(
            "impersonation is not allowed: send the caller's own access token as actor_token \
             (RFC 8693 §1.1, §2.1)"
                .into(),
        ));
    };
    if kind != TokenType::AccessToken {
        return Err(super::unsupported("actor_token_type", kind.as_str()));
    }
    let actor = live_token(ctx, issuer, token, "actor_token")?;
    if actor.client_id != client.id.as_str() {
        return Err(invalid_grant(
            "the actor_token must be an access token of the requesting client",
        ));
    }
    // §4.4: when the subject names who may act for it, the actor must be one of them.
    if let Some(may) = &subject.may_act {
        let admitted = may.sub == actor.sub
            && may
                .client_id
                .as_deref()
                .is_none_or(|c| c == actor.client_id);
        if !admitted {
            return Err(invalid_grant(
                "the subject_token's may_act does not name this actor (RFC 8693 §4.4)",
            ));
        }
    }
    Ok(Act {
        sub: actor.sub,
        client_id: Some(actor.client_id),
        act: subject.act.clone().map(Box::new),
    })
}

/// §2.1: the target API, by `audience` (its identifier) and/or `resource`. One API per
/// exchange: both may be sent only when they name the same one.
fn target(request: &ExchangeRequest<'_>) -> Result<Resource, OAuthError> {
    let audience = request
        .audience
        .map(|a| {
            Resource::parse(a).map_err(|e| {
                OAuthError::InvalidTarget(format!("audience {e} (RFC 8693 §2.2.2)").into())
            })
        })
        .transpose()?;
    match (audience, request.resource.clone()) {
        (Some(a), Some(r)) if a != r => Err(OAuthError::InvalidTarget(
            "audience and resource name different APIs; exchange into one at a time".into(),
        )),
        (Some(t), _) | (None, Some(t)) => Ok(t),
        (None, None) => Err(OAuthError::invalid_request(
            "name the API the new token is for with audience or resource (RFC 8693 §2.1)",
        )),
    }
}
