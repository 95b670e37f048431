//! One module per grant type; `oauth::token::exchange` dispatches to them.

pub mod alive;
pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod family;
pub mod refresh_token;
pub mod token_exchange;
pub mod user_tokens;

use super::error::OAuthError;
use super::token::TokenContext;

/// Revokes a refresh-token family: its refresh tokens stop working now, and the access
/// tokens it issued (they carry the family id) through the revocation list. Both writes are
/// idempotent (the list keeps one entry per family), so a replay repeated any number of
/// times leaves the store as the first one did. The entry is written even when the store's
/// family was already revoked, so that an earlier failure between the two cannot leave
/// access tokens alive.
pub async fn revoke_family(
    ctx: &TokenContext<'_>,
    family_id: &str,
    reason: &'static str,
) -> Result<(), OAuthError> {
    ctx.store.revoke_family(family_id, reason, ctx.now).await?;
    ctx.revocations
        .revoke_family(ctx.store, family_id, reason, ctx.now)
        .await?;
    Ok(())
}
