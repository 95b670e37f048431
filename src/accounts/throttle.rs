//! Login throttling policy: after `max_failures` failures within the window, each further
//! attempt waits twice as long as the last (30 s, 60 s, …), never past the end of the window.
//! No permanent lock-out: an attacker cannot lock a user out for longer than the window.
//!
//! The store applies the same rule atomically when it reserves an attempt
//! (`Store::reserve_login_attempt`); `retry_after` here only words the answer to a refused one.

use crate::clock::UnixTime;

pub const BASE_DELAY_SECS: i64 = 30;
/// Past this many doublings the delay is the whole window anyway.
pub const MAX_DOUBLINGS: i64 = 20;

/// Failures recorded for one key (an account or a client IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: i64,
    pub window_start: UnixTime,
    pub last_failure: UnixTime,
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_failures: u32,
    pub window_secs: i64,
}

impl Policy {
    /// Seconds the caller must wait before another attempt, if any.
    pub fn retry_after(&self, failures: Option<Failures>, now: UnixTime) -> Option<i64> {
        let f = failures?;
        let window_end = f.window_start + self.window_secs;
        if now >= window_end || f.count < i64::from(self.max_failures) {
            return None;
        }
        let doublings = (f.count - i64::from(self.max_failures)).clamp(0, MAX_DOUBLINGS) as u32;
        let delay = BASE_DELAY_SECS
            .saturating_mul(1 << doublings)
            .min(self.window_secs);
        let until = (f.last_failure + delay).min(window_end);
        (until > now).then_some(until - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        max_failures: 5,
        window_secs: 900,
    };

    fn failures(count: i64, last: UnixTime) -> Option<Failures> {
        Some(Failures {
            count,
            window_start: 1000,
            last_failure: last,
        })
    }

    #[test]
    fn below_the_limit_nothing_waits() {
        assert_eq!(POLICY.retry_after(None, 1000), None);
        assert_eq!(POLICY.retry_after(failures(4, 1010), 1011), None);
    }

    #[test]
    fn at_the_limit_the_delay_doubles() {
        assert_eq!(POLICY.retry_after(failures(5, 1010), 1010), Some(30));
        assert_eq!(POLICY.retry_after(failures(6, 1010), 1010), Some(60));
        assert_eq!(POLICY.retry_after(failures(7, 1010), 1010), Some(120));
        assert_eq!(POLICY.retry_after(failures(5, 1010), 1040), None);
    }

    #[test]
    fn the_window_bounds_every_delay() {
        assert_eq!(POLICY.retry_after(failures(30, 1800), 1800), Some(100));
        assert_eq!(POLICY.retry_after(failures(30, 1800), 1900), None);
    }
}
