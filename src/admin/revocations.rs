//! The revocation list as administrators see it: the live entries, and revoking by hand one
//! access token (`jti`), every token of a user, or every token of a client.

use serde::Serialize;

use super::api::{PageOf, Paging};
use super::{Actor, Admin, AdminError};
use crate::clock::UnixTime;
use crate::revocation::{self, Entry, Revocation, Target, reason};

/// What an administrator asks to revoke, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualTarget {
    /// One access token, by the `jti` claim (access tokens are not stored, so any value is
    /// accepted: it matches the token that carries it, if one exists).
    Jti(String),
    /// A user by id or username: every access and refresh token issued to them until now.
    User(String),
    /// A client by id: every access and refresh token issued to it until now.
    Client(String),
}

/// Longest value accepted: generous for a jti or an id, short enough to keep rows small.
const MAX_VALUE_LEN: usize = 200;

impl ManualTarget {
    /// `kind` is `jti`, `user` or `client`.
    pub fn parse(kind: &str, value: &str) -> Result<Self, AdminError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(AdminError::invalid(
                "value",
                "a value to revoke is required",
            ));
        }
        if value.len() > MAX_VALUE_LEN || value.chars().any(char::is_control) {
            return Err(AdminError::invalid(
                "value",
                format!("the value must be at most {MAX_VALUE_LEN} printable characters"),
            ));
        }
        let value = value.to_string();
        match kind {
            "jti" => Ok(Self::Jti(value)),
            "user" => Ok(Self::User(value)),
            "client" => Ok(Self::Client(value)),
            _ => Err(AdminError::invalid(
                "kind",
                "kind must be jti, user or client",
            )),
        }
    }
}

/// An entry of the list for display.
#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    pub id: i64,
    /// `jti`, `sid`, `family`, `user` or `client`.
    pub kind: &'static str,
    pub target: String,
    /// For `user` and `client`: tokens issued at or before this time are revoked.
    pub issued_before: Option<UnixTime>,
    pub revoked_at: UnixTime,
    pub expires_at: UnixTime,
    pub reason: String,
}

impl From<Entry> for EntryInfo {
    fn from(e: Entry) -> Self {
        Self {
            id: e.id,
            kind: e.target.kind(),
            target: e.target.value().to_string(),
            issued_before: e.target.before(),
            revoked_at: e.revoked_at,
            expires_at: e.expires_at,
            reason: e.reason,
        }
    }
}

impl Admin<'_> {
    /// Live entries, newest first.
    pub async fn revocations(&self, paging: &Paging) -> Result<PageOf<EntryInfo>, AdminError> {
        let rows = self
            .store
            .live_revocations_page(self.now(), paging.limit(), paging.offset())
            .await?;
        let entries = revocation::entries(rows)
            .into_iter()
            .map(EntryInfo::from)
            .collect();
        Ok(paging.wrap(entries))
    }

    /// Records the revocation (durable before this returns, applied on this node at once, on
    /// the others by NOTIFY or polling) and stops the matching refresh tokens.
    pub async fn revoke(&self, by: &Actor, target: ManualTarget) -> Result<EntryInfo, AdminError> {
        let now = self.now();
        let target = match target {
            ManualTarget::Jti(jti) => Target::Jti(jti),
            ManualTarget::User(name) => {
                let user = self
                    .find_user(&name)
                    .await?
                    .ok_or_else(|| AdminError::NotFound("no such user".into()))?;
                self.store
                    .revoke_user_families(&user.id, reason::ADMIN, now)
                    .await?;
                Target::User {
                    sub: user.id,
                    before: now,
                }
            }
            ManualTarget::Client(id) => {
                if self.store.get_client(&id).await?.is_none() {
                    return Err(AdminError::NotFound("no such client".into()));
                }
                self.store
                    .revoke_client_families(&id, reason::ADMIN, now)
                    .await?;
                Target::Client {
                    client_id: id,
                    before: now,
                }
            }
        };
        // A jti's token is not stored, so its expiry is unknown: `new` keeps the entry for the
        // longest an access token can live.
        let revocation = Revocation::new(target, reason::ADMIN, now);
        let entry = EntryInfo::from(self.revocations.revoke(self.store, revocation).await?);
        self.record(
            by,
            "revocation.created",
            &format!("{}:{}", entry.kind, entry.target),
            Some(serde_json::json!({ "id": entry.id, "expires_at": entry.expires_at })),
        )
        .await?;
        Ok(entry)
    }
}
