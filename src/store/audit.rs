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
    })
}

impl Store {
    #[tracing::instrument(skip_all, fields(action = e.action))]
    pub async fn insert_audit(&self, e: &NewAuditEntry<'_>) -> Result<(), StoreError> {
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Newest first. An empty `actor` or `action` filter matches everything.
    #[tracing::instrument(skip(self))]
    pub async fn list_audit(
        &self,
        actor: &str,
        action: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "select id, at, actor, action, target, detail, ip, user_agent from audit_log \
             where ($1 = '' or actor = $1) and ($2 = '' or action = $2) \
             order by id desc limit $3 offset $4",
        )
        .bind(actor)
        .bind(action)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(entry_from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes entries older than `before`; returns how many.
    #[tracing::instrument(skip(self))]
    pub async fn purge_audit(&self, before: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from audit_log where at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
