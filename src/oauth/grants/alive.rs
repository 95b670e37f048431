//! The facts every user grant checks before it issues anything (DESIGN §4): the user may still
//! sign in and has not changed password since the grant began, and no entry of the revocation
//! list covers its session, family, user or client. Written once, so that no grant can forget
//! one of them; the store's own checks (a live session for a code, an unrevoked family for a
//! refresh token) come on top, inside the statements that use them.

use crate::accounts::User;
use crate::oauth::error::OAuthError;
use crate::oauth::token::TokenContext;
use crate::revocation::GrantOrigin;

/// The user the grant is for, if the grant is still alive.
pub async fn live_user(
    ctx: &TokenContext<'_>,
    origin: GrantOrigin<'_>,
) -> Result<User, OAuthError> {
    let user = ctx.store.user_by_id(origin.sub).await?;
    check(ctx, user, origin)
}

/// `live_user` for a user the grant already read with its own row (the refresh grant reads
/// token, family and user in one query).
pub fn check(
    ctx: &TokenContext<'_>,
    user: Option<User>,
    origin: GrantOrigin<'_>,
) -> Result<User, OAuthError> {
    let user = user
        .filter(|u| !u.disabled && u.id == origin.sub)
        .ok_or_else(|| OAuthError::InvalidGrant("the user can no longer sign in".into()))?;
    // A password change ends every grant made before it, including codes and families that
    // a concurrent request created after the change's own revocations ran.
    if user.password_changed_at > origin.issued_at {
        return Err(OAuthError::InvalidGrant(
            "the user's password changed after this grant was made".into(),
        ));
    }
    if ctx.revocations.revokes_grant(&origin) {
        return Err(OAuthError::InvalidGrant(
            "the grant has been revoked".into(),
        ));
    }
    Ok(user)
}
