//! Refresh-token families and their tokens (DESIGN §3: rotation, reuse detection).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::apis;
use super::users::{JOINED, JOINED_COLUMNS, user_from};
use super::{Backend, Store, StoreError, family_origins};
use crate::accounts::User;
use crate::clock::UnixTime;
use crate::oauth::exchange_rights::LostRight;
use crate::tokens::claims::ExchangedFrom;

#[derive(Debug, Clone)]
pub struct FamilyRow {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: Option<String>,
    pub scope: String,
    pub auth_time: UnixTime,
    pub amr: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    /// The resources the authorization granted (RFC 8707), space-separated: each refresh
    /// may narrow to them again (§2.2).
    pub resources: String,
    /// A family a token exchange started (`--exchange-refresh`): the tokens it was made
    /// from, as JSON (the `xo` claim), so that it dies with the subject's grant.
    pub exchange_origins: Option<String>,
    /// RFC 9449 §5: the DPoP key (thumbprint) the family's refresh tokens are bound to.
    pub dpop_jkt: Option<String>,
}

/// A presented refresh token and its family.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub token_hash: String,
    pub idle_expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
    pub family: FamilyRow,
}

fn family_from_row(r: &AnyRow) -> Result<FamilyRow, sqlx::Error> {
    Ok(FamilyRow {
        family_id: r.try_get("family_id")?,
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        sid: r.try_get("sid")?,
        scope: r.try_get("scope")?,
        auth_time: r.try_get("auth_time")?,
        amr: r.try_get("amr")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        resources: r.try_get("resources")?,
        exchange_origins: r.try_get("exchange_origins")?,
        dpop_jkt: r.try_get("dpop_jkt")?,
    })
}

/// The token a rotation issues: its hash, its idle expiry, and itself sealed with a key only
/// the holder of the old token can derive (`tokens::opaque::seal_successor`).
#[derive(Debug, Clone, Copy)]
pub struct Successor<'a> {
    pub hash: &'a str,
    pub sealed: &'a str,
    pub idle_expires_at: UnixTime,
}

/// How a rotation went; nothing is written unless `Rotated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// The token was used before, at `used_at`, in a family that is still live.
    Used {
        used_at: UnixTime,
        successor_sealed: Option<String>,
    },
    /// The family was revoked (possibly after the caller read it).
    Revoked,
}

impl Store {
    #[tracing::instrument(skip_all)]
    pub async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshRow>, StoreError> {
        let row = sqlx::query(
            "select t.token_hash, t.idle_expires_at, t.used_at, f.family_id, f.client_id, \
             f.user_id, f.sid, f.scope, f.auth_time, f.amr, f.created_at, f.expires_at, \
             f.revoked_at, f.resources, f.exchange_origins, f.dpop_jkt from refresh_tokens t \
             join refresh_families f \
             on f.family_id = t.family_id where t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(RefreshRow {
            token_hash: r.try_get("token_hash")?,
            idle_expires_at: r.try_get("idle_expires_at")?,
            used_at: r.try_get("used_at")?,
            family: family_from_row(&r)?,
        }))
    }

    /// `refresh_token` and the family's user in one query: the refresh grant needs both, and
    /// a round trip to the database was most of what a refresh cost it. `None` for the user
    /// when it no longer exists.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_token_with_user(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshRow, Option<User>)>, StoreError> {
        let sql = format!(
            "select t.token_hash, t.idle_expires_at, t.used_at, f.family_id, f.client_id, \
             f.user_id, f.sid, f.scope, f.auth_time, f.amr, f.created_at, f.expires_at, \
             f.revoked_at, f.resources, f.exchange_origins, f.dpop_jkt, {JOINED_COLUMNS} \
             from refresh_tokens t join refresh_families f \
             on f.family_id = t.family_id left join users u on u.id = f.user_id \
             where t.token_hash = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let user = match r.try_get::<Option<String>, _>("u_id")? {
            Some(_) => Some(user_from(&r, &JOINED)?),
            None => None,
        };
        let token = RefreshRow {
            token_hash: r.try_get("token_hash")?,
            idle_expires_at: r.try_get("idle_expires_at")?,
            used_at: r.try_get("used_at")?,
            family: family_from_row(&r)?,
        };
        Ok(Some((token, user)))
    }

    /// Rotation in one transaction: marks `old_hash` used, remembers its successor sealed
    /// (for the grace window) and adds the successor. Only an unused token of a family that is
    /// not revoked rotates; otherwise nothing is written and the caller learns when the token
    /// was used and what it was rotated into.
    #[tracing::instrument(skip_all)]
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        successor: Successor<'_>,
        family_id: &str,
        now: UnixTime,
    ) -> Result<Rotation, StoreError> {
        let rotated = match self.backend {
            Backend::Postgres => {
                self.rotate_in_one_statement(old_hash, &successor, family_id, now)
                    .await?
            }
            Backend::Sqlite => {
                self.rotate_in_transaction(old_hash, &successor, family_id, now)
                    .await?
            }
        };
        if rotated {
            return Ok(Rotation::Rotated);
        }
        // Nothing was written: tell the caller why.
        let row = sqlx::query(
            "select t.used_at, t.successor_sealed, f.revoked_at from refresh_tokens t \
             join refresh_families f on f.family_id = t.family_id where t.token_hash = $1",
        )
        .bind(old_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(Rotation::Revoked);
        };
        if r.try_get::<Option<UnixTime>, _>("revoked_at")?.is_some() {
            return Ok(Rotation::Revoked);
        }
        Ok(match r.try_get::<Option<UnixTime>, _>("used_at")? {
            Some(used_at) => Rotation::Used {
                used_at,
                successor_sealed: r.try_get("successor_sealed")?,
            },
            None => Rotation::Revoked,
        })
    }

    /// PostgreSQL: the three writes of a rotation as one statement (data-modifying CTEs), so
    /// one round trip instead of five (begin, three statements, commit); the database's work
    /// per refresh was mostly those round trips. Same rules as `rotate_in_transaction`: the
    /// successor is added and the previous token's sealed successor forgotten only if this
    /// statement marked the presented token used (its row lock makes a concurrent rotation of
    /// the same token wait and then find it used). The family row is read `for share`: after
    /// waiting for a lock, PostgreSQL re-checks only the row it updates, not a subquery, so
    /// without the lock a revocation committed meanwhile would go unseen; with it, a revocation
    /// either commits first (and this statement sees it) or waits for this one. PostgreSQL
    /// runs every data-modifying CTE to completion whether or not the final select reads it.
    async fn rotate_in_one_statement(
        &self,
        old_hash: &str,
        successor: &Successor<'_>,
        family_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let marked: i64 = sqlx::query_scalar(
            "with family as ( \
               select family_id from refresh_families \
               where family_id = $4 and revoked_at is null for share), \
             marked as ( \
               update refresh_tokens set used_at = $2, successor_sealed = $3 \
               where token_hash = $1 and used_at is null \
               and family_id in (select family_id from family) \
               returning family_id), \
             added as ( \
               insert into refresh_tokens (token_hash, family_id, created_at, idle_expires_at) \
               select $5, family_id, $2, $6 from marked returning 1), \
             forgotten as ( \
               update refresh_tokens set successor_sealed = null \
               where family_id = $4 and token_hash <> $1 and successor_sealed is not null \
               and exists (select 1 from marked) returning 1) \
             select count(*) from marked",
        )
        .bind(old_hash)
        .bind(now)
        .bind(successor.sealed)
        .bind(family_id)
        .bind(successor.hash)
        .bind(successor.idle_expires_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(marked == 1)
    }

    /// SQLite (no data-modifying CTEs): the same three writes in one transaction.
    async fn rotate_in_transaction(
        &self,
        old_hash: &str,
        successor: &Successor<'_>,
        family_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "update refresh_tokens set used_at = $2, successor_sealed = $3 \
             where token_hash = $1 and used_at is null and family_id in \
             (select family_id from refresh_families where family_id = $4 and revoked_at is null)",
        )
        .bind(old_hash)
        .bind(now)
        .bind(successor.sealed)
        .bind(family_id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_token(
            &mut tx,
            successor.hash,
            family_id,
            now,
            successor.idle_expires_at,
        )
        .await?;
        // Only the token just used keeps its successor sealed (for the grace window): the
        // older ones' successors are spent, and a database copy plus an old token must not
        // unseal the chain up to the live one.
        sqlx::query(
            "update refresh_tokens set successor_sealed = null \
             where family_id = $1 and token_hash <> $2 and successor_sealed is not null",
        )
        .bind(family_id)
        .bind(old_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A family by id: a token exchange reads its subject's, for the grant the user made
    /// (scope, resources) and whether the store has revoked it (a revoked client's families
    /// are revoked here without a revocation-list entry each).
    #[tracing::instrument(skip(self))]
    pub async fn family(&self, family_id: &str) -> Result<Option<FamilyRow>, StoreError> {
        let row = sqlx::query(
            "select family_id, client_id, user_id, sid, scope, auth_time, amr, created_at, \
             expires_at, revoked_at, resources, exchange_origins, dpop_jkt from refresh_families \
             where family_id = $1",
        )
        .bind(family_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(family_from_row).transpose()?)
    }

    /// Whether the family still has a refresh token its client can use now: unused and not
    /// past its idle deadline. A code redemption without `offline_access` stores a family
    /// with none, and a family left idle has only dead ones.
    #[tracing::instrument(skip(self))]
    pub async fn family_has_live_token(
        &self,
        family_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "select 1 as one from refresh_tokens \
             where family_id = $1 and used_at is null and idle_expires_at > $2 limit 1",
        )
        .bind(family_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Stores a family a token exchange started, with its first refresh token and the tokens
    /// it was made from (`origins`, the newest issued at `issued_at`), unless a revocation
    /// entry already names one of them or the family's own (client, API): nothing is stored
    /// then. No revocation commits in between (`family_origins`), so none misses the family.
    /// A client that would hold more than `MAX_EXCHANGED_FAMILIES` live families from the
    /// same user's grant (the first origin family) loses its oldest ones; families from one
    /// grant to one client are stored one at a time, so a burst cannot pass the bound.
    #[tracing::instrument(skip_all)]
    pub async fn insert_exchanged_family(
        &self,
        family: &FamilyRow,
        first_token: (&str, UnixTime),
        from: &ExchangedFrom,
        issued_at: UnixTime,
    ) -> Result<Result<(), FamilyRefused>, StoreError> {
        let origins = &from.xo[..];
        let root = origins.iter().find_map(|o| o.f.as_deref());
        let mut tx = self.pool.begin().await?;
        family_origins::lock_out_revocations(&mut tx, self.backend).await?;
        if let (Some(root), Backend::Postgres) = (root, self.backend) {
            // SQLite's write lock, from the insert below, does the same.
            sqlx::query("select 1 from pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("exchanged {} {root}", family.client_id))
                .execute(&mut *tx)
                .await?;
        }
        insert_family(&mut tx, family, Some(first_token)).await?;
        family_origins::insert_origins(&mut tx, &family.family_id, origins).await?;
        if let Some(root) = root {
            let live = family_origins::live_families_from(
                &mut tx,
                &family.client_id,
                root,
                family.created_at,
            )
            .await?;
            if live > MAX_EXCHANGED_FAMILIES {
                let (client, newest) = (&family.client_id, &family.family_id);
                let excess = live - MAX_EXCHANGED_FAMILIES;
                let now = family.created_at;
                family_origins::revoke_oldest_families_from(
                    &mut tx, client, root, newest, origins, excess, now,
                )
                .await?;
            }
        }
        if family_origins::origin_revoked(&mut tx, origins, issued_at).await? {
            return Ok(Err(FamilyRefused::OriginRevoked));
        }
        // The rights the exchange was made under, as stored now: a change that took one
        // (and revoked the families made under it) either committed before, and is seen
        // here, or waits for this commit and then finds the family (both hold the
        // revocation lock). A node whose cached client still showed the right stores none.
        if let Some(lost) = apis::lost_exchange_right(&mut tx, family, from).await? {
            return Ok(Err(FamilyRefused::RightLost(lost)));
        }
        let (client, resources) = (&family.client_id, &family.resources);
        if family_origins::target_revoked(&mut tx, client, resources, family.created_at).await? {
            return Ok(Err(FamilyRefused::TargetRevoked));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Revokes a family (reuse, code replay, logout, /revoke). Returns whether it was live.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_family(
        &self,
        family_id: &str,
        reason: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update refresh_families set revoked_at = $2, revoked_reason = $3 \
             where family_id = $1 and revoked_at is null",
        )
        .bind(family_id)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes every family of a client (client removed, or its secret rotated with
    /// `--revoke-tokens`).
    pub async fn revoke_client_families(
        &self,
        client_id: &str,
        reason: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.revoke_families(FamilyOwner::Client(client_id), reason, now)
            .await
    }

    /// Revokes every family of a user (an administrator revoked the user's tokens).
    pub async fn revoke_user_families(
        &self,
        user_id: &str,
        reason: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.revoke_families(FamilyOwner::User(user_id), reason, now)
            .await
    }

    /// Revokes every family of a login session (logout).
    pub async fn revoke_session_families(
        &self,
        sid: &str,
        reason: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        self.revoke_families(FamilyOwner::Session(sid), reason, now)
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn revoke_families(
        &self,
        owner: FamilyOwner<'_>,
        reason: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        // The column is chosen from fixed text, never from input.
        let (column, value) = match owner {
            FamilyOwner::Client(v) => ("client_id", v),
            FamilyOwner::User(v) => ("user_id", v),
            FamilyOwner::Session(v) => ("sid", v),
        };
        let sql = format!(
            "update refresh_families set revoked_at = $2, revoked_reason = $3 \
             where {column} = $1 and revoked_at is null"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(now)
            .bind(reason)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// The most live families one client may hold from one user's grant by token exchange
/// (`--exchange-refresh`): a client that exchanged that often keeps no state, and each
/// family is a row and a refresh token until its idle deadline. Past it, the oldest give
/// way to the newest (`Store::insert_exchanged_family`).
pub const MAX_EXCHANGED_FAMILIES: i64 = 100;

/// Why `Store::insert_exchanged_family` stored nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyRefused {
    /// A revocation entry names a token the family would be made from.
    OriginRevoked,
    /// The client no longer has a right the family needs (`ExchangeRights::lost`): a node's
    /// cached client was stale.
    RightLost(LostRight),
    /// A revocation entry names the API the family is for, or the client's link to it (the
    /// API was removed, or taken from the client, and a stale node let the exchange on).
    TargetRevoked,
}

/// Whose families `revoke_families` revokes.
#[derive(Debug, Clone, Copy)]
enum FamilyOwner<'a> {
    Client(&'a str),
    User(&'a str),
    Session(&'a str),
}

pub(super) async fn insert_family(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    f: &FamilyRow,
    first_token: Option<(&str, UnixTime)>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into refresh_families (family_id, client_id, user_id, sid, scope, auth_time, \
         amr, created_at, expires_at, resources, exchange_origins, dpop_jkt) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&f.family_id)
    .bind(&f.client_id)
    .bind(&f.user_id)
    .bind(&f.sid)
    .bind(&f.scope)
    .bind(f.auth_time)
    .bind(&f.amr)
    .bind(f.created_at)
    .bind(f.expires_at)
    .bind(&f.resources)
    .bind(&f.exchange_origins)
    .bind(&f.dpop_jkt)
    .execute(&mut **tx)
    .await?;
    if let Some((hash, idle_expires_at)) = first_token {
        insert_token(tx, hash, &f.family_id, f.created_at, idle_expires_at).await?;
    }
    Ok(())
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hash: &str,
    family_id: &str,
    now: UnixTime,
    idle_expires_at: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into refresh_tokens (token_hash, family_id, created_at, idle_expires_at) \
         values ($1, $2, $3, $4)",
    )
    .bind(hash)
    .bind(family_id)
    .bind(now)
    .bind(idle_expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
