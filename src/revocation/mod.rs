//! The revocation list (DESIGN §4): how a logout, a reused refresh token or an admin action
//! takes effect on access tokens before their `exp`.
//!
//! - Durable: `RevocationList::revoke` commits the entry to the store before it returns.
//! - In memory on every node: `RevocationList::is_revoked` is a few hash look-ups, no I/O.
//! - Consistent across nodes: PostgreSQL `LISTEN`/`NOTIFY` plus polling by cursor (`sync`).
//! - Small: an entry lives only until no token it can match is alive (`purge`).

mod list;
pub mod purge;
pub mod sync;

use tokio::task::JoinHandle;

pub use list::{GrantOrigin, RevocationList};

use crate::clock::{Clock, UnixTime};
use crate::oauth::client::MAX_ACCESS_TOKEN_TTL;
use crate::store::{NewRevocation, RevocationRow, Store, StoreError};
use crate::tokens::claims::AccessClaims;

/// What an entry revokes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// One access token, by its `jti`.
    Jti(String),
    /// Every token of a login session (`sid` claim).
    Sid(String),
    /// Every access token issued from a refresh-token family (`fam` claim).
    Family(String),
    /// Every token of this subject issued at or before `before` (`iat <= before`).
    User { sub: String, before: UnixTime },
    /// Every token issued to this client at or before `before`.
    Client { client_id: String, before: UnixTime },
    /// Every token signed by this key (its `kid`): the key was revoked (issue 13).
    Kid(String),
    /// Every token for this API (its identifier in `aud`) issued at or before `before`: the
    /// API was removed.
    Api { api: String, before: UnixTime },
    /// Every token of one client for one API issued at or before `before`: the client may no
    /// longer get tokens for it. `key` is `"CLIENT_ID API"` (`client_api_key`): neither a client
    /// id nor an API identifier holds a space.
    ClientApi { key: String, before: UnixTime },
}

/// The target of a `ClientApi` entry, as stored and published.
pub fn client_api_key(client_id: &str, api: &str) -> String {
    format!("{client_id} {api}")
}

impl Target {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Jti(_) => "jti",
            Self::Sid(_) => "sid",
            Self::Family(_) => "family",
            Self::User { .. } => "user",
            Self::Client { .. } => "client",
            Self::Kid(_) => "kid",
            Self::Api { .. } => "api",
            Self::ClientApi { .. } => "client_api",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Self::Jti(v) | Self::Sid(v) | Self::Family(v) | Self::Kid(v) => v,
            Self::User { sub, .. } => sub,
            Self::Client { client_id, .. } => client_id,
            Self::Api { api, .. } => api,
            Self::ClientApi { key, .. } => key,
        }
    }

    pub fn before(&self) -> Option<UnixTime> {
        match self {
            Self::User { before, .. }
            | Self::Client { before, .. }
            | Self::Api { before, .. }
            | Self::ClientApi { before, .. } => Some(*before),
            _ => None,
        }
    }
}

/// Why an entry exists: short codes, since resource servers see them (`GET /revocations`).
pub mod reason {
    /// The client asked (RFC 7009).
    pub const CLIENT_REQUEST: &str = "client_request";
    /// The user signed out, or the session ended.
    pub const LOGOUT: &str = "logout";
    /// A used refresh token was presented again (RFC 9700 §4.14).
    pub const REFRESH_REUSE: &str = "refresh_reuse";
    /// An authorization code was redeemed twice (RFC 6749 §4.1.2).
    pub const CODE_REUSE: &str = "code_reuse";
    /// An administrator acted (user disabled, client removed, password reset…).
    pub const ADMIN: &str = "admin";
    /// The user's password was changed: every token issued before is revoked.
    pub const PASSWORD_CHANGED: &str = "password_changed";
    /// The user was disabled.
    pub const USER_DISABLED: &str = "user_disabled";
    /// The signing key was revoked (`tessera keys revoke`): every token it signed.
    pub const KEY_REVOKED: &str = "key_revoked";
    /// The API was removed, or taken from the client: every token for it.
    pub const API_REMOVED: &str = "api_removed";
    /// A family made by token exchange gave way to a newer one of the same client and grant
    /// (`store::MAX_EXCHANGED_FAMILIES`); recorded on the family only, never as an entry.
    pub const EXCHANGE_BOUND: &str = "exchange_bound";
}

/// An entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Assigned by the store; only grows. The cursor of `sync` and of `GET /revocations`.
    pub id: i64,
    pub target: Target,
    pub revoked_at: UnixTime,
    /// When no token the entry can match is alive any more; purged after.
    pub expires_at: UnixTime,
    pub reason: String,
}

/// An entry about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub target: Target,
    pub reason: &'static str,
    pub revoked_at: UnixTime,
    pub expires_at: UnixTime,
}

/// The longest any access token lives, whatever the settings: `access_token_ttl` and each
/// client's override are both capped at 1 h (DESIGN §3). Entries use this cap rather than the
/// current setting, so that lowering the setting (or a per-client override above it) can never
/// let an entry go while a token it matches is still alive.
pub const MAX_TOKEN_LIFETIME: i64 = MAX_ACCESS_TOKEN_TTL.as_secs() as i64;

/// How long after a session's or family's revocation a grant already under way may still
/// mint a token from it (its request started before the revocation committed).
pub const GRANT_IN_FLIGHT: i64 = 60;

impl Revocation {
    /// Revokes `target` from `now` on. It expires when the newest token it can match has:
    /// `before` + 1 h for a user or client, `now` + 1 h otherwise (a session or family gets
    /// no new tokens once revoked, so none it matches was issued after `now`).
    pub fn new(target: Target, reason: &'static str, now: UnixTime) -> Self {
        // A session or family gets no new token once revoked, but a grant that read its state
        // just before the revocation may still mint one a moment later: keep the entry a
        // little past the hour for that.
        let newest_match = target
            .before()
            .unwrap_or(now.saturating_add(GRANT_IN_FLIGHT));
        Self {
            target,
            reason,
            revoked_at: now,
            expires_at: newest_match.saturating_add(MAX_TOKEN_LIFETIME),
        }
    }

    /// The row to record, for a writer that records it in a transaction of its own (a link
    /// change); `committed` then makes it take effect.
    pub fn row(&self) -> NewRevocation<'_> {
        NewRevocation {
            kind: self.target.kind(),
            target: self.target.value(),
            issued_before: self.target.before(),
            revoked_at: self.revoked_at,
            expires_at: self.expires_at,
            reason: self.reason,
        }
    }

    /// Revokes one access token: the entry can go when the token does.
    pub fn access_token(claims: &AccessClaims, reason: &'static str, now: UnixTime) -> Self {
        Self {
            target: Target::Jti(claims.jti.clone()),
            reason,
            revoked_at: now,
            expires_at: claims.exp.min(now.saturating_add(MAX_TOKEN_LIFETIME)),
        }
    }
}

impl RevocationList {
    /// Every live entry of the store: what a node holds when it starts.
    pub async fn load(store: &Store, now: UnixTime) -> Result<Self, StoreError> {
        let list = Self::new();
        list.apply_read(entries(store.live_revocations(now).await?), now);
        Ok(list)
    }

    /// Records a revocation: committed to the store, then applied here at once, then announced
    /// to the other nodes. A failed announcement is only logged: the entry is durable, and the
    /// other nodes' periodic poll picks it up within seconds (`sync`). A token, session or
    /// family that already has an entry gets that entry back and nothing is written, so
    /// replays (a code redeemed again, a refresh token reused again) cannot grow the list.
    pub async fn revoke(&self, store: &Store, revocation: Revocation) -> Result<Entry, StoreError> {
        let row = revocation.row();
        let revoked_at = revocation.revoked_at;
        // A live entry for the same token, session or family is looked up first, with a plain
        // read: replays (a refresh token revoked again and again at /revoke) must not queue on
        // the insert's cluster-wide lock. Then twice at most: the existing entry may expire or
        // be purged between the two statements, and then the insert goes through.
        let mut id = None;
        for _ in 0..2 {
            if row.issued_before.is_none() {
                let existing = store.revocation_of(row.kind, row.target).await?;
                if let Some(entry) = existing
                    .filter(|e| e.expires_at > revoked_at)
                    .and_then(|row| entries(vec![row]).pop())
                {
                    // Applying is idempotent and leaves the cursor alone; it covers an entry
                    // this node has not polled yet.
                    self.apply([entry.clone()], revoked_at);
                    return Ok(entry);
                }
            }
            id = store.insert_revocation(&row).await?;
            if id.is_some() {
                break;
            }
        }
        let id = id.ok_or_else(|| StoreError::Conflict("revocations_once".into()))?;
        let entry = Entry {
            id,
            target: revocation.target.clone(),
            revoked_at,
            expires_at: revocation.expires_at,
            reason: revocation.reason.to_string(),
        };
        self.committed(store, revocation, id).await;
        Ok(entry)
    }

    /// Makes a revocation recorded in another transaction (as `id`, committed) take effect
    /// here at once, and announces it to the other nodes (who poll for it anyway).
    pub async fn committed(&self, store: &Store, revocation: Revocation, id: i64) {
        let Revocation {
            target,
            reason,
            revoked_at,
            expires_at,
        } = revocation;
        let entry = Entry {
            id,
            target,
            revoked_at,
            expires_at,
            reason: reason.to_string(),
        };
        tracing::info!(id, kind = entry.target.kind(), reason, "revoked");
        self.apply([entry], revoked_at);
        if let Err(e) = store.notify_revocation(id).await {
            tracing::warn!(error = %e, id, "could not announce a revocation; nodes will poll");
        }
    }

    /// Revokes every access token issued from a refresh-token family (RFC 9700 §4.14).
    pub async fn revoke_family(
        &self,
        store: &Store,
        family: &str,
        reason: &'static str,
        now: UnixTime,
    ) -> Result<Entry, StoreError> {
        let target = Target::Family(family.to_string());
        self.revoke(store, Revocation::new(target, reason, now))
            .await
    }

    /// Revokes every access token of a login session (`sid`).
    pub async fn revoke_session(
        &self,
        store: &Store,
        sid: &str,
        reason: &'static str,
        now: UnixTime,
    ) -> Result<Entry, StoreError> {
        let target = Target::Sid(sid.to_string());
        self.revoke(store, Revocation::new(target, reason, now))
            .await
    }

    /// Revokes every access token of a user issued until `now`.
    pub async fn revoke_user(
        &self,
        store: &Store,
        sub: &str,
        reason: &'static str,
        now: UnixTime,
    ) -> Result<Entry, StoreError> {
        let target = Target::User {
            sub: sub.to_string(),
            before: now,
        };
        self.revoke(store, Revocation::new(target, reason, now))
            .await
    }
}

/// Store rows as entries; a row this version cannot read is skipped with a warning rather than
/// stopping the node (a newer node may have written a kind this one does not know).
pub fn entries(rows: Vec<RevocationRow>) -> Vec<Entry> {
    rows.into_iter()
        .filter_map(|row| {
            let target = match (row.kind.as_str(), row.issued_before) {
                ("jti", _) => Target::Jti(row.target),
                ("sid", _) => Target::Sid(row.target),
                ("family", _) => Target::Family(row.target),
                ("kid", _) => Target::Kid(row.target),
                ("user", Some(before)) => Target::User {
                    sub: row.target,
                    before,
                },
                ("client", Some(before)) => Target::Client {
                    client_id: row.target,
                    before,
                },
                ("api", Some(before)) => Target::Api {
                    api: row.target,
                    before,
                },
                ("client_api", Some(before)) => Target::ClientApi {
                    key: row.target,
                    before,
                },
                (kind, _) => {
                    tracing::warn!(id = row.id, kind, "skipping an unreadable revocation");
                    return None;
                }
            };
            Some(Entry {
                id: row.id,
                target,
                revoked_at: row.revoked_at,
                expires_at: row.expires_at,
                reason: row.reason,
            })
        })
        .collect()
}

/// The list's background tasks (cross-node sync, purge). Dropping this stops them, so a
/// server that stops takes its tasks with it (tests start and stop many in one process).
#[derive(Debug)]
pub struct BackgroundTasks(Vec<JoinHandle<()>>);

impl BackgroundTasks {
    /// Another task that stops with these.
    pub fn push(&mut self, task: JoinHandle<()>) {
        self.0.push(task);
    }
}

impl Drop for BackgroundTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Starts syncing with the other nodes and dropping expired entries from memory (the store's
/// rows go with the other expired rows, in `crate::purge`).
pub fn spawn_background(
    store: Store,
    list: std::sync::Arc<RevocationList>,
    clock: Clock,
    keys_changed: std::sync::Arc<tokio::sync::Notify>,
) -> BackgroundTasks {
    let sync = tokio::spawn(sync::run(store, list.clone(), clock.clone(), keys_changed));
    let purge = tokio::spawn(purge::run(list, clock, purge::INTERVAL));
    BackgroundTasks(vec![sync, purge])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_when_the_newest_token_they_can_match_has() {
        let session = Revocation::new(Target::Sid("s".into()), reason::LOGOUT, 1000);
        assert_eq!(session.expires_at, 1000 + GRANT_IN_FLIGHT + 3600);
        let user = Target::User {
            sub: "u".into(),
            before: 900,
        };
        assert_eq!(
            Revocation::new(user, reason::ADMIN, 1000).expires_at,
            900 + 3600
        );
        let claims = AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            client_id: "c".into(),
            scope: String::new(),
            exp: 1300,
            iat: 1000,
            jti: "j".into(),
            sid: None,
            auth_time: None,
            roles: None,
            fam: None,
            act: None,
            may_act: None,
            xo: Vec::new(),
            cnf: None,
            kid: None,
        };
        let token = Revocation::access_token(&claims, reason::CLIENT_REQUEST, 1100);
        assert_eq!(token.target, Target::Jti("j".into()));
        assert_eq!((token.revoked_at, token.expires_at), (1100, 1300));
    }

    #[test]
    fn rows_of_unknown_kinds_are_skipped() {
        let row = |kind: &str, issued_before| RevocationRow {
            id: 1,
            kind: kind.into(),
            target: "t".into(),
            issued_before,
            revoked_at: 1,
            expires_at: 2,
            reason: "r".into(),
        };
        let read = entries(vec![
            row("jti", None),
            row("user", Some(5)),
            row("user", None),
            row("device", None),
        ]);
        assert_eq!(read.len(), 2);
        assert_eq!(
            read[1].target,
            Target::User {
                sub: "t".into(),
                before: 5
            }
        );
    }
}
