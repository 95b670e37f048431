//! The console's charts (issue 15): counts from every node summed per hour, a client's own
//! chart, the hourly gauges; and the first administrator: the hint on `/admin` and in the log
//! of `serve` while there are no users.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tessera::admin::activity::hour_of;
use tessera::config::Settings;

use crate::admin::{Enrolled, between, enrol_admin};
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestDb, http_client, location, spawn_app, spawn_app_with,
    spawn_node_with,
};

/// No periodic flush during a test: each test flushes the recorders itself.
fn flush_by_hand(s: &mut Settings) {
    s.audit_issuance_interval = Duration::from_secs(3600);
    // Two failures, then the account waits: the third bad password is throttled.
    s.login_max_failures = 2;
}

async fn flush(app: &TestApp) {
    tessera::startup::activity_recorder(&app.state)
        .flush()
        .await
        .expect("the counts are written");
}

async fn page(app: &TestApp, admin: &Enrolled, path: &str) -> String {
    let res = admin.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {path}");
    res.text().await.unwrap()
}

/// The numbers table of the chart `id`: series name → value in the row of `hour`.
fn chart_row(html: &str, id: &str, hour: i64) -> HashMap<String, String> {
    let figure = between(
        html,
        &format!(r#"<figure class="chart" id="{id}">"#),
        "</figure>",
    );
    assert!(figure.contains(r#"role="img""#), "{figure}");
    let head = between(figure, "<thead>", "</thead>");
    let names: Vec<&str> = head
        .split(r#"<th scope="col">"#)
        .skip(2)
        .map(|s| s.split("</th>").next().unwrap())
        .collect();
    let at = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(hour).unwrap()),
    )
    .to_string();
    let row = between(figure, &format!(r#"datetime="{at}""#), "</tr>");
    let cells: Vec<&str> = row
        .split("<td>")
        .skip(1)
        .map(|s| s.split("</td>").next().unwrap())
        .collect();
    assert_eq!(names.len(), cells.len(), "{row}");
    names
        .into_iter()
        .map(String::from)
        .zip(cells.into_iter().map(String::from))
        .collect()
}

fn cell<'a>(row: &'a HashMap<String, String>, name: &str) -> &'a str {
    row.get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no column {name} in {row:?}"))
}

/// Sign-ins and token requests on two nodes of one deployment: the dashboard and the client
/// page show the sum of what both counted, per hour.
async fn the_charts_show_what_every_node_counted(backend: Backend) {
    let app = spawn_app_with(backend, flush_by_hand).await;
    let issuer = app.address.clone();
    let node = spawn_node_with(&app, move |s| {
        s.issuer = issuer;
        flush_by_hand(s);
    })
    .await;
    let hour = hour_of(app.clock.now());
    let admin = enrol_admin(&app).await;
    app.create_user("bob", PASSWORD).await;

    // Outcomes as the login form answered them: 303 signed in, 401 failed, 429 throttled.
    let mut outcomes: HashMap<&str, u64> = HashMap::from([("succeeded", 1)]); // the admin
    let attempts = [
        (&app, PASSWORD),
        (&node, PASSWORD),
        (&node, "wrong password"),
        (&app, "wrong password"),
        (&node, "wrong password"),
        (&app, "wrong password"),
    ];
    for (on, password) in attempts {
        let res = on.login_as(&http_client(), "bob", password).await;
        let outcome = match res.status() {
            StatusCode::SEE_OTHER => "succeeded",
            StatusCode::UNAUTHORIZED => "failed",
            StatusCode::TOO_MANY_REQUESTS => "throttled",
            other => panic!("{other}"),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    assert_eq!(outcomes.get("failed"), Some(&2), "{outcomes:?}");
    assert_eq!(outcomes.get("throttled"), Some(&2), "{outcomes:?}");

    let billing = app.create_service_client("api").await;
    let reports = app.create_service_client("api").await;
    for _ in 0..2 {
        app.access_token(&billing).await;
    }
    for _ in 0..3 {
        node.access_token(&billing).await;
    }
    node.access_token(&reports).await;
    // A refused request counts nothing.
    let res = node
        .post_token_basic(
            &reports.id,
            "not the secret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    flush(&app).await;
    flush(&node).await;
    // Flushing again adds nothing: each count is written once.
    flush(&app).await;
    flush(&node).await;
    if hour_of(app.clock.now()) != hour {
        eprintln!("the hour turned during the test; its counts are split, not checked");
        return;
    }

    let html = page(&app, &admin, "/admin").await;
    assert_eq!(between(&html, r#"id="count-tokens">"#, "</dd>"), "6");
    assert!(
        html.contains("<tr><td>client_credentials</td><td>6</td></tr>"),
        "{html}"
    );
    let tokens = chart_row(&html, "chart-tokens-24h", hour);
    assert_eq!(cell(&tokens, "client_credentials"), "6");
    assert!(html.contains(&format!(
        "<title>{}: client_credentials 6</title>",
        tessera::admin::charts::Bucket {
            start: hour,
            label: String::new()
        }
        .display()
    )));
    let week_bucket =
        hour.div_euclid(tessera::admin::stats::WEEK_BUCKET) * tessera::admin::stats::WEEK_BUCKET;
    let week = chart_row(&html, "chart-tokens-7d", week_bucket);
    assert_eq!(cell(&week, "client_credentials"), "6");

    let logins = chart_row(&html, "chart-logins-24h", hour);
    for outcome in ["succeeded", "failed", "throttled"] {
        assert_eq!(
            cell(&logins, outcome),
            outcomes[outcome].to_string(),
            "{outcome}: {logins:?}"
        );
    }

    // The gauges were sampled once, by the first node that flushed this hour.
    let now = app.clock.now();
    let sessions = app
        .state
        .store
        .count_live_sessions(now, now - app.state.session_lifetimes.idle_secs)
        .await
        .unwrap();
    assert_eq!(sessions, 3, "the admin's and bob's two");
    let gauges = chart_row(&html, "chart-gauges", hour);
    assert_eq!(cell(&gauges, "active sessions"), "3");
    assert_eq!(
        cell(&gauges, "live revocations"),
        app.state.revocations.len().to_string()
    );
    let earlier = chart_row(&html, "chart-gauges", hour - 3600);
    assert_eq!(cell(&earlier, "active sessions"), "–", "not sampled then");

    // Each client's page charts its own tokens only.
    let html = page(&app, &admin, &format!("/admin/clients/{}", billing.id)).await;
    let own = chart_row(&html, "chart-client-tokens", hour);
    assert_eq!(cell(&own, "client_credentials"), "5");
    let html = page(&app, &admin, &format!("/admin/clients/{}", reports.id)).await;
    let own = chart_row(&html, "chart-client-tokens", hour);
    assert_eq!(cell(&own, "client_credentials"), "1");
    assert!(html.contains(&format!("Tokens issued to {}", reports.id)));
}

/// A client that never got a token: its chart is there, and says there is nothing to show.
async fn a_client_without_tokens_has_an_empty_chart(backend: Backend) {
    let app = spawn_app_with(backend, flush_by_hand).await;
    let admin = enrol_admin(&app).await;
    let idle = app.create_service_client("api").await;
    flush(&app).await;
    let html = page(&app, &admin, &format!("/admin/clients/{}", idle.id)).await;
    let figure = between(
        &html,
        r#"<figure class="chart" id="chart-client-tokens">"#,
        "</figure>",
    );
    assert!(figure.contains("No data in this period"), "{figure}");
    assert!(!figure.contains("<table"), "{figure}");
}

/// The counts of hours older than the audit retention go with the purge.
async fn the_purge_drops_activity_older_than_the_audit_retention(backend: Backend) {
    let app = spawn_app_with(backend, flush_by_hand).await;
    let c = app.create_service_client("api").await;
    app.access_token(&c).await;
    flush(&app).await;
    let retention = i64::try_from(app.state.settings.audit_retention.as_secs()).unwrap();
    let old = hour_of(app.clock.now() - retention) - 3600;
    app.state
        .store
        .add_activity(&[tessera::store::ActivityCount {
            hour: old,
            kind: "token:client_credentials".into(),
            client_id: c.id.clone(),
            count: 4,
        }])
        .await
        .unwrap();
    let policy = tessera::purge::Policy::from_settings(&app.state.settings);
    let outcome = tessera::purge::run_once(&app.state.store, policy, app.clock.now())
        .await
        .unwrap();
    let tessera::purge::Outcome::Ran(purged) = outcome else {
        panic!("skipped")
    };
    assert_eq!(purged.activity_hourly, 1);
    let left = app
        .state
        .store
        .client_activity_since(&c.id, 0)
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].hour, hour_of(app.clock.now()));
}

/// Before the first user exists nobody can sign in: `/admin` says how to create the first
/// administrator instead of sending the visitor to a login form.
async fn the_console_tells_how_to_create_the_first_administrator(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/admin").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(
            r#"<pre id="first-admin-command"><code>tessera user add NAME --admin</code></pre>"#
        ),
        "{html}"
    );
    assert!(!html.contains(r#"name="password""#), "no login form");

    app.create_user("root", PASSWORD).await;
    let res = app.get("/admin").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?return_to=%2Fadmin");
    let html = app.get("/login").await.text().await.unwrap();
    assert!(!html.contains("tessera user add"), "{html}");
}

/// `tessera serve` with `dir` as its data directory and the database of `db`, logging at info.
fn serve(db: &TestDb, dir: &std::path::Path, port: u16) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .env("DATABASE_URL", &db.url)
        .env("TESSERA_KEYS_DIR", dir.join("keys"))
        .env("TESSERA_BIND", format!("127.0.0.1:{port}"))
        .env("TESSERA_ISSUER", format!("http://127.0.0.1:{port}"))
        .env("TESSERA_LOG_LEVEL", "info")
        .env("NO_COLOR", "1")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tessera serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// The log lines up to the one that names the console (the last of what `serve` says at start).
fn start_lines(child: &mut Child, lines: &mpsc::Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains("admin console");
                seen.push(line);
                // The hint, if any, comes right after the console's URL.
                if done {
                    if let Ok(next) = lines.recv_timeout(Duration::from_secs(2)) {
                        seen.push(next);
                    }
                    return seen;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("no console URL in the log: {seen:#?}");
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What `serve` on `db` logs at start, up to the console's URL (and the line after it); the
/// port it listened on.
fn start_log(db: &TestDb, dir: &std::path::Path) -> (String, u16) {
    let port = free_port();
    let (mut child, lines) = serve(db, dir, port);
    let log = start_lines(&mut child, &lines).join("\n");
    child.kill().unwrap();
    child.wait().unwrap();
    (log, port)
}

/// `serve` logs where the login page and the console are, and, until a user exists, how to
/// create the first administrator.
async fn serve_logs_the_console_and_the_first_administrator_hint(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let (log, port) = start_log(&db, dir.path());
    assert!(
        log.contains(&format!("http://127.0.0.1:{port}/login")),
        "{log}"
    );
    assert!(
        log.contains(&format!("http://127.0.0.1:{port}/admin")),
        "{log}"
    );
    assert!(
        log.contains(
            "no users yet: create the first administrator with `tessera user add NAME --admin`"
        ),
        "{log}"
    );

    let mut add = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_clear()
        .current_dir(dir.path())
        .env("DATABASE_URL", &db.url)
        .env("TESSERA_LOG_LEVEL", "warn")
        .args(["user", "add", "root", "--admin", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (log, port) = start_log(&db, dir.path());
    assert!(
        log.contains(&format!("http://127.0.0.1:{port}/admin")),
        "{log}"
    );
    assert!(!log.contains("no users yet"), "{log}");
}

dual!(
    the_charts_show_what_every_node_counted,
    a_client_without_tokens_has_an_empty_chart,
    the_purge_drops_activity_older_than_the_audit_retention,
    the_console_tells_how_to_create_the_first_administrator,
    serve_logs_the_console_and_the_first_administrator_hint,
);
