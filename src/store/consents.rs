//! Remembered consent, per user and client.

use sqlx::Row;

use super::{Store, StoreError};
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

    /// Records consent to `scope` at `resources` (the unions of what was granted before and now).
    #[tracing::instrument(skip(self))]
    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        resources: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into consents (user_id, client_id, scope, resources, granted_at) \
             values ($1, $2, $3, $4, $5) on conflict (user_id, client_id) \
             do update set scope = $3, resources = $4, granted_at = $5",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(resources)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
