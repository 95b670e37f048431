//! The login decision: throttling, password check (or a dummy one), rehash. The same answer and
//! about the same time for an unknown user, a disabled user and a wrong password.

use std::net::IpAddr;

use ipnet::Ipv6Net;
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

impl Limits {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        let window_secs =
            i64::try_from(settings.login_failure_window.as_secs()).unwrap_or(i64::MAX);
        Limits {
            account: Policy {
                max_failures: settings.login_max_failures,
                window_secs,
            },
            ip: Policy {
                max_failures: settings.login_max_failures_per_ip,
                window_secs,
            },
        }
    }
}

fn account_key(name: &str) -> String {
    // Unparseable names get a key too, so they are throttled like any other.
    let key = Username::parse(name).map_or_else(|_| name.to_lowercase(), |u| u.key());
    // Control characters (NUL above all) cannot be stored in a PostgreSQL text column.
    let key: String = key.chars().filter(|c| !c.is_control()).take(80).collect();
    format!("user:{key}")
}

/// The throttling key of a client address. An IPv6 client usually holds a whole /64 (SLAAC,
/// privacy addresses), so it is counted per /64, or it could take a fresh address per guess.
pub fn address_key(addr: &str) -> String {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => Ipv6Net::new(v6, 64)
            .map_or_else(|_| format!("ip:{v6}"), |net| format!("ip:{}", net.trunc())),
        _ => format!("ip:{addr}"),
    }
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
    let ip = address_key(attempt.client_ip);
    // Reserve before verifying (DESIGN §5): a burst gets no more tries than a sequence. The
    // address first, so that an address already throttled cannot add to an account's count
    // (which would let one address lock many users out); it gets its attempt back if the
    // account refuses.
    if !store.reserve_login_attempt(&ip, &limits.ip, now).await? {
        return Ok(throttled(store, &ip, &limits.ip, now).await?);
    }
    if !store
        .reserve_login_attempt(&account, &limits.account, now)
        .await?
    {
        store.release_login_attempt(&ip).await?;
        return Ok(throttled(store, &account, &limits.account, now).await?);
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
            // A success was no failure: the account starts afresh (as before reservations)
            // and the address gets its attempt back, so that many users behind one address
            // can keep signing in.
            store.clear_login_failures(&account).await?;
            store.release_login_attempt(&ip).await?;
            let mut user = user;
            if needs_rehash {
                let hash = hasher.hash(password).await?;
                if store
                    .update_password_hash(&user.id, &user.password_hash, &hash)
                    .await?
                {
                    tracing::info!(user_id = %user.id, "password hash upgraded to current parameters");
                    // The session is bound to the hash now stored.
                    user.password_hash = hash;
                }
            }
            Ok(Outcome::Success(user))
        }
        // The reservations already count this failure.
        _ => Ok(Outcome::Failed),
    }
}

/// The answer to a refused reservation.
async fn throttled(
    store: &Store,
    key: &str,
    policy: &Policy,
    now: UnixTime,
) -> Result<Outcome, StoreError> {
    // The wait may have ended between the refusal and this read; still ask for a second.
    let retry_after = policy
        .retry_after(store.login_failures(key).await?, now)
        .unwrap_or(1);
    Ok(Outcome::Throttled { retry_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64_and_ipv4_clients_per_address() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "ip:2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff::9"), "ip:2001:db8:1:2::/64");
        assert_eq!(address_key("192.0.2.7"), "ip:192.0.2.7");
        assert_eq!(address_key("unknown"), "ip:unknown");
    }
}
