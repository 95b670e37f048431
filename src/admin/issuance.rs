//! Token issuance in the audit log. A token is issued far too often for an entry each (the
//! issue allows counts where volume is high), so every node writes one `tokens.issued` entry
//! per interval with its counts by grant, taken from the metrics counters. The dashboard sums
//! the last hour's entries of every node.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::admin::audit::{self, Context, Event};
use crate::clock::{Clock, UnixTime};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

pub const ACTION: &str = "tokens.issued";
const ACTOR: &str = "system";

/// Writes the counts since its previous entry. Clones share what was already written, so the
/// periodic task and the last write at shutdown never count a token twice.
#[derive(Clone)]
pub struct Recorder {
    store: Store,
    metrics: Arc<Metrics>,
    clock: Clock,
    retention_secs: i64,
    written: Arc<Mutex<HashMap<&'static str, u64>>>,
}

impl Recorder {
    pub fn new(store: Store, metrics: Arc<Metrics>, clock: Clock, retention_secs: i64) -> Self {
        Self {
            store,
            metrics,
            clock,
            retention_secs,
            written: Arc::default(),
        }
    }

    /// Counts since the last call, by grant; marks them written.
    fn take(&self) -> BTreeMap<&'static str, u64> {
        let Ok(mut written) = self.written.lock() else {
            return BTreeMap::new();
        };
        let mut delta = BTreeMap::new();
        for (grant, total) in self.metrics.tokens_issued() {
            let before = written.insert(grant, total).unwrap_or_default();
            if total > before {
                delta.insert(grant, total - before);
            }
        }
        delta
    }

    /// Writes one entry if any token was issued since the last; returns the counts written.
    pub async fn flush(&self) -> Result<BTreeMap<&'static str, u64>, StoreError> {
        let delta = self.take();
        if delta.is_empty() {
            return Ok(delta);
        }
        let ctx = Context {
            now: self.clock.now(),
            ip: None,
            user_agent: None,
            retention_secs: self.retention_secs,
        };
        let detail = serde_json::to_value(&delta).unwrap_or_default();
        let written = audit::record(
            &self.store,
            &ctx,
            Event {
                actor: ACTOR,
                action: ACTION,
                target: None,
                detail: Some(detail),
            },
        )
        .await;
        if let Err(e) = written {
            // Put the counts back so the next interval writes them.
            if let Ok(mut w) = self.written.lock() {
                for (grant, n) in &delta {
                    if let Some(total) = w.get_mut(grant) {
                        *total = total.saturating_sub(*n);
                    }
                }
            }
            return Err(e);
        }
        Ok(delta)
    }
}

/// Writes the counts every `interval` until the task is stopped.
pub async fn run(recorder: Recorder, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = recorder.flush().await {
            tracing::warn!(error = %e, "could not write token issuance counts; retrying later");
        }
    }
}

/// Tokens issued since `since` by every node, in all and by grant.
pub async fn since(
    store: &Store,
    since: UnixTime,
) -> Result<(u64, BTreeMap<String, u64>), StoreError> {
    let mut by_grant: BTreeMap<String, u64> = BTreeMap::new();
    for detail in store.audit_details_since(ACTION, since).await? {
        let Ok(counts) = serde_json::from_str::<BTreeMap<String, u64>>(&detail) else {
            continue;
        };
        for (grant, n) in counts {
            *by_grant.entry(grant).or_default() += n;
        }
    }
    Ok((by_grant.values().sum(), by_grant))
}
