//! `/admin/api/v1/…`: the admin JSON API. A Bearer access token issued by Tessera with the
//! `tessera:admin` scope: an admin user's (whose session passed the second factor when it is
//! required), or a client_credentials token of a client registered with that scope.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::audit;
use crate::accounts::manage::{self, ManageError, NewAccount};
use crate::accounts::{Role, User};
use crate::admin::api::{ADMIN_SCOPE, ApiError, OPENAPI, Paging};
use crate::admin::audit::{Event, client_actor, user_actor};
use crate::admin::clients::{self as client_admin, AdminError, ClientView};
use crate::oauth::client::RegistrationInput;
use crate::oauth::scope::Scope;
use crate::startup::AppState;
use crate::store::contains_pattern;
use crate::tokens::access::verify_access_token;

type ApiResult = Result<HttpResponse, ApiError>;

/// Who is calling: the audit actor.
struct Caller {
    actor: String,
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
        &state.keys,
        &state.settings.issuer(),
        token,
        state.clock.now(),
    )
    .map_err(|_| ApiError::InvalidToken)?;
    // DESIGN §4: every endpoint that takes an access token honours the revocation list.
    if state.revocations.is_revoked(&claims) {
        return Err(ApiError::InvalidToken);
    }
    let scope = Scope::parse(&claims.scope).unwrap_or_else(|_| Scope::empty());
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
            if state.settings.admin_require_totp {
                let sid = claims.sid.as_deref().unwrap_or_default();
                if state.store.session_mfa_at_by_sid(sid).await?.is_none() {
                    return Err(ApiError::Forbidden(
                        "the token's session did not pass the second factor (TOTP)",
                    ));
                }
            }
            Ok(Caller {
                actor: user_actor(&user.username),
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
            })
        }
    }
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidRequest(format!("the JSON body is not valid: {e}")))
}

/// A user as the API shows it: never the password hash.
#[derive(Serialize)]
struct UserJson {
    id: String,
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    roles: Vec<String>,
    disabled: bool,
    created_at: i64,
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

pub async fn openapi(req: HttpRequest, state: web::Data<AppState>) -> ApiResult {
    authenticate(&req, &state).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(OPENAPI))
}

pub async fn list_users(
    req: HttpRequest,
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
) -> ApiResult {
    authenticate(&req, &state).await?;
    let q: String = paging
        .q
        .as_deref()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(64)
        .collect();
    let users = state
        .store
        .search_users(
            &contains_pattern(&q),
            i64::from(paging.per_page()) + 1,
            paging.offset(),
        )
        .await?;
    let users: Vec<UserJson> = users.into_iter().map(UserJson::from).collect();
    Ok(json(StatusCode::OK, &paging.wrap(users)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserJson {
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    password: String,
    #[serde(default)]
    roles: Vec<String>,
}

pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> ApiResult {
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
    audit(&req, &state, Event {
        actor: &caller.actor,
        action: "user.created",
        target: Some(&user.id),
        detail: Some(serde_json::json!({
            "after": { "username": user.username, "email": user.email, "roles": user.roles.join(" ") }
        })),
    })
    .await?;
    Ok(json(StatusCode::CREATED, &UserJson::from(user)))
}

pub async fn disable_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let user = state
        .store
        .user_by_id(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    manage::set_disabled(
        &state.store,
        &state.revocations,
        &user.username,
        true,
        state.clock.now(),
    )
    .await
    .map_err(manage_error)?;
    audit(
        &req,
        &state,
        Event {
            actor: &caller.actor,
            action: "user.disabled",
            target: Some(&user.id),
            detail: Some(serde_json::json!({
                "before": { "disabled": user.disabled }, "after": { "disabled": true }
            })),
        },
    )
    .await?;
    let user = state
        .store
        .user_by_id(&user.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(json(StatusCode::OK, &UserJson::from(user)))
}

pub async fn list_clients(
    req: HttpRequest,
    state: web::Data<AppState>,
    paging: web::Query<Paging>,
) -> ApiResult {
    authenticate(&req, &state).await?;
    let clients = state
        .store
        .list_clients_page(i64::from(paging.per_page()) + 1, paging.offset())
        .await?;
    let views: Vec<ClientView> = clients.iter().map(ClientView::from).collect();
    Ok(json(StatusCode::OK, &paging.wrap(views)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClientJson {
    name: String,
    #[serde(default = "confidential")]
    client_type: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    scope: Option<String>,
    #[serde(default)]
    first_party: bool,
    access_token_ttl: Option<String>,
    backchannel_logout_uri: Option<String>,
}

fn confidential() -> String {
    "confidential".into()
}

pub async fn create_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
    let input: NewClientJson = parse_body(&body)?;
    let registered = client_admin::add(
        &state.store,
        RegistrationInput {
            name: input.name,
            client_type: input.client_type,
            redirect_uris: input.redirect_uris,
            post_logout_redirect_uris: input.post_logout_redirect_uris,
            grant_types: input.grant_types,
            scope: input.scope,
            first_party: input.first_party,
            access_token_ttl: input.access_token_ttl,
            backchannel_logout_uri: input.backchannel_logout_uri,
            // RS256, the default; the CLI's --signing-alg chooses another.
            signing_alg: None,
        },
        state.clock.now(),
    )
    .await
    .map_err(admin_error)?;
    let view = ClientView::from(&registered.client);
    let mut doc = serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.into()))?;
    audit(
        &req,
        &state,
        Event {
            actor: &caller.actor,
            action: "client.created",
            target: Some(&view.client_id),
            detail: Some(serde_json::json!({ "after": doc.clone() })),
        },
    )
    .await?;
    if let (Some(secret), Some(obj)) = (registered.secret, doc.as_object_mut()) {
        obj.insert("client_secret".into(), secret.into());
    }
    Ok(json(StatusCode::CREATED, &doc))
}

pub async fn delete_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let caller = authenticate(&req, &state).await?;
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
    audit(
        &req,
        &state,
        Event {
            actor: &caller.actor,
            action: "client.deleted",
            target: Some(client.id.as_str()),
            detail: serde_json::to_value(ClientView::from(&client))
                .ok()
                .map(|v| serde_json::json!({ "before": v })),
        },
    )
    .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
