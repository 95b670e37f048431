//! `/admin/sessions`: live login sessions (all, or one user's), a session's page (its user,
//! times, origin and the clients it signed in to), and ending one. Ending a session revokes
//! its tokens and tells its clients (back-channel logout), as a sign-out does.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::{ConfirmForm, ConfirmPage, PageQuery, confirm};
use crate::admin::clean_filter;
use crate::admin::sessions::{SessionClient, SessionInfo};
use crate::http::admin::{AdminSession, ConsoleResult, service};
use crate::http::pages::{self, LocalTime};
use crate::startup::AppState;

/// A session as the console lists it.
pub struct Row {
    pub sid: String,
    /// The sid for a path (`/admin/sessions/{sid}`).
    pub sid_encoded: String,
    pub username: String,
    pub user_id: String,
    pub created: LocalTime,
    pub last_seen: LocalTime,
    pub expires: LocalTime,
    pub ip: String,
    pub user_agent: String,
    /// IP and user agent together.
    pub origin: String,
    pub amr: String,
    pub second_factor: bool,
}

impl From<&SessionInfo> for Row {
    fn from(s: &SessionInfo) -> Self {
        let ip = s.ip.clone().unwrap_or_default();
        let user_agent = s.user_agent.clone().unwrap_or_default();
        Self {
            sid: s.sid.clone(),
            sid_encoded: urlencoding::encode(&s.sid).into_owned(),
            username: s.username.clone(),
            user_id: s.user_id.clone(),
            created: LocalTime::at(s.created_at),
            last_seen: LocalTime::at(s.last_seen_at),
            expires: LocalTime::at(s.expires_at),
            origin: format!("{ip} {user_agent}"),
            ip,
            user_agent,
            amr: s.amr.clone(),
            second_factor: s.second_factor,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/sessions.html")]
struct ListPage<'a> {
    csrf: &'a str,
    sessions: &'a [Row],
    user: &'a str,
    user_encoded: &'a str,
    notice: Option<&'a str>,
    page: i64,
    more: bool,
}

#[derive(askama::Template)]
#[template(path = "admin/session.html")]
struct SessionPage<'a> {
    csrf: &'a str,
    s: &'a Row,
    auth_time: LocalTime,
    clients: &'a [SessionClient],
}

pub async fn list(
    state: web::Data<AppState>,
    admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let svc = service(&state);
    let filter = clean_filter(query.user.as_deref(), 64);
    let user = match filter.as_str() {
        "" => None,
        name => svc.find_user(name).await?,
    };
    let unknown = !filter.is_empty() && user.is_none();
    let paging = query.paging();
    let found = if unknown {
        paging.wrap(Vec::new())
    } else {
        svc.sessions(user.as_ref(), &paging).await?
    };
    let rows: Vec<Row> = found.items.iter().map(Row::from).collect();
    let notice = unknown.then(|| format!("No user is named {filter}."));
    Ok(pages::render(
        StatusCode::OK,
        &ListPage {
            csrf: &admin.csrf(),
            sessions: &rows,
            user: &filter,
            user_encoded: &urlencoding::encode(&filter),
            notice: notice.as_deref(),
            page: i64::from(found.page),
            more: found.next_page.is_some(),
        },
    )?)
}

/// `GET /admin/sessions/{sid}`.
pub async fn show(
    state: web::Data<AppState>,
    admin: AdminSession,
    sid: web::Path<String>,
) -> ConsoleResult {
    let detail = service(&state).session_detail(&sid).await?;
    Ok(pages::render(
        StatusCode::OK,
        &SessionPage {
            csrf: &admin.csrf(),
            s: &Row::from(&detail.session),
            auth_time: LocalTime::at(detail.session.auth_time),
            clients: &detail.clients,
        },
    )?)
}

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(flatten)]
    confirm: ConfirmForm,
    #[serde(default)]
    user: String,
}

pub async fn end(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminSession,
    sid: web::Path<String>,
    form: web::Form<EndForm>,
) -> ConsoleResult {
    let form = form.into_inner();
    admin.verify_csrf(&req, &state, &form.confirm.csrf)?;
    let back = match clean_filter(Some(&form.user), 64) {
        u if u.is_empty() => "/admin/sessions".to_string(),
        u => format!("/admin/sessions?user={}", urlencoding::encode(&u)),
    };
    if !form.confirm.confirmed() {
        let message = format!(
            "End session {sid}? Its browser is signed out, the tokens issued in it are revoked \
             and its applications are told."
        );
        return confirm(&ConfirmPage {
            csrf: &admin.csrf(),
            title: "End a session",
            message: &message,
            action: &format!("/admin/sessions/{}/end", urlencoding::encode(&sid)),
            button: "End the session",
            cancel: &back,
            fields: &[("user", &form.user)],
        });
    }
    service(&state).end_session(&admin.actor, &sid).await?;
    Ok(pages::redirect(&back))
}
