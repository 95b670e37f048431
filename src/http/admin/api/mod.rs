//! `/admin/api/v1/…`: the admin JSON API, a thin adapter over the admin service. A Bearer
//! access token issued by Tessera with the `tessera:admin` scope: an admin user's (whose
//! session passed the second factor when it is required), or a client_credentials token of a
//! client registered with that scope.
//!
//! The gate (`authenticate`) is middleware on the API's scope, so it answers before any
//! extractor reads a query or a body: a caller who may not use the API learns nothing about
//! its input rules. Extractor errors are mapped once (`invalid_input`) to the API's error JSON.
//!
//! Each handler carries its `#[utoipa::path]` beside its route, and `services` below is the one
//! list of them: `routes` registers that list and `document` describes the same list, so the
//! OpenAPI document cannot name a route the server lacks, nor miss one it serves.

mod apis;
mod audit;
mod clients;
mod keys;
mod revocations;
mod sessions;
mod users;

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_actix_web::OpenApiFactory;
use utoipa_actix_web::scope::{Scope, scope};

use super::{service, user_agent};
use crate::admin::Actor;
use crate::admin::api::{ApiError, ErrorBody, ErrorCode, ErrorDetail};
use crate::http::current_session::client_ip;
use crate::startup::AppState;
use crate::tokens::access::verify_access_token;

/// Where the API lives; the document's `servers` entry, so that its paths read `/users`.
pub const PREFIX: &str = "/admin/api/v1";

type ApiResult = Result<HttpResponse, ApiError>;

/// Every route of the API, in one place: `routes` serves them and `document` describes them.
fn services<T>(api: Scope<T>) -> Scope<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    api.service(openapi_document)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::disable_user)
        .service(users::enable_user)
        .service(users::set_password)
        .service(users::set_admin)
        .service(users::sign_out_user)
        .service(clients::list_clients)
        .service(clients::create_client)
        .service(clients::get_client)
        .service(clients::delete_client)
        .service(clients::update_client)
        .service(clients::rotate_client_secret)
        .service(apis::list_apis)
        .service(apis::create_api)
        .service(apis::get_api)
        .service(apis::delete_api)
        .service(apis::get_client_apis)
        .service(apis::set_client_apis)
        .service(audit::list_audit)
        .service(sessions::list_sessions)
        .service(sessions::end_session)
        .service(revocations::list_revocations)
        .service(revocations::revoke)
        .service(keys::list_keys)
        .service(keys::rotate_key)
        .service(keys::promote_key)
        .service(keys::revoke_key)
}

/// The largest JSON body the API reads.
const MAX_BODY: usize = 256 * 1024;

/// Registers the API under `PREFIX`, behind the gate, with its extractors' errors mapped.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let api = services(scope(PREFIX))
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY)
                // Bodies are JSON whatever their Content-Type says, as the API always read them.
                .content_type(|_| true)
                .content_type_required(false)
                .error_handler(|e, _| invalid_input("the JSON body", e)),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| invalid_input("the query", e)))
        .app_data(web::PathConfig::default().error_handler(|e, _| invalid_input("the path", e)))
        .wrap(from_fn(gate));
    cfg.service(api);
}

/// The one mapping of extractor errors: 400 `invalid_request`, naming what was wrong.
fn invalid_input(what: &str, e: impl std::fmt::Display) -> actix_web::Error {
    ApiError::InvalidRequest(format!("{what} is not valid: {e}")).into()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera admin API",
        description = "The operations of the admin console, for scripts. Every route takes a \
            Bearer access token from Tessera with the `tessera:admin` scope. Errors are \
            `{\"error\": {\"code\", \"message\"}}`; match on `code`."
    ),
    servers((url = "/admin/api/v1")),
    security(("bearer" = [])),
    modifiers(&BearerScheme),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    tags(
        (name = "users"), (name = "clients"), (name = "apis"), (name = "audit"), (name = "sessions"),
        (name = "revocations"), (name = "keys"),
        (name = "meta", description = "This document")
    )
)]
struct ApiDoc;

/// The `bearer` security scheme that every operation requires (RFC 6750).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut Document) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "An access token from Tessera with the tessera:admin scope",
                        ))
                        .build(),
                ),
            );
    }
}

/// The OpenAPI 3.1 document of this API, built from `services` (paths relative to `PREFIX`).
pub fn document() -> Document {
    let api = services(scope(""));
    let mut doc = ApiDoc::openapi();
    doc.paths.merge(api.paths());
    let mut schemas = Vec::new();
    api.schemas(&mut schemas);
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
    doc
}

/// The refusals any route may answer with; listed once, for the document only.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "describes responses; ApiError builds them")]
enum Refusals {
    /// No token (`unauthenticated`), or an invalid, expired or revoked one (`invalid_token`).
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// Not an admin, no `tessera:admin` scope (`insufficient_scope`), no second factor, or a
    /// sensitive action without a recent sign-in (`forbidden`).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// The database is unreachable (`temporarily_unavailable`); try again.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}
/// The caller the gate let in, as the admin service's actor.
#[derive(Clone)]
pub struct Caller(pub Actor);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Only reachable behind the gate, which puts it there.
        ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or(ApiError::Unauthenticated),
        )
    }
}

/// The middleware in front of every route: authenticates, then hands the caller on.
async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no application state")))?;
    let caller = authenticate(req.request(), &state).await?;
    req.extensions_mut().insert(caller);
    next.call(req).await
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let token = bearer(req).ok_or(ApiError::Unauthenticated)?;
    let claims = verify_access_token(
        &state.keys.current(),
        &state.settings.issuer(),
        token,
        state.clock.now(),
    )
    .map_err(|_| ApiError::InvalidToken)?;
    // RFC 9449 §7.2: a DPoP-bound token is never accepted as a bearer token; without its key's
    // proof a leaked one would open the admin API.
    if claims.cnf.is_some() {
        return Err(ApiError::DpopBound);
    }
    // DESIGN §4: every endpoint that takes an access token honours the revocation list.
    // A token for an API (RFC 8707 `resource`) is not for the admin API.
    // A token someone acts with (RFC 8693 `act`) is a delegation to an API, never to the admin
    // API: refused even if its audience were the client.
    if state.revocations.is_revoked(&claims)
        || !claims.aud.is_only(&claims.client_id)
        || claims.act.is_some()
    {
        return Err(ApiError::InvalidToken);
    }
    let actor = service(state).api_caller(&claims).await?;
    Ok(Caller(actor.from(Some(client_ip(req)), user_agent(req))))
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

fn no_content() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// This document.
#[utoipa::path(
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"),
        Refusals
    )
)]
#[get("/openapi.json")]
async fn openapi_document() -> ApiResult {
    let body = document()
        .to_json()
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(body))
}
