//! `GET /account`: who is signed in and their sessions; signing out of the others.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::PageError;
use crate::http::current_session::current_session;
use crate::http::login::CsrfForm;
use crate::http::{csrf, pages};
use crate::sessions;
use crate::startup::AppState;

struct SessionView {
    created: String,
    last_seen: String,
    origin: String,
    current: bool,
}

#[derive(askama::Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    username: &'a str,
    display_name: Option<&'a str>,
    email: Option<&'a str>,
    sessions: Vec<SessionView>,
    csrf: &'a str,
    /// Whether two-factor sign-in (TOTP) is on.
    totp: bool,
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let Some((secret, session)) = current_session(&req, &state).await? else {
        return Ok(pages::redirect("/login?return_to=/account"));
    };
    let rows = state
        .store
        .user_sessions(&session.user.id, state.clock.now())
        .await?;
    let sessions = rows
        .into_iter()
        .map(|s| SessionView {
            created: crate::clock::display(s.created_at),
            last_seen: crate::clock::display(s.last_seen_at),
            origin: format!(
                "{} {}",
                s.ip.unwrap_or_default(),
                s.user_agent
                    .unwrap_or_default()
                    .chars()
                    .take(60)
                    .collect::<String>()
            ),
            current: s.id_hash == session.row.id_hash,
        })
        .collect();
    let user = &session.user;
    pages::render(
        StatusCode::OK,
        &AccountPage {
            username: &user.username,
            display_name: user.display_name.as_deref(),
            email: user.email.as_deref(),
            sessions,
            csrf: &csrf::token_for(&secret),
            totp: crate::accounts::totp::is_enrolled(&state.store, user).await?,
        },
    )
}

pub async fn end_other_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    let Some((secret, session)) = current_session(&req, &state).await? else {
        return Ok(pages::redirect("/login?return_to=/account"));
    };
    csrf::verify(&req, &state.issuer_origin, Some(&secret), &form.csrf)?;
    let ended = sessions::end_others(
        &state.store,
        &state.revocations,
        &state.backchannel,
        &session,
        state.clock.now(),
    )
    .await?;
    tracing::info!(user_id = %session.user.id, ended, "signed out of other sessions");
    Ok(pages::redirect("/account"))
}
