//! One module per grant type; `oauth::token::exchange` dispatches to them.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
pub mod user_tokens;

use super::error::OAuthError;
use super::token::TokenContext;

/// Revokes a refresh-token family: its refresh tokens stop working now, and the access
/// tokens it issued (they carry the family id) through the revocation list.
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
