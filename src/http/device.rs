//! `GET/POST /device` (RFC 8628 §3.3): the signed-in user types the code their device shows,
//! sees which client asks and for what (§5.4: a code read out by a phisher must not be
//! approved blindly, so even `verification_uri_complete` only pre-fills the form), and
//! approves or denies. Wrong codes are throttled (§5.1) by `oauth::device::lookup`.

use std::borrow::Cow;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::error::PageError;
use crate::http::current_session::{client_ip, current_session};
use crate::http::{authorize, csrf, pages};
use crate::oauth::device::{self, Limits, Lookup, Typist, UserCode};
use crate::sessions::Session;
use crate::startup::AppState;
use crate::store::DeviceDecision;

#[derive(askama::Template)]
#[template(path = "device.html")]
struct EnterCode<'a> {
    username: &'a str,
    csrf: &'a str,
    user_code: &'a str,
    error: Option<&'a str>,
}

#[derive(askama::Template)]
#[template(path = "device_confirm.html")]
struct Confirm<'a> {
    username: &'a str,
    csrf: &'a str,
    client_name: &'a str,
    user_code: &'a str,
    scopes: Vec<Cow<'static, str>>,
    apis: Vec<&'a str>,
    /// "just now", "1 minute ago", "7 minutes ago".
    requested_ago: String,
    /// The device's network (§5.4), empty when unknown.
    requested_from: &'a str,
    /// The device asked from another network than this browser's.
    elsewhere: bool,
}

#[derive(askama::Template)]
#[template(path = "device_done.html")]
struct Done {
    approved: bool,
}

#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

#[derive(Deserialize)]
pub struct DeviceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_code: String,
    /// Absent: look the code up and ask; `allow` or `deny`: decide.
    decision: Option<String>,
}

const WRONG: &str = "That code is not valid, or it has expired. Check the code on your device \
                     and type it again.";
const UNKNOWN_DECISION: &str = "That answer is not one this page gives. Type the code again.";
const GONE: &str = "This request was already answered, or it has expired. Start again on your \
                    device.";

/// Back to this page after signing in, with the code (only a well-formed one) kept.
fn login_redirect(code: Option<&UserCode>) -> HttpResponse {
    let back = match code {
        Some(code) => format!("/device?user_code={}", code.display()),
        None => "/device".to_string(),
    };
    let mut login = url::form_urlencoded::Serializer::for_suffix(String::from("/login?"), 7);
    login.append_pair("return_to", &back);
    pages::redirect(&login.finish())
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<DeviceQuery>,
) -> Result<HttpResponse, PageError> {
    let code = query.user_code.as_deref().and_then(UserCode::parse);
    let Some((secret, session)) = current_session(&req, &state).await? else {
        return Ok(login_redirect(code.as_ref()));
    };
    let shown = code.as_ref().map(UserCode::display).unwrap_or_default();
    pages::render(
        StatusCode::OK,
        &EnterCode {
            username: &session.user.username,
            csrf: &csrf::token_for(&secret),
            user_code: &shown,
            error: None,
        },
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<DeviceForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let Some((secret, session)) = current_session(&req, &state).await? else {
        return Ok(login_redirect(UserCode::parse(&form.user_code).as_ref()));
    };
    csrf::verify(&req, &state.issuer_origin, Some(&secret), &form.csrf)?;
    let csrf = csrf::token_for(&secret);
    let now = state.clock.now();
    let typed: String = form.user_code.chars().take(64).collect();
    let address = client_ip(&req);
    let again = |status: StatusCode, message: &str| {
        pages::render(
            status,
            &EnterCode {
                username: &session.user.username,
                csrf: &csrf,
                user_code: &typed,
                error: Some(message),
            },
        )
    };
    // Strictly `allow` or `deny`: anything else is no decision at all (and takes no guess).
    let decision = match form.decision.as_deref() {
        None => None,
        Some("allow") => Some(true),
        Some("deny") => Some(false),
        Some(_) => return again(StatusCode::BAD_REQUEST, UNKNOWN_DECISION),
    };
    let found = device::lookup(
        &state.store,
        &Limits::from_settings(&state.settings),
        &Typist {
            sid: &session.row.sid,
            user_id: &session.user.id,
            address: &address,
        },
        &typed,
        now,
    )
    .await?;
    let pending = match found {
        Lookup::Found(pending) => pending,
        // A decision comes from the confirm page, whose request was found a moment ago: if it
        // is gone now, it was decided (by a parallel submission) or expired in between. The
        // answer does not depend on what the store holds, so it tells a guesser nothing.
        Lookup::Wrong if decision.is_some() => return again(StatusCode::BAD_REQUEST, GONE),
        Lookup::Wrong => return again(StatusCode::BAD_REQUEST, WRONG),
        Lookup::Throttled { retry_after } => {
            let mut res = again(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many wrong codes. Try again in {retry_after} seconds."),
            )?;
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after.max(1)),
            );
            return Ok(res);
        }
    };
    match decision {
        None => confirm(&session, &csrf, &pending, &address, now),
        Some(approved) => {
            let choice = if approved {
                DeviceDecision::Approve {
                    user_id: &session.user.id,
                    sid: &session.row.sid,
                    auth_time: session.row.auth_time,
                    amr: &session.row.amr,
                }
            } else {
                DeviceDecision::Deny {
                    user_id: &session.user.id,
                }
            };
            if !device::decide(&state.store, &pending.code, choice, now).await? {
                return again(StatusCode::BAD_REQUEST, GONE);
            }
            tracing::info!(
                client_id = %pending.client.id,
                user_id = %session.user.id,
                approved,
                "device request decided"
            );
            pages::render(StatusCode::OK, &Done { approved })
        }
    }
}

fn confirm(
    session: &Session,
    csrf: &str,
    pending: &device::PendingRequest,
    address: &str,
    now: crate::clock::UnixTime,
) -> Result<HttpResponse, PageError> {
    let minutes = (now - pending.requested_at).max(0) / 60;
    let requested_ago = match minutes {
        0 => "just now".to_string(),
        1 => "1 minute ago".to_string(),
        n => format!("{n} minutes ago"),
    };
    let here = device::network(address);
    pages::render(
        StatusCode::OK,
        &Confirm {
            username: &session.user.username,
            csrf,
            client_name: &pending.client.name,
            user_code: &pending.code.display(),
            scopes: pending.scope.iter().map(authorize::describe).collect(),
            apis: pending
                .apis
                .iter()
                .map(|a| a.name.as_deref().unwrap_or(a.identifier.as_str()))
                .collect(),
            requested_ago,
            requested_from: &pending.requested_from,
            elsewhere: !pending.requested_from.is_empty() && pending.requested_from != here,
        },
    )
}
