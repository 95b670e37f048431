//! Settings: defaults, then an optional TOML file, then `TESSERA_*` environment variables.
//!
//! The settings are flat on purpose: every key in the TOML file has exactly one environment
//! variable, `TESSERA_` + the key in capitals, which keeps the README's table honest.

use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
pub use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

/// A configuration problem, worded for the operator: it names the setting and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// The one header trusted proxies write the client's address in. Only that one is read: a
/// proxy that appends to `X-Forwarded-For` passes a client's own `Forwarded` through, and
/// believing whichever is present would let the client choose its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyHeader {
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239.
    #[serde(rename = "forwarded")]
    Forwarded,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The issuer URL: `iss` of every token and the base of every endpoint.
    pub issuer: String,
    /// Address the HTTP server listens on (`host:port`; port 0 picks a free one).
    pub bind: String,
    /// Where the embedded SQLite database lives when `database_url` is not set.
    pub data_dir: PathBuf,
    /// Directory holding the PEM private signing keys.
    pub keys_dir: PathBuf,
    /// A file holding the passphrase of encrypted key files (PKCS#8 `ENCRYPTED PRIVATE KEY`).
    /// When set, new keys are written encrypted; plain files keep working either way.
    pub keys_passphrase_file: Option<PathBuf>,
    /// `postgres://…` or `sqlite://…`. Also read from `DATABASE_URL`.
    pub database_url: Option<String>,
    /// Largest number of pooled database connections (default: 4 per core, at least 4).
    pub database_max_connections: Option<u32>,
    /// How long `serve` and `migrate` keep retrying a database that does not answer at start.
    #[serde(with = "duration")]
    pub database_connect_timeout: Duration,
    /// How long a request waits for a pooled connection before answering 503.
    #[serde(with = "duration")]
    pub database_acquire_timeout: Duration,

    #[serde(with = "duration")]
    pub access_token_ttl: Duration,
    #[serde(with = "duration")]
    pub id_token_ttl: Duration,
    #[serde(with = "duration")]
    pub refresh_token_ttl: Duration,
    #[serde(with = "duration")]
    pub refresh_token_idle_ttl: Duration,
    /// Window in which a refresh token presented twice (two tabs) is not treated as reuse:
    /// the second use gets the same successor back. At most `MAX_REFRESH_TOKEN_GRACE`.
    #[serde(with = "duration")]
    pub refresh_token_grace: Duration,
    #[serde(with = "duration")]
    pub authorization_code_ttl: Duration,
    /// RFC 8628: how long a device code and its user code live (`expires_in`).
    #[serde(with = "duration")]
    pub device_code_ttl: Duration,
    /// RFC 8628 §3.2: the polling interval a device starts with (`interval`).
    #[serde(with = "duration")]
    pub device_poll_interval: Duration,
    /// Live device authorization requests one client may have at once (what anyone who knows
    /// a public client's id can make the server store).
    pub device_max_live_codes_per_client: u32,
    /// Of those, live requests from one address (IPv4) or IPv6 /64, so that one requester
    /// cannot take a public client's whole bound.
    pub device_max_live_codes_per_address: u32,
    /// Wrong user codes one session may enter on /device within `login_failure_window`
    /// before it waits (RFC 8628 §5.1).
    pub device_max_failures: u32,
    /// Wrong user codes one account may enter within the window, whatever its sessions: the
    /// main limit (signing in again gives a new session, not more guesses).
    pub device_max_failures_per_user: u32,
    /// Wrong user codes one client address may enter within the window.
    pub device_max_failures_per_ip: u32,
    #[serde(with = "duration")]
    pub session_ttl: Duration,
    #[serde(with = "duration")]
    pub session_idle_ttl: Duration,
    /// `Cache-Control: max-age` of `/jwks`; keep it shorter than the key pre-publication time.
    #[serde(with = "duration")]
    pub jwks_max_age: Duration,
    /// How long a key staged by `tessera keys rotate` is published before it signs. Default:
    /// `jwks_max_age` + 1h; never less than `jwks_max_age`.
    #[serde(with = "optional_duration")]
    pub key_publish_ahead: Option<Duration>,
    /// How often each node reads the key records and the keys directory again (PostgreSQL
    /// also tells every node at once when they change).
    #[serde(with = "duration")]
    pub key_rescan_interval: Duration,
    /// How long a key signs before the nodes rotate it on their own (`0s`: never). The
    /// successor is staged `publish_ahead` before the period ends, so that it signs then.
    #[serde(with = "duration")]
    pub key_rotation_period: Duration,

    /// Require PKCE (S256) from confidential clients too (public clients always need it).
    pub require_pkce: bool,
    /// Timeout of one back-channel logout delivery to a client (retried twice).
    #[serde(with = "duration")]
    pub backchannel_logout_timeout: Duration,
    /// argon2id parameters (OWASP defaults); hashes are upgraded at the next login when changed.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Failed logins allowed per account and per client IP within `login_failure_window`.
    pub login_max_failures: u32,
    /// Failed logins allowed per client IP within the window (higher: many users share NATs).
    pub login_max_failures_per_ip: u32,
    #[serde(with = "duration")]
    pub login_failure_window: Duration,
    /// Proxies (CIDRs or addresses) whose `Forwarded`/`X-Forwarded-For` name the client's
    /// address. Empty: the TCP peer is the client, and those headers are ignored.
    #[serde(with = "proxies")]
    pub trusted_proxies: Vec<IpNet>,
    /// Which header the trusted proxies write: `x-forwarded-for` (nginx, HAProxy, cloud load
    /// balancers) or `forwarded` (RFC 7239). The other one is ignored.
    pub trusted_proxy_header: ProxyHeader,

    /// How long client authentication may reuse a client it read from the database (0: read
    /// every time). An upper bound only: a removal, secret rotation or edit anywhere (another
    /// node, the console, the CLI) reaches every node's cache within about a second. At most 1h.
    #[serde(with = "duration")]
    pub client_cache_ttl: Duration,
    /// Token requests one client may make per second on this node (0: no limit). Counted in
    /// memory, per node.
    pub token_rate_limit_per_client: u32,
    /// How long a client has to send a request's headers before the connection is closed.
    #[serde(with = "duration")]
    pub client_request_timeout: Duration,
    /// On SIGTERM/SIGINT: how long in-flight requests may take to finish before they are cut.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// Admins must pass a TOTP second factor to use the console (turning it off is logged loudly).
    pub admin_require_totp: bool,
    /// How recent the last sign-in must be for sensitive admin actions (else: sign in again).
    #[serde(with = "duration")]
    pub admin_reauth_window: Duration,
    /// How long audit-log entries (and the console's hourly activity counts) are kept.
    #[serde(with = "duration")]
    pub audit_retention: Duration,
    /// How often each node adds its activity counts (tokens, sign-ins) to the hourly counts
    /// behind the console's charts.
    #[serde(with = "duration")]
    pub audit_issuance_interval: Duration,
    /// How often expired codes, sessions, refresh tokens, throttle counters, revocation
    /// entries, old client changes and old audit entries are deleted (one node at a time).
    #[serde(with = "duration")]
    pub purge_interval: Duration,

    /// DPoP (RFC 9449): how long a proof is accepted after its `iat` (§4.3 point 11); its
    /// `jti` is remembered that long (plus the skew) to refuse replays (§11.1).
    #[serde(with = "duration")]
    pub dpop_proof_lifetime: Duration,
    /// Clock difference tolerated between a client and this server for a proof's `iat`.
    #[serde(with = "duration")]
    pub dpop_clock_skew: Duration,
    /// Require a server nonce (§8) in DPoP proofs at the token endpoint.
    pub dpop_nonce: bool,
    /// How long a DPoP nonce is handed out; each is accepted for that long again after.
    #[serde(with = "duration")]
    pub dpop_nonce_window: Duration,

    /// `tracing` filter, e.g. `info` or `tessera=debug,info`. `RUST_LOG` overrides it.
    pub log_level: String,
    pub log_format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            keys_dir: PathBuf::from("./keys"),
            keys_passphrase_file: None,
            database_url: None,
            database_max_connections: None,
            database_connect_timeout: Duration::from_secs(30),
            database_acquire_timeout: Duration::from_secs(5),
            access_token_ttl: Duration::from_secs(5 * 60),
            id_token_ttl: Duration::from_secs(5 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_token_idle_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_token_grace: Duration::ZERO,
            authorization_code_ttl: Duration::from_secs(60),
            device_code_ttl: Duration::from_secs(10 * 60),
            device_poll_interval: Duration::from_secs(5),
            device_max_live_codes_per_client: 1000,
            device_max_live_codes_per_address: 10,
            device_max_failures: 5,
            device_max_failures_per_user: 10,
            device_max_failures_per_ip: 100,
            session_ttl: Duration::from_secs(12 * 3600),
            session_idle_ttl: Duration::from_secs(2 * 3600),
            jwks_max_age: Duration::from_secs(10 * 60),
            key_publish_ahead: None,
            key_rescan_interval: Duration::from_secs(5),
            key_rotation_period: DEFAULT_KEY_ROTATION_PERIOD,
            require_pkce: true,
            backchannel_logout_timeout: Duration::from_secs(2),
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            login_max_failures: 5,
            login_max_failures_per_ip: 50,
            login_failure_window: Duration::from_secs(15 * 60),
            trusted_proxies: Vec::new(),
            trusted_proxy_header: ProxyHeader::XForwardedFor,
            // Changes are pushed to every node (`client_changes`); the ttl only bounds how long
            // an unchanged row is reused.
            client_cache_ttl: Duration::from_secs(60),
            token_rate_limit_per_client: 1000,
            dpop_proof_lifetime: Duration::from_secs(60),
            dpop_clock_skew: Duration::from_secs(5),
            dpop_nonce: false,
            dpop_nonce_window: Duration::from_secs(5 * 60),
            client_request_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            admin_require_totp: true,
            admin_reauth_window: Duration::from_secs(15 * 60),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            audit_issuance_interval: Duration::from_secs(60),
            purge_interval: Duration::from_secs(5 * 60),
            log_level: "info".into(),
            log_format: LogFormat::Human,
        }
    }
}

/// How long a key signs before it is rotated automatically (about a quarter).
pub const DEFAULT_KEY_ROTATION_PERIOD: Duration = Duration::from_secs(90 * 24 * 3600);

/// What `key_publish_ahead` adds to `jwks_max_age` by default: room for caches between the
/// relying party and Tessera, and for libraries that refresh the JWKS on a schedule of their own.
pub const DEFAULT_PUBLISH_MARGIN: Duration = Duration::from_secs(3600);

/// The longest `client_cache_ttl` allowed.
pub const MAX_CLIENT_CACHE_TTL: Duration = Duration::from_secs(3600);

/// Upper bounds of the key settings: beyond them a typo (`90y` for `90d`) would, for
/// instance, keep a next key from ever signing or a node from ever noticing it is cut off, and
/// the times derived from them would overflow what can be shown or stored.
pub const MAX_JWKS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
pub const MAX_KEY_PUBLISH_AHEAD: Duration = Duration::from_secs(90 * 24 * 3600);
pub const MAX_KEY_ROTATION_PERIOD: Duration = Duration::from_secs(5 * 366 * 24 * 3600);
pub const MAX_KEY_RESCAN_INTERVAL: Duration = Duration::from_secs(3600);

/// The longest `refresh_token_grace` allowed.
pub const MAX_REFRESH_TOKEN_GRACE: Duration = Duration::from_secs(60);

/// Environment variables that start with `TESSERA_` but are not settings.
const NOT_SETTINGS: &[&str] = &["config"];

impl Settings {
    /// Defaults → TOML file (if given) → `TESSERA_*` and `DATABASE_URL` from the environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "--config {}: no such file; give the path of a TOML file (see the README's sample)",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::raw().only(&["DATABASE_URL"])).merge(
            Env::prefixed("TESSERA_")
                .filter(|k| !NOT_SETTINGS.contains(&k.as_str()) && !k.starts_with("test_")),
        );
        let settings: Settings = figment.extract().map_err(|e| {
            let e = e
                .into_iter()
                .next()
                .map(|e| e.to_string())
                .unwrap_or_default();
            ConfigError(format!(
                "{e} (settings are the keys of the README's configuration table; \
                 environment variables are TESSERA_ plus the key in capitals)"
            ))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks that cannot be expressed in types. Every message names the setting and the fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.issuer_url()?;
        self.database()?;
        if self.access_token_ttl.is_zero() || self.access_token_ttl > Duration::from_secs(3600) {
            return Err(ConfigError(
                "TESSERA_ACCESS_TOKEN_TTL must be between 1s and 1h (e.g. 5m)".into(),
            ));
        }
        // Every accepted DPoP proof is remembered for its window (RFC 9449 §11.1): a long one
        // grows that store and lets a captured proof be used late.
        if self.dpop_proof_lifetime.is_zero() || self.dpop_proof_lifetime > Duration::from_secs(600)
        {
            return Err(ConfigError(
                "TESSERA_DPOP_PROOF_LIFETIME must be between 1s and 10m (e.g. 60s)".into(),
            ));
        }
        if self.dpop_clock_skew > Duration::from_secs(300) {
            return Err(ConfigError(
                "TESSERA_DPOP_CLOCK_SKEW must be at most 5m (e.g. 5s)".into(),
            ));
        }
        if self.dpop_nonce_window.is_zero() {
            return Err(ConfigError(
                "TESSERA_DPOP_NONCE_WINDOW must be at least 1s (e.g. 5m)".into(),
            ));
        }
        // A reused refresh token inside the window gets the same successor back; a long window
        // would let a stolen, already used token fetch the live one for that long.
        if self.refresh_token_grace > MAX_REFRESH_TOKEN_GRACE {
            return Err(ConfigError(
                "TESSERA_REFRESH_TOKEN_GRACE must be at most 60s (e.g. 10s, or 0s for none)".into(),
            ));
        }
        // `client_changes` rows are purged after a day (`purge::CLIENT_CHANGE_RETENTION`): no
        // cache entry may outlive them.
        if self.client_cache_ttl > MAX_CLIENT_CACHE_TTL {
            return Err(ConfigError(
                "TESSERA_CLIENT_CACHE_TTL must be at most 1h (e.g. 60s, or 0s for no cache)".into(),
            ));
        }
        // Checked first: `publish_ahead()` adds to `jwks_max_age`.
        for (name, value, max, example) in [
            ("JWKS_MAX_AGE", self.jwks_max_age, MAX_JWKS_MAX_AGE, "10m"),
            (
                "KEY_PUBLISH_AHEAD",
                self.key_publish_ahead.unwrap_or_default(),
                MAX_KEY_PUBLISH_AHEAD,
                "1h 10m",
            ),
            (
                "KEY_ROTATION_PERIOD",
                self.key_rotation_period,
                MAX_KEY_ROTATION_PERIOD,
                "90d",
            ),
            (
                "KEY_RESCAN_INTERVAL",
                self.key_rescan_interval,
                MAX_KEY_RESCAN_INTERVAL,
                "5s",
            ),
        ] {
            if value > max {
                return Err(ConfigError(format!(
                    "TESSERA_{name} ({}) is longer than the most allowed, {} (e.g. {example})",
                    humantime::format_duration(value),
                    humantime::format_duration(max),
                )));
            }
        }
        if self.key_rescan_interval < Duration::from_millis(100) {
            return Err(ConfigError(
                "TESSERA_KEY_RESCAN_INTERVAL must be at least 100ms (e.g. 5s)".into(),
            ));
        }
        // A relying party that fetched the JWKS from the last node to publish a next key (up to
        // one rescan after it was recorded) keeps that copy for jwks_max_age, and the nodes'
        // clocks may differ: the key must not sign before every such copy has expired.
        if let Some(ahead) = self.key_publish_ahead
            && ahead < self.min_publish_ahead()
        {
            return Err(ConfigError(format!(
                "TESSERA_KEY_PUBLISH_AHEAD ({}) is shorter than its minimum, {}: \
                 TESSERA_JWKS_MAX_AGE ({}) + TESSERA_KEY_RESCAN_INTERVAL ({}, rounded up to \
                 seconds) + {}s for clock skew; relying parties that cached the JWKS would \
                 reject tokens signed by a new key; raise it or leave it unset (default: \
                 jwks_max_age + 1h)",
                humantime::format_duration(ahead),
                humantime::format_duration(self.min_publish_ahead()),
                humantime::format_duration(self.jwks_max_age),
                humantime::format_duration(self.key_rescan_interval),
                crate::keys::lifecycle::CLOCK_SKEW_ALLOWANCE,
            )));
        }
        // The successor is staged `publish_ahead` before the period ends: a shorter period
        // would stage it while the key it replaces has not even started signing.
        if !self.key_rotation_period.is_zero() && self.key_rotation_period <= self.publish_ahead() {
            return Err(ConfigError(format!(
                "TESSERA_KEY_ROTATION_PERIOD ({}) must be longer than key_publish_ahead ({}), \
                 or 0s to rotate only by hand",
                humantime::format_duration(self.key_rotation_period),
                humantime::format_duration(self.publish_ahead()),
            )));
        }
        if self.audit_issuance_interval.is_zero() {
            return Err(ConfigError(
                "TESSERA_AUDIT_ISSUANCE_INTERVAL must be at least 1s (e.g. 1m)".into(),
            ));
        }
        if self.device_code_ttl < Duration::from_secs(60)
            || self.device_code_ttl > Duration::from_secs(3600)
        {
            return Err(ConfigError(
                "TESSERA_DEVICE_CODE_TTL must be between 1m and 1h (e.g. 10m)".into(),
            ));
        }
        if self.device_poll_interval < Duration::from_secs(1)
            || self.device_poll_interval > Duration::from_secs(60)
        {
            return Err(ConfigError(
                "TESSERA_DEVICE_POLL_INTERVAL must be between 1s and 60s (e.g. 5s)".into(),
            ));
        }
        if self.purge_interval.is_zero() {
            return Err(ConfigError(
                "TESSERA_PURGE_INTERVAL must be at least 1s (e.g. 5m)".into(),
            ));
        }
        if self.log_level.trim().is_empty() {
            return Err(ConfigError(
                "TESSERA_LOG_LEVEL is empty; use e.g. info or debug".into(),
            ));
        }
        Ok(())
    }

    /// The issuer as a URL: absolute, https unless the host is loopback, no query or fragment.
    pub fn issuer_url(&self) -> Result<Url, ConfigError> {
        let bad = |why: &str| {
            ConfigError(format!(
                "TESSERA_ISSUER '{}' {why}; set it to the public https URL of this server, \
                 e.g. https://id.example.com (http is allowed only for 127.0.0.1/localhost)",
                self.issuer
            ))
        };
        let url = Url::parse(&self.issuer).map_err(|_| bad("is not an absolute URL"))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(bad("uses http on a host that is not loopback")),
            _ => return Err(bad("is not an http(s) URL")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("has no host"));
        }
        Ok(url)
    }

    /// The shortest `key_publish_ahead` allowed: `jwks_max_age` + `key_rescan_interval`
    /// (rounded up to seconds) + the clock-skew allowance, the same wait an early promotion
    /// needs (`keys::lifecycle::promotion_margin`).
    pub fn min_publish_ahead(&self) -> Duration {
        let max_age = i64::try_from(self.jwks_max_age.as_secs()).unwrap_or(i64::MAX);
        let margin = crate::keys::lifecycle::promotion_margin(max_age, self.key_rescan_interval);
        Duration::from_secs(u64::try_from(margin).unwrap_or(u64::MAX))
    }

    /// How long a next key is published before it signs (`key_publish_ahead` or its default).
    pub fn publish_ahead(&self) -> Duration {
        self.key_publish_ahead.unwrap_or_else(|| {
            (self.jwks_max_age + DEFAULT_PUBLISH_MARGIN).max(self.min_publish_ahead())
        })
    }

    /// The issuer without a trailing slash, as it appears in `iss`.
    pub fn issuer(&self) -> String {
        self.issuer.trim_end_matches('/').to_string()
    }

    pub fn is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// Which database to use: the configured URL, or an SQLite file in the data directory.
    pub fn database(&self) -> Result<DatabaseUrl, ConfigError> {
        match &self.database_url {
            Some(url) => DatabaseUrl::parse(url),
            None => Ok(DatabaseUrl::SqliteFile(self.data_dir.join("tessera.db"))),
        }
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        None => false,
    }
}

/// A validated database location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(String),
    /// The default: a file that is created (with its directory) when missing.
    SqliteFile(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| {
            ConfigError(format!(
                "DATABASE_URL {why}; use postgres://USER[:PASSWORD]@HOST[:PORT]/DB \
                 or sqlite://PATH (or leave it unset for an SQLite file in TESSERA_DATA_DIR)"
            ))
        };
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let url = Url::parse(raw).map_err(|e| bad(&format!("is not a valid URL ({e})")))?;
            if url.host_str().is_none_or(str::is_empty) && !raw.contains("host=") {
                return Err(bad("names no host"));
            }
            Ok(Self::Postgres(raw.to_string()))
        } else if raw.starts_with("sqlite:") {
            if raw == "sqlite:" || raw == "sqlite://" {
                return Err(bad("names no SQLite file"));
            }
            Ok(Self::Sqlite(raw.to_string()))
        } else {
            Err(bad("must start with postgres://, postgresql:// or sqlite:"))
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// Durations are written `300s`, `5m`, `12h`, `30d`; a bare number means seconds.
mod duration {
    use super::*;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom),
        }
    }

    pub fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        if let Ok(secs) = t.parse::<u64>() {
            return Ok(Duration::from_secs(secs));
        }
        humantime::parse_duration(t)
            .map_err(|_| format!("'{t}' is not a duration; write e.g. 300s, 5m, 12h or 30d"))
    }
}

pub use duration::parse as parse_duration;

/// A duration that may be left unset (its default then follows other settings).
mod optional_duration {
    use super::*;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Secs(s)) => Ok(Some(Duration::from_secs(s))),
            Some(Raw::Text(t)) => duration::parse(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// `trusted_proxies`: a list, or one string of CIDRs separated by commas or spaces (the form an
/// environment variable takes). A bare address means just that address.
mod proxies {
    use super::*;

    pub fn serialize<S: serde::Serializer>(nets: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(nets.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let items = match Raw::deserialize(d)? {
            Raw::One(text) => vec![text],
            Raw::Many(list) => list,
        };
        items
            .iter()
            .flat_map(|item| item.split([',', ' ']))
            .filter(|item| !item.trim().is_empty())
            .map(|item| parse(item.trim()).map_err(serde::de::Error::custom))
            .collect()
    }

    pub fn parse(text: &str) -> Result<IpNet, String> {
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map(|net| net.trunc())
            .map_err(|_| {
                format!(
                    "trusted_proxies: '{text}' is not a CIDR or an address; write e.g. \
                     10.0.0.0/8 or 2001:db8::/32"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_must_be_https_unless_loopback() {
        let with = |issuer: &str| Settings {
            issuer: issuer.into(),
            ..Settings::default()
        };
        assert!(with("https://id.example.com").validate().is_ok());
        assert!(with("http://localhost:8080").validate().is_ok());
        assert!(with("http://[::1]:8080").validate().is_ok());
        assert!(with("http://id.example.com").validate().is_err());
        assert!(with("id.example.com").validate().is_err());
        assert!(with("https://id.example.com/?a=b").validate().is_err());
        assert!(with("ftp://127.0.0.1").validate().is_err());
    }

    #[test]
    fn database_urls_are_recognised_by_scheme() {
        assert!(DatabaseUrl::parse("postgres://u@h/db").is_ok_and(|d| d.is_postgres()));
        assert!(DatabaseUrl::parse("sqlite://x.db").is_ok_and(|d| !d.is_postgres()));
        assert!(DatabaseUrl::parse("mysql://u@h/db").is_err());
        assert!(DatabaseUrl::parse("postgres://").is_err());
        assert!(DatabaseUrl::parse("sqlite:").is_err());
    }

    #[test]
    fn trusted_proxies_accept_cidrs_and_bare_addresses_and_refuse_the_rest() {
        assert_eq!(
            proxies::parse("10.1.2.3/8").map(|n| n.to_string()),
            Ok("10.0.0.0/8".to_string())
        );
        assert_eq!(
            proxies::parse("::1").map(|n| n.to_string()),
            Ok("::1/128".to_string())
        );
        assert!(proxies::parse("proxy.example.com").is_err());
        assert!(proxies::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn keys_are_published_at_least_jwks_max_age_before_they_sign() {
        let with = |ahead: Option<u64>, max_age: u64| Settings {
            key_publish_ahead: ahead.map(Duration::from_secs),
            jwks_max_age: Duration::from_secs(max_age),
            ..Settings::default()
        };
        assert_eq!(with(None, 600).publish_ahead(), Duration::from_secs(4200));
        // jwks_max_age + the rescan interval (5s) + 30s for clock skew.
        assert!(with(Some(635), 600).validate().is_ok());
        for short in [634, 600, 599] {
            let err = with(Some(short), 600).validate().expect_err("too short");
            assert!(
                err.0.contains("TESSERA_KEY_PUBLISH_AHEAD") && err.0.contains("10m 35s"),
                "{err}"
            );
        }
        assert_eq!(
            with(Some(900), 600).publish_ahead(),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert!(parse_duration("five").is_err());
    }
}
