//! The numbers behind the dashboard and a client's page (issue 15), read from the hourly
//! activity counts every node adds to (`admin::activity`): tokens issued by grant per hour for
//! a day and per six hours for a week, sign-ins by outcome per hour, and the hourly samples of
//! active sessions and live revocations.

use std::collections::{BTreeMap, BTreeSet};

use crate::admin::activity::{
    GAUGE_REVOCATIONS, GAUGE_SESSIONS, HOUR, LoginOutcome, TOKEN_PREFIX, hour_of,
};
use crate::admin::charts::{Bucket, Chart, ChartData, Layout, Series};
use crate::clock::UnixTime;
use crate::store::{ActivityRow, Store, StoreError};

/// The week's chart has buckets of this many seconds (28 of them).
pub const WEEK_BUCKET: i64 = 6 * HOUR;
const DAY_BUCKETS: i64 = 24;
const WEEK_BUCKETS: i64 = 28;

/// What the dashboard shows beside its counts of users, clients, sessions and revocations.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Tokens issued since the current hour began, by every node.
    pub tokens_this_hour: u64,
    /// The same by grant, by grant name.
    pub tokens_by_grant: Vec<(String, u64)>,
    /// Tokens per hour by grant, last 24 hours (`chart-tokens-24h`).
    pub tokens_day: Chart,
    /// Tokens per six hours by grant, last 7 days (`chart-tokens-7d`).
    pub tokens_week: Chart,
    /// Sign-ins per hour by outcome, last 24 hours (`chart-logins-24h`).
    pub logins_day: Chart,
    /// Active sessions and live revocations, sampled hourly, last 24 hours (`chart-gauges`).
    pub gauges_day: Chart,
}

impl Dashboard {
    pub fn charts(&self) -> [&Chart; 4] {
        [
            &self.tokens_day,
            &self.tokens_week,
            &self.logins_day,
            &self.gauges_day,
        ]
    }
}

/// The dashboard's numbers at `now`.
pub async fn dashboard(store: &Store, now: UnixTime) -> Result<Dashboard, StoreError> {
    let week = buckets(now, WEEK_BUCKET, WEEK_BUCKETS);
    let day = buckets(now, HOUR, DAY_BUCKETS);
    let since = week.first().map_or(now, |b| b.start);
    let rows = store.activity_since(since).await?;

    let this_hour = hour_of(now);
    let tokens_by_grant: BTreeMap<String, u64> = rows
        .iter()
        .filter(|r| r.hour == this_hour)
        .filter_map(|r| Some((r.kind.strip_prefix(TOKEN_PREFIX)?, count(r))))
        .fold(BTreeMap::new(), |mut m, (grant, n)| {
            *m.entry(grant.to_string()).or_default() += n;
            m
        });

    let sign_ins: Vec<(String, String)> = LoginOutcome::ALL
        .iter()
        .map(|o| (o.kind().to_string(), o.label().to_string()))
        .collect();
    let gauges = vec![
        (GAUGE_SESSIONS.to_string(), "active sessions".to_string()),
        (
            GAUGE_REVOCATIONS.to_string(),
            "live revocations".to_string(),
        ),
    ];
    Ok(Dashboard {
        tokens_this_hour: tokens_by_grant.values().sum(),
        tokens_by_grant: tokens_by_grant.into_iter().collect(),
        tokens_day: Chart::new(
            "chart-tokens-24h",
            "Tokens issued per hour by grant, last 24 hours",
            tokens(&rows, day.clone(), HOUR),
            Layout::Stacked,
        ),
        tokens_week: Chart::new(
            "chart-tokens-7d",
            "Tokens issued per 6 hours by grant, last 7 days",
            tokens(&rows, week, WEEK_BUCKET),
            Layout::Stacked,
        ),
        logins_day: Chart::new(
            "chart-logins-24h",
            "Sign-ins per hour by outcome, last 24 hours",
            summed(&rows, day.clone(), HOUR, &sign_ins),
            Layout::Stacked,
        ),
        gauges_day: Chart::new(
            "chart-gauges",
            "Active sessions and live revocations, sampled hourly, last 24 hours",
            sampled(&rows, day, &gauges),
            Layout::Grouped,
        ),
    })
}

/// Tokens issued per hour by grant to `client_id` over the last 24 hours
/// (`chart-client-tokens`).
pub async fn client(store: &Store, client_id: &str, now: UnixTime) -> Result<Chart, StoreError> {
    let day = buckets(now, HOUR, DAY_BUCKETS);
    let since = day.first().map_or(now, |b| b.start);
    let rows = store.client_activity_since(client_id, since).await?;
    Ok(Chart::new(
        "chart-client-tokens",
        &format!("Tokens issued to {client_id} per hour by grant, last 24 hours"),
        tokens(&rows, day, HOUR),
        Layout::Stacked,
    ))
}

fn count(r: &ActivityRow) -> u64 {
    u64::try_from(r.count).unwrap_or(0)
}

/// `n` buckets of `width` seconds, the last one holding `now`. Hourly buckets are labelled
/// `HH:00`; wider ones only at midnight, `MM-DD`.
fn buckets(now: UnixTime, width: i64, n: i64) -> Vec<Bucket> {
    let last = now.div_euclid(width) * width;
    (0..n)
        .map(|i| {
            let start = last - (n - 1 - i) * width;
            let b = Bucket {
                start,
                label: String::new(),
            };
            let t = b.datetime();
            let label = if width == HOUR {
                t.get(11..16).unwrap_or("").to_string()
            } else if start.rem_euclid(24 * HOUR) == 0 {
                t.get(5..10).unwrap_or("").to_string()
            } else {
                String::new()
            };
            Bucket { label, ..b }
        })
        .collect()
}

/// The bucket index of an hour, if it falls in `buckets` of `width`.
fn index(buckets: &[Bucket], width: i64, hour: UnixTime) -> Option<usize> {
    let first = buckets.first()?.start;
    if hour < first {
        return None;
    }
    let i = usize::try_from((hour - first) / width).ok()?;
    (i < buckets.len()).then_some(i)
}

/// One series per grant seen in the window, by grant name.
fn tokens(rows: &[ActivityRow], buckets: Vec<Bucket>, width: i64) -> ChartData {
    let grants: BTreeSet<&str> = rows
        .iter()
        .filter(|r| index(&buckets, width, r.hour).is_some())
        .filter_map(|r| r.kind.strip_prefix(TOKEN_PREFIX))
        .collect();
    let kinds: Vec<(String, String)> = grants
        .into_iter()
        .map(|g| (format!("{TOKEN_PREFIX}{g}"), g.to_string()))
        .collect();
    summed(rows, buckets, width, &kinds)
}

/// How rows of one kind that fall in one bucket make its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fold {
    /// Added up; 0 where there are none (counts).
    Sum,
    /// The (only) sample; `None` for an hour no node sampled (gauges).
    Sample,
}

/// A series per (kind, name), of counts added up per bucket.
fn summed(
    rows: &[ActivityRow],
    buckets: Vec<Bucket>,
    width: i64,
    kinds: &[(String, String)],
) -> ChartData {
    folded(rows, buckets, width, kinds, Fold::Sum)
}

/// A series per (kind, name), of hourly samples.
fn sampled(rows: &[ActivityRow], buckets: Vec<Bucket>, kinds: &[(String, String)]) -> ChartData {
    folded(rows, buckets, HOUR, kinds, Fold::Sample)
}

fn folded(
    rows: &[ActivityRow],
    buckets: Vec<Bucket>,
    width: i64,
    kinds: &[(String, String)],
    fold: Fold,
) -> ChartData {
    let series = kinds
        .iter()
        .map(|(kind, name)| {
            let empty = (fold == Fold::Sum).then_some(0u64);
            let mut values = vec![empty; buckets.len()];
            for r in rows.iter().filter(|r| &r.kind == kind) {
                if let Some(v) = index(&buckets, width, r.hour).and_then(|i| values.get_mut(i)) {
                    *v = Some(match fold {
                        Fold::Sum => v.unwrap_or(0) + count(r),
                        Fold::Sample => count(r),
                    });
                }
            }
            Series {
                name: name.clone(),
                values,
            }
        })
        .collect();
    ChartData {
        bucket_secs: width,
        buckets,
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2025-12-02 03:25:00 UTC
    const NOW: UnixTime = 1_764_645_900;

    fn row(hour: UnixTime, kind: &str, count: i64) -> ActivityRow {
        ActivityRow {
            hour,
            kind: kind.into(),
            count,
        }
    }

    #[test]
    fn a_day_is_24_hours_ending_with_this_one() {
        let day = buckets(NOW, HOUR, 24);
        assert_eq!(day.len(), 24);
        assert_eq!(day[23].start, hour_of(NOW));
        assert_eq!(day[23].label, "03:00");
        assert_eq!(day[0].label, "04:00");
        let week = buckets(NOW, WEEK_BUCKET, 28);
        assert_eq!(week[27].start, NOW.div_euclid(WEEK_BUCKET) * WEEK_BUCKET);
        assert_eq!(week[27].label, "12-02");
        assert_eq!(week[26].label, "", "18:00 the day before");
    }

    #[test]
    fn tokens_are_summed_per_bucket_and_grant() {
        let h = hour_of(NOW);
        let rows = vec![
            row(h, "token:client_credentials", 3),
            row(h, "token:refresh_token", 1),
            row(h - HOUR, "token:client_credentials", 2),
            row(h - 6 * HOUR, "token:client_credentials", 5),
            row(h - 30 * HOUR, "token:authorization_code", 7),
            row(h, "login:failed", 9),
        ];
        let day = tokens(&rows, buckets(NOW, HOUR, 24), HOUR);
        let names: Vec<_> = day.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["client_credentials", "refresh_token"],
            "in the window only"
        );
        assert_eq!(day.series[0].values[23], Some(3));
        assert_eq!(day.series[0].values[22], Some(2));
        assert_eq!(day.series[0].values[17], Some(5));
        assert_eq!(day.series[1].values[0], Some(0));
        let week = tokens(&rows, buckets(NOW, WEEK_BUCKET, 28), WEEK_BUCKET);
        let names: Vec<_> = week.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["authorization_code", "client_credentials", "refresh_token"]
        );
        // 03:00 and 02:00 fall in the 00:00–06:00 bucket, 21:00 the day before in its 18:00
        // one, and 21:00 two days before five buckets earlier.
        assert_eq!(week.series[1].values[27], Some(5));
        assert_eq!(week.series[1].values[26], Some(5));
        assert_eq!(week.series[0].values[22], Some(7));
    }

    #[test]
    fn an_hour_without_a_sample_is_not_zero() {
        let h = hour_of(NOW);
        let rows = vec![
            row(h, GAUGE_SESSIONS, 4),
            row(h - 2 * HOUR, GAUGE_SESSIONS, 6),
        ];
        let kinds = vec![(GAUGE_SESSIONS.to_string(), "sessions".to_string())];
        let data = sampled(&rows, buckets(NOW, HOUR, 24), &kinds);
        assert_eq!(data.series[0].values[23], Some(4));
        assert_eq!(data.series[0].values[22], None);
        assert_eq!(data.series[0].values[21], Some(6));
    }
}

/// The dashboard: counts of what exists now, and the activity charts.
#[derive(Debug, Clone)]
pub struct Overview {
    pub users: i64,
    pub clients: i64,
    pub sessions: i64,
    pub revocations: usize,
    pub activity: Dashboard,
}

impl crate::admin::Admin<'_> {
    pub async fn overview(&self) -> Result<Overview, crate::admin::AdminError> {
        let now = self.clock.now();
        Ok(Overview {
            users: self.store.count_users().await?,
            clients: self.store.count_clients().await?,
            sessions: self
                .store
                .count_live_sessions(now, now - self.policy.session_idle_secs)
                .await?,
            revocations: self.revocations.len(),
            activity: dashboard(self.store, now).await?,
        })
    }

    /// Whether anyone could sign in yet: before the first user, the console says how to create
    /// the first administrator instead of showing a login form.
    pub async fn has_users(&self) -> Result<bool, crate::admin::AdminError> {
        Ok(self.store.has_users().await?)
    }
}
