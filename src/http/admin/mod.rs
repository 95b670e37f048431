//! The admin console (`/admin/…`) and its JSON API (`/admin/api/v1/…`): thin adapters over
//! the admin service (`crate::admin`). `routes` lists every console path (the API lists its
//! own, `api::services`); the gate below decides who may see them.

mod api;
mod console;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use crate::accounts::{Role, User};
use crate::admin::{Actor, Admin, AdminError, Policy};
use crate::error::PageError;
use crate::http::csrf;
use crate::http::current_session::{any_session, client_ip};
use crate::sessions::Session;
use crate::startup::AppState;
use crate::store::StoreError;

use console::{apis, audit, clients, dashboard, keys, mfa, revocations, sessions, users};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(dashboard::show))
        .route(
            "/admin/mfa",
            web::get().to(mfa::show_verify::<PendingAdmin>),
        )
        .route("/admin/mfa", web::post().to(mfa::verify::<PendingAdmin>))
        .route(
            "/admin/mfa/enrol",
            web::get().to(mfa::show_enrol::<PendingAdmin>),
        )
        .route(
            "/admin/mfa/enrol",
            web::post().to(mfa::enrol::<PendingAdmin>),
        )
        // TOTP for every user (optional unless admin): the code step after the password, and
        // enrolment and removal from the account page. Same handlers as the console's.
        .route("/login/mfa", web::get().to(mfa::show_verify::<PendingUser>))
        .route("/login/mfa", web::post().to(mfa::verify::<PendingUser>))
        .route(
            "/account/mfa",
            web::get().to(mfa::show_enrol::<PendingUser>),
        )
        .route("/account/mfa", web::post().to(mfa::enrol::<PendingUser>))
        .route("/account/mfa/disable", web::post().to(mfa::account_disable))
        .route("/admin/reauth", web::get().to(mfa::show_reauth))
        .route("/admin/reauth", web::post().to(mfa::reauth))
        .route("/admin/users", web::get().to(users::list))
        .route("/admin/users", web::post().to(users::create))
        .route("/admin/users/new", web::get().to(users::new_form))
        .route("/admin/users/{id}", web::get().to(users::show))
        .route("/admin/users/{id}/disable", web::post().to(users::disable))
        .route("/admin/users/{id}/enable", web::post().to(users::enable))
        .route(
            "/admin/users/{id}/password",
            web::post().to(users::reset_password),
        )
        .route(
            "/admin/users/{id}/admin",
            web::get().to(users::confirm_admin),
        )
        .route("/admin/users/{id}/admin", web::post().to(users::set_admin))
        .route(
            "/admin/users/{id}/sign-out",
            web::post().to(users::sign_out),
        )
        .route("/admin/clients", web::get().to(clients::list))
        .route("/admin/clients", web::post().to(clients::create))
        .route("/admin/clients/new", web::get().to(clients::new_form))
        .route("/admin/clients/{id}", web::get().to(clients::show))
        .route(
            "/admin/clients/{id}/edit",
            web::get().to(clients::edit_form),
        )
        .route("/admin/clients/{id}/edit", web::post().to(clients::edit))
        .route(
            "/admin/clients/{id}/rotate",
            web::get().to(clients::confirm_rotate),
        )
        .route(
            "/admin/clients/{id}/rotate",
            web::post().to(clients::rotate),
        )
        .route(
            "/admin/clients/{id}/delete",
            web::get().to(clients::confirm_delete),
        )
        .route(
            "/admin/clients/{id}/delete",
            web::post().to(clients::delete),
        )
        .route(
            "/admin/clients/{id}/apis",
            web::get().to(apis::client_apis_form),
        )
        .route(
            "/admin/clients/{id}/apis",
            web::post().to(apis::client_apis_save),
        )
        .route("/admin/apis", web::get().to(apis::list))
        .route("/admin/apis", web::post().to(apis::create))
        .route("/admin/apis/new", web::get().to(apis::new_form))
        .route("/admin/apis/show", web::get().to(apis::show))
        .route("/admin/apis/remove", web::get().to(apis::confirm_remove))
        .route("/admin/apis/remove", web::post().to(apis::remove))
        .route("/admin/sessions", web::get().to(sessions::list))
        .route("/admin/sessions/{sid}", web::get().to(sessions::show))
        .route("/admin/sessions/{sid}/end", web::post().to(sessions::end))
        .route("/admin/revocations", web::get().to(revocations::list))
        .route("/admin/revocations", web::post().to(revocations::revoke))
        .route("/admin/keys", web::get().to(keys::list))
        .route("/admin/keys/rotate", web::post().to(keys::rotate))
        .route("/admin/keys/{kid}/promote", web::post().to(keys::promote))
        .route("/admin/keys/{kid}/revoke", web::post().to(keys::revoke))
        .route("/admin/audit", web::get().to(audit::list));
    api::routes(cfg);
}

/// Why a console request does not get its page: a redirect (sign in, second factor, re-auth)
/// or an error page. Mapped to HTTP in `error.rs`.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("redirect to {0}")]
    Redirect(String),
    #[error(transparent)]
    Page(#[from] PageError),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        ConsoleError::Page(e.into())
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::Page(e.into())
    }
}

/// Admin operations fail the same way wherever the console calls them; an action that needs
/// a recent sign-in maps with `console::back_to` instead, to come back after re-auth.
impl From<AdminError> for ConsoleError {
    fn from(e: AdminError) -> Self {
        console::error(e, "/admin")
    }
}

pub type ConsoleResult = Result<actix_web::HttpResponse, ConsoleError>;

/// A signed-in admin who passed the second factor (when required).
pub struct AdminSession {
    pub secret: String,
    pub session: Session,
    pub mfa_at: Option<i64>,
    /// The user as the admin service's actor: named, from this request's address, signed in
    /// (password or second factor) at the later of the two.
    pub actor: Actor,
}

/// A signed-in admin, second factor not yet checked: the enrolment and TOTP pages.
pub struct PendingAdmin(pub AdminSession);

/// Any signed-in user, second factor due or not: the account's TOTP pages (the session type is
/// the console's, since the pages are shared).
pub struct PendingUser(pub AdminSession);

impl AdminSession {
    pub fn user(&self) -> &User {
        &self.session.user
    }

    pub fn csrf(&self) -> String {
        csrf::token_for(&self.secret)
    }

    /// Refuses a POST without this session's CSRF token (or from another site).
    pub fn verify_csrf(
        &self,
        req: &HttpRequest,
        state: &AppState,
        token: &str,
    ) -> Result<(), PageError> {
        csrf::verify(req, &state.issuer_origin, Some(&self.secret), token)
    }

    /// Sensitive actions need a sign-in (password or second factor) within
    /// `admin_reauth_window`; otherwise the admin signs in again and comes back to `back`.
    pub fn require_recent(&self, state: &AppState, back: &str) -> Result<(), ConsoleError> {
        service(state)
            .require_recent(&self.actor)
            .map_err(console::back_to(back))
    }
}

/// Where to come back to after signing in: the page asked for (GET) or the dashboard.
fn requested_page(req: &HttpRequest) -> String {
    if req.method() == actix_web::http::Method::GET {
        match req.query_string() {
            "" => req.path().to_string(),
            q => format!("{}?{q}", req.path()),
        }
    } else {
        "/admin".to_string()
    }
}

/// The browser's session, second factor due or not; a visitor without one signs in first.
async fn signed_in(req: &HttpRequest, state: &AppState) -> Result<AdminSession, ConsoleError> {
    let Some((secret, session)) = any_session(req, state).await? else {
        return Err(ConsoleError::Redirect(format!(
            "/login?return_to={}",
            urlencoding::encode(&requested_page(req))
        )));
    };
    let mfa_at = session.row.mfa_at;
    let signed_in_at = session.row.auth_time.max(mfa_at.unwrap_or_default());
    let actor =
        Actor::user(&session.user, Some(signed_in_at)).from(Some(client_ip(req)), user_agent(req));
    Ok(AdminSession {
        secret,
        session,
        mfa_at,
        actor,
    })
}

async fn signed_in_admin(
    req: &HttpRequest,
    state: &AppState,
) -> Result<AdminSession, ConsoleError> {
    let admin = signed_in(req, state).await?;
    if !admin.user().has_role(Role::Admin) {
        return Err(PageError::Forbidden("This page is for administrators.".into()).into());
    }
    Ok(admin)
}

/// The gate of every console page: signed in, admin, second factor passed.
async fn admin_gate(req: &HttpRequest, state: &AppState) -> Result<AdminSession, ConsoleError> {
    let admin = signed_in_admin(req, state).await?;
    let required = state.settings.admin_require_totp || admin.session.row.mfa_required;
    if required && admin.mfa_at.is_none() {
        let step = if service(state).totp_enrolled(admin.user()).await? {
            "/admin/mfa"
        } else {
            "/admin/mfa/enrol"
        };
        return Err(ConsoleError::Redirect(format!(
            "{step}?return_to={}",
            urlencoding::encode(&requested_page(req))
        )));
    }
    Ok(admin)
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ConsoleError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| PageError::Internal(anyhow::anyhow!("no application state")).into())
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ConsoleError>>>>;

impl FromRequest for AdminSession {
    type Error = ConsoleError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            admin_gate(&req, &state).await
        })
    }
}

impl FromRequest for PendingAdmin {
    type Error = ConsoleError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            signed_in_admin(&req, &state).await.map(PendingAdmin)
        })
    }
}

impl FromRequest for PendingUser {
    type Error = ConsoleError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            signed_in(&req, &state).await.map(PendingUser)
        })
    }
}

/// The admin service over this node's state.
pub fn service(state: &AppState) -> Admin<'_> {
    Admin {
        store: &state.store,
        revocations: &state.revocations,
        backchannel: &state.backchannel,
        hasher: &state.hasher,
        limits: &state.login_limits,
        clock: &state.clock,
        policy: Policy::from_settings(&state.settings),
        issuer: state.settings.issuer(),
    }
}

/// Audits the outcome of a password sign-in (`http/login.rs`), from this request's address.
pub async fn audit_login(
    req: &HttpRequest,
    state: &AppState,
    username: &str,
    outcome: &crate::accounts::login::Outcome,
) -> Result<(), StoreError> {
    let ip = client_ip(req);
    service(state)
        .record_login(&ip, user_agent(req), username, outcome)
        .await
}

/// The request's user agent, for the audit log.
pub fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// Where a successful password sign-in goes: an admin first passes the TOTP step (or enrols,
/// when TOTP is required), anyone else who enrolled passes the code step; then `return_to`.
pub fn after_sign_in(state: &AppState, user: &User, enrolled: bool, return_to: &str) -> String {
    let step = if user.has_role(Role::Admin) && (enrolled || state.settings.admin_require_totp) {
        "/admin/mfa"
    } else if enrolled {
        "/login/mfa"
    } else {
        return return_to.to_string();
    };
    format!("{step}?return_to={}", urlencoding::encode(return_to))
}
