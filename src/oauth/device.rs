//! The device authorization grant (RFC 8628): the device authorization request (§3.1–3.2), the
//! user code (§6.1) and the user's side on /device (§3.3, §5.1, §5.4). The token endpoint's
//! side is `grants::device_code`.

use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

use super::client::{Client, GrantType};
use super::error::OAuthError;
use super::resource::{self, Api};
use super::resources::{self, TargetError};
use super::scope::Scope;
use crate::accounts::throttle::Policy;
use crate::clock::UnixTime;
use crate::config::Settings;
use crate::store::{
    DeviceCodeRow, DeviceDecision, DeviceInsert, DeviceState, LiveBounds, Store, StoreError,
};
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

/// Who asked for a device code, as coarse as the per-address bound needs: an IPv4 address,
/// or the /64 of an IPv6 one (what one IPv6 client usually holds).
pub fn requester(address: &str) -> String {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => {
            Ipv6Net::new(v6, 64).map_or_else(|_| v6.to_string(), |n| n.trunc().to_string())
        }
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => String::new(),
    }
}

/// The network shown on the confirm page (§5.4): an IPv4 /24 or an IPv6 /48, enough to tell
/// "my home" from "somewhere else" without showing an address. Takes an address or a
/// `requester`; empty when unknown.
pub fn network(address: &str) -> String {
    let ip = match address.split_once('/') {
        Some((ip, _)) => ip,
        None => address,
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            Ipv4Net::new(v4, 24).map_or_else(|_| String::new(), |n| n.trunc().to_string())
        }
        Ok(IpAddr::V6(v6)) => {
            Ipv6Net::new(v6, 48).map_or_else(|_| String::new(), |n| n.trunc().to_string())
        }
        Err(_) => String::new(),
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
    address: &str,
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
            requester: requester(address),
        };
        let bounds = LiveBounds {
            per_client: i64::from(settings.device_max_live_codes_per_client),
            per_requester: i64::from(settings.device_max_live_codes_per_address),
        };
        match store.insert_device_code(&row, bounds).await? {
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
            // Like /token's rate limit (§3.5's slow_down is for polls): temporarily
            // unavailable until the earliest of the live requests that hold it back ends.
            DeviceInsert::TooMany { retry_at } => {
                return Err(OAuthError::RateLimited(
                    u64::try_from(retry_at - now).unwrap_or(1).max(1),
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

/// Clocks of nodes differ a little: a poll this much early is on time.
pub const POLL_GRACE: i64 = 1;
/// The longest interval a slow_down asks for.
pub const MAX_INTERVAL: i64 = 60;

/// The poll of a request last polled at `last` with `interval`, at `now`; the request ends at
/// `expires_at`. The interval grows by 5 s up to `MAX_INTERVAL`, and never past the request's
/// remaining life (a device told to wait longer would only find it expired).
pub fn poll(last: Option<UnixTime>, interval: i64, now: UnixTime, expires_at: UnixTime) -> Poll {
    match last {
        Some(last) if now + POLL_GRACE < last + interval => Poll::SlowDown {
            interval: (interval + 5)
                .min(MAX_INTERVAL)
                .min((expires_at - now).max(1))
                .max(interval.min(MAX_INTERVAL)),
        },
        _ => Poll::Pending,
    }
}

/// The throttling of /device (§5.1): wrong user codes counted per session, per account (the
/// main limit: signing in again gives a new session, not more guesses) and per client
/// address, in the store (every node counts alike) with the login page's policy shape.
pub struct Limits {
    pub session: Policy,
    pub user: Policy,
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
            user: Policy {
                max_failures: settings.device_max_failures_per_user,
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
    /// When the device asked, and from which network (`network`; empty when unknown).
    pub requested_at: UnixTime,
    pub requested_from: String,
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

/// Who types a code on /device.
pub struct Typist<'a> {
    pub sid: &'a str,
    pub user_id: &'a str,
    pub address: &'a str,
}

/// Looks up a typed code. An attempt is reserved for the address, the session and the
/// account before the code is looked at (one statement each, so a parallel burst gets no more
/// tries than a sequence); when one of them is spent, those already taken are given back, and
/// all three are given back when the code was right. The address goes first, as on the login
/// page: an address already throttled cannot add to an account's count.
pub async fn lookup(
    store: &Store,
    limits: &Limits,
    who: &Typist<'_>,
    typed: &str,
    now: UnixTime,
) -> Result<Lookup, StoreError> {
    let keys = [
        (
            format!(
                "device-{}",
                crate::accounts::login::address_key(who.address)
            ),
            &limits.address,
        ),
        (format!("device-sid:{}", who.sid), &limits.session),
        (format!("device-user:{}", who.user_id), &limits.user),
    ];
    for (i, (key, policy)) in keys.iter().enumerate() {
        if !store.reserve_login_attempt(key, policy, now).await? {
            for (taken, _) in &keys[..i] {
                store.release_login_attempt(taken).await?;
            }
            return throttled(store, key, policy, now).await;
        }
    }
    let Some(code) = UserCode::parse(typed) else {
        return Ok(Lookup::Wrong);
    };
    let Some(row) = store.pending_device_code(&code.hash(), now).await? else {
        return Ok(Lookup::Wrong);
    };
    // A client that lost the grant (or was deleted) since: its requests are no longer ones
    // anyone may approve.
    let Some(client) = store
        .get_client(&row.client_id)
        .await?
        .filter(|c| c.allows_grant(GrantType::DeviceCode))
    else {
        return Ok(Lookup::Wrong);
    };
    for (key, _) in &keys {
        store.release_login_attempt(key).await?;
    }
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
        requested_at: row.created_at,
        requested_from: network(&row.requester),
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
        assert_eq!(poll(None, 5, 100, 700), Poll::Pending);
        assert_eq!(poll(Some(100), 5, 105, 700), Poll::Pending);
        assert_eq!(poll(Some(100), 5, 104, 700), Poll::Pending, "1 s of grace");
        assert_eq!(
            poll(Some(100), 5, 103, 700),
            Poll::SlowDown { interval: 10 }
        );
        assert_eq!(
            poll(Some(100), 10, 108, 700),
            Poll::SlowDown { interval: 15 }
        );
        assert_eq!(
            poll(Some(100), 60, 101, 700),
            Poll::SlowDown { interval: 60 }
        );
        assert_eq!(
            poll(Some(100), 58, 101, 700),
            Poll::SlowDown { interval: 60 }
        );
        assert_eq!(
            poll(Some(100), 10, 101, 108),
            Poll::SlowDown { interval: 10 }
        );
    }

    #[test]
    fn requesters_and_networks_are_coarse() {
        assert_eq!(requester("192.0.2.77"), "192.0.2.77");
        assert_eq!(requester("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(requester("unknown"), "");
        assert_eq!(network("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(network("2001:db8:1:2::/64"), "2001:db8:1::/48");
        assert_eq!(network(""), "");
    }
}
