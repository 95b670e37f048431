//! Every SQL statement about OAuth clients. Rows become `Client`s here, through the same
//! parsers the CLI uses, so a row that no longer parses is a decode error, not a silent default.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use tokio::time::Instant;

use sqlx::FromRow;
use url::Url;

use sqlx::{Any, Transaction};

use super::revocations::CLIENT_CHANNEL;
use super::{Backend, Store, StoreError};
use crate::clock::UnixTime;
use crate::keys::SigningAlg;
use crate::oauth::client::{Client, ClientId, ClientType, GrantType, Registration};
use crate::oauth::redirect_uri::RedirectUri;
use crate::oauth::scope::Scope;
use crate::oauth::sso_group::SsoGroup;

/// PostgreSQL advisory lock key that orders `client_changes` inserts (see
/// `begin_client_change`).
pub const CLIENT_CHANGE_LOCK: i64 = 0x7465_7373_636c_6901;

#[derive(FromRow)]
struct ClientRow {
    client_id: String,
    name: String,
    client_type: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scopes: String,
    first_party: i64,
    resource_server: i64,
    access_token_ttl: Option<i64>,
    backchannel_logout_uri: Option<String>,
    signing_alg: String,
    native_sso_group: Option<String>,
    exchange_refresh: i64,
    exchange_impersonate: i64,
    require_dpop: i64,
    created_at: i64,
    updated_at: i64,
}

/// The column list, as a macro so that every statement stays a `&'static str` (no run-time
/// SQL assembly).
macro_rules! columns {
    () => {
        "client_id, name, client_type, secret_hash, redirect_uris, post_logout_redirect_uris, \
         grant_types, scopes, first_party, access_token_ttl, backchannel_logout_uri, \
         signing_alg, created_at, updated_at, resource_server, native_sso_group, \
         exchange_refresh, exchange_impersonate, require_dpop"
    };
}

/// Clients read for authentication, so that the token endpoint needs no database round trip
/// for a client it has seen (DESIGN §6). An entry is forgotten when `client_changes` says its
/// client changed (removed, secret rotated, edited), on this node at once and on every other
/// node through `crate::revocation::sync` (NOTIFY, cursor poll). `ttl` (a monotonic deadline,
/// not token time) only bounds how long an unchanged row is reused.
#[derive(Debug)]
pub(super) struct ClientCache {
    ttl: Duration,
    state: RwLock<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    entries: HashMap<String, (Instant, Client)>,
    /// A client's API links with the APIs' settings (`Store::client_links`): what `/token`
    /// with `resource`, a token exchange and a backend's introspection look up. They change
    /// only through `client_changes` rows of their client, so they are forgotten with it.
    links: HashMap<String, (Instant, ClientLinks)>,
    /// Bumped by every forget: a row read before it may predate the change, so it is not kept.
    epoch: u64,
    /// The newest `client_changes` id applied. `None` until the first sync: until then nothing
    /// is cached, so a node that never syncs (the CLI) never serves a stale row.
    cursor: Option<i64>,
}

impl ClientCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: RwLock::new(CacheState::default()),
        }
    }

    pub(super) fn ttl(&self) -> Duration {
        self.ttl
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    fn get(&self, id: &str) -> Option<Client> {
        let state = self.state.read().ok()?;
        state.cursor?;
        let (deadline, client) = state.entries.get(id)?;
        (Instant::now() < *deadline).then(|| client.clone())
    }

    /// The epoch to hand back to `put` with a row read after this call.
    fn epoch(&self) -> u64 {
        self.state.read().map(|s| s.epoch).unwrap_or(u64::MAX)
    }

    /// Keeps `client`, read after `epoch()` returned `epoch`, unless a change came since.
    fn put(&self, client: &Client, epoch: u64) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut state) = self.state.write() {
            if state.epoch != epoch || state.cursor.is_none() {
                return;
            }
            let now = Instant::now();
            // Only existing clients are cached, so the map is bounded by the clients table;
            // expired entries go when it grows.
            if state.entries.len() >= 10_000 {
                state.entries.retain(|_, (deadline, _)| now < *deadline);
            }
            state
                .entries
                .insert(client.id.to_string(), (now + self.ttl, client.clone()));
        }
    }

    fn get_links(&self, id: &str) -> Option<ClientLinks> {
        let state = self.state.read().ok()?;
        state.cursor?;
        let (deadline, links) = state.links.get(id)?;
        (Instant::now() < *deadline).then(|| links.clone())
    }

    /// Keeps `links`, read after `epoch()` returned `epoch`, unless a change came since.
    fn put_links(&self, id: &str, links: &ClientLinks, epoch: u64) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut state) = self.state.write() {
            if state.epoch != epoch || state.cursor.is_none() {
                return;
            }
            let now = Instant::now();
            if state.links.len() >= 10_000 {
                state.links.retain(|_, (deadline, _)| now < *deadline);
            }
            state
                .links
                .insert(id.to_string(), (now + self.ttl, links.clone()));
        }
    }

    pub(super) fn forget(&self, id: &str) {
        if let Ok(mut state) = self.state.write() {
            state.entries.remove(id);
            state.links.remove(id);
            state.epoch = state.epoch.wrapping_add(1);
        }
    }

    fn cursor(&self) -> Option<i64> {
        self.state.read().ok().and_then(|s| s.cursor)
    }

    /// First sync: changes up to `latest` concern no entry once everything is forgotten.
    fn start_at(&self, latest: i64) {
        if let Ok(mut state) = self.state.write() {
            state.entries.clear();
            state.links.clear();
            state.epoch = state.epoch.wrapping_add(1);
            state.cursor = Some(latest);
        }
    }

    /// Forgets the clients of `changes` (read after the cursor, oldest first).
    fn apply(&self, changes: Vec<(i64, String)>) {
        if let Ok(mut state) = self.state.write() {
            for (id, client_id) in changes {
                state.entries.remove(&client_id);
                state.links.remove(&client_id);
                state.epoch = state.epoch.wrapping_add(1);
                state.cursor = Some(state.cursor.map_or(id, |c| c.max(id)));
            }
        }
    }
}

/// A client's links to APIs: each with its role and the API's row.
pub type ClientLinks = std::sync::Arc<[(super::ApiRole, super::ApiRow)]>;

/// Where `get_client_for_auth` found a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    Cached,
    /// Read from the database after the cache's epoch was `epoch`.
    Read {
        epoch: u64,
    },
}

impl Store {
    /// `get_client` through the cache: for client authentication only. A hit costs no query.
    /// A row read from the database is not cached yet: the caller hands it to
    /// `remember_authenticated` once the client proved itself, so that a wrong secret never
    /// warms the cache (which would tell, by timing, that the id exists).
    pub async fn get_client_for_auth(
        &self,
        id: &str,
    ) -> Result<Option<(Client, Fetched)>, StoreError> {
        if let Some(client) = self.client_cache.get(id) {
            return Ok(Some((client, Fetched::Cached)));
        }
        let epoch = self.client_cache.epoch();
        let client = self.get_client(id).await?;
        Ok(client.map(|c| (c, Fetched::Read { epoch })))
    }

    /// Caches a client read by `get_client_for_auth` that has just authenticated.
    pub fn remember_authenticated(&self, client: &Client, fetched: Fetched) {
        if let Fetched::Read { epoch } = fetched {
            self.client_cache.put(client, epoch);
        }
    }

    /// `client_id`'s API links through the cache (DESIGN §6): a hit costs no query. Only for
    /// a client that has authenticated (or is otherwise known to exist), so the cache is
    /// bounded by the clients table. A change to the links or the client (`client_changes`)
    /// forgets them on every node within the bound of the client cache.
    pub async fn client_links(&self, client_id: &str) -> Result<ClientLinks, StoreError> {
        if let Some(links) = self.client_cache.get_links(client_id) {
            return Ok(links);
        }
        let epoch = self.client_cache.epoch();
        let links: ClientLinks = self.read_client_links(client_id).await?.into();
        self.client_cache.put_links(client_id, &links, epoch);
        Ok(links)
    }

    /// Brings this node's client cache up to date with `client_changes`: forgets every client
    /// changed after the cursor (by any node or the CLI). Called by `crate::revocation::sync`
    /// on each notification and poll. No-op when the cache is off.
    pub async fn sync_client_cache(&self) -> Result<(), StoreError> {
        if !self.client_cache.enabled() {
            return Ok(());
        }
        match self.client_cache.cursor() {
            None => {
                let latest = self.latest_client_change().await?;
                self.client_cache.start_at(latest);
            }
            Some(cursor) => {
                let changes = self.client_changes_after(cursor).await?;
                self.client_cache.apply(changes);
            }
        }
        Ok(())
    }

    /// The newest `client_changes` id (0 if none).
    #[tracing::instrument(skip(self))]
    async fn latest_client_change(&self) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("select max(id) from client_changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(id.unwrap_or(0))
    }

    /// Changes after `cursor`, oldest first. Ids commit in order (`begin_client_change`), so
    /// none can later appear below a cursor taken from rows read here.
    #[tracing::instrument(skip(self))]
    async fn client_changes_after(&self, cursor: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows =
            sqlx::query_as("select id, client_id from client_changes where id > $1 order by id")
                .bind(cursor)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows)
    }

    /// A transaction for a change to a client row. On PostgreSQL it first takes
    /// `CLIENT_CHANGE_LOCK`, held until commit, so `client_changes` ids commit in the order
    /// they were drawn (as `insert_revocation` does for revocations): a poll by cursor never
    /// steps over a change still in flight. SQLite's single writer gives that order already.
    pub(super) async fn begin_client_change(
        &self,
    ) -> Result<Transaction<'static, Any>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // `pg_advisory_xact_lock` returns void, which the Any driver cannot decode.
            sqlx::query("select 1 from pg_advisory_xact_lock($1)")
                .bind(CLIENT_CHANGE_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Records, in the change's transaction, that client `id` changed, and tells the other
    /// nodes (PostgreSQL delivers the NOTIFY at commit, never for a rolled-back change).
    pub(super) async fn record_client_change(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        insert_client_change(tx, id, now).await?;
        if self.backend == Backend::Postgres {
            notify_client_change(tx, id).await?;
        }
        Ok(())
    }

    /// Runs `statement`, a change to client `id`'s row, in a client change: recorded in
    /// `client_changes` when it changed a row (every node forgets the client), committed, and
    /// forgotten here at once. Whether it changed a row.
    async fn change_client(
        &self,
        id: &str,
        now: UnixTime,
        statement: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_client_change().await?;
        let changed = statement.execute(&mut *tx).await?.rows_affected() > 0;
        if changed {
            self.record_client_change(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        self.client_cache.forget(id);
        Ok(changed)
    }

    /// `client_changes` rows older than `before`, at most `limit` (see `crate::purge`).
    #[tracing::instrument(skip(self))]
    pub async fn purge_client_changes_batch(
        &self,
        before: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "delete from client_changes where id in \
             (select id from client_changes where changed_at < $1 limit $2)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Inserts a new client with `id` and (for confidential clients) the secret's hash.
    #[tracing::instrument(skip(self, registration, secret_hash))]
    pub async fn insert_client(
        &self,
        id: &ClientId,
        registration: &Registration,
        secret_hash: Option<&str>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "insert into clients (",
            columns!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, 0, 0, $16)"
        ))
        .bind(id.as_str().to_string())
        .bind(registration.name.clone())
        .bind(registration.client_type.as_str().to_string())
        .bind(secret_hash.map(str::to_string))
        .bind(uris_column(&registration.redirect_uris))
        .bind(uris_column(&registration.post_logout_redirect_uris))
        .bind(join(registration.grant_types.iter().map(|g| g.as_str())))
        .bind(registration.scopes.to_string())
        .bind(i64::from(registration.first_party))
        .bind(ttl_column(registration))
        .bind(
            registration
                .backchannel_logout_uri
                .as_ref()
                .map(Url::to_string),
        )
        .bind(registration.signing_alg.as_str().to_string())
        .bind(now)
        .bind(i64::from(registration.resource_server))
        .bind(sso_group_column(registration))
        .bind(i64::from(registration.require_dpop))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    pub async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let row: Option<ClientRow> = sqlx::query_as(concat!(
            "select ",
            columns!(),
            " from clients where client_id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(ClientRow::into_client).transpose()
    }

    #[tracing::instrument(skip(self))]
    pub async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows: Vec<ClientRow> = sqlx::query_as(concat!(
            "select ",
            columns!(),
            " from clients order by created_at, client_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ClientRow::into_client).collect()
    }

    /// One page of clients, in the order of `list_clients`.
    #[tracing::instrument(skip(self))]
    pub async fn list_clients_page(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Client>, StoreError> {
        let rows: Vec<ClientRow> = sqlx::query_as(concat!(
            "select ",
            columns!(),
            " from clients order by created_at, client_id limit $1 offset $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ClientRow::into_client).collect()
    }

    /// Whether a client was deleted. Every node's cache forgets it (`client_changes`).
    #[tracing::instrument(skip(self))]
    pub async fn delete_client(&self, id: &str, now: UnixTime) -> Result<bool, StoreError> {
        let delete = sqlx::query("delete from clients where client_id = $1").bind(id.to_string());
        self.change_client(id, now, delete).await
    }

    /// Replaces what an administrator may edit (name, redirect URIs, lifetimes, back-channel
    /// logout URI, resource server, Native SSO group); whether the client exists. Type,
    /// grants, scope and algorithm stay.
    #[tracing::instrument(skip(self, registration))]
    pub async fn update_client_settings(
        &self,
        id: &str,
        registration: &Registration,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "update clients set name = $1, redirect_uris = $2, post_logout_redirect_uris = $3, \
             access_token_ttl = $4, backchannel_logout_uri = $5, updated_at = $6, \
             resource_server = $8, native_sso_group = $9, require_dpop = $10 where client_id = $7",
        )
        .bind(registration.name.clone())
        .bind(uris_column(&registration.redirect_uris))
        .bind(uris_column(&registration.post_logout_redirect_uris))
        .bind(ttl_column(registration))
        .bind(
            registration
                .backchannel_logout_uri
                .as_ref()
                .map(Url::to_string),
        )
        .bind(now)
        .bind(id.to_string())
        .bind(i64::from(registration.resource_server))
        .bind(sso_group_column(registration))
        .bind(i64::from(registration.require_dpop));
        self.change_client(id, now, update).await
    }

    /// Replaces a confidential client's secret hash; whether such a client exists.
    #[tracing::instrument(skip(self, secret_hash))]
    pub async fn set_client_secret_hash(
        &self,
        id: &str,
        secret_hash: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "update clients set secret_hash = $1, updated_at = $2 \
             where client_id = $3 and client_type = 'confidential'",
        )
        .bind(secret_hash.to_string())
        .bind(now)
        .bind(id.to_string());
        self.change_client(id, now, update).await
    }
}

#[tracing::instrument(skip(tx))]
async fn insert_client_change(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query("insert into client_changes (client_id, changed_at) values ($1, $2)")
        .bind(id.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// PostgreSQL only: `NOTIFY` on `CLIENT_CHANNEL`, the payload the client id (bound, not
/// formatted: `pg_notify` takes parameters where `NOTIFY` does not).
#[tracing::instrument(skip(tx))]
async fn notify_client_change(
    tx: &mut Transaction<'static, Any>,
    id: &str,
) -> Result<(), StoreError> {
    // `pg_notify` returns void, which the Any driver cannot decode.
    sqlx::query("select 1 from pg_notify($1, $2)")
        .bind(CLIENT_CHANNEL)
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(" ")
}

fn decode_error(column: &str, why: String) -> StoreError {
    StoreError::Other(sqlx::Error::Decode(
        format!("clients.{column}: {why}").into(),
    ))
}

impl ClientRow {
    fn into_client(self) -> Result<Client, StoreError> {
        let client_type =
            ClientType::parse(&self.client_type).map_err(|e| decode_error("client_type", e.0))?;
        let uris = |column: &str, text: &str| {
            text.split(' ')
                .filter(|u| !u.is_empty())
                .map(|u| RedirectUri::parse(u, client_type))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| decode_error(column, e.to_string()))
        };
        Ok(Client {
            id: ClientId::parse(&self.client_id).map_err(|e| decode_error("client_id", e.0))?,
            redirect_uris: uris("redirect_uris", &self.redirect_uris)?,
            post_logout_redirect_uris: uris(
                "post_logout_redirect_uris",
                &self.post_logout_redirect_uris,
            )?,
            grant_types: self
                .grant_types
                .split(' ')
                .filter(|g| !g.is_empty())
                .map(GrantType::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| decode_error("grant_types", e.0))?,
            scopes: Scope::parse(&self.scopes)
                .map_err(|e| decode_error("scopes", e.to_string()))?,
            access_token_ttl: self
                .access_token_ttl
                .map(|s| u64::try_from(s).map(Duration::from_secs))
                .transpose()
                .map_err(|_| decode_error("access_token_ttl", "negative".into()))?,
            backchannel_logout_uri: self
                .backchannel_logout_uri
                .as_deref()
                .map(Url::parse)
                .transpose()
                .map_err(|e| decode_error("backchannel_logout_uri", e.to_string()))?,
            signing_alg: SigningAlg::parse(&self.signing_alg)
                .map_err(|e| decode_error("signing_alg", e.to_string()))?,
            native_sso_group: self
                .native_sso_group
                .as_deref()
                .map(SsoGroup::parse)
                .transpose()
                .map_err(|e| decode_error("native_sso_group", e.0))?,
            name: self.name,
            client_type,
            secret_hash: self.secret_hash,
            first_party: self.first_party != 0,
            resource_server: self.resource_server != 0,
            exchange_refresh: self.exchange_refresh != 0,
            exchange_impersonate: self.exchange_impersonate != 0,
            require_dpop: self.require_dpop != 0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A list of URIs as stored: space-separated.
fn sso_group_column(registration: &Registration) -> Option<String> {
    registration
        .native_sso_group
        .as_ref()
        .map(|g| g.as_str().to_string())
}

fn uris_column(uris: &[RedirectUri]) -> String {
    join(uris.iter().map(RedirectUri::as_str))
}

/// The access-token lifetime override as stored: seconds, or null for the default.
fn ttl_column(registration: &Registration) -> Option<i64> {
    registration
        .access_token_ttl
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str) -> Client {
        Client {
            id: ClientId::parse(id).unwrap(),
            name: id.into(),
            client_type: ClientType::Confidential,
            secret_hash: Some("h".into()),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            scopes: Scope::parse("api").unwrap(),
            first_party: false,
            resource_server: false,
            access_token_ttl: None,
            backchannel_logout_uri: None,
            signing_alg: SigningAlg::default(),
            native_sso_group: None,
            exchange_refresh: false,
            exchange_impersonate: false,
            require_dpop: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn cache() -> ClientCache {
        ClientCache::new(Duration::from_secs(60))
    }

    #[test]
    fn nothing_is_cached_before_the_first_sync() {
        let cache = cache();
        cache.put(&client("c1"), cache.epoch());
        assert!(cache.get("c1").is_none());
        cache.start_at(7);
        assert_eq!(cache.cursor(), Some(7));
        cache.put(&client("c1"), cache.epoch());
        assert!(cache.get("c1").is_some());
    }

    #[test]
    fn a_row_read_before_a_change_arrived_is_not_kept() {
        let cache = cache();
        cache.start_at(0);
        let before_read = cache.epoch();
        // The change arrives (another node's, by poll) while the row is being read.
        cache.apply(vec![(1, "c1".into())]);
        cache.put(&client("c1"), before_read);
        assert!(cache.get("c1").is_none());
        // Likewise a change made on this node.
        let before_read = cache.epoch();
        cache.forget("c1");
        cache.put(&client("c1"), before_read);
        assert!(cache.get("c1").is_none());
    }

    #[test]
    fn changes_forget_their_clients_and_move_the_cursor() {
        let cache = cache();
        cache.start_at(3);
        for id in ["c1", "c2"] {
            cache.put(&client(id), cache.epoch());
        }
        cache.apply(vec![(4, "c1".into()), (6, "other".into())]);
        assert!(cache.get("c1").is_none());
        assert!(cache.get("c2").is_some());
        assert_eq!(cache.cursor(), Some(6));
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = ClientCache::new(Duration::ZERO);
        cache.start_at(0);
        cache.put(&client("c1"), cache.epoch());
        assert!(cache.get("c1").is_none());
    }
}
