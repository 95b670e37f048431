//! `/admin/apis…`: list, register, an API's page, remove (a recent sign-in and a
//! confirmation); and `/admin/clients/{id}/apis`, the form that sets which APIs a client uses
//! and serves. An API's identifier is a URI, so pages name it in the query, not the path.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::{ConfirmForm, ConfirmPage, back_to, confirm, form_error};
use crate::admin::apis::{ApiInput, ApiView, ClientApis, ClientApisPatch};
use crate::admin::clients::ClientView;
use crate::http::admin::{AdminSession, ConsoleResult, service};
use crate::http::pages;
use crate::startup::AppState;

#[derive(askama::Template)]
#[template(path = "admin/apis.html")]
struct ListPage<'a> {
    apis: &'a [ApiView],
}

#[derive(askama::Template)]
#[template(path = "admin/api.html")]
struct ApiPage<'a> {
    a: &'a ApiView,
    /// `?identifier=…` for the page's links.
    query: &'a str,
}

#[derive(askama::Template)]
#[template(path = "admin/api_new.html")]
struct NewApiPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
}

#[derive(askama::Template)]
#[template(path = "admin/client_apis.html")]
struct ClientApisPage<'a> {
    csrf: &'a str,
    c: &'a ClientView,
    apis: &'a ClientApis,
    known: &'a [ApiView],
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct ApiQuery {
    #[serde(default)]
    identifier: String,
}

fn query_of(identifier: &str) -> String {
    format!("?identifier={}", urlencoding::encode(identifier))
}

pub async fn list(state: web::Data<AppState>, _admin: AdminSession) -> ConsoleResult {
    let apis = service(&state).apis().await?;
    Ok(pages::render(StatusCode::OK, &ListPage { apis: &apis })?)
}

pub async fn new_form(admin: AdminSession) -> ConsoleResult {
    new_page(&admin, StatusCode::OK, None)
}

fn new_page(admin: &AdminSession, status: StatusCode, error: Option<&str>) -> ConsoleResult {
    Ok(pages::render(
        status,
        &NewApiPage {
            csrf: &admin.csrf(),
            error,
        },
    )?)
}

#[derive(Deserialize)]
pub struct NewApiForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    access_token_ttl: String,
    #[serde(default)]
    signing_alg: String,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    form: web::Form<NewApiForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let form = form.into_inner();
    let input = ApiInput {
        identifier: form.identifier,
        name: Some(form.name),
        scope: form.scope,
        access_token_ttl: Some(form.access_token_ttl),
        signing_alg: Some(form.signing_alg),
    };
    match service(&state).add_api(&admin.actor, input).await {
        Ok(api) => Ok(pages::redirect(&format!(
            "/admin/apis/show{}",
            query_of(&api.identifier)
        ))),
        Err(e) => {
            let message = form_error(e, "/admin/apis/new")?;
            new_page(&admin, StatusCode::BAD_REQUEST, Some(&message))
        }
    }
}

pub async fn show(
    state: web::Data<AppState>,
    _admin: AdminSession,
    q: web::Query<ApiQuery>,
) -> ConsoleResult {
    let api = service(&state).api(&q.identifier).await?;
    Ok(pages::render(
        StatusCode::OK,
        &ApiPage {
            query: &query_of(&api.identifier),
            a: &api,
        },
    )?)
}

/// The confirmation page, once the admin signed in recently enough.
pub async fn confirm_remove(
    state: web::Data<AppState>,
    admin: AdminSession,
    q: web::Query<ApiQuery>,
) -> ConsoleResult {
    let api = service(&state).api(&q.identifier).await?;
    let action = format!("/admin/apis/remove{}", query_of(&api.identifier));
    admin.require_recent(&state, &action)?;
    let message = format!(
        "Remove the API {}? Refused while a client uses or serves it.",
        api.identifier
    );
    confirm(&ConfirmPage {
        csrf: &admin.csrf(),
        title: "Remove the API",
        message: &message,
        action: &action,
        button: "Remove the API",
        cancel: &format!("/admin/apis/show{}", query_of(&api.identifier)),
        fields: &[],
    })
}

pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    q: web::Query<ApiQuery>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    if !form.confirmed() {
        return confirm_remove(state, admin, q).await;
    }
    let back = format!("/admin/apis/remove{}", query_of(&q.identifier));
    service(&state)
        .remove_api(&admin.actor, &q.identifier)
        .await
        .map_err(back_to(&back))?;
    Ok(pages::redirect("/admin/apis"))
}

async fn client_apis_page(
    state: &AppState,
    admin: &AdminSession,
    id: &str,
    status: StatusCode,
    error: Option<&str>,
) -> ConsoleResult {
    let svc = service(state);
    let client = ClientView::from(&svc.client(id).await?);
    let apis = svc.client_apis(id).await?;
    let known = svc.apis().await?;
    Ok(pages::render(
        status,
        &ClientApisPage {
            csrf: &admin.csrf(),
            c: &client,
            apis: &apis,
            known: &known,
            error,
        },
    )?)
}

pub async fn client_apis_form(
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
) -> ConsoleResult {
    client_apis_page(&state, &admin, &id, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct ClientApisForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    apis: String,
    #[serde(default)]
    serves_apis: String,
    #[serde(default)]
    exchange_audiences: String,
    /// A checkbox: present ("yes") when ticked.
    #[serde(default)]
    exchange_refresh: Option<String>,
    #[serde(default)]
    exchange_impersonate: Option<String>,
}

/// Both lists replace the client's (one identifier per line); an unknown API is shown again
/// with its message.
pub async fn client_apis_save(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    id: web::Path<String>,
    form: web::Form<ClientApisForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
    let patch = ClientApisPatch {
        apis: Some(words(&form.apis)),
        serves_apis: Some(words(&form.serves_apis)),
        exchange_audiences: Some(words(&form.exchange_audiences)),
        exchange_refresh: Some(form.exchange_refresh.is_some()),
        exchange_impersonate: Some(form.exchange_impersonate.is_some()),
    };
    let back = format!("/admin/clients/{}/apis", urlencoding::encode(&id));
    match service(&state)
        .update_client_apis(&admin.actor, &id, patch)
        .await
    {
        Ok(_) => Ok(pages::redirect(&format!(
            "/admin/clients/{}",
            urlencoding::encode(&id)
        ))),
        Err(e) => {
            let message = form_error(e, &back)?;
            client_apis_page(&state, &admin, &id, StatusCode::BAD_REQUEST, Some(&message)).await
        }
    }
}
