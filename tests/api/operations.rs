//! Operations: `/metrics`, the per-client token rate limit, request size limits, and a graceful
//! shutdown of the real binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dual;
use crate::helpers::{Backend, spawn_app, spawn_app_with};

const CC: (&str, &str) = ("grant_type", "client_credentials");

async fn metrics_count_requests_tokens_and_the_pool(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api").await;
    assert_eq!(app.get("/jwks").await.status(), 200);
    let res = app
        .post_token_basic(&client.id, client.secret(), &[CC])
        .await;
    assert_eq!(res.status(), 200);
    let res = app.post_token_basic(&client.id, "wrong", &[CC]).await;
    assert_eq!(res.status(), 401);

    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    for expected in [
        r#"tessera_http_requests_total{route="/jwks",method="GET",status="200"} 1"#,
        r#"tessera_http_requests_total{route="/token",method="POST",status="200"} 1"#,
        r#"tessera_http_requests_total{route="/token",method="POST",status="401"} 1"#,
        r#"tessera_http_request_duration_seconds_count{route="/token",method="POST",status="200"} 1"#,
        r#"tessera_tokens_issued_total{grant_type="client_credentials"} 1"#,
        "# TYPE tessera_http_request_duration_seconds histogram",
        "tessera_db_pool_max_connections 5",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    assert!(text.contains("tessera_db_pool_connections "), "{text}");
    assert!(text.contains("tessera_db_pool_idle_connections "), "{text}");
}

/// Over `token_rate_limit_per_client` a client gets 429, `Retry-After` and an RFC 6749-style
/// body; another client is not affected.
async fn a_client_over_its_token_rate_limit_gets_429_with_retry_after(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.token_rate_limit_per_client = 3).await;
    let noisy = app.create_service_client("api").await;
    let quiet = app.create_service_client("api").await;
    // 20 requests take well under two seconds: at most 2 windows × 3 pass.
    let mut limited = None;
    let mut passed = 0;
    for _ in 0..20 {
        let res = app.post_token_basic(&noisy.id, noisy.secret(), &[CC]).await;
        match res.status().as_u16() {
            200 => passed += 1,
            429 => limited = Some(res),
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(passed <= 6, "{passed} passed");
    let res = limited.expect("some requests were limited");
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("retry")
    );

    let res = app.post_token_basic(&quiet.id, quiet.secret(), &[CC]).await;
    assert_eq!(res.status(), 200, "the limit is per client");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("tessera_token_rate_limited_total 0\n"),
        "{metrics}"
    );
}

/// Bodies over 64 KiB are refused before they are parsed; so are absurd headers.
async fn oversized_bodies_and_headers_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let big = "x".repeat(70 * 1024);
    let res = app
        .client
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&pad={big}"))
        .send()
        .await
        .unwrap();
    assert!(
        [400, 413].contains(&res.status().as_u16()),
        "{}",
        res.status()
    );
    let res = app
        .client
        .get(app.url("/jwks"))
        .header("x-junk", "y".repeat(200 * 1024))
        .send()
        .await;
    // actix answers 431 or closes the connection; either way the request is not served.
    if let Ok(res) = res {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    assert_eq!(app.get("/jwks").await.status(), 200, "the server is fine");
}

/// Client authentication caches client rows: a rotation on this node takes effect at once, one
/// through another `Store` (another node) once this node hears of it (`client_changes`; the
/// ttl here only bounds it; `client_cache` checks the one-second delivery with a 60 s ttl).
async fn rotated_secrets_stop_working_at_once_here_and_within_the_cache_ttl_elsewhere(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |s| {
        s.client_cache_ttl = Duration::from_millis(500);
    })
    .await;
    let store = &app.state.store;
    let client = app.create_service_client("api").await;
    let status = |secret: String| {
        let (app, id) = (&app, client.id.clone());
        async move {
            app.post_token_basic(&id, &secret, &[CC])
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(client.secret().to_string()).await, 200);

    let here = tessera::admin::clients::rotate_secret(store, &client.id, app.clock.now())
        .await
        .unwrap();
    assert_eq!(status(client.secret().to_string()).await, 401, "same node");
    assert_eq!(status(here.clone()).await, 200);

    let elsewhere = tessera::startup::open_store(&app.state.settings)
        .await
        .unwrap();
    let there = tessera::admin::clients::rotate_secret(&elsewhere, &client.id, app.clock.now())
        .await
        .unwrap();
    elsewhere.close().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(status(here).await, 401, "another node, after the ttl");
    assert_eq!(status(there).await, 200);
}

/// Slow-loris defence: a client that does not finish its headers within
/// `client_request_timeout` is cut off (408 or a closed connection), never held open.
async fn a_client_that_never_finishes_its_headers_is_cut_off(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.client_request_timeout = Duration::from_millis(500);
    })
    .await;
    let port = app.port;
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /jwks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .unwrap();
        let started = Instant::now();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        (String::from_utf8_lossy(&out).to_string(), started.elapsed())
    })
    .await
    .unwrap();
    let (text, waited) = answer;
    // Set to 0.5 s here; actix's own default (5 s) would not pass this bound.
    assert!(
        waited < Duration::from_secs(4),
        "the connection was held open for {waited:?}"
    );
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

dual!(
    a_client_that_never_finishes_its_headers_is_cut_off,
    rotated_secrets_stop_working_at_once_here_and_within_the_cache_ttl_elsewhere,
    metrics_count_requests_tokens_and_the_pool,
    a_client_over_its_token_rate_limit_gets_429_with_retry_after,
    oversized_bodies_and_headers_are_refused
);

/// The binary's environment for a server on `port` with its data in `dir`.
fn serve_env(cmd: &mut Command, dir: &std::path::Path, port: u16) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("t.db").display()),
        )
        .env("TESSERA_KEYS_DIR", dir.join("keys"))
        .env("TESSERA_BIND", format!("127.0.0.1:{port}"))
        .env("TESSERA_ISSUER", format!("http://127.0.0.1:{port}"))
        .env("TESSERA_SHUTDOWN_TIMEOUT", "20s")
        .env("TESSERA_LOG_LEVEL", "warn");
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// SIGTERM while a request is still arriving: the request is finished and answered, then the
/// process exits 0, well within `shutdown_timeout`.
#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = env!("CARGO_BIN_EXE_tessera");
    let mut add = Command::new(bin);
    serve_env(&mut add, dir.path(), port);
    let out = add
        .args([
            "client",
            "add",
            "--name",
            "svc",
            "--type",
            "confidential",
            "--grant-type",
            "client_credentials",
            "--scope",
            "api",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client: Value = serde_json::from_slice(&out.stdout).unwrap();
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!(
            "{}:{}",
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str().unwrap()
        ),
    );

    let mut serve = Command::new(bin);
    serve_env(&mut serve, dir.path(), port);
    let mut child = serve
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while get(port, "/healthz").is_none_or(|r| !r.starts_with("HTTP/1.1 200")) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Half a token request now, the rest after SIGTERM.
    let body = "grant_type=client_credentials";
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        s,
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(700));
    assert!(child.try_wait().unwrap().is_none(), "exited mid-request");
    s.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("access_token"), "{answer}");

    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(15),
            "still running 15 s after the request finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}
