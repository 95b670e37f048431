//! `/admin/users…`: list and search, create, disable/enable, reset password, grant/revoke
//! admin (a sensitive action: recent sign-in), sign out everywhere.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use secrecy::SecretString;
use serde::Deserialize;

use super::{AdminSession, ConsoleError, ConsoleResult, PageQuery, clean_filter, split_page};
use crate::accounts::manage::{self, ManageError, NewAccount};
use crate::accounts::{Role, User};
use crate::admin::users as admin_users;
use crate::error::PageError;
use crate::http::pages;
use crate::startup::AppState;
use crate::store::contains_pattern;

/// A user as the console shows it: never the password hash.
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub roles: String,
    pub status: &'static str,
    pub disabled: bool,
    pub is_admin: bool,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone().unwrap_or_default(),
            roles: u.roles.join(" "),
            status: if u.disabled { "disabled" } else { "active" },
            disabled: u.disabled,
            is_admin: u.has_role(Role::Admin),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/users.html")]
struct ListPage<'a> {
    users: &'a [UserRow],
    q: &'a str,
    q_encoded: &'a str,
    page: i64,
    more: bool,
}

#[derive(askama::Template)]
#[template(path = "admin/user.html")]
struct UserPage<'a> {
    csrf: &'a str,
    u: &'a UserRow,
    notice: Option<&'a str>,
}

#[derive(askama::Template)]
#[template(path = "admin/user_new.html")]
struct NewUserPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
}

#[derive(askama::Template)]
#[template(path = "admin/confirm.html")]
pub struct ConfirmPage<'a> {
    pub csrf: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    pub cancel: &'a str,
    /// Hidden fields the action needs again (name, value).
    pub fields: &'a [(&'a str, &'a str)],
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub confirm: String,
    #[serde(default)]
    pub grant: String,
}

impl ConfirmForm {
    pub fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    admin: String,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// Mistakes in the input are the admin's to fix (400 with the reason); the rest is ours.
pub fn manage_error(e: ManageError) -> ConsoleError {
    match e {
        ManageError::Store(s) => s.into(),
        ManageError::Hash(h) => PageError::Internal(h.into()).into(),
        ManageError::NotFound(_) => PageError::NotFound.into(),
        other => PageError::BadRequest(other.to_string()).into(),
    }
}

async fn user_by_id(state: &AppState, id: &str) -> Result<User, ConsoleError> {
    state
        .store
        .user_by_id(id)
        .await?
        .ok_or(ConsoleError::Page(PageError::NotFound))
}

pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let q = clean_filter(query.q.as_deref(), 64);
    let users = state
        .store
        .search_users(&contains_pattern(&q), super::PAGE_SIZE + 1, query.offset())
        .await?;
    let (users, more) = split_page(users);
    let rows: Vec<UserRow> = users.iter().map(UserRow::from).collect();
    Ok(pages::render(
        StatusCode::OK,
        &ListPage {
            users: &rows,
            q: &q,
            q_encoded: &urlencoding::encode(&q),
            page: query.page(),
            more,
        },
    )?)
}

pub async fn new_form(admin: AdminSession) -> ConsoleResult {
    Ok(pages::render(
        StatusCode::OK,
        &NewUserPage {
            csrf: &admin.csrf(),
            error: None,
        },
    )?)
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    form: web::Form<NewUserForm>,
) -> ConsoleResult {
    let form = form.into_inner();
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let make_admin = form.admin == "yes";
    if make_admin {
        admin.require_recent(&state, "/admin/users/new")?;
    }
    let optional = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let created = manage::create_user(
        &state.store,
        &state.hasher,
        NewAccount {
            username: form.username,
            email: optional(form.email),
            display_name: optional(form.display_name),
            roles: if make_admin {
                vec![Role::Admin]
            } else {
                vec![]
            },
            password: SecretString::from(form.password),
        },
        state.clock.now(),
    )
    .await;
    let user = match created {
        Ok(user) => user,
        Err(e) => match manage_error(e) {
            ConsoleError::Page(PageError::BadRequest(message)) => {
                return Ok(pages::render(
                    StatusCode::BAD_REQUEST,
                    &NewUserPage {
                        csrf: &admin.csrf(),
                        error: Some(&message),
                    },
                )?);
            }
            other => return Err(other),
        },
    };
    admin
        .record(&req, &state, "user.created", Some(&user.id), Some(serde_json::json!({
            "after": { "username": user.username, "email": user.email, "roles": user.roles.join(" ") }
        })))
        .await?;
    Ok(pages::redirect(&format!("/admin/users/{}", user.id)))
}

pub async fn show(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    let user = user_by_id(&state, &id).await?;
    Ok(pages::render(
        StatusCode::OK,
        &UserPage {
            csrf: &admin.csrf(),
            u: &UserRow::from(&user),
            notice: None,
        },
    )?)
}

async fn set_disabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: String,
    form: ConfirmForm,
    disabled: bool,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let user = user_by_id(&state, &id).await?;
    if disabled && user.id == admin.user().id {
        return Err(PageError::BadRequest("You cannot disable your own account.".into()).into());
    }
    // Enabling a disabled administrator hands back admin rights: as sensitive as granting them.
    if !disabled && user.has_role(Role::Admin) {
        admin.require_recent(&state, &format!("/admin/users/{}", user.id))?;
    }
    if disabled && !form.confirmed() {
        let message = format!(
            "Disable {}? They can no longer sign in; every session of theirs ends and their \
             refresh tokens stop working. You can enable them again later.",
            user.username
        );
        return Ok(pages::render(
            StatusCode::OK,
            &ConfirmPage {
                csrf: &admin.csrf(),
                title: "Disable this user",
                message: &message,
                action: &format!("/admin/users/{}/disable", user.id),
                button: "Disable the user",
                cancel: &format!("/admin/users/{}", user.id),
                fields: &[],
            },
        )?);
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
    admin
        .record(
            &req,
            &state,
            if disabled {
                "user.disabled"
            } else {
                "user.enabled"
            },
            Some(&user.id),
            Some(serde_json::json!({
                "before": { "disabled": user.disabled }, "after": { "disabled": disabled }
            })),
        )
        .await?;
    Ok(pages::redirect(&format!("/admin/users/{}", user.id)))
}

pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    set_disabled(req, state, admin, id.into_inner(), form.into_inner(), true).await
}

pub async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    set_disabled(req, state, admin, id.into_inner(), form.into_inner(), false).await
}

pub async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<PasswordForm>,
) -> ConsoleResult {
    let form = form.into_inner();
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let user = user_by_id(&state, &id).await?;
    // Whoever sets a password can sign in as that user: as sensitive as granting admin.
    admin.require_recent(&state, &format!("/admin/users/{}", user.id))?;
    manage::set_password(
        &state.store,
        &state.revocations,
        &state.backchannel,
        &state.hasher,
        &user.username,
        SecretString::from(form.password),
        &state.clock,
    )
    .await
    .map_err(manage_error)?;
    admin
        .record(&req, &state, "user.password_reset", Some(&user.id), None)
        .await?;
    Ok(pages::render(
        StatusCode::OK,
        &UserPage {
            csrf: &admin.csrf(),
            u: &UserRow::from(&user),
            notice: Some("The password was changed; every session of the user has ended."),
        },
    )?)
}

/// The confirmation page for granting or revoking admin (after a recent sign-in).
pub async fn confirm_admin(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    let user = user_by_id(&state, &id).await?;
    let back = format!("/admin/users/{}/admin", user.id);
    admin.require_recent(&state, &back)?;
    let grant = !user.has_role(Role::Admin);
    let message = if grant {
        format!(
            "Make {} an administrator? They get full control of Tessera: users, clients, \
             sessions, revocations and this console.",
            user.username
        )
    } else {
        format!(
            "Take the administrator role from {}? They lose this console and the admin API at \
             their next request; their sessions and applications stay.",
            user.username
        )
    };
    Ok(pages::render(
        StatusCode::OK,
        &ConfirmPage {
            csrf: &admin.csrf(),
            title: if grant {
                "Grant the administrator role"
            } else {
                "Revoke the administrator role"
            },
            message: &message,
            action: &back,
            button: if grant { "Grant admin" } else { "Revoke admin" },
            cancel: &format!("/admin/users/{}", user.id),
            fields: &[("grant", if grant { "yes" } else { "no" })],
        },
    )?)
}

pub async fn set_admin(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let user = user_by_id(&state, &id).await?;
    let back = format!("/admin/users/{}/admin", user.id);
    admin.require_recent(&state, &back)?;
    if !form.confirmed() {
        return Ok(pages::redirect(&back));
    }
    let grant = form.grant == "yes";
    if !grant && user.id == admin.user().id {
        return Err(PageError::BadRequest(
            "You cannot revoke your own administrator role; ask another admin.".into(),
        )
        .into());
    }
    let (before, after) =
        admin_users::set_role(&state.store, &user, Role::Admin, grant, state.clock.now()).await?;
    admin
        .record(
            &req,
            &state,
            if grant {
                "user.admin_granted"
            } else {
                "user.admin_revoked"
            },
            Some(&user.id),
            Some(serde_json::json!({ "before": { "roles": before }, "after": { "roles": after } })),
        )
        .await?;
    Ok(pages::redirect(&format!("/admin/users/{}", user.id)))
}

pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let user = user_by_id(&state, &id).await?;
    if !form.confirmed() {
        let message = format!(
            "Sign {} out everywhere? Every session of theirs ends, the tokens issued in those \
             sessions are revoked and their applications are told. They can sign in again.",
            user.username
        );
        return Ok(pages::render(
            StatusCode::OK,
            &ConfirmPage {
                csrf: &admin.csrf(),
                title: "Sign out everywhere",
                message: &message,
                action: &format!("/admin/users/{}/sign-out", user.id),
                button: "Sign out everywhere",
                cancel: &format!("/admin/users/{}", user.id),
                fields: &[],
            },
        )?);
    }
    let ended = crate::sessions::end_all(
        &state.store,
        &state.revocations,
        &state.backchannel,
        &user.id,
        state.clock.now(),
    )
    .await?;
    admin
        .record(
            &req,
            &state,
            "user.signed_out",
            Some(&user.id),
            Some(serde_json::json!({ "sessions_ended": ended })),
        )
        .await?;
    Ok(pages::redirect(&format!("/admin/users/{}", user.id)))
}
