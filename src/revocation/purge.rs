//! Drops entries that can no longer match a live token, so that the list stays small enough
//! for every node to hold (DESIGN §4). Every node purges its own memory here, every minute;
//! the rows in the store go with the other expired rows in `crate::purge` (one node at a time,
//! in batches).

use std::sync::Arc;
use std::time::Duration;

use super::RevocationList;
use crate::clock::{Clock, UnixTime};
use crate::store::{Store, StoreError};

/// How often the purge runs. Entries outlive their last token by at most this long.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// What one purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub memory: usize,
    pub store: u64,
}

/// One purge of the list at `now`: memory first (it needs no database, so it happens even
/// when the store is down), then the store's rows, in batches.
pub async fn purge_once(
    store: &Store,
    list: &RevocationList,
    now: UnixTime,
) -> Result<Purged, StoreError> {
    let memory = list.purge(now);
    let mut rows = 0;
    loop {
        let n = store
            .purge_revocations_batch(now, crate::purge::BATCH)
            .await?;
        rows += n;
        if n < crate::purge::BATCH as u64 {
            return Ok(Purged {
                memory,
                store: rows,
            });
        }
    }
}

/// Drops expired entries from this node's memory every `every`, until aborted (see
/// `super::BackgroundTasks`).
pub async fn run(list: Arc<RevocationList>, clock: Clock, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let memory = list.purge(clock.now());
        if memory > 0 {
            tracing::info!(memory, "dropped expired revocations from memory");
        }
    }
}
