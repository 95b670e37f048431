//! The revocation list as administrators see it: the live entries, and revoking by hand one
//! access token (`jti`), every token of a user, or every token of a client.

use serde::Serialize;

use crate::accounts::Username;
use crate::clock::UnixTime;
use crate::revocation::{self, Entry, Revocation, RevocationList, Target, reason};
use crate::store::{Store, StoreError};

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

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest value accepted: generous for a jti or an id, short enough to keep rows small.
const MAX_VALUE_LEN: usize = 200;

impl ManualTarget {
    /// `kind` is `jti`, `user` or `client`.
    pub fn parse(kind: &str, value: &str) -> Result<Self, RevokeError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(RevokeError::Invalid("a value to revoke is required".into()));
        }
        if value.len() > MAX_VALUE_LEN || value.chars().any(char::is_control) {
            return Err(RevokeError::Invalid(format!(
                "the value must be at most {MAX_VALUE_LEN} printable characters"
            )));
        }
        let value = value.to_string();
        match kind {
            "jti" => Ok(Self::Jti(value)),
            "user" => Ok(Self::User(value)),
            "client" => Ok(Self::Client(value)),
            _ => Err(RevokeError::Invalid(
                "kind must be jti, user or client".into(),
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

/// Live entries, newest first.
pub async fn list(
    store: &Store,
    now: UnixTime,
    limit: i64,
    offset: i64,
) -> Result<Vec<EntryInfo>, StoreError> {
    let rows = store.live_revocations_page(now, limit, offset).await?;
    Ok(revocation::entries(rows)
        .into_iter()
        .map(EntryInfo::from)
        .collect())
}

/// Records the revocation (durable before this returns, applied on this node at once, on the
/// others by NOTIFY or polling) and stops the matching refresh tokens.
pub async fn revoke(
    store: &Store,
    revocations: &RevocationList,
    target: ManualTarget,
    now: UnixTime,
) -> Result<Entry, RevokeError> {
    let target = match target {
        ManualTarget::Jti(jti) => Target::Jti(jti),
        ManualTarget::User(name) => {
            let by_name = match Username::parse(&name) {
                Ok(username) => store.user_by_username_key(&username.key()).await?,
                Err(_) => None,
            };
            let user = match by_name {
                Some(u) => u,
                None => store
                    .user_by_id(&name)
                    .await?
                    .ok_or(RevokeError::NotFound("user"))?,
            };
            store
                .revoke_user_families(&user.id, reason::ADMIN, now)
                .await?;
            Target::User {
                sub: user.id,
                before: now,
            }
        }
        ManualTarget::Client(id) => {
            if store.get_client(&id).await?.is_none() {
                return Err(RevokeError::NotFound("client"));
            }
            store
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
    Ok(revocations.revoke(store, revocation).await?)
}
