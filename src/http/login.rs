//! `GET/POST /login`, `POST /logout`: the session-backed login page (DESIGN §5).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Deserialize;

use crate::accounts::login::{self, Attempt, Outcome};
use crate::accounts::totp;
use crate::admin::activity::LoginOutcome;
use crate::error::PageError;
use crate::http::current_session::{any_session, client_ip};
use crate::http::return_to::ReturnTo;
use crate::http::{admin, cookies, csrf, pages};
use crate::sessions;
use crate::startup::AppState;
use crate::tokens::opaque::{self, Kind};

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    return_to: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(askama::Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage;

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    /// OIDC `login_hint`, passed on by /authorize: pre-fills the username.
    login_hint: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

const DEFAULT_DESTINATION: &str = "/account";
const FAILED: &str = "Incorrect username or password.";

fn return_to_or_default(raw: Option<&str>) -> String {
    raw.and_then(ReturnTo::parse).map_or_else(
        || DEFAULT_DESTINATION.to_string(),
        |r| r.as_str().to_string(),
    )
}

/// The login form. The CSRF token is bound to a pre-login cookie, set here if missing.
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let existing = cookies::read(&req, cookies::LOGIN, state.https)
        .filter(|s| opaque::has_kind(s, Kind::Csrf) || s.len() == 43);
    let (secret, is_new) = match existing {
        Some(s) => (s, false),
        None => (opaque::generate(Kind::Csrf), true),
    };
    let return_to = return_to_or_default(query.return_to.as_deref());
    let mut res = pages::render(
        StatusCode::OK,
        &LoginPage {
            csrf: &csrf::token_for(&secret),
            return_to: &return_to,
            username: &query
                .login_hint
                .as_deref()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>(),
            error: None,
        },
    )?;
    if is_new {
        res.add_cookie(&cookies::build(cookies::LOGIN, secret, state.https))
            .map_err(|e| PageError::Internal(e.into()))?;
    }
    Ok(res)
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let pre = cookies::read(&req, cookies::LOGIN, state.https);
    csrf::verify(&req, &state.issuer_origin, pre.as_deref(), &form.csrf)?;
    let pre = pre.unwrap_or_default();
    let return_to = return_to_or_default(Some(&form.return_to));
    let now = state.clock.now();
    let ip = client_ip(&req);

    let outcome = login::login(
        &state.store,
        &state.hasher,
        &state.login_limits,
        Attempt {
            username: &form.username,
            password: SecretString::from(form.password),
            client_ip: &ip,
            now,
        },
    )
    .await
    .map_err(|e| match e {
        login::LoginError::Store(s) => PageError::from(s),
        login::LoginError::Hash(h) => PageError::Internal(h.into()),
    })?;

    admin::audit_login(&req, &state, &form.username, &outcome).await?;

    let again = |status: StatusCode, message: &str| {
        pages::render(
            status,
            &LoginPage {
                csrf: &csrf::token_for(&pre),
                return_to: &return_to,
                username: &form.username.chars().take(64).collect::<String>(),
                error: Some(message),
            },
        )
    };
    state.metrics.login(match &outcome {
        Outcome::Failed => "failure",
        Outcome::Throttled { .. } => "throttled",
        Outcome::Success(_) => "success",
    });
    state.activity.login(
        now,
        match &outcome {
            Outcome::Failed => LoginOutcome::Failed,
            Outcome::Throttled { .. } => LoginOutcome::Throttled,
            Outcome::Success(_) => LoginOutcome::Succeeded,
        },
    );
    match outcome {
        Outcome::Failed => again(StatusCode::UNAUTHORIZED, FAILED),
        Outcome::Throttled { retry_after } => {
            let mut res = again(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many failed sign-in attempts. Try again in {retry_after} seconds."),
            )?;
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after.max(1)),
            );
            Ok(res)
        }
        Outcome::Success(user) => {
            // A new session id at every login: a planted cookie never becomes a session.
            if let Some((old, _)) = any_session(&req, &state).await? {
                sessions::end(
                    &state.store,
                    &state.revocations,
                    &state.backchannel,
                    &old,
                    now,
                )
                .await?;
            }
            let user_agent = req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok());
            let second_factor = totp::is_enrolled(&state.store, &user).await?;
            let created = sessions::create(
                &state.store,
                &user,
                "pwd",
                second_factor,
                state.session_lifetimes,
                sessions::Origin {
                    ip: Some(&ip),
                    user_agent,
                },
                now,
            )
            .await?;
            // The password changed (or the user was disabled) while it was being checked.
            let Some(created) = created else {
                return again(StatusCode::UNAUTHORIZED, FAILED);
            };
            tracing::info!(user_id = %user.id, sid = %created.sid, "signed in");
            let mut res = pages::redirect(&admin::after_sign_in(
                &state,
                &user,
                second_factor,
                &return_to,
            ));
            res.add_cookie(&cookies::build(
                cookies::SESSION,
                created.secret,
                state.https,
            ))
            .and_then(|()| res.add_cookie(&cookies::removal(cookies::LOGIN, state.https)))
            .map_err(|e| PageError::Internal(e.into()))?;
            Ok(res)
        }
    }
}

/// Ends the session server-side and clears the cookie.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    if let Some((secret, session)) = any_session(&req, &state).await? {
        csrf::verify(&req, &state.issuer_origin, Some(&secret), &form.csrf)?;
        sessions::end(
            &state.store,
            &state.revocations,
            &state.backchannel,
            &secret,
            state.clock.now(),
        )
        .await?;
        tracing::info!(sid = %session.row.sid, "signed out");
    }
    let mut res = pages::render(StatusCode::OK, &LoggedOutPage)?;
    res.add_cookie(&cookies::removal(cookies::SESSION, state.https))
        .map_err(|e| PageError::Internal(e.into()))?;
    Ok(res)
}
