//! `GET/POST /end-session`: OpenID Connect RP-Initiated Logout 1.0. Ends the SSO session and
//! revokes its refresh tokens, then returns to the client's registered
//! `post_logout_redirect_uri` (exact match) or shows a signed-out page.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::PageError;
use crate::http::current_session::current_session;
use crate::http::{cookies, csrf, pages};
use crate::oauth::authorize::redirect_with;
use crate::sessions;
use crate::startup::AppState;
use crate::tokens::id_token;

#[derive(askama::Template)]
#[template(path = "end_session.html")]
struct ConfirmPage<'a> {
    username: &'a str,
    params: Vec<(&'a str, &'a str)>,
    csrf: &'a str,
}

#[derive(askama::Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage;

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

pub async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params: Vec<(String, String)> = if req.method() == Method::POST {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        url::form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect()
    };
    let issuer = state.settings.issuer();
    let hint = match get(&params, "id_token_hint") {
        Some(t) => Some(
            id_token::verify_hint(&state.keys.current(), &issuer, t).map_err(|_| {
                PageError::BadRequest("The id_token_hint is not an ID token issued here.".into())
            })?,
        ),
        None => None,
    };
    // The client: named by the hint's audience or by client_id; if both, they must agree.
    let client_id = match (
        hint.as_ref().map(|h| h.aud.as_str()),
        get(&params, "client_id"),
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(PageError::BadRequest(
                "client_id does not match the id_token_hint.".into(),
            ));
        }
        (Some(a), _) => Some(a.to_string()),
        (None, b) => b.map(str::to_string),
    };
    let redirect = match get(&params, "post_logout_redirect_uri") {
        Some(uri) => {
            let client = match &client_id {
                Some(id) => state.store.get_client(id).await?,
                None => None,
            }
            .ok_or_else(|| {
                PageError::BadRequest(
                    "post_logout_redirect_uri needs an id_token_hint or client_id.".into(),
                )
            })?;
            if !client
                .post_logout_redirect_uris
                .iter()
                .any(|r| r.as_str() == uri)
            {
                return Err(PageError::BadRequest(
                    "The post_logout_redirect_uri is not registered for this application.".into(),
                ));
            }
            let mut extra = Vec::new();
            if let Some(s) = get(&params, "state") {
                extra.push(("state", s));
            }
            Some(redirect_with(uri, &extra))
        }
        None => None,
    };

    if let Some((secret, session)) = current_session(&req, &state).await? {
        // Without proof that the request comes from this session's client (a matching
        // hint) or from the user (the confirmation form), ask: a logout can be forced
        // cross-site otherwise.
        let hinted = hint
            .as_ref()
            .is_some_and(|h| h.sid.as_deref() == Some(session.row.sid.as_str()));
        let confirmed = req.method() == Method::POST && get(&params, "confirm") == Some("yes");
        if confirmed {
            csrf::verify(
                &req,
                &state.issuer_origin,
                Some(&secret),
                get(&params, "csrf").unwrap_or_default(),
            )?;
        }
        if !hinted && !confirmed {
            let shown = params
                .iter()
                .filter(|(k, _)| k != "csrf" && k != "confirm")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            return pages::render(
                StatusCode::OK,
                &ConfirmPage {
                    username: &session.user.username,
                    params: shown,
                    csrf: &csrf::token_for(&secret),
                },
            );
        }
        sessions::end(
            &state.store,
            &state.revocations,
            &state.backchannel,
            &secret,
            state.clock.now(),
        )
        .await?;
        tracing::info!(sid = %session.row.sid, "signed out (RP-initiated)");
    }
    let mut res = match redirect {
        Some(location) => pages::redirect(&location),
        None => pages::render(StatusCode::OK, &LoggedOutPage)?,
    };
    res.add_cookie(&cookies::removal(cookies::SESSION, state.https))
        .map_err(|e| PageError::Internal(e.into()))?;
    Ok(res)
}
