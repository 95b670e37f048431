//! Device secrets (OpenID Connect Native SSO for Mobile Apps 1.0 §3.2): only their SHA-256,
//! bound to the login session they were issued in. A secret is alive only while that session
//! is: every read joins the session row, and the row's deletion takes the secret with it.
//! It is also bound to the grant (refresh family) it was issued with: every read wants that
//! family unrevoked, so that whatever revokes the grant (a replayed code, refresh-token reuse,
//! `/revoke`, an administrator revoking the client's or user's tokens) stops the secret too.

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
    /// The grant the secret came with.
    pub family_id: String,
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

/// A device secret to keep with the code redemption that issues it (`Store::redeem_code`).
#[derive(Debug, Clone, Copy)]
pub struct NewDeviceSecret<'a> {
    pub secret_hash: &'a str,
    /// What the first app was granted.
    pub scope: &'a str,
}

/// Keeps a device secret for the family `family_id` of `client_id` in the session `sid`, inside
/// the redemption's transaction, after the session row was locked (so the session cannot end,
/// and its row cannot go, before the commit: no foreign-key failure after the code is spent).
/// The app's previous secret in this session, if any, is replaced: one per app and session
/// (the unique index `device_secrets_sid_client`), so repeated code flows cannot grow the table.
pub(super) async fn insert_device_secret(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    secret: NewDeviceSecret<'_>,
    sid: &str,
    client_id: &str,
    family_id: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query("delete from device_secrets where sid = $1 and client_id = $2")
        .bind(sid)
        .bind(client_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "insert into device_secrets (secret_hash, sid, user_id, client_id, family_id, scope, \
         created_at, expires_at) \
         select $1, sid, user_id, $2, $3, $4, $5, expires_at from sessions where sid = $6",
    )
    .bind(secret.secret_hash)
    .bind(client_id)
    .bind(family_id)
    .bind(secret.scope)
    .bind(now)
    .bind(sid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How a Native SSO grant went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeSsoGrant {
    Granted,
    /// The session ended, or the secret was revoked, after the secret was read.
    Ended,
}

impl Store {
    /// The unrevoked device secret with this hash, if its session is alive at `now` (not
    /// expired, active since `active_since`) and the grant it came with is not revoked.
    #[tracing::instrument(skip_all)]
    pub async fn live_device_secret(
        &self,
        secret_hash: &str,
        now: UnixTime,
        active_since: UnixTime,
    ) -> Result<Option<DeviceSecretRow>, StoreError> {
        let row = sqlx::query_as(
            "select d.sid, d.user_id, d.client_id, d.family_id, d.scope, d.created_at, \
             s.auth_time, s.amr \
             from device_secrets d join sessions s on s.sid = d.sid \
             join refresh_families f on f.family_id = d.family_id \
             where d.secret_hash = $1 and d.revoked_at is null and d.expires_at > $2 \
             and s.expires_at > $2 and s.last_seen_at > $3 and f.revoked_at is null",
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
    /// session must still be alive, the secret and the grant it came with unrevoked; the
    /// family (with its first refresh token) is created when a refresh token is issued (none
    /// otherwise: the access token dies with the session through its `sid`, and an attacker's
    /// repeated exchanges store nothing but the session membership), and the client joins the
    /// session, so that a logout reaches it like every other app of the session.
    ///
    /// As in `redeem_code`, the session row stays locked until the commit
    /// (`lock_live_session`).
    #[tracing::instrument(skip_all, fields(client_id))]
    pub async fn grant_native_sso(
        &self,
        secret_hash: &str,
        session: LiveSession<'_>,
        client_id: &str,
        family: Option<(&FamilyRow, (&str, UnixTime))>,
        now: UnixTime,
    ) -> Result<NativeSsoGrant, StoreError> {
        let mut tx = self.pool.begin().await?;
        let alive = lock_live_session(&mut tx, session, now).await?;
        let secret: Option<(String,)> = sqlx::query_as(
            "select d.sid from device_secrets d \
             join refresh_families f on f.family_id = d.family_id \
             where d.secret_hash = $1 and d.sid = $2 and d.revoked_at is null \
             and d.expires_at > $3 and f.revoked_at is null",
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
        if let Some((family, first_token)) = family {
            insert_family(&mut tx, family, Some(first_token)).await?;
        }
        join_session(&mut tx, session.sid, client_id, now).await?;
        tx.commit().await?;
        Ok(NativeSsoGrant::Granted)
    }
}
