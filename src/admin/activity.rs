//! What the console's charts count (issue 15): tokens issued by grant and client, sign-ins by
//! outcome, and two gauges. A token is issued far too often for a row each, so every node
//! counts in memory per UTC hour and its recorder adds the counts to `activity_hourly` every
//! interval (one upsert that sums with the other nodes' counts) and once more at shutdown.
//! The gauges (active sessions, live revocations) are sampled once an hour by whichever node
//! gets there first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::clock::{Clock, UnixTime};
use crate::revocation::RevocationList;
use crate::store::{ActivityCount, Store, StoreError};

pub const HOUR: i64 = 3600;

/// Kinds of `activity_hourly` rows: `token:<grant>` per client, the sign-in outcomes, the
/// gauges.
pub const TOKEN_PREFIX: &str = "token:";
pub const GAUGE_SESSIONS: &str = "gauge:sessions";
pub const GAUGE_REVOCATIONS: &str = "gauge:revocations";

/// Distinct (hour, kind, client) counts a node holds between two flushes. Tokens go only to
/// registered clients, so this is never reached in practice; past it, further clients'
/// tokens are counted without their client (totals stay right, the memory bounded).
pub const MAX_PENDING: usize = 10_000;

/// The start of the UTC hour that holds `t`.
pub fn hour_of(t: UnixTime) -> UnixTime {
    t.div_euclid(HOUR) * HOUR
}

/// How a password sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    Succeeded,
    Failed,
    Throttled,
}

impl LoginOutcome {
    pub const ALL: [LoginOutcome; 3] = [Self::Succeeded, Self::Failed, Self::Throttled];

    pub fn kind(self) -> &'static str {
        match self {
            Self::Succeeded => "login:succeeded",
            Self::Failed => "login:failed",
            Self::Throttled => "login:throttled",
        }
    }

    /// The word a person reads in a chart.
    pub fn label(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Throttled => "throttled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Token(&'static str),
    Login(LoginOutcome),
}

impl Kind {
    fn name(self) -> String {
        match self {
            Kind::Token(grant) => format!("{TOKEN_PREFIX}{grant}"),
            Kind::Login(outcome) => outcome.kind().to_string(),
        }
    }
}

/// Counts by (hour, kind), then by client id, so that counting a token for a client already
/// seen this interval allocates nothing.
type Counts = HashMap<(UnixTime, Kind), HashMap<String, u64>>;

/// This node's counts since its last flush. One per node, shared by every worker.
#[derive(Debug, Default)]
pub struct Activity {
    pending: Mutex<Pending>,
    /// The last hour whose gauges this node found sampled (by itself or another node).
    gauges_hour: AtomicI64,
}

#[derive(Debug, Default)]
struct Pending {
    counts: Counts,
    /// Entries over all inner maps.
    len: usize,
}

impl Pending {
    fn add(&mut self, hour: UnixTime, kind: Kind, client_id: &str, n: u64) {
        let by_client = self.counts.entry((hour, kind)).or_default();
        if let Some(count) = by_client.get_mut(client_id) {
            *count += n;
            return;
        }
        let client_id = if self.len < MAX_PENDING {
            client_id
        } else {
            ""
        };
        let count = by_client.entry(client_id.to_string()).or_insert_with(|| {
            self.len += 1;
            0
        });
        *count += n;
    }
}

impl Activity {
    pub fn new() -> Self {
        Self::default()
    }

    /// A token response was sent at `now` for `grant` to `client_id` (None when no client
    /// was named, which no served grant allows today).
    pub fn token_issued(&self, now: UnixTime, grant: &'static str, client_id: Option<&str>) {
        self.add(now, Kind::Token(grant), client_id.unwrap_or_default());
    }

    /// A password sign-in ended at `now` with `outcome`.
    pub fn login(&self, now: UnixTime, outcome: LoginOutcome) {
        self.add(now, Kind::Login(outcome), "");
    }

    fn add(&self, now: UnixTime, kind: Kind, client_id: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.add(hour_of(now), kind, client_id, 1);
    }

    /// The counts since the last call; the node starts counting afresh.
    fn take(&self) -> Counts {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.len = 0;
        std::mem::take(&mut pending.counts)
    }

    /// Puts back counts that could not be written, for the next flush.
    fn restore(&self, counts: Counts) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for ((hour, kind), by_client) in counts {
            for (client_id, n) in by_client {
                pending.add(hour, kind, &client_id, n);
            }
        }
    }
}

fn rows(counts: &Counts) -> Vec<ActivityCount> {
    let mut rows: Vec<ActivityCount> = counts
        .iter()
        .flat_map(|((hour, kind), by_client)| {
            by_client.iter().map(move |(client_id, n)| ActivityCount {
                hour: *hour,
                kind: kind.name(),
                client_id: client_id.clone(),
                count: i64::try_from(*n).unwrap_or(i64::MAX),
            })
        })
        .collect();
    // A fixed order: concurrent flushes of two nodes lock the rows they share in the same
    // order, so they cannot deadlock each other on PostgreSQL.
    rows.sort_by(|a, b| (a.hour, &a.kind, &a.client_id).cmp(&(b.hour, &b.kind, &b.client_id)));
    rows
}

/// Writes a node's counts to the store. Clones share the counts, so the periodic task and
/// the last flush at shutdown never write a count twice.
#[derive(Clone)]
pub struct Recorder {
    store: Store,
    clock: Clock,
    activity: Arc<Activity>,
    revocations: Arc<RevocationList>,
    /// Sessions idle longer than this are not active (the sessions gauge).
    session_idle_secs: i64,
}

impl Recorder {
    pub fn new(
        store: Store,
        clock: Clock,
        activity: Arc<Activity>,
        revocations: Arc<RevocationList>,
        session_idle_secs: i64,
    ) -> Self {
        Self {
            store,
            clock,
            activity,
            revocations,
            session_idle_secs,
        }
    }

    /// Adds the counts since the last flush, and samples the gauges if this hour has none
    /// yet. Returns how many rows of counts were written. On failure the counts stay for the
    /// next flush.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let counts = self.activity.take();
        let rows = rows(&counts);
        if !rows.is_empty()
            && let Err(e) = self.store.add_activity(&rows).await
        {
            self.activity.restore(counts);
            return Err(e);
        }
        // The counts are written; a failed sample is retried at the next flush.
        if let Err(e) = self.sample_gauges(now).await {
            tracing::warn!(error = %e, "could not sample the hourly gauges; retrying later");
        }
        Ok(rows.len())
    }

    async fn sample_gauges(&self, now: UnixTime) -> Result<(), StoreError> {
        let hour = hour_of(now);
        if self.activity.gauges_hour.load(Ordering::Relaxed) == hour {
            return Ok(());
        }
        // Another node may sample between this check and the write; the write replaces its
        // sample then, which is as good.
        if !self.store.gauges_sampled(hour, GAUGE_SESSIONS).await? {
            let sessions = self
                .store
                .count_live_sessions(now, now - self.session_idle_secs)
                .await?;
            let revocations = i64::try_from(self.revocations.len()).unwrap_or(i64::MAX);
            self.store
                .set_gauges(
                    hour,
                    &[(GAUGE_SESSIONS, sessions), (GAUGE_REVOCATIONS, revocations)],
                )
                .await?;
        }
        self.activity.gauges_hour.store(hour, Ordering::Relaxed);
        Ok(())
    }
}

/// Flushes every `interval` until the task is stopped.
pub async fn run(recorder: Recorder, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = recorder.flush().await {
            tracing::warn!(error = %e, "could not write the activity counts; retrying later");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(counts: &Counts) -> u64 {
        counts.values().flat_map(|c| c.values()).sum()
    }

    #[test]
    fn counts_fall_into_the_utc_hour_of_their_time() {
        assert_eq!(hour_of(7199), 3600);
        assert_eq!(hour_of(7200), 7200);
        assert_eq!(hour_of(-1), -3600);
        let a = Activity::new();
        a.token_issued(3599, "client_credentials", Some("c1"));
        a.token_issued(3600, "client_credentials", Some("c1"));
        a.token_issued(3601, "client_credentials", Some("c1"));
        a.login(3700, LoginOutcome::Failed);
        let rows = rows(&a.take());
        let kinds: Vec<_> = rows
            .iter()
            .map(|r| (r.hour, r.kind.as_str(), r.client_id.as_str(), r.count))
            .collect();
        assert_eq!(
            kinds,
            [
                (0, "token:client_credentials", "c1", 1),
                (3600, "login:failed", "", 1),
                (3600, "token:client_credentials", "c1", 2),
            ]
        );
        assert!(a.take().is_empty(), "taken once");
    }

    #[test]
    fn restored_counts_add_to_new_ones() {
        let a = Activity::new();
        a.token_issued(0, "refresh_token", Some("c"));
        let taken = a.take();
        a.token_issued(0, "refresh_token", Some("c"));
        a.restore(taken);
        let rows = rows(&a.take());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].count, 2);
    }

    #[test]
    fn past_the_bound_clients_are_counted_without_their_id() {
        let a = Activity::new();
        for i in 0..MAX_PENDING + 5 {
            a.token_issued(0, "client_credentials", Some(&format!("c{i}")));
        }
        a.token_issued(0, "client_credentials", Some("c0"));
        let counts = a.take();
        assert_eq!(sum(&counts), MAX_PENDING as u64 + 6, "every token counted");
        let by_client = &counts[&(0, Kind::Token("client_credentials"))];
        assert_eq!(by_client.len(), MAX_PENDING + 1, "bounded");
        assert_eq!(by_client[""], 5);
        assert_eq!(by_client["c0"], 2);
    }
}
