//! `/clients…`: list, register (the secret in the answer only), show, edit, rotate the
//! secret, delete.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, Caller, Refusals, json, no_content};
use crate::admin::api::{ErrorBody, PageOf, Paging};
use crate::admin::clients::{ClientPatch, ClientView};
use crate::http::admin::service;
use crate::oauth::client::RegistrationInput;
use crate::startup::AppState;

/// Clients, oldest first.
#[utoipa::path(
    tag = "clients",
    params(Paging),
    responses(
        (status = 200, body = PageOf<ClientView>),
        (status = 400, body = ErrorBody, description = "A bad query (`invalid_request`)"),
        Refusals
    )
)]
#[get("/clients")]
pub(super) async fn list_clients(
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
) -> ApiResult {
    let clients = service(&state).clients(&paging).await?;
    Ok(json(StatusCode::OK, &clients))
}

/// A client to register: the options of `tessera client add`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewClientJson {
    name: String,
    /// `confidential` (the default) or `public`.
    #[serde(default = "confidential")]
    client_type: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`, …
    #[serde(default)]
    grant_types: Vec<String>,
    /// Space-separated scopes the client may ask for.
    scope: Option<String>,
    /// Skips the consent page.
    #[serde(default)]
    first_party: bool,
    /// May introspect any token and pull `GET /revocations` (confidential clients only).
    #[serde(default)]
    resource_server: bool,
    /// A duration such as `10m`; at most an hour.
    access_token_ttl: Option<String>,
    backchannel_logout_uri: Option<String>,
    /// Native SSO: apps of one group share a device's sign-in.
    native_sso_group: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449).
    #[serde(default)]
    require_dpop: bool,
}

fn confidential() -> String {
    "confidential".into()
}

/// A registered client with its secret, shown this once (confidential clients only).
#[derive(Serialize, ToSchema)]
struct CreatedClient {
    #[serde(flatten)]
    client: ClientView,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

/// Registers a client; a confidential client's secret is in this answer only.
#[utoipa::path(
    tag = "clients",
    request_body = NewClientJson,
    responses(
        (status = 201, body = CreatedClient),
        (status = 400, body = ErrorBody, description = "A bad registration (`invalid_request`)"),
        Refusals
    )
)]
#[post("/clients")]
pub(super) async fn create_client(
    state: web::Data<AppState>,
    caller: Caller,
    input: web::Json<NewClientJson>,
) -> ApiResult {
    let input = input.into_inner();
    let input = RegistrationInput {
        name: input.name,
        client_type: input.client_type,
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        grant_types: input.grant_types,
        scope: input.scope,
        first_party: input.first_party,
        resource_server: input.resource_server,
        access_token_ttl: input.access_token_ttl,
        backchannel_logout_uri: input.backchannel_logout_uri,
        // RS256, the default; the CLI's --signing-alg chooses another.
        signing_alg: None,
        native_sso_group: input.native_sso_group,
        require_dpop: input.require_dpop,
    };
    let registered = service(&state).register_client(&caller.0, input).await?;
    let created = CreatedClient {
        client: ClientView::from(&registered.client),
        client_secret: registered.secret,
    };
    Ok(json(StatusCode::CREATED, &created))
}

/// One client (never its secret).
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    responses(
        (status = 200, body = ClientView),
        (status = 404, body = ErrorBody, description = "No such client (`not_found`)"),
        Refusals
    )
)]
#[get("/clients/{id}")]
pub(super) async fn get_client(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let client = service(&state).client(&id).await?;
    Ok(json(StatusCode::OK, &ClientView::from(&client)))
}

/// Deletes a client and revokes every token issued to it (a sensitive action: a user's token
/// needs a recent sign-in).
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody, description = "No such client (`not_found`)"),
        Refusals
    )
)]
#[delete("/clients/{id}")]
pub(super) async fn delete_client(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult {
    service(&state).delete_client(&caller.0, &id).await?;
    Ok(no_content())
}

/// What `PATCH /clients/{id}` may change; an absent field keeps its value. Type, grants, scope
/// and signing algorithm are fixed at registration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ClientPatchJson {
    name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    /// A duration such as `10m` (at most an hour); `null` for the server default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    access_token_ttl: Option<Option<String>>,
    /// `null` to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    backchannel_logout_uri: Option<Option<String>>,
    /// May introspect any token and pull `GET /revocations`.
    resource_server: Option<bool>,
    /// Native SSO group; `null` to leave the group.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    native_sso_group: Option<Option<String>>,
    /// Every token request must carry a DPoP proof (RFC 9449).
    require_dpop: Option<bool>,
}

/// A field that may be absent (`None`), null (`Some(None)`) or set: absent keeps the value,
/// null clears it.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Changes a client's name, redirect URIs, access-token lifetime or back-channel logout URI,
/// checked as at registration.
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    request_body = ClientPatchJson,
    responses(
        (status = 200, body = ClientView),
        (status = 400, body = ErrorBody, description = "A bad value (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such client (`not_found`)"),
        Refusals
    )
)]
#[patch("/clients/{id}")]
pub(super) async fn update_client(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    patch: web::Json<ClientPatchJson>,
) -> ApiResult {
    let patch = patch.into_inner();
    let patch = ClientPatch {
        name: patch.name,
        redirect_uris: patch.redirect_uris,
        post_logout_redirect_uris: patch.post_logout_redirect_uris,
        access_token_ttl: patch.access_token_ttl,
        backchannel_logout_uri: patch.backchannel_logout_uri,
        resource_server: patch.resource_server,
        native_sso_group: patch.native_sso_group,
        require_dpop: patch.require_dpop,
    };
    let after = service(&state).update_client(&caller.0, &id, patch).await?;
    Ok(json(StatusCode::OK, &after))
}

/// A client's new secret, shown this once.
#[derive(Serialize, ToSchema)]
struct NewSecret {
    client_id: String,
    client_secret: String,
}

/// Gives a confidential client a new secret; the old one stops working on every node within a second (a sensitive
/// action: a user's token needs a recent sign-in).
#[utoipa::path(
    tag = "clients",
    params(("id" = String, Path, description = "The client_id")),
    responses(
        (status = 200, body = NewSecret),
        (status = 400, body = ErrorBody, description = "A public client has no secret (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such client (`not_found`)"),
        Refusals
    )
)]
#[post("/clients/{id}/rotate-secret")]
pub(super) async fn rotate_client_secret(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult {
    let (client, secret) = service(&state)
        .rotate_client_secret(&caller.0, &id, false)
        .await?;
    Ok(json(
        StatusCode::OK,
        &NewSecret {
            client_id: client.id.to_string(),
            client_secret: secret,
        },
    ))
}
