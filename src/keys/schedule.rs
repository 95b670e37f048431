//! Automatic rotation (`key_rotation_period`, issue 13). At each key rescan a node asks whether
//! an algorithm's active key is due for a successor (`lifecycle::rotation_due`) and, if so,
//! stages one exactly as `tessera keys rotate` does (`manage::rotate_if_due`). The change
//! takes the key-change lock (a PostgreSQL advisory lock; SQLite's write lock) and asks again
//! under it, so of several nodes that find the same key due, one stages and the others find
//! the successor already there. The successor then signs at its recorded instant on every
//! node, like any rotation: nothing more to do at the period's end.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use super::lifecycle::{self, KeyRecord, LifecycleError};
use super::manage::{self, KeysError, Staged};
use super::{KeyRing, SigningAlg};
use crate::admin::audit::{self, Context, Event};
use crate::clock::{self, Clock, UnixTime};
use crate::config::Settings;
use crate::store::Store;

/// Who the audit log names for a rotation no one asked for.
pub const ACTOR: &str = "system:key_rotation_period";

/// A node's part in the automatic rotation.
#[derive(Debug)]
pub struct Schedule {
    settings: Arc<Settings>,
    clock: Clock,
    /// When the files of long-retired keys are looked at next.
    next_cleanup: UnixTime,
    /// Per algorithm, the active kid a read-only keys directory was reported for: the warning
    /// comes once per rotation period, not at every rescan.
    warned: HashMap<SigningAlg, String>,
}

impl Schedule {
    pub fn new(settings: Arc<Settings>, clock: Clock) -> Self {
        Self {
            settings,
            clock,
            next_cleanup: 0,
            warned: HashMap::new(),
        }
    }

    /// Stages the successors that are due by the node's `ring`, and sets aside the files of
    /// keys retired long ago (`manage::set_aside_retired`); returns whether it staged any.
    pub async fn tick(&mut self, store: &Store, ring: &KeyRing) -> bool {
        let now = self.clock.now();
        let period = secs(self.settings.key_rotation_period);
        let ahead = secs(self.settings.publish_ahead());
        let records: Vec<KeyRecord> = ring.entries().iter().map(|e| e.record.clone()).collect();
        let mut staged_any = false;
        for alg in SigningAlg::ALL {
            // Asked first of the ring in memory: most rescans end here, without a lock.
            if !lifecycle::rotation_due(&records, alg, now, period, ahead) {
                continue;
            }
            if !writable(&self.settings.keys_dir) {
                self.warn_read_only(&records, alg, now, period);
                continue;
            }
            match manage::rotate_if_due(store, &self.settings, alg, &self.clock).await {
                Ok(staged) => {
                    staged_any = true;
                    tracing::info!(
                        kid = staged.kid,
                        %alg,
                        active_at = %clock::display(staged.active_at),
                        replaces = staged.replaces.as_deref().unwrap_or("-"),
                        "key_rotation_period: staged the next key"
                    );
                    self.audit(store, &staged, now).await;
                }
                // Another node was first.
                Err(KeysError::Lifecycle(
                    LifecycleError::NotDue(_) | LifecycleError::AlreadyStaged { .. },
                )) => {}
                Err(e) => tracing::warn!(error = %e, %alg, "key_rotation_period: cannot rotate"),
            }
        }
        // Hourly at most: on a read-only directory each attempt logs a warning.
        if now >= self.next_cleanup {
            self.next_cleanup = now.saturating_add(3600);
            let set_aside = manage::set_aside_retired(store, &self.settings, now).await;
            if set_aside > 0 {
                tracing::info!(
                    files = set_aside,
                    "set aside the files of long-retired keys"
                );
            }
        }
        staged_any
    }

    fn warn_read_only(
        &mut self,
        records: &[KeyRecord],
        alg: SigningAlg,
        now: UnixTime,
        period: i64,
    ) {
        let Some(active) = records
            .iter()
            .rev()
            .find(|r| r.alg == alg && r.state(now) == lifecycle::KeyState::Active)
        else {
            return;
        };
        if self.warned.get(&alg) == Some(&active.kid) {
            return;
        }
        self.warned.insert(alg, active.kid.clone());
        let ends = active.active_at.unwrap_or(now).saturating_add(period);
        tracing::warn!(
            kid = active.kid,
            %alg,
            keys_dir = %self.settings.keys_dir.display(),
            "key_rotation_period: the {alg} key is due for rotation (its period ends {}) but the \
             keys directory is read-only here; run `tessera keys rotate --alg {alg}` where it is \
             writable, with this node's configuration",
            clock::display(ends),
        );
    }

    async fn audit(&self, store: &Store, staged: &Staged, now: UnixTime) {
        let ctx = Context {
            now,
            ip: None,
            user_agent: None,
            retention_secs: secs(self.settings.audit_retention),
        };
        let event = Event {
            actor: ACTOR,
            action: "key.rotated",
            target: Some(&staged.kid),
            detail: serde_json::to_value(staged).ok(),
        };
        if let Err(e) = audit::record(store, &ctx, event).await {
            tracing::warn!(error = %e, kid = staged.kid, "cannot audit the automatic rotation");
        }
    }
}

/// Whether a key file can be made in `dir` (a probe file under a name no scan lists).
fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".write-probe.{}.tmp", std::process::id()));
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe);
    match made {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        // A probe left behind by a crash: the directory took it, so it is writable.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
