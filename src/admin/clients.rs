//! Client administration: register, list, show, remove, rotate a secret. The functions take the
//! store and `now`, so the CLI, the tests and a future admin API share them; `run` is the CLI.

use serde::Serialize;

use crate::admin::api::ADMIN_SCOPE;
use crate::admin::audit;
use crate::cli::{AddClient, ClientCommand};
use crate::clock::{Clock, UnixTime};
use crate::config::{MAX_CLIENT_CACHE_TTL, Settings};
use crate::oauth::client::{
    Client, ClientError, ClientId, ClientType, Registration, RegistrationInput,
};
use crate::oauth::redirect_uri::RedirectUri;
use crate::revocation::RevocationList;
use crate::startup::{self, StartError};
use crate::store::{Store, StoreError};
use crate::tokens::opaque::{self, Kind};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(#[from] ClientError),
    #[error("no client with id '{0}'")]
    NotFound(String),
    #[error("client '{0}' is public: it has no secret to rotate")]
    NoSecret(String),
    #[error("{}", with_cause(.0))]
    Store(#[from] StoreError),
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Store errors are worded generically for HTTP clients; an operator at the console gets the
/// underlying cause too.
fn with_cause(e: &StoreError) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A newly registered client: its id and, for a confidential client, the secret in clear,
/// which exists only here (the store keeps its SHA-256).
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    pub secret: Option<String>,
}

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
    store
        .get_client(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(id.escape_default().to_string()))
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
    // (its change notice in flight or lost, the node cut off from the database) may mint one
    // until its cache entry expires: the entry covers tokens issued that long after too.
    let cached_for = secs(MAX_CLIENT_CACHE_TTL) + crate::revocation::GRANT_IN_FLIGHT;
    revoke_client_tokens(store, revocations, id, now, now + cached_for).await?;
    if store.delete_client(id, now).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound(id.escape_default().to_string()))
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// What an administrator may change on a registered client. Type, grants, scope and signing
/// algorithm are fixed at registration (apps depend on them; register a new client instead).
#[derive(Debug, Clone, Default)]
pub struct ClientEdit {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// A duration such as `5m`; `None` for the server default.
    pub access_token_ttl: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    /// May introspect any token and pull the revocation list (confidential clients only).
    pub resource_server: bool,
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
}

/// Whether `edit` of `before` needs a recent sign-in: it adds a redirect URI (a new place to
/// send codes, tokens or users) or makes the client a resource server (which sees every
/// token). Removing one, renaming, lifetimes do not.
pub fn edit_needs_recent_sign_in(before: &ClientView, edit: &ClientEdit) -> bool {
    let new = |after: &[String], before: &[String]| after.iter().any(|u| !before.contains(u));
    (edit.resource_server && !before.resource_server)
        || new(&edit.redirect_uris, &before.redirect_uris)
        || new(
            &edit.post_logout_redirect_uris,
            &before.post_logout_redirect_uris,
        )
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
    })?;
    if !store.update_client_settings(id, &registration, now).await? {
        return Err(AdminError::NotFound(id.escape_default().to_string()));
    }
    let after = ClientView::from(&show(store, id).await?);
    Ok((before, after))
}

/// A new secret for a confidential client; the old one stops working at once on this node and within a second on the others (one poll interval if a change notice is lost).
pub async fn rotate_secret(store: &Store, id: &str, now: UnixTime) -> Result<String, AdminError> {
    let client = show(store, id).await?;
    if client.client_type != ClientType::Confidential {
        return Err(AdminError::NoSecret(client.id.to_string()));
    }
    let secret = opaque::generate(Kind::ClientSecret);
    if !store
        .set_client_secret_hash(id, &opaque::hash(&secret), now)
        .await?
    {
        return Err(AdminError::NotFound(id.escape_default().to_string()));
    }
    Ok(secret)
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
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `tessera client …`: stdout carries the result (text or `--json`), stderr the notes.
pub async fn run(
    command: ClientCommand,
    settings: &Settings,
    clock: &Clock,
) -> Result<(), AdminError> {
    // Check a registration before touching the database, so a typo fails fast and clearly.
    if let ClientCommand::Add(args) = &command {
        Registration::parse(registration_input(args))?;
    }
    let store = startup::open_store(settings).await?;
    let result = run_on(&store, command, clock.now(), settings.audit_retention).await;
    store.close().await;
    result
}

/// Every change made with the CLI lands in the audit log, as the console's do.
async fn audit(
    store: &Store,
    now: UnixTime,
    retention: std::time::Duration,
    action: &str,
    client_id: &str,
    detail: Option<serde_json::Value>,
) -> Result<(), AdminError> {
    let actor = audit::cli_actor();
    let event = audit::Event {
        actor: &actor,
        action,
        target: Some(client_id),
        detail,
    };
    Ok(audit::record_cli(store, now, retention, event).await?)
}

fn registration_input(args: &AddClient) -> RegistrationInput {
    RegistrationInput {
        name: args.name.clone(),
        client_type: args.client_type.clone(),
        redirect_uris: args.redirect_uris.clone(),
        post_logout_redirect_uris: args.post_logout_redirect_uris.clone(),
        grant_types: args.grant_types.clone(),
        scope: args.scope.clone(),
        first_party: args.first_party,
        resource_server: args.resource_server,
        access_token_ttl: args.access_token_ttl.clone(),
        backchannel_logout_uri: args.backchannel_logout_uri.clone(),
        signing_alg: args.signing_alg.clone(),
    }
}

async fn run_on(
    store: &Store,
    command: ClientCommand,
    now: UnixTime,
    retention: std::time::Duration,
) -> Result<(), AdminError> {
    match command {
        ClientCommand::Add(args) => {
            let registered = add(store, registration_input(&args), now).await?;
            let view = serde_json::to_value(ClientView::from(&registered.client)).ok();
            let id = registered.client.id.to_string();
            audit(store, now, retention, "client.created", &id, view).await?;
            print_registered(&registered, args.json);
            Ok(())
        }
        ClientCommand::List { json } => {
            let clients = list(store).await?;
            if json {
                let views: Vec<ClientView> = clients.iter().map(ClientView::from).collect();
                println!("{}", to_json(&views));
            } else {
                for c in &clients {
                    println!("{}\t{}\t{}", c.id, c.client_type.as_str(), c.name);
                }
            }
            Ok(())
        }
        ClientCommand::Show { client_id, json } => {
            let client = show(store, &client_id).await?;
            print_client(&client, json);
            Ok(())
        }
        ClientCommand::Remove { client_id } => {
            // A CLI process has no list of its own to update; running nodes learn of the
            // entry by NOTIFY or polling.
            remove(store, &RevocationList::new(), &client_id, now).await?;
            audit(store, now, retention, "client.deleted", &client_id, None).await?;
            println!("removed client {client_id}; its tokens are revoked");
            Ok(())
        }
        ClientCommand::RotateSecret {
            client_id,
            json,
            revoke_tokens,
        } => {
            let secret = rotate_secret(store, &client_id, now).await?;
            if revoke_tokens {
                revoke_client_tokens(store, &RevocationList::new(), &client_id, now, now).await?;
                eprintln!("Every token issued to the client so far is revoked.");
            }
            let detail = serde_json::json!({ "revoke_tokens": revoke_tokens });
            audit(
                store,
                now,
                retention,
                "client.secret_rotated",
                &client_id,
                Some(detail),
            )
            .await?;
            if json {
                let doc = serde_json::json!({ "client_id": client_id, "client_secret": secret });
                println!("{doc}");
            } else {
                println!("client_id: {client_id}\nclient_secret: {secret}");
            }
            eprintln!("The new secret is shown only now; the old one no longer works.");
            Ok(())
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

fn print_registered(r: &Registered, json: bool) {
    if json {
        let mut doc = serde_json::to_value(ClientView::from(&r.client)).unwrap_or_default();
        if let (Some(secret), Some(obj)) = (&r.secret, doc.as_object_mut()) {
            obj.insert("client_secret".into(), secret.clone().into());
        }
        println!("{doc}");
    } else {
        println!("client_id: {}", r.client.id);
        if let Some(secret) = &r.secret {
            println!("client_secret: {secret}");
        }
    }
    if r.secret.is_some() {
        eprintln!("The client secret is shown only now; Tessera keeps only its hash.");
    }
}

fn print_client(c: &Client, json: bool) {
    let view = ClientView::from(c);
    if json {
        println!("{}", to_json(&view));
        return;
    }
    let list = |l: &[String]| l.join(" ");
    println!("client_id: {}", view.client_id);
    println!("name: {}", view.name);
    println!("type: {}", view.client_type);
    println!("redirect_uris: {}", list(&view.redirect_uris));
    println!(
        "post_logout_redirect_uris: {}",
        list(&view.post_logout_redirect_uris)
    );
    println!("grant_types: {}", view.grant_types.join(" "));
    println!("scope: {}", view.scope);
    println!("first_party: {}", view.first_party);
    println!("resource_server: {}", view.resource_server);
    match view.access_token_ttl {
        Some(s) => println!("access_token_ttl: {s}s"),
        None => println!("access_token_ttl: default"),
    }
    if let Some(uri) = &view.backchannel_logout_uri {
        println!("backchannel_logout_uri: {uri}");
    }
    println!("signing_alg: {}", view.signing_alg);
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
