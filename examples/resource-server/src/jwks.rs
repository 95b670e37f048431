//! The issuer's public keys, cached for as long as `/jwks`'s `Cache-Control: max-age` says,
//! and fetched again early when a token names a key the copy lacks (a key that began to sign
//! after an emergency revocation), at most once per `unknown_kid_refetch_every`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use crate::config::Config;

/// A verification key and the one algorithm it verifies: never the token's `alg` alone.
#[derive(Clone)]
pub struct Key {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

struct Copy {
    keys: HashMap<String, Key>,
    fetched_at: Instant,
    fresh_for: Duration,
}

pub struct JwksCache {
    url: String,
    refetch_every: Duration,
    copy: RwLock<Option<Copy>>,
    /// One fetch at a time: a burst of tokens with a new kid makes one request, not many.
    fetching: Mutex<()>,
    fetches: std::sync::atomic::AtomicU64,
}

pub enum Lookup {
    Found(Key),
    Unknown,
}

impl JwksCache {
    pub fn new(config: &Config) -> Self {
        Self {
            url: format!("{}/jwks", config.issuer),
            refetch_every: config.unknown_kid_refetch_every,
            copy: RwLock::new(None),
            fetching: Mutex::new(()),
            fetches: 0.into(),
        }
    }

    /// How many times the JWKS was fetched (the tests read it).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn key(&self, http: &reqwest::Client, kid: &str) -> Lookup {
        let (fresh, known, may_refetch) = {
            let copy = self.copy.read().await;
            match copy.as_ref() {
                Some(c) => (
                    c.fetched_at.elapsed() < c.fresh_for,
                    c.keys.get(kid).cloned(),
                    c.fetched_at.elapsed() >= self.refetch_every,
                ),
                None => (false, None, true),
            }
        };
        match known {
            Some(key) if fresh => return Lookup::Found(key),
            None if fresh && !may_refetch => return Lookup::Unknown,
            _ => {}
        }
        // Stale, or fresh without this kid: fetch (unless another request just did).
        if let Err(e) = self.refresh_if_older_than(http, kid).await {
            // Tessera unreachable: keep verifying with the keys we have.
            tracing::warn!(error = %e, "JWKS fetch failed");
        }
        match self
            .copy
            .read()
            .await
            .as_ref()
            .and_then(|c| c.keys.get(kid).cloned())
        {
            Some(key) => Lookup::Found(key),
            None => Lookup::Unknown,
        }
    }

    async fn refresh_if_older_than(&self, http: &reqwest::Client, kid: &str) -> Result<(), String> {
        let _one = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(c) = self.copy.read().await.as_ref() {
            let age = c.fetched_at.elapsed();
            let fresh = age < c.fresh_for;
            if fresh && (c.keys.contains_key(kid) || age < self.refetch_every) {
                return Ok(());
            }
        }
        self.fetch(http).await
    }

    /// Fetches the JWKS now.
    pub async fn refresh(&self, http: &reqwest::Client) -> Result<(), String> {
        let _one = self.fetching.lock().await;
        self.fetch(http).await
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<(), String> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let res = http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?;
        let fresh_for = max_age(res.headers());
        let set: JwkSet = res.json().await.map_err(|e| e.to_string())?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                // Only the asymmetric algorithms Tessera signs with; the key's type decides.
                let alg = match &jwk.algorithm {
                    AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                        Algorithm::ES256
                    }
                    AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                    _ => return None,
                };
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, Key { key, alg }))
            })
            .collect();
        *self.copy.write().await = Some(Copy {
            keys,
            fetched_at: Instant::now(),
            fresh_for,
        });
        Ok(())
    }

    /// Forgets a key at once (the revocation list said it was revoked after a leak).
    pub async fn forget(&self, kid: &str) {
        if let Some(c) = self.copy.write().await.as_mut() {
            c.keys.remove(kid);
        }
    }
}

/// `Cache-Control: max-age=N` → N seconds; `no-store`/`no-cache` or none → 0 (fetch each time
/// a key is needed, which the unknown-kid limit still bounds).
fn max_age(headers: &reqwest::header::HeaderMap) -> Duration {
    let Some(value) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return Duration::ZERO;
    };
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Duration::ZERO;
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n.trim_matches('"').parse::<u64>().ok();
        }
    }
    Duration::from_secs(age.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> reqwest::header::HeaderMap {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::CACHE_CONTROL, v.parse().unwrap());
        h
    }

    #[test]
    fn max_age_is_read_and_no_store_wins() {
        assert_eq!(
            max_age(&headers("public, max-age=300")),
            Duration::from_secs(300)
        );
        assert_eq!(max_age(&headers("max-age=60, no-cache")), Duration::ZERO);
        assert_eq!(max_age(&headers("public")), Duration::ZERO);
        assert_eq!(max_age(&reqwest::header::HeaderMap::new()), Duration::ZERO);
    }
}
