//! Client administration: list, show, register, edit, rotate a secret, delete, and a
//! client's detail (recent audit entries, live sessions that used it). The console, the API
//! and `tessera client …` (`commands/client.rs`) call these with typed input.

use serde::Serialize;
use serde_json::json;

pub use super::AdminError;
use super::api::{ADMIN_SCOPE, PageOf, Paging};
use super::sessions::SessionInfo;
use super::users::RECENT;
use super::{Actor, Admin};
use crate::clock::UnixTime;
use crate::config::MAX_CLIENT_CACHE_TTL;
use crate::oauth::client::{Client, ClientId, ClientType, Registration, RegistrationInput};
use crate::oauth::redirect_uri::RedirectUri;
use crate::revocation::RevocationList;
use crate::store::{AuditEntry, Store};
use crate::tokens::opaque::{self, Kind};

/// A newly registered client: its id and, for a confidential client, the secret in clear,
/// which exists only here (the store keeps its SHA-256).
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    pub secret: Option<String>,
}

/// What an administrator may change on a registered client; an absent field keeps its
/// value. Type, grants, scope and signing algorithm are fixed at registration (apps depend on
/// them; register a new client instead).
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// A duration such as `5m`; `Some(None)` for the server default.
    pub access_token_ttl: Option<Option<String>>,
    /// `Some(None)` removes it.
    pub backchannel_logout_uri: Option<Option<String>>,
    /// May introspect any token and pull the revocation list (confidential clients only).
    pub resource_server: Option<bool>,
    /// Native SSO group; `Some(None)` leaves the group.
    pub native_sso_group: Option<Option<String>>,
    /// Every token request must carry a DPoP proof (RFC 9449).
    pub require_dpop: Option<bool>,
}

/// A client's settings after a patch: what is checked again as at registration.
#[derive(Debug, Clone, Default)]
pub struct ClientEdit {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub access_token_ttl: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub resource_server: bool,
    pub native_sso_group: Option<String>,
    pub require_dpop: bool,
}

impl ClientPatch {
    fn apply(self, current: &ClientView) -> ClientEdit {
        ClientEdit {
            name: self.name.unwrap_or_else(|| current.name.clone()),
            redirect_uris: self
                .redirect_uris
                .unwrap_or_else(|| current.redirect_uris.clone()),
            post_logout_redirect_uris: self
                .post_logout_redirect_uris
                .unwrap_or_else(|| current.post_logout_redirect_uris.clone()),
            access_token_ttl: self
                .access_token_ttl
                .unwrap_or_else(|| current.access_token_ttl.map(|s| format!("{s}s"))),
            backchannel_logout_uri: self
                .backchannel_logout_uri
                .unwrap_or_else(|| current.backchannel_logout_uri.clone()),
            resource_server: self.resource_server.unwrap_or(current.resource_server),
            native_sso_group: self
                .native_sso_group
                .unwrap_or_else(|| current.native_sso_group.clone()),
            require_dpop: self.require_dpop.unwrap_or(current.require_dpop),
        }
    }
}

/// A client's page: the client, the newest audit entries about it, the live sessions that
/// used it.
pub struct ClientDetail {
    pub client: ClientView,
    pub audit: Vec<AuditEntry>,
    pub sessions: Vec<SessionInfo>,
    /// Tokens issued to it per hour, summed over every node.
    pub activity: super::charts::Chart,
}

fn not_found(id: &str) -> AdminError {
    AdminError::NotFound(format!("no client with id '{}'", id.escape_default()))
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// How long after a change to a client (its row or its API links) a node may still mint from
/// what it cached: its change notice in flight or lost, the node cut off from the database,
/// until the cache entry expires (`client_cache_ttl`, taken at its largest allowed value,
/// since another node or a command may be configured with more than this one), plus a grant
/// already under way. A revocation for the change covers the tokens issued that long after it.
pub(super) fn stale_cache_margin() -> UnixTime {
    secs(MAX_CLIENT_CACHE_TTL).saturating_add(crate::revocation::GRANT_IN_FLIGHT)
}

/// Whether registering `input` needs a recent sign-in (issue 11): a client that acts on its
/// own (`client_credentials`), one allowed the admin API's scope, or one with redirect URIs
/// (where codes and tokens will be sent) is as powerful as granting admin.
pub fn registration_needs_recent_sign_in(input: &RegistrationInput) -> bool {
    input.grant_types.iter().any(|g| g == "client_credentials")
        || input
            .scope
            .as_deref()
            .is_some_and(|s| s.split_whitespace().any(|s| s == ADMIN_SCOPE))
        || !input.redirect_uris.is_empty()
        || !input.post_logout_redirect_uris.is_empty()
        // A resource server may introspect every token and read every revocation.
        || input.resource_server
        // A group member gets tokens for a device's user without a sign-in (Native SSO).
        || input.native_sso_group.is_some()
}

/// Whether `edit` of `before` needs a recent sign-in: it adds a redirect URI (a new place to
/// send codes, tokens or users) or makes the client a resource server (which sees every
/// token). Removing one, renaming, lifetimes do not.
pub fn edit_needs_recent_sign_in(before: &ClientView, edit: &ClientEdit) -> bool {
    let new = |after: &[String], before: &[String]| after.iter().any(|u| !before.contains(u));
    (edit.resource_server && !before.resource_server)
        // Dropping DPoP makes the client's next tokens bearer tokens again.
        || (before.require_dpop && !edit.require_dpop)
        || (edit.native_sso_group.is_some() && edit.native_sso_group != before.native_sso_group)
        || new(&edit.redirect_uris, &before.redirect_uris)
        || new(
            &edit.post_logout_redirect_uris,
            &before.post_logout_redirect_uris,
        )
}

/// Registers a client (no audit: `Admin::register_client` is the operation with its checks and
/// its entry; this is the step it shares with the tests' set-up).
pub async fn add(
    store: &Store,
    input: RegistrationInput,
    now: UnixTime,
) -> Result<Registered, AdminError> {
    let registration = Registration::parse(input)?;
    let id = ClientId::generate();
    let secret = (registration.client_type == ClientType::Confidential)
        .then(|| opaque::generate(Kind::ClientSecret));
    let hash = secret.as_deref().map(opaque::hash);
    store
        .insert_client(&id, &registration, hash.as_deref(), now)
        .await?;
    let client = show(store, id.as_str()).await?;
    Ok(Registered { client, secret })
}

pub async fn show(store: &Store, id: &str) -> Result<Client, AdminError> {
    store.get_client(id).await?.ok_or_else(|| not_found(id))
}

pub async fn list(store: &Store) -> Result<Vec<Client>, AdminError> {
    Ok(store.list_clients().await?)
}

/// Revokes every token issued to a client, then deletes it. In that order: if the deletion
/// fails the client is still there to remove again, while a revocation that failed after the
/// deletion could never be redone (nothing would name the client any more).
pub async fn remove(
    store: &Store,
    revocations: &RevocationList,
    id: &str,
    now: UnixTime,
) -> Result<(), AdminError> {
    show(store, id).await?;
    // A removed client gets no token legitimately, but a node still serving its cached row
    // may mint one: the entry covers tokens issued that long after too.
    revoke_client_tokens(store, revocations, id, now, now + stale_cache_margin()).await?;
    if store.delete_client(id, now).await? {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

/// Applies `edit` after the same checks as a registration; returns the client before and
/// after.
pub async fn update(
    store: &Store,
    id: &str,
    edit: ClientEdit,
    now: UnixTime,
) -> Result<(ClientView, ClientView), AdminError> {
    let before = ClientView::from(&show(store, id).await?);
    let registration = Registration::parse(RegistrationInput {
        name: edit.name,
        client_type: before.client_type.to_string(),
        redirect_uris: edit.redirect_uris,
        post_logout_redirect_uris: edit.post_logout_redirect_uris,
        grant_types: before.grant_types.iter().map(|g| g.to_string()).collect(),
        scope: Some(before.scope.clone()),
        first_party: before.first_party,
        resource_server: edit.resource_server,
        access_token_ttl: edit.access_token_ttl,
        backchannel_logout_uri: edit.backchannel_logout_uri,
        signing_alg: Some(before.signing_alg.to_string()),
        native_sso_group: edit.native_sso_group,
        require_dpop: edit.require_dpop,
    })?;
    if !store.update_client_settings(id, &registration, now).await? {
        return Err(not_found(id));
    }
    let after = ClientView::from(&show(store, id).await?);
    Ok((before, after))
}

/// A new secret for a confidential client; the old one stops working at once on this node
/// and within a second on the others (one poll interval if a change notice is lost).
pub async fn rotate_secret(store: &Store, id: &str, now: UnixTime) -> Result<String, AdminError> {
    let client = show(store, id).await?;
    if client.client_type != ClientType::Confidential {
        return Err(AdminError::invalid(
            "client_secret",
            format!(
                "client '{}' is public: it has no secret to rotate",
                client.id
            ),
        ));
    }
    let secret = opaque::generate(Kind::ClientSecret);
    if !store
        .set_client_secret_hash(id, &opaque::hash(&secret), now)
        .await?
    {
        return Err(not_found(id));
    }
    Ok(secret)
}

impl Admin<'_> {
    pub async fn client(&self, id: &str) -> Result<Client, AdminError> {
        show(self.store, id).await
    }

    /// Clients, oldest first.
    pub async fn clients(&self, paging: &Paging) -> Result<PageOf<ClientView>, AdminError> {
        let clients = self
            .store
            .list_clients_page(paging.limit(), paging.offset())
            .await?;
        Ok(paging.wrap(clients.iter().map(ClientView::from).collect()))
    }

    /// Every client (the CLI's list).
    pub async fn all_clients(&self) -> Result<Vec<Client>, AdminError> {
        list(self.store).await
    }

    /// Registers a client; a powerful one needs a recent sign-in.
    pub async fn register_client(
        &self,
        by: &Actor,
        input: RegistrationInput,
    ) -> Result<Registered, AdminError> {
        if registration_needs_recent_sign_in(&input) {
            self.require_recent(by)?;
        }
        let registered = add(self.store, input, self.now()).await?;
        let after = serde_json::to_value(ClientView::from(&registered.client))
            .map_err(|e| AdminError::Internal(e.into()))?;
        let id = registered.client.id.to_string();
        self.record(by, "client.created", &id, Some(json!({ "after": after })))
            .await?;
        Ok(registered)
    }

    /// Applies a patch after the same checks as a registration; returns the client after.
    /// Adding a redirect URI or making it a resource server needs a recent sign-in.
    pub async fn update_client(
        &self,
        by: &Actor,
        id: &str,
        patch: ClientPatch,
    ) -> Result<ClientView, AdminError> {
        let current = ClientView::from(&self.client(id).await?);
        let edit = patch.apply(&current);
        if edit_needs_recent_sign_in(&current, &edit) {
            self.require_recent(by)?;
        }
        let (before, after) = update(self.store, id, edit, self.now()).await?;
        let detail = json!({ "before": before, "after": after });
        self.record(by, "client.updated", &after.client_id, Some(detail))
            .await?;
        Ok(after)
    }

    /// A new secret for a confidential client (`rotate_secret`); `revoke_tokens` also
    /// revokes every token issued to it so far (a leaked secret).
    pub async fn rotate_client_secret(
        &self,
        by: &Actor,
        id: &str,
        revoke_tokens: bool,
    ) -> Result<(Client, String), AdminError> {
        self.require_recent(by)?;
        let client = self.client(id).await?;
        let now = self.now();
        let secret = rotate_secret(self.store, id, now).await?;
        if revoke_tokens {
            revoke_client_tokens(self.store, self.revocations, id, now, now).await?;
        }
        let detail = revoke_tokens.then(|| json!({ "revoke_tokens": true }));
        self.record(by, "client.secret_rotated", client.id.as_str(), detail)
            .await?;
        Ok((client, secret))
    }

    /// Deletes a client and revokes every token issued to it (`remove`); returns it as it
    /// was.
    pub async fn delete_client(&self, by: &Actor, id: &str) -> Result<ClientView, AdminError> {
        self.require_recent(by)?;
        let client = ClientView::from(&self.client(id).await?);
        remove(self.store, self.revocations, id, self.now()).await?;
        let before = serde_json::to_value(&client).ok();
        self.record(
            by,
            "client.deleted",
            &client.client_id,
            before.map(|v| json!({ "before": v })),
        )
        .await?;
        Ok(client)
    }

    /// The client, the newest audit entries about it (or by it, through the API) and the
    /// live sessions that used it.
    pub async fn client_detail(&self, id: &str) -> Result<ClientDetail, AdminError> {
        let client = ClientView::from(&self.client(id).await?);
        let audit = self
            .store
            .audit_about(
                &super::audit::client_actor(&client.client_id),
                &client.client_id,
                &format!("client:{}", client.client_id),
                i64::from(RECENT),
            )
            .await?;
        let sessions = self
            .sessions_of_client(&client.client_id, i64::from(RECENT))
            .await?;
        let activity =
            super::stats::client(self.store, &client.client_id, self.clock.now()).await?;
        Ok(ClientDetail {
            client,
            audit,
            sessions,
            activity,
        })
    }
}

/// A client as the CLI and the admin API show it: everything but the secret hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub client_type: &'static str,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<&'static str>,
    pub scope: String,
    pub first_party: bool,
    /// May introspect any token and pull `GET /revocations`.
    pub resource_server: bool,
    /// Seconds; absent when the server default applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    pub signing_alg: &'static str,
    /// Native SSO: apps of one group share a device's sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_sso_group: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    pub require_dpop: bool,
    /// Unix seconds.
    #[schema(value_type = i64)]
    pub created_at: UnixTime,
    /// Unix seconds.
    #[schema(value_type = i64)]
    pub updated_at: UnixTime,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        let uris = |list: &[RedirectUri]| list.iter().map(|u| u.as_str().to_string()).collect();
        Self {
            client_id: c.id.to_string(),
            name: c.name.clone(),
            client_type: c.client_type.as_str(),
            redirect_uris: uris(&c.redirect_uris),
            post_logout_redirect_uris: uris(&c.post_logout_redirect_uris),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            scope: c.scopes.to_string(),
            first_party: c.first_party,
            resource_server: c.resource_server,
            access_token_ttl: c.access_token_ttl.map(|d| d.as_secs()),
            backchannel_logout_uri: c.backchannel_logout_uri.as_ref().map(|u| u.to_string()),
            signing_alg: c.signing_alg.as_str(),
            native_sso_group: c.native_sso_group.as_ref().map(|g| g.to_string()),
            require_dpop: c.require_dpop,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Revokes every token issued to a client until `issued_until`: refresh tokens in the store,
/// access tokens through the revocation list (running nodes learn of it by NOTIFY or polling).
pub async fn revoke_client_tokens(
    store: &Store,
    revocations: &RevocationList,
    client_id: &str,
    now: UnixTime,
    issued_until: UnixTime,
) -> Result<(), AdminError> {
    use crate::revocation::{Revocation, Target, reason};
    store
        .revoke_client_families(client_id, reason::ADMIN, now)
        .await?;
    let target = Target::Client {
        client_id: client_id.to_string(),
        before: issued_until,
    };
    revocations
        .revoke(store, Revocation::new(target, reason::ADMIN, now))
        .await?;
    Ok(())
}
