//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14):
//! each refresh token works once; presenting a used one revokes its whole family.

use crate::clock::UnixTime;
use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::scope::Scope;
use crate::oauth::token::{TokenContext, TokenRequest, TokenResponse};
use crate::oauth::{resource, resources};
use crate::revocation::GrantOrigin;
use crate::store::{Rotation, Successor};
use crate::tokens::claims::ExchangedFrom;
use crate::tokens::opaque::{self, Kind};

use super::alive;
use super::authorization_code::secs;
use super::token_exchange;
use super::user_tokens::{self, UserGrant};

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::InvalidGrant(description.into())
}

pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let presented = request
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("the refresh_token parameter is missing"))?;
    let hash = opaque::hash(presented);
    let (row, user) = match opaque::has_kind(presented, Kind::Refresh) {
        true => ctx.store.refresh_token_with_user(&hash).await?,
        false => None,
    }
    .ok_or_else(|| invalid("the refresh token is invalid or expired"))?;
    let family = &row.family;
    // §6: the token must belong to the authenticated client.
    if family.client_id != client.id.as_str() {
        return Err(invalid("the refresh token was issued to another client"));
    }
    if family.revoked_at.is_some() {
        return Err(invalid("the refresh token has been revoked"));
    }
    if family.expires_at <= ctx.now || row.idle_expires_at <= ctx.now {
        return Err(invalid("the refresh token is invalid or expired"));
    }
    // RFC 9449 §5: a bound refresh token is used only with a proof of its key. Without a
    // proof the request itself is wanting (`invalid_dpop_proof`); with another key's proof,
    // the token is not this client's to use (`invalid_grant`, RFC 6749 §5.2).
    if let Some(bound) = family.dpop_jkt.as_deref() {
        match request.dpop_jkt() {
            None => {
                return Err(OAuthError::InvalidDpopProof(
                    "this refresh token is bound to a DPoP key: send a proof of it (RFC 9449 §5)"
                        .into(),
                ));
            }
            Some(jkt) if !crate::tokens::opaque::ct_eq(jkt, bound) => {
                return Err(invalid(
                    "the refresh token is bound to another DPoP key (RFC 9449 §5)",
                ));
            }
            Some(_) => {}
        }
    }
    let granted = Scope::parse(&family.scope).unwrap_or_else(|_| Scope::empty());
    // §6: the scope may be narrowed, never widened.
    let scope = match request.get("scope") {
        Some(raw) => {
            let asked =
                Scope::parse(raw).map_err(|e| OAuthError::InvalidScope(e.to_string().into()))?;
            if let Some(extra) = asked.excess(&granted).next() {
                return Err(OAuthError::InvalidScope(
                    format!("the scope {extra} was not granted originally").into(),
                ));
            }
            asked
        }
        None => granted,
    };
    // A family a token exchange started lives only as long as the grant it was made from,
    // and only while the client may still exchange into its audience (issue 12 §2).
    let (audience, exchanged) = match family.exchange_origins.as_deref() {
        Some(origins) => {
            let (audience, exchanged) = token_exchange::access_token::refreshed(
                ctx,
                client,
                family,
                origins,
                request.get("resource"),
                &scope,
            )
            .await?;
            (Some(audience), exchanged)
        }
        // RFC 8707 §2.2: each refresh may ask for any of the resources the authorization
        // granted.
        None => {
            let audience = resources::for_token(
                ctx.store,
                client,
                &resource::split_stored(&family.resources),
                request.get("resource"),
                &scope,
            )
            .await?;
            (audience, ExchangedFrom::default())
        }
    };
    let user = alive::check(
        ctx,
        user,
        GrantOrigin {
            sub: &family.user_id,
            client_id: client.id.as_str(),
            sid: family.sid.as_deref(),
            family: Some(&family.family_id),
            issued_at: family.created_at,
        },
    )?;

    let successor = opaque::generate(Kind::Refresh);
    let sealed = opaque::seal_successor(presented, &successor);
    let idle_expires_at =
        (ctx.now + secs(ctx.settings.refresh_token_idle_ttl)).min(family.expires_at);
    user_tokens::keys_still_sign(ctx, client, audience.as_ref()).await?;
    let rotation = ctx
        .store
        .rotate_refresh_token(
            &hash,
            Successor {
                hash: &opaque::hash(&successor),
                sealed: &sealed,
                idle_expires_at,
            },
            &family.family_id,
            ctx.now,
        )
        .await?;
    let successor = match rotation {
        Rotation::Rotated => successor,
        Rotation::Revoked => {
            // Revoked between our read and the rotation (a logout, an admin).
            return Err(invalid("the refresh token has been revoked"));
        }
        Rotation::Used {
            used_at,
            successor_sealed,
        } => match within_grace(ctx, presented, used_at, successor_sealed.as_deref()).await? {
            Some(same) => same,
            None => {
                tracing::warn!(family_id = %family.family_id, client_id = %client.id, "refresh token reuse: revoking the family");
                super::revoke_family(
                    ctx,
                    &family.family_id,
                    crate::revocation::reason::REFRESH_REUSE,
                )
                .await?;
                return Err(invalid("the refresh token was already used"));
            }
        },
    };
    user_tokens::respond(
        ctx,
        UserGrant {
            client,
            user: &user,
            family_id: Some(&family.family_id),
            sid: family.sid.as_deref(),
            scope: &scope,
            auth_time: family.auth_time,
            amr: &family.amr,
            nonce: None,
            refresh_token: Some(successor),
            device_secret: None,
            audience,
            exchanged,
            dpop_jkt: request.dpop_jkt(),
        },
    )
    .await
}

/// A token used again within `refresh_token_grace` (two tabs refreshing at once) gets the
/// successor its first use got, so the family never splits into two live branches. Only
/// while that successor is itself unused: once the client moved on, an old token is reuse.
async fn within_grace(
    ctx: &TokenContext<'_>,
    presented: &str,
    used_at: UnixTime,
    sealed: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let grace = secs(ctx.settings.refresh_token_grace);
    if grace == 0 || used_at < ctx.now - grace {
        return Ok(None);
    }
    let Some(successor) = sealed.and_then(|s| opaque::open_successor(presented, s)) else {
        return Ok(None);
    };
    let unused = ctx
        .store
        .refresh_token(&opaque::hash(&successor))
        .await?
        .is_some_and(|row| row.used_at.is_none());
    Ok(unused.then_some(successor))
}
