//! Login sessions as administrators see them: listed (all, one user's, one client's), shown
//! one by one, and ended. They are named by their public `sid` (the cookie's hash never leaves
//! the store); ending one revokes its tokens and sends back-channel logout.

use serde::Serialize;
use serde_json::json;

use super::api::{PageOf, Paging};
use super::{Actor, Admin, AdminError};
use crate::accounts::User;
use crate::clock::UnixTime;
use crate::store::SessionListing;

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

/// A client a session signed in to; `name` is absent once the client is deleted.
#[derive(Debug, Clone, Serialize)]
pub struct SessionClient {
    pub client_id: String,
    pub name: Option<String>,
}

/// A session's page: the session and the clients it signed in to.
pub struct SessionDetail {
    pub session: SessionInfo,
    pub clients: Vec<SessionClient>,
}

impl Admin<'_> {
    /// The oldest last use a live session may have (the idle timeout).
    fn idle_min(&self, now: UnixTime) -> UnixTime {
        now - self.policy.session_idle_secs
    }

    /// Live sessions, most recently used first; only `user`'s when given.
    pub async fn sessions(
        &self,
        user: Option<&User>,
        paging: &Paging,
    ) -> Result<PageOf<SessionInfo>, AdminError> {
        let now = self.now();
        let rows = self
            .store
            .live_sessions_page(
                user.map(|u| u.id.as_str()),
                now,
                self.idle_min(now),
                paging.limit(),
                paging.offset(),
            )
            .await?;
        Ok(paging.wrap(rows.into_iter().map(SessionInfo::from).collect()))
    }

    /// The live sessions in which a client got a code or tokens, most recently used first.
    pub async fn sessions_of_client(
        &self,
        client_id: &str,
        limit: i64,
    ) -> Result<Vec<SessionInfo>, AdminError> {
        let now = self.now();
        let rows = self
            .store
            .live_sessions_of_client(client_id, now, self.idle_min(now), limit)
            .await?;
        Ok(rows.into_iter().map(SessionInfo::from).collect())
    }

    /// One live session and the clients it signed in to.
    pub async fn session_detail(&self, sid: &str) -> Result<SessionDetail, AdminError> {
        let now = self.now();
        let session = self
            .store
            .live_session_by_sid(sid, now, self.idle_min(now))
            .await?
            .ok_or_else(|| AdminError::NotFound("no such live session".into()))?;
        let clients = self
            .store
            .session_client_names(sid)
            .await?
            .into_iter()
            .map(|(client_id, name)| SessionClient { client_id, name })
            .collect();
        Ok(SessionDetail {
            session: session.into(),
            clients,
        })
    }

    /// Ends a session: the browser is signed out, its tokens are revoked and its clients told.
    pub async fn end_session(&self, by: &Actor, sid: &str) -> Result<(), AdminError> {
        let ended = crate::sessions::end_by_sid(
            self.store,
            self.revocations,
            self.backchannel,
            sid,
            self.now(),
        )
        .await?
        .ok_or_else(|| AdminError::NotFound("no such live session".into()))?;
        self.record(
            by,
            "session.ended",
            &ended.sid,
            Some(json!({ "user_id": ended.user_id })),
        )
        .await
    }
}
