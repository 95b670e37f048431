//! The device authorization grant (RFC 8628): the device authorization request (§3.1–3.2), the
//! user code (§6.1) and the user's side on /device (§3.3, §5.1, §5.4). The token endpoint's
//! side is `grants::device_code`.

use serde::Serialize;

use super::client::{Client, GrantType};
use super::error::OAuthError;
use super::resource::{self, Api};
use super::resources::{self, TargetError};
use super::scope::Scope;
use crate::accounts::throttle::Policy;
use crate::clock::UnixTime;
use crate::config::Settings;
use crate::store::{DeviceCodeRow, DeviceDecision, DeviceInsert, DeviceState, Store, StoreError};
use crate::tokens::opaque::{self, Kind};

/// §6.1: consonants only (no vowels, so no words; no look-alikes such as 0/O, 1/I).
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const LEN: usize = 8;

/// A user code: 8 characters of `ALPHABET` (20^8 ≈ 2^34.6), shown as `WDJB-MJHT`.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCode(…)")
    }
}

impl UserCode {
    /// A fresh code from the operating system's generator. Rejection sampling (bytes ≥ 240 are
    /// drawn again) keeps every character equally likely.
    pub fn generate() -> Self {
        let mut code = String::with_capacity(LEN);
        while code.len() < LEN {
            for b in opaque::random_bytes::<16>() {
                if b < 240 && code.len() < LEN {
                    code.push(char::from(ALPHABET[usize::from(b % 20)]));
                }
            }
        }
        Self(code)
    }

    /// What a person typed: case does not matter, and dashes, spaces and other separators
    /// are ignored (§6.1). `None` unless 8 letters of the alphabet remain.
    pub fn parse(typed: &str) -> Option<Self> {
        if typed.len() > 64 {
            return None;
        }
        let code: String = typed
            .chars()
            .filter(|c| !(c.is_whitespace() || c.is_ascii_punctuation()))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b));
        valid.then_some(Self(code))
    }

    /// `WDJB-MJHT`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(LEN / 2);
        format!("{a}-{b}")
    }

    /// What the store keeps.
    pub fn hash(&self) -> String {
        opaque::hash(&self.0)
    }
}

/// §3.2: the device authorization response.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// Draws of a user code before giving up: a collision needs a live code among 20^8.
const DRAWS: usize = 5;

/// §3.1–3.2: a device authorization request by an authenticated client.
pub async fn authorize(
    store: &Store,
    settings: &Settings,
    client: &Client,
    scope: Option<&str>,
    resource: Option<&str>,
    now: UnixTime,
) -> Result<DeviceAuthorization, OAuthError> {
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::UnauthorizedClient(
            "this client is not registered for the device_code grant".into(),
        ));
    }
    // §3.1: scope as at the authorization endpoint (RFC 6749 §3.3).
    let scope = match scope {
        Some(raw) => {
            Scope::parse(raw).map_err(|e| OAuthError::InvalidScope(e.to_string().into()))?
        }
        None => Scope::empty(),
    };
    if let Some(excess) = scope.excess(&client.scopes).next() {
        return Err(OAuthError::InvalidScope(
            format!("the scope {excess} is not allowed for this client").into(),
        ));
    }
    let apis = resources::allowed(store, client, resource)
        .await
        .map_err(|e| match e {
            TargetError::Invalid(m) => OAuthError::InvalidTarget(m.into()),
            TargetError::Store(s) => OAuthError::from(s),
        })?;
    let ttl = secs(settings.device_code_ttl);
    let interval = secs(settings.device_poll_interval);
    let device_code = opaque::generate(Kind::DeviceCode);
    for _ in 0..DRAWS {
        let user_code = UserCode::generate();
        let row = DeviceCodeRow {
            device_code_hash: opaque::hash(&device_code),
            user_code_hash: user_code.hash(),
            client_id: client.id.to_string(),
            scope: scope.to_string(),
            resources: resource::join(
                &apis
                    .iter()
                    .map(|a| a.identifier.clone())
                    .collect::<Vec<_>>(),
            ),
            created_at: now,
            expires_at: now + ttl,
            interval_secs: interval,
            last_polled_at: None,
            state: DeviceState::Pending,
            user_id: None,
            sid: None,
            auth_time: None,
            amr: None,
            decided_at: None,
        };
        let max_live = i64::from(settings.device_max_live_codes_per_client);
        match store.insert_device_code(&row, max_live).await? {
            DeviceInsert::Inserted => {
                let verification_uri = format!("{}/device", settings.issuer());
                let shown = user_code.display();
                let complete = format!("{verification_uri}?user_code={shown}");
                tracing::info!(client_id = %client.id, "device authorization issued");
                return Ok(DeviceAuthorization {
                    device_code,
                    user_code: shown,
                    verification_uri,
                    verification_uri_complete: complete,
                    expires_in: u64::try_from(ttl).unwrap_or(600),
                    interval: u64::try_from(interval).unwrap_or(5),
                });
            }
            DeviceInsert::UserCodeTaken => continue,
            DeviceInsert::TooMany => {
                return Err(OAuthError::TooManyDeviceCodes(
                    u64::try_from(interval).unwrap_or(5),
                ));
            }
        }
    }
    Err(OAuthError::ServerError(anyhow::anyhow!(
        "no free user code after {DRAWS} draws"
    )))
}

/// §3.5: what a poll of a pending request answers, and the interval from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// `authorization_pending`.
    Pending,
    /// `slow_down`: the poll came before the interval was over; it is 5 s longer now.
    SlowDown { interval: i64 },
}

/// The poll of a request last polled at `last` with `interval`, at `now`.
pub fn poll(last: Option<UnixTime>, interval: i64, now: UnixTime) -> Poll {
    match last {
        Some(last) if now < last + interval => Poll::SlowDown {
            interval: interval + 5,
        },
        _ => Poll::Pending,
    }
}

/// The throttling of /device (§5.1): wrong user codes counted per session and per client
/// address, in the store (every node counts alike) with the login page's policy shape.
pub struct Limits {
    pub session: Policy,
    pub address: Policy,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Self {
        let window_secs = secs(settings.login_failure_window);
        Self {
            session: Policy {
                max_failures: settings.device_max_failures,
                window_secs,
            },
            address: Policy {
                max_failures: settings.device_max_failures_per_ip,
                window_secs,
            },
        }
    }
}

/// A pending request as the user sees it: which client asks, for what.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub code: UserCode,
    pub client: Client,
    pub scope: Scope,
    pub apis: Vec<Api>,
}

/// What a typed user code found.
#[derive(Debug)]
pub enum Lookup {
    Found(Box<PendingRequest>),
    /// No pending, live request has this code (or it is no code at all).
    Wrong,
    /// Too many wrong codes: wait this many seconds.
    Throttled {
        retry_after: i64,
    },
}

/// Looks up a typed code. An attempt is reserved for the session and the address before the
/// code is looked at (one statement each, so a parallel burst gets no more tries than a
/// sequence) and given back when the code was right.
pub async fn lookup(
    store: &Store,
    limits: &Limits,
    sid: &str,
    address: &str,
    typed: &str,
    now: UnixTime,
) -> Result<Lookup, StoreError> {
    let by_address = format!("device-{}", crate::accounts::login::address_key(address));
    let by_session = format!("device-sid:{sid}");
    if !store
        .reserve_login_attempt(&by_address, &limits.address, now)
        .await?
    {
        return throttled(store, &by_address, &limits.address, now).await;
    }
    if !store
        .reserve_login_attempt(&by_session, &limits.session, now)
        .await?
    {
        store.release_login_attempt(&by_address).await?;
        return throttled(store, &by_session, &limits.session, now).await;
    }
    let Some(code) = UserCode::parse(typed) else {
        return Ok(Lookup::Wrong);
    };
    let Some(row) = store.pending_device_code(&code.hash(), now).await? else {
        return Ok(Lookup::Wrong);
    };
    let Some(client) = store.get_client(&row.client_id).await? else {
        return Ok(Lookup::Wrong);
    };
    store.release_login_attempt(&by_address).await?;
    store.release_login_attempt(&by_session).await?;
    let scope = Scope::parse(&row.scope).unwrap_or_else(|_| Scope::empty());
    let requested = resource::split_stored(&row.resources);
    let apis = match requested.is_empty() {
        true => Vec::new(),
        false => {
            let joined = resource::join(&requested);
            resources::allowed(store, &client, Some(&joined))
                .await
                .unwrap_or_default()
        }
    };
    Ok(Lookup::Found(Box::new(PendingRequest {
        code,
        client,
        scope,
        apis,
    })))
}

async fn throttled(
    store: &Store,
    key: &str,
    policy: &Policy,
    now: UnixTime,
) -> Result<Lookup, StoreError> {
    let retry_after = policy
        .retry_after(store.login_failures(key).await?, now)
        .unwrap_or(1);
    Ok(Lookup::Throttled { retry_after })
}

/// Records the user's decision; `false` when the request was decided already or expired
/// (one decision per request, whatever the number of parallel submissions).
pub async fn decide(
    store: &Store,
    code: &UserCode,
    decision: DeviceDecision<'_>,
    now: UnixTime,
) -> Result<bool, StoreError> {
    store.decide_device_code(&code.hash(), decision, now).await
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_use_the_alphabet_and_show_with_a_dash() {
        for _ in 0..200 {
            let code = UserCode::generate();
            assert_eq!(code.0.len(), 8);
            assert!(code.0.bytes().all(|b| ALPHABET.contains(&b)));
            let shown = code.display();
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(UserCode::parse(&shown), Some(code));
        }
    }

    #[test]
    fn typed_codes_ignore_case_and_separators() {
        let code = UserCode::parse("WDJB-MJHT").unwrap();
        for typed in [
            "wdjb-mjht",
            "WDJBMJHT",
            " wdjb mjht ",
            "wd.jb-mj ht",
            "Wdjb–Mjht",
        ] {
            let parsed = UserCode::parse(typed);
            if typed.contains('–') {
                // An en dash is no ASCII separator: refused rather than guessed.
                assert_eq!(parsed, None);
            } else {
                assert_eq!(parsed.as_ref(), Some(&code), "{typed}");
            }
        }
        for bad in [
            "",
            "WDJB-MJH",
            "WDJB-MJHTX",
            "WAJB-MJHT",
            "WDJB-MJH0",
            "ÄDJB-MJHT",
        ] {
            assert_eq!(UserCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_poll_before_the_interval_slows_down_by_five_seconds() {
        assert_eq!(poll(None, 5, 100), Poll::Pending);
        assert_eq!(poll(Some(100), 5, 105), Poll::Pending);
        assert_eq!(poll(Some(100), 5, 104), Poll::SlowDown { interval: 10 });
        assert_eq!(poll(Some(100), 10, 109), Poll::SlowDown { interval: 15 });
    }
}
