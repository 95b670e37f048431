//! APIs (resource servers, RFC 8707) and the links that say which clients use, serve or may
//! exchange into them.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::admin::word_pattern;
use super::audit::insert_audit;
use super::clients::{CLIENT_CHANGE_LOCK, ClientLinks};
use super::revocations::{NewRevocation, insert_revocation_in, lock_revocation_writes};
use super::{Backend, FamilyRow, NewAuditEntry, Store, StoreError};
use crate::clock::UnixTime;
use crate::oauth::exchange_rights::{ExchangeRights, LostRight};
use crate::oauth::resource::Resource;
use crate::tokens::claims::ExchangedFrom;

/// An API as stored; `oauth::resource::Api` is its checked form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRow {
    pub identifier: String,
    pub name: Option<String>,
    pub scopes: String,
    pub access_token_ttl: Option<i64>,
    pub signing_alg: Option<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// What a client may do with an API (`client_apis.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiRole {
    /// The client may get tokens for the API (`resource`).
    Use,
    /// The client is the API's backend: it may introspect tokens for it.
    Serve,
    /// The client may exchange tokens into the API (RFC 8693 token exchange).
    Exchange,
}

impl ApiRole {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "use" => Some(Self::Use),
            "serve" => Some(Self::Serve),
            "exchange" => Some(Self::Exchange),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Use => "use",
            ApiRole::Serve => "serve",
            ApiRole::Exchange => "exchange",
        }
    }
}

const COLUMNS: &str =
    "identifier, name, scopes, access_token_ttl, signing_alg, created_at, updated_at";

fn api_from_row(r: &AnyRow) -> Result<ApiRow, sqlx::Error> {
    Ok(ApiRow {
        identifier: r.try_get("identifier")?,
        name: r.try_get("name")?,
        scopes: r.try_get("scopes")?,
        access_token_ttl: r.try_get("access_token_ttl")?,
        signing_alg: r.try_get("signing_alg")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// `Conflict` when the identifier, or one differing from it only in case or a final
    /// slash (the unique `identifier_key`, `Resource::folded`), is taken: the database decides,
    /// so that parallel look-alikes register exactly one.
    #[tracing::instrument(skip(self, api), fields(identifier = %api.identifier))]
    pub async fn insert_api(&self, api: &ApiRow) -> Result<(), StoreError> {
        sqlx::query(
            "insert into apis (identifier, name, scopes, access_token_ttl, signing_alg, \
             created_at, updated_at, identifier_key) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&api.identifier)
        .bind(&api.name)
        .bind(&api.scopes)
        .bind(api.access_token_ttl)
        .bind(&api.signing_alg)
        .bind(api.created_at)
        .bind(api.updated_at)
        .bind(Resource::from_stored(api.identifier.clone()).folded())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The API whose identifier differs from `identifier` at most in case or a final slash.
    #[tracing::instrument(skip(self))]
    pub async fn api_like(&self, identifier: &str) -> Result<Option<ApiRow>, StoreError> {
        let sql = format!("select {COLUMNS} from apis where identifier_key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(Resource::from_stored(identifier.to_string()).folded())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(api_from_row).transpose()?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn api(&self, identifier: &str) -> Result<Option<ApiRow>, StoreError> {
        let sql = format!("select {COLUMNS} from apis where identifier = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(api_from_row).transpose()?)
    }

    /// Every API, by identifier.
    #[tracing::instrument(skip(self))]
    pub async fn list_apis(&self) -> Result<Vec<ApiRow>, StoreError> {
        let sql = format!("select {COLUMNS} from apis order by identifier");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(api_from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes an API no client refers to, in one transaction with the check and its audit
    /// entry: `Err` with the clients that still refer to it (any role), `Ok(false)` when there
    /// is no such API. It holds the lock of link changes (`begin_link_change`), so a client
    /// cannot be linked to the API between the check and the delete.
    /// With the delete, in its transaction, `entry` (kind `api`) is recorded, and the families
    /// exchanged from tokens for the API revoked with it (`insert_revocation_in`); `Ok(Some(id))`
    /// then.
    #[tracing::instrument(skip(self, audit, entry))]
    pub async fn delete_unreferenced_api(
        &self,
        identifier: &str,
        audit: &NewAuditEntry<'_>,
        entry: &NewRevocation<'_>,
    ) -> Result<Result<Option<i64>, Vec<String>>, StoreError> {
        let mut tx = self.begin_link_change().await?;
        let users: Vec<String> = sqlx::query(
            "select distinct client_id from client_apis where api = $1 order by client_id",
        )
        .bind(identifier)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("client_id"))
        .collect::<Result<_, _>>()?;
        if !users.is_empty() {
            return Ok(Err(users));
        }
        let done = sqlx::query("delete from apis where identifier = $1")
            .bind(identifier)
            .execute(&mut *tx)
            .await?;
        let mut id = None;
        if done.rows_affected() > 0 {
            insert_audit(&mut *tx, audit).await?;
            id = insert_revocation_in(&mut tx, self.backend, entry).await?;
        }
        tx.commit().await?;
        Ok(Ok(id))
    }

    /// The APIs `client_id` has `role` for, by identifier.
    #[tracing::instrument(skip(self))]
    pub async fn client_apis(
        &self,
        client_id: &str,
        role: ApiRole,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "select api from client_apis where client_id = $1 and role = $2 order by api",
        )
        .bind(client_id)
        .bind(role.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("api"))
            .collect::<Result<_, _>>()?)
    }

    /// Every link of `client_id` with its API's settings, in one query: what
    /// `Store::client_links` caches.
    #[tracing::instrument(skip(self))]
    pub(super) async fn read_client_links(
        &self,
        client_id: &str,
    ) -> Result<Vec<(ApiRole, ApiRow)>, StoreError> {
        let rows = sqlx::query(
            "select c.role, a.identifier, a.name, a.scopes, a.access_token_ttl, a.signing_alg, \
             a.created_at, a.updated_at from apis a join client_apis c on c.api = a.identifier \
             where c.client_id = $1 order by a.identifier, c.role",
        )
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        let mut links = Vec::with_capacity(rows.len());
        for r in &rows {
            let role: String = r.try_get("role")?;
            // The check constraint allows only the three roles.
            if let Some(role) = ApiRole::parse(&role) {
                links.push((role, api_from_row(r)?));
            }
        }
        Ok(links)
    }

    /// The APIs `client_id` may get tokens for, with their settings (a client is allowed a
    /// handful; the caller picks the requested ones). Cached (`client_links`).
    pub async fn usable_apis(&self, client_id: &str) -> Result<Vec<ApiRow>, StoreError> {
        Ok(with_role(&self.client_links(client_id).await?, ApiRole::Use).collect())
    }

    /// The identifiers of the APIs `client_id` serves. Cached (`client_links`).
    pub async fn served_apis(&self, client_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            with_role(&self.client_links(client_id).await?, ApiRole::Serve)
                .map(|a| a.identifier)
                .collect(),
        )
    }

    /// A token exchange's whole policy look-up: the APIs `client_id` serves (`true`: whose
    /// tokens it may exchange) and those it may exchange into (`false`). Cached
    /// (`client_links`): an exchange by a client seen recently reads no database.
    pub async fn exchange_policy(
        &self,
        client_id: &str,
    ) -> Result<Vec<(bool, ApiRow)>, StoreError> {
        Ok(self
            .client_links(client_id)
            .await?
            .iter()
            .filter(|(role, _)| matches!(role, ApiRole::Serve | ApiRole::Exchange))
            .map(|(role, api)| (*role == ApiRole::Serve, api.clone()))
            .collect())
    }

    /// A transaction for a change to API links or APIs, holding their lock until it ends:
    /// on PostgreSQL `CLIENT_CHANGE_LOCK` (the `client_changes` order, which every client
    /// change takes first), on SQLite the write lock from the first statement (`BEGIN
    /// IMMEDIATE`: a deferred transaction that read before another process wrote would fail
    /// instead of waiting). What it reads cannot change before it writes.
    async fn begin_link_change(&self) -> Result<Transaction<'static, Any>, StoreError> {
        match self.backend {
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // `pg_advisory_xact_lock` returns void, which the Any driver cannot decode.
                sqlx::query("select 1 from pg_advisory_xact_lock($1)")
                    .bind(CLIENT_CHANGE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
        }
    }

    /// Starts a change to `client_id`'s API links: its row locked (PostgreSQL `for no key
    /// update`, which waits for and blocks every update or delete of the row but not the
    /// foreign-key checks of sessions and codes that name the client; SQLite's write lock is
    /// already held) so that the links read next are the ones replaced, and a removal racing
    /// it waits. `None` when there is no such client.
    #[tracing::instrument(skip(self))]
    pub async fn begin_client_apis_change(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientApisChange>, StoreError> {
        let mut tx = self.begin_link_change().await?;
        let lock = match self.backend {
            Backend::Postgres => {
                "select client_id from clients where client_id = $1 for no key update"
            }
            Backend::Sqlite => "select client_id from clients where client_id = $1",
        };
        let found = sqlx::query(lock)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
        // Before any grant row is updated (`take_api`, the families a lost right ends): the
        // revocation writes of this change then wait for no row a revocation holds.
        lock_revocation_writes(&mut tx, self.backend).await?;
        Ok(found.map(|_| ClientApisChange {
            tx,
            client_id: client_id.to_string(),
        }))
    }
}

/// What the client of `family`, a family a token exchange starts `from`, lacks as stored in
/// `tx` to keep it (`ExchangeRights::lost`). No client: every right.
pub(super) async fn lost_exchange_right(
    tx: &mut Transaction<'_, Any>,
    family: &FamilyRow,
    from: &ExchangedFrom,
) -> Result<Option<LostRight>, StoreError> {
    let row = sqlx::query(
        "select exchange_refresh, exchange_impersonate from clients where client_id = $1",
    )
    .bind(&family.client_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(Some(LostRight::Refresh));
    };
    let refresh: i64 = row.try_get("exchange_refresh")?;
    let impersonate: i64 = row.try_get("exchange_impersonate")?;
    let links = sqlx::query("select role, api from client_apis where client_id = $1")
        .bind(&family.client_id)
        .fetch_all(&mut **tx)
        .await?;
    let (mut serves, mut audiences) = (Vec::new(), Vec::new());
    for link in &links {
        let role: String = link.try_get("role")?;
        let api: String = link.try_get("api")?;
        match role.as_str() {
            r if r == ApiRole::Serve.as_str() => serves.push(api),
            r if r == ApiRole::Exchange.as_str() => audiences.push(api),
            _ => {}
        }
    }
    let rights = ExchangeRights {
        refresh: refresh != 0,
        impersonate: impersonate != 0,
        serves: &serves,
        audiences: &audiences,
    };
    Ok(rights.lost(&family.client_id, family.resources.trim(), from))
}

fn with_role(links: &ClientLinks, role: ApiRole) -> impl Iterator<Item = ApiRow> + '_ {
    links
        .iter()
        .filter(move |(r, _)| *r == role)
        .map(|(_, api)| api.clone())
}

/// A change to one client's API links: read, check, replace and audit in one transaction
/// (`Store::begin_client_apis_change`); dropped without `commit`, nothing changes.
pub struct ClientApisChange {
    tx: Transaction<'static, Any>,
    client_id: String,
}

impl ClientApisChange {
    /// The APIs the client has `role` for, as of this change.
    #[tracing::instrument(skip(self), fields(client_id = %self.client_id))]
    pub async fn links(&mut self, role: ApiRole) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "select api from client_apis where client_id = $1 and role = $2 order by api",
        )
        .bind(self.client_id.as_str())
        .bind(role.as_str())
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("api"))
            .collect::<Result<_, _>>()?)
    }

    /// Replaces the APIs the client uses, serves and may exchange into, and records the
    /// change in `client_changes` (every node forgets the cached links). An API removed
    /// meanwhile (the foreign key) is a `Conflict`, not a server error.
    #[tracing::instrument(skip(self, store), fields(client_id = %self.client_id))]
    pub async fn replace(
        &mut self,
        store: &Store,
        uses: &[String],
        serves: &[String],
        exchanges: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query("delete from client_apis where client_id = $1")
            .bind(self.client_id.as_str())
            .execute(&mut *self.tx)
            .await?;
        for (role, apis) in [
            (ApiRole::Use, uses),
            (ApiRole::Serve, serves),
            (ApiRole::Exchange, exchanges),
        ] {
            for api in apis {
                sqlx::query("insert into client_apis (client_id, api, role) values ($1, $2, $3)")
                    .bind(self.client_id.as_str())
                    .bind(api)
                    .bind(role.as_str())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                            StoreError::Conflict("client_apis_api_fkey".into())
                        }
                        _ => StoreError::from(e),
                    })?;
            }
        }
        store
            .record_client_change(&mut self.tx, &self.client_id, now)
            .await
    }

    /// The client's token-exchange options (`exchange_refresh`, `exchange_impersonate`), as
    /// of this change.
    #[tracing::instrument(skip(self), fields(client_id = %self.client_id))]
    pub async fn exchange_options(&mut self) -> Result<(bool, bool), StoreError> {
        let row = sqlx::query(
            "select exchange_refresh, exchange_impersonate from clients where client_id = $1",
        )
        .bind(self.client_id.as_str())
        .fetch_one(&mut *self.tx)
        .await?;
        let refresh: i64 = row.try_get("exchange_refresh")?;
        let impersonate: i64 = row.try_get("exchange_impersonate")?;
        Ok((refresh != 0, impersonate != 0))
    }

    /// Sets the client's token-exchange options in this change (recorded in `client_changes`
    /// so that every node forgets the cached client).
    #[tracing::instrument(skip(self, store), fields(client_id = %self.client_id))]
    pub async fn set_exchange_options(
        &mut self,
        store: &Store,
        refresh: bool,
        impersonate: bool,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update clients set exchange_refresh = $1, exchange_impersonate = $2, \
             updated_at = $3 where client_id = $4",
        )
        .bind(i64::from(refresh))
        .bind(i64::from(impersonate))
        .bind(now)
        .bind(self.client_id.as_str())
        .execute(&mut *self.tx)
        .await?;
        store
            .record_client_change(&mut self.tx, &self.client_id, now)
            .await
    }

    /// Revokes, in this change, the client's families from token exchange that a refresh
    /// would refuse now that it has only `rights` (issue 12 §2, `ExchangeRights::lost`), so
    /// that granting the right again revives none of them. Returns how many.
    #[tracing::instrument(skip(self), fields(client_id = %self.client_id))]
    pub async fn revoke_unqualified_exchanged_families(
        &mut self,
        rights: ExchangeRights<'_>,
        reason: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let rows = sqlx::query(
            "select family_id, resources, exchange_origins from refresh_families \
             where client_id = $1 and revoked_at is null and exchange_origins is not null",
        )
        .bind(self.client_id.as_str())
        .fetch_all(&mut *self.tx)
        .await?;
        let mut verdicts = Vec::with_capacity(rows.len());
        for row in &rows {
            let family: String = row.try_get("family_id")?;
            let target: String = row.try_get("resources")?;
            let stored: String = row.try_get("exchange_origins")?;
            // A record that cannot be read cannot show the family's rights: it ends.
            let keeps = serde_json::from_str::<ExchangedFrom>(&stored)
                .is_ok_and(|from| rights.lost(&self.client_id, target.trim(), &from).is_none());
            verdicts.push((family, keeps));
        }
        let mut revoked = 0;
        for family in verdicts
            .into_iter()
            .filter_map(|(f, keeps)| (!keeps).then_some(f))
        {
            revoked += sqlx::query(
                "update refresh_families set revoked_at = $2, revoked_reason = $3 \
                 where family_id = $1 and revoked_at is null",
            )
            .bind(&family)
            .bind(now)
            .bind(reason)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        }
        Ok(revoked)
    }

    /// Takes `api` from the client for good, in this change: records the `client_api`
    /// revocation entry `entry` (with the families exchanged from the client's tokens for the
    /// API, `insert_revocation_in`), and takes the API from the client's grants: its refresh
    /// families for that API alone are revoked, those for several APIs lose it, and the
    /// consents its users gave, its authorization codes and device codes not yet redeemed
    /// forget it, so that linking the API again revives no grant for it. Returns the entry's
    /// id.
    #[tracing::instrument(skip(self, store, entry), fields(client_id = %self.client_id))]
    pub async fn take_api(
        &mut self,
        store: &Store,
        api: &str,
        entry: &NewRevocation<'_>,
    ) -> Result<i64, StoreError> {
        // The change holds the cluster-wide revocation lock since it began
        // (`begin_client_apis_change`), which every logout, /revoke and exchange waits for:
        // the updates below are quick on the client_id indexes (0024).
        // `naming` finds the lists that hold the API as a word (LIKE, its wildcards escaped);
        // `word` is what `replace` takes out of them. Lists are stored space-separated.
        let naming = word_pattern(api);
        let word = format!(" {api} ");
        sqlx::query(
            "update refresh_families set revoked_at = $4, revoked_reason = $5 \
             where client_id = $1 and revoked_at is null \
             and (' ' || resources || ' ') like $2 escape '\\' \
             and trim(replace(' ' || resources || ' ', $3, ' ')) = ''",
        )
        .bind(self.client_id.as_str())
        .bind(&naming)
        .bind(&word)
        .bind(entry.revoked_at)
        .bind(entry.reason)
        .execute(&mut *self.tx)
        .await?;
        // Grants in flight too (codes and device codes not yet redeemed): redeemed after
        // the API is linked again, they would otherwise carry it back.
        for table in [
            "refresh_families",
            "consents",
            "authorization_codes",
            "device_codes",
        ] {
            // The table is one of the names above, never input.
            let sql = format!(
                "update {table} set resources = trim(replace(' ' || resources || ' ', $3, ' ')) \
                 where client_id = $1 and (' ' || resources || ' ') like $2 escape '\\'"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(self.client_id.as_str())
                .bind(&naming)
                .bind(&word)
                .execute(&mut *self.tx)
                .await?;
        }
        insert_revocation_in(&mut self.tx, store.backend, entry)
            .await?
            .ok_or_else(|| StoreError::Conflict("revocations_once".into()))
    }

    /// The change's audit entry, committed with it.
    pub async fn audit(&mut self, entry: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        insert_audit(&mut *self.tx, entry).await
    }

    /// Commits; this node forgets the client's cached links at once, the others on the
    /// notification (or their next poll).
    pub async fn commit(self, store: &Store) -> Result<(), StoreError> {
        self.tx.commit().await?;
        store.client_cache.forget(&self.client_id);
        Ok(())
    }
}
