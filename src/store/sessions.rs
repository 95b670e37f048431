//! Login (SSO) sessions. Only the SHA-256 of the cookie secret is stored.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::clock::UnixTime;

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id_hash: String,
    pub sid: String,
    pub user_id: String,
    pub auth_time: UnixTime,
    pub amr: String,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub expires_at: UnixTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The user had TOTP when signing in: the session needs the code step (`mfa_at`).
    pub mfa_required: bool,
    /// When the session passed the second factor.
    pub mfa_at: Option<UnixTime>,
}

impl SessionRow {
    /// Signed in with the password, second factor still due: the session opens nothing but
    /// the code step.
    pub fn mfa_pending(&self) -> bool {
        self.mfa_required && self.mfa_at.is_none()
    }
}

const COLUMNS: &str = "id_hash, sid, user_id, auth_time, amr, created_at, last_seen_at, \
                       expires_at, ip, user_agent, mfa_required, mfa_at";

fn session_from_row(r: &AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id_hash: r.try_get("id_hash")?,
        sid: r.try_get("sid")?,
        user_id: r.try_get("user_id")?,
        auth_time: r.try_get("auth_time")?,
        amr: r.try_get("amr")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        expires_at: r.try_get("expires_at")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        mfa_required: r.try_get::<i64, _>("mfa_required")? != 0,
        mfa_at: r.try_get("mfa_at")?,
    })
}

impl Store {
    /// Inserts a session for a user whose password was checked against `password_hash`.
    /// False (nothing written) when the stored hash is another one by now, or the user was
    /// disabled: a sign-in that raced a password change must not survive it. (The hash, not
    /// `password_changed_at`: a change in the same second leaves the time as it was, while
    /// every new hash has a new salt.)
    ///
    /// The user's row is locked by a no-op update first, so a concurrent password change
    /// either commits before (this finds its new hash) or waits for this commit and then
    /// deletes this session with the others.
    #[tracing::instrument(skip_all, fields(sid = s.sid))]
    pub async fn insert_session(
        &self,
        s: &SessionRow,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let unchanged = sqlx::query(
            "update users set updated_at = updated_at \
             where id = $1 and password_hash = $2 and disabled = 0",
        )
        .bind(&s.user_id)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
        if unchanged.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "insert into sessions (id_hash, sid, user_id, auth_time, amr, created_at, \
             last_seen_at, expires_at, ip, user_agent, mfa_required, mfa_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&s.id_hash)
        .bind(&s.sid)
        .bind(&s.user_id)
        .bind(s.auth_time)
        .bind(&s.amr)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(i64::from(s.mfa_required))
        .bind(s.mfa_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The session with this hash if it is neither past its absolute expiry nor idle since
    /// before `idle_min`.
    #[tracing::instrument(skip_all)]
    pub async fn live_session(
        &self,
        id_hash: &str,
        now: UnixTime,
        idle_min: UnixTime,
    ) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!(
            "select {COLUMNS} from sessions \
             where id_hash = $1 and expires_at > $2 and last_seen_at > $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_hash)
            .bind(now)
            .bind(idle_min)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    /// The session with this public id if it has not ended and is not past its absolute
    /// expiry (idleness is the browser's: API calls do not touch a session).
    #[tracing::instrument(skip(self))]
    pub async fn unexpired_session_by_sid(
        &self,
        sid: &str,
        now: UnixTime,
    ) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!("select {COLUMNS} from sessions where sid = $1 and expires_at > $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(sid)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    #[tracing::instrument(skip_all)]
    pub async fn touch_session(&self, id_hash: &str, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query("update sessions set last_seen_at = $2 where id_hash = $1")
            .bind(id_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete_session(&self, id_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!("delete from sessions where id_hash = $1 returning {COLUMNS}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    /// Ends every session of the user except `keep` (the one asking).
    #[tracing::instrument(skip_all)]
    pub async fn delete_other_sessions(
        &self,
        user_id: &str,
        keep: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("delete from sessions where user_id = $1 and id_hash <> $2 returning sid")
                .bind(user_id)
                .bind(keep)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("sid"))
            .collect::<Result<_, _>>()?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn user_sessions(
        &self,
        user_id: &str,
        now: UnixTime,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let sql = format!(
            "select {COLUMNS} from sessions where user_id = $1 and expires_at > $2 \
             order by last_seen_at desc limit 100"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?)
    }
}

/// A live session with its user's name, for the admin console.
#[derive(Debug, Clone)]
pub struct SessionListing {
    pub row: SessionRow,
    pub username: String,
}

/// The columns of a `SessionListing` (sessions `s` joined with users `u`).
const LISTING: &str = "s.id_hash, s.sid, s.user_id, s.auth_time, s.amr, s.created_at, \
                       s.last_seen_at, s.expires_at, s.ip, s.user_agent, s.mfa_required, \
                       s.mfa_at, u.username";

fn listings(rows: &[AnyRow]) -> Result<Vec<SessionListing>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(SessionListing {
                row: session_from_row(r)?,
                username: r.try_get("username")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

impl Store {
    /// Live sessions (not expired, not idle since before `idle_min`), most recently used
    /// first; only `user_id`'s when given.
    #[tracing::instrument(skip(self))]
    pub async fn live_sessions_page(
        &self,
        user_id: Option<&str>,
        now: UnixTime,
        idle_min: UnixTime,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SessionListing>, StoreError> {
        let sql = format!(
            "select {LISTING} from sessions s join users u on u.id = s.user_id \
             where s.expires_at > $1 and s.last_seen_at > $2 and ($3 = '' or s.user_id = $3) \
             order by s.last_seen_at desc, s.sid limit $4 offset $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(idle_min)
            .bind(user_id.unwrap_or_default())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        listings(&rows)
    }

    /// The live sessions in which `client_id` got a code or tokens, most recently used first.
    #[tracing::instrument(skip(self))]
    pub async fn live_sessions_of_client(
        &self,
        client_id: &str,
        now: UnixTime,
        idle_min: UnixTime,
        limit: i64,
    ) -> Result<Vec<SessionListing>, StoreError> {
        let sql = format!(
            "select {LISTING} from session_clients c \
             join sessions s on s.sid = c.sid join users u on u.id = s.user_id \
             where c.client_id = $1 and s.expires_at > $2 and s.last_seen_at > $3 \
             order by s.last_seen_at desc, s.sid limit $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id)
            .bind(now)
            .bind(idle_min)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        listings(&rows)
    }

    /// The live session with this public `sid`, with its user's name.
    #[tracing::instrument(skip(self))]
    pub async fn live_session_by_sid(
        &self,
        sid: &str,
        now: UnixTime,
        idle_min: UnixTime,
    ) -> Result<Option<SessionListing>, StoreError> {
        let sql = format!(
            "select {LISTING} from sessions s join users u on u.id = s.user_id \
             where s.sid = $1 and s.expires_at > $2 and s.last_seen_at > $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(sid)
            .bind(now)
            .bind(idle_min)
            .fetch_all(&self.pool)
            .await?;
        Ok(listings(&rows)?.into_iter().next())
    }

    /// The clients a session signed in to (got a code or tokens in it), in order; the name is
    /// absent for a client deleted since.
    #[tracing::instrument(skip(self))]
    pub async fn session_client_names(
        &self,
        sid: &str,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "select s.client_id, c.name from session_clients s \
             left join clients c on c.client_id = s.client_id \
             where s.sid = $1 order by s.created_at, s.client_id",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("client_id")?, r.try_get("name")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Ends the session with this `sid` (the console names sessions by sid, never by the
    /// cookie's hash).
    #[tracing::instrument(skip(self))]
    pub async fn delete_session_by_sid(&self, sid: &str) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!("delete from sessions where sid = $1 returning {COLUMNS}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(sid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    /// The clients that took part in a session and registered a back-channel logout URI.
    #[tracing::instrument(skip(self))]
    pub async fn backchannel_targets(
        &self,
        sid: &str,
    ) -> Result<Vec<BackchannelTarget>, StoreError> {
        let rows = sqlx::query(
            "select c.client_id, c.backchannel_logout_uri, c.signing_alg from session_clients s \
             join clients c on c.client_id = s.client_id \
             where s.sid = $1 and c.backchannel_logout_uri is not null",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BackchannelTarget {
                    client_id: r.try_get("client_id")?,
                    uri: r.try_get("backchannel_logout_uri")?,
                    signing_alg: r.try_get("signing_alg")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// A client to tell that a session ended, and the algorithm it expects our tokens in.
#[derive(Debug, Clone)]
pub struct BackchannelTarget {
    pub client_id: String,
    pub uri: String,
    pub signing_alg: String,
}
