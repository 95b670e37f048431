//! Authorization codes (single use, short-lived).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::device_secrets::{NewDeviceSecret, insert_device_secret};
use super::family_origins::{self, ApiGrant};
use super::refresh_tokens::insert_family;
use super::{FamilyRow, Store, StoreError};
use crate::clock::UnixTime;

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
    pub redirect_uri: String,
    /// Whether the authorization request named `redirect_uri` (else: the one registered).
    pub redirect_uri_sent: bool,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: UnixTime,
    pub amr: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
    pub family_id: Option<String>,
    /// The resources granted (RFC 8707 §2.1), space-separated; empty for none.
    pub resources: String,
    /// RFC 9449 §10: the DPoP key the code is bound to (`dpop_jkt`).
    pub dpop_jkt: Option<String>,
}

const COLUMNS: &str = "code_hash, client_id, user_id, sid, redirect_uri, redirect_uri_sent, \
                       scope, nonce, code_challenge, auth_time, amr, created_at, expires_at, \
                       used_at, family_id, resources, dpop_jkt";

fn code_from_row(r: &AnyRow) -> Result<CodeRow, sqlx::Error> {
    Ok(CodeRow {
        code_hash: r.try_get("code_hash")?,
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        sid: r.try_get("sid")?,
        redirect_uri: r.try_get("redirect_uri")?,
        redirect_uri_sent: r.try_get::<i64, _>("redirect_uri_sent")? != 0,
        scope: r.try_get("scope")?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        auth_time: r.try_get("auth_time")?,
        amr: r.try_get("amr")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
        family_id: r.try_get("family_id")?,
        resources: r.try_get("resources")?,
        dpop_jkt: r.try_get("dpop_jkt")?,
    })
}

/// The session a code was issued in, and how recent its activity must be (idle expiry).
#[derive(Debug, Clone, Copy)]
pub struct LiveSession<'a> {
    pub sid: &'a str,
    pub active_since: UnixTime,
}

/// How a redemption went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    Redeemed,
    /// The code was used before, by the redemption that started this family.
    Replayed(Option<String>),
    /// The session the code came from ended (logout, password change, expiry).
    SessionEnded,
    /// The API the token was to be for was taken from the client, or removed, since the
    /// code was issued (a revocation entry names it): the code stays unredeemed.
    ApiTaken,
}

impl Store {
    #[tracing::instrument(skip_all, fields(client_id = c.client_id))]
    pub async fn insert_code(&self, c: &CodeRow) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "insert into authorization_codes (code_hash, client_id, user_id, sid, redirect_uri, \
             scope, nonce, code_challenge, auth_time, amr, created_at, expires_at, \
             redirect_uri_sent, resources, dpop_jkt) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
        .bind(i64::from(c.redirect_uri_sent))
        .bind(&c.resources)
        .bind(&c.dpop_jkt)
        .execute(&mut *tx)
        .await?;
        join_session(&mut tx, &c.sid, &c.client_id, c.created_at).await?;
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

    /// Redeems a code in one transaction: marks it used by `family`, checks that its login
    /// session is still alive, and creates the family (with its first refresh token). Either
    /// all of it commits or none: a replay that finds the code used always finds the family
    /// it must revoke, and a session that ended first leaves the code unredeemed.
    ///
    /// The session row is locked by a no-op update, so a logout, password change or disabling
    /// that deletes it waits for this commit and then revokes the new family with the rest,
    /// or, if it deleted the row first, this redemption finds no session.
    ///
    /// A Native SSO device secret (`device_secret`) is kept in the same transaction, bound to
    /// the new family: a replay that revokes the family finds the secret already there (and
    /// dead with it), and a logout cannot remove the session between the two.
    ///
    /// A family for APIs is stored without those a revocation entry took from the client
    /// since the code was issued (`family_origins::narrowed_family`): a code read before an
    /// API was taken from the client, or issued by a node whose cached links were stale,
    /// must not store a family that refreshes for the API again once it is linked again.
    /// If that took the API of `grant.chosen`, nothing is stored (`ApiTaken`).
    #[tracing::instrument(skip_all, fields(family_id = family.family_id))]
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        session: LiveSession<'_>,
        family: &FamilyRow,
        first_token: Option<(&str, UnixTime)>,
        device_secret: Option<NewDeviceSecret<'_>>,
        grant: ApiGrant<'_>,
    ) -> Result<Redemption, StoreError> {
        let mut tx = self.pool.begin().await?;
        family_origins::lock_out_api_changes(&mut tx, self.backend, &family.resources).await?;
        let marked = sqlx::query(
            "update authorization_codes set used_at = $2, family_id = $3 \
             where code_hash = $1 and used_at is null",
        )
        .bind(code_hash)
        .bind(family.created_at)
        .bind(&family.family_id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            tx.rollback().await?;
            let first = self.code(code_hash).await?.and_then(|r| r.family_id);
            return Ok(Redemption::Replayed(first));
        }
        if !lock_live_session(&mut tx, session, family.created_at).await? {
            tx.rollback().await?;
            return Ok(Redemption::SessionEnded);
        }
        let Some(family) = family_origins::narrowed_family(&mut tx, family, grant).await? else {
            tx.rollback().await?;
            return Ok(Redemption::ApiTaken);
        };
        let family = &family;
        insert_family(&mut tx, family, first_token).await?;
        if let Some(secret) = device_secret {
            insert_device_secret(
                &mut tx,
                secret,
                session.sid,
                &family.client_id,
                &family.family_id,
                family.created_at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Redemption::Redeemed)
    }
}

/// Whether the session is alive at `now`; if it is, its row stays locked (a no-op update)
/// until the transaction ends, so that a logout deleting it waits for the commit and then
/// revokes what the transaction created with the rest.
pub(super) async fn lock_live_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    session: LiveSession<'_>,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let alive = sqlx::query(
        "update sessions set last_seen_at = last_seen_at \
         where sid = $1 and expires_at > $2 and last_seen_at > $3",
    )
    .bind(session.sid)
    .bind(now)
    .bind(session.active_since)
    .execute(&mut **tx)
    .await?;
    Ok(alive.rows_affected() == 1)
}

/// The client takes part in the session from now on (logout and back-channel logout reach it).
pub(super) async fn join_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sid: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into session_clients (sid, client_id, created_at) values ($1, $2, $3) \
         on conflict (sid, client_id) do nothing",
    )
    .bind(sid)
    .bind(client_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
