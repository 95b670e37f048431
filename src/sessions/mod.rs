//! Server-side login sessions (the SSO session). The browser holds a 256-bit random secret; the
//! store holds its SHA-256. A new secret is issued at every login (no fixation).

pub mod backchannel;

pub use backchannel::Backchannel;

use crate::accounts::User;
use crate::clock::UnixTime;
use crate::revocation::{RevocationList, reason};
use crate::store::{SessionRow, Store, StoreError};
use crate::tokens::opaque::{self, Kind};

#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub absolute_secs: i64,
    pub idle_secs: i64,
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct Session {
    pub row: SessionRow,
    pub user: User,
}

/// What the browser gets: the cookie secret (shown once) and the public session id.
pub struct Created {
    pub secret: String,
    pub sid: String,
}

pub struct Origin<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// A new session; with `mfa_required` it opens nothing until the code step marks it passed.
/// `None` when the user's password changed (or the user was disabled) since `user` was read
/// and its password checked: that sign-in used a password that no longer holds.
pub async fn create(
    store: &Store,
    user: &User,
    amr: &str,
    mfa_required: bool,
    lifetimes: Lifetimes,
    origin: Origin<'_>,
    now: UnixTime,
) -> Result<Option<Created>, StoreError> {
    let secret = opaque::generate(Kind::Session);
    let sid = uuid::Uuid::new_v4().to_string();
    let inserted = store
        .insert_session(
            &SessionRow {
                id_hash: opaque::hash(&secret),
                sid: sid.clone(),
                user_id: user.id.clone(),
                auth_time: now,
                amr: amr.to_string(),
                created_at: now,
                last_seen_at: now,
                expires_at: now + lifetimes.absolute_secs,
                ip: origin.ip.map(|s| s.chars().take(64).collect()),
                user_agent: origin.user_agent.map(|s| s.chars().take(256).collect()),
                mfa_required,
                mfa_at: None,
            },
            &user.password_hash,
        )
        .await?;
    Ok(inserted.then_some(Created { secret, sid }))
}

/// The live session for a cookie secret, if any. Disabled users have none. Activity is
/// recorded at most once a minute, so a busy page does not write on every request.
pub async fn current(
    store: &Store,
    secret: &str,
    lifetimes: Lifetimes,
    now: UnixTime,
) -> Result<Option<Session>, StoreError> {
    if !opaque::has_kind(secret, Kind::Session) {
        return Ok(None);
    }
    let hash = opaque::hash(secret);
    let Some(row) = store
        .live_session(&hash, now, now - lifetimes.idle_secs)
        .await?
    else {
        return Ok(None);
    };
    let Some(user) = store.user_by_id(&row.user_id).await? else {
        return Ok(None);
    };
    // A password change deletes the user's sessions; this also refuses one that a sign-in
    // created with the old password while the change was under way.
    if user.disabled || user.password_changed_at > row.created_at {
        return Ok(None);
    }
    if now - row.last_seen_at >= 60 {
        store.touch_session(&hash, now).await?;
    }
    Ok(Some(Session { row, user }))
}

/// Ends the session of this cookie secret and revokes the refresh tokens issued in it;
/// returns the session if it existed.
pub async fn end(
    store: &Store,
    revocations: &RevocationList,
    backchannel: &Backchannel,
    secret: &str,
    now: UnixTime,
) -> Result<Option<SessionRow>, StoreError> {
    let ended = store.delete_session(&opaque::hash(secret)).await?;
    if let Some(row) = &ended {
        revoke_session_tokens(store, revocations, &row.sid, now).await?;
        backchannel.notify(store, &row.sid, &row.user_id, now);
    }
    Ok(ended)
}

/// Ends the session with this public id (an administrator's action), like `end`.
pub async fn end_by_sid(
    store: &Store,
    revocations: &RevocationList,
    backchannel: &Backchannel,
    sid: &str,
    now: UnixTime,
) -> Result<Option<SessionRow>, StoreError> {
    let ended = store.delete_session_by_sid(sid).await?;
    if let Some(row) = &ended {
        revoke_session_tokens(store, revocations, &row.sid, now).await?;
        backchannel.notify(store, &row.sid, &row.user_id, now);
    }
    Ok(ended)
}

/// Ends every session of the user ("sign out everywhere"); returns how many there were.
pub async fn end_all(
    store: &Store,
    revocations: &RevocationList,
    backchannel: &Backchannel,
    user_id: &str,
    now: UnixTime,
) -> Result<usize, StoreError> {
    // No session has an empty id hash, so this keeps none.
    let sids = store.delete_other_sessions(user_id, "").await?;
    ended(store, revocations, backchannel, &sids, user_id, now).await?;
    Ok(sids.len())
}

/// What follows sessions that were deleted (by any path): their refresh tokens stop working,
/// their access tokens are revoked on every node (`sid` entries, which also cover a token a
/// grant minted while the deletion was under way), and their clients are told.
pub async fn ended(
    store: &Store,
    revocations: &RevocationList,
    backchannel: &Backchannel,
    sids: &[String],
    user_id: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    for sid in sids {
        revoke_session_tokens(store, revocations, sid, now).await?;
        backchannel.notify(store, sid, user_id, now);
    }
    Ok(())
}

/// A session's refresh tokens stop working, and its access tokens (`sid`) are revoked on
/// every node.
async fn revoke_session_tokens(
    store: &Store,
    revocations: &RevocationList,
    sid: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    store
        .revoke_session_families(sid, reason::LOGOUT, now)
        .await?;
    revocations
        .revoke_session(store, sid, reason::LOGOUT, now)
        .await?;
    Ok(())
}

/// Ends every other session of the user, with their refresh tokens.
pub async fn end_others(
    store: &Store,
    revocations: &RevocationList,
    backchannel: &Backchannel,
    current: &Session,
    now: UnixTime,
) -> Result<usize, StoreError> {
    let sids = store
        .delete_other_sessions(&current.user.id, &current.row.id_hash)
        .await?;
    ended(
        store,
        revocations,
        backchannel,
        &sids,
        &current.user.id,
        now,
    )
    .await?;
    Ok(sids.len())
}
