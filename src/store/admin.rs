//! Statements for the admin console: counts, user search, roles, the second factor of a
//! session, TOTP credentials and recovery codes.

use sqlx::Row;

use super::{Store, StoreError};
use crate::accounts::User;
use crate::clock::UnixTime;

/// A `like` pattern matching `text` anywhere, with its wildcards escaped (`escape '\'`).
pub fn contains_pattern(text: &str) -> String {
    format!("%{}%", escape_like(&text.to_lowercase()))
}

/// A `like` pattern matching `word` as one space-separated word of `' ' || list || ' '`
/// (e.g. a stored list of resources), with its wildcards escaped (`escape '\'`).
pub(super) fn word_pattern(word: &str) -> String {
    format!("% {} %", escape_like(word))
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A stored TOTP credential. `secret` is base32; it never leaves the accounts layer.
#[derive(Clone)]
pub struct TotpRow {
    pub secret: String,
    pub confirmed_at: Option<UnixTime>,
    pub last_step: i64,
}

impl std::fmt::Debug for TotpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRow")
            .field("secret", &"<redacted>")
            .field("confirmed_at", &self.confirmed_at)
            .finish()
    }
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("select count(*) as n from users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn count_clients(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("select count(*) as n from clients")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Sessions that are neither expired nor idle since before `idle_min`.
    #[tracing::instrument(skip(self))]
    pub async fn count_live_sessions(
        &self,
        now: UnixTime,
        idle_min: UnixTime,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "select count(*) as n from sessions where expires_at > $1 and last_seen_at > $2",
        )
        .bind(now)
        .bind(idle_min)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Users whose name or e-mail contains `pattern` (see `contains_pattern`), by name.
    #[tracing::instrument(skip(self))]
    pub async fn search_users(
        &self,
        pattern: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(
            "select id from users \
             where username_key like $1 escape '\\' or lower(coalesce(email, '')) like $1 escape '\\' \
             order by username_key limit $2 offset $3",
        )
        .bind(pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let mut users = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.try_get("id")?;
            if let Some(u) = self.user_by_id(&id).await? {
                users.push(u);
            }
        }
        Ok(users)
    }

    /// Replaces the space-separated roles of a user.
    #[tracing::instrument(skip(self))]
    pub async fn set_user_roles(
        &self,
        id: &str,
        roles: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("update users set roles = $2, updated_at = $3 where id = $1")
            .bind(id)
            .bind(roles)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the second factor on the session (and `otp` in its `amr`, RFC 8176). The
    /// authentication completes here, so `auth_time` (OIDC Core §2) moves too: measured from
    /// the password step, a `max_age` shorter than the time taken to type the code would send
    /// the user back to the login page for ever.
    #[tracing::instrument(skip_all)]
    pub async fn set_session_mfa(
        &self,
        id_hash: &str,
        amr: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query("update sessions set mfa_at = $2, auth_time = $2, amr = $3 where id_hash = $1")
            .bind(id_hash)
            .bind(now)
            .bind(amr)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A fresh authentication in an existing session (the re-auth page): `auth_time` moves.
    #[tracing::instrument(skip_all)]
    pub async fn set_session_auth_time(
        &self,
        id_hash: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query("update sessions set auth_time = $2 where id_hash = $1")
            .bind(id_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    pub async fn totp_credential(&self, user_id: &str) -> Result<Option<TotpRow>, StoreError> {
        let row = sqlx::query(
            "select secret, confirmed_at, last_step from totp_credentials where user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<TotpRow, sqlx::Error> {
                Ok(TotpRow {
                    secret: r.try_get("secret")?,
                    confirmed_at: r.try_get("confirmed_at")?,
                    last_step: r.try_get("last_step")?,
                })
            })
            .transpose()?)
    }

    /// Starts (or restarts) an enrolment with a new, unconfirmed secret.
    #[tracing::instrument(skip(self, secret))]
    pub async fn put_pending_totp(
        &self,
        user_id: &str,
        secret: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into totp_credentials (user_id, secret, created_at, confirmed_at, last_step) \
             values ($1, $2, $3, null, 0) \
             on conflict (user_id) do update set secret = $2, created_at = $3, \
               confirmed_at = null, last_step = 0",
        )
        .bind(user_id)
        .bind(secret)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    pub async fn confirm_totp(&self, user_id: &str, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query("update totp_credentials set confirmed_at = $2 where user_id = $1")
            .bind(user_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Accepts time step `step` once: false if it (or a later one) was already used.
    #[tracing::instrument(skip(self))]
    pub async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update totp_credentials set last_step = $2 where user_id = $1 and last_step < $2",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete_totp(&self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("delete from totp_credentials where user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces the user's recovery codes with these hashes.
    #[tracing::instrument(skip_all)]
    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("delete from recovery_codes where user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for hash in hashes {
            sqlx::query(
                "insert into recovery_codes (code_hash, user_id, created_at) values ($1, $2, $3)",
            )
            .bind(hash)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks an unused recovery code of the user used; false if there is none.
    #[tracing::instrument(skip_all)]
    pub async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update recovery_codes set used_at = $3 \
             where user_id = $1 and code_hash = $2 and used_at is null",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
