//! Bounded state (DESIGN §4 and §8; issue 11 point 10): every table that grows with traffic
//! loses what can no longer matter — expired authorization codes and device authorization
//! requests, sessions past their absolute expiry, links of gone sessions, dead refresh-token
//! families and their tokens, unused idle-expired refresh tokens, stale login counters,
//! expired revocation entries, old client changes, audit entries and hourly activity counts
//! past the retention.
//!
//! One node at a time purges (`Store::try_purge_lock`): the deletes are idempotent, but
//! several nodes scanning the same rows would only add load. Each statement deletes at most
//! `BATCH` rows and commits, so a large backlog (after an outage, or on the first run of a
//! big database) never holds a lock for long; the loop runs until a batch comes back short.

use std::time::Duration;

use serde::Serialize;

use crate::clock::{Clock, UnixTime};
use crate::config::{MAX_REFRESH_TOKEN_GRACE, Settings};
use crate::revocation::MAX_TOKEN_LIFETIME;
use crate::store::{Store, StoreError};

/// How long a `client_changes` row is kept. A node's cache entry lives at most
/// `client_cache_ttl` (at most 1 h), so a node that catches up on changes this old or older,
/// after being cut off that long, holds no entry they could concern.
pub const CLIENT_CHANGE_RETENTION: i64 = 24 * 3600;

/// Rows one statement deletes at most.
pub const BATCH: i64 = 1000;

/// How many rows one purge deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub authorization_codes: u64,
    /// Expired device authorization requests (RFC 8628), whatever their state.
    pub device_codes: u64,
    pub sessions: u64,
    pub session_clients: u64,
    /// Unused tokens past their idle expiry (a dead family's tokens go with it, uncounted).
    pub refresh_tokens: u64,
    /// Families past their absolute expiry, or revoked more than an hour ago, and their tokens.
    pub refresh_families: u64,
    /// Sealed successors forgotten once past the longest grace window (rows kept, not deleted).
    pub sealed_successors: u64,
    pub login_throttle: u64,
    pub revocations: u64,
    /// `client_changes` rows older than `CLIENT_CHANGE_RETENTION`.
    pub client_changes: u64,
    pub audit_log: u64,
    /// Hourly activity counts (the console's charts) older than the audit retention.
    pub activity_hourly: u64,
    /// DPoP proofs past their replay window (RFC 9449 §11.1; PostgreSQL only).
    pub dpop_proofs: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.authorization_codes
            + self.device_codes
            + self.sessions
            + self.session_clients
            + self.refresh_tokens
            + self.refresh_families
            + self.sealed_successors
            + self.login_throttle
            + self.revocations
            + self.client_changes
            + self.audit_log
            + self.activity_hourly
            + self.dpop_proofs
    }
}

/// What one attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ran(Purged),
    /// Another node holds the lock and is purging.
    Skipped,
}

/// The cut-offs, from the settings: what is older than these is of no use any more.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Login counters whose last failure is older than this no longer throttle anyone.
    pub throttle_window: i64,
    /// Audit entries and hourly activity counts older than this go.
    pub audit_retention: i64,
    /// The longest a session lives (its links to clients are kept at least that long).
    pub session_ttl: i64,
}

/// Every cut-off is this much earlier than the purging node's clock: a row another node still
/// counts as live (its clock a little behind) is never deleted under it.
pub const CLOCK_SKEW_MARGIN: i64 = 60;

impl Policy {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            throttle_window: secs(settings.login_failure_window),
            audit_retention: secs(settings.audit_retention),
            session_ttl: secs(settings.session_ttl),
        }
    }
}

/// Runs one purge at `now` if no other node is purging.
pub async fn run_once(store: &Store, policy: Policy, now: UnixTime) -> Result<Outcome, StoreError> {
    let Some(lock) = store.try_purge_lock().await? else {
        return Ok(Outcome::Skipped);
    };
    let purged = purge(store, policy, now).await;
    // Released whatever the purge's result; closing the connection releases it anyway.
    let released = lock.release().await;
    let purged = purged?;
    released?;
    Ok(Outcome::Ran(purged))
}

async fn purge(store: &Store, policy: Policy, now: UnixTime) -> Result<Purged, StoreError> {
    let now = now.saturating_sub(CLOCK_SKEW_MARGIN);
    // A revoked family stays as long as the revocation entry that kills its access tokens, so
    // that an operator can still see why its tokens fail; after that a replay of one of its
    // refresh tokens is simply unknown, which answers invalid_grant like a revoked one.
    let revoked_before = now.saturating_sub(MAX_TOKEN_LIFETIME);
    let mut p = Purged {
        authorization_codes: batches(|| store.purge_codes_batch(now, BATCH)).await?,
        device_codes: batches(|| store.purge_device_codes_batch(now, BATCH)).await?,
        sessions: batches(|| store.purge_sessions_batch(now, BATCH)).await?,
        ..Purged::default()
    };
    let links_before = now.saturating_sub(policy.session_ttl);
    p.session_clients = batches(|| store.purge_session_clients_batch(links_before, BATCH)).await?;
    p.refresh_families = batches(|| store.purge_expired_families_batch(now, BATCH)).await?
        + batches(|| store.purge_revoked_families_batch(revoked_before, BATCH)).await?;
    p.refresh_tokens = batches(|| store.purge_idle_refresh_tokens_batch(now, BATCH)).await?;
    let grace_over = now.saturating_sub(secs(MAX_REFRESH_TOKEN_GRACE));
    p.sealed_successors =
        batches(|| store.forget_sealed_successors_batch(grace_over, BATCH)).await?;
    let throttle_before = now.saturating_sub(policy.throttle_window);
    p.login_throttle = batches(|| store.purge_login_throttle_batch(throttle_before, BATCH)).await?;
    p.revocations = batches(|| store.purge_revocations_batch(now, BATCH)).await?;
    p.dpop_proofs = batches(|| store.purge_dpop_proofs_batch(now, BATCH)).await?;
    let changes_before = now.saturating_sub(CLIENT_CHANGE_RETENTION);
    p.client_changes = batches(|| store.purge_client_changes_batch(changes_before, BATCH)).await?;
    let audit_before = now.saturating_sub(policy.audit_retention);
    p.audit_log = batches(|| store.purge_audit_batch(audit_before, BATCH)).await?;
    p.activity_hourly = batches(|| store.purge_activity_batch(audit_before, BATCH)).await?;
    Ok(p)
}

/// Repeats a batch delete until it deletes fewer than `BATCH` rows; returns the total.
async fn batches<F, Fut>(mut batch: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        if n < BATCH as u64 {
            return Ok(total);
        }
    }
}

/// The background task: a purge every `every`, until aborted (see
/// `revocation::BackgroundTasks`). Failures are logged and retried at the next tick.
pub async fn run(store: Store, policy: Policy, clock: Clock, every: Duration) {
    // The first purge one interval after start, not at once: nodes restarted together (a
    // rollout) do not all start with a purge.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match run_once(&store, policy, clock.now()).await {
            Ok(Outcome::Ran(purged)) if purged.total() > 0 => {
                tracing::info!(?purged, "purged expired rows");
            }
            Ok(Outcome::Ran(_)) => {}
            Ok(Outcome::Skipped) => tracing::debug!("another node is purging"),
            Err(e) => tracing::warn!(error = %e, "cannot purge expired rows"),
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
