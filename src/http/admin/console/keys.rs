//! `/admin/keys`: the signing keys and their recorded life (state, created, published since,
//! active since, planned retirement), and the key actions: stage a successor for an algorithm,
//! promote a next key now, revoke a key. Each action shows a confirmation page that says what
//! happens, needs a recent sign-in (the service sends a stale one to re-authenticate) and is
//! audited. Public facts only; key material never reaches a page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::{ConfirmForm, ConfirmPage, back_to, confirm};
use crate::http::admin::{AdminSession, ConsoleResult, service};
use crate::http::pages::{self, LocalTime};
use crate::keys::manage::Listed;
use crate::keys::{KeyState, SigningAlg};
use crate::startup::AppState;

const BACK: &str = "/admin/keys";

/// A key as the page lists it.
pub struct Row {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub file_present: bool,
    pub created: LocalTime,
    pub published: LocalTime,
    pub active: LocalTime,
    /// When it leaves JWKS: its planned retirement, or its revocation. (When it stops signing
    /// is its successor's activation, on the successor's row.)
    pub leaves: LocalTime,
    pub promotable: bool,
    pub revocable: bool,
}

impl From<Listed> for Row {
    fn from(k: Listed) -> Self {
        Self {
            promotable: k.state == KeyState::Next,
            // Revoking twice changes nothing: not offered.
            revocable: k.state != KeyState::Revoked,
            created: LocalTime::at(k.created_at),
            published: LocalTime::at(k.published_at),
            active: LocalTime(k.active_at),
            leaves: LocalTime(k.revoked_at.or(k.retire_after)),
            kid: k.kid,
            alg: k.alg.to_string(),
            state: k.state,
            file_present: k.file_present,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/keys.html")]
struct KeysPage<'a> {
    csrf: &'a str,
    keys: &'a [Row],
    algs: &'a [SigningAlg],
    publish_ahead: String,
    jwks_max_age: String,
}

pub async fn list(state: web::Data<AppState>, admin: AdminSession) -> ConsoleResult {
    let keys: Vec<Row> = service(&state)
        .key_lives(&state.settings)
        .await?
        .into_iter()
        .map(Row::from)
        .collect();
    let page = KeysPage {
        csrf: &admin.csrf(),
        keys: &keys,
        algs: &SigningAlg::ALL,
        publish_ahead: humantime::format_duration(state.settings.publish_ahead()).to_string(),
        jwks_max_age: humantime::format_duration(state.settings.jwks_max_age).to_string(),
    };
    Ok(pages::render(StatusCode::OK, &page)?)
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(flatten)]
    confirm: ConfirmForm,
    #[serde(default)]
    alg: String,
}

/// `POST /admin/keys/rotate`: stages a successor for an algorithm.
pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    form: web::Form<RotateForm>,
) -> ConsoleResult {
    let form = form.into_inner();
    admin.verify_csrf(&req, &state, &form.confirm.csrf)?;
    let alg = SigningAlg::parse(&form.alg)
        .map_err(|e| crate::error::PageError::BadRequest(e.to_string()))?;
    if !form.confirm.confirmed() {
        let ahead = humantime::format_duration(state.settings.publish_ahead());
        let message = format!(
            "Stage a new {alg} key? It is published in /jwks on every node now and signs for \
             {alg} clients in {ahead} (key_publish_ahead), when the current {alg} key stops \
             signing and starts retiring. Until then tokens keep the current key."
        );
        return confirm(&ConfirmPage {
            csrf: &admin.csrf(),
            title: "Stage a new key",
            message: &message,
            action: "/admin/keys/rotate",
            button: "Stage the key",
            cancel: BACK,
            fields: &[("alg", alg.as_str())],
        });
    }
    service(&state)
        .rotate_key(&admin.actor, &state.settings, alg)
        .await
        .map_err(back_to(BACK))?;
    Ok(pages::redirect(BACK))
}

/// What the confirmation of a key action says, and what it does.
#[derive(Clone, Copy)]
enum KeyAction {
    Promote,
    Revoke,
}

impl KeyAction {
    fn message(self, kid: &str, state: &AppState) -> String {
        match self {
            Self::Promote => format!(
                "Promote key {kid} now? It signs from now on instead of at its planned time, and \
                 the key it replaces stops signing and starts retiring. This is allowed once the \
                 key has been published for {} (jwks_max_age), so relying parties that honour \
                 the JWKS cache time already have it; caches that keep the JWKS longer may reject \
                 its tokens until they fetch it again.",
                humantime::format_duration(state.settings.jwks_max_age)
            ),
            Self::Revoke => format!(
                "Revoke key {kid}? It leaves /jwks on every node within seconds and every token \
                 it signed becomes inactive at once (introspection, userinfo, and /revocations \
                 for resource servers). If it signs now, its successor signs at once, without \
                 pre-publication: relying parties fetch the JWKS again when they meet its kid. \
                 Do this when the key may have leaked; it cannot be undone."
            ),
        }
    }
}

/// `POST /admin/keys/{kid}/promote`: a next key signs now.
pub async fn promote(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    kid: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    act(KeyAction::Promote, &req, &state, &admin, &kid, &form).await
}

/// `POST /admin/keys/{kid}/revoke`: withdraws a key and its tokens at once.
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    kid: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> ConsoleResult {
    act(KeyAction::Revoke, &req, &state, &admin, &kid, &form).await
}

async fn act(
    action: KeyAction,
    req: &HttpRequest,
    state: &AppState,
    admin: &AdminSession,
    kid: &str,
    form: &ConfirmForm,
) -> ConsoleResult {
    admin.verify_csrf(req, state, &form.csrf)?;
    let (verb, title, button) = match action {
        KeyAction::Promote => ("promote", "Promote a key", "Promote now"),
        KeyAction::Revoke => ("revoke", "Revoke a key", "Revoke the key"),
    };
    if !form.confirmed() {
        return confirm(&ConfirmPage {
            csrf: &admin.csrf(),
            title,
            message: &action.message(kid, state),
            action: &format!("/admin/keys/{}/{verb}", urlencoding::encode(kid)),
            button,
            cancel: BACK,
            fields: &[],
        });
    }
    let svc = service(state);
    match action {
        KeyAction::Promote => svc
            .promote_key(&admin.actor, &state.settings, kid)
            .await
            .map(drop),
        KeyAction::Revoke => svc
            .revoke_key(&admin.actor, &state.settings, kid)
            .await
            .map(drop),
    }
    .map_err(back_to(BACK))?;
    Ok(pages::redirect(BACK))
}
