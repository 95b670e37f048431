//! The revocation list's rows (DESIGN §4), and on PostgreSQL the `LISTEN`/`NOTIFY` channel that
//! tells the other nodes a row was added. What the rows mean is `crate::revocation`'s business.

use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Any, FromRow, Transaction};

use super::{Backend, Store, StoreError};
use crate::clock::UnixTime;

/// The PostgreSQL notification channel; the payload is the new row's id.
pub const REVOCATION_CHANNEL: &str = "tessera_revocations";

/// The PostgreSQL notification channel for client changes (`client_changes`), heard on the
/// same listening connection; the payload is the client id.
pub const CLIENT_CHANNEL: &str = "tessera_client_changes";

/// `application_name` of the listening connection, so operators (and tests) can find it in
/// `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "tessera-revocations";

/// PostgreSQL advisory lock key that orders revocation inserts (see `insert_revocation`). Any
/// other writer of the table must take it too, in the same transaction as its insert.
pub const REVOCATION_WRITE_LOCK: i64 = 0x7465_7373_7276_6c01;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RevocationRow {
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub issued_before: Option<UnixTime>,
    pub revoked_at: UnixTime,
    pub expires_at: UnixTime,
    pub reason: String,
}

/// A row to insert; the store assigns the id.
#[derive(Debug, Clone, Copy)]
pub struct NewRevocation<'a> {
    pub kind: &'a str,
    pub target: &'a str,
    pub issued_before: Option<UnixTime>,
    pub revoked_at: UnixTime,
    pub expires_at: UnixTime,
    pub reason: &'a str,
}

const COLUMNS: &str = "id, kind, target, issued_before, revoked_at, expires_at, reason";

impl Store {
    /// The latest `issued_before` of the `client_api` entries for `key` (`"CLIENT_ID API"`)
    /// still stored: that client's tokens for that API issued until then are revoked.
    #[tracing::instrument(skip(self))]
    pub async fn client_api_revoked_until(
        &self,
        key: &str,
    ) -> Result<Option<UnixTime>, StoreError> {
        let until: Option<UnixTime> = sqlx::query_scalar(
            "select max(issued_before) from revocations where kind = 'client_api' and target = $1",
        )
        .bind(key)
        .fetch_one(&self.pool)
        .await?;
        Ok(until)
    }

    /// Inserts and commits one revocation; returns its id (the cursor), or `None` when the
    /// same token, session or family already has a live entry (`revocations_once`): asking
    /// twice changes nothing, so it writes nothing. An expired entry for the same target (not
    /// purged yet) is replaced by a new row, with a new id that every cursor will see.
    ///
    /// Ids must become visible in order, or a poll by cursor (`id > cursor`) could step over a
    /// row whose transaction was still in flight. A sequence hands ids out before commit, so on
    /// PostgreSQL each insert first takes a transaction-level advisory lock
    /// (`REVOCATION_WRITE_LOCK`), held until its commit: the next id is drawn only after the
    /// previous row is committed, and whoever sees a row sees every lower id too. Revocations
    /// are rare and each holds the lock for one insert, so serializing them costs little; the
    /// other well-known way, paging only below `pg_snapshot_xmin`, would let any long
    /// transaction anywhere in the database (a report, a purge, an idle psql session) hold back
    /// the list on every node, and would change the published cursor. SQLite has one writer,
    /// whose lock is held from the id's assignment to the commit: ids commit in order there.
    #[tracing::instrument(skip_all, fields(kind = r.kind, reason = r.reason))]
    pub async fn insert_revocation(
        &self,
        r: &NewRevocation<'_>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id = insert_revocation_in(&mut tx, self.backend, r).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The entry that already revokes this token, session or family.
    #[tracing::instrument(skip(self))]
    pub async fn revocation_of(
        &self,
        kind: &str,
        target: &str,
    ) -> Result<Option<RevocationRow>, StoreError> {
        let sql = format!(
            "select {COLUMNS} from revocations \
             where kind = $1 and target = $2 and issued_before is null"
        );
        let row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(target)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row)
    }

    /// Tells the other nodes that revocation `id` exists (PostgreSQL `NOTIFY`). SQLite serves
    /// one node, so there is no one to tell.
    #[tracing::instrument(skip(self))]
    pub async fn notify_revocation(&self, id: i64) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        // NOTIFY takes no bind parameters; the payload is an integer, so formatting is safe.
        let sql = format!("notify {REVOCATION_CHANNEL}, '{id}'");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every row that can still match a live token: what a node loads at start.
    #[tracing::instrument(skip(self))]
    pub async fn live_revocations(&self, now: UnixTime) -> Result<Vec<RevocationRow>, StoreError> {
        let sql = format!("select {COLUMNS} from revocations where expires_at > $1 order by id");
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// Rows after `cursor`, oldest first. Ids commit in order (see `insert_revocation`), so no
    /// row can later appear below a cursor taken from rows read here. Expired rows are
    /// included; callers drop them.
    #[tracing::instrument(skip(self))]
    pub async fn revocations_after(&self, cursor: i64) -> Result<Vec<RevocationRow>, StoreError> {
        let sql = format!("select {COLUMNS} from revocations where id > $1 order by id");
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(cursor)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// At most `limit` live rows after `cursor`, oldest first: a page of `GET /revocations`.
    #[tracing::instrument(skip(self))]
    pub async fn live_revocations_after(
        &self,
        cursor: i64,
        now: UnixTime,
        limit: i64,
    ) -> Result<Vec<RevocationRow>, StoreError> {
        let sql = format!(
            "select {COLUMNS} from revocations where id > $1 and expires_at > $2 \
             order by id limit $3"
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(cursor)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// A page of live rows, newest first: the admin console's list.
    #[tracing::instrument(skip(self))]
    pub async fn live_revocations_page(
        &self,
        now: UnixTime,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<RevocationRow>, StoreError> {
        let sql = format!(
            "select {COLUMNS} from revocations where expires_at > $1 \
             order by id desc limit $2 offset $3"
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// PostgreSQL: a dedicated connection (not from the pool) that `LISTEN`s on
    /// `REVOCATION_CHANNEL`, `CLIENT_CHANNEL` and `KEY_CHANNEL`. SQLite: `None`, there are no notifications
    /// (the CLI's writes are found by polling).
    pub async fn revocation_listener(&self) -> Result<Option<PgListener>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let options = PgConnectOptions::from_str(self.url.expose_secret())?
            .application_name(LISTENER_APPLICATION_NAME);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(options)
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener
            .listen_all([REVOCATION_CHANNEL, CLIENT_CHANNEL, super::KEY_CHANNEL])
            .await?;
        Ok(Some(listener))
    }
}

/// Takes `REVOCATION_WRITE_LOCK` in `tx` until it ends (PostgreSQL; SQLite's single writer
/// already orders the inserts). Taking it again in the same transaction is free. A
/// transaction that will both update grant rows and insert a revocation takes it before the
/// first update: `insert_revocation_in` updates exchanged families under the lock, so rows
/// locked first and the lock second would deadlock against it.
pub(super) async fn lock_revocation_writes(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        // `pg_advisory_xact_lock` returns void, which the Any driver cannot decode.
        sqlx::query("select 1 from pg_advisory_xact_lock($1)")
            .bind(REVOCATION_WRITE_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Inserts one revocation in `tx` (see `Store::insert_revocation`: the lock, the expired
/// entry replaced, `None` when a live one names the same target), and revokes in the same
/// transaction the families a token exchange made from what it revokes
/// (`family_origins::revoke_exchanged_families`): past the entry's purge, they stay dead.
/// Every writer of the table goes through here.
pub(super) async fn insert_revocation_in(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    r: &NewRevocation<'_>,
) -> Result<Option<i64>, StoreError> {
    lock_revocation_writes(tx, backend).await?;
    if r.issued_before.is_none() {
        sqlx::query(
            "delete from revocations where kind = $1 and target = $2 \
             and issued_before is null and expires_at <= $3",
        )
        .bind(r.kind.to_string())
        .bind(r.target.to_string())
        .bind(r.revoked_at)
        .execute(&mut **tx)
        .await?;
    }
    let id: Option<i64> = sqlx::query_scalar(
        "insert into revocations \
         (kind, target, issued_before, revoked_at, expires_at, reason) \
         values ($1, $2, $3, $4, $5, $6) \
         on conflict (kind, target) where issued_before is null do nothing returning id",
    )
    .bind(r.kind.to_string())
    .bind(r.target.to_string())
    .bind(r.issued_before)
    .bind(r.revoked_at)
    .bind(r.expires_at)
    .bind(r.reason.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    super::family_origins::revoke_exchanged_families(tx, r).await?;
    Ok(id)
}
