//! Operational metrics in the Prometheus text format (`GET /metrics`). Hand-rolled on atomics:
//! the hot path is one read-locked map look-up and a few relaxed increments per request, with
//! no allocation once a (route, method, status) series exists.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::Method;

use crate::clock::UnixTime;
use crate::keys::{KeyRing, KeyState};

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// What the process counts. One per server, shared by every worker.
#[derive(Debug, Default)]
pub struct Metrics {
    /// route → (method, status) → series. Looked up by `&str` and a cheap `Method` clone.
    http: RwLock<HashMap<String, ByMethodStatus>>,
    tokens: RwLock<HashMap<&'static str, AtomicU64>>,
    logins: RwLock<HashMap<&'static str, AtomicU64>>,
    rate_limited: AtomicU64,
    /// client_id → back-channel logout deliveries given up; at most
    /// `MAX_BACKCHANNEL_CLIENTS` labels, the rest counted under `OTHER_CLIENTS`.
    backchannel_failures: RwLock<HashMap<String, AtomicU64>>,
}

/// How many clients `tessera_backchannel_logout_failures_total` names one by one: a label per
/// client would let a deployment with thousands of clients (or many short-lived ones) grow the
/// series without bound; past this, failures count under `OTHER_CLIENTS`.
pub const MAX_BACKCHANNEL_CLIENTS: usize = 100;
/// The `client` label of the failures of clients past `MAX_BACKCHANNEL_CLIENTS` (no client id
/// holds a space, so it names no client).
pub const OTHER_CLIENTS: &str = "other clients";

type ByMethodStatus = HashMap<(Method, u16), Series>;

/// The labels of one series, for rendering.
struct SeriesKey<'a> {
    route: &'a str,
    method: &'a str,
    status: u16,
}

#[derive(Debug, Default)]
struct Series {
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Per-bucket (not cumulative) counts; the last one is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
}

/// The database pool as `/metrics` shows it.
#[derive(Debug, Clone, Copy)]
pub struct PoolGauges {
    pub size: u32,
    pub idle: usize,
    pub max: u32,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// `route` is the matched pattern (`/token`), never the raw path, so the label set stays
    /// small.
    pub fn observe_request(&self, route: &str, method: &Method, status: u16, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        let record = |s: &Series| {
            s.count.fetch_add(1, Ordering::Relaxed);
            s.sum_micros.fetch_add(micros, Ordering::Relaxed);
            if let Some(b) = s.buckets.get(bucket) {
                b.fetch_add(1, Ordering::Relaxed);
            }
        };
        let key = (method.clone(), status);
        if let Ok(map) = self.http.read()
            && let Some(series) = map.get(route).and_then(|r| r.get(&key))
        {
            record(series);
            return;
        }
        if let Ok(mut map) = self.http.write() {
            record(
                map.entry(route.to_string())
                    .or_default()
                    .entry(key)
                    .or_default(),
            );
        }
    }

    /// A token response was sent for `grant` (the grant_type value, one of the served ones).
    pub fn token_issued(&self, grant: &'static str) {
        count(&self.tokens, grant);
    }

    /// A login attempt ended with `outcome` (`success`, `failure`, `throttled`).
    pub fn login(&self, outcome: &'static str) {
        count(&self.logins, outcome);
    }

    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// A back-channel logout to `client_id` was given up (every attempt failed, or nothing
    /// could sign the logout token).
    pub fn backchannel_logout_failed(&self, client_id: &str) {
        if let Ok(m) = self.backchannel_failures.read()
            && let Some(c) = m.get(client_id)
        {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Ok(mut m) = self.backchannel_failures.write() {
            let label = if m.contains_key(client_id) || m.len() < MAX_BACKCHANNEL_CLIENTS {
                client_id
            } else {
                OTHER_CLIENTS
            };
            m.entry(label.to_string())
                .or_default()
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition format, version 0.0.4.
    pub fn render(&self, pool: PoolGauges) -> String {
        let mut out = String::with_capacity(4096);
        let _ = self.render_http(&mut out);
        let _ = render_counter(
            &mut out,
            "tessera_tokens_issued_total",
            "Token responses sent, by grant type.",
            "grant_type",
            &self.tokens,
        );
        let _ = render_counter(
            &mut out,
            "tessera_logins_total",
            "Login form submissions, by outcome.",
            "outcome",
            &self.logins,
        );
        let _ = render_counter(
            &mut out,
            "tessera_backchannel_logout_failures_total",
            "Back-channel logout deliveries given up after every attempt, by client (at most 100 \
             clients named; the rest as \"other clients\").",
            "client",
            &self.backchannel_failures,
        );
        let _ = writeln!(
            out,
            "# HELP tessera_token_rate_limited_total Token requests refused by the per-client rate limit.\n\
             # TYPE tessera_token_rate_limited_total counter\n\
             tessera_token_rate_limited_total {}",
            self.rate_limited.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP tessera_db_pool_connections Open database connections.\n\
             # TYPE tessera_db_pool_connections gauge\n\
             tessera_db_pool_connections {}\n\
             # HELP tessera_db_pool_idle_connections Idle database connections.\n\
             # TYPE tessera_db_pool_idle_connections gauge\n\
             tessera_db_pool_idle_connections {}\n\
             # HELP tessera_db_pool_max_connections Largest pool size.\n\
             # TYPE tessera_db_pool_max_connections gauge\n\
             tessera_db_pool_max_connections {}",
            pool.size, pool.idle, pool.max
        );
        out
    }

    fn render_http(&self, out: &mut String) -> std::fmt::Result {
        let Ok(map) = self.http.read() else {
            return Ok(());
        };
        let mut series: Vec<(SeriesKey<'_>, &Series)> = map
            .iter()
            .flat_map(|(route, by)| {
                by.iter().map(move |((method, status), s)| {
                    (
                        SeriesKey {
                            route,
                            method: method.as_str(),
                            status: *status,
                        },
                        s,
                    )
                })
            })
            .collect();
        series.sort_by(|a, b| {
            (a.0.route, a.0.method, a.0.status).cmp(&(b.0.route, b.0.method, b.0.status))
        });
        writeln!(
            out,
            "# HELP tessera_http_requests_total HTTP requests answered, by route, method and status."
        )?;
        writeln!(out, "# TYPE tessera_http_requests_total counter")?;
        for (k, s) in &series {
            writeln!(
                out,
                "tessera_http_requests_total{{{}}} {}",
                labels(k),
                s.count.load(Ordering::Relaxed)
            )?;
        }
        writeln!(
            out,
            "# HELP tessera_http_request_duration_seconds Time to answer, by route, method and status."
        )?;
        writeln!(
            out,
            "# TYPE tessera_http_request_duration_seconds histogram"
        )?;
        for (k, s) in &series {
            let l = labels(k);
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i].load(Ordering::Relaxed);
                writeln!(
                    out,
                    "tessera_http_request_duration_seconds_bucket{{{l},le=\"{bound}\"}} {cumulative}"
                )?;
            }
            cumulative += s.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            writeln!(
                out,
                "tessera_http_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {cumulative}"
            )?;
            writeln!(
                out,
                "tessera_http_request_duration_seconds_sum{{{l}}} {}",
                s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            )?;
            writeln!(
                out,
                "tessera_http_request_duration_seconds_count{{{l}}} {cumulative}"
            )?;
        }
        Ok(())
    }
}

fn count(map: &RwLock<HashMap<&'static str, AtomicU64>>, key: &'static str) {
    if let Ok(m) = map.read()
        && let Some(c) = m.get(key)
    {
        c.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if let Ok(mut m) = map.write() {
        m.entry(key).or_default().fetch_add(1, Ordering::Relaxed);
    }
}

/// `tessera_signing_key_age_seconds{kid, alg}`: for each key that signs at `now`, how long it
/// has signed (since its recorded activation, the instant `key_rotation_period` counts from),
/// so an alert can fire when a rotation is overdue.
pub fn render_key_ages(ring: &KeyRing, now: UnixTime) -> String {
    let mut out = String::from(
        "# HELP tessera_signing_key_age_seconds Seconds since each active signing key began signing.\n\
         # TYPE tessera_signing_key_age_seconds gauge\n",
    );
    for entry in ring.entries() {
        let record = &entry.record;
        if record.state(now) != KeyState::Active {
            continue;
        }
        let age = now.saturating_sub(record.active_at.unwrap_or(record.created_at));
        // Kids are base64url thumbprints; escaped anyway, as every label value.
        let kid = escape(&record.kid);
        let _ = writeln!(
            out,
            "tessera_signing_key_age_seconds{{kid=\"{kid}\",alg=\"{}\"}} {}",
            record.alg,
            age.max(0)
        );
    }
    // A cluster-wide gap (`/readyz` does not fail for it): an algorithm nothing signs for.
    out.push_str(
        "# HELP tessera_signing_alg_without_signer 1 for an algorithm no key signs for (revoked \
         with no successor: run `tessera keys rotate --alg ALG`).\n\
         # TYPE tessera_signing_alg_without_signer gauge\n",
    );
    for alg in crate::keys::SigningAlg::ALL {
        let _ = writeln!(
            out,
            "tessera_signing_alg_without_signer{{alg=\"{alg}\"}} {}",
            u8::from(ring.for_alg(alg).is_none())
        );
    }
    out
}

fn render_counter<K: AsRef<str> + Ord>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    map: &RwLock<HashMap<K, AtomicU64>>,
) -> std::fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} counter")?;
    let Ok(m) = map.read() else { return Ok(()) };
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in entries {
        writeln!(
            out,
            "{name}{{{label}=\"{}\"}} {}",
            escape(k.as_ref()),
            v.load(Ordering::Relaxed)
        )?;
    }
    Ok(())
}

/// A label value as the text format writes it (`\`, `"` and newlines escaped).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Label values come from route patterns and method names; escape them anyway (the format
/// escapes `\`, `"` and newlines).
fn labels(k: &SeriesKey<'_>) -> String {
    format!(
        "route=\"{}\",method=\"{}\",status=\"{}\"",
        escape(k.route),
        escape(k.method),
        k.status
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::new();
        m.observe_request("/token", &Method::POST, 200, Duration::from_micros(800));
        m.observe_request("/token", &Method::POST, 200, Duration::from_millis(30));
        m.observe_request("/token", &Method::POST, 429, Duration::from_millis(1));
        m.token_issued("client_credentials");
        let text = m.render(PoolGauges {
            size: 3,
            idle: 2,
            max: 8,
        });
        assert!(text.contains(
            r#"tessera_http_requests_total{route="/token",method="POST",status="200"} 2"#
        ));
        assert!(text.contains(
            r#"tessera_http_request_duration_seconds_bucket{route="/token",method="POST",status="200",le="0.001"} 1"#
        ));
        assert!(text.contains(
            r#"tessera_http_request_duration_seconds_bucket{route="/token",method="POST",status="200",le="0.05"} 2"#
        ));
        assert!(text.contains(r#"tessera_tokens_issued_total{grant_type="client_credentials"} 1"#));
        assert!(text.contains("tessera_db_pool_idle_connections 2"));
    }

    #[test]
    fn backchannel_failures_name_at_most_a_bounded_number_of_clients() {
        let m = Metrics::new();
        m.backchannel_logout_failed("web\"app");
        m.backchannel_logout_failed("web\"app");
        for i in 1..MAX_BACKCHANNEL_CLIENTS + 5 {
            m.backchannel_logout_failed(&format!("c{i}"));
        }
        let text = m.render(PoolGauges {
            size: 1,
            idle: 1,
            max: 1,
        });
        assert!(text.contains(r#"tessera_backchannel_logout_failures_total{client="web\"app"} 2"#));
        assert!(text.contains(r#"tessera_backchannel_logout_failures_total{client="c1"} 1"#));
        assert!(
            text.contains(r#"tessera_backchannel_logout_failures_total{client="other clients"} 5"#)
        );
        let series = text
            .lines()
            .filter(|l| l.starts_with("tessera_backchannel_logout_failures_total{"))
            .count();
        assert_eq!(series, MAX_BACKCHANNEL_CLIENTS + 1);
    }
}
