//! The admin service as a command runs it: over a store it opens, with a revocation list of
//! its own (running nodes learn of what it revokes by NOTIFY or polling) and a back-channel
//! that signs with the keys the nodes use.

use super::CommandError;
use crate::accounts::login::Limits;
use crate::accounts::password::PasswordHasherPool;
use crate::admin::{Admin, Policy};
use crate::clock::Clock;
use crate::config::Settings;
use crate::revocation::RevocationList;
use crate::sessions::Backchannel;
use crate::startup;
use crate::store::Store;

pub struct CliService {
    store: Store,
    revocations: RevocationList,
    backchannel: Backchannel,
    hasher: PasswordHasherPool,
    limits: Limits,
    clock: Clock,
    policy: Policy,
    issuer: String,
}

impl CliService {
    pub async fn open(settings: &Settings, clock: &Clock) -> Result<Self, CommandError> {
        let hasher = PasswordHasherPool::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
        )
        .map_err(|e| CommandError::Failed(e.to_string()))?;
        let store = startup::open_store(settings).await?;
        // Logout tokens are signed with the recorded active keys, as the nodes sign (never a
        // next key). Without keys no node has run yet, so no session (and no client to tell)
        // exists.
        let keys = crate::keys::manage::load(&store, settings, clock).await;
        let backchannel =
            Backchannel::with_keys(keys, settings.issuer(), settings.backchannel_logout_timeout)
                .awaited();
        Ok(Self {
            store,
            revocations: RevocationList::new(),
            backchannel,
            hasher,
            limits: Limits::from_settings(settings),
            clock: clock.clone(),
            policy: Policy::from_settings(settings),
            issuer: settings.issuer(),
        })
    }

    pub fn admin(&self) -> Admin<'_> {
        Admin {
            store: &self.store,
            revocations: &self.revocations,
            backchannel: &self.backchannel,
            hasher: &self.hasher,
            limits: &self.limits,
            clock: &self.clock,
            policy: self.policy,
            issuer: self.issuer.clone(),
        }
    }

    /// Waits for the back-channel logouts under way, then closes the store.
    pub async fn close(self) {
        self.backchannel.settle().await;
        self.store.close().await;
    }
}
