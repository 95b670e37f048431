//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).

use crate::oauth::client::{Client, GrantType};
use crate::oauth::error::OAuthError;
use crate::oauth::pkce::CodeChallenge;
use crate::oauth::scope::Scope;
use crate::oauth::token::{TokenContext, TokenRequest, TokenResponse};
use crate::store::FamilyRow;
use crate::tokens::opaque::{self, Kind};

use super::user_tokens::{self, UserGrant};

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::InvalidGrant(description.into())
}

pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let code = request
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("the code parameter is missing"))?;
    let code_hash = opaque::hash(code);
    let row = match opaque::has_kind(code, Kind::Code) {
        true => ctx.store.code(&code_hash).await?,
        false => None,
    }
    .ok_or_else(|| invalid("the authorization code is invalid or expired"))?;
    // §4.1.3: the code must have been issued to this (authenticated) client.
    if row.client_id != client.id.as_str() {
        return Err(invalid(
            "the authorization code was issued to another client",
        ));
    }
    // §4.1.2: a code used twice is refused, and what the first use issued is revoked.
    if row.used_at.is_some() {
        if let Some(family) = &row.family_id {
            super::revoke_family(ctx, family, crate::revocation::reason::CODE_REUSE).await?;
        }
        return Err(invalid("the authorization code was already used"));
    }
    if row.expires_at <= ctx.now {
        return Err(invalid("the authorization code is invalid or expired"));
    }
    // §4.1.3: redirect_uri is required and identical when the request carried one (ours
    // always record one).
    if request.get("redirect_uri") != Some(row.redirect_uri.as_str()) {
        return Err(invalid(
            "redirect_uri does not match the authorization request",
        ));
    }
    // RFC 7636 §4.6; and a verifier without a challenge is refused (RFC 9700 §2.1.1).
    match (row.code_challenge.clone(), request.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !CodeChallenge::from_stored(challenge).verify(verifier) {
                return Err(invalid(
                    "the code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(invalid("the code_verifier is missing")),
        (None, Some(_)) => return Err(invalid("no code_challenge was sent for this code")),
        (None, None) => {}
    }
    let user = ctx
        .store
        .user_by_id(&row.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| invalid("the user can no longer sign in"))?;

    let family_id = uuid::Uuid::new_v4().to_string();
    if !ctx
        .store
        .redeem_code(&code_hash, &family_id, ctx.now)
        .await?
    {
        // Another redemption won the race: this one is the replay.
        if let Some(first) = ctx.store.code(&code_hash).await?.and_then(|r| r.family_id) {
            super::revoke_family(ctx, &first, crate::revocation::reason::CODE_REUSE).await?;
        }
        return Err(invalid("the authorization code was already used"));
    }
    let scope = Scope::parse(&row.scope).unwrap_or_else(|_| Scope::empty());
    let refresh_token = (scope.contains("offline_access")
        && client.allows_grant(GrantType::RefreshToken))
    .then(|| opaque::generate(Kind::Refresh));
    let lifetime = secs(ctx.settings.refresh_token_ttl);
    let idle = secs(ctx.settings.refresh_token_idle_ttl).min(lifetime);
    let first = refresh_token
        .as_deref()
        .map(|t| (opaque::hash(t), ctx.now + idle));
    ctx.store
        .insert_family(
            &FamilyRow {
                family_id: family_id.clone(),
                client_id: client.id.to_string(),
                user_id: user.id.clone(),
                sid: Some(row.sid.clone()),
                scope: row.scope.clone(),
                auth_time: row.auth_time,
                amr: row.amr.clone(),
                created_at: ctx.now,
                expires_at: ctx.now + lifetime,
                revoked_at: None,
            },
            first.as_ref().map(|(h, idle)| (h.as_str(), *idle)),
        )
        .await?;
    user_tokens::respond(
        ctx,
        UserGrant {
            client,
            user: &user,
            family_id: &family_id,
            sid: Some(&row.sid),
            scope: &scope,
            auth_time: row.auth_time,
            amr: &row.amr,
            nonce: row.nonce.as_deref(),
            refresh_token,
        },
    )
}

pub(super) fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
