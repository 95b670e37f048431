//! `/admin/sessions`: live login sessions (all, or one user's), and ending one. Ending a
//! session revokes its tokens and tells its clients (back-channel logout), as a sign-out does.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Deserialize;

use super::users::{ConfirmForm, ConfirmPage};
use super::{AdminSession, ConsoleError, ConsoleResult, PageQuery, clean_filter, split_page};
use crate::accounts::{User, Username};
use crate::admin::sessions::{self, SessionInfo};
use crate::clock;
use crate::error::PageError;
use crate::http::pages;
use crate::startup::AppState;

struct Row {
    sid: String,
    username: String,
    user_id: String,
    created: String,
    last_seen: String,
    expires: String,
    origin: String,
    amr: String,
}

impl From<&SessionInfo> for Row {
    fn from(s: &SessionInfo) -> Self {
        Self {
            sid: s.sid.clone(),
            username: s.username.clone(),
            user_id: s.user_id.clone(),
            created: clock::display(s.created_at),
            last_seen: clock::display(s.last_seen_at),
            expires: clock::display(s.expires_at),
            origin: format!(
                "{} {}",
                s.ip.as_deref().unwrap_or_default(),
                s.user_agent.as_deref().unwrap_or_default()
            ),
            amr: s.amr.clone(),
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

/// A user named in a filter: by username, else by id.
async fn find_user(state: &AppState, name: &str) -> Result<Option<User>, ConsoleError> {
    if let Ok(username) = Username::parse(name)
        && let Some(user) = state.store.user_by_username_key(&username.key()).await?
    {
        return Ok(Some(user));
    }
    Ok(state.store.user_by_id(name).await?)
}

pub async fn list(
    state: web::Data<AppState>,
    admin: AdminSession,
    query: web::Query<PageQuery>,
) -> ConsoleResult {
    let filter = clean_filter(query.user.as_deref(), 64);
    let user = match filter.as_str() {
        "" => None,
        name => find_user(&state, name).await?,
    };
    let unknown = !filter.is_empty() && user.is_none();
    let found = if unknown {
        Vec::new()
    } else {
        let now = state.clock.now();
        sessions::list(
            &state.store,
            user.as_ref(),
            now,
            state.session_lifetimes.idle_secs,
            super::PAGE_SIZE + 1,
            query.offset(),
        )
        .await?
    };
    let (found, more) = split_page(found);
    let rows: Vec<Row> = found.iter().map(Row::from).collect();
    let notice = unknown.then(|| format!("No user is named {filter}."));
    Ok(pages::render(
        StatusCode::OK,
        &ListPage {
            csrf: &admin.csrf(),
            sessions: &rows,
            user: &filter,
            user_encoded: &urlencoding::encode(&filter),
            notice: notice.as_deref(),
            page: query.page(),
            more,
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
        return Ok(pages::render(
            StatusCode::OK,
            &ConfirmPage {
                csrf: &admin.csrf(),
                title: "End a session",
                message: &message,
                action: &format!("/admin/sessions/{}/end", urlencoding::encode(&sid)),
                button: "End the session",
                cancel: &back,
                fields: &[("user", &form.user)],
            },
        )?);
    }
    let ended = crate::sessions::end_by_sid(
        &state.store,
        &state.revocations,
        &state.backchannel,
        &sid,
        state.clock.now(),
    )
    .await?;
    let Some(row) = ended else {
        return Err(PageError::NotFound.into());
    };
    admin
        .record(
            &req,
            &state,
            "session.ended",
            Some(&row.sid),
            Some(serde_json::json!({ "user_id": row.user_id })),
        )
        .await?;
    Ok(pages::redirect(&back))
}
