//! APIs (resource servers, RFC 8707) and the links that say which clients use, serve or may
//! exchange into them.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::clock::UnixTime;

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
    /// `Conflict` when the identifier is taken.
    #[tracing::instrument(skip(self, api), fields(identifier = %api.identifier))]
    pub async fn insert_api(&self, api: &ApiRow) -> Result<(), StoreError> {
        sqlx::query(
            "insert into apis (identifier, name, scopes, access_token_ttl, signing_alg, \
             created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&api.identifier)
        .bind(&api.name)
        .bind(&api.scopes)
        .bind(api.access_token_ttl)
        .bind(&api.signing_alg)
        .bind(api.created_at)
        .bind(api.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
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

    /// Deletes an API no client refers to, in one transaction with the check: `Err` with the
    /// clients that still refer to it (any role), `Ok(false)` when there is no such API.
    #[tracing::instrument(skip(self))]
    pub async fn delete_unreferenced_api(
        &self,
        identifier: &str,
    ) -> Result<Result<bool, Vec<String>>, StoreError> {
        let mut tx = self.pool.begin().await?;
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
        tx.commit().await?;
        Ok(Ok(done.rows_affected() > 0))
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

    /// The APIs `client_id` may get tokens for, with their settings, in one query (a client
    /// is allowed a handful; the caller picks the requested ones).
    #[tracing::instrument(skip(self))]
    pub async fn usable_apis(&self, client_id: &str) -> Result<Vec<ApiRow>, StoreError> {
        let rows = sqlx::query(
            "select a.identifier, a.name, a.scopes, a.access_token_ttl, a.signing_alg, \
             a.created_at, a.updated_at from apis a join client_apis c on c.api = a.identifier \
             where c.client_id = $1 and c.role = 'use' order by a.identifier",
        )
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(api_from_row).collect::<Result<_, _>>()?)
    }

    /// A token exchange's whole policy look-up, in one query: the APIs `client_id` serves
    /// (`true`: whose tokens it may exchange) and those it may exchange into (`false`).
    #[tracing::instrument(skip(self))]
    pub async fn exchange_policy(
        &self,
        client_id: &str,
    ) -> Result<Vec<(bool, ApiRow)>, StoreError> {
        let rows = sqlx::query(
            "select c.role, a.identifier, a.name, a.scopes, a.access_token_ttl, a.signing_alg, \
             a.created_at, a.updated_at from apis a join client_apis c on c.api = a.identifier \
             where c.client_id = $1 and c.role in ('serve', 'exchange') order by a.identifier",
        )
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                Ok((role == ApiRole::Serve.as_str(), api_from_row(r)?))
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Replaces the APIs a client uses, serves and may exchange into, all in one transaction,
    /// so that a failure leaves the old links rather than part of the new ones. An API removed meanwhile (the
    /// foreign key) is a `Conflict`, not a server error.
    #[tracing::instrument(skip(self))]
    pub async fn replace_client_apis(
        &self,
        client_id: &str,
        uses: &[String],
        serves: &[String],
        exchanges: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("delete from client_apis where client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        for (role, apis) in [
            (ApiRole::Use, uses),
            (ApiRole::Serve, serves),
            (ApiRole::Exchange, exchanges),
        ] {
            for api in apis {
                sqlx::query("insert into client_apis (client_id, api, role) values ($1, $2, $3)")
                    .bind(client_id)
                    .bind(api)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                            StoreError::Conflict("client_apis_api_fkey".into())
                        }
                        _ => StoreError::from(e),
                    })?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
