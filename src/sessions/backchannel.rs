//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.5): when a session ends, each
//! client that took part in it and registered a `backchannel_logout_uri` receives a signed
//! logout token. Delivery runs in the background with a short timeout and bounded retries, so
//! a slow or dead client never holds up the logout.

use std::time::Duration;

use crate::clock::UnixTime;
use crate::keys::KeyRing;
use crate::store::Store;
use crate::tokens::logout_token;

const ATTEMPTS: u32 = 3;

#[derive(Clone, Debug)]
pub struct Backchannel {
    http: reqwest::Client,
    keys: KeyRing,
    issuer: String,
}

impl Backchannel {
    pub fn new(keys: KeyRing, issuer: String, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { http, keys, issuer }
    }

    /// Starts the deliveries for a session that just ended and returns at once.
    pub fn notify(&self, store: &Store, sid: &str, sub: &str, now: UnixTime) {
        let this = self.clone();
        let store = store.clone();
        let (sid, sub) = (sid.to_string(), sub.to_string());
        tokio::spawn(async move {
            let targets = match store.backchannel_targets(&sid).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, %sid, "back-channel logout: cannot list clients");
                    return;
                }
            };
            for (client_id, uri) in targets {
                let this = this.clone();
                let (sid, sub) = (sid.clone(), sub.clone());
                tokio::spawn(async move { this.deliver(&client_id, &uri, &sub, &sid, now).await });
            }
        });
    }

    async fn deliver(&self, client_id: &str, uri: &str, sub: &str, sid: &str, now: UnixTime) {
        let token =
            match logout_token::mint(self.keys.active(), &self.issuer, client_id, sub, sid, now) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "back-channel logout: cannot sign");
                    return;
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
                    return;
                }
                Ok(res) => {
                    tracing::warn!(client_id, status = %res.status(), attempt, "back-channel logout refused")
                }
                Err(e) => {
                    tracing::warn!(client_id, error = %e, attempt, "back-channel logout failed")
                }
            }
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }
    }
}
