//! Login attempt counters, shared by all nodes. An attempt is reserved here, in one statement,
//! before the password or code is checked, so that parallel requests (on one node or many) can
//! never evaluate more attempts than the policy allows.

use sqlx::Row;

use super::{Store, StoreError};
use crate::accounts::throttle::{BASE_DELAY_SECS, Failures, MAX_DOUBLINGS, Policy};
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

    /// Reserves one attempt for `key` if `policy` allows one at `now`, counting it as a failure
    /// until the caller says otherwise; `false` when the key must wait. The whole decision is
    /// the `where` of one upsert, so the row lock serialises concurrent reservations: this is
    /// `Policy::retry_after(..).is_none()` evaluated on the latest row, not on a stale read.
    #[tracing::instrument(skip(self))]
    pub async fn reserve_login_attempt(
        &self,
        key: &str,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        // $3: a window that started at or before it has ended. The delay after the limit is
        // BASE << (failures - max); past MAX_DOUBLINGS it is the window, which the first test
        // covers already. The `case` keeps the shift count in range on both databases.
        let row = sqlx::query(
            "insert into login_throttle (key, failures, window_start, last_failure) \
             values ($1, 1, $2, $2) \
             on conflict (key) do update set \
               failures = case when login_throttle.window_start <= $3 then 1 \
                               else login_throttle.failures + 1 end, \
               window_start = case when login_throttle.window_start <= $3 then $2 \
                                   else login_throttle.window_start end, \
               last_failure = $2 \
             where login_throttle.window_start <= $3 \
                or login_throttle.failures < $4 \
                or login_throttle.last_failure + case \
                     when login_throttle.failures - $4 between 0 and $5 \
                     then cast($6 as bigint) << cast(login_throttle.failures - $4 as integer) \
                     else $7 end <= $2 \
             returning failures",
        )
        .bind(key)
        .bind(now)
        .bind(now - policy.window_secs)
        .bind(i64::from(policy.max_failures))
        .bind(MAX_DOUBLINGS)
        .bind(BASE_DELAY_SECS)
        .bind(policy.window_secs)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Gives back a reserved attempt that turned out not to be a failure.
    #[tracing::instrument(skip(self))]
    pub async fn release_login_attempt(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "update login_throttle set failures = failures - 1 where key = $1 and failures > 0",
        )
        .bind(key)
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
