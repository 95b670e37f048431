//! `/admin/clients…`: list, register (the CLI's options; the secret shown once), rotate the
//! secret and delete (both sensitive: a recent sign-in and a confirmation).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::users::{ConfirmForm, ConfirmPage};
use super::{AdminSession, ConsoleError, ConsoleResult, PageQuery, split_page};
use crate::admin::clients::{self as client_admin, AdminError, ClientView};
use crate::error::PageError;
use crate::http::pages;
use crate::oauth::client::RegistrationInput;
use crate::startup::AppState;

#[derive(askama::Template)]
#[template(path = "admin/clients.html")]
struct ListPage<'a> {
    clients: &'a [ClientView],
    page: i64,
    more: bool,
}

#[derive(askama::Template)]
#[template(path = "admin/client.html")]
struct ClientPage<'a> {
    c: &'a ClientView,
    secret: Option<&'a str>,
    /// Tokens issued to the client per hour (its own page only).
    activity: Option<crate::admin::charts::Chart>,
}

#[derive(askama::Template)]
#[template(path = "admin/client_new.html")]
struct NewClientPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct NewClientForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    client_type: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    grant_types: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    first_party: String,
    #[serde(default)]
    resource_server: String,
    #[serde(default)]
    access_token_ttl: String,
    #[serde(default)]
    backchannel_logout_uri: String,
}

impl NewClientForm {
    fn input(&self) -> RegistrationInput {
        let list = |s: &str| s.split_whitespace().map(str::to_string).collect();
        let optional = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        RegistrationInput {
            name: self.name.trim().to_string(),
            client_type: self.client_type.trim().to_string(),
            redirect_uris: list(&self.redirect_uris),
            post_logout_redirect_uris: list(&self.post_logout_redirect_uris),
            grant_types: list(&self.grant_types),
            scope: optional(&self.scope),
            first_party: self.first_party == "yes",
            resource_server: self.resource_server == "yes",
            access_token_ttl: optional(&self.access_token_ttl),
            backchannel_logout_uri: optional(&self.backchannel_logout_uri),
            // RS256, the default; the CLI's --signing-alg chooses another.
            signing_alg: None,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/client_edit.html")]
struct EditPage<'a> {
    csrf: &'a str,
    c: &'a ClientView,
    /// The lifetime as the form shows it (`300s`, or empty for the default).
    ttl: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    access_token_ttl: String,
    #[serde(default)]
    backchannel_logout_uri: String,
    #[serde(default)]
    resource_server: String,
}

impl EditForm {
    fn edit(&self) -> client_admin::ClientEdit {
        let list = |s: &str| s.split_whitespace().map(str::to_string).collect();
        let optional = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        client_admin::ClientEdit {
            name: self.name.trim().to_string(),
            redirect_uris: list(&self.redirect_uris),
            post_logout_redirect_uris: list(&self.post_logout_redirect_uris),
            access_token_ttl: optional(&self.access_token_ttl),
            backchannel_logout_uri: optional(&self.backchannel_logout_uri),
            resource_server: self.resource_server == "yes",
        }
    }
}

fn edit_page(
    admin: &AdminSession,
    view: &ClientView,
    status: StatusCode,
    error: Option<&str>,
) -> ConsoleResult {
    let ttl = view
        .access_token_ttl
        .map(|s| format!("{s}s"))
        .unwrap_or_default();
    Ok(pages::render(
        status,
        &EditPage {
            csrf: &admin.csrf(),
            c: view,
            ttl: &ttl,
            error,
        },
    )?)
}

pub async fn edit_form(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    let view = client_view(&state, &id).await?;
    edit_page(&admin, &view, StatusCode::OK, None)
}

/// Name, redirect URIs, lifetimes: checked as at registration, audited with before/after.
pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<EditForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let edit = form.edit();
    if client_admin::edit_needs_recent_sign_in(&client_view(&state, &id).await?, &edit) {
        admin.require_recent(
            &state,
            &format!("/admin/clients/{}/edit", urlencoding::encode(&id)),
        )?;
    }
    let (before, after) =
        match client_admin::update(&state.store, &id, edit, state.clock.now()).await {
            Ok(changed) => changed,
            Err(AdminError::Invalid(e)) => {
                let view = client_view(&state, &id).await?;
                return edit_page(&admin, &view, StatusCode::BAD_REQUEST, Some(&e.to_string()));
            }
            Err(e) => return Err(admin_error(e)),
        };
    let detail = serde_json::json!({ "before": before, "after": after });
    admin
        .record(
            &req,
            &state,
            "client.updated",
            Some(&after.client_id),
            Some(detail),
        )
        .await?;
    Ok(pages::redirect(&format!(
        "/admin/clients/{}",
        after.client_id
    )))
}

pub fn admin_error(e: AdminError) -> ConsoleError {
    match e {
        AdminError::Invalid(e) => PageError::BadRequest(e.to_string()).into(),
        AdminError::NotFound(_) => PageError::NotFound.into(),
        AdminError::NoSecret(id) => {
            PageError::BadRequest(format!("client '{id}' is public: it has no secret")).into()
        }
        AdminError::Store(s) => s.into(),
        AdminError::Start(s) => PageError::Internal(s.into()).into(),
    }
}

async fn client_view(state: &AppState, id: &str) -> Result<ClientView, ConsoleError> {
    let client = client_admin::show(&state.store, id)
        .await
        .map_err(admin_error)?;
    Ok(ClientView::from(&client))
}

pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let clients = state
        .store
        .list_clients_page(super::PAGE_SIZE + 1, query.offset())
        .await?;
    let (clients, more) = split_page(clients);
    let views: Vec<ClientView> = clients.iter().map(ClientView::from).collect();
    Ok(pages::render(
        StatusCode::OK,
        &ListPage {
            clients: &views,
            page: query.page(),
            more,
        },
    )?)
}

pub async fn new_form(admin: AdminSession) -> ConsoleResult {
    Ok(pages::render(
        StatusCode::OK,
        &NewClientPage {
            csrf: &admin.csrf(),
            error: None,
        },
    )?)
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    form: web::Form<NewClientForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let input = form.input();
    if client_admin::registration_needs_recent_sign_in(&input) {
        admin.require_recent(&state, "/admin/clients/new")?;
    }
    let registered = match client_admin::add(&state.store, input, state.clock.now()).await {
        Ok(r) => r,
        Err(AdminError::Invalid(e)) => {
            return Ok(pages::render(
                StatusCode::BAD_REQUEST,
                &NewClientPage {
                    csrf: &admin.csrf(),
                    error: Some(&e.to_string()),
                },
            )?);
        }
        Err(e) => return Err(admin_error(e)),
    };
    let view = ClientView::from(&registered.client);
    admin
        .record(
            &req,
            &state,
            "client.created",
            Some(&view.client_id),
            serde_json::to_value(&view)
                .ok()
                .map(|v| serde_json::json!({ "after": v })),
        )
        .await?;
    Ok(pages::render(
        StatusCode::CREATED,
        &ClientPage {
            c: &view,
            secret: registered.secret.as_deref(),
            activity: None,
        },
    )?)
}

pub async fn show(
    state: web::Data<AppState>,
    _admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    let view = client_view(&state, &id).await?;
    let activity =
        crate::admin::stats::client(&state.store, &view.client_id, state.clock.now()).await?;
    Ok(pages::render(
        StatusCode::OK,
        &ClientPage {
            c: &view,
            secret: None,
            activity: Some(activity),
        },
    )?)
}

/// The two sensitive client actions: both need a recent sign-in and a confirmation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sensitive {
    Delete,
    Rotate,
}

impl Sensitive {
    /// The confirmation page (GET) and the action (POST).
    fn path(self, client_id: &str) -> String {
        match self {
            Sensitive::Delete => format!("/admin/clients/{client_id}/delete"),
            Sensitive::Rotate => format!("/admin/clients/{client_id}/rotate"),
        }
    }
}

fn confirm_page(admin: &AdminSession, view: &ClientView, action: Sensitive) -> ConsoleResult {
    let (title, message, button) = match action {
        Sensitive::Delete => (
            "Delete client",
            format!(
                "Delete {} ({})? Apps using it can no longer sign users in or get tokens.",
                view.name, view.client_id
            ),
            "Delete",
        ),
        Sensitive::Rotate => (
            "Rotate client secret",
            format!(
                "Give {} ({}) a new secret? The current one stops working at once.",
                view.name, view.client_id
            ),
            "Rotate",
        ),
    };
    Ok(pages::render(
        StatusCode::OK,
        &ConfirmPage {
            csrf: &admin.csrf(),
            title,
            message: &message,
            action: &action.path(&view.client_id),
            button,
            cancel: &format!("/admin/clients/{}", view.client_id),
            fields: &[],
        },
    )?)
}

/// The client, once the admin signed in recently enough (else: re-auth, then back to the
/// confirmation page).
async fn recent_client(
    state: &AppState,
    admin: &AdminSession,
    id: &str,
    action: Sensitive,
) -> Result<ClientView, ConsoleError> {
    let view = client_view(state, id).await?;
    admin.require_recent(state, &action.path(&view.client_id))?;
    Ok(view)
}

async fn confirm(
    state: &AppState,
    admin: &AdminSession,
    id: &str,
    action: Sensitive,
) -> ConsoleResult {
    let view = recent_client(state, admin, id, action).await?;
    confirm_page(admin, &view, action)
}

pub async fn confirm_delete(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    confirm(&state, &admin, &id, Sensitive::Delete).await
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    if !form.confirmed() {
        return confirm(&state, &admin, &id, Sensitive::Delete).await;
    }
    let view = recent_client(&state, &admin, &id, Sensitive::Delete).await?;
    client_admin::remove(
        &state.store,
        &state.revocations,
        &view.client_id,
        state.clock.now(),
    )
    .await
    .map_err(admin_error)?;
    admin
        .record(
            &req,
            &state,
            "client.deleted",
            Some(&view.client_id),
            serde_json::to_value(&view)
                .ok()
                .map(|v| serde_json::json!({ "before": v })),
        )
        .await?;
    Ok(pages::redirect("/admin/clients"))
}

pub async fn confirm_rotate(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    confirm(&state, &admin, &id, Sensitive::Rotate).await
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    if !form.confirmed() {
        return confirm(&state, &admin, &id, Sensitive::Rotate).await;
    }
    let view = recent_client(&state, &admin, &id, Sensitive::Rotate).await?;
    let secret = client_admin::rotate_secret(&state.store, &view.client_id, state.clock.now())
        .await
        .map_err(admin_error)?;
    admin
        .record(
            &req,
            &state,
            "client.secret_rotated",
            Some(&view.client_id),
            None,
        )
        .await?;
    Ok(pages::render(
        StatusCode::OK,
        &ClientPage {
            c: &view,
            secret: Some(&secret),
            activity: None,
        },
    )?)
}
