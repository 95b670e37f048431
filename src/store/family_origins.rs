//! What a family a token exchange started (`--exchange-refresh`) was made from, as rows
//! (`refresh_family_origins`: one per origin hop and audience of that hop's token), so that a
//! revocation reaches the family in the store and not only through the revocation list, whose
//! entries are purged about an hour later (issue 12 §2).
//!
//! Both sides hold `REVOCATION_WRITE_LOCK` (a revocation insert exclusively, a family insert
//! shared on PostgreSQL; SQLite's single writer), so neither can miss the other: a revocation
//! committed before the family's insert is seen by `origin_revoked`, one committed after it
//! sees the family's rows in `revoke_exchanged_families`.

use sqlx::{Any, AnyConnection, Transaction};

use super::revocations::{NewRevocation, REVOCATION_WRITE_LOCK};
use super::{Backend, FamilyRow, StoreError};
use crate::clock::UnixTime;
use crate::tokens::claims::{MAX_EXCHANGES, Origin};

/// Takes the revocation lock shared (PostgreSQL), so that no revocation commits between the
/// check of the origins and the family's commit; SQLite's write lock, held from the family's
/// insert on, does the same.
pub(super) async fn lock_out_revocations(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("select 1 from pg_advisory_xact_lock_shared($1)")
            .bind(REVOCATION_WRITE_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Writes one row per hop and audience of `origins` for `family_id`.
pub(super) async fn insert_origins(
    tx: &mut Transaction<'_, Any>,
    family_id: &str,
    origins: &[Origin],
) -> Result<(), StoreError> {
    for (hop, o) in (0_i64..).zip(origins) {
        // A token always has an audience; an origin minted before `a` was kept names none,
        // and is still found by its client, jti, key and family.
        let none = [String::new()];
        let audiences = if o.a.is_empty() { &none[..] } else { &o.a[..] };
        for aud in audiences {
            sqlx::query(
                "insert into refresh_family_origins \
                 (family_id, hop, client_id, jti, kid, origin_family, audience) \
                 values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
            )
            .bind(family_id)
            .bind(hop)
            .bind(&o.c)
            .bind(&o.j)
            .bind(&o.k)
            .bind(&o.f)
            .bind(aud)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// How many live families `client_id` holds that were made from tokens of the family `root`:
/// not revoked, not expired at `now`, and with a refresh token still usable (unused, within
/// its idle window). A family left idle (its token purged or about to be) is of no use to
/// anyone and cannot be revoked by its client any more (/revoke needs the token), so it does
/// not hold a slot.
pub(super) async fn live_families_from(
    tx: &mut Transaction<'_, Any>,
    client_id: &str,
    root: &str,
    now: UnixTime,
) -> Result<i64, StoreError> {
    let live: i64 = sqlx::query_scalar(
        "select count(*) from refresh_families where client_id = $1 and revoked_at is null \
         and expires_at > $3 and family_id in \
         (select family_id from refresh_family_origins where origin_family = $2) \
         and exists (select 1 from refresh_tokens t where t.family_id = refresh_families.family_id \
         and t.used_at is null and t.idle_expires_at > $3)",
    )
    .bind(client_id)
    .bind(root)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(live)
}

/// Revokes the `count` oldest live families (as `live_families_from` counts them) that
/// `client_id` holds from tokens of the family `root`, but never `newest` nor a family it was
/// made from (`origins`: their end would end it). A client past the bound keeps its newest
/// families, and one that discarded its refresh tokens (a stateless backend exchanging per
/// request) is not locked out for the idle window. At most `MAX_EXCHANGES` families are
/// spared, so the bound holds within that.
pub(super) async fn revoke_oldest_families_from(
    tx: &mut Transaction<'_, Any>,
    client_id: &str,
    root: &str,
    newest: &str,
    origins: &[Origin],
    count: i64,
    now: UnixTime,
) -> Result<u64, StoreError> {
    // The newest and its origin families, padded with the newest to a fixed list.
    let mut spared: Vec<&str> = origins.iter().filter_map(|o| o.f.as_deref()).collect();
    spared.resize(MAX_EXCHANGES + 1, newest);
    let mut query = sqlx::query(
        "update refresh_families set revoked_at = $3, revoked_reason = $5 where family_id in \
         (select f.family_id from refresh_families f where f.client_id = $1 \
          and f.revoked_at is null and f.expires_at > $3 \
          and f.family_id not in ($6, $7, $8, $9, $10) \
          and f.family_id in \
          (select family_id from refresh_family_origins where origin_family = $2) \
          and exists (select 1 from refresh_tokens t where t.family_id = f.family_id \
          and t.used_at is null and t.idle_expires_at > $3) \
          order by f.created_at, f.family_id limit $4)",
    )
    .bind(client_id)
    .bind(root)
    .bind(now)
    .bind(count)
    .bind(crate::revocation::reason::EXCHANGE_BOUND);
    for family in spared.iter().take(MAX_EXCHANGES + 1) {
        query = query.bind(*family);
    }
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

/// Whether a revocation entry in the store (expired or not, until purged) names one of the
/// origins: its jti, key or family, or its client or one of its APIs as of `issued_at` (the
/// newest origin's issue: every origin was issued before it).
pub(super) async fn origin_revoked(
    tx: &mut Transaction<'_, Any>,
    origins: &[Origin],
    issued_at: UnixTime,
) -> Result<bool, StoreError> {
    for o in origins {
        let none = [String::new()];
        let audiences = if o.a.is_empty() { &none[..] } else { &o.a[..] };
        for aud in audiences {
            let hit: Option<i64> = sqlx::query_scalar(
                "select id from revocations where \
                 (issued_before is null and ((kind = 'jti' and target = $1) \
                   or (kind = 'kid' and target = $2) or (kind = 'family' and target = $3))) \
                 or (issued_before >= $4 and ((kind = 'client' and target = $5) \
                   or (kind = 'api' and target = $6) or (kind = 'client_api' and target = $7))) \
                 limit 1",
            )
            .bind(&o.j)
            .bind(&o.k)
            .bind(&o.f)
            .bind(issued_at)
            .bind(&o.c)
            .bind(aud)
            .bind(crate::revocation::client_api_key(&o.c, aud))
            .fetch_optional(&mut **tx)
            .await?;
            if hit.is_some() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Whether a revocation entry in the store revokes what the new family of `client_id` would
/// issue at `at` for one of `resources` (space-separated): the API's own entry (removed) or
/// the client's for it (taken from the client, up to the stale-cache margin on): a node
/// whose cached links still showed the API would otherwise store a family that refreshes
/// for it again once it is linked again.
pub(super) async fn target_revoked(
    tx: &mut Transaction<'_, Any>,
    client_id: &str,
    resources: &str,
    at: UnixTime,
) -> Result<bool, StoreError> {
    for api in resources.split_whitespace() {
        let hit: Option<i64> = sqlx::query_scalar(
            "select id from revocations where issued_before >= $1 \
             and ((kind = 'api' and target = $2) or (kind = 'client_api' and target = $3)) \
             limit 1",
        )
        .bind(at)
        .bind(api)
        .bind(crate::revocation::client_api_key(client_id, api))
        .fetch_optional(&mut **tx)
        .await?;
        if hit.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Before a grant that names APIs (`resources`, space-separated) is stored: takes the
/// revocation lock shared (`lock_out_revocations`) when there is an API, so that an API
/// taken from the client (`ClientApisChange::take_api`, which holds it exclusively while it
/// narrows grant rows and records its entry) either finishes before this grant is read back
/// by `target_revoked`, or starts after the grant is stored and narrows it. Taken first in
/// the transaction, before any row lock, so that it cannot deadlock against a revocation.
pub(super) async fn lock_out_api_changes(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    resources: &str,
) -> Result<(), StoreError> {
    if resources.split_whitespace().next().is_some() {
        lock_out_revocations(tx, backend).await?;
    }
    Ok(())
}

/// `resources` (space-separated) without the APIs `target_revoked` finds revoked for
/// `client_id` at `at`.
pub(super) async fn without_revoked_targets(
    tx: &mut Transaction<'_, Any>,
    client_id: &str,
    resources: &str,
    at: UnixTime,
) -> Result<String, StoreError> {
    let mut kept = Vec::new();
    for api in resources.split_whitespace() {
        if !target_revoked(tx, client_id, api, at).await? {
            kept.push(api);
        }
    }
    Ok(kept.join(" "))
}

/// A grant for APIs being redeemed: when it was issued (its code or device request) and the
/// API the redemption's access token is for.
#[derive(Debug, Clone, Copy)]
pub struct ApiGrant<'a> {
    pub issued_at: UnixTime,
    pub chosen: Option<&'a str>,
}

/// The family a redemption stores for `grant`: `family` without the APIs a revocation entry
/// took from the client since the grant was issued (read before the change committed, or
/// issued by a node whose cached links were stale), or `None` when that took the one the
/// redemption's token is for. The caller holds `lock_out_api_changes`.
pub(super) async fn narrowed_family(
    tx: &mut Transaction<'_, Any>,
    family: &FamilyRow,
    grant: ApiGrant<'_>,
) -> Result<Option<FamilyRow>, StoreError> {
    let (client, resources) = (&family.client_id, &family.resources);
    let kept = without_revoked_targets(tx, client, resources, grant.issued_at).await?;
    if grant
        .chosen
        .is_some_and(|c| !kept.split_whitespace().any(|k| k == c))
    {
        return Ok(None);
    }
    Ok(Some(FamilyRow {
        resources: kept,
        ..family.clone()
    }))
}

/// Revokes, in the transaction that records `r`, every family a token exchange made from a
/// token `r` revokes: by its jti, key or family, or by its client or API when the family was
/// created at or before the entry's `before` (its origins were issued before it). Other kinds
/// (session, user) reach exchanged families directly: they share the subject's `sid` and user.
pub(super) async fn revoke_exchanged_families(
    conn: &mut AnyConnection,
    r: &NewRevocation<'_>,
) -> Result<u64, StoreError> {
    let (column, target, audience) = match r.kind {
        "jti" => ("jti", r.target, None),
        "kid" => ("kid", r.target, None),
        "family" => ("origin_family", r.target, None),
        "client" => ("client_id", r.target, None),
        "api" => ("audience", r.target, None),
        "client_api" => match r.target.split_once(' ') {
            Some((client, api)) => ("client_id", client, Some(api)),
            None => return Ok(0),
        },
        _ => return Ok(0),
    };
    // The column is chosen from fixed text above, never from input.
    let sql = format!(
        "update refresh_families set revoked_at = $2, revoked_reason = $3 \
         where revoked_at is null and created_at <= $4 and family_id in \
         (select family_id from refresh_family_origins where {column} = $1 \
          and ($5 is null or audience = $5))"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(target)
        .bind(r.revoked_at)
        .bind(r.reason)
        .bind(r.issued_before.unwrap_or(UnixTime::MAX))
        .bind(audience)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
