//! Device secrets (OpenID Connect Native SSO for Mobile Apps 1.0 §3.2): only their SHA-256,
//! bound to the login session they were issued in. A secret is alive only while that session
//! is: every read joins the session row, and the row's deletion takes the secret with it.

use sqlx::FromRow;

use super::codes::{LiveSession, join_session, lock_live_session};
use super::refresh_tokens::insert_family;
use super::{FamilyRow, Store, StoreError};
use crate::clock::UnixTime;

/// A device secret whose session is alive, with what a second app's grant inherits from it.
#[derive(Debug, Clone, FromRow)]
pub struct DeviceSecretRow {
    pub sid: String,
    pub user_id: String,
    /// The client the secret was issued to.
    pub client_id: String,
    /// What the first app was granted: the most a second app may get.
    pub scope: String,
    pub created_at: UnixTime,
    /// The session's sign-in, which a second app's tokens report as theirs.
    pub auth_time: UnixTime,
    pub amr: String,
}

/// A device secret as `/revoke` finds it, alive or not.
#[derive(Debug, Clone, FromRow)]
pub struct IssuedDeviceSecret {
    pub sid: String,
    pub client_id: String,
}

/// How a Native SSO grant went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeSsoGrant {
    Granted,
    /// The session ended, or the secret was revoked, after the secret was read.
    Ended,
}

impl Store {
    /// Keeps a new device secret's hash for `session`, as long as the session is alive (and
    /// until it expires); whether it was kept.
    #[tracing::instrument(skip_all, fields(client_id))]
    pub async fn insert_device_secret(
        &self,
        secret_hash: &str,
        session: LiveSession<'_>,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "insert into device_secrets (secret_hash, sid, user_id, client_id, scope, \
             created_at, expires_at) \
             select $1, sid, user_id, $2, $3, $4, expires_at from sessions \
             where sid = $5 and expires_at > $4 and last_seen_at > $6",
        )
        .bind(secret_hash)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .bind(session.sid)
        .bind(session.active_since)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The unrevoked device secret with this hash, if its session is alive at `now` (not
    /// expired, active since `active_since`).
    #[tracing::instrument(skip_all)]
    pub async fn live_device_secret(
        &self,
        secret_hash: &str,
        now: UnixTime,
        active_since: UnixTime,
    ) -> Result<Option<DeviceSecretRow>, StoreError> {
        let row = sqlx::query_as(
            "select d.sid, d.user_id, d.client_id, d.scope, d.created_at, s.auth_time, s.amr \
             from device_secrets d join sessions s on s.sid = d.sid \
             where d.secret_hash = $1 and d.revoked_at is null and d.expires_at > $2 \
             and s.expires_at > $2 and s.last_seen_at > $3",
        )
        .bind(secret_hash)
        .bind(now)
        .bind(active_since)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// A device secret as it was issued, revoked or not, alive or not.
    #[tracing::instrument(skip_all)]
    pub async fn issued_device_secret(
        &self,
        secret_hash: &str,
    ) -> Result<Option<IssuedDeviceSecret>, StoreError> {
        let row =
            sqlx::query_as("select sid, client_id from device_secrets where secret_hash = $1")
                .bind(secret_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row)
    }

    /// Marks a device secret revoked (once: a repeat changes nothing).
    #[tracing::instrument(skip_all)]
    pub async fn revoke_device_secret(
        &self,
        secret_hash: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update device_secrets set revoked_at = $2 \
             where secret_hash = $1 and revoked_at is null",
        )
        .bind(secret_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Starts a second app's grant in the device secret's session, in one transaction: the
    /// session must still be alive and the secret unrevoked; the family (with its first
    /// refresh token) is created and the client joins the session, so that a logout reaches
    /// it like every other app of the session.
    ///
    /// As in `redeem_code`, the session row stays locked until the commit
    /// (`lock_live_session`).
    #[tracing::instrument(skip_all, fields(family_id = family.family_id))]
    pub async fn grant_native_sso(
        &self,
        secret_hash: &str,
        session: LiveSession<'_>,
        family: &FamilyRow,
        first_token: Option<(&str, UnixTime)>,
    ) -> Result<NativeSsoGrant, StoreError> {
        let now = family.created_at;
        let mut tx = self.pool.begin().await?;
        let alive = lock_live_session(&mut tx, session, now).await?;
        let secret: Option<(String,)> = sqlx::query_as(
            "select sid from device_secrets \
             where secret_hash = $1 and sid = $2 and revoked_at is null and expires_at > $3",
        )
        .bind(secret_hash)
        .bind(session.sid)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if !alive || secret.is_none() {
            tx.rollback().await?;
            return Ok(NativeSsoGrant::Ended);
        }
        insert_family(&mut tx, family, first_token).await?;
        join_session(&mut tx, session.sid, &family.client_id, now).await?;
        tx.commit().await?;
        Ok(NativeSsoGrant::Granted)
    }
}
