//! APIs (resource servers, RFC 8707): register, list, show, remove; and which APIs a client
//! may get tokens for (`use`) or serves (`serve`). The console, the admin API and
//! `tessera api …` / `tessera client … --api` call these.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::json;

use super::clients::Registered;
use super::{Actor, Admin, AdminError};
use crate::clock::UnixTime;
use crate::keys::SigningAlg;
use crate::oauth::client::{ClientType, GrantType, MAX_ACCESS_TOKEN_TTL, RegistrationInput};
use crate::oauth::exchange_rights::ExchangeRights;
use crate::oauth::resource::Resource;
use crate::oauth::scope::Scope;
use crate::revocation::{Revocation, Target, client_api_key, reason};
use crate::store::{ApiRole, ApiRow, NewAuditEntry, StoreError};

/// The most scopes one API may define.
const MAX_API_SCOPES: usize = 100;

/// Scopes that Tessera itself gives meaning to (OIDC Core §5.4, §11; Native SSO; the admin API).
const RESERVED_SCOPES: &[&str] = &[
    "openid",
    "offline_access",
    "profile",
    "email",
    "roles",
    "device_sso",
    "tessera:admin",
];

/// What an operator asks for, in raw form; `ApiInput::parse` checks it.
#[derive(Debug, Clone, Default)]
pub struct ApiInput {
    pub identifier: String,
    pub name: Option<String>,
    /// Space-separated: the scopes the API defines.
    pub scope: String,
    /// A duration such as `5m` (at most 1h); absent: the client's or the server's.
    pub access_token_ttl: Option<String>,
    /// `RS256`, `ES256` or `EdDSA`; absent: the client's.
    pub signing_alg: Option<String>,
}

impl ApiInput {
    fn parse(self, now: UnixTime) -> Result<ApiRow, AdminError> {
        let identifier = Resource::parse_identifier(self.identifier.trim())
            .map_err(|e| AdminError::invalid("identifier", format!("--identifier {e}")))?;
        let name = self
            .name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(AdminError::invalid(
                "name",
                "--name must be at most 200 characters",
            ));
        }
        let scopes = Scope::parse(&self.scope)
            .map_err(|e| AdminError::invalid("scope", format!("--scope: {e}")))?;
        if scopes.is_empty() {
            return Err(AdminError::invalid(
                "scope",
                "--scope must name at least one scope the API defines",
            ));
        }
        if scopes.iter().count() > MAX_API_SCOPES {
            return Err(AdminError::invalid(
                "scope",
                format!("--scope: an API defines at most {MAX_API_SCOPES} scopes"),
            ));
        }
        // Tessera's own scopes mean something to Tessera, not to an API: a token for an API
        // carries only the scopes it defines, so one defining `tessera:admin` would carry it.
        if let Some(reserved) = scopes.iter().find(|s| RESERVED_SCOPES.contains(s)) {
            return Err(AdminError::invalid(
                "scope",
                format!("--scope: {reserved} is Tessera's own scope; an API cannot define it"),
            ));
        }
        let access_token_ttl = self
            .access_token_ttl
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| {
                let ttl = crate::config::parse_duration(t).map_err(|e| {
                    AdminError::invalid("access_token_ttl", format!("--access-token-ttl: {e}"))
                })?;
                if ttl.is_zero() || ttl > MAX_ACCESS_TOKEN_TTL {
                    return Err(AdminError::invalid(
                        "access_token_ttl",
                        format!("--access-token-ttl {t}: must be between 1s and 1h"),
                    ));
                }
                Ok(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
            })
            .transpose()?;
        let signing_alg = self
            .signing_alg
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .map(|a| {
                SigningAlg::parse(a.trim())
                    .map_err(|e| AdminError::invalid("signing_alg", format!("--signing-alg: {e}")))
            })
            .transpose()?;
        Ok(ApiRow {
            identifier: identifier.to_string(),
            name,
            scopes: scopes.to_string(),
            access_token_ttl,
            signing_alg: signing_alg.map(|a| a.as_str().to_string()),
            created_at: now,
            updated_at: now,
        })
    }
}

/// An API as the CLI, the console and the admin API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiView {
    /// The absolute URI clients send as `resource`; the `aud` of its tokens.
    pub identifier: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Space-separated: the scopes the API defines.
    pub scope: String,
    /// Seconds; absent when the client's or the server's lifetime applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl: Option<i64>,
    /// Absent when the client's algorithm applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<String>,
    /// Unix seconds.
    #[schema(value_type = i64)]
    pub created_at: UnixTime,
    /// Unix seconds.
    #[schema(value_type = i64)]
    pub updated_at: UnixTime,
}

impl From<ApiRow> for ApiView {
    fn from(r: ApiRow) -> Self {
        Self {
            identifier: r.identifier,
            name: r.name,
            scope: r.scopes,
            access_token_ttl: r.access_token_ttl,
            signing_alg: r.signing_alg,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The APIs a client uses and serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClientApis {
    /// APIs the client may get tokens for (`resource`).
    pub apis: Vec<String>,
    /// APIs whose backend the client is: it may introspect tokens for them.
    pub serves_apis: Vec<String>,
    /// APIs the client may exchange tokens into (RFC 8693).
    #[serde(default)]
    pub exchange_audiences: Vec<String>,
    /// An exchange may also return a refresh token (`requested_token_type` refresh_token).
    #[serde(default)]
    pub exchange_refresh: bool,
    /// The client may exchange a token it serves without an actor token (impersonation,
    /// RFC 8693 §1.1): the new token carries no `act`.
    #[serde(default)]
    pub exchange_impersonate: bool,
    /// What the change did that an administrator may not expect (only in the answer to a
    /// change, never stored): an API linked again within the stale-cache margin after it
    /// was taken gets tokens that stay inactive until the margin has passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A change to a client's APIs; an absent list keeps its value.
#[derive(Debug, Clone, Default)]
pub struct ClientApisPatch {
    pub apis: Option<Vec<String>>,
    pub serves_apis: Option<Vec<String>>,
    pub exchange_audiences: Option<Vec<String>>,
    pub exchange_refresh: Option<bool>,
    pub exchange_impersonate: Option<bool>,
}

/// The APIs `one` lets the client get tokens for (by `resource` or by exchange) and `other`
/// does not.
fn mints_only<'c>(one: &'c ClientApis, other: &ClientApis) -> BTreeSet<&'c String> {
    let mints =
        |c: &ClientApis, api: &String| c.apis.contains(api) || c.exchange_audiences.contains(api);
    one.apis
        .iter()
        .chain(&one.exchange_audiences)
        .filter(|api| !mints(other, api))
        .collect()
}

fn not_found(identifier: &str) -> AdminError {
    AdminError::NotFound(format!(
        "no API with identifier '{}'",
        identifier.escape_default()
    ))
}

impl Admin<'_> {
    /// Every API, by identifier.
    pub async fn apis(&self) -> Result<Vec<ApiView>, AdminError> {
        Ok(self
            .store
            .list_apis()
            .await?
            .into_iter()
            .map(ApiView::from)
            .collect())
    }

    pub async fn api(&self, identifier: &str) -> Result<ApiView, AdminError> {
        self.store
            .api(identifier)
            .await?
            .map(ApiView::from)
            .ok_or_else(|| not_found(identifier))
    }

    /// Registers an API. Nothing can use it until a client is allowed it, so it needs no
    /// recent sign-in.
    pub async fn add_api(&self, by: &Actor, input: ApiInput) -> Result<ApiView, AdminError> {
        let row = input.parse(self.now())?;
        let identifier = Resource::from_stored(row.identifier.clone());
        if identifier.is_at_or_under(&self.issuer) {
            return Err(AdminError::invalid(
                "identifier",
                format!(
                    "--identifier {}: is Tessera's own issuer URL ({}) or under it, where its \
                     endpoints live; name the API by its own URL, e.g. \
                     https://orders.example.com",
                    row.identifier, self.issuer
                ),
            ));
        }
        // Two identifiers that differ only in case or a final slash look alike to people and
        // to careless resource servers: the store refuses the second (a unique index on the
        // folded form, so that parallel requests cannot both pass a look-up).
        match self.store.insert_api(&row).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                let message = match self.store.api_like(&row.identifier).await? {
                    Some(twin) if twin.identifier != row.identifier => format!(
                        "an API with identifier '{}' is already registered, which differs from \
                         '{}' only in case or a final slash",
                        twin.identifier, row.identifier
                    ),
                    _ => format!(
                        "an API with identifier '{}' is already registered",
                        row.identifier
                    ),
                };
                return Err(AdminError::Conflict(message));
            }
            Err(e) => return Err(e.into()),
        }
        let view = ApiView::from(row);
        let after = serde_json::to_value(&view).ok();
        self.record(
            by,
            "api.created",
            &view.identifier,
            after.map(|a| json!({ "after": a })),
        )
        .await?;
        Ok(view)
    }

    /// Removes an API that no client refers to any more; one still referred to is refused
    /// with the clients' ids (take it from them first, so that no client is left asking for
    /// a resource that is gone). Its tokens already issued stop being active at once, on
    /// every node (a revocation entry of kind `api`).
    pub async fn remove_api(&self, by: &Actor, identifier: &str) -> Result<ApiView, AdminError> {
        self.require_recent(by)?;
        let view = self.api(identifier).await?;
        let detail = serde_json::to_value(&view)
            .ok()
            .map(|b| json!({ "before": b }).to_string());
        let entry = self.audit_entry(by, "api.deleted", identifier, detail.as_deref());
        // Its tokens end with it, in the same transaction: a failed write leaves the API there
        // to remove again. Including those a node with a stale cache mints a moment later.
        let now = self.now();
        let revocation = Revocation::new(
            Target::Api {
                api: view.identifier.clone(),
                before: now + super::clients::stale_cache_margin(),
            },
            reason::API_REMOVED,
            now,
        );
        let removed = self
            .store
            .delete_unreferenced_api(identifier, &entry, &revocation.row())
            .await?;
        match removed {
            Ok(Some(id)) => self.revocations.committed(self.store, revocation, id).await,
            Ok(None) => return Err(not_found(identifier)),
            Err(clients) => {
                return Err(AdminError::Conflict(format!(
                    "the API '{}' is still used or served by the clients {}; take it from them \
                     first",
                    view.identifier,
                    clients.join(", ")
                )));
            }
        }
        Ok(view)
    }

    /// The APIs the change gave the client (again) while a `client_api` entry for the pair
    /// still covers tokens issued from now on: what it gets for them stays inactive until
    /// that entry's `issued_before` has passed.
    async fn relinked_within_margin(
        &self,
        client_id: &str,
        before: &ClientApis,
        after: &ClientApis,
        now: UnixTime,
    ) -> Result<Vec<String>, AdminError> {
        let gained = mints_only(after, before);
        let mut warnings = Vec::new();
        for api in gained {
            let key = client_api_key(client_id, api);
            let Some(until) = self.store.client_api_revoked_until(&key).await? else {
                continue;
            };
            if until >= now {
                warnings.push(format!(
                    "{api} was taken from this client less than the stale-cache margin ago: \
                     its tokens for it issued until {until} (unix time, in {} s) are inactive",
                    until - now + 1
                ));
            }
        }
        Ok(warnings)
    }

    /// An audit entry written by the store in the transaction of the change it records.
    fn audit_entry<'b>(
        &self,
        by: &'b Actor,
        action: &'b str,
        target: &'b str,
        detail: Option<&'b str>,
    ) -> NewAuditEntry<'b> {
        NewAuditEntry {
            at: self.now(),
            actor: &by.name,
            action,
            target: Some(target),
            detail,
            ip: by.ip.as_deref(),
            user_agent: by.user_agent.as_deref(),
        }
    }

    /// The APIs a client uses and serves.
    pub async fn client_apis(&self, client_id: &str) -> Result<ClientApis, AdminError> {
        let client = self.client(client_id).await?;
        Ok(ClientApis {
            apis: self.store.client_apis(client_id, ApiRole::Use).await?,
            serves_apis: self.store.client_apis(client_id, ApiRole::Serve).await?,
            exchange_audiences: self.store.client_apis(client_id, ApiRole::Exchange).await?,
            exchange_refresh: client.exchange_refresh,
            exchange_impersonate: client.exchange_impersonate,
            warnings: Vec::new(),
        })
    }

    /// Changes which APIs a client uses and serves. Every API must be registered; only a
    /// confidential client may serve one, and making a client serve a new API (it will see
    /// that API's tokens) needs a recent sign-in. The links are read, checked, replaced and
    /// audited in one transaction with the client's row locked, so that two changes (or a
    /// change and a removal) cannot interleave: each judges the links it replaces. A client
    /// that loses an API (to use or to exchange into) loses its tokens for it at once.
    pub async fn update_client_apis(
        &self,
        by: &Actor,
        client_id: &str,
        patch: ClientApisPatch,
    ) -> Result<ClientApis, AdminError> {
        let client = self.client(client_id).await?;
        // Checked before the lock is taken: an API removed after this is caught by the
        // foreign key when the links are written.
        let apis = match patch.apis {
            Some(list) => Some(self.known(list, "apis").await?),
            None => None,
        };
        let serves_apis = match patch.serves_apis {
            Some(list) => Some(self.known(list, "serves_apis").await?),
            None => None,
        };
        let exchange_audiences = match patch.exchange_audiences {
            Some(list) => Some(self.known(list, "exchange_audiences").await?),
            None => None,
        };
        let mut change = self
            .store
            .begin_client_apis_change(client_id)
            .await?
            .ok_or_else(|| {
                AdminError::NotFound(format!(
                    "no client with id '{}'",
                    client_id.escape_default()
                ))
            })?;
        let (exchange_refresh, exchange_impersonate) = change.exchange_options().await?;
        let before = ClientApis {
            apis: change.links(ApiRole::Use).await?,
            serves_apis: change.links(ApiRole::Serve).await?,
            exchange_audiences: change.links(ApiRole::Exchange).await?,
            exchange_refresh,
            exchange_impersonate,
            warnings: Vec::new(),
        };
        let after = ClientApis {
            apis: apis.unwrap_or_else(|| before.apis.clone()),
            serves_apis: serves_apis.unwrap_or_else(|| before.serves_apis.clone()),
            exchange_audiences: exchange_audiences
                .unwrap_or_else(|| before.exchange_audiences.clone()),
            exchange_refresh: patch.exchange_refresh.unwrap_or(before.exchange_refresh),
            exchange_impersonate: patch
                .exchange_impersonate
                .unwrap_or(before.exchange_impersonate),
            warnings: Vec::new(),
        };
        if after == before {
            return Ok(after);
        }
        if !after.serves_apis.is_empty() && client.client_type != ClientType::Confidential {
            return Err(serve_needs_secret());
        }
        // A public client's token proves nothing about who holds it: it may only narrow.
        if (after.exchange_refresh || after.exchange_impersonate)
            && client.client_type != ClientType::Confidential
        {
            return Err(AdminError::invalid(
                "exchange_refresh",
                "only a confidential client may get refresh tokens from an exchange or \
                 impersonate",
            ));
        }
        // Either option lets the client do more with every token it may exchange: as
        // powerful as a new exchange audience (issue 12 §2, review finding 10).
        if (after.exchange_refresh && !before.exchange_refresh)
            || (after.exchange_impersonate && !before.exchange_impersonate)
        {
            self.require_recent(by)?;
        }
        // Serving a new API shows the client that API's tokens; a new exchange audience lets
        // it turn them into tokens for another.
        let widened =
            |after: &[String], before: &[String]| after.iter().any(|a| !before.contains(a));
        if widened(&after.serves_apis, &before.serves_apis)
            || widened(&after.exchange_audiences, &before.exchange_audiences)
        {
            self.require_recent(by)?;
        }
        // A client with client_credentials mints, with no user involved, tokens that a newly
        // linked API accepts: as dangerous as serving one.
        if client.allows_grant(GrantType::ClientCredentials)
            && after.apis.iter().any(|a| !before.apis.contains(a))
        {
            self.require_recent(by)?;
        }
        let now = self.now();
        match change
            .replace(
                self.store,
                &after.apis,
                &after.serves_apis,
                &after.exchange_audiences,
                now,
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(AdminError::Conflict(
                    "one of the APIs was removed meanwhile; look again and retry".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        if (after.exchange_refresh, after.exchange_impersonate)
            != (before.exchange_refresh, before.exchange_impersonate)
        {
            change
                .set_exchange_options(
                    self.store,
                    after.exchange_refresh,
                    after.exchange_impersonate,
                    now,
                )
                .await?;
        }
        // A right lost (refresh tokens by exchange, impersonation, serving the API a family
        // was exchanged from as backend, or exchanging into its audience) ends the families
        // made under it, in this change: granting it again revives none.
        let lost = |after: &[String], before: &[String]| before.iter().any(|a| !after.contains(a));
        if (before.exchange_refresh && !after.exchange_refresh)
            || (before.exchange_impersonate && !after.exchange_impersonate)
            || lost(&after.serves_apis, &before.serves_apis)
            || lost(&after.exchange_audiences, &before.exchange_audiences)
        {
            let rights = ExchangeRights {
                refresh: after.exchange_refresh,
                impersonate: after.exchange_impersonate,
                serves: &after.serves_apis,
                audiences: &after.exchange_audiences,
            };
            change
                .revoke_unqualified_exchanged_families(rights, reason::ADMIN, now)
                .await?;
        }
        let detail = json!({ "before": before, "after": after }).to_string();
        change
            .audit(&self.audit_entry(by, "client.apis_updated", client_id, Some(&detail)))
            .await?;
        // The APIs the client can no longer get tokens for, by `resource` or by exchange:
        // its tokens for them end, including those a node with a stale cache mints a moment
        // later, and so do its grants for them (refresh families, consents), in this change:
        // linking the API again revives nothing. (Serving mints nothing: losing it needs no
        // entry.)
        let lost = mints_only(&before, &after);
        let mut taken = Vec::with_capacity(lost.len());
        for api in lost {
            let target = Target::ClientApi {
                key: client_api_key(client_id, api),
                before: now + super::clients::stale_cache_margin(),
            };
            let revocation = Revocation::new(target, reason::API_REMOVED, now);
            let id = change.take_api(self.store, api, &revocation.row()).await?;
            taken.push((revocation, id));
        }
        change.commit(self.store).await?;
        for (revocation, id) in taken {
            self.revocations.committed(self.store, revocation, id).await;
        }
        let mut after = after;
        after.warnings = self
            .relinked_within_margin(client_id, &before, &after, now)
            .await?;
        Ok(after)
    }

    /// `register_client`, then the client's APIs, checked before anything is written so that
    /// an unknown API leaves no half-registered client behind.
    pub async fn register_client_with_apis(
        &self,
        by: &Actor,
        input: RegistrationInput,
        apis: ClientApis,
    ) -> Result<Registered, AdminError> {
        self.known(apis.apis.clone(), "apis").await?;
        self.known(apis.serves_apis.clone(), "serves_apis").await?;
        self.known(apis.exchange_audiences.clone(), "exchange_audiences")
            .await?;
        if !apis.serves_apis.is_empty() && input.client_type != ClientType::Confidential.as_str() {
            return Err(serve_needs_secret());
        }
        if (apis.exchange_refresh || apis.exchange_impersonate)
            && input.client_type != ClientType::Confidential.as_str()
        {
            return Err(AdminError::invalid(
                "exchange_refresh",
                "only a confidential client may get refresh tokens from an exchange or \
                 impersonate",
            ));
        }
        let registered = self.register_client(by, input).await?;
        if apis != ClientApis::default() {
            let patch = ClientApisPatch {
                apis: Some(apis.apis),
                serves_apis: Some(apis.serves_apis),
                exchange_audiences: Some(apis.exchange_audiences),
                exchange_refresh: Some(apis.exchange_refresh),
                exchange_impersonate: Some(apis.exchange_impersonate),
            };
            self.update_client_apis(by, registered.client.id.as_str(), patch)
                .await?;
        }
        Ok(registered)
    }

    /// The identifiers, checked and registered, without repeats.
    async fn known(
        &self,
        identifiers: Vec<String>,
        field: &'static str,
    ) -> Result<Vec<String>, AdminError> {
        let mut out: Vec<String> = Vec::new();
        for raw in identifiers {
            let id = Resource::parse(raw.trim())
                .map_err(|e| AdminError::invalid(field, format!("API {e}")))?;
            if self.store.api(id.as_str()).await?.is_none() {
                return Err(AdminError::invalid(
                    field,
                    format!(
                        "no API with identifier '{id}' is registered; add it with \
                         `tessera api add --identifier {id} --scope …`"
                    ),
                ));
            }
            if !out.contains(&id.to_string()) {
                out.push(id.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

fn serve_needs_secret() -> AdminError {
    AdminError::invalid(
        "serves_apis",
        "--serves-api needs a confidential client: introspection is for callers that \
         authenticate with a secret",
    )
}
