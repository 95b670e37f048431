//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).

use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::pkce::CodeChallenge;
use crate::oauth::scope::Scope;
use crate::oauth::token::{TokenContext, TokenRequest, TokenResponse};
use crate::oauth::{resource, resources};
use crate::revocation::GrantOrigin;
use crate::store::{ApiGrant, LiveSession, NewDeviceSecret, Redemption};
use crate::tokens::claims::ExchangedFrom;
use crate::tokens::opaque::{self, Kind};

use super::alive;
use super::family::{self, FamilyStart};
use super::token_exchange;
use super::user_tokens::{self, UserGrant};

/// RFC 8707 §2: the API the token was to be for was taken from the client (or removed) since
/// the grant was issued, by a change a node's cached links had not seen yet.
pub(super) fn api_taken() -> OAuthError {
    OAuthError::InvalidTarget(
        "the resource is no longer allowed for this client (RFC 8707 §2); ask for another \
         one this grant names, or start again"
            .into(),
    )
}

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
    // Expiry first: a used code found later (in a log, a browser history) is only invalid,
    // so that it cannot be used to revoke its user's tokens at any time.
    if row.expires_at <= ctx.now {
        return Err(invalid("the authorization code is invalid or expired"));
    }
    // §4.1.2: a code used twice is refused, and what the first use issued is revoked. A
    // DPoP-bound code's replay is acted on only once the checks below pass (its verifier and
    // its key's proof): a leaked used code must not let anyone revoke its user's tokens.
    let replay = row.used_at.is_some();
    if replay && row.dpop_jkt.is_none() {
        return replayed(ctx, row.family_id.as_deref()).await;
    }
    // §4.1.3: redirect_uri is required, and identical, only when the authorization request
    // carried one; when it did not, a redirect_uri sent here must still be the one used.
    match (row.redirect_uri_sent, request.get("redirect_uri")) {
        (_, Some(sent)) if sent != row.redirect_uri => {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        (true, None) => {
            return Err(invalid(
                "redirect_uri is required: the authorization request included one",
            ));
        }
        _ => {}
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
    // RFC 9449 §10: a code the authorization request bound with `dpop_jkt` is redeemed only
    // with a proof of that key (a stolen code is useless without the app's private key).
    if let Some(bound) = row.dpop_jkt.as_deref()
        && request.dpop_jkt() != Some(bound)
    {
        return Err(match request.dpop_jkt() {
            None => OAuthError::InvalidDpopProof(
                "this code was bound to a DPoP key (dpop_jkt): send a proof of it (RFC 9449 §10)"
                    .into(),
            ),
            Some(_) => invalid("the DPoP proof's key is not the one this code was bound to"),
        });
    }
    if replay {
        return replayed(ctx, row.family_id.as_deref()).await;
    }
    let user = alive::live_user(
        ctx,
        GrantOrigin {
            sub: &row.user_id,
            client_id: client.id.as_str(),
            sid: Some(&row.sid),
            family: None,
            issued_at: row.created_at,
        },
    )
    .await?;

    let scope = Scope::parse(&row.scope).unwrap_or_else(|_| Scope::empty());
    // RFC 8707 §2.2: decided before the code is spent, so a wrong `resource` can be retried.
    let audience = resources::for_token(
        ctx.store,
        client,
        &resource::split_stored(&row.resources),
        request.get("resource"),
        &scope,
    )
    .await?;
    let family = family::start(
        ctx,
        FamilyStart {
            client,
            user_id: &user.id,
            sid: &row.sid,
            scope: &scope,
            auth_time: row.auth_time,
            amr: &row.amr,
            resources: &row.resources,
            dpop_jkt: request.dpop_jkt(),
        },
        true,
    );
    let session = LiveSession {
        sid: &row.sid,
        active_since: ctx.now - secs(ctx.settings.session_idle_ttl),
    };
    let device_secret = token_exchange::native_sso::new_device_secret(client, &scope);
    let device_secret_hash = device_secret.as_deref().map(opaque::hash);
    let granted = scope.to_string();
    let kept_secret = device_secret_hash
        .as_deref()
        .map(|secret_hash| NewDeviceSecret {
            secret_hash,
            scope: &granted,
        });
    user_tokens::keys_still_sign(ctx, client, audience.as_ref()).await?;
    match ctx
        .store
        .redeem_code(
            &code_hash,
            session,
            &family.row,
            family.first(),
            kept_secret,
            ApiGrant {
                issued_at: row.created_at,
                chosen: audience
                    .as_ref()
                    .and_then(|a| a.aud.first().map(String::as_str)),
            },
        )
        .await?
    {
        Redemption::Redeemed => {}
        // Another redemption won the race: this one is the replay.
        Redemption::Replayed(first) => return replayed(ctx, first.as_deref()).await,
        Redemption::SessionEnded => {
            return Err(invalid(
                "the sign-in this code came from has ended; sign in again",
            ));
        }
        Redemption::ApiTaken => return Err(api_taken()),
    }
    let mut response = user_tokens::respond(
        ctx,
        UserGrant {
            client,
            user: &user,
            family_id: Some(&family.row.family_id),
            sid: Some(&row.sid),
            scope: &scope,
            auth_time: row.auth_time,
            amr: &row.amr,
            nonce: row.nonce.as_deref(),
            refresh_token: family.refresh_token,
            device_secret: device_secret.as_deref(),
            audience,
            exchanged: ExchangedFrom::default(),
            dpop_jkt: request.dpop_jkt(),
        },
    )
    .await?;
    response.device_secret = device_secret;
    Ok(response)
}

/// §4.1.2: the code was used before. What its first redemption issued is revoked (once: the
/// revocation is idempotent, so replaying the code again writes nothing).
async fn replayed(
    ctx: &TokenContext<'_>,
    family: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if let Some(family) = family {
        super::revoke_family(ctx, family, crate::revocation::reason::CODE_REUSE).await?;
    }
    Err(invalid("the authorization code was already used"))
}

pub(super) fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
