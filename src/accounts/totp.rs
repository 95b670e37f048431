//! TOTP second factor (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps, one step of skew) and
//! one-time recovery codes. Time is an argument; each accepted step is used once (§5.2).

use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Builder, Secret, Totp};

use super::User;
use super::throttle::Policy;
use crate::clock::UnixTime;
use crate::store::{Store, StoreError};
use crate::tokens::opaque::{self, random_bytes};

pub const ISSUER: &str = "Tessera";
pub const RECOVERY_CODES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored TOTP secret is unusable: {0}")]
    Secret(String),
}

/// What an enrolment page shows: the secret in base32 and a QR code of the otpauth URL.
pub struct Enrolment {
    pub secret: SecretString,
    pub qr_data_url: String,
}

/// The outcome of a code (TOTP or recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Accepted,
    Refused,
    Throttled { retry_after: i64 },
}

fn totp_for(secret_b32: &str, account: &str) -> Result<Totp, TotpError> {
    let secret =
        Secret::try_from_base32(secret_b32).map_err(|e| TotpError::Secret(e.to_string()))?;
    // otpauth labels cannot contain ':'.
    let account: String = account.chars().filter(|&c| c != ':').collect();
    Builder::new()
        .with_secret(secret.as_bytes().to_vec())
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| TotpError::Secret(e.to_string()))
}

/// The pending enrolment of `user`: a new secret at every showing, unless `shown` is the one
/// still waiting (the page shown again after a wrong code). A fresh secret each time means a
/// stolen session cookie cannot read a pending secret that the user later confirms.
pub async fn pending_enrolment(
    store: &Store,
    user: &User,
    shown: Option<&str>,
    now: UnixTime,
) -> Result<Enrolment, TotpError> {
    let waiting = store
        .totp_credential(&user.id)
        .await?
        .filter(|row| row.confirmed_at.is_none())
        .map(|row| row.secret);
    let secret = match (waiting, shown) {
        (Some(waiting), Some(shown)) if opaque::ct_eq(&waiting, shown) => waiting,
        _ => {
            let secret = Secret::from(random_bytes::<20>().to_vec()).to_base32();
            store.put_pending_totp(&user.id, &secret, now).await?;
            secret
        }
    };
    let totp = totp_for(&secret, &user.username)?;
    let png = totp
        .to_qr_base64()
        .map_err(|e| TotpError::Secret(e.to_string()))?;
    Ok(Enrolment {
        secret: SecretString::from(secret),
        qr_data_url: format!("data:image/png;base64,{png}"),
    })
}

/// Whether the user has a confirmed TOTP credential.
pub async fn is_enrolled(store: &Store, user: &User) -> Result<bool, StoreError> {
    Ok(store
        .totp_credential(&user.id)
        .await?
        .is_some_and(|r| r.confirmed_at.is_some()))
}

fn throttle_key(user: &User) -> String {
    format!("totp:{}", user.id)
}

/// Checks a code against the user's credential, throttled like passwords. A TOTP step is
/// accepted once. `enrolling`: the secret the enrolment page showed; only that pending
/// secret can be confirmed (another tab or another holder of the session may have replaced
/// it since).
pub async fn check_code(
    store: &Store,
    policy: &Policy,
    user: &User,
    code: &str,
    enrolling: Option<&str>,
    now: UnixTime,
) -> Result<Check, TotpError> {
    let key = throttle_key(user);
    if let Some(retry_after) = reserve(store, policy, &key, now).await? {
        return Ok(Check::Throttled { retry_after });
    }
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let accepted = match store.totp_credential(&user.id).await? {
        Some(row)
            if match enrolling {
                Some(shown) => row.confirmed_at.is_none() && opaque::ct_eq(&row.secret, shown),
                None => row.confirmed_at.is_some(),
            } =>
        {
            let totp = totp_for(&row.secret, &user.username)?;
            match totp.check(&code, u64::try_from(now).unwrap_or_default()) {
                Some(step) => {
                    store
                        .use_totp_step(&user.id, i64::try_from(step).unwrap_or(i64::MAX))
                        .await?
                }
                None => false,
            }
        }
        _ => false,
    };
    if accepted && enrolling.is_some() {
        store.confirm_totp(&user.id, now).await?;
    }
    settle(store, &key, accepted).await
}

/// Reserves one attempt before the code is checked (only 10^6 TOTP codes exist, so parallel
/// guesses must not get past the limit); the wait when refused.
async fn reserve(
    store: &Store,
    policy: &Policy,
    key: &str,
    now: UnixTime,
) -> Result<Option<i64>, TotpError> {
    if store.reserve_login_attempt(key, policy, now).await? {
        return Ok(None);
    }
    Ok(Some(
        policy
            .retry_after(store.login_failures(key).await?, now)
            .unwrap_or(1),
    ))
}

/// Clears the failures after a success; a failure is already counted by its reservation.
async fn settle(store: &Store, key: &str, accepted: bool) -> Result<Check, TotpError> {
    if accepted {
        store.clear_login_failures(key).await?;
        Ok(Check::Accepted)
    } else {
        Ok(Check::Refused)
    }
}

/// Recovery codes are compared case- and dash-insensitively.
fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Uses a recovery code (once), throttled with the TOTP codes.
pub async fn use_recovery_code(
    store: &Store,
    policy: &Policy,
    user: &User,
    code: &str,
    now: UnixTime,
) -> Result<Check, TotpError> {
    let key = throttle_key(user);
    if let Some(retry_after) = reserve(store, policy, &key, now).await? {
        return Ok(Check::Throttled { retry_after });
    }
    let hash = opaque::hash(&normalise_recovery(code));
    let accepted = store.use_recovery_code(&user.id, &hash, now).await?;
    settle(store, &key, accepted).await
}

/// New recovery codes (replacing any old ones); the clear text exists only in the result.
pub async fn new_recovery_codes(
    store: &Store,
    user: &User,
    now: UnixTime,
) -> Result<Vec<SecretString>, StoreError> {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let text = Secret::from(random_bytes::<10>().to_vec()).to_base32();
            let (a, b) = text.split_at(text.len() / 2);
            format!("{a}-{b}").to_lowercase()
        })
        .collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| opaque::hash(&normalise_recovery(c)))
        .collect();
    store.replace_recovery_codes(&user.id, &hashes, now).await?;
    Ok(codes.into_iter().map(SecretString::from).collect())
}

/// For templates: the clear text of secrets being shown once.
pub fn reveal(secrets: &[SecretString]) -> Vec<String> {
    secrets
        .iter()
        .map(|s| s.expose_secret().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_compare_without_case_or_dashes() {
        assert_eq!(normalise_recovery("abcd-efgh"), "ABCDEFGH");
        assert_eq!(normalise_recovery(" ABCD efgh "), "ABCDEFGH");
    }

    #[test]
    fn a_totp_code_matches_its_step_and_the_neighbours_only() {
        let secret = Secret::from(vec![7u8; 20]).to_base32();
        let totp = totp_for(&secret, "alice:x").unwrap();
        let now = 1_700_000_000u64;
        let code = totp.generate(now).to_string();
        assert_eq!(totp.check(&code, now), Some(now / 30));
        assert!(totp.check(&code, now + 30).is_some());
        assert!(totp.check(&code, now + 90).is_none());
    }
}
