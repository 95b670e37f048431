//! Login failure counters, shared by all nodes.

use sqlx::Row;

use super::{Store, StoreError};
use crate::accounts::throttle::Failures;
use crate::clock::UnixTime;

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn login_failures(&self, key: &str) -> Result<Option<Failures>, StoreError> {
        let row = sqlx::query(
            "select failures, window_start, last_failure from login_throttle where key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<Failures, sqlx::Error> {
                Ok(Failures {
                    count: r.try_get("failures")?,
                    window_start: r.try_get("window_start")?,
                    last_failure: r.try_get("last_failure")?,
                })
            })
            .transpose()?)
    }

    /// Counts one failure; a window that started before `window_start_min` starts again.
    #[tracing::instrument(skip(self))]
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: UnixTime,
        window_start_min: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into login_throttle (key, failures, window_start, last_failure) \
             values ($1, 1, $2, $2) \
             on conflict (key) do update set \
               failures = case when login_throttle.window_start < $3 then 1 \
                               else login_throttle.failures + 1 end, \
               window_start = case when login_throttle.window_start < $3 then $2 \
                                   else login_throttle.window_start end, \
               last_failure = $2",
        )
        .bind(key)
        .bind(now)
        .bind(window_start_min)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("delete from login_throttle where key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Counters whose last failure is older than `before`: they no longer hold anyone back.
    #[tracing::instrument(skip(self))]
    pub async fn purge_login_throttle_batch(
        &self,
        before: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "delete from login_throttle where key in \
             (select key from login_throttle where last_failure < $1 limit $2)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
