//! The second factor: TOTP enrolment (QR code, then recovery codes shown once), the TOTP step
//! after an admin signs in, and the re-authentication page for sensitive actions.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{AdminSession, ConsoleError, ConsoleResult, PendingAdmin, PendingUser};
use crate::accounts::login::{self, Attempt, Outcome};
use crate::accounts::totp::{self, Check};
use crate::error::PageError;
use crate::http::current_session::client_ip;
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
    /// Enrolment only: the current password (step-up).
    #[serde(default)]
    password: String,
    /// Enrolment only: the secret the page showed (only that one can be confirmed).
    #[serde(default)]
    secret: String,
}

#[derive(Deserialize)]
pub struct ReauthForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

const WRONG_CODE: &str = "That code is not right. Try the current code from the app.";
const WRONG_REAUTH: &str = "The password or the code is not right.";
const WRONG_PASSWORD: &str = "That password is not right. Give your current password.";

/// Where the code step and the enrolment live, and where they lead by default: the console's
/// pages for administrators, the account's for everyone else (TOTP is optional for them).
#[derive(Clone, Copy)]
struct Flow {
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

/// The console's default destination (re-authentication).
fn destination(raw: Option<&str>) -> String {
    CONSOLE.destination(raw)
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
    retry_after: Option<i64>,
    wrong: &str,
    page: impl Fn(StatusCode, &str) -> Result<HttpResponse, PageError>,
) -> Result<HttpResponse, PageError> {
    match retry_after {
        None => page(StatusCode::UNAUTHORIZED, wrong),
        Some(secs) => page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed attempts. Try again in {secs} seconds."),
        )
        .map(|res| throttled(res, secs)),
    }
}

async fn mark_passed(state: &AppState, admin: &AdminSession) -> Result<(), ConsoleError> {
    let mut amr: Vec<&str> = admin.session.row.amr.split_whitespace().collect();
    if !amr.contains(&"otp") {
        amr.push("otp");
    }
    state
        .store
        .set_session_mfa(&admin.id_hash(), &amr.join(" "), state.clock.now())
        .await?;
    Ok(())
}

/// Step-up (DESIGN §5): the signed-in user's current password again, reserved and throttled
/// like a sign-in, so that a stolen session cookie alone cannot change the second factor.
async fn confirm_password(
    req: &HttpRequest,
    state: &AppState,
    admin: &AdminSession,
    password: &str,
) -> Result<Check, ConsoleError> {
    let ip = client_ip(req);
    let outcome = login::login(
        &state.store,
        &state.hasher,
        &state.login_limits,
        Attempt {
            username: &admin.user().username,
            password: SecretString::from(password.to_string()),
            client_ip: &ip,
            now: state.clock.now(),
        },
    )
    .await
    .map_err(|e| match e {
        login::LoginError::Store(s) => ConsoleError::from(s),
        login::LoginError::Hash(h) => PageError::Internal(h.into()).into(),
    })?;
    Ok(match outcome {
        Outcome::Success(user) if user.id == admin.user().id => Check::Accepted,
        Outcome::Throttled { retry_after } => Check::Throttled { retry_after },
        _ => Check::Refused,
    })
}

pub async fn show_enrol(
    state: web::Data<AppState>,
    PendingAdmin(admin): PendingAdmin,
    query: web::Query<ReturnQuery>,
) -> ConsoleResult {
    show_enrol_in(CONSOLE, &state, &admin, &query).await
}

/// `GET /account/mfa`: any user may turn on TOTP.
pub async fn account_show_enrol(
    state: web::Data<AppState>,
    PendingUser(user): PendingUser,
    query: web::Query<ReturnQuery>,
) -> ConsoleResult {
    show_enrol_in(ACCOUNT, &state, &user, &query).await
}

async fn show_enrol_in(
    flow: Flow,
    state: &AppState,
    admin: &AdminSession,
    query: &ReturnQuery,
) -> ConsoleResult {
    let return_to = flow.destination(query.return_to.as_deref());
    if totp::is_enrolled(&state.store, admin.user()).await? {
        return Ok(pages::redirect(&with_query(flow.verify, &return_to)));
    }
    enrol_page(flow, state, admin, &return_to, None, (StatusCode::OK, None)).await
}

async fn enrol_page(
    flow: Flow,
    state: &AppState,
    admin: &AdminSession,
    return_to: &str,
    shown: Option<&str>,
    (status, error): (StatusCode, Option<&str>),
) -> ConsoleResult {
    let enrolment =
        totp::pending_enrolment(&state.store, admin.user(), shown, state.clock.now()).await?;
    Ok(pages::render(
        status,
        &EnrolPage {
            action: flow.enrol,
            admin: admin.user().has_role(crate::accounts::Role::Admin),
            csrf: &admin.csrf(),
            return_to,
            qr: &enrolment.qr_data_url,
            secret: enrolment.secret.expose_secret(),
            error,
        },
    )?)
}

pub async fn enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    PendingAdmin(admin): PendingAdmin,
    form: web::Form<CodeForm>,
) -> ConsoleResult {
    enrol_in(CONSOLE, &req, &state, &admin, &form).await
}

/// `POST /account/mfa`: the first code confirms the user's enrolment.
pub async fn account_enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    PendingUser(user): PendingUser,
    form: web::Form<CodeForm>,
) -> ConsoleResult {
    enrol_in(ACCOUNT, &req, &state, &user, &form).await
}

async fn enrol_in(
    flow: Flow,
    req: &HttpRequest,
    state: &AppState,
    admin: &AdminSession,
    form: &CodeForm,
) -> ConsoleResult {
    admin.verify_csrf(req, state, &form.csrf)?;
    let return_to = flow.destination(Some(&form.return_to));
    if totp::is_enrolled(&state.store, admin.user()).await? {
        return Ok(pages::redirect(&with_query(flow.verify, &return_to)));
    }
    let now = state.clock.now();
    let password = confirm_password(req, state, admin, &form.password).await?;
    let check = match password {
        Check::Accepted => {
            totp::check_code(
                &state.store,
                &state.login_limits.account,
                admin.user(),
                &form.code,
                Some(&form.secret),
                now,
            )
            .await?
        }
        other => other,
    };
    let wrong = if password == Check::Accepted {
        WRONG_CODE
    } else {
        WRONG_PASSWORD
    };
    match check {
        Check::Accepted => {
            mark_passed(state, admin).await?;
            let codes = totp::new_recovery_codes(&state.store, admin.user(), now).await?;
            admin
                .record(req, state, "totp.enrolled", Some(&admin.user().id), None)
                .await?;
            Ok(pages::render(
                StatusCode::OK,
                &RecoveryPage {
                    codes: &totp::reveal(&codes),
                    return_to: &return_to,
                },
            )?)
        }
        Check::Refused => {
            admin
                .record(
                    req,
                    state,
                    "totp.failed",
                    Some(&admin.user().id),
                    Some(serde_json::json!({
                        "step": "enrolment",
                        "password": password == Check::Accepted,
                    })),
                )
                .await?;
            enrol_page(
                flow,
                state,
                admin,
                &return_to,
                Some(&form.secret),
                (StatusCode::UNAUTHORIZED, Some(wrong)),
            )
            .await
        }
        Check::Throttled { retry_after } => {
            let res = enrol_page(
                flow,
                state,
                admin,
                &return_to,
                Some(&form.secret),
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(&format!(
                        "Too many wrong codes. Try again in {retry_after} seconds."
                    )),
                ),
            )
            .await?;
            Ok(throttled(res, retry_after))
        }
    }
}

pub async fn show_verify(
    state: web::Data<AppState>,
    PendingAdmin(admin): PendingAdmin,
    query: web::Query<ReturnQuery>,
) -> ConsoleResult {
    show_verify_in(CONSOLE, &state, &admin, &query).await
}

/// `GET /login/mfa`: the code step after a user who enrolled TOTP gave the password.
pub async fn account_show_verify(
    state: web::Data<AppState>,
    PendingUser(user): PendingUser,
    query: web::Query<ReturnQuery>,
) -> ConsoleResult {
    show_verify_in(ACCOUNT, &state, &user, &query).await
}

async fn show_verify_in(
    flow: Flow,
    state: &AppState,
    admin: &AdminSession,
    query: &ReturnQuery,
) -> ConsoleResult {
    let return_to = flow.destination(query.return_to.as_deref());
    if !totp::is_enrolled(&state.store, admin.user()).await? {
        return Ok(pages::redirect(&with_query(flow.enrol, &return_to)));
    }
    Ok(pages::render(
        StatusCode::OK,
        &VerifyPage {
            action: flow.verify,
            csrf: &admin.csrf(),
            return_to: &return_to,
            error: None,
        },
    )?)
}

pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    PendingAdmin(admin): PendingAdmin,
    form: web::Form<CodeForm>,
) -> ConsoleResult {
    verify_in(CONSOLE, &req, &state, &admin, &form).await
}

/// `POST /login/mfa`.
pub async fn account_verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    PendingUser(user): PendingUser,
    form: web::Form<CodeForm>,
) -> ConsoleResult {
    verify_in(ACCOUNT, &req, &state, &user, &form).await
}

async fn verify_in(
    flow: Flow,
    req: &HttpRequest,
    state: &AppState,
    admin: &AdminSession,
    form: &CodeForm,
) -> ConsoleResult {
    admin.verify_csrf(req, state, &form.csrf)?;
    let return_to = flow.destination(Some(&form.return_to));
    let now = state.clock.now();
    let limits = &state.login_limits.account;
    let recovery = !form.recovery_code.trim().is_empty();
    let check = if recovery {
        totp::use_recovery_code(&state.store, limits, admin.user(), &form.recovery_code, now)
            .await?
    } else {
        totp::check_code(&state.store, limits, admin.user(), &form.code, None, now).await?
    };
    let page = |status: StatusCode, error: &str| {
        pages::render(
            status,
            &VerifyPage {
                action: flow.verify,
                csrf: &admin.csrf(),
                return_to: &return_to,
                error: Some(error),
            },
        )
    };
    let (action, result) = match check {
        Check::Accepted => {
            mark_passed(state, admin).await?;
            let action = if recovery {
                "recovery_code.used"
            } else {
                "totp.verified"
            };
            (action, Ok(pages::redirect(&return_to)))
        }
        Check::Refused => ("totp.failed", refused(None, WRONG_CODE, page)),
        Check::Throttled { retry_after } => (
            "totp.throttled",
            refused(Some(retry_after), WRONG_CODE, page),
        ),
    };
    admin
        .record(
            req,
            state,
            action,
            Some(&admin.user().id),
            Some(serde_json::json!({ "method": if recovery { "recovery_code" } else { "totp" } })),
        )
        .await?;
    Ok(result?)
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

/// `POST /account/mfa/disable`: the current password and a current code turn TOTP off (and
/// drop the recovery codes). Administrators keep it while `admin_require_totp` is on.
pub async fn account_disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    PendingUser(user): PendingUser,
    form: web::Form<DisableForm>,
) -> ConsoleResult {
    user.verify_csrf(&req, &state, &form.csrf)?;
    if user.session.row.mfa_pending() {
        return Err(ConsoleError::Redirect(with_query(
            ACCOUNT.verify,
            ACCOUNT.home,
        )));
    }
    if state.settings.admin_require_totp && user.user().has_role(crate::accounts::Role::Admin) {
        return Err(
            PageError::Forbidden("Administrators must keep two-factor sign-in.".into()).into(),
        );
    }
    let now = state.clock.now();
    let limits = &state.login_limits.account;
    let check = match confirm_password(&req, &state, &user, &form.password).await? {
        Check::Accepted => {
            totp::check_code(&state.store, limits, user.user(), &form.code, None, now).await?
        }
        other => other,
    };
    let id = user.user().id.clone();
    match check {
        Check::Accepted => {
            state.store.delete_totp(&id).await?;
            state.store.replace_recovery_codes(&id, &[], now).await?;
            user.record(&req, &state, "totp.disabled", Some(&id), None)
                .await?;
            Ok(pages::redirect(ACCOUNT.home))
        }
        Check::Refused => {
            let detail = serde_json::json!({ "step": "disable" });
            user.record(&req, &state, "totp.failed", Some(&id), Some(detail))
                .await?;
            Err(PageError::BadRequest(WRONG_REAUTH.into()).into())
        }
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
    let return_to = destination(query.return_to.as_deref());
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
    form: web::Form<ReauthForm>,
) -> ConsoleResult {
    let form = form.into_inner();
    admin.verify_csrf(&req, &state, &form.csrf)?;
    let return_to = destination(Some(&form.return_to));
    let now = state.clock.now();
    let mut check = confirm_password(&req, &state, &admin, &form.password).await?;
    if check == Check::Accepted && state.settings.admin_require_totp {
        check = totp::check_code(
            &state.store,
            &state.login_limits.account,
            admin.user(),
            &form.code,
            None,
            now,
        )
        .await?;
    }
    let page = |status: StatusCode, error: &str| {
        pages::render(
            status,
            &ReauthPage {
                csrf: &admin.csrf(),
                return_to: &return_to,
                totp: state.settings.admin_require_totp,
                error: Some(error),
            },
        )
    };
    let (action, result) = match check {
        Check::Accepted => {
            state
                .store
                .set_session_auth_time(&admin.id_hash(), now)
                .await?;
            if state.settings.admin_require_totp {
                mark_passed(&state, &admin).await?;
            }
            ("reauth.succeeded", Ok(pages::redirect(&return_to)))
        }
        Check::Refused => ("reauth.failed", refused(None, WRONG_REAUTH, page)),
        Check::Throttled { retry_after } => (
            "reauth.throttled",
            refused(Some(retry_after), WRONG_REAUTH, page),
        ),
    };
    admin
        .record(&req, &state, action, Some(&admin.user().id), None)
        .await?;
    Ok(result?)
}
