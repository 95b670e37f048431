//! The API: orders, read with `orders.read`, placed with `orders.write`.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::State;
use crate::error::AuthError;
use crate::verify::{AccessClaims, verify};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/orders", web::get().to(list_orders))
        .route("/orders", web::post().to(place_order))
        .route(
            "/healthz",
            web::get().to(|| async { HttpResponse::Ok().body("ok") }),
        );
}

/// The bearer token of `Authorization: Bearer …` (RFC 6750 §2.1), verified, with `scope`.
async fn authorize(
    req: &HttpRequest,
    state: &State,
    scope: &'static str,
) -> Result<AccessClaims, AuthError> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)?;
    let claims = verify(state, token).await?;
    if !claims.has_scope(scope) {
        return Err(AuthError::InsufficientScope(scope));
    }
    Ok(claims)
}

async fn list_orders(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, AuthError> {
    let claims = authorize(&req, &state, "orders.read").await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "sub": claims.sub,
        "client_id": claims.client_id,
        "orders": [
            {"id": 1, "item": "Green tea, 250 g", "status": "shipped"},
            {"id": 2, "item": "Teapot", "status": "processing"},
        ],
    })))
}

async fn place_order(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, AuthError> {
    let claims = authorize(&req, &state, "orders.write").await?;
    Ok(HttpResponse::Created().json(serde_json::json!({"id": 3, "placed_by": claims.sub})))
}
