//! The recorded life of each signing key (`signing_keys`, issue 13), and on PostgreSQL the
//! `NOTIFY` that tells every node to read it again. What the rows mean is `crate::keys`'s
//! business; the private keys themselves are files, never rows.

use sqlx::{Any, FromRow, Transaction};

use super::{Backend, Store, StoreError};
use crate::clock::UnixTime;

/// The PostgreSQL notification channel for key changes (heard on the revocation listener's
/// connection); no payload: a node reads every row again.
pub const KEY_CHANNEL: &str = "tessera_keys";

/// PostgreSQL advisory lock key held by whoever changes the key records (a node adopting key
/// files at start, `tessera keys rotate`, `tessera keys revoke`), so that two of them never
/// decide from the same rows: two rotations at once cannot stage two next keys.
pub const KEY_CHANGE_LOCK: i64 = 0x7465_7373_6b65_7973;

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
    /// Every key record, oldest first: what a node reads at each rescan (a handful of rows).
    #[tracing::instrument(skip(self))]
    pub async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let sql = format!("select {COLUMNS} from signing_keys order by created_at, kid");
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// Whether the key record `kid` says it was revoked. Key records are never deleted, so
    /// this outlives the revocation-list entry (purged once every token it named expired).
    #[tracing::instrument(skip(self))]
    pub async fn key_revoked(&self, kid: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "select 1 as one from signing_keys where kid = $1 and revoked_at is not null",
        )
        .bind(kid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Starts a change to the key records, waiting for any other change to finish first.
    #[tracing::instrument(skip(self))]
    pub async fn begin_key_change(&self) -> Result<KeyChange, StoreError> {
        let tx = match self.backend {
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // `pg_advisory_xact_lock` returns void, which the Any driver cannot decode.
                sqlx::query("select 1 from pg_advisory_xact_lock($1)")
                    .bind(KEY_CHANGE_LOCK)
                    .execute(&mut *tx)
                    .await?;
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
