//! `GET /metrics` (Prometheus text format) and the middleware that counts every request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::startup::AppState;

/// Times each request and counts it by matched route (not raw path), method and status.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().clone();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res.request().match_pattern();
        state.metrics.observe_request(
            route.as_deref().unwrap_or("unmatched"),
            &method,
            res.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(res)
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(
            state.metrics.render(state.store.pool_gauges())
                + &crate::metrics::render_key_ages(&state.keys.current(), state.clock.now()),
        )
}
