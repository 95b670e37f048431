//! Every SQL statement about OAuth clients. Rows become `Client`s here, through the same
//! parsers the CLI uses, so a row that no longer parses is a decode error, not a silent default.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use tokio::time::Instant;

use sqlx::FromRow;
use url::Url;

use super::{Store, StoreError};
use crate::clock::UnixTime;
use crate::keys::SigningAlg;
use crate::oauth::client::{Client, ClientId, ClientType, GrantType, Registration};
use crate::oauth::redirect_uri::RedirectUri;
use crate::oauth::scope::Scope;

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
    created_at: i64,
    updated_at: i64,
}

/// The column list, as a macro so that every statement stays a `&'static str` (no run-time
/// SQL assembly).
macro_rules! columns {
    () => {
        "client_id, name, client_type, secret_hash, redirect_uris, post_logout_redirect_uris, \
         grant_types, scopes, first_party, access_token_ttl, backchannel_logout_uri, \
         signing_alg, created_at, updated_at, resource_server"
    };
}

/// Clients read for authentication, kept `ttl` (a monotonic deadline, not token time): the
/// token endpoint then needs no database round trip for a client that calls often. Writes
/// through this `Store` forget the entry at once.
#[derive(Debug)]
pub(super) struct ClientCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Instant, Client)>>,
}

impl ClientCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, id: &str) -> Option<Client> {
        let entries = self.entries.read().ok()?;
        let (deadline, client) = entries.get(id)?;
        (Instant::now() < *deadline).then(|| client.clone())
    }

    fn put(&self, client: &Client) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            let now = Instant::now();
            // Only existing clients are cached, so the map is bounded by the clients table;
            // expired entries go when it grows.
            if entries.len() >= 10_000 {
                entries.retain(|_, (deadline, _)| now < *deadline);
            }
            entries.insert(client.id.to_string(), (now + self.ttl, client.clone()));
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(id);
        }
    }
}

impl Store {
    /// `get_client` through the cache: for client authentication only, where a client row at
    /// most `client_cache_ttl` old is good enough.
    pub async fn get_client_for_auth(&self, id: &str) -> Result<Option<Client>, StoreError> {
        if let Some(client) = self.client_cache.get(id) {
            return Ok(Some(client));
        }
        let client = self.get_client(id).await?;
        if let Some(c) = &client {
            self.client_cache.put(c);
        }
        Ok(client)
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
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)"
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

    /// Whether a client was deleted.
    #[tracing::instrument(skip(self))]
    pub async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from clients where client_id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        self.client_cache.forget(id);
        Ok(done.rows_affected() > 0)
    }

    /// Replaces what an administrator may edit (name, redirect URIs, lifetimes, back-channel
    /// logout URI, resource server); whether the client exists. Type, grants, scope and
    /// algorithm stay.
    #[tracing::instrument(skip(self, registration))]
    pub async fn update_client_settings(
        &self,
        id: &str,
        registration: &Registration,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update clients set name = $1, redirect_uris = $2, post_logout_redirect_uris = $3, \
             access_token_ttl = $4, backchannel_logout_uri = $5, updated_at = $6, \
             resource_server = $8 where client_id = $7",
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
        .execute(&self.pool)
        .await?;
        self.client_cache.forget(id);
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a confidential client's secret hash; whether such a client exists.
    #[tracing::instrument(skip(self, secret_hash))]
    pub async fn set_client_secret_hash(
        &self,
        id: &str,
        secret_hash: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update clients set secret_hash = $1, updated_at = $2 \
             where client_id = $3 and client_type = 'confidential'",
        )
        .bind(secret_hash.to_string())
        .bind(now)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        self.client_cache.forget(id);
        Ok(done.rows_affected() > 0)
    }
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
            name: self.name,
            client_type,
            secret_hash: self.secret_hash,
            first_party: self.first_party != 0,
            resource_server: self.resource_server != 0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A list of URIs as stored: space-separated.
fn uris_column(uris: &[RedirectUri]) -> String {
    join(uris.iter().map(RedirectUri::as_str))
}

/// The access-token lifetime override as stored: seconds, or null for the default.
fn ttl_column(registration: &Registration) -> Option<i64> {
    registration
        .access_token_ttl
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
