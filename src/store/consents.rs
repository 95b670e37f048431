//! Remembered consent, per user and client.

use sqlx::Row;

use super::{Backend, Store, StoreError, family_origins};
use crate::clock::UnixTime;

/// A remembered consent: scopes, and the APIs (RFC 8707 resources, space-separated) they
/// were approved at.
#[derive(Debug, Clone)]
pub struct ConsentRow {
    pub scope: String,
    pub resources: String,
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<ConsentRow>, StoreError> {
        let row = sqlx::query(
            "select scope, resources from consents where user_id = $1 and client_id = $2",
        )
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ConsentRow {
                scope: r.try_get("scope")?,
                resources: r.try_get("resources")?,
            })
        })
        .transpose()
    }

    /// Records consent to `scope` at `resources` (the unions of what was granted before and
    /// now), without an API whose link to the client a revocation entry revokes (taken
    /// from it, or removed, while this node's cached links still showed it): linking it
    /// again must not skip the user's consent (`family_origins::lock_out_api_changes`).
    #[tracing::instrument(skip(self))]
    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        resources: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        // SQLite: the write lock first, as the read below comes before the write.
        let mut tx = match self.backend {
            Backend::Postgres => self.pool.begin().await?,
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
        };
        family_origins::lock_out_api_changes(&mut tx, self.backend, resources).await?;
        let resources =
            family_origins::without_revoked_targets(&mut tx, client_id, resources, now).await?;
        sqlx::query(
            "insert into consents (user_id, client_id, scope, resources, granted_at) \
             values ($1, $2, $3, $4, $5) on conflict (user_id, client_id) \
             do update set scope = $3, resources = $4, granted_at = $5",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(&resources)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
