//! Every SQL statement lives under this module. PostgreSQL and SQLite share one set of portable
//! queries through sqlx's `Any` driver; the two backends differ only in their migrations and in
//! the connection setup below, so no caller ever asks which backend it has.

mod admin;
mod apis;
mod audit;
mod codes;
mod consents;
mod device_codes;
mod device_secrets;
mod dpop;
mod family_origins;
mod purge;
mod refresh_tokens;
mod sessions;
mod stats;
mod throttle;
mod users;

pub use admin::{TotpRow, contains_pattern};
pub use apis::{ApiRole, ApiRow, ClientApisChange};
pub use audit::{AuditEntry, AuditFilter, NewAuditEntry};
pub use codes::{CodeRow, LiveSession, Redemption};
pub use consents::ConsentRow;
pub use device_codes::{
    DeviceCodeRow, DeviceDecision, DeviceInsert, DeviceRedemption, DeviceState, LiveBounds,
};
pub use device_secrets::{DeviceSecretRow, IssuedDeviceSecret, NativeSsoGrant, NewDeviceSecret};
pub use family_origins::ApiGrant;
pub use purge::{PURGE_LOCK, PurgeLock};
pub use refresh_tokens::{
    FamilyRefused, FamilyRow, MAX_EXCHANGED_FAMILIES, RefreshRow, Rotation, Successor,
};
pub use sessions::{BackchannelTarget, SessionListing, SessionRow};
pub use stats::{ActivityCount, ActivityRow};
pub use users::NewUser;

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use tokio::time::Instant;

use crate::config::DatabaseUrl;

mod clients;
mod revocations;
mod signing_keys;

pub use clients::{CLIENT_CHANGE_LOCK, ClientLinks, Fetched};
pub use revocations::{
    CLIENT_CHANNEL, LISTENER_APPLICATION_NAME, NewRevocation, REVOCATION_CHANNEL,
    REVOCATION_WRITE_LOCK, RevocationRow,
};
pub use signing_keys::{KEY_CHANGE_LOCK, KEY_CHANNEL, KeyChange, KeyRow};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// What a store call can go wrong with, in terms the layers above can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded: answer 503, retry later.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A named unique constraint was violated.
    #[error("conflict on {0}")]
    Conflict(String),
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("unique").to_string())
            }
            // The server is going away or not there yet: connection exceptions (class 08) and
            // admin shutdown, crash shutdown, cannot connect now (57P01–57P03), as a restart or
            // failover sends them on a connection that was alive a moment ago. A 503 with
            // Retry-After, not a 500.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
                }) =>
            {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Other(e),
        }
    }
}

pub struct PoolSettings {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    pub acquire_timeout: Duration,
    /// How long client authentication may use a client row it already read and that has not
    /// changed since (0: always read).
    pub client_cache_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The connection URL, for connections outside the pool (the revocation listener).
    url: secrecy::SecretString,
    client_cache: std::sync::Arc<clients::ClientCache>,
    /// DPoP proofs seen (SQLite only: PostgreSQL keeps them in a table every node shares).
    seen_proofs: std::sync::Arc<dpop::SeenProofs>,
}

impl Store {
    /// How long this node may serve a client row or its API links it read before
    /// (`client_cache_ttl`): a change that a node misses (its notice lost) takes effect there
    /// at most this late.
    pub fn client_cache_ttl(&self) -> Duration {
        self.client_cache.ttl()
    }

    /// Connects, retrying with backoff for `connect_timeout` so that a node started alongside
    /// its database waits for it instead of failing at once.
    pub async fn connect(db: &DatabaseUrl, settings: &PoolSettings) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend) = match db {
            DatabaseUrl::Postgres(url) => (url.clone(), Backend::Postgres),
            DatabaseUrl::Sqlite(url) => (sqlite_url(url), Backend::Sqlite),
            DatabaseUrl::SqliteFile(path) => (sqlite_file_url(path)?, Backend::Sqlite),
        };
        let options: AnyConnectOptions = url.parse()?;
        let pool_options = AnyPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // sqlx pings every connection before it hands it out (test_before_acquire, on by
            // default) and again when it comes back. The first ping costs a round trip per
            // query, but it is what keeps a database restart or failover from failing requests:
            // a connection the server closed is found and replaced before use (tests/api/
            // outage.rs terminates every pooled connection and expects no failed request).
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers proceed during a write; busy_timeout queues writers
                        // instead of failing with "database is locked".
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            });
        let deadline = Instant::now() + settings.connect_timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            match pool_options.clone().connect_with(options.clone()).await {
                Ok(pool) => {
                    return Ok(Self {
                        pool,
                        backend,
                        url: url.into(),
                        client_cache: std::sync::Arc::new(clients::ClientCache::new(
                            settings.client_cache_ttl,
                        )),
                        seen_proofs: std::sync::Arc::default(),
                    });
                }
                Err(e) if Instant::now() + delay < deadline && is_transient(&e) => {
                    tracing::warn!(error = %e, retry_in = ?delay, "database not reachable yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(StoreError::Unavailable(e)),
            }
        }
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self.backend {
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await,
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Readiness: one round trip.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Open and idle connections and the pool's maximum, for `/metrics`.
    pub fn pool_gauges(&self) -> crate::metrics::PoolGauges {
        crate::metrics::PoolGauges {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_)
    ) || matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("57P03"))
}

/// sqlx opens SQLite files read-write but does not create them unless asked.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

fn sqlite_file_url(path: &Path) -> Result<String, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
    }
    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}
