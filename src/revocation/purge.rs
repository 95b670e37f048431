//! Drops entries that can no longer match a live token, from memory and from the store, so
//! that the list stays small enough for every node to hold (DESIGN §4). Every node purges its
//! own memory; the store's delete is idempotent, so several nodes purging at once is harmless.

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

/// One purge at `now`: memory first (it needs no database, so it happens even when the store
/// is down), then the store.
pub async fn purge_once(
    store: &Store,
    list: &RevocationList,
    now: UnixTime,
) -> Result<Purged, StoreError> {
    let memory = list.purge(now);
    let store = store.purge_revocations(now).await?;
    Ok(Purged { memory, store })
}

/// Runs until aborted (see `super::BackgroundTasks`).
pub async fn run(store: Store, list: Arc<RevocationList>, clock: Clock, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match purge_once(&store, &list, clock.now()).await {
            Ok(Purged { memory, store }) if memory > 0 || store > 0 => {
                tracing::info!(memory, store, "purged expired revocations");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot purge the revocation list"),
        }
    }
}
