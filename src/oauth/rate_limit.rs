//! Per-client rate limit of the token endpoint: a fixed one-second window per client, in memory
//! on each node (N nodes allow up to N times the limit). It counts authenticated clients only,
//! so that nobody can spend another client's budget by sending its id with a wrong secret.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::UnixTime;

/// Clients tracked before stale windows are swept (bounded by the registered clients anyway).
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct ClientRateLimiter {
    per_second: u32,
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    second: UnixTime,
    count: u32,
}

impl ClientRateLimiter {
    /// `per_second` 0 turns the limit off.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `client_id` at `now`; `Err(retry_after_secs)` when over the limit.
    pub fn check(&self, client_id: &str, now: UnixTime) -> Result<(), u64> {
        if self.per_second == 0 {
            return Ok(());
        }
        // A poisoned lock only means another request panicked mid-update: keep counting.
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = windows.get_mut(client_id) {
            if w.second != now {
                *w = Window {
                    second: now,
                    count: 0,
                };
            }
            w.count = w.count.saturating_add(1);
            return if w.count > self.per_second {
                Err(1)
            } else {
                Ok(())
            };
        }
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| w.second == now);
        }
        windows.insert(
            client_id.to_string(),
            Window {
                second: now,
                count: 1,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_per_second_per_client_then_refuses_until_the_next_second() {
        let limiter = ClientRateLimiter::new(3);
        for _ in 0..3 {
            assert_eq!(limiter.check("a", 100), Ok(()));
        }
        assert_eq!(limiter.check("a", 100), Err(1));
        assert_eq!(limiter.check("b", 100), Ok(()), "clients are counted apart");
        assert_eq!(
            limiter.check("a", 101),
            Ok(()),
            "a new second, a new window"
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = ClientRateLimiter::new(0);
        for _ in 0..10_000 {
            assert_eq!(limiter.check("a", 100), Ok(()));
        }
    }
}
