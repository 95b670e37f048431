//! Creating and changing users (CLI now, admin console later).

use secrecy::SecretString;

use super::password::{self, HashError, PasswordHasherPool, WeakPassword};
use super::user::UsernameError;
use super::{Email, Role, User, Username};
use crate::clock::{Clock, UnixTime};
use crate::revocation::{RevocationList, reason};
use crate::sessions::{self, Backchannel};
use crate::store::{NewUser, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("invalid username: {0}")]
    Username(#[from] UsernameError),
    #[error("invalid e-mail: {0}")]
    Email(String),
    #[error("a user named '{0}' already exists (names are case-insensitive)")]
    Duplicate(String),
    #[error("weak password: {0}")]
    Weak(#[from] WeakPassword),
    #[error("no user named '{0}'")]
    NotFound(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl From<StoreError> for ManageError {
    fn from(e: StoreError) -> Self {
        ManageError::Store(e)
    }
}

pub struct NewAccount {
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<Role>,
    pub password: SecretString,
}

pub async fn create_user(
    store: &Store,
    hasher: &PasswordHasherPool,
    input: NewAccount,
    now: UnixTime,
) -> Result<User, ManageError> {
    let username = Username::parse(&input.username)?;
    let email = input
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(ManageError::Email)?;
    password::check_new_password(&input.password)?;
    let hash = hasher.hash(input.password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let roles: Vec<&str> = input.roles.iter().map(|r| r.as_str()).collect();
    let display_name = input
        .display_name
        .map(|d| {
            d.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(128)
                .collect::<String>()
        })
        .filter(|d| !d.is_empty());
    store
        .insert_user(NewUser {
            id: &id,
            username: username.as_str(),
            username_key: &username.key(),
            email: email.as_ref().map(Email::as_str),
            display_name: display_name.as_deref(),
            password_hash: &hash,
            roles: &roles.join(" "),
            now,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ManageError::Duplicate(username.to_string()),
            other => other.into(),
        })?;
    store
        .user_by_id(&id)
        .await?
        .ok_or_else(|| ManageError::NotFound(username.to_string()))
}

pub async fn find(store: &Store, name: &str) -> Result<User, ManageError> {
    let username = Username::parse(name)?;
    store
        .user_by_username_key(&username.key())
        .await?
        .ok_or_else(|| ManageError::NotFound(username.to_string()))
}

/// A new password; every session of the user ends, every token issued before is revoked, and
/// the clients of those sessions are told (back-channel logout).
pub async fn set_password(
    store: &Store,
    revocations: &RevocationList,
    backchannel: &Backchannel,
    hasher: &PasswordHasherPool,
    name: &str,
    password: SecretString,
    clock: &Clock,
) -> Result<User, ManageError> {
    let user = find(store, name).await?;
    password::check_new_password(&password)?;
    let hash = hasher.hash(password).await?;
    // The time of the change is read after hashing, which may have waited for the hashing
    // pool: every token minted before the change commits must be at or before `now`.
    let now = clock.now();
    let ended = store.change_password(&user.id, &hash, now).await?;
    revocations
        .revoke_user(store, &user.id, reason::PASSWORD_CHANGED, now)
        .await?;
    sessions::ended(store, revocations, backchannel, &ended, &user.id, now).await?;
    Ok(user)
}

/// Disabling ends every session of the user, like a password change.
pub async fn set_disabled(
    store: &Store,
    revocations: &RevocationList,
    backchannel: &Backchannel,
    name: &str,
    disabled: bool,
    now: UnixTime,
) -> Result<User, ManageError> {
    let user = find(store, name).await?;
    let ended = store.set_user_disabled(&user.id, disabled, now).await?;
    if disabled {
        revocations
            .revoke_user(store, &user.id, reason::USER_DISABLED, now)
            .await?;
    }
    sessions::ended(store, revocations, backchannel, &ended, &user.id, now).await?;
    Ok(user)
}
