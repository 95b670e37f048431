//! The recorded life of each signing key (`signing_keys`, issue 13), and on PostgreSQL the
//! `NOTIFY` that tells every node to read it again. What the rows mean is `crate::keys`'s
//! business; the private keys themselves are files, never rows.

use sqlx::{Any, FromRow, Transaction};

use super::revocations::NewRevocation;
use super::{Backend, Store, StoreError};
use crate::clock::UnixTime;

/// The PostgreSQL notification channel for key changes (heard on the revocation listener's
/// connection); no payload: a node reads every row again.
pub const KEY_CHANNEL: &str = "tessera_keys";

/// PostgreSQL advisory lock key held by whoever changes the key records (a node adopting key
/// files at start, `tessera keys rotate`, `tessera keys revoke`), so that two of them never
/// decide from the same rows: two rotations at once cannot stage two next keys.
pub const KEY_CHANGE_LOCK: i64 = 0x7465_7373_6b65_7973;

/// What `try_key_change` reports as a busy lock.
const KEY_CHANGE_BUSY: &str = "key change lock";

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub file: String,
    pub created_at: UnixTime,
    pub published_at: UnixTime,
    pub active_at: Option<UnixTime>,
    pub retiring_at: Option<UnixTime>,
    pub retire_after: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
}

const COLUMNS: &str = "kid, alg, file, created_at, published_at, active_at, retiring_at, \
                       retire_after, revoked_at";

/// A change to the key records: one transaction that holds the write lock from its first
/// statement (PostgreSQL: `KEY_CHANGE_LOCK`; SQLite: `BEGIN IMMEDIATE`, so that the rows it
/// reads cannot change before it writes). `commit` announces the change to every node.
pub struct KeyChange {
    tx: Transaction<'static, Any>,
    backend: Backend,
    /// Whether anything was written (only then is there something to announce).
    changed: bool,
}

impl Store {
    /// The signing algorithms that registered clients and APIs use, and the default one
    /// (RS256): what a node must be able to sign with to be ready.
    #[tracing::instrument(skip(self))]
    pub async fn signing_algs_in_use(&self) -> Result<Vec<String>, StoreError> {
        let algs = sqlx::query_scalar(
            "select distinct signing_alg from clients \
             union select distinct signing_alg from apis where signing_alg is not null",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(algs)
    }

    /// Every key record, oldest first: what a node reads at each rescan (a handful of rows).
    #[tracing::instrument(skip(self))]
    pub async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let sql = format!("select {COLUMNS} from signing_keys order by created_at, kid");
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// Starts a change to the key records, waiting for any other change to finish first, but
    /// not forever: a session that holds the lock and hangs (a stuck command, an idle psql
    /// that took it by hand) makes this fail after `lock_timeout` rather than hold a
    /// connection and its caller for good.
    #[tracing::instrument(skip(self))]
    pub async fn begin_key_change(&self) -> Result<KeyChange, StoreError> {
        self.begin_key_change_with(true).await
    }

    /// As `begin_key_change`, but `None` at once when another session holds the lock (the
    /// automatic rotation: another node is at it, or will be at the next tick).
    #[tracing::instrument(skip(self))]
    pub async fn try_key_change(&self) -> Result<Option<KeyChange>, StoreError> {
        match self.begin_key_change_with(false).await {
            Ok(change) => Ok(Some(change)),
            Err(StoreError::Conflict(what)) if what == KEY_CHANGE_BUSY => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn begin_key_change_with(&self, wait: bool) -> Result<KeyChange, StoreError> {
        let tx = match self.backend {
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                if wait {
                    sqlx::raw_sql("set local lock_timeout = '10s'")
                        .execute(&mut *tx)
                        .await?;
                    // `pg_advisory_xact_lock` returns void, which the Any driver cannot decode.
                    sqlx::query("select 1 from pg_advisory_xact_lock($1)")
                        .bind(KEY_CHANGE_LOCK)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    let locked: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock($1)")
                        .bind(KEY_CHANGE_LOCK)
                        .fetch_one(&mut *tx)
                        .await?;
                    if !locked {
                        return Err(StoreError::Conflict(KEY_CHANGE_BUSY.into()));
                    }
                }
                tx
            }
            // A deferred transaction that reads, then writes after another process committed,
            // fails instead of waiting (SQLITE_BUSY_SNAPSHOT): take the write lock up front.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
        };
        Ok(KeyChange {
            tx,
            backend: self.backend,
            changed: false,
        })
    }
}

impl KeyChange {
    /// Every key record, as of this change.
    #[tracing::instrument(skip(self))]
    pub async fn rows(&mut self) -> Result<Vec<KeyRow>, StoreError> {
        let sql = format!("select {COLUMNS} from signing_keys order by created_at, kid");
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows)
    }

    /// Records a key; a kid already recorded is left as it is (`false`).
    #[tracing::instrument(skip_all, fields(kid = %row.kid, alg = %row.alg))]
    pub async fn insert(&mut self, row: &KeyRow) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "insert into signing_keys (kid, alg, file, created_at, published_at, active_at, \
             retiring_at, retire_after, revoked_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             on conflict (kid) do nothing",
        )
        .bind(row.kid.clone())
        .bind(row.alg.clone())
        .bind(row.file.clone())
        .bind(row.created_at)
        .bind(row.published_at)
        .bind(row.active_at)
        .bind(row.retiring_at)
        .bind(row.retire_after)
        .bind(row.revoked_at)
        .execute(&mut *self.tx)
        .await?;
        let inserted = done.rows_affected() == 1;
        self.changed |= inserted;
        Ok(inserted)
    }

    /// Sets a recorded key's times (its kid, algorithm and file never change).
    #[tracing::instrument(skip_all, fields(kid = %row.kid))]
    pub async fn update_times(&mut self, row: &KeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "update signing_keys set active_at = $2, retiring_at = $3, retire_after = $4, \
             revoked_at = $5 where kid = $1",
        )
        .bind(row.kid.clone())
        .bind(row.active_at)
        .bind(row.retiring_at)
        .bind(row.retire_after)
        .bind(row.revoked_at)
        .execute(&mut *self.tx)
        .await?;
        self.changed = true;
        Ok(())
    }

    /// Records the revocation list entry of a revoked key in this change, so that the key's
    /// revoked record and the entry that makes its tokens inactive commit together or not at
    /// all. Returns the entry's id; an entry already there (the key revoked before) is kept
    /// and its id returned. Takes `REVOCATION_WRITE_LOCK` as every revocation insert does
    /// (ids become visible in order; see `Store::insert_revocation`).
    #[tracing::instrument(skip_all, fields(kind = r.kind))]
    pub async fn insert_revocation(&mut self, r: &NewRevocation<'_>) -> Result<i64, StoreError> {
        // The key's exchanged families go with the record, in the store for good.
        let id = super::revocations::insert_revocation_in(&mut self.tx, self.backend, r).await?;
        if let Some(id) = id {
            self.changed = true;
            return Ok(id);
        }
        let id: i64 = sqlx::query_scalar(
            "select id from revocations where kind = $1 and target = $2 \
             and issued_before is null",
        )
        .bind(r.kind.to_string())
        .bind(r.target.to_string())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Commits, and tells every node to read the records again (PostgreSQL delivers the
    /// NOTIFY at commit, never for a change rolled back; SQLite nodes find it at their rescan).
    #[tracing::instrument(skip(self))]
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if self.changed && self.backend == Backend::Postgres {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("notify {KEY_CHANNEL}")))
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}
