//! The only place that reads the wall clock. Protocol code takes `now` from a `Clock`, so tests
//! can pin and advance time instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, the unit of every timestamp in tokens and in the store.
pub type UnixTime = i64;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Seconds added to the system time; shared so a test can move every clone at once.
    offset: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> UnixTime {
        system_now() + self.offset.load(Ordering::Relaxed)
    }

    /// Moves this clock (and all its clones) forward. Tests use it for expiry and windows.
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}

/// A timestamp for people: `2026-11-27 03:16:06 UTC`.
/// Times past the end of year 9999 (which RFC 3339 cannot write) show as that instant.
pub fn display(t: UnixTime) -> String {
    /// 9999-12-31 23:59:59 UTC.
    const LAST: u64 = 253_402_300_799;
    let secs = u64::try_from(t).unwrap_or_default().min(LAST);
    let at = UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

#[allow(
    clippy::disallowed_methods,
    reason = "the one sanctioned read of the wall clock"
)]
fn system_now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_past_year_9999_is_shown_without_a_panic() {
        assert_eq!(display(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(display(i64::MAX), "9999-12-31 23:59:59 UTC");
        assert_eq!(display(253_402_300_800), "9999-12-31 23:59:59 UTC");
        assert_eq!(display(-5), "1970-01-01 00:00:00 UTC");
    }
}
