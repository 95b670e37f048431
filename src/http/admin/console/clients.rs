//! `/admin/clients…`: list, register (the CLI's options; the secret shown once), a client's
//! page (its recent audit entries and the live sessions that used it), edit, rotate the
//! secret and delete (both sensitive: a recent sign-in and a confirmation).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::audit::Row as AuditRow;
use super::sessions::Row as SessionRow;
use super::{ConfirmForm, ConfirmPage, PageQuery, back_to, confirm, form_error};
use crate::admin::clients::{ClientPatch, ClientView};
use crate::http::admin::{AdminSession, ConsoleResult, service};
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
    /// The newest audit entries about the client.
    audit: &'a [AuditRow],
    /// The live sessions in which it got a code or tokens.
    sessions: &'a [SessionRow],
    /// Tokens issued to it per hour.
    activity: &'a crate::admin::charts::Chart,
    /// The APIs it uses and serves.
    apis: &'a crate::admin::apis::ClientApis,
}

#[derive(askama::Template)]
#[template(path = "admin/client_new.html")]
struct NewClientPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
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

/// A form's list field: URIs or grants separated by white space.
fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// A form's optional field: empty is absent.
fn optional(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
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
    #[serde(default)]
    native_sso_group: String,
    #[serde(default)]
    require_dpop: String,
}

impl NewClientForm {
    fn input(&self) -> RegistrationInput {
        RegistrationInput {
            name: self.name.trim().to_string(),
            client_type: self.client_type.trim().to_string(),
            redirect_uris: words(&self.redirect_uris),
            post_logout_redirect_uris: words(&self.post_logout_redirect_uris),
            grant_types: words(&self.grant_types),
            scope: optional(&self.scope),
            first_party: self.first_party == "yes",
            resource_server: self.resource_server == "yes",
            access_token_ttl: optional(&self.access_token_ttl),
            backchannel_logout_uri: optional(&self.backchannel_logout_uri),
            // RS256, the default; the CLI's --signing-alg chooses another.
            signing_alg: None,
            native_sso_group: optional(&self.native_sso_group),
            require_dpop: self.require_dpop == "yes",
        }
    }
}

/// The edit form sends every field: the patch sets them all.
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
    #[serde(default)]
    native_sso_group: String,
    #[serde(default)]
    require_dpop: String,
}

impl EditForm {
    fn patch(&self) -> ClientPatch {
        ClientPatch {
            name: Some(self.name.trim().to_string()),
            redirect_uris: Some(words(&self.redirect_uris)),
            post_logout_redirect_uris: Some(words(&self.post_logout_redirect_uris)),
            access_token_ttl: Some(optional(&self.access_token_ttl)),
            backchannel_logout_uri: Some(optional(&self.backchannel_logout_uri)),
            resource_server: Some(self.resource_server == "yes"),
            native_sso_group: Some(optional(&self.native_sso_group)),
            require_dpop: Some(self.require_dpop == "yes"),
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
    let client = service(&state).client(&id).await?;
    edit_page(&admin, &ClientView::from(&client), StatusCode::OK, None)
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
    let svc = service(&state);
    let back = format!("/admin/clients/{}/edit", urlencoding::encode(&id));
    match svc.update_client(&admin.actor, &id, form.patch()).await {
        Ok(after) => Ok(pages::redirect(&format!(
            "/admin/clients/{}",
            after.client_id
        ))),
        Err(e) => {
            let message = form_error(e, &back)?;
            let view = ClientView::from(&svc.client(&id).await?);
            edit_page(&admin, &view, StatusCode::BAD_REQUEST, Some(&message))
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let found = service(&state).clients(&query.paging()).await?;
    Ok(pages::render(
        StatusCode::OK,
        &ListPage {
            clients: &found.items,
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
        &NewClientPage {
            csrf: &admin.csrf(),
            error,
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
    match service(&state)
        .register_client(&admin.actor, form.input())
        .await
    {
        Ok(registered) => {
            let id = registered.client.id.to_string();
            client_page(
                &state,
                &id,
                StatusCode::CREATED,
                registered.secret.as_deref(),
            )
            .await
        }
        Err(e) => {
            let message = form_error(e, "/admin/clients/new")?;
            new_page(&admin, StatusCode::BAD_REQUEST, Some(&message))
        }
    }
}

/// The client's page; `secret` right after registering or rotating (shown this once).
async fn client_page(
    state: &AppState,
    id: &str,
    status: StatusCode,
    secret: Option<&str>,
) -> ConsoleResult {
    let detail = service(state).client_detail(id).await?;
    let apis = service(state).client_apis(id).await?;
    let audit: Vec<AuditRow> = detail.audit.iter().map(AuditRow::from).collect();
    let sessions: Vec<SessionRow> = detail.sessions.iter().map(SessionRow::from).collect();
    Ok(pages::render(
        status,
        &ClientPage {
            c: &detail.client,
            secret,
            audit: &audit,
            sessions: &sessions,
            activity: &detail.activity,
            apis: &apis,
        },
    )?)
}

pub async fn show(
    state: web::Data<AppState>,
    _admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    client_page(&state, &id, StatusCode::OK, None).await
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

/// The confirmation page, once the admin signed in recently enough (else: re-auth, then
/// back to it).
async fn confirm_page(
    state: &AppState,
    admin: &AdminSession,
    id: &str,
    action: Sensitive,
) -> ConsoleResult {
    let view = ClientView::from(&service(state).client(id).await?);
    admin.require_recent(state, &action.path(&view.client_id))?;
    let (title, message, button) = match action {
        Sensitive::Delete => (
            "Delete the client",
            format!(
                "Delete {} ({})? Apps using it can no longer sign users in or get tokens.",
                view.name, view.client_id
            ),
            "Delete the client",
        ),
        Sensitive::Rotate => (
            "Rotate the client secret",
            format!(
                "Give {} ({}) a new secret? The current one stops working at once.",
                view.name, view.client_id
            ),
            "Rotate the secret",
        ),
    };
    confirm(&ConfirmPage {
        csrf: &admin.csrf(),
        title,
        message: &message,
        action: &action.path(&view.client_id),
        button,
        cancel: &format!("/admin/clients/{}", view.client_id),
        fields: &[],
    })
}

pub async fn confirm_delete(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    confirm_page(&state, &admin, &id, Sensitive::Delete).await
}

/// The POST of a sensitive action: the confirmation page until it is confirmed, then the
/// action (a recent sign-in needed, else re-auth and back to the confirmation page).
async fn act(
    req: &HttpRequest,
    state: &AppState,
    admin: &AdminSession,
    id: &str,
    form: &ConfirmForm,
    action: Sensitive,
) -> ConsoleResult {
    admin.verify_csrf(req, state, &form.csrf)?;
    if !form.confirmed() {
        return confirm_page(state, admin, id, action).await;
    }
    let svc = service(state);
    let back = action.path(id);
    match action {
        Sensitive::Delete => {
            svc.delete_client(&admin.actor, id)
                .await
                .map_err(back_to(&back))?;
            Ok(pages::redirect("/admin/clients"))
        }
        Sensitive::Rotate => {
            let (client, secret) = svc
                .rotate_client_secret(&admin.actor, id, false)
                .await
                .map_err(back_to(&back))?;
            client_page(state, client.id.as_str(), StatusCode::OK, Some(&secret)).await
        }
    }
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    act(&req, &state, &admin, &id, &form, Sensitive::Delete).await
}

pub async fn confirm_rotate(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    confirm_page(&state, &admin, &id, Sensitive::Rotate).await
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    act(&req, &state, &admin, &id, &form, Sensitive::Rotate).await
}
