//! The signed-in user of a browser request, from the session cookie.

use actix_web::HttpRequest;

use crate::error::PageError;
use crate::http::cookies;
use crate::sessions::{self, Session};
use crate::startup::AppState;

pub use crate::http::client_addr::client_ip;

/// The cookie secret and its live session, if the browser has one that counts: a session
/// whose second factor is still due is not signed in (see `any_session`).
pub async fn current_session(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<(String, Session)>, PageError> {
    Ok(any_session(req, state)
        .await?
        .filter(|(_, s)| !s.row.mfa_pending()))
}

/// The browser's live session even if its second factor is still due: for the code step
/// itself, and for ending it at sign-out or at the next sign-in.
pub async fn any_session(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<(String, Session)>, PageError> {
    let Some(secret) = cookies::read(req, cookies::SESSION, state.https) else {
        return Ok(None);
    };
    let session = sessions::current(
        &state.store,
        &secret,
        state.session_lifetimes,
        state.clock.now(),
    )
    .await?;
    Ok(session.map(|s| (secret, s)))
}
