//! The login decision: throttling, password check (or a dummy one), rehash. The same answer and
//! about the same time for an unknown user, a disabled user and a wrong password.

use secrecy::{ExposeSecret, SecretString};

use super::password::{HashError, MAX_PASSWORD_BYTES, PasswordHasherPool, Verified};
use super::throttle::Policy;
use super::{User, Username};
use crate::clock::UnixTime;
use crate::store::{Store, StoreError};

pub enum Outcome {
    Success(User),
    /// Wrong password, unknown user, disabled user, malformed name: one answer for all.
    Failed,
    Throttled {
        retry_after: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

pub struct Attempt<'a> {
    pub username: &'a str,
    pub password: SecretString,
    pub client_ip: &'a str,
    pub now: UnixTime,
}

pub struct Limits {
    pub account: Policy,
    pub ip: Policy,
}

fn account_key(name: &str) -> String {
    // Unparseable names get a key too, so they are throttled like any other.
    let key = Username::parse(name).map_or_else(|_| name.to_lowercase(), |u| u.key());
    // Control characters (NUL above all) cannot be stored in a PostgreSQL text column.
    let key: String = key.chars().filter(|c| !c.is_control()).take(80).collect();
    format!("user:{key}")
}

#[tracing::instrument(skip_all, fields(username = attempt.username.chars().take(64).collect::<String>()))]
pub async fn login(
    store: &Store,
    hasher: &PasswordHasherPool,
    limits: &Limits,
    attempt: Attempt<'_>,
) -> Result<Outcome, LoginError> {
    let now = attempt.now;
    let account = account_key(attempt.username);
    let ip = format!("ip:{}", attempt.client_ip);
    let waits = [
        limits
            .account
            .retry_after(store.login_failures(&account).await?, now),
        limits.ip.retry_after(store.login_failures(&ip).await?, now),
    ];
    if let Some(retry_after) = waits.into_iter().flatten().max() {
        return Ok(Outcome::Throttled { retry_after });
    }

    let user = match Username::parse(attempt.username) {
        Ok(name) => store.user_by_username_key(&name.key()).await?,
        Err(_) => None,
    };
    let too_long = attempt.password.expose_secret().len() > MAX_PASSWORD_BYTES;
    let stored = user
        .as_ref()
        .filter(|u| !u.disabled && !too_long)
        .map(|u| u.password_hash.clone());
    let password = if too_long {
        SecretString::from(String::new())
    } else {
        attempt.password
    };
    let verified = hasher.verify(password.clone(), stored).await?;

    match (verified, user) {
        (Verified::Yes { needs_rehash }, Some(user)) => {
            store.clear_login_failures(&account).await?;
            if needs_rehash {
                let hash = hasher.hash(password).await?;
                store.update_password_hash(&user.id, &hash).await?;
                tracing::info!(user_id = %user.id, "password hash upgraded to current parameters");
            }
            Ok(Outcome::Success(user))
        }
        _ => {
            store
                .record_login_failure(&account, now, now - limits.account.window_secs)
                .await?;
            store
                .record_login_failure(&ip, now, now - limits.ip.window_secs)
                .await?;
            Ok(Outcome::Failed)
        }
    }
}
