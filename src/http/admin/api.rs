//! `/admin/api/v1/…`: the admin JSON API. A Bearer access token issued by Tessera with the
//! `tessera:admin` scope: an admin user's (whose session passed the second factor when it is
//! required), or a client_credentials token of a client registered with that scope.
//!
//! Each handler carries its `#[utoipa::path]` beside its route, and `services` below is the one
//! list of them: `routes` registers that list and `document` describes the same list, so the
//! OpenAPI document cannot name a route the server lacks, nor miss one it serves.

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};
use utoipa_actix_web::OpenApiFactory;
use utoipa_actix_web::scope::{Scope, scope};

use super::{audit, clean_filter};
use crate::accounts::manage::{self, ManageError, NewAccount};
use crate::accounts::{Role, User};
use crate::admin::api::{ADMIN_SCOPE, ApiError, ErrorBody, ErrorCode, ErrorDetail, PageOf, Paging};
use crate::admin::audit::{Event, client_actor, user_actor};
use crate::admin::clients::{self as client_admin, AdminError, ClientView};
use crate::admin::keys as admin_keys;
use crate::admin::revocations::{self as admin_revocations, EntryInfo, ManualTarget, RevokeError};
use crate::admin::sessions::{self as admin_sessions, SessionInfo};
use crate::admin::users as admin_users;
use crate::oauth::client::RegistrationInput;
use crate::oauth::scope::Scope as OAuthScope;
use crate::startup::AppState;
use crate::store::{AuditEntry, AuditFilter, contains_pattern};
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
        .service(list_users)
        .service(create_user)
        .service(get_user)
        .service(disable_user)
        .service(enable_user)
        .service(set_password)
        .service(set_admin)
        .service(sign_out_user)
        .service(list_clients)
        .service(create_client)
        .service(get_client)
        .service(delete_client)
        .service(update_client)
        .service(rotate_client_secret)
        .service(list_audit)
        .service(list_sessions)
        .service(end_session)
        .service(list_revocations)
        .service(revoke)
        .service(list_keys)
}

/// Registers the API under `PREFIX`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(services(scope(PREFIX)));
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
        (name = "users"), (name = "clients"), (name = "audit"), (name = "sessions"),
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

/// Who is calling: the audit actor, and for a user when they last signed in.
struct Caller {
    actor: String,
    /// The calling admin's user id (none for a client).
    user_id: Option<String>,
    /// The token's own `auth_time` (users only): when its user last signed in, second factor
    /// included. Not the session's: a sign-in again in the console must not make every older
    /// token of that session count as recent.
    signed_in_at: Option<i64>,
}

impl Caller {
    /// The console asks for a recent sign-in before its sensitive actions (granting admin,
    /// creating an admin, deleting a client, rotating a secret, registering a powerful client,
    /// adding redirect URIs); so does the API, and only a user's token can show one.
    fn require_recent(&self, state: &AppState) -> Result<(), ApiError> {
        if self.user_id.is_none() {
            // No one signed in to mint a client's token: it can never count as recent, or a
            // leaked client secret would be worth more than an admin's password (issue 11).
            return Err(ApiError::Forbidden(
                "this action needs a recent sign-in by an administrator; a client's token cannot do it",
            ));
        }
        let window =
            i64::try_from(state.settings.admin_reauth_window.as_secs()).unwrap_or(i64::MAX);
        match self.signed_in_at {
            Some(at) if state.clock.now() - at <= window => Ok(()),
            _ => Err(ApiError::Forbidden(
                "this action needs a recent sign-in: sign in again and use a new token",
            )),
        }
    }

    fn is(&self, user_id: &str) -> bool {
        self.user_id.as_deref() == Some(user_id)
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Every handler calls this first, before reading its query or body, so that a caller who may
/// not use the API learns nothing about its input rules.
async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let token = bearer(req).ok_or(ApiError::Unauthenticated)?;
    let claims = verify_access_token(
        &state.keys.current(),
        &state.settings.issuer(),
        token,
        state.clock.now(),
    )
    .map_err(|_| ApiError::InvalidToken)?;
    // DESIGN §4: every endpoint that takes an access token honours the revocation list.
    if state.revocations.is_revoked(&claims) {
        return Err(ApiError::InvalidToken);
    }
    let scope = OAuthScope::parse(&claims.scope).unwrap_or_else(|_| OAuthScope::empty());
    let user = if claims.sid.is_none() && claims.sub == claims.client_id {
        None
    } else {
        let user = state
            .store
            .user_by_id(&claims.sub)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(ApiError::InvalidToken)?;
        if !user.has_role(Role::Admin) {
            return Err(ApiError::Forbidden("the admin API is for administrators"));
        }
        Some(user)
    };
    if !scope.contains(ADMIN_SCOPE) {
        return Err(ApiError::InsufficientScope);
    }
    match user {
        Some(user) => {
            // The session the token came from must still be alive: its TOTP step (or its
            // sign-in time) means nothing once it has ended or expired.
            let sid = claims.sid.as_deref().unwrap_or_default();
            let session = state
                .store
                .unexpired_session_by_sid(sid, state.clock.now())
                .await?
                .ok_or(ApiError::Forbidden(
                    "the token's session has ended: sign in again and use a new token",
                ))?;
            let mfa_at = session.mfa_at;
            if state.settings.admin_require_totp && mfa_at.is_none() {
                return Err(ApiError::Forbidden(
                    "the token's session did not pass the second factor (TOTP)",
                ));
            }
            Ok(Caller {
                actor: user_actor(&user.username),
                user_id: Some(user.id),
                signed_in_at: claims.auth_time,
            })
        }
        None => {
            // The client must still exist and still be allowed the scope.
            let client = state
                .store
                .get_client(&claims.client_id)
                .await?
                .ok_or(ApiError::InvalidToken)?;
            if !client.scopes.contains(ADMIN_SCOPE) {
                return Err(ApiError::InsufficientScope);
            }
            Ok(Caller {
                actor: client_actor(client.id.as_str()),
                user_id: None,
                signed_in_at: None,
            })
        }
    }
}

/// Audits an API change: the same actions and details as the console's.
async fn record(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: &str,
    detail: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    let event = Event {
        actor: &caller.actor,
        action,
        target: Some(target),
        detail,
    };
    Ok(audit(req, state, event).await?)
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

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidRequest(format!("the JSON body is not valid: {e}")))
}

/// The query string, read after `authenticate` (actix's extractor would answer first, in text).
fn parse_query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::InvalidRequest(format!("the query is not valid: {e}")))
}

/// A user as the API shows it: never the password hash.
#[derive(Serialize, ToSchema)]
struct UserJson {
    id: String,
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    /// `admin` makes an administrator.
    roles: Vec<String>,
    disabled: bool,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    updated_at: i64,
}

impl From<User> for UserJson {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            display_name: u.display_name,
            roles: u.roles,
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

fn manage_error(e: ManageError) -> ApiError {
    match e {
        ManageError::Store(s) => s.into(),
        ManageError::Hash(h) => ApiError::Internal(h.into()),
        ManageError::NotFound(_) => ApiError::NotFound,
        ManageError::Duplicate(_) => ApiError::Conflict(e.to_string()),
        other => ApiError::InvalidRequest(other.to_string()),
    }
}

fn admin_error(e: AdminError) -> ApiError {
    match e {
        AdminError::Invalid(e) => ApiError::InvalidRequest(e.to_string()),
        AdminError::NotFound(_) => ApiError::NotFound,
        AdminError::NoSecret(_) => ApiError::InvalidRequest(e.to_string()),
        AdminError::Store(s) => s.into(),
        AdminError::Start(s) => ApiError::Internal(s.into()),
    }
}

async fn user_by_id(state: &AppState, id: &str) -> Result<User, ApiError> {
    state.store.user_by_id(id).await?.ok_or(ApiError::NotFound)
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
async fn openapi_document(req: HttpRequest, state: web::Data<AppState>) -> ApiResult {
    authenticate(&req, &state).await?;
    let body = document()
        .to_json()
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(body))
}

/// `?q=` on the user list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UserSearch {
    /// Part of the username, e-mail or display name, any case.
    q: Option<String>,
}

/// Users, by name; `q` searches.
#[utoipa::path(
    tag = "users",
    params(Paging, UserSearch),
    responses(
        (status = 200, body = PageOf<UserJson>),
        (status = 400, body = ErrorBody, description = "A bad query (`invalid_request`)"),
        Refusals
    )
)]
#[get("/users")]
async fn list_users(req: HttpRequest, state: web::Data<AppState>) -> ApiResult {
    authenticate(&req, &state).await?;
    let paging: Paging = parse_query(&req)?;
    let search: UserSearch = parse_query(&req)?;
    let q = clean_filter(search.q.as_deref(), 64);
    let users = state
        .store
        .search_users(&contains_pattern(&q), paging.limit(), paging.offset())
        .await?;
    let users: Vec<UserJson> = users.into_iter().map(UserJson::from).collect();
    Ok(json(StatusCode::OK, &paging.wrap(users)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUserJson {
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    password: String,
    /// `["admin"]` creates an administrator (a sensitive action: a user's token needs a recent
    /// sign-in).
    #[serde(default)]
    roles: Vec<String>,
}

/// Creates a user.
#[utoipa::path(
    tag = "users",
    request_body = NewUserJson,
    responses(
        (status = 201, body = UserJson),
        (status = 400, body = ErrorBody, description = "Bad input or a weak password (`invalid_request`)"),
        (status = 409, body = ErrorBody, description = "The name is taken (`conflict`)"),
        Refusals
    )
)]
#[post("/users")]
async fn create_user(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let input: NewUserJson = parse_body(&body)?;
    let roles = input
        .roles
        .iter()
        .map(|r| match r.as_str() {
            "admin" => Ok(Role::Admin),
            other => Err(ApiError::InvalidRequest(format!("unknown role '{other}'"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if roles.contains(&Role::Admin) {
        caller.require_recent(&state)?;
    }
    let user = manage::create_user(
        &state.store,
        &state.hasher,
        NewAccount {
            username: input.username,
            email: input.email,
            display_name: input.display_name,
            roles,
            password: SecretString::from(input.password),
        },
        state.clock.now(),
    )
    .await
    .map_err(manage_error)?;
    record(&req, &state, &caller, "user.created", &user.id, Some(serde_json::json!({
        "after": { "username": user.username, "email": user.email, "roles": user.roles.join(" ") }
    })))
    .await?;
    Ok(json(StatusCode::CREATED, &UserJson::from(user)))
}

/// One user.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, body = UserJson),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
        Refusals
    )
)]
#[get("/users/{id}")]
async fn get_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    authenticate(&req, &state).await?;
    let user = user_by_id(&state, &id).await?;
    Ok(json(StatusCode::OK, &UserJson::from(user)))
}

/// Disables or enables a user, as the console does; answers with the user as they are now.
async fn set_disabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: &str,
    disabled: bool,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let user = user_by_id(&state, id).await?;
    if disabled && caller.is(&user.id) {
        return Err(ApiError::InvalidRequest(
            "you cannot disable your own account".into(),
        ));
    }
    // Enabling a disabled administrator hands back admin rights: as sensitive as granting them.
    if !disabled && user.has_role(Role::Admin) {
        caller.require_recent(&state)?;
    }
    manage::set_disabled(
        &state.store,
        &state.revocations,
        &state.backchannel,
        &user.username,
        disabled,
        state.clock.now(),
    )
    .await
    .map_err(manage_error)?;
    let action = if disabled {
        "user.disabled"
    } else {
        "user.enabled"
    };
    record(
        &req,
        &state,
        &caller,
        action,
        &user.id,
        Some(serde_json::json!({
            "before": { "disabled": user.disabled }, "after": { "disabled": disabled }
        })),
    )
    .await?;
    let user = user_by_id(&state, &user.id).await?;
    Ok(json(StatusCode::OK, &UserJson::from(user)))
}

/// Disables a user: their sessions end and their tokens stop working.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, body = UserJson),
        (status = 400, body = ErrorBody, description = "Your own account (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
        Refusals
    )
)]
#[post("/users/{id}/disable")]
async fn disable_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    set_disabled(req, state, &id, true).await
}

/// Enables a disabled user.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, body = UserJson),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
        Refusals
    )
)]
#[post("/users/{id}/enable")]
async fn enable_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    set_disabled(req, state, &id, false).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordJson {
    password: String,
}

/// Sets a new password (the console's reset): every session of the user ends.
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = PasswordJson,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, body = ErrorBody, description = "A weak password or bad JSON (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
        Refusals
    )
)]
#[post("/users/{id}/password")]
async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    // Whoever sets a password can sign in as that user (and enrol their own authenticator
    // where none is confirmed yet): as sensitive as granting admin.
    caller.require_recent(&state)?;
    let input: PasswordJson = parse_body(&body)?;
    let user = user_by_id(&state, &id).await?;
    manage::set_password(
        &state.store,
        &state.revocations,
        &state.backchannel,
        &state.hasher,
        &user.username,
        SecretString::from(input.password),
        &state.clock,
    )
    .await
    .map_err(manage_error)?;
    record(&req, &state, &caller, "user.password_reset", &user.id, None).await?;
    Ok(no_content())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AdminRoleJson {
    /// `true` grants the admin role, `false` revokes it.
    admin: bool,
}

/// Grants or revokes the admin role (a sensitive action: a user's token needs a recent sign-in).
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = AdminRoleJson,
    responses(
        (status = 200, body = UserJson),
        (status = 400, body = ErrorBody, description = "Your own role, or bad JSON (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
        Refusals
    )
)]
#[put("/users/{id}/admin")]
async fn set_admin(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let input: AdminRoleJson = parse_body(&body)?;
    caller.require_recent(&state)?;
    let user = user_by_id(&state, &id).await?;
    if !input.admin && caller.is(&user.id) {
        return Err(ApiError::InvalidRequest(
            "you cannot revoke your own administrator role; ask another admin".into(),
        ));
    }
    let (before, after) = admin_users::set_role(
        &state.store,
        &user,
        Role::Admin,
        input.admin,
        state.clock.now(),
    )
    .await?;
    let action = if input.admin {
        "user.admin_granted"
    } else {
        "user.admin_revoked"
    };
    record(
        &req,
        &state,
        &caller,
        action,
        &user.id,
        Some(serde_json::json!({
            "before": { "roles": before }, "after": { "roles": after }
        })),
    )
    .await?;
    let user = user_by_id(&state, &user.id).await?;
    Ok(json(StatusCode::OK, &UserJson::from(user)))
}

#[derive(Serialize, ToSchema)]
struct SignedOut {
    sessions_ended: usize,
}

/// Signs a user out everywhere: ends every session, revokes its tokens and tells its clients
/// (back-channel logout).
#[utoipa::path(
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, body = SignedOut),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
        Refusals
    )
)]
#[post("/users/{id}/sign-out")]
async fn sign_out_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let user = user_by_id(&state, &id).await?;
    let ended = crate::sessions::end_all(
        &state.store,
        &state.revocations,
        &state.backchannel,
        &user.id,
        state.clock.now(),
    )
    .await?;
    record(
        &req,
        &state,
        &caller,
        "user.signed_out",
        &user.id,
        Some(serde_json::json!({ "sessions_ended": ended })),
    )
    .await?;
    Ok(json(
        StatusCode::OK,
        &SignedOut {
            sessions_ended: ended,
        },
    ))
}

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
async fn list_clients(req: HttpRequest, state: web::Data<AppState>) -> ApiResult {
    authenticate(&req, &state).await?;
    let paging: Paging = parse_query(&req)?;
    let clients = state
        .store
        .list_clients_page(paging.limit(), paging.offset())
        .await?;
    let views: Vec<ClientView> = clients.iter().map(ClientView::from).collect();
    Ok(json(StatusCode::OK, &paging.wrap(views)))
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
async fn create_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let input: NewClientJson = parse_body(&body)?;
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
    };
    if client_admin::registration_needs_recent_sign_in(&input) {
        caller.require_recent(&state)?;
    }
    let registered = client_admin::add(&state.store, input, state.clock.now())
        .await
        .map_err(admin_error)?;
    let view = ClientView::from(&registered.client);
    let after = serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.into()))?;
    record(
        &req,
        &state,
        &caller,
        "client.created",
        &view.client_id,
        Some(serde_json::json!({ "after": after })),
    )
    .await?;
    let created = CreatedClient {
        client: view,
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
async fn get_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    authenticate(&req, &state).await?;
    let client = client_admin::show(&state.store, &id)
        .await
        .map_err(admin_error)?;
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
async fn delete_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    caller.require_recent(&state)?;
    let client = client_admin::show(&state.store, &id)
        .await
        .map_err(admin_error)?;
    client_admin::remove(
        &state.store,
        &state.revocations,
        client.id.as_str(),
        state.clock.now(),
    )
    .await
    .map_err(admin_error)?;
    record(
        &req,
        &state,
        &caller,
        "client.deleted",
        client.id.as_str(),
        serde_json::to_value(ClientView::from(&client))
            .ok()
            .map(|v| serde_json::json!({ "before": v })),
    )
    .await?;
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
async fn update_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let patch: ClientPatchJson = parse_body(&body)?;
    let current = ClientView::from(
        &client_admin::show(&state.store, &id)
            .await
            .map_err(admin_error)?,
    );
    let edit = client_admin::ClientEdit {
        name: patch.name.unwrap_or_else(|| current.name.clone()),
        redirect_uris: patch
            .redirect_uris
            .unwrap_or_else(|| current.redirect_uris.clone()),
        post_logout_redirect_uris: patch
            .post_logout_redirect_uris
            .unwrap_or_else(|| current.post_logout_redirect_uris.clone()),
        access_token_ttl: patch
            .access_token_ttl
            .unwrap_or_else(|| current.access_token_ttl.map(|s| format!("{s}s"))),
        backchannel_logout_uri: patch
            .backchannel_logout_uri
            .unwrap_or_else(|| current.backchannel_logout_uri.clone()),
        resource_server: patch.resource_server.unwrap_or(current.resource_server),
    };
    if client_admin::edit_needs_recent_sign_in(&current, &edit) {
        caller.require_recent(&state)?;
    }
    let (before, after) = client_admin::update(&state.store, &id, edit, state.clock.now())
        .await
        .map_err(admin_error)?;
    let detail = serde_json::json!({ "before": before, "after": after });
    record(
        &req,
        &state,
        &caller,
        "client.updated",
        &after.client_id,
        Some(detail),
    )
    .await?;
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
async fn rotate_client_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    caller.require_recent(&state)?;
    let client = client_admin::show(&state.store, &id)
        .await
        .map_err(admin_error)?;
    let secret = client_admin::rotate_secret(&state.store, client.id.as_str(), state.clock.now())
        .await
        .map_err(admin_error)?;
    record(
        &req,
        &state,
        &caller,
        "client.secret_rotated",
        client.id.as_str(),
        None,
    )
    .await?;
    Ok(json(
        StatusCode::OK,
        &NewSecret {
            client_id: client.id.to_string(),
            client_secret: secret,
        },
    ))
}

/// `?actor=&action=&since=&until=` on the audit log: exact matches; empty or absent matches
/// all.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// `user:NAME`, `client:ID`, `cli:USER` or `anonymous`.
    actor: Option<String>,
    /// Such as `login.failed` or `client.created`.
    action: Option<String>,
    /// Entries at or after this time (Unix seconds).
    since: Option<i64>,
    /// Entries at or before this time (Unix seconds).
    until: Option<i64>,
}

/// An audit entry. `detail` is the JSON the action recorded (before/after); never a secret.
#[derive(Serialize, ToSchema)]
struct AuditJson {
    id: i64,
    /// Unix seconds.
    at: i64,
    actor: String,
    action: String,
    target: Option<String>,
    detail: Option<serde_json::Value>,
    ip: Option<String>,
    user_agent: Option<String>,
    /// How many events the entry stands for: 1, or more when anonymous events past the
    /// per-minute cap were folded into it.
    count: i64,
}

impl From<AuditEntry> for AuditJson {
    fn from(e: AuditEntry) -> Self {
        // Entries hold JSON; should one not parse, it is still shown, as a string.
        let detail = e
            .detail
            .map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d)));
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail,
            ip: e.ip,
            user_agent: e.user_agent,
            count: e.count,
        }
    }
}

/// The audit log, newest first.
#[utoipa::path(
    tag = "audit",
    params(Paging, AuditQuery),
    responses(
        (status = 200, body = PageOf<AuditJson>),
        (status = 400, body = ErrorBody, description = "A bad query (`invalid_request`)"),
        Refusals
    )
)]
#[get("/audit")]
async fn list_audit(req: HttpRequest, state: web::Data<AppState>) -> ApiResult {
    authenticate(&req, &state).await?;
    let paging: Paging = parse_query(&req)?;
    let query: AuditQuery = parse_query(&req)?;
    let actor = clean_filter(query.actor.as_deref(), 200);
    let action = clean_filter(query.action.as_deref(), 200);
    let filter = AuditFilter {
        actor: &actor,
        action: &action,
        since: query.since,
        until: query.until,
    };
    let entries = state
        .store
        .list_audit(&filter, paging.limit(), paging.offset())
        .await?;
    let entries: Vec<AuditJson> = entries.into_iter().map(AuditJson::from).collect();
    Ok(json(StatusCode::OK, &paging.wrap(entries)))
}

/// `?user=` on the session list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SessionQuery {
    /// Only this user's sessions (a user id).
    user: Option<String>,
}

/// A live login session. Named by its public `sid`; the cookie never leaves the store.
#[derive(Serialize, ToSchema)]
struct SessionJson {
    sid: String,
    user_id: String,
    username: String,
    /// When the user signed in (Unix seconds).
    auth_time: i64,
    /// How: `pwd`, or `pwd otp` after the second factor.
    amr: String,
    second_factor: bool,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    last_seen_at: i64,
    /// Unix seconds; the idle timeout may end it sooner.
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl From<SessionInfo> for SessionJson {
    fn from(s: SessionInfo) -> Self {
        Self {
            sid: s.sid,
            user_id: s.user_id,
            username: s.username,
            auth_time: s.auth_time,
            amr: s.amr,
            second_factor: s.second_factor,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}

/// Live sessions, most recently used first; `user` keeps one user's.
#[utoipa::path(
    tag = "sessions",
    params(Paging, SessionQuery),
    responses(
        (status = 200, body = PageOf<SessionJson>),
        (status = 400, body = ErrorBody, description = "A bad query (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
        Refusals
    )
)]
#[get("/sessions")]
async fn list_sessions(req: HttpRequest, state: web::Data<AppState>) -> ApiResult {
    authenticate(&req, &state).await?;
    let paging: Paging = parse_query(&req)?;
    let query: SessionQuery = parse_query(&req)?;
    let user = match query.user.as_deref() {
        Some(id) => Some(user_by_id(&state, id).await?),
        None => None,
    };
    let found = admin_sessions::list(
        &state.store,
        user.as_ref(),
        state.clock.now(),
        state.session_lifetimes.idle_secs,
        paging.limit(),
        paging.offset(),
    )
    .await?;
    let found: Vec<SessionJson> = found.into_iter().map(SessionJson::from).collect();
    Ok(json(StatusCode::OK, &paging.wrap(found)))
}

/// Ends a session: the browser is signed out, the session's tokens are revoked and its clients
/// told (back-channel logout).
#[utoipa::path(
    tag = "sessions",
    params(("sid" = String, Path, description = "The session's sid")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, body = ErrorBody, description = "No such live session (`not_found`)"),
        Refusals
    )
)]
#[delete("/sessions/{sid}")]
async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    sid: web::Path<String>,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let ended = crate::sessions::end_by_sid(
        &state.store,
        &state.revocations,
        &state.backchannel,
        &sid,
        state.clock.now(),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    record(
        &req,
        &state,
        &caller,
        "session.ended",
        &ended.sid,
        Some(serde_json::json!({ "user_id": ended.user_id })),
    )
    .await?;
    Ok(no_content())
}

/// An entry of the revocation list.
#[derive(Serialize, ToSchema)]
struct RevocationJson {
    id: i64,
    /// `jti`, `sid`, `family`, `user` or `client`.
    kind: &'static str,
    target: String,
    /// For `user` and `client`: tokens issued at or before this time (Unix seconds) are revoked.
    issued_before: Option<i64>,
    /// Unix seconds.
    revoked_at: i64,
    /// When the entry lapses: no token it could match is still valid then (Unix seconds).
    expires_at: i64,
    reason: String,
}

impl From<EntryInfo> for RevocationJson {
    fn from(e: EntryInfo) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            target: e.target,
            issued_before: e.issued_before,
            revoked_at: e.revoked_at,
            expires_at: e.expires_at,
            reason: e.reason,
        }
    }
}

/// The live entries of the revocation list, newest first.
#[utoipa::path(
    tag = "revocations",
    params(Paging),
    responses(
        (status = 200, body = PageOf<RevocationJson>),
        (status = 400, body = ErrorBody, description = "A bad query (`invalid_request`)"),
        Refusals
    )
)]
#[get("/revocations")]
async fn list_revocations(req: HttpRequest, state: web::Data<AppState>) -> ApiResult {
    authenticate(&req, &state).await?;
    let paging: Paging = parse_query(&req)?;
    let entries = admin_revocations::list(
        &state.store,
        state.clock.now(),
        paging.limit(),
        paging.offset(),
    )
    .await?;
    let entries: Vec<RevocationJson> = entries.into_iter().map(RevocationJson::from).collect();
    Ok(json(StatusCode::OK, &paging.wrap(entries)))
}

/// What to revoke by hand.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RevokeJson {
    /// `jti` (one access token), `user` (every token issued to a user so far: by id or
    /// username) or `client` (every token issued to a client so far).
    #[schema(example = "user")]
    kind: String,
    value: String,
}

/// Revokes by hand; every node honours it within a second (DESIGN §4).
#[utoipa::path(
    tag = "revocations",
    request_body = RevokeJson,
    responses(
        (status = 201, body = RevocationJson),
        (status = 400, body = ErrorBody, description = "A bad kind or value (`invalid_request`)"),
        (status = 404, body = ErrorBody, description = "No such user or client (`not_found`)"),
        Refusals
    )
)]
#[post("/revocations")]
async fn revoke(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let input: RevokeJson = parse_body(&body)?;
    let revoke_error = |e: RevokeError| match e {
        RevokeError::Invalid(message) => ApiError::InvalidRequest(message),
        RevokeError::NotFound(_) => ApiError::NotFound,
        RevokeError::Store(s) => s.into(),
    };
    let target = ManualTarget::parse(&input.kind, &input.value).map_err(revoke_error)?;
    let entry =
        admin_revocations::revoke(&state.store, &state.revocations, target, state.clock.now())
            .await
            .map_err(revoke_error)?;
    let entry = EntryInfo::from(entry);
    record(
        &req,
        &state,
        &caller,
        "revocation.created",
        &format!("{}:{}", entry.kind, entry.target),
        Some(serde_json::json!({ "id": entry.id, "expires_at": entry.expires_at })),
    )
    .await?;
    Ok(json(StatusCode::CREATED, &RevocationJson::from(entry)))
}

/// A signing key: public facts only, never key material.
#[derive(Serialize, ToSchema)]
struct KeyJson {
    /// The RFC 7638 thumbprint.
    kid: String,
    alg: String,
    /// `active`, `signing` or `published`.
    state: &'static str,
    /// Unix seconds, when known.
    created_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct KeyList {
    items: Vec<KeyJson>,
}

/// The signing keys of this node: the active key first.
#[utoipa::path(
    tag = "keys",
    responses((status = 200, body = KeyList), Refusals)
)]
#[get("/keys")]
async fn list_keys(req: HttpRequest, state: web::Data<AppState>) -> ApiResult {
    authenticate(&req, &state).await?;
    let items = admin_keys::list(&state.keys.current())
        .into_iter()
        .map(|k| KeyJson {
            kid: k.kid,
            alg: k.alg,
            state: k.state,
            created_at: k.created_at,
        })
        .collect();
    Ok(json(StatusCode::OK, &KeyList { items }))
}
