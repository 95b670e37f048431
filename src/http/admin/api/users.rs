//! `/users…`: list and search, create, show, disable/enable, set a password, grant/revoke
//! admin, sign out everywhere.

use actix_web::http::StatusCode;
use actix_web::{get, post, put, web};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Caller, Refusals, json, no_content};
use crate::accounts::manage::NewAccount;
use crate::accounts::{Role, User};
use crate::admin::api::{ApiError, ErrorBody, PageOf, Paging};
use crate::admin::clean_filter;
use crate::admin::users::UserRef;
use crate::http::admin::service;
use crate::startup::AppState;

/// A user as the API shows it: never the password hash.
#[derive(Serialize, ToSchema)]
pub(super) struct UserJson {
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
pub(super) async fn list_users(
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
    search: web::Query<UserSearch>,
) -> ApiResult {
    let q = clean_filter(search.q.as_deref(), 64);
    let users = service(&state).search_users(&q, &paging).await?;
    Ok(json(StatusCode::OK, &users.map(UserJson::from)))
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
pub(super) async fn create_user(
    state: web::Data<AppState>,
    caller: Caller,
    input: web::Json<NewUserJson>,
) -> ApiResult {
    let input = input.into_inner();
    let roles = input
        .roles
        .iter()
        .map(|r| match r.as_str() {
            "admin" => Ok(Role::Admin),
            other => Err(ApiError::InvalidRequest(format!("unknown role '{other}'"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let account = NewAccount {
        username: input.username,
        email: input.email,
        display_name: input.display_name,
        roles,
        password: SecretString::from(input.password),
    };
    let user = service(&state).create_user(&caller.0, account).await?;
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
pub(super) async fn get_user(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let user = service(&state).user(UserRef::Id(&id)).await?;
    Ok(json(StatusCode::OK, &UserJson::from(user)))
}

/// Disables or enables a user, as the console does; answers with the user as they are now.
async fn set_disabled(state: &AppState, caller: &Caller, id: &str, disabled: bool) -> ApiResult {
    let user = service(state)
        .set_user_disabled(&caller.0, UserRef::Id(id), disabled)
        .await?;
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
pub(super) async fn disable_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult {
    set_disabled(&state, &caller, &id, true).await
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
pub(super) async fn enable_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult {
    set_disabled(&state, &caller, &id, false).await
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
pub(super) async fn set_password(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    input: web::Json<PasswordJson>,
) -> ApiResult {
    let password = SecretString::from(input.into_inner().password);
    service(&state)
        .set_password(&caller.0, UserRef::Id(&id), password)
        .await?;
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
pub(super) async fn set_admin(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    input: web::Json<AdminRoleJson>,
) -> ApiResult {
    let user = service(&state)
        .set_admin(&caller.0, UserRef::Id(&id), input.admin)
        .await?;
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
pub(super) async fn sign_out_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult {
    let signed_out = service(&state)
        .sign_out_user(&caller.0, UserRef::Id(&id))
        .await?;
    Ok(json(
        StatusCode::OK,
        &SignedOut {
            sessions_ended: signed_out.ended,
        },
    ))
}
