//! Deleting what traffic leaves behind (issue 11 point 10): one statement per table, each
//! removing at most `limit` rows so that no purge holds a lock for long, and the lock that lets
//! one node at a time run the purge. What is old enough to go is decided in `crate::purge`.

use secrecy::ExposeSecret;
use sqlx::{AnyConnection, Connection};

use super::{Backend, Store, StoreError};
use crate::clock::UnixTime;

/// PostgreSQL advisory lock key held by the node that is purging.
pub const PURGE_LOCK: i64 = 0x7465_7373_7075_7267;

/// Held while one node purges. On PostgreSQL it is a session-level advisory lock on a
/// connection of its own (not the pool's, so the lock can never be left behind on a pooled
/// connection): `release` closes it, and so does dropping it or the process dying, which ends
/// the session and with it the lock. On SQLite (one node) it holds nothing.
#[derive(Debug)]
pub struct PurgeLock {
    conn: Option<AnyConnection>,
}

impl PurgeLock {
    /// Gives the lock back: the next node's purge may run.
    pub async fn release(mut self) -> Result<(), StoreError> {
        if let Some(conn) = self.conn.take() {
            conn.close().await?;
        }
        Ok(())
    }
}

impl Store {
    /// Runs one batch statement (`$1` the cut-off, `$2` the batch size); returns its rows.
    async fn batch(
        &self,
        sql: &'static str,
        cutoff: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(sql)
            .bind(cutoff)
            .bind(limit)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The purge lock, or `None` when another node holds it (that node is purging).
    #[tracing::instrument(skip(self))]
    pub async fn try_purge_lock(&self) -> Result<Option<PurgeLock>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(Some(PurgeLock { conn: None }));
        }
        let mut conn = AnyConnection::connect(self.url.expose_secret()).await?;
        let locked: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
            .bind(PURGE_LOCK)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            Ok(Some(PurgeLock { conn: Some(conn) }))
        } else {
            conn.close().await?;
            Ok(None)
        }
    }

    /// Expired authorization codes, used or not. A used code stays until it expires: a second
    /// redemption before then must still be recognised as a replay (RFC 6749 §4.1.2).
    #[tracing::instrument(skip(self))]
    pub async fn purge_codes_batch(&self, now: UnixTime, limit: i64) -> Result<u64, StoreError> {
        self.batch(
            "delete from authorization_codes where code_hash in \
             (select code_hash from authorization_codes where expires_at <= $1 limit $2)",
            now,
            limit,
        )
        .await
    }

    /// Sessions past their absolute expiry (ended sessions are deleted when they end).
    #[tracing::instrument(skip(self))]
    pub async fn purge_sessions_batch(&self, now: UnixTime, limit: i64) -> Result<u64, StoreError> {
        self.batch(
            "delete from sessions where id_hash in \
             (select id_hash from sessions where expires_at <= $1 limit $2)",
            now,
            limit,
        )
        .await
    }

    /// Session–client links whose session is gone (expired, ended, or its user deleted) and
    /// whose link was made at or before `before`. The caller passes a time at least one
    /// session lifetime ago: a session ends at most that long after its links were made, so a
    /// session that ended a moment ago keeps its links for the back-channel logout that reads
    /// them right after.
    #[tracing::instrument(skip(self))]
    pub async fn purge_session_clients_batch(
        &self,
        before: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.batch(
            "delete from session_clients where sid in \
             (select c.sid from session_clients c \
              where c.created_at <= $1 \
              and not exists (select 1 from sessions s where s.sid = c.sid) limit $2)",
            before,
            limit,
        )
        .await
    }

    /// Forgets up to `limit` sealed successors of tokens used at or before `before`: past the
    /// grace window nothing may unseal them, so none stays for a database copy to attack.
    #[tracing::instrument(skip(self))]
    pub async fn forget_sealed_successors_batch(
        &self,
        before: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.batch(
            "update refresh_tokens set successor_sealed = null where token_hash in \
             (select token_hash from refresh_tokens \
              where successor_sealed is not null and used_at <= $1 limit $2)",
            before,
            limit,
        )
        .await
    }

    /// Up to `limit` families past their absolute expiry, with their tokens (the foreign key
    /// cascades through `refresh_tokens_family_id`): no token of theirs can be used, and a
    /// replay is answered "invalid" whether or not the row is there.
    #[tracing::instrument(skip(self))]
    pub async fn purge_expired_families_batch(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        // One condition per statement: a plain index range scan, which skips the index
        // entries of rows earlier batches deleted, where an `or` would make PostgreSQL use a
        // bitmap scan that visits them all again.
        self.batch(
            "delete from refresh_families where family_id in \
             (select family_id from refresh_families where expires_at <= $1 limit $2)",
            now,
            limit,
        )
        .await
    }

    /// Up to `limit` families revoked at or before `before`, with their tokens.
    #[tracing::instrument(skip(self))]
    pub async fn purge_revoked_families_batch(
        &self,
        before: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.batch(
            "delete from refresh_families where family_id in \
             (select family_id from refresh_families where revoked_at <= $1 limit $2)",
            before,
            limit,
        )
        .await
    }

    /// Unused refresh tokens past their idle expiry, in families still alive: no one can use
    /// them any more. Used tokens stay with their family: presenting one again is reuse, which
    /// must still revoke the family (RFC 9700 §4.14).
    #[tracing::instrument(skip(self))]
    pub async fn purge_idle_refresh_tokens_batch(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.batch(
            "delete from refresh_tokens where token_hash in \
             (select token_hash from refresh_tokens \
              where used_at is null and idle_expires_at <= $1 limit $2)",
            now,
            limit,
        )
        .await
    }

    /// Revocation entries that can no longer match a live token.
    #[tracing::instrument(skip(self))]
    pub async fn purge_revocations_batch(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.batch(
            "delete from revocations where id in \
             (select id from revocations where expires_at <= $1 limit $2)",
            now,
            limit,
        )
        .await
    }

    /// Audit entries older than `before` (the retention).
    #[tracing::instrument(skip(self))]
    pub async fn purge_audit_batch(&self, before: UnixTime, limit: i64) -> Result<u64, StoreError> {
        self.batch(
            "delete from audit_log where id in \
             (select id from audit_log where at < $1 limit $2)",
            before,
            limit,
        )
        .await
    }

    /// Up to `limit` hourly activity counts of hours that started before `before` (the audit
    /// retention).
    #[tracing::instrument(skip(self))]
    pub async fn purge_activity_batch(
        &self,
        before: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.batch(
            "delete from activity_hourly where (hour, kind, client_id) in \
             (select hour, kind, client_id from activity_hourly where hour < $1 limit $2)",
            before,
            limit,
        )
        .await
    }
}
