//! The signing keys as the console, the API and `tessera keys list` show them: public facts
//! only (never key material).

use serde::Serialize;

use crate::clock::{self, UnixTime};
use crate::keys::{KeyRing, KeyState};

#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// `next`, `active` or `retiring`: the published keys of the ring (see `KeyRing::state_of`).
    pub state: &'static str,
    pub created_at: Option<UnixTime>,
    /// `created_at` for people.
    #[serde(skip)]
    pub created: Option<String>,
}

/// Every key of the ring: the active key first, then by algorithm and age (newest first).
pub fn list(ring: &KeyRing) -> Vec<KeyInfo> {
    let mut keys: Vec<_> = ring.all().collect();
    keys.sort_by_key(|k| {
        (
            ring.state_of(k) != KeyState::Active,
            k.signing_alg(),
            std::cmp::Reverse(k.created_at()),
            k.kid().to_string(),
        )
    });
    keys.into_iter()
        .map(|k| KeyInfo {
            kid: k.kid().to_string(),
            alg: k.signing_alg().to_string(),
            state: ring.state_of(k).as_str(),
            created_at: k.created_at(),
            created: k.created_at().map(clock::display),
        })
        .collect()
}
