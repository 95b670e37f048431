//! `/apis…`: list, register, show and remove APIs (resource servers, RFC 8707); and
//! `/clients/{id}/apis`: which APIs a client uses and serves.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ApiResult, Caller, Refusals, json, no_content};
use crate::admin::api::ErrorBody;
use crate::admin::apis::{ApiInput, ApiView, ClientApis, ClientApisPatch};
use crate::http::admin::service;
use crate::startup::AppState;

/// Every API, by identifier.
#[utoipa::path(tag = "apis", responses((status = 200, body = Vec<ApiView>), Refusals))]
#[get("/apis")]
pub(super) async fn list_apis(state: web::Data<AppState>) -> ApiResult {
    Ok(json(StatusCode::OK, &service(&state).apis().await?))
}

/// An API to register: the options of `tessera api add`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewApiJson {
    /// An absolute https URI without a fragment: the `resource` clients send.
    identifier: String,
    name: Option<String>,
    /// Space-separated: the scopes the API defines.
    scope: String,
    /// A duration such as `5m` (at most an hour); absent: the client's.
    access_token_ttl: Option<String>,
    /// `RS256`, `ES256` or `EdDSA`; absent: the client's.
    signing_alg: Option<String>,
}

/// Registers an API.
#[utoipa::path(
    tag = "apis",
    request_body = NewApiJson,
    responses(
        (status = 201, body = ApiView),
        (status = 400, body = ErrorBody, description = "A bad value (`invalid_request`)"),
        (status = 409, body = ErrorBody, description = "The identifier is taken (`conflict`)"),
        Refusals
    )
)]
#[post("/apis")]
pub(super) async fn create_api(
    state: web::Data<AppState>,
    caller: Caller,
    input: web::Json<NewApiJson>,
) -> ApiResult {
    let input = input.into_inner();
    let input = ApiInput {
        identifier: input.identifier,
        name: input.name,
        scope: input.scope,
        access_token_ttl: input.access_token_ttl,
        signing_alg: input.signing_alg,
    };
    let created = service(&state).add_api(&caller.0, input).await?;
    Ok(json(StatusCode::CREATED, &created))
}

/// The identifier travels as a query parameter: it is a URI, with slashes of its own.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ApiId {
    /// The API's identifier.
    identifier: String,
}

/// One API.
#[utoipa::path(
    tag = "apis",
    params(ApiId),
    responses(
        (status = 200, body = ApiView),
        (status = 404, body = ErrorBody, description = "No such API (`not_found`)"),
        Refusals
    )
)]
#[get("/apis/by-identifier")]
pub(super) async fn get_api(state: web::Data<AppState>, id: web::Query<ApiId>) -> ApiResult {
    Ok(json(
        StatusCode::OK,
        &service(&state).api(&id.identifier).await?,
    ))
}

/// Removes an API no client uses or serves any more (else `conflict`, naming the clients; a
/// sensitive action: a user's token needs a recent sign-in).
#[utoipa::path(
    tag = "apis",
    params(ApiId),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = ErrorBody, description = "No such API (`not_found`)"),
        (status = 409, body = ErrorBody, description = "Clients still refer to it (`conflict`)"),
        Refusals
    )
)]
#[delete("/apis/by-identifier")]
pub(super) async fn delete_api(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Query<ApiId>,
) -> ApiResult {
    service(&state)
        .remove_api(&caller.0, &id.identifier)
        .await?;
    Ok(no_content())
}

/// The APIs a client uses and serves.
#[utoipa::path(
    tag = "apis",
    params(("id" = String, Path, description = "The client_id")),
    responses(
        (status = 200, body = ClientApis),
        (status = 404, body = ErrorBody, description = "No such client (`not_found`)"),
        Refusals
    )
)]
#[get("/clients/{id}/apis")]
pub(super) async fn get_client_apis(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let admin = service(&state);
    admin.client(&id).await?;
    Ok(json(StatusCode::OK, &admin.client_apis(&id).await?))
}

/// What `PUT /clients/{id}/apis` sets; an absent list keeps its value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ClientApisJson {
    /// APIs the client may get tokens for (`resource`).
    apis: Option<Vec<String>>,
    /// APIs whose backend the client is (confidential clients only).
    serves_apis: Option<Vec<String>>,
    /// APIs the client may exchange tokens into (RFC 8693).
    exchange_audiences: Option<Vec<String>>,
    /// An exchange may also return a refresh token (confidential clients only; turning it
    /// on is a sensitive action).
    exchange_refresh: Option<bool>,
    /// The client may exchange a token it serves without an actor token (impersonation,
    /// RFC 8693 §1.1; confidential clients only; turning it on is a sensitive action).
    exchange_impersonate: Option<bool>,
}

/// Sets the APIs a client uses and serves; every API must be registered. Making a client
/// serve a new API is a sensitive action.
#[utoipa::path(
    tag = "apis",
    params(("id" = String, Path, description = "The client_id")),
    request_body = ClientApisJson,
    responses(
        (status = 200, body = ClientApis),
        (status = 400, body = ErrorBody, description = "An unknown API (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such client (`not_found`)"),
        Refusals
    )
)]
#[put("/clients/{id}/apis")]
pub(super) async fn set_client_apis(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<ClientApisJson>,
) -> ApiResult {
    let body = body.into_inner();
    let patch = ClientApisPatch {
        apis: body.apis,
        serves_apis: body.serves_apis,
        exchange_audiences: body.exchange_audiences,
        exchange_refresh: body.exchange_refresh,
        exchange_impersonate: body.exchange_impersonate,
    };
    let after = service(&state)
        .update_client_apis(&caller.0, &id, patch)
        .await?;
    Ok(json(StatusCode::OK, &after))
}
