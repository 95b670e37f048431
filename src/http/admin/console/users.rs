//! `/admin/users…`: list and search, create, a user's page (their recent audit entries and
//! live sessions), disable/enable, reset password, grant/revoke admin (a sensitive action:
//! recent sign-in), sign out everywhere.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use secrecy::SecretString;
use serde::Deserialize;

use super::audit::Row as AuditRow;
use super::sessions::Row as SessionRow;
use super::{ConfirmForm, ConfirmPage, PageQuery, back_to, confirm, form_error};
use crate::accounts::manage::NewAccount;
use crate::accounts::{Role, User};
use crate::admin::clean_filter;
use crate::admin::users::{UserRef, may_disable};
use crate::http::admin::{AdminSession, ConsoleResult, service};
use crate::http::pages;
use crate::startup::AppState;

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
    /// The newest audit entries by or about the user.
    audit: &'a [AuditRow],
    /// The user's live sessions.
    sessions: &'a [SessionRow],
}

#[derive(askama::Template)]
#[template(path = "admin/user_new.html")]
struct NewUserPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
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

fn user_path(id: &str) -> String {
    format!("/admin/users/{id}")
}

pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let q = clean_filter(query.q.as_deref(), 64);
    let found = service(&state).search_users(&q, &query.paging()).await?;
    let rows: Vec<UserRow> = found.items.iter().map(UserRow::from).collect();
    Ok(pages::render(
        StatusCode::OK,
        &ListPage {
            users: &rows,
            q: &q,
            q_encoded: &urlencoding::encode(&q),
            page: i64::from(found.page),
            more: found.next_page.is_some(),
        },
    )?)
}

pub async fn new_form(admin: AdminSession) -> ConsoleResult {
    new_page(&admin, StatusCode::OK, None)
}

fn new_page(admin: &AdminSession, status: StatusCode, error: Option<&str>) -> ConsoleResult {
    Ok(pages::render(
        status,
        &NewUserPage {
            csrf: &admin.csrf(),
            error,
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
    let optional = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let input = NewAccount {
        username: form.username,
        email: optional(form.email),
        display_name: optional(form.display_name),
        roles: if form.admin == "yes" {
            vec![Role::Admin]
        } else {
            vec![]
        },
        password: SecretString::from(form.password),
    };
    match service(&state).create_user(&admin.actor, input).await {
        Ok(user) => Ok(pages::redirect(&user_path(&user.id))),
        Err(e) => {
            let message = form_error(e, "/admin/users/new")?;
            new_page(&admin, StatusCode::BAD_REQUEST, Some(&message))
        }
    }
}

/// The user's page, with a notice after an action that stays on it.
async fn user_page(
    state: &AppState,
    admin: &AdminSession,
    id: &str,
    notice: Option<&str>,
) -> ConsoleResult {
    let detail = service(state).user_detail(id).await?;
    let audit: Vec<AuditRow> = detail.audit.iter().map(AuditRow::from).collect();
    let sessions: Vec<SessionRow> = detail.sessions.iter().map(SessionRow::from).collect();
    Ok(pages::render(
        StatusCode::OK,
        &UserPage {
            csrf: &admin.csrf(),
            u: &UserRow::from(&detail.user),
            notice,
            audit: &audit,
            sessions: &sessions,
        },
    )?)
}

pub async fn show(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    user_page(&state, &admin, &id, None).await
}

/// The user actions that ask first.
#[derive(Clone, Copy)]
enum Ask {
    Disable,
    SignOut,
}

/// The confirmation page of an action on a user.
async fn ask(state: &AppState, admin: &AdminSession, id: &str, action: Ask) -> ConsoleResult {
    let user = service(state).user(UserRef::Id(id)).await?;
    let (title, message, path, button) = match action {
        Ask::Disable => {
            may_disable(&admin.actor, &user)?;
            (
                "Disable this user",
                format!(
                    "Disable {}? They can no longer sign in; every session of theirs ends and their \
                     refresh tokens stop working. You can enable them again later.",
                    user.username
                ),
                "disable",
                "Disable the user",
            )
        }
        Ask::SignOut => (
            "Sign out everywhere",
            format!(
                "Sign {} out everywhere? Every session of theirs ends, the tokens issued in \
                 those sessions are revoked and their applications are told. They can sign in \
                 again.",
                user.username
            ),
            "sign-out",
            "Sign out everywhere",
        ),
    };
    confirm(&ConfirmPage {
        csrf: &admin.csrf(),
        title,
        message: &message,
        action: &format!("/admin/users/{}/{path}", user.id),
        button,
        cancel: &user_path(&user.id),
        fields: &[],
    })
}

pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    if !form.confirmed() {
        return ask(&state, &admin, &id, Ask::Disable).await;
    }
    let back = user_path(&id);
    let user = service(&state)
        .set_user_disabled(&admin.actor, UserRef::Id(&id), true)
        .await
        .map_err(back_to(&back))?;
    Ok(pages::redirect(&user_path(&user.id)))
}

pub async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let back = user_path(&id);
    let user = service(&state)
        .set_user_disabled(&admin.actor, UserRef::Id(&id), false)
        .await
        .map_err(back_to(&back))?;
    Ok(pages::redirect(&user_path(&user.id)))
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
    let back = user_path(&id);
    let user = service(&state)
        .set_password(
            &admin.actor,
            UserRef::Id(&id),
            SecretString::from(form.password),
        )
        .await
        .map_err(back_to(&back))?;
    let notice = "The password was changed; every session of the user has ended.";
    user_page(&state, &admin, &user.id, Some(notice)).await
}

/// The confirmation page for granting or revoking admin (after a recent sign-in).
pub async fn confirm_admin(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    let svc = service(&state);
    let user = svc.user(UserRef::Id(&id)).await?;
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
            "Take the administrator role from {}? They lose this console and the admin API \
             at their next request; their sessions and applications stay.",
            user.username
        )
    };
    let label = if grant { "Grant admin" } else { "Revoke admin" };
    confirm(&ConfirmPage {
        csrf: &admin.csrf(),
        title: label,
        message: &message,
        action: &back,
        button: label,
        cancel: &user_path(&user.id),
        fields: &[("grant", if grant { "yes" } else { "no" })],
    })
}

pub async fn set_admin(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let svc = service(&state);
    if !form.confirmed() {
        let user = svc.user(UserRef::Id(&id)).await?;
        return Ok(pages::redirect(&format!("/admin/users/{}/admin", user.id)));
    }
    let back = format!("/admin/users/{id}/admin");
    let user = svc
        .set_admin(&admin.actor, UserRef::Id(&id), form.grant == "yes")
        .await
        .map_err(back_to(&back))?;
    Ok(pages::redirect(&user_path(&user.id)))
}

pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    if !form.confirmed() {
        return ask(&state, &admin, &id, Ask::SignOut).await;
    }
    let signed_out = service(&state)
        .sign_out_user(&admin.actor, UserRef::Id(&id))
        .await?;
    Ok(pages::redirect(&user_path(&signed_out.user.id)))
}
