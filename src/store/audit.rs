//! The audit log: who did what to what, when and from where. Never a secret in `detail`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::clock::UnixTime;

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub at: UnixTime,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How many events the entry stands for: 1, or more for a folded entry.
    pub count: i64,
}

/// An entry to append (the id is the store's).
pub struct NewAuditEntry<'a> {
    pub at: UnixTime,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

fn entry_from_row(r: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        detail: r.try_get("detail")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        count: r.try_get("count")?,
    })
}

/// Which entries `list_audit` returns.
#[derive(Debug, Default, Clone, Copy)]
pub struct AuditFilter<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub since: Option<UnixTime>,
    pub until: Option<UnixTime>,
}

impl Store {
    #[tracing::instrument(skip_all, fields(action = e.action))]
    pub async fn insert_audit(&self, e: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        insert_audit(&self.pool, e).await
    }

    /// Newest first. An empty `actor` or `action` matches everything; `since` and `until`
    /// bound `at` (inclusive) when given.
    #[tracing::instrument(skip(self))]
    pub async fn list_audit(
        &self,
        filter: &AuditFilter<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "select id, at, actor, action, target, detail, ip, user_agent, count from audit_log \
             where ($1 = '' or actor = $1) and ($2 = '' or action = $2) \
             and at >= $3 and at <= $4 \
             order by id desc limit $5 offset $6",
        )
        .bind(filter.actor)
        .bind(filter.action)
        .bind(filter.since.unwrap_or(UnixTime::MIN))
        .bind(filter.until.unwrap_or(UnixTime::MAX))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(entry_from_row).collect::<Result<_, _>>()?)
    }

    /// The newest entries by `actor` or about `target` or `also` (a detail page's recent
    /// activity: a user acts under `user:NAME` and is the target by id; a revocation of a
    /// user or client names it `user:ID` or `client:ID`).
    #[tracing::instrument(skip(self))]
    pub async fn audit_about(
        &self,
        actor: &str,
        target: &str,
        also: &str,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "select id, at, actor, action, target, detail, ip, user_agent, count from audit_log \
             where actor = $1 or target = $2 or target = $3 order by id desc limit $4",
        )
        .bind(actor)
        .bind(target)
        .bind(also)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(entry_from_row).collect::<Result<_, _>>()?)
    }

    /// How many entries `actor` has for `action` since `since` (entries, not their counts).
    #[tracing::instrument(skip(self))]
    pub async fn count_audit_since(
        &self,
        actor: &str,
        action: &str,
        since: UnixTime,
    ) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from audit_log where at >= $1 and actor = $2 and action = $3",
        )
        .bind(since)
        .bind(actor)
        .bind(action)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// Adds one to the newest folded entry (`detail` = `folded`) of `actor` and `action` since
    /// `since`; false when there is none yet.
    #[tracing::instrument(skip(self, folded))]
    pub async fn bump_folded_audit(
        &self,
        actor: &str,
        action: &str,
        since: UnixTime,
        folded: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update audit_log set count = count + 1 where id = \
             (select max(id) from audit_log \
              where at >= $1 and actor = $2 and action = $3 and detail = $4)",
        )
        .bind(since)
        .bind(actor)
        .bind(action)
        .bind(folded)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Appends an entry through `ex`: the pool, or the transaction of the change it records, so
/// that the change and its entry commit together.
pub(super) async fn insert_audit<'c>(
    ex: impl sqlx::Executor<'c, Database = sqlx::Any>,
    e: &NewAuditEntry<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into audit_log (at, actor, action, target, detail, ip, user_agent) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.at)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.target)
    .bind(e.detail)
    .bind(e.ip)
    .bind(e.user_agent)
    .execute(ex)
    .await?;
    Ok(())
}
