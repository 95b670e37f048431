//! Keeps this node's list in step with the store, where other nodes add entries.
//!
//! PostgreSQL: a dedicated connection `LISTEN`s on the revocation channel; each `NOTIFY`
//! triggers a poll by cursor (`id > cursor`), so a revocation reaches every node within
//! milliseconds. Notifications are lost while that connection is down, so the node also polls
//! after every (re)connect, on every reconnection attempt while the database is away (with
//! backoff), and every `POLL_INTERVAL` regardless.
//!
//! The cursor never skips a row: ids become visible in the order they were handed out
//! (`Store::insert_revocation` serializes inserts), so once a poll has read id N, every lower
//! id has been read too. Nothing here depends on the nodes' clocks agreeing.
//!
//! SQLite serves one node, but not one process: the CLI (`tessera user disable`, `client
//! remove`, …) writes revocations into the same file. With no notifications to follow, the
//! node polls by cursor every `LOCAL_POLL_INTERVAL`.
//!
//! The client cache (DESIGN §6) rides the same machinery: client changes are announced on a
//! second channel (`CLIENT_CHANNEL`) of the same listening connection and read by their own
//! cursor (`Store::sync_client_cache`) on each of those notifications and on every poll, so a
//! removed client or a rotated secret stops working on every node as fast as a revocation.
//!
//! Key changes (issue 13) are announced on a third channel (`KEY_CHANNEL`): this task only
//! wakes the key rescan (`keys::manage::run`), which reads the few key records itself, and
//! wakes it too whenever notifications may have been lost.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sqlx::postgres::{PgListener, PgNotification};

use tokio::sync::Notify;

use super::{RevocationList, entries};
use crate::clock::Clock;
use crate::store::{CLIENT_CHANNEL, KEY_CHANNEL, Store};

/// Polling interval when notifications are flowing: belt and braces.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Polling interval where there is no LISTEN/NOTIFY (SQLite).
pub const LOCAL_POLL_INTERVAL: Duration = Duration::from_secs(1);

const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Runs until aborted (see `super::BackgroundTasks`). `keys_changed` wakes the key rescan.
pub async fn run(store: Store, list: Arc<RevocationList>, clock: Clock, keys_changed: Arc<Notify>) {
    let sync = Sync {
        store,
        list,
        clock,
        keys_changed,
    };
    let mut retry = FIRST_RETRY;
    loop {
        match sync.store.revocation_listener().await {
            Ok(None) => loop {
                tokio::time::sleep(LOCAL_POLL_INTERVAL).await;
                sync.poll().await;
            },
            Ok(Some(listener)) => {
                retry = FIRST_RETRY;
                sync.follow(listener).await;
                tracing::warn!("revocation listener lost its connection; reconnecting");
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?retry, "cannot listen for revocations");
            }
        }
        // Whatever was announced while no one listened is in the store: catch up, then retry.
        sync.catch_up().await;
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

struct Sync {
    store: Store,
    list: Arc<RevocationList>,
    clock: Clock,
    keys_changed: Arc<Notify>,
}

impl Sync {
    /// Follows the notifications until the listener fails for good (sqlx reconnects it once by
    /// itself and says so with `Ok(None)`; after an error we start over with a new one).
    async fn follow(&self, listener: PgListener) {
        // LISTEN is in place: anything committed before it is in the store, so catch up now.
        self.catch_up().await;
        // A stream keeps the pending receive across `select!` rounds (cancel safety).
        let mut notifications = Box::pin(futures_util::stream::unfold(
            listener,
            |mut listener| async move {
                let next = listener.try_recv().await;
                Some((next, listener))
            },
        ));
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        loop {
            tokio::select! {
                next = notifications.next() => match next {
                    Some(Ok(Some(notification))) => self.notified(&notification).await,
                    // The connection dropped and sqlx reconnected: notifications may be lost.
                    Some(Ok(None)) => self.catch_up().await,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "revocation listener failed");
                        return;
                    }
                    None => return,
                },
                _ = tick.tick() => self.poll().await,
            }
        }
    }

    async fn notified(&self, notification: &PgNotification) {
        if notification.channel() == KEY_CHANNEL {
            self.keys_changed.notify_one();
            return;
        }
        if notification.channel() == CLIENT_CHANNEL {
            self.poll_clients().await;
            return;
        }
        let id = notification.payload().parse::<i64>().ok();
        if id.is_some_and(|id| self.list.contains(id) || id <= self.list.cursor()) {
            // Our own revocation, or one a poll already brought.
            return;
        }
        self.poll().await;
    }

    /// After notifications may have been lost: poll, and have the keys read again.
    async fn catch_up(&self) {
        self.keys_changed.notify_one();
        self.poll().await;
    }

    async fn poll(&self) {
        match self.store.revocations_after(self.list.cursor()).await {
            Ok(rows) => self.list.apply_read(entries(rows), self.clock.now()),
            Err(e) => tracing::warn!(error = %e, "cannot poll the revocation list"),
        }
        self.poll_clients().await;
    }

    async fn poll_clients(&self) {
        if let Err(e) = self.store.sync_client_cache().await {
            tracing::warn!(error = %e, "cannot poll client changes");
        }
    }
}
