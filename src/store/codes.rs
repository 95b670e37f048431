//! Authorization codes (single use, short-lived).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::clock::UnixTime;

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: UnixTime,
    pub amr: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
    pub family_id: Option<String>,
}

const COLUMNS: &str = "code_hash, client_id, user_id, sid, redirect_uri, scope, nonce, \
                       code_challenge, auth_time, amr, created_at, expires_at, used_at, family_id";

fn code_from_row(r: &AnyRow) -> Result<CodeRow, sqlx::Error> {
    Ok(CodeRow {
        code_hash: r.try_get("code_hash")?,
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        sid: r.try_get("sid")?,
        redirect_uri: r.try_get("redirect_uri")?,
        scope: r.try_get("scope")?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        auth_time: r.try_get("auth_time")?,
        amr: r.try_get("amr")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
        family_id: r.try_get("family_id")?,
    })
}

impl Store {
    #[tracing::instrument(skip_all, fields(client_id = c.client_id))]
    pub async fn insert_code(&self, c: &CodeRow) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "insert into authorization_codes (code_hash, client_id, user_id, sid, redirect_uri, \
             scope, nonce, code_challenge, auth_time, amr, created_at, expires_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.sid)
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(c.auth_time)
        .bind(&c.amr)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&mut *tx)
        .await?;
        // The client takes part in the session from now on (logout reaches it).
        sqlx::query(
            "insert into session_clients (sid, client_id, created_at) values ($1, $2, $3) \
             on conflict (sid, client_id) do nothing",
        )
        .bind(&c.sid)
        .bind(&c.client_id)
        .bind(c.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    pub async fn code(&self, code_hash: &str) -> Result<Option<CodeRow>, StoreError> {
        let sql = format!("select {COLUMNS} from authorization_codes where code_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(code_from_row).transpose()?)
    }

    /// Marks the code used by the redemption that starts `family_id`. False when another
    /// redemption got there first: the caller must treat this one as a replay.
    #[tracing::instrument(skip_all)]
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        family_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update authorization_codes set used_at = $2, family_id = $3 \
             where code_hash = $1 and used_at is null",
        )
        .bind(code_hash)
        .bind(now)
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets codes that expired long enough ago that a replay needs no answer but "invalid".
    #[tracing::instrument(skip(self))]
    pub async fn purge_codes(&self, before: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from authorization_codes where expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
