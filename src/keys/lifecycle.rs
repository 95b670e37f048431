//! The life of a signing key (issue 13, DESIGN §7): *next* (published, signs nothing),
//! *active* (signs for its algorithm), *retiring* (published, signs nothing, until everything
//! it signed has expired), then *retired* or *revoked* (not published).
//!
//! A key's state is a pure function of its recorded timestamps and `now`, so every node that
//! reads the same records derives the same state at the same instant, whenever it started.
//! This module decides; `super::manage` reads and writes the records and the key files.

use std::fmt;
use std::time::Duration;

use super::SigningAlg;
use crate::clock::UnixTime;

/// What a key does at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyState {
    /// Published in JWKS ahead of signing, so that relying parties that cache the JWKS know it
    /// before the first token it signs reaches them.
    Next,
    /// Signs for its algorithm.
    Active,
    /// Published, signs nothing: tokens it signed still verify until they have all expired.
    Retiring,
    /// Gone from JWKS; nothing it signed is alive.
    Retired,
    /// Withdrawn at once; every token it signed is inactive.
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }

    /// Whether `/jwks` lists the key (and tokens it signed verify).
    pub fn is_published(self) -> bool {
        matches!(self, Self::Next | Self::Active | Self::Retiring)
    }
}

impl serde::Serialize for KeyState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key's recorded life (a row of `signing_keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: SigningAlg,
    /// The key's file name in the keys directory.
    pub file: String,
    pub created_at: UnixTime,
    pub published_at: UnixTime,
    /// When it signs (planned or past); `None`: never scheduled to sign.
    pub active_at: Option<UnixTime>,
    /// When a successor took over (planned or past).
    pub retiring_at: Option<UnixTime>,
    /// When it leaves JWKS.
    pub retire_after: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
}

impl KeyRecord {
    /// The state at `now`. A revocation counts whatever its time (it is never planned ahead,
    /// and a node whose clock lags the one that revoked must not keep the key a moment longer).
    pub fn state(&self, now: UnixTime) -> KeyState {
        let reached = |at: Option<UnixTime>| at.is_some_and(|at| at <= now);
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if reached(self.retire_after) {
            KeyState::Retired
        } else if reached(self.retiring_at) {
            KeyState::Retiring
        } else if reached(self.active_at) {
            KeyState::Active
        } else {
            KeyState::Next
        }
    }

    /// The first recorded time after `now` at which the state changes.
    pub fn next_change(&self, now: UnixTime) -> Option<UnixTime> {
        if self.revoked_at.is_some() {
            return None;
        }
        [self.active_at, self.retiring_at, self.retire_after]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .min()
    }
}

/// The settings a lifecycle decision depends on, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a next key is published before it signs (`key_publish_ahead`).
    pub publish_ahead: i64,
    /// How long a retiring key stays published after it stopped signing: the longest life of
    /// anything it signed, plus the JWKS max-age (see `retire_window`).
    pub retire_window: i64,
}

/// How long an ID token stays useful after it was issued: relying parties keep it to send as
/// `id_token_hint` at `/end-session`, which accepts an expired one (OIDC RP-Initiated Logout
/// §2) for as long as its key is published. A hint names an SSO session, which lives at most
/// `session_ttl`, so a hint older than that is of no more use.
pub fn hint_lifetime(id_token_ttl: Duration, session_ttl: Duration) -> Duration {
    id_token_ttl.max(session_ttl)
}

/// How long a retiring key stays published: until the longest-lived thing it could have signed
/// just before it stopped signing has expired (access tokens, ID tokens kept as hints, logout
/// tokens), plus `jwks_max_age` for caches that fetched the JWKS just before it left.
pub fn retire_window(signed_lifetimes: &[Duration], jwks_max_age: Duration) -> i64 {
    let longest = signed_lifetimes.iter().copied().max().unwrap_or_default();
    secs(longest).saturating_add(secs(jwks_max_age))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Why a lifecycle change cannot be made, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error(
        "a next {alg} key is already staged (kid {kid}, active from {}); \
         it must become active before another rotation",
        crate::clock::display(*active_at)
    )]
    AlreadyStaged {
        alg: SigningAlg,
        kid: String,
        active_at: UnixTime,
    },
    #[error(
        "there are {0} key records, the most allowed: no key can be staged until old ones are \
         removed"
    )]
    TooManyRecords(usize),
    #[error("no key has kid '{0}'; `tessera keys list` shows the kids")]
    UnknownKid(String),
    #[error("the active {0} key is not due for rotation yet")]
    NotDue(SigningAlg),
    #[error("key {kid} is {state}, not next: only a staged (next) key can be promoted")]
    NotNext { kid: String, state: KeyState },
    #[error(
        "key {kid} has been published since {}; it may sign from {} at the earliest, once every \
         relying party that cached the JWKS (jwks_max_age, plus a rescan and clock skew) has \
         seen it",
        crate::clock::display(*published_at),
        crate::clock::display(*earliest)
    )]
    TooEarly {
        kid: String,
        published_at: UnixTime,
        earliest: UnixTime,
    },
}

/// A new key to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub published_at: UnixTime,
    pub active_at: UnixTime,
}

/// What a rotation records: the new key, and the active key it replaces (with its retirement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub new_key: NewKey,
    pub retires: Option<KeyRecord>,
}

/// Stages a successor for `alg`: published now, active once it has been published for
/// `publish_ahead`, at which instant the current active key becomes retiring (both times are
/// recorded now, so every node switches at the same instant). With no active key to replace
/// (all revoked or retired), the new key signs at once: nothing signs for `alg` until it does.
/// At most one next key per algorithm: a second rotation before the first takes effect is
/// refused, so two rotations at once never leave two.
pub fn plan_rotation(
    records: &[KeyRecord],
    alg: SigningAlg,
    now: UnixTime,
    policy: Policy,
) -> Result<Rotation, LifecycleError> {
    if let Some(next) = of_alg_in(records, alg, KeyState::Next, now).next() {
        return Err(LifecycleError::AlreadyStaged {
            alg,
            kid: next.kid.clone(),
            active_at: next.active_at.unwrap_or(now),
        });
    }
    let Some(active) = of_alg_in(records, alg, KeyState::Active, now).last() else {
        return Ok(Rotation {
            new_key: NewKey {
                published_at: now,
                active_at: now,
            },
            retires: None,
        });
    };
    let switch = now.saturating_add(policy.publish_ahead);
    Ok(Rotation {
        new_key: NewKey {
            published_at: now,
            active_at: switch,
        },
        retires: Some(KeyRecord {
            retiring_at: Some(switch),
            retire_after: Some(switch.saturating_add(policy.retire_window)),
            ..active.clone()
        }),
    })
}

/// Whether `key_rotation_period` calls for a successor of `alg` now: a key of `alg` signs, none
/// is staged, and the active one's period ends within `publish_ahead`. Staged now, the
/// successor signs at `now + publish_ahead`, which is the period's end when a node looks as
/// soon as the successor is due (a node that looks late stages late: the successor is still
/// published `publish_ahead` before it signs). `period` 0 is off.
pub fn rotation_due(
    records: &[KeyRecord],
    alg: SigningAlg,
    now: UnixTime,
    period: i64,
    publish_ahead: i64,
) -> bool {
    if period <= 0
        || of_alg_in(records, alg, KeyState::Next, now)
            .next()
            .is_some()
    {
        return false;
    }
    of_alg_in(records, alg, KeyState::Active, now)
        .last()
        .and_then(|active| active.active_at)
        .is_some_and(|since| now >= since.saturating_add(period).saturating_sub(publish_ahead))
}

/// How far apart the clocks of the nodes (and of the machine a command runs on) may be, in
/// seconds: a promotion waits this much beyond what the JWKS cache needs.
pub const CLOCK_SKEW_ALLOWANCE: i64 = 30;

/// How long a next key must have been published before an early promotion: the JWKS max-age
/// counted from when the *last* node published it (up to one rescan after it was recorded,
/// on SQLite or when a notification is lost), plus the skew between clocks. Anything less
/// lets a relying party that fetched the JWKS from a slow node just before it published the
/// key reject the first tokens it signs.
pub fn promotion_margin(jwks_max_age: i64, rescan_interval: Duration) -> i64 {
    let rescan =
        secs(rescan_interval).saturating_add(i64::from(rescan_interval.subsec_nanos() > 0));
    jwks_max_age
        .saturating_add(rescan)
        .saturating_add(CLOCK_SKEW_ALLOWANCE)
}

/// Promotes the next key `kid` now, ahead of its recorded activation: it signs from `now` and
/// the active key of its algorithm starts retiring. Allowed once the key has been published
/// for `min_published` secs (`promotion_margin`): by then every relying party that honours
/// the JWKS's max-age has it. What `key_publish_ahead` adds beyond that (a margin for caches
/// that do not) is the operator's to give up. Returns the changed records.
pub fn plan_promotion(
    records: &[KeyRecord],
    kid: &str,
    now: UnixTime,
    min_published: i64,
    policy: Policy,
) -> Result<Vec<KeyRecord>, LifecycleError> {
    let key = records
        .iter()
        .find(|r| r.kid == kid)
        .ok_or_else(|| LifecycleError::UnknownKid(kid.escape_default().to_string()))?;
    let state = key.state(now);
    if state != KeyState::Next {
        return Err(LifecycleError::NotNext {
            kid: key.kid.clone(),
            state,
        });
    }
    let earliest = key.published_at.saturating_add(min_published);
    if now < earliest {
        return Err(LifecycleError::TooEarly {
            kid: key.kid.clone(),
            published_at: key.published_at,
            earliest,
        });
    }
    let mut changed = vec![KeyRecord {
        active_at: Some(now),
        ..key.clone()
    }];
    changed.extend(
        of_alg_in(records, key.alg, KeyState::Active, now).map(|active| KeyRecord {
            retiring_at: Some(now),
            retire_after: Some(now.saturating_add(policy.retire_window)),
            ..active.clone()
        }),
    );
    Ok(changed)
}

/// What a revocation records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The revoked key, with `revoked_at` set.
    pub revoked: KeyRecord,
    /// Other records that change: a next key promoted at once (the revoked key was active),
    /// or the active key that no longer retires (the revoked key was the next one).
    pub updates: Vec<KeyRecord>,
    /// The revoked key was active and no next key could take over: a new key must be made
    /// and recorded active at once.
    pub needs_new_key: bool,
    /// The key's state before the revocation.
    pub was: KeyState,
}

/// Revokes `kid`. An active key's successor signs at once: the next key if there is one, or a
/// new key (`needs_new_key`). A revoked next key no longer replaces the active key, which
/// keeps signing. Revoking a key already revoked records nothing new (`was` says so).
pub fn plan_revocation(
    records: &[KeyRecord],
    kid: &str,
    now: UnixTime,
) -> Result<Revocation, LifecycleError> {
    let key = records
        .iter()
        .find(|r| r.kid == kid)
        .ok_or_else(|| LifecycleError::UnknownKid(kid.escape_default().to_string()))?;
    let was = key.state(now);
    let revoked = KeyRecord {
        revoked_at: Some(key.revoked_at.unwrap_or(now)),
        ..key.clone()
    };
    let mut updates = Vec::new();
    let mut needs_new_key = false;
    match was {
        KeyState::Active => match of_alg_in(records, key.alg, KeyState::Next, now).next() {
            Some(next) => updates.push(KeyRecord {
                active_at: Some(now),
                ..next.clone()
            }),
            None => needs_new_key = true,
        },
        KeyState::Next => {
            // The active key was set to retire when this one took over: it stays instead.
            for active in of_alg_in(records, key.alg, KeyState::Active, now) {
                if active.retiring_at.is_some_and(|at| at > now) {
                    updates.push(KeyRecord {
                        retiring_at: None,
                        retire_after: None,
                        ..active.clone()
                    });
                }
            }
        }
        KeyState::Retiring | KeyState::Retired | KeyState::Revoked => {}
    }
    Ok(Revocation {
        revoked,
        updates,
        needs_new_key,
        was,
    })
}

/// A key file found in the keys directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub file: String,
    /// From the file name; `None` for a file named by hand.
    pub created_at: Option<UnixTime>,
}

/// Records for key files that have none, for an algorithm that has no record at all: what a
/// deployment that predates the records has (or a new one's first keys). `found` is sorted by file name (names start with
/// the creation time, so the last of an algorithm is the newest). For each algorithm:
/// the newest file signs at once (it is what signed before, or the first key of a new
/// deployment) and older files retire. An algorithm with any record, even only revoked or
/// retired ones, adopts nothing.
///
/// Retiring files stay published for `retire_window`: tokens they signed before may be alive.
pub fn plan_adoption(
    records: &[KeyRecord],
    found: &[FoundKey],
    now: UnixTime,
    policy: Policy,
) -> Vec<KeyRecord> {
    let mut adopted: Vec<KeyRecord> = Vec::new();
    for alg in SigningAlg::ALL {
        let unrecorded: Vec<&FoundKey> = found
            .iter()
            .filter(|f| f.alg == alg && !records.iter().any(|r| r.kid == f.kid))
            .fold(Vec::new(), |mut seen, f| {
                // The same key under two file names is one key.
                if !seen.iter().any(|s: &&FoundKey| s.kid == f.kid) {
                    seen.push(f);
                }
                seen
            });
        let Some((newest, older)) = unrecorded.split_last() else {
            continue;
        };
        let retiring = |f: &FoundKey| KeyRecord {
            retiring_at: Some(now),
            retire_after: Some(now.saturating_add(policy.retire_window)),
            ..record_for(f, now, None)
        };
        // Files of an algorithm that has any record (published, retired or revoked) are never
        // taken in: a file that appears in the keys directory (a planted key, or a node started
        // on the wrong or an empty mount that made its own) must never be staged, let alone
        // sign, not even after a revocation left the algorithm without a signer. Adoption is
        // only for a deployment that predates the records. New keys come from `keys rotate`.
        if records.iter().any(|r| r.alg == alg) {
            for f in &unrecorded {
                tracing::warn!(
                    kid = f.kid,
                    file = f.file,
                    %alg,
                    "ignoring a key file that has no record; stage new keys with `tessera keys rotate`"
                );
            }
            continue;
        }
        adopted.extend(older.iter().map(|f| retiring(f)));
        adopted.push(record_for(newest, now, Some(now)));
    }
    adopted
}

fn record_for(found: &FoundKey, now: UnixTime, active_at: Option<UnixTime>) -> KeyRecord {
    KeyRecord {
        kid: found.kid.clone(),
        alg: found.alg,
        file: found.file.clone(),
        created_at: found.created_at.unwrap_or(now),
        published_at: now,
        active_at,
        retiring_at: None,
        retire_after: None,
        revoked_at: None,
    }
}

/// The records of `alg` in `state` at `now`, in the order given.
fn of_alg_in(
    records: &[KeyRecord],
    alg: SigningAlg,
    state: KeyState,
    now: UnixTime,
) -> impl DoubleEndedIterator<Item = &KeyRecord> {
    records
        .iter()
        .filter(move |r| r.alg == alg && r.state(now) == state)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        publish_ahead: 1000,
        retire_window: 5000,
    };

    fn record(kid: &str, active_at: Option<UnixTime>) -> KeyRecord {
        KeyRecord {
            kid: kid.into(),
            alg: SigningAlg::Rs256,
            file: format!("{kid}.pem"),
            created_at: 0,
            published_at: 0,
            active_at,
            retiring_at: None,
            retire_after: None,
            revoked_at: None,
        }
    }

    #[test]
    fn the_state_follows_the_recorded_times_and_now_only() {
        let key = KeyRecord {
            published_at: 100,
            active_at: Some(200),
            retiring_at: Some(300),
            retire_after: Some(400),
            ..record("a", None)
        };
        let at = |now| key.state(now);
        assert_eq!(
            [
                at(100),
                at(199),
                at(200),
                at(299),
                at(300),
                at(399),
                at(400)
            ],
            [
                KeyState::Next,
                KeyState::Next,
                KeyState::Active,
                KeyState::Active,
                KeyState::Retiring,
                KeyState::Retiring,
                KeyState::Retired,
            ]
        );
        assert_eq!(key.next_change(100), Some(200));
        assert_eq!(key.next_change(200), Some(300));
        assert_eq!(key.next_change(350), Some(400));
        assert_eq!(key.next_change(400), None);
        // A revocation counts at once, even one recorded by a clock ahead of this one.
        let revoked = KeyRecord {
            revoked_at: Some(10_000),
            ..key.clone()
        };
        assert_eq!(revoked.state(250), KeyState::Revoked);
        assert_eq!(revoked.next_change(250), None);
        assert!(!KeyState::Revoked.is_published() && !KeyState::Retired.is_published());
        assert!(KeyState::Next.is_published() && KeyState::Retiring.is_published());
    }

    #[test]
    fn a_rotation_publishes_ahead_then_switches_both_keys_at_one_recorded_instant() {
        let old = record("old", Some(0));
        let rotation = plan_rotation(std::slice::from_ref(&old), SigningAlg::Rs256, 50, POLICY)
            .expect("rotates");
        assert_eq!(
            rotation.new_key,
            NewKey {
                published_at: 50,
                active_at: 1050
            }
        );
        let retires = rotation.retires.expect("the active key retires");
        assert_eq!(retires.kid, "old");
        assert_eq!(
            (retires.retiring_at, retires.retire_after),
            (Some(1050), Some(6050))
        );
        let new = KeyRecord {
            active_at: Some(1050),
            published_at: 50,
            ..record("new", None)
        };
        for (now, old_state, new_state) in [
            (1049, KeyState::Active, KeyState::Next),
            (1050, KeyState::Retiring, KeyState::Active),
            (6050, KeyState::Retired, KeyState::Active),
        ] {
            assert_eq!((retires.state(now), new.state(now)), (old_state, new_state));
        }
        // A second rotation before the switch is refused: one next key per algorithm.
        let err = plan_rotation(
            &[retires.clone(), new.clone()],
            SigningAlg::Rs256,
            60,
            POLICY,
        )
        .expect_err("already staged");
        assert!(matches!(err, LifecycleError::AlreadyStaged { ref kid, .. } if kid == "new"));
        // Other algorithms rotate on their own.
        assert!(plan_rotation(&[retires, new], SigningAlg::Es256, 60, POLICY).is_ok());
    }

    #[test]
    fn with_nothing_active_a_rotated_key_signs_at_once() {
        let revoked = KeyRecord {
            revoked_at: Some(10),
            ..record("gone", Some(0))
        };
        let rotation = plan_rotation(&[revoked], SigningAlg::Rs256, 50, POLICY).expect("rotates");
        assert_eq!(rotation.new_key.active_at, 50);
        assert!(rotation.retires.is_none());
    }

    #[test]
    fn revoking_the_active_key_promotes_the_next_one_at_once() {
        let active = KeyRecord {
            retiring_at: Some(1050),
            retire_after: Some(6050),
            ..record("active", Some(0))
        };
        let next = record("next", Some(1050));
        let plan = plan_revocation(&[active.clone(), next], "active", 100).expect("revokes");
        assert_eq!(plan.was, KeyState::Active);
        assert_eq!(plan.revoked.revoked_at, Some(100));
        assert!(!plan.needs_new_key);
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.updates[0].kid, "next");
        assert_eq!(plan.updates[0].state(100), KeyState::Active);
        // Without a next key, a new one must be made.
        let plan = plan_revocation(&[record("only", Some(0))], "only", 100).expect("revokes");
        assert!(plan.needs_new_key && plan.updates.is_empty());
    }

    #[test]
    fn revoking_the_next_key_keeps_the_active_one_signing() {
        let active = KeyRecord {
            retiring_at: Some(1050),
            retire_after: Some(6050),
            ..record("active", Some(0))
        };
        let next = record("next", Some(1050));
        let plan = plan_revocation(&[active, next], "next", 100).expect("revokes");
        assert_eq!(plan.was, KeyState::Next);
        assert_eq!(plan.updates.len(), 1);
        let kept = &plan.updates[0];
        assert_eq!(kept.kid, "active");
        assert_eq!(kept.state(1_000_000), KeyState::Active);
    }

    #[test]
    fn revoking_an_unknown_kid_is_an_error_and_revoking_twice_changes_nothing() {
        let err = plan_revocation(&[record("a", Some(0))], "nope\n", 10).expect_err("unknown");
        assert_eq!(err, LifecycleError::UnknownKid("nope\\n".into()));
        let revoked = KeyRecord {
            revoked_at: Some(5),
            ..record("a", Some(0))
        };
        let plan = plan_revocation(&[revoked], "a", 10).expect("already revoked");
        assert_eq!(plan.was, KeyState::Revoked);
        assert_eq!(plan.revoked.revoked_at, Some(5));
        assert!(plan.updates.is_empty() && !plan.needs_new_key);
    }

    #[test]
    fn a_rotation_is_due_publish_ahead_before_the_period_ends_and_never_twice() {
        let active = record("active", Some(100));
        let due = |records: &[KeyRecord], now| {
            rotation_due(records, SigningAlg::Rs256, now, 5000, POLICY.publish_ahead)
        };
        let one = std::slice::from_ref(&active);
        assert!(!due(one, 4099));
        assert!(due(one, 4100));
        assert!(due(one, 9000), "a node that looks late still rotates");
        assert!(
            !rotation_due(one, SigningAlg::Rs256, 9000, 0, 1000),
            "0 is off"
        );
        assert!(!rotation_due(one, SigningAlg::Es256, 9000, 5000, 1000));
        // Once staged, nothing more is due until the successor has signed for its period.
        let rotation = plan_rotation(one, SigningAlg::Rs256, 4100, POLICY).expect("rotates");
        assert_eq!(rotation.new_key.active_at, 5100, "signs as the period ends");
        let retiring = rotation.retires.expect("retires");
        let new = KeyRecord {
            published_at: 4100,
            active_at: Some(5100),
            ..record("new", None)
        };
        let both = [retiring, new];
        assert!(!due(&both, 4100));
        assert!(!due(&both, 9099));
        assert!(due(&both, 9100));
    }

    #[test]
    fn a_next_key_is_promoted_only_once_published_for_the_jwks_max_age() {
        let old = record("old", Some(0));
        let rotation = plan_rotation(std::slice::from_ref(&old), SigningAlg::Rs256, 50, POLICY)
            .expect("rotates");
        let retiring = rotation.retires.expect("retires");
        let next = KeyRecord {
            published_at: 50,
            active_at: Some(1050),
            ..record("next", None)
        };
        let both = [retiring, next];
        let err = plan_promotion(&both, "next", 649, 600, POLICY).expect_err("too early");
        assert!(
            matches!(err, LifecycleError::TooEarly { earliest: 650, .. }),
            "{err}"
        );
        let changed = plan_promotion(&both, "next", 650, 600, POLICY).expect("promotes");
        let state = |kid: &str, now| changed.iter().find(|r| r.kid == kid).map(|r| r.state(now));
        assert_eq!(state("next", 650), Some(KeyState::Active));
        assert_eq!(state("old", 650), Some(KeyState::Retiring));
        assert_eq!(
            changed
                .iter()
                .find(|r| r.kid == "old")
                .and_then(|r| r.retire_after),
            Some(650 + POLICY.retire_window)
        );
        let err = plan_promotion(&both, "old", 650, 600, POLICY).expect_err("not next");
        assert!(matches!(
            err,
            LifecycleError::NotNext {
                state: KeyState::Active,
                ..
            }
        ));
        assert!(matches!(
            plan_promotion(&both, "nope", 650, 600, POLICY),
            Err(LifecycleError::UnknownKid(_))
        ));
    }

    fn found(kid: &str, alg: SigningAlg, created_at: UnixTime) -> FoundKey {
        FoundKey {
            kid: kid.into(),
            alg,
            file: format!("{created_at:012}-{}.pem", alg.file_tag()),
            created_at: Some(created_at),
        }
    }

    #[test]
    fn files_without_records_are_adopted_newest_active_and_older_retiring() {
        let files = [
            found("rsa-old", SigningAlg::Rs256, 1),
            found("rsa-new", SigningAlg::Rs256, 2),
            found("ec", SigningAlg::Es256, 1),
        ];
        let adopted = plan_adoption(&[], &files, 100, POLICY);
        let state = |kid: &str| adopted.iter().find(|r| r.kid == kid).map(|r| r.state(100));
        assert_eq!(state("rsa-new"), Some(KeyState::Active));
        assert_eq!(state("rsa-old"), Some(KeyState::Retiring));
        assert_eq!(state("ec"), Some(KeyState::Active));
        let old = adopted.iter().find(|r| r.kid == "rsa-old").expect("old");
        assert_eq!(old.retire_after, Some(5100));
        assert_eq!(old.created_at, 1);
        // Adopting again adopts nothing: the records exist now.
        assert!(plan_adoption(&adopted, &files, 200, POLICY).is_empty());
    }

    #[test]
    fn a_file_beside_published_keys_is_never_taken_in() {
        let active = record("active", Some(0));
        let files = [found("planted", SigningAlg::Rs256, 5)];
        assert!(plan_adoption(std::slice::from_ref(&active), &files, 100, POLICY).is_empty());
        let staged = record("staged", Some(1100));
        assert!(plan_adoption(&[active, staged], &files, 100, POLICY).is_empty());
    }

    #[test]
    fn a_file_beside_only_revoked_or_retired_records_is_never_taken_in() {
        let revoked = KeyRecord {
            revoked_at: Some(50),
            ..record("revoked", Some(0))
        };
        let files = [found("planted", SigningAlg::Rs256, 999_999_999_999)];
        assert!(plan_adoption(std::slice::from_ref(&revoked), &files, 100, POLICY).is_empty());
        let retired = KeyRecord {
            retiring_at: Some(1),
            retire_after: Some(2),
            ..record("retired", Some(0))
        };
        assert!(plan_adoption(&[retired], &files, 100, POLICY).is_empty());
    }

    #[test]
    fn an_early_promotion_waits_for_the_slowest_node_and_clock_skew() {
        assert_eq!(
            promotion_margin(600, Duration::from_millis(200)),
            600 + 1 + CLOCK_SKEW_ALLOWANCE
        );
        assert_eq!(
            promotion_margin(600, Duration::from_secs(5)),
            600 + 5 + CLOCK_SKEW_ALLOWANCE
        );
    }

    #[test]
    fn the_retire_window_covers_the_longest_signed_lifetime_and_the_jwks_cache() {
        let s = Duration::from_secs;
        assert_eq!(
            retire_window(&[s(3600), s(300), s(120), s(43_200)], s(600)),
            43_800
        );
        assert_eq!(hint_lifetime(s(300), s(43_200)), s(43_200));
    }
}
