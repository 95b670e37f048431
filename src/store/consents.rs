//! Remembered consent, per user and client.

use sqlx::Row;

use super::{Store, StoreError};
use crate::clock::UnixTime;

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("select scope from consents where user_id = $1 and client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("scope")).transpose()?)
    }

    /// Records consent to `scope` (the union of what was granted before and now).
    #[tracing::instrument(skip(self))]
    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into consents (user_id, client_id, scope, granted_at) values ($1, $2, $3, $4) \
             on conflict (user_id, client_id) do update set scope = $3, granted_at = $4",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
