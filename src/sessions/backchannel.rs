//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.5): when a session ends, each
//! client that took part in it and registered a `backchannel_logout_uri` receives a signed
//! logout token. Delivery runs in the background with a short timeout and bounded retries, so
//! a slow or dead client never holds up the logout.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::clock::UnixTime;
use crate::keys::{LiveKeys, SigningAlg};
use crate::metrics::Metrics;
use crate::store::{BackchannelTarget, Store};
use crate::tokens::logout_token;

const ATTEMPTS: u32 = 3;

#[derive(Clone, Debug)]
pub struct Backchannel {
    http: reqwest::Client,
    /// None only in a command run where no node has created keys yet (so no session exists).
    keys: Option<LiveKeys>,
    /// How long the node may go without reading the key records before it signs nothing
    /// (`keys::manage::max_unsynced`): logout tokens keep the same cut-off as `/token`.
    max_unsynced: Duration,
    issuer: String,
    /// Deliveries still running, kept only by a short-lived process (the CLI) that must wait
    /// for them before it exits; a server lets them run.
    pending: Option<Arc<Mutex<Vec<JoinHandle<()>>>>>,
    /// Where a server counts the deliveries it gave up (`/metrics`); a command has none.
    metrics: Option<Arc<Metrics>>,
}

impl Backchannel {
    pub fn new(keys: LiveKeys, issuer: String, timeout: Duration) -> Self {
        Self::with_keys(Some(keys), issuer, timeout)
    }

    /// Like `new`, for a command that may find no keys.
    pub fn with_keys(keys: Option<LiveKeys>, issuer: String, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            keys,
            // A command loads the records just before it signs; a server sets its cut-off.
            max_unsynced: Duration::MAX,
            issuer,
            pending: None,
            metrics: None,
        }
    }

    /// Signs nothing once the node has not read the key records for `max_unsynced`.
    pub fn cut_off_after(mut self, max_unsynced: Duration) -> Self {
        self.max_unsynced = max_unsynced;
        self
    }

    /// Counts the deliveries given up in `metrics`
    /// (`tessera_backchannel_logout_failures_total`).
    pub fn counting(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// For a command that exits when done: `settle` waits for what `notify` started.
    pub fn awaited(mut self) -> Self {
        self.pending = Some(Arc::default());
        self
    }

    /// Waits for the deliveries started so far (only those of an `awaited` channel).
    pub async fn settle(&self) {
        let Some(pending) = &self.pending else { return };
        let handles = std::mem::take(&mut *pending.lock().unwrap_or_else(PoisonError::into_inner));
        futures_util::future::join_all(handles).await;
    }

    /// Starts the deliveries for a session that just ended and returns at once.
    pub fn notify(&self, store: &Store, sid: &str, sub: &str, now: UnixTime) {
        let this = self.clone();
        let store = store.clone();
        let (sid, sub) = (sid.to_string(), sub.to_string());
        let task = tokio::spawn(async move {
            let targets = match store.backchannel_targets(&sid).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, %sid, "back-channel logout: cannot list clients");
                    return;
                }
            };
            let deliveries = targets
                .iter()
                .map(|target| this.deliver(target, &sub, &sid, now));
            futures_util::future::join_all(deliveries).await;
        });
        if let Some(pending) = &self.pending {
            pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(task);
        }
    }

    async fn deliver(&self, target: &BackchannelTarget, sub: &str, sid: &str, now: UnixTime) {
        if !self.try_deliver(target, sub, sid, now).await {
            // The client keeps a session the user ended: say so once, and count it, so that
            // an operator sees a client whose logout endpoint is down (the token itself, a
            // bearer of the logout, is never logged).
            tracing::warn!(
                client_id = %target.client_id,
                attempts = ATTEMPTS,
                "back-channel logout given up: the client was not told the session ended"
            );
            if let Some(metrics) = &self.metrics {
                metrics.backchannel_logout_failed(&target.client_id);
            }
        }
    }

    /// Whether the client acknowledged the logout token.
    async fn try_deliver(
        &self,
        target: &BackchannelTarget,
        sub: &str,
        sid: &str,
        now: UnixTime,
    ) -> bool {
        let (client_id, uri) = (target.client_id.as_str(), target.uri.as_str());
        // The client verifies logout tokens with the algorithm it registered for our tokens
        // (OIDC Back-Channel Logout §2.4 signs them like ID tokens).
        // The one signing path `/token` takes too: the cut-off (a node that may hold a revoked
        // key signs nothing) and never a kid the node's revocation list holds revoked.
        let alg = SigningAlg::parse(&target.signing_alg).unwrap_or_default();
        let keys = match &self.keys {
            Some(keys) => keys.for_signing(self.max_unsynced, &[alg]).await,
            None => None,
        };
        let Some(keys) = keys else {
            tracing::warn!(client_id, "back-channel logout: no key may sign now");
            return false;
        };
        let Some(key) = keys.for_alg(alg) else {
            tracing::warn!(client_id, %alg, "back-channel logout: no key signs for this algorithm now");
            return false;
        };
        let token = match logout_token::mint(key, &self.issuer, client_id, sub, sid, now) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "back-channel logout: cannot sign");
                return false;
            }
        };
        for attempt in 1..=ATTEMPTS {
            let sent = self
                .http
                .post(uri)
                .form(&[("logout_token", token.as_str())])
                .send()
                .await;
            match sent {
                Ok(res) if res.status().is_success() => {
                    tracing::info!(client_id, sid, "back-channel logout delivered");
                    return true;
                }
                Ok(res) => {
                    tracing::warn!(client_id, status = %res.status(), attempt, "back-channel logout refused")
                }
                Err(e) => {
                    tracing::warn!(client_id, error = %e, attempt, "back-channel logout failed")
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
        false
    }
}
