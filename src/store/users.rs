//! Users.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::accounts::User;
use crate::clock::UnixTime;

const COLUMNS: &str = "id, username, email, display_name, password_hash, roles, disabled, \
                       created_at, updated_at, password_changed_at";

pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub username_key: &'a str,
    pub email: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub password_hash: &'a str,
    pub roles: &'a str,
    pub now: UnixTime,
}

/// The columns of `users u` under `u_` names, for a query that joins a user to other rows.
pub(super) const JOINED_COLUMNS: &str = "u.id as u_id, u.username as u_username, \
    u.email as u_email, u.display_name as u_display_name, u.password_hash as u_password_hash, \
    u.roles as u_roles, u.disabled as u_disabled, u.created_at as u_created_at, \
    u.updated_at as u_updated_at, u.password_changed_at as u_password_changed_at";

/// The names `user_from` reads: those of `COLUMNS`, or of `JOINED_COLUMNS`.
pub(super) struct Names([&'static str; 10]);

const OWN: Names = Names([
    "id",
    "username",
    "email",
    "display_name",
    "password_hash",
    "roles",
    "disabled",
    "created_at",
    "updated_at",
    "password_changed_at",
]);

pub(super) const JOINED: Names = Names([
    "u_id",
    "u_username",
    "u_email",
    "u_display_name",
    "u_password_hash",
    "u_roles",
    "u_disabled",
    "u_created_at",
    "u_updated_at",
    "u_password_changed_at",
]);

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    user_from(row, &OWN)
}

pub(super) fn user_from(row: &AnyRow, names: &Names) -> Result<User, sqlx::Error> {
    let [
        id,
        username,
        email,
        display_name,
        password_hash,
        roles,
        disabled,
        created,
        updated,
        pw,
    ] = names.0;
    let roles: String = row.try_get(roles)?;
    Ok(User {
        id: row.try_get(id)?,
        username: row.try_get(username)?,
        email: row.try_get(email)?,
        display_name: row.try_get(display_name)?,
        password_hash: row.try_get(password_hash)?,
        roles: roles.split_whitespace().map(str::to_string).collect(),
        disabled: row.try_get::<i64, _>(disabled)? != 0,
        created_at: row.try_get(created)?,
        updated_at: row.try_get(updated)?,
        password_changed_at: row.try_get(pw)?,
    })
}

impl Store {
    #[tracing::instrument(skip_all, fields(username = u.username))]
    pub async fn insert_user(&self, u: NewUser<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "insert into users (id, username, username_key, email, display_name, password_hash, \
             roles, disabled, created_at, updated_at, password_changed_at) \
             values ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8, $8)",
        )
        .bind(u.id)
        .bind(u.username)
        .bind(u.username_key)
        .bind(u.email)
        .bind(u.display_name)
        .bind(u.password_hash)
        .bind(u.roles)
        .bind(u.now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    pub async fn user_by_username_key(&self, key: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("select {COLUMNS} from users where username_key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("select {COLUMNS} from users where id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<User>, StoreError> {
        let sql = format!("select {COLUMNS} from users order by username_key limit $1 offset $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// Whether any user exists: until one does, nobody can sign in to the console.
    #[tracing::instrument(skip(self))]
    pub async fn has_users(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("select 1 as one from users limit 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Replaces the hash after a login found stale argon2 parameters; not a password change.
    /// Only if the stored hash is still `verified`: a password change that committed while
    /// the login was hashing must not be overwritten by the old password. False if it was.
    #[tracing::instrument(skip_all)]
    pub async fn update_password_hash(
        &self,
        id: &str,
        verified: &str,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("update users set password_hash = $3 where id = $1 and password_hash = $2")
                .bind(id)
                .bind(verified)
                .bind(hash)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A password change: new hash, and every session of the user ends (in one transaction).
    /// Returns the ids of the sessions that ended (for back-channel logout).
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        id: &str,
        hash: &str,
        now: UnixTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "update users set password_hash = $2, password_changed_at = $3, updated_at = $3 \
             where id = $1",
        )
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let ended = end_user_sessions(&mut tx, id).await?;
        revoke_user_families(&mut tx, id, "password changed", now).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Disabling a user also ends every session of theirs; returns the ids of those sessions.
    #[tracing::instrument(skip(self))]
    pub async fn set_user_disabled(
        &self,
        id: &str,
        disabled: bool,
        now: UnixTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("update users set disabled = $2, updated_at = $3 where id = $1")
            .bind(id)
            .bind(i64::from(disabled))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let mut ended = Vec::new();
        if disabled {
            ended = end_user_sessions(&mut tx, id).await?;
            revoke_user_families(&mut tx, id, "user disabled", now).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }
}

/// Deletes every session of the user; returns their public ids.
async fn end_user_sessions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    let sids = sqlx::query_scalar("delete from sessions where user_id = $1 returning sid")
        .bind(user_id)
        .fetch_all(&mut **tx)
        .await?;
    Ok(sids)
}

/// Ends every refresh-token family of the user (password change, disabling).
async fn revoke_user_families(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    reason: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "update refresh_families set revoked_at = $2, revoked_reason = $3 \
         where user_id = $1 and revoked_at is null",
    )
    .bind(user_id)
    .bind(now)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
