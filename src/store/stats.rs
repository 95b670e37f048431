//! The console's hourly activity counts (`activity_hourly`, migration 0014): what each node adds
//! at every flush, the gauges sampled once an hour, and the reads behind the charts. What the
//! kinds mean is decided in `crate::admin::activity`; this module only stores numbers.

use sqlx::Row;

use super::{Store, StoreError};
use crate::clock::UnixTime;

/// One count to add: `count` more of `kind` for `client_id` ('' for none) in `hour`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityCount {
    pub hour: UnixTime,
    pub kind: String,
    pub client_id: String,
    pub count: i64,
}

/// A stored hour of one kind (summed over clients where the query says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    pub hour: UnixTime,
    pub kind: String,
    pub count: i64,
}

/// Rows per statement: 4 parameters a row stays far below every parameter limit (SQLite's
/// oldest is 999), and a flush rarely has more rows than this anyway.
pub const ROWS_PER_STATEMENT: usize = 200;

impl Store {
    /// Adds the counts: one statement for up to `ROWS_PER_STATEMENT` rows, all in one
    /// transaction, so that a failed flush wrote nothing and can be retried whole. Nodes flush
    /// concurrently; the upsert makes each addition atomic, so no node's counts are lost.
    #[tracing::instrument(skip(self, counts), fields(rows = counts.len()))]
    pub async fn add_activity(&self, counts: &[ActivityCount]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in counts.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "insert into activity_hourly (hour, kind, client_id, count) values {} \
                 on conflict (hour, kind, client_id) \
                 do update set count = activity_hourly.count + excluded.count",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                query = query
                    .bind(c.hour)
                    .bind(c.kind.as_str())
                    .bind(c.client_id.as_str())
                    .bind(c.count);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether some node already sampled the gauge `kind` in `hour`.
    #[tracing::instrument(skip(self))]
    pub async fn gauges_sampled(&self, hour: UnixTime, kind: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "select 1 as one from activity_hourly \
             where hour = $1 and kind = $2 and client_id = ''",
        )
        .bind(hour)
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Sets gauges of `hour` (kind, value) in one statement: a sample replaces, never adds to,
    /// another node's sample of the same hour.
    #[tracing::instrument(skip(self))]
    pub async fn set_gauges(
        &self,
        hour: UnixTime,
        gauges: &[(&str, i64)],
    ) -> Result<(), StoreError> {
        if gauges.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "insert into activity_hourly (hour, kind, client_id, count) values {} \
             on conflict (hour, kind, client_id) do update set count = excluded.count",
            placeholders(gauges.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (kind, value) in gauges {
            query = query.bind(hour).bind(*kind).bind("").bind(*value);
        }
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// Every kind's count per hour since `since` (an hour's start), summed over clients.
    #[tracing::instrument(skip(self))]
    pub async fn activity_since(&self, since: UnixTime) -> Result<Vec<ActivityRow>, StoreError> {
        // sum(bigint) is numeric on PostgreSQL, which the Any driver cannot decode.
        let rows = sqlx::query(
            "select hour, kind, cast(sum(count) as bigint) as n from activity_hourly \
             where hour >= $1 group by hour, kind order by hour, kind",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        activity_rows(&rows)
    }

    /// One client's counts per hour since `since`.
    #[tracing::instrument(skip(self))]
    pub async fn client_activity_since(
        &self,
        client_id: &str,
        since: UnixTime,
    ) -> Result<Vec<ActivityRow>, StoreError> {
        let rows = sqlx::query(
            "select hour, kind, count as n from activity_hourly \
             where client_id = $1 and hour >= $2 order by hour, kind",
        )
        .bind(client_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        activity_rows(&rows)
    }
}

/// `($1, $2, $3, $4), ($5, …)` for `rows` rows of four values. Only placeholders are formatted
/// into the SQL; every value is bound.
fn placeholders(rows: usize) -> String {
    (0..rows)
        .map(|i| {
            let p = i * 4;
            format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn activity_rows(rows: &[sqlx::any::AnyRow]) -> Result<Vec<ActivityRow>, StoreError> {
    Ok(rows
        .iter()
        .map(|r| -> Result<ActivityRow, sqlx::Error> {
            Ok(ActivityRow {
                hour: r.try_get("hour")?,
                kind: r.try_get("kind")?,
                count: r.try_get("n")?,
            })
        })
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_four_values_a_row() {
        assert_eq!(placeholders(1), "($1, $2, $3, $4)");
        assert_eq!(placeholders(2), "($1, $2, $3, $4), ($5, $6, $7, $8)");
        let many = placeholders(ROWS_PER_STATEMENT);
        assert!(many.ends_with(&format!("${})", ROWS_PER_STATEMENT * 4)));
    }
}
