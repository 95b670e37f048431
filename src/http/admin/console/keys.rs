//! `GET /admin/keys`: the signing keys this node holds (kid, algorithm, state, creation date).
//! Public facts only; key material never reaches a page.

use actix_web::http::StatusCode;
use actix_web::web;

use crate::admin::keys::{self, KeyInfo};
use crate::http::admin::{AdminSession, ConsoleResult};
use crate::http::pages;
use crate::startup::AppState;

#[derive(askama::Template)]
#[template(path = "admin/keys.html")]
struct KeysPage<'a> {
    keys: &'a [KeyInfo],
}

pub async fn list(state: web::Data<AppState>, _admin: AdminSession) -> ConsoleResult {
    let keys = keys::list(&state.keys.current());
    Ok(pages::render(StatusCode::OK, &KeysPage { keys: &keys })?)
}
