//! Login sessions as administrators see them: listed (all, or one user's). They are named by
//! their public `sid` (the cookie's hash never leaves the store) and ended one by one with
//! `sessions::end_by_sid`, which revokes their tokens and sends back-channel logout.

use serde::Serialize;

use crate::accounts::User;
use crate::clock::UnixTime;
use crate::store::{SessionListing, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub sid: String,
    pub user_id: String,
    pub username: String,
    pub auth_time: UnixTime,
    /// How the user signed in (`pwd`, `pwd otp`).
    pub amr: String,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub expires_at: UnixTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whether the session passed the second factor.
    pub second_factor: bool,
}

impl From<SessionListing> for SessionInfo {
    fn from(l: SessionListing) -> Self {
        Self {
            sid: l.row.sid,
            user_id: l.row.user_id,
            username: l.username,
            auth_time: l.row.auth_time,
            amr: l.row.amr,
            created_at: l.row.created_at,
            last_seen_at: l.row.last_seen_at,
            expires_at: l.row.expires_at,
            ip: l.row.ip,
            user_agent: l.row.user_agent,
            second_factor: l.row.mfa_at.is_some(),
        }
    }
}

/// Live sessions, most recently used first; only `user`'s when given. `idle_secs` is the
/// idle timeout: a session unused for longer is over even if its row remains.
pub async fn list(
    store: &Store,
    user: Option<&User>,
    now: UnixTime,
    idle_secs: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<SessionInfo>, StoreError> {
    let rows = store
        .live_sessions_page(
            user.map(|u| u.id.as_str()),
            now,
            now - idle_secs,
            limit,
            offset,
        )
        .await?;
    Ok(rows.into_iter().map(SessionInfo::from).collect())
}
