//! The device authorization grant at the token endpoint (RFC 8628 §3.4–3.5): the device polls
//! with its device code until the user has decided; an approved code redeems once and starts
//! a grant like a code redemption does (a refresh-token family bound to the approving session).

use crate::oauth::client::Client;
use crate::oauth::device::{self, Poll};
use crate::oauth::error::OAuthError;
use crate::oauth::scope::Scope;
use crate::oauth::token::{TokenContext, TokenRequest, TokenResponse};
use crate::oauth::{resource, resources};
use crate::revocation::GrantOrigin;
use crate::store::{ApiGrant, DeviceCodeRow, DeviceRedemption, DeviceState, LiveSession};
use crate::tokens::claims::ExchangedFrom;
use crate::tokens::opaque::{self, Kind};

use super::alive;
use super::authorization_code::secs;
use super::family::{self, FamilyStart};
use super::user_tokens::{self, UserGrant};

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::InvalidGrant(description.into())
}

/// Polls that lose a race with another poll of the same code before it answers slow_down.
const POLL_RETRIES: usize = 3;

pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let code = request
        .get("device_code")
        .ok_or_else(|| OAuthError::invalid_request("the device_code parameter is missing"))?;
    if !opaque::has_kind(code, Kind::DeviceCode) {
        return Err(invalid("the device code is invalid"));
    }
    let hash = opaque::hash(code);
    let mut row = read(ctx, &hash, client).await?;
    for _ in 0..POLL_RETRIES {
        match row.state {
            DeviceState::Denied => return Err(OAuthError::AccessDenied),
            DeviceState::Redeemed => return Err(invalid("the device code was already used")),
            DeviceState::Approved => {
                return redeem(ctx, client, &hash, &row, request).await;
            }
            DeviceState::Pending => {}
        }
        // §3.5: the interval is stored, so every node measures polls against the same one.
        let (answer, interval) = match device::poll(
            row.last_polled_at,
            row.interval_secs,
            ctx.now,
            row.expires_at,
        ) {
            Poll::Pending => (OAuthError::AuthorizationPending, row.interval_secs),
            Poll::SlowDown { interval } => (OAuthError::SlowDown(interval), interval),
        };
        if ctx
            .store
            .record_device_poll(
                &hash,
                row.interval_secs,
                row.last_polled_at,
                interval,
                ctx.now,
            )
            .await?
        {
            return Err(answer);
        }
        // Another poll (or the user's decision) changed the row in between: decide again on
        // what it is now.
        row = read(ctx, &hash, client).await?;
    }
    Err(OAuthError::SlowDown(row.interval_secs))
}

/// The request a device code names, if it is this client's and still live.
async fn read(
    ctx: &TokenContext<'_>,
    hash: &str,
    client: &Client,
) -> Result<DeviceCodeRow, OAuthError> {
    let row = ctx
        .store
        .device_code(hash)
        .await?
        .ok_or_else(|| invalid("the device code is invalid"))?;
    // §3.4 (RFC 6749 §5.2): a code issued to another client is no code for this one.
    if row.client_id != client.id.as_str() {
        return Err(invalid("the device code was issued to another client"));
    }
    if row.expires_at <= ctx.now {
        return Err(OAuthError::ExpiredToken);
    }
    Ok(row)
}

async fn redeem(
    ctx: &TokenContext<'_>,
    client: &Client,
    hash: &str,
    row: &DeviceCodeRow,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let resource = request.get("resource");
    let (Some(user_id), Some(sid), Some(auth_time), Some(amr), Some(decided_at)) = (
        row.user_id.as_deref(),
        row.sid.as_deref(),
        row.auth_time,
        row.amr.as_deref(),
        row.decided_at,
    ) else {
        return Err(OAuthError::ServerError(anyhow::anyhow!(
            "an approved device code lacks its approval"
        )));
    };
    let user = alive::live_user(
        ctx,
        GrantOrigin {
            sub: user_id,
            client_id: client.id.as_str(),
            sid: Some(sid),
            family: None,
            issued_at: decided_at,
        },
    )
    .await?;
    let scope = Scope::parse(&row.scope).unwrap_or_else(|_| Scope::empty());
    let audience = resources::for_token(
        ctx.store,
        client,
        &resource::split_stored(&row.resources),
        resource,
        &scope,
    )
    .await?;
    let family = family::start(
        ctx,
        FamilyStart {
            client,
            user_id: &user.id,
            sid,
            scope: &scope,
            auth_time,
            amr,
            resources: &row.resources,
            // RFC 9449 §5: a proof sent with the poll binds the tokens (a public client's
            // refresh tokens too), as in the code flow.
            dpop_jkt: request.dpop_jkt(),
        },
        true,
    );
    let session = LiveSession {
        sid,
        active_since: ctx.now - secs(ctx.settings.session_idle_ttl),
    };
    user_tokens::keys_still_sign(ctx, client, audience.as_ref()).await?;
    match ctx
        .store
        .redeem_device_code(
            hash,
            session,
            &family.row,
            family.first(),
            ApiGrant {
                issued_at: row.created_at,
                chosen: audience
                    .as_ref()
                    .and_then(|a| a.aud.first().map(String::as_str)),
            },
        )
        .await?
    {
        DeviceRedemption::Redeemed => {}
        // A parallel redemption won: this one is a replay.
        DeviceRedemption::NotApproved => return Err(invalid("the device code was already used")),
        DeviceRedemption::SessionEnded => {
            return Err(invalid(
                "the sign-in that approved this device has ended; start again",
            ));
        }
        DeviceRedemption::ApiTaken => return Err(super::authorization_code::api_taken()),
    }
    tracing::info!(client_id = %client.id, family_id = %family.row.family_id, "device code redeemed");
    user_tokens::respond(
        ctx,
        UserGrant {
            client,
            user: &user,
            family_id: Some(&family.row.family_id),
            sid: Some(sid),
            scope: &scope,
            auth_time,
            amr,
            nonce: None,
            refresh_token: family.refresh_token,
            device_secret: None,
            audience,
            exchanged: ExchangedFrom::default(),
            dpop_jkt: request.dpop_jkt(),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn device_codes_have_their_own_prefix() {
        let code = super::opaque::generate(super::Kind::DeviceCode);
        assert!(code.starts_with("tdc_"));
        assert!(!super::opaque::has_kind(&code, super::Kind::Code));
    }
}
