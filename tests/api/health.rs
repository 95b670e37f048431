use crate::dual;
use crate::helpers::{Backend, spawn_app};

async fn healthz_and_readyz_answer_ok_when_the_database_is_up(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
}

/// With the pool closed the database is unreachable: readiness must say so (503), while
/// liveness still answers.
async fn readyz_fails_when_the_database_is_unreachable(backend: Backend) {
    let app = spawn_app(backend).await;
    app.state.store.close().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn responses_carry_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/healthz").await;
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let csp = h["content-security-policy"].to_str().expect("ascii");
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
}

dual!(
    healthz_and_readyz_answer_ok_when_the_database_is_up,
    readyz_fails_when_the_database_is_unreachable,
    responses_carry_security_headers
);
