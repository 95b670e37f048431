//! The second factor's pages: TOTP enrolment (QR code, then recovery codes shown once), the
//! code step after a sign-in, turning TOTP off, and the re-authentication page for sensitive
//! actions. The console (administrators) and the account (everyone else) share each handler:
//! `Step` says whose pages they are. The checks, the throttling and the audit entries are the
//! admin service's (`admin::mfa`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::accounts::Role;
use crate::accounts::totp::Check;
use crate::admin::mfa::{Enrolled, SecondFactor};
use crate::error::PageError;
use crate::http::admin::{
    AdminSession, ConsoleError, ConsoleResult, PendingAdmin, PendingUser, service,
};
use crate::http::pages;
use crate::http::return_to::ReturnTo;
use crate::startup::AppState;

#[derive(askama::Template)]
#[template(path = "admin/mfa_enrol.html")]
struct EnrolPage<'a> {
    action: &'a str,
    admin: bool,
    csrf: &'a str,
    return_to: &'a str,
    qr: &'a str,
    secret: &'a str,
    error: Option<&'a str>,
}

#[derive(askama::Template)]
#[template(path = "admin/mfa_recovery.html")]
struct RecoveryPage<'a> {
    codes: &'a [String],
    return_to: &'a str,
}

#[derive(askama::Template)]
#[template(path = "admin/mfa_verify.html")]
struct VerifyPage<'a> {
    action: &'a str,
    csrf: &'a str,
    return_to: &'a str,
    error: Option<&'a str>,
}

#[derive(askama::Template)]
#[template(path = "admin/reauth.html")]
struct ReauthPage<'a> {
    csrf: &'a str,
    return_to: &'a str,
    totp: bool,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct ReturnQuery {
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
    /// Enrolment, re-authentication and turning TOTP off: the current password (step-up).
    #[serde(default)]
    password: String,
    /// Enrolment only: the secret the page showed (only that one can be confirmed).
    #[serde(default)]
    secret: String,
}

const WRONG_CODE: &str = "That code is not right. Try the current code from the app.";
const WRONG_REAUTH: &str = "The password or the code is not right.";
const WRONG_PASSWORD: &str = "That password is not right. Give your current password.";

/// Where the code step and the enrolment live, and where they lead by default: the console's
/// pages for administrators, the account's for everyone else (TOTP is optional for them).
#[derive(Clone, Copy)]
pub struct Flow {
    verify: &'static str,
    enrol: &'static str,
    home: &'static str,
}

const CONSOLE: Flow = Flow {
    verify: "/admin/mfa",
    enrol: "/admin/mfa/enrol",
    home: "/admin",
};

const ACCOUNT: Flow = Flow {
    verify: "/login/mfa",
    enrol: "/account/mfa",
    home: "/account",
};

impl Flow {
    /// A local destination, this flow's home by default.
    fn destination(self, raw: Option<&str>) -> String {
        raw.and_then(ReturnTo::parse)
            .map_or_else(|| self.home.to_string(), |r| r.as_str().to_string())
    }
}

/// Whose second-factor pages a handler serves: the gate that lets the visitor in (an admin,
/// or any signed-in user) and the pages it leads to.
pub trait Step: actix_web::FromRequest {
    const FLOW: Flow;
    fn session(self) -> AdminSession;
}

impl Step for PendingAdmin {
    const FLOW: Flow = CONSOLE;
    fn session(self) -> AdminSession {
        self.0
    }
}

impl Step for PendingUser {
    const FLOW: Flow = ACCOUNT;
    fn session(self) -> AdminSession {
        self.0
    }
}

/// A POSTed code or enrolment form: the visitor once its CSRF token is checked, and where to
/// go next.
fn posted<S: Step>(
    req: &HttpRequest,
    state: &AppState,
    who: S,
    form: &CodeForm,
) -> Result<(AdminSession, String), ConsoleError> {
    let who = who.session();
    who.verify_csrf(req, state, &form.csrf)?;
    Ok((who, S::FLOW.destination(Some(&form.return_to))))
}

fn with_query(path: &str, return_to: &str) -> String {
    format!("{path}?return_to={}", urlencoding::encode(return_to))
}

fn throttled(mut res: HttpResponse, retry_after: i64) -> HttpResponse {
    res.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(retry_after.max(1)),
    );
    res
}

/// The form again after a refused attempt: 401, or 429 with `Retry-After` when throttled.
fn refused(
    check: Check,
    wrong: &str,
    page: impl Fn(StatusCode, &str) -> Result<HttpResponse, PageError>,
) -> ConsoleResult {
    Ok(match check {
        Check::Throttled { retry_after } => throttled(
            page(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many failed attempts. Try again in {retry_after} seconds."),
            )?,
            retry_after,
        ),
        _ => page(StatusCode::UNAUTHORIZED, wrong)?,
    })
}

pub async fn show_enrol<S: Step>(
    state: web::Data<AppState>,
    who: S,
    query: web::Query<ReturnQuery>,
) -> ConsoleResult {
    let who = who.session();
    let return_to = S::FLOW.destination(query.return_to.as_deref());
    if service(&state).totp_enrolled(who.user()).await? {
        return Ok(pages::redirect(&with_query(S::FLOW.verify, &return_to)));
    }
    enrol_page(
        S::FLOW,
        &state,
        &who,
        &return_to,
        None,
        (StatusCode::OK, None),
    )
    .await
}

async fn enrol_page(
    flow: Flow,
    state: &AppState,
    who: &AdminSession,
    return_to: &str,
    shown: Option<&str>,
    (status, error): (StatusCode, Option<&str>),
) -> ConsoleResult {
    let enrolment = service(state).totp_enrolment(who.user(), shown).await?;
    Ok(pages::render(
        status,
        &EnrolPage {
            action: flow.enrol,
            admin: who.user().has_role(Role::Admin),
            csrf: &who.csrf(),
            return_to,
            qr: &enrolment.qr_data_url,
            secret: enrolment.secret.expose_secret(),
            error,
        },
    )?)
}

/// The first code (and the current password) confirms the enrolment.
pub async fn enrol<S: Step>(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: S,
    form: web::Form<CodeForm>,
) -> ConsoleResult {
    let (who, return_to) = posted(&req, &state, who, &form)?;
    let svc = service(&state);
    if svc.totp_enrolled(who.user()).await? {
        return Ok(pages::redirect(&with_query(S::FLOW.verify, &return_to)));
    }
    let outcome = svc
        .enrol_totp(
            &who.actor,
            &who.session,
            &form.password,
            &form.code,
            &form.secret,
        )
        .await?;
    let (status, error, retry_after) = match outcome {
        Enrolled::Yes(codes) => {
            return Ok(pages::render(
                StatusCode::OK,
                &RecoveryPage {
                    codes: &codes,
                    return_to: &return_to,
                },
            )?);
        }
        Enrolled::Refused { password_ok } => (
            StatusCode::UNAUTHORIZED,
            if password_ok {
                WRONG_CODE
            } else {
                WRONG_PASSWORD
            }
            .to_string(),
            None,
        ),
        Enrolled::Throttled { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many wrong codes. Try again in {retry_after} seconds."),
            Some(retry_after),
        ),
    };
    let shown = Some(form.secret.as_str());
    let res = enrol_page(
        S::FLOW,
        &state,
        &who,
        &return_to,
        shown,
        (status, Some(&error)),
    )
    .await?;
    Ok(match retry_after {
        Some(secs) => throttled(res, secs),
        None => res,
    })
}

pub async fn show_verify<S: Step>(
    state: web::Data<AppState>,
    who: S,
    query: web::Query<ReturnQuery>,
) -> ConsoleResult {
    let who = who.session();
    let return_to = S::FLOW.destination(query.return_to.as_deref());
    if !service(&state).totp_enrolled(who.user()).await? {
        return Ok(pages::redirect(&with_query(S::FLOW.enrol, &return_to)));
    }
    Ok(pages::render(
        StatusCode::OK,
        &VerifyPage {
            action: S::FLOW.verify,
            csrf: &who.csrf(),
            return_to: &return_to,
            error: None,
        },
    )?)
}

/// The code step: a TOTP code, or a recovery code.
pub async fn verify<S: Step>(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: S,
    form: web::Form<CodeForm>,
) -> ConsoleResult {
    let (who, return_to) = posted(&req, &state, who, &form)?;
    let given = if form.recovery_code.trim().is_empty() {
        SecondFactor::Totp(&form.code)
    } else {
        SecondFactor::RecoveryCode(&form.recovery_code)
    };
    let check = service(&state)
        .pass_second_factor(&who.actor, &who.session, given)
        .await?;
    if check == Check::Accepted {
        return Ok(pages::redirect(&return_to));
    }
    refused(check, WRONG_CODE, |status, error| {
        pages::render(
            status,
            &VerifyPage {
                action: S::FLOW.verify,
                csrf: &who.csrf(),
                return_to: &return_to,
                error: Some(error),
            },
        )
    })
}

/// `POST /account/mfa/disable`: the current password and a current code turn TOTP off (and
/// drop the recovery codes). Administrators keep it while `admin_require_totp` is on.
pub async fn account_disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    PendingUser(user): PendingUser,
    form: web::Form<CodeForm>,
) -> ConsoleResult {
    user.verify_csrf(&req, &state, &form.csrf)?;
    if user.session.row.mfa_pending() {
        return Err(ConsoleError::Redirect(with_query(
            ACCOUNT.verify,
            ACCOUNT.home,
        )));
    }
    let check = service(&state)
        .disable_totp(&user.actor, user.user(), &form.password, &form.code)
        .await?;
    match check {
        Check::Accepted => Ok(pages::redirect(ACCOUNT.home)),
        Check::Refused => Err(PageError::BadRequest(WRONG_REAUTH.into()).into()),
        Check::Throttled { retry_after } => Err(PageError::BadRequest(format!(
            "Too many failed attempts. Try again in {retry_after} seconds."
        ))
        .into()),
    }
}

pub async fn show_reauth(
    state: web::Data<AppState>,
    admin: AdminSession,
    query: web::Query<ReturnQuery>,
) -> ConsoleResult {
    let return_to = CONSOLE.destination(query.return_to.as_deref());
    Ok(pages::render(
        StatusCode::OK,
        &ReauthPage {
            csrf: &admin.csrf(),
            return_to: &return_to,
            totp: state.settings.admin_require_totp,
            error: None,
        },
    )?)
}

/// Password (and TOTP when required) again; the session's `auth_time` moves to now.
pub async fn reauth(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    form: web::Form<CodeForm>,
) -> ConsoleResult {
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let return_to = CONSOLE.destination(Some(&form.return_to));
    let check = service(&state)
        .reauthenticate(&admin.actor, &admin.session, &form.password, &form.code)
        .await?;
    if check == Check::Accepted {
        return Ok(pages::redirect(&return_to));
    }
    refused(check, WRONG_REAUTH, |status, error| {
        pages::render(
            status,
            &ReauthPage {
                csrf: &admin.csrf(),
                return_to: &return_to,
                totp: state.settings.admin_require_totp,
                error: Some(error),
            },
        )
    })
}
