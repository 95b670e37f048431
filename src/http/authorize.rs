//! `GET/POST /authorize` and `POST /consent` (RFC 6749 §4.1, OIDC Core §3.1.2).

use std::borrow::Cow;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::PageError;
use crate::http::current_session::current_session;
use crate::http::{csrf, pages};
use crate::oauth::authorize::{
    self, AuthorizeError, AuthorizeRequest, CodeSubject, Consented, ErrorRedirect, Next, Params,
    SignedIn,
};
use crate::oauth::resource;
use crate::sessions::Session;
use crate::startup::AppState;

#[derive(askama::Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    client_name: &'a str,
    username: &'a str,
    scopes: Vec<Cow<'static, str>>,
    /// The APIs asked for (RFC 8707): their names, or identifiers when unnamed.
    apis: Vec<&'a str>,
    params: Vec<(&'a str, &'a str)>,
    csrf: &'a str,
}

/// What a scope means to the user; a scope an API defines is named as it is.
pub(super) fn describe(scope: &str) -> Cow<'static, str> {
    Cow::Borrowed(match scope {
        "openid" => "Know who you are (your account id)",
        "profile" => "See your username and name",
        "email" => "See your e-mail address",
        "offline_access" => "Stay signed in when you are away (refresh tokens)",
        "roles" => "See your roles",
        _ => return Cow::Owned(format!("Access named “{scope}”")),
    })
}

fn params_of(bytes: &[u8]) -> Params {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

async fn validated(state: &AppState, params: &Params) -> Result<AuthorizeRequest, HttpResponse> {
    match authorize::validate(&state.store, params, state.settings.require_pkce).await {
        Ok(r) => Ok(r),
        Err(AuthorizeError::Page(message)) => Err(actix_web::ResponseError::error_response(
            &PageError::BadRequest(message),
        )),
        Err(AuthorizeError::Redirect(e)) => Err(error_redirect(state, &e)),
        Err(AuthorizeError::Store(e)) => Err(actix_web::ResponseError::error_response(
            &PageError::from(e),
        )),
    }
}

fn error_redirect(state: &AppState, e: &ErrorRedirect) -> HttpResponse {
    pages::redirect(&authorize::error_location(e, &state.settings.issuer()))
}

fn error_to_client(
    state: &AppState,
    req: &AuthorizeRequest,
    error: &'static str,
    description: &str,
) -> HttpResponse {
    error_redirect(
        state,
        &ErrorRedirect {
            redirect_uri: req.redirect_uri.clone(),
            error,
            description: description.to_string(),
            state: req.state.clone(),
        },
    )
}

/// The authorization request, by GET (query) or POST (form body, OIDC Core §3.1.2.1).
pub async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let params = if req.method() == Method::POST {
        params_of(&body)
    } else {
        params_of(req.query_string().as_bytes())
    };
    let areq = match validated(&state, &params).await {
        Ok(r) => r,
        Err(res) => return Ok(res),
    };
    let session = current_session(&req, &state).await?;
    let now = state.clock.now();
    let consented = match &session {
        Some((_, s)) => state
            .store
            .consent(&s.user.id, areq.client.id.as_str())
            .await?
            .map(|c| Consented::from_row(&c)),
        None => None,
    };
    let signed_in = session.as_ref().map(|(_, s)| SignedIn {
        auth_time: s.row.auth_time,
    });
    match authorize::decide(&areq, signed_in, consented.as_ref(), now) {
        Next::Error(code, description) => Ok(error_to_client(&state, &areq, code, description)),
        Next::Login => {
            let mut login =
                url::form_urlencoded::Serializer::for_suffix(String::from("/login?"), 7);
            login.append_pair("return_to", &authorize::return_url(&areq));
            if let Some(hint) = &areq.login_hint {
                login.append_pair("login_hint", hint);
            }
            Ok(pages::redirect(&login.finish()))
        }
        Next::Consent => match &session {
            Some((secret, s)) => consent_page(&areq, s, secret),
            None => Ok(pages::redirect("/login")),
        },
        Next::Issue => match &session {
            Some((_, s)) => issue(&state, &areq, s).await,
            None => Ok(pages::redirect("/login")),
        },
    }
}

fn consent_page(
    areq: &AuthorizeRequest,
    session: &Session,
    secret: &str,
) -> Result<HttpResponse, PageError> {
    let scopes = areq.scope.iter().map(describe).collect();
    let apis = areq
        .resources
        .iter()
        .map(|a| a.name.as_deref().unwrap_or(a.identifier.as_str()))
        .collect();
    let params = areq.pairs().filter(|(k, _)| *k != "prompt").collect();
    pages::render(
        StatusCode::OK,
        &ConsentPage {
            client_name: &areq.client.name,
            username: &session.user.username,
            scopes,
            apis,
            params,
            csrf: &csrf::token_for(secret),
        },
    )
}

async fn issue(
    state: &AppState,
    areq: &AuthorizeRequest,
    session: &Session,
) -> Result<HttpResponse, PageError> {
    let location = authorize::issue_code(
        &state.store,
        areq,
        CodeSubject {
            user_id: &session.user.id,
            sid: &session.row.sid,
            auth_time: session.row.auth_time,
            amr: &session.row.amr,
        },
        &state.settings.issuer(),
        i64::try_from(state.settings.authorization_code_ttl.as_secs()).unwrap_or(60),
        state.clock.now(),
    )
    .await?;
    Ok(pages::redirect(&location))
}

/// The consent form: the request's parameters come back as hidden fields and are validated
/// again; the decision needs the signed-in user's CSRF token.
pub async fn consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let mut params = params_of(&body);
    let take = |params: &mut Params, name: &str| {
        let value = params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        params.retain(|(k, _)| k != name);
        value.unwrap_or_default()
    };
    let csrf_token = take(&mut params, "csrf");
    let decision = take(&mut params, "decision");
    let Some((secret, session)) = current_session(&req, &state).await? else {
        return Ok(pages::redirect("/login"));
    };
    csrf::verify(&req, &state.issuer_origin, Some(&secret), &csrf_token)?;
    let areq = match validated(&state, &params).await {
        Ok(r) => r,
        Err(res) => return Ok(res),
    };
    if decision != "allow" {
        return Ok(error_to_client(
            &state,
            &areq,
            "access_denied",
            "the user denied the request",
        ));
    }
    let now = state.clock.now();
    let all = state
        .store
        .consent(&session.user.id, areq.client.id.as_str())
        .await?
        .map(|c| Consented::from_row(&c))
        .unwrap_or_default()
        .with(&areq);
    state
        .store
        .save_consent(
            &session.user.id,
            areq.client.id.as_str(),
            &all.scope.to_string(),
            &resource::join(&all.resources),
            now,
        )
        .await?;
    issue(&state, &areq, &session).await
}
