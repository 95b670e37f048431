//! Device authorization requests (RFC 8628): issued at /device_authorization, decided on
//! /device, polled and redeemed at /token. Every change of state is one conditional statement,
//! so that parallel requests (on one node or many) cannot both win it.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::codes::{LiveSession, join_session, lock_live_session};
use super::family_origins::{self, ApiGrant};
use super::refresh_tokens::insert_family;
use super::{Backend, FamilyRow, Store, StoreError};
use crate::clock::UnixTime;

/// Where a device request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    Pending,
    Approved,
    Denied,
    Redeemed,
}

impl DeviceState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
        }
    }

    fn parse(raw: &str) -> Result<Self, sqlx::Error> {
        match raw {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "denied" => Ok(Self::Denied),
            "redeemed" => Ok(Self::Redeemed),
            other => Err(sqlx::Error::Decode(
                format!("unknown device code state {other}").into(),
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeviceCodeRow {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: String,
    pub scope: String,
    /// The resources asked for (RFC 8707), space-separated; empty for none.
    pub resources: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub interval_secs: i64,
    pub last_polled_at: Option<UnixTime>,
    pub state: DeviceState,
    pub user_id: Option<String>,
    pub sid: Option<String>,
    pub auth_time: Option<UnixTime>,
    pub amr: Option<String>,
    pub decided_at: Option<UnixTime>,
    /// Who asked: an IPv4 address or an IPv6 /64 (`oauth::device::requester`).
    pub requester: String,
}

const COLUMNS: &str = "device_code_hash, user_code_hash, client_id, scope, resources, \
                       created_at, expires_at, interval_secs, last_polled_at, state, user_id, \
                       sid, auth_time, amr, decided_at, requester";

fn from_row(r: &AnyRow) -> Result<DeviceCodeRow, sqlx::Error> {
    Ok(DeviceCodeRow {
        device_code_hash: r.try_get("device_code_hash")?,
        user_code_hash: r.try_get("user_code_hash")?,
        client_id: r.try_get("client_id")?,
        scope: r.try_get("scope")?,
        resources: r.try_get("resources")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        interval_secs: r.try_get("interval_secs")?,
        last_polled_at: r.try_get("last_polled_at")?,
        state: DeviceState::parse(&r.try_get::<String, _>("state")?)?,
        user_id: r.try_get("user_id")?,
        sid: r.try_get("sid")?,
        auth_time: r.try_get("auth_time")?,
        amr: r.try_get("amr")?,
        decided_at: r.try_get("decided_at")?,
        requester: r.try_get("requester")?,
    })
}

/// How an insert went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceInsert {
    Inserted,
    /// The user code is taken: draw another.
    UserCodeTaken,
    /// The client already has its bound of live requests, or the requesting address its
    /// share of them: the earliest of those ends at `retry_at`.
    TooMany {
        retry_at: UnixTime,
    },
}

/// What the user decided on /device, and who they are.
#[derive(Debug, Clone, Copy)]
pub enum DeviceDecision<'a> {
    Approve {
        user_id: &'a str,
        sid: &'a str,
        auth_time: UnixTime,
        amr: &'a str,
    },
    Deny {
        user_id: &'a str,
    },
}

/// How a redemption went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRedemption {
    Redeemed,
    /// Another redemption won, or the request is no longer approved and live.
    NotApproved,
    /// The session that approved it has ended (logout, password change, expiry).
    SessionEnded,
    /// The API the token was to be for was taken from the client, or removed, since the
    /// request was made (see `Store::redeem_code`): nothing is stored.
    ApiTaken,
}

/// The bounds of live requests an insert checks.
#[derive(Debug, Clone, Copy)]
pub struct LiveBounds {
    /// Of the client.
    pub per_client: i64,
    /// Of the client from one requesting address.
    pub per_requester: i64,
}

impl Store {
    /// Stores a new request unless its client already has `per_client` live ones, or its
    /// requesting address `per_requester` of them. The client's row is locked for the counts
    /// and the insert (`select … for update` on PostgreSQL; on SQLite the transaction takes
    /// the write lock up front, which serialises writers), so that a parallel burst is counted
    /// one after the other and cannot overshoot either bound.
    #[tracing::instrument(skip_all, fields(client_id = row.client_id))]
    pub async fn insert_device_code(
        &self,
        row: &DeviceCodeRow,
        bounds: LiveBounds,
    ) -> Result<DeviceInsert, StoreError> {
        let mut tx = match self.backend {
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("select 1 from clients where client_id = $1 for update")
                    .bind(&row.client_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx
            }
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
        };
        let counts = sqlx::query(
            "select count(*) as live, \
                    coalesce(min(expires_at), 0) as first_end, \
                    coalesce(sum(case when requester = $3 then 1 else 0 end), 0) as mine, \
                    coalesce(min(case when requester = $3 then expires_at end), 0) as my_first_end \
             from device_codes where client_id = $1 and expires_at > $2",
        )
        .bind(&row.client_id)
        .bind(row.created_at)
        .bind(&row.requester)
        .fetch_one(&mut *tx)
        .await?;
        let live: i64 = counts.try_get("live")?;
        let mine: i64 = counts.try_get("mine")?;
        let too_many = if mine >= bounds.per_requester {
            Some(counts.try_get::<i64, _>("my_first_end")?)
        } else if live >= bounds.per_client {
            Some(counts.try_get::<i64, _>("first_end")?)
        } else {
            None
        };
        if let Some(retry_at) = too_many {
            tx.rollback().await?;
            return Ok(DeviceInsert::TooMany { retry_at });
        }
        let inserted = sqlx::query(
            "insert into device_codes (device_code_hash, user_code_hash, client_id, scope, \
             resources, created_at, expires_at, interval_secs, state, requester) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9) \
             on conflict (user_code_hash) do nothing",
        )
        .bind(&row.device_code_hash)
        .bind(&row.user_code_hash)
        .bind(&row.client_id)
        .bind(&row.scope)
        .bind(&row.resources)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.interval_secs)
        .bind(&row.requester)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(DeviceInsert::UserCodeTaken);
        }
        tx.commit().await?;
        Ok(DeviceInsert::Inserted)
    }

    #[tracing::instrument(skip_all)]
    pub async fn device_code(&self, hash: &str) -> Result<Option<DeviceCodeRow>, StoreError> {
        let sql = format!("select {COLUMNS} from device_codes where device_code_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// The pending, unexpired request a user code names.
    #[tracing::instrument(skip_all)]
    pub async fn pending_device_code(
        &self,
        user_code_hash: &str,
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRow>, StoreError> {
        let sql = format!(
            "select {COLUMNS} from device_codes \
             where user_code_hash = $1 and state = 'pending' and expires_at > $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_code_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Records a poll as the caller decided it (`interval_secs` its new interval), if the row
    /// is still as the caller read it (`seen_*`): `false` when another poll came in between.
    #[tracing::instrument(skip_all)]
    pub async fn record_device_poll(
        &self,
        hash: &str,
        seen_interval: i64,
        seen_polled_at: Option<UnixTime>,
        interval_secs: i64,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update device_codes set last_polled_at = $2, interval_secs = $3 \
             where device_code_hash = $1 and state = 'pending' and interval_secs = $4 \
               and coalesce(last_polled_at, -1) = $5",
        )
        .bind(hash)
        .bind(now)
        .bind(interval_secs)
        .bind(seen_interval)
        .bind(seen_polled_at.unwrap_or(-1))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The user's decision, once: only a pending, unexpired request takes it. An approval
    /// joins the client to the session, so that ending the session reaches the grant.
    #[tracing::instrument(skip_all)]
    pub async fn decide_device_code(
        &self,
        user_code_hash: &str,
        decision: DeviceDecision<'_>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let (state, user_id, sid, auth_time, amr) = match decision {
            DeviceDecision::Approve {
                user_id,
                sid,
                auth_time,
                amr,
            } => (
                DeviceState::Approved,
                user_id,
                Some(sid),
                Some(auth_time),
                Some(amr),
            ),
            DeviceDecision::Deny { user_id } => (DeviceState::Denied, user_id, None, None, None),
        };
        let mut tx = self.pool.begin().await?;
        let client: Option<String> = sqlx::query_scalar(
            "update device_codes set state = $2, user_id = $3, sid = $4, auth_time = $5, \
             amr = $6, decided_at = $7 \
             where user_code_hash = $1 and state = 'pending' and expires_at > $7 \
             returning client_id",
        )
        .bind(user_code_hash)
        .bind(state.as_str())
        .bind(user_id)
        .bind(sid)
        .bind(auth_time)
        .bind(amr)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(client_id) = client else {
            tx.rollback().await?;
            return Ok(false);
        };
        if let Some(sid) = sid {
            join_session(&mut tx, sid, &client_id, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Redeems an approved request in one transaction, like `redeem_code`: marks it redeemed
    /// by `family` (only if it is still approved and live, so one of any number of parallel
    /// redemptions wins), checks that the approving session is alive (and locks its row), and
    /// creates the family with its first refresh token, without the APIs an entry took from
    /// the client since the request was made (as in `redeem_code`).
    #[tracing::instrument(skip_all, fields(family_id = family.family_id))]
    pub async fn redeem_device_code(
        &self,
        hash: &str,
        session: LiveSession<'_>,
        family: &FamilyRow,
        first_token: Option<(&str, UnixTime)>,
        grant: ApiGrant<'_>,
    ) -> Result<DeviceRedemption, StoreError> {
        let mut tx = self.pool.begin().await?;
        family_origins::lock_out_api_changes(&mut tx, self.backend, &family.resources).await?;
        let marked = sqlx::query(
            "update device_codes set state = 'redeemed' \
             where device_code_hash = $1 and state = 'approved' and expires_at > $2",
        )
        .bind(hash)
        .bind(family.created_at)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(DeviceRedemption::NotApproved);
        }
        if !lock_live_session(&mut tx, session, family.created_at).await? {
            tx.rollback().await?;
            return Ok(DeviceRedemption::SessionEnded);
        }
        let Some(family) = family_origins::narrowed_family(&mut tx, family, grant).await? else {
            tx.rollback().await?;
            return Ok(DeviceRedemption::ApiTaken);
        };
        insert_family(&mut tx, &family, first_token).await?;
        tx.commit().await?;
        Ok(DeviceRedemption::Redeemed)
    }

    /// Expired requests, whatever their state: past `expires_at` none can be decided or
    /// redeemed, and a poll of a forgotten one is `invalid_grant` like any unknown code.
    #[tracing::instrument(skip(self))]
    pub async fn purge_device_codes_batch(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "delete from device_codes where device_code_hash in \
             (select device_code_hash from device_codes where expires_at <= $1 limit $2)",
        )
        .bind(now)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
