//! A new administrator walks the whole console in headless Chromium, at desktop (1280×800) and
//! phone (390×844) sizes, in light and dark colour schemes: dashboard → users → a user →
//! clients → register → a client → sessions → a session → revocations → keys → audit. On every
//! page the document does not overflow sideways, an axe-core pass finds no serious or critical
//! violation, and the charts carry the numbers of the sign-ins and token requests made before.
//! Screenshots land in `target/screens/walk/` for review.
//!
//! axe-core comes from the npm registry: `.ci/run` runs `npm ci --prefix tests/browser`; the
//! test fails with that command when it is missing (it never skips).

use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::browser::{browser, chromedriver};
use crate::dual;
use crate::helpers::{Backend, PASSWORD, TestApp, http_client, spawn_app_with};

const SIZES: [(&str, u32, u32); 2] = [("desktop", 1280, 800), ("phone", 390, 844)];

pub(crate) fn axe_source() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/browser/node_modules/axe-core/axe.min.js"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; install the browser tests' packages: npm ci --prefix tests/browser")
    })
}

/// Chromedriver's door to the DevTools protocol, for what WebDriver has no command for (the
/// `prefers-color-scheme` media feature).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

async fn colour_scheme(b: &Client, scheme: &str) {
    b.issue_cmd(Cdp {
        cmd: "Emulation.setEmulatedMedia",
        params: json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
    })
    .await
    .expect("emulate the colour scheme");
}

/// Serious or critical axe-core violations on the current page, as readable lines.
pub(crate) async fn axe_violations(b: &Client, axe: &str) -> Vec<String> {
    b.execute(axe, vec![]).await.expect("inject axe-core");
    let found = b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(
               r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' +
                   v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("run axe-core");
    serde_json::from_value(found).expect("a list of violations")
}

/// Looks at the page as a person would, at every size and in both schemes.
async fn look(b: &Client, axe: &str, name: &str, backend: Backend) -> Vec<String> {
    let mut problems = Vec::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/screens/walk");
    std::fs::create_dir_all(dir).expect("screenshot folder");
    for scheme in ["light", "dark"] {
        colour_scheme(b, scheme).await;
        for (size, width, height) in SIZES {
            b.set_window_size(width, height).await.expect("resize");
            let widths = b
                .execute(
                    "return [document.documentElement.scrollWidth, window.innerWidth];",
                    vec![],
                )
                .await
                .expect("measure");
            let widths: (i64, i64) = serde_json::from_value(widths).expect("two widths");
            if widths.0 > widths.1 {
                // Name the innermost elements that stick out, so a failure says what to fix.
                let culprits = b
                    .execute(
                        "const out = e => e.getBoundingClientRect().right > window.innerWidth + 1;
                         const inBox = e => {
                           for (let p = e.parentElement; p && p !== document.body; p = p.parentElement)
                             if (getComputedStyle(p).overflowX !== 'visible') return true;
                           return false;
                         };
                         return [...document.querySelectorAll('body *')]
                           .filter(e => !inBox(e) && !e.closest('nav') &&
                             (out(e) || e.scrollWidth > e.clientWidth + 1 &&
                               getComputedStyle(e).overflowX === 'visible'))
                           .slice(-6)
                           .map(e => e.tagName.toLowerCase() + '.' + e.className + ' in ' +
                             e.parentElement.tagName.toLowerCase() + '.' + e.parentElement.className +
                             ' ' + Math.round(e.getBoundingClientRect().right) + ' ' + e.scrollWidth + '/' + e.clientWidth);",
                        vec![],
                    )
                    .await
                    .expect("find what sticks out");
                problems.push(format!(
                    "{name} ({size}, {scheme}): the page is {} px wide in a {} px window: {culprits}",
                    widths.0, widths.1
                ));
            }
            let png = b.screenshot().await.expect("screenshot");
            std::fs::write(format!("{dir}/{backend:?}-{name}-{size}-{scheme}.png"), png)
                .expect("save the screenshot");
            for v in axe_violations(b, axe).await {
                problems.push(format!("{name} ({size}, {scheme}): {v}"));
            }
        }
    }
    problems
}

async fn visit(b: &Client, app: &TestApp, path: &str) {
    b.goto(&app.url(path))
        .await
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    assert_eq!(
        b.current_url().await.expect("url").path(),
        path.split('?').next().unwrap_or(path),
        "{path} redirected"
    );
}

/// The numbers behind a chart, from its data table: the sum of every cell that is a number.
async fn chart_total(b: &Client, id: &str) -> u64 {
    let chart = b
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("chart {id}: {e}"));
    let bars = chart
        .find_all(Locator::Css(
            "svg [class^='series-'], svg [class*=' series-']",
        ))
        .await
        .expect("bars");
    let cells = chart
        .find_all(Locator::Css("details.chart-data td"))
        .await
        .expect("the chart's numbers");
    let mut total = 0;
    for cell in cells {
        // Hidden in a closed <details>: read the DOM's text, not the rendered text.
        let text = cell
            .prop("textContent")
            .await
            .expect("cell text")
            .unwrap_or_default();
        total += text.trim().parse::<u64>().unwrap_or(0);
    }
    assert!(
        total == 0 || !bars.is_empty(),
        "chart {id} has numbers but draws no bar"
    );
    total
}

async fn a_new_administrator_walks_the_console_at_both_sizes(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.admin_require_totp = false;
        s.audit_issuance_interval = Duration::from_secs(1);
    })
    .await;
    let admin = app.create_user("root", PASSWORD).await;
    app.state
        .store
        .set_user_roles(&admin.id, "admin", app.clock.now())
        .await
        .expect("make root an admin");
    let alice = app.create_user("alice", PASSWORD).await;

    // Activity for the charts: sign-ins that pass and fail, and tokens for a service.
    let visitor = http_client();
    app.login_as(&visitor, "alice", PASSWORD).await;
    app.login_as(&http_client(), "alice", "not the password")
        .await;
    let service = app.create_service_client("reports.read").await;
    for _ in 0..3 {
        app.access_token(&service).await;
    }

    let axe = axe_source();
    let driver = chromedriver().await;
    let b = browser(&driver).await;
    b.goto(&app.url("/admin")).await.expect("open /admin");
    assert_eq!(b.current_url().await.expect("url").path(), "/login");
    for (field, text) in [("username", "root"), ("password", PASSWORD)] {
        b.find(Locator::Id(field))
            .await
            .expect("login field")
            .send_keys(text)
            .await
            .expect("type");
    }
    b.find(Locator::Css("form[action='/login'] button[type=submit]"))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("click");
    b.wait()
        .for_element(Locator::Id("count-users"))
        .await
        .expect("the dashboard");

    // Counts reach the charts from every node's recorder within its interval.
    let mut waited = 0;
    loop {
        visit(&b, &app, "/admin").await;
        let tokens = chart_total(&b, "chart-tokens-24h").await;
        let logins = chart_total(&b, "chart-logins-24h").await;
        if tokens >= 3 && logins >= 3 {
            assert!(chart_total(&b, "chart-tokens-7d").await >= 3);
            break;
        }
        waited += 1;
        assert!(
            waited < 60,
            "the charts never showed the activity: {tokens} tokens, {logins} sign-ins"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut problems = look(&b, &axe, "dashboard", backend).await;

    visit(&b, &app, "/admin/users").await;
    problems.extend(look(&b, &axe, "users", backend).await);
    visit(&b, &app, &format!("/admin/users/{}", alice.id)).await;
    problems.extend(look(&b, &axe, "user", backend).await);

    visit(&b, &app, "/admin/clients").await;
    problems.extend(look(&b, &axe, "clients", backend).await);
    visit(&b, &app, "/admin/clients/new").await;
    problems.extend(look(&b, &axe, "register", backend).await);
    for (field, text) in [
        ("name", "Walk-made client"),
        ("grant_types", "client_credentials"),
        ("scope", "reports.read"),
    ] {
        b.find(Locator::Id(field))
            .await
            .unwrap_or_else(|e| panic!("field {field}: {e}"))
            .send_keys(text)
            .await
            .expect("type");
    }
    b.find(Locator::Css(
        "form[action='/admin/clients'] button[type=submit]",
    ))
    .await
    .expect("the register button")
    .click()
    .await
    .expect("click");
    b.wait()
        .for_element(Locator::Id("client-secret"))
        .await
        .expect("the new client's secret");

    visit(&b, &app, &format!("/admin/clients/{}", service.id)).await;
    assert!(
        chart_total(&b, "chart-client-tokens").await >= 3,
        "the client's own chart shows its tokens"
    );
    problems.extend(look(&b, &axe, "client", backend).await);

    visit(&b, &app, "/admin/sessions").await;
    problems.extend(look(&b, &axe, "sessions", backend).await);
    let session_link = b
        .find(Locator::Css("a[href^='/admin/sessions/']"))
        .await
        .expect("a link to a session's page")
        .attr("href")
        .await
        .expect("href")
        .expect("a session link");
    visit(&b, &app, &session_link).await;
    problems.extend(look(&b, &axe, "session", backend).await);

    visit(&b, &app, "/admin/revocations").await;
    problems.extend(look(&b, &axe, "revocations", backend).await);
    visit(&b, &app, "/admin/keys").await;
    problems.extend(look(&b, &axe, "keys", backend).await);
    visit(&b, &app, "/admin/audit").await;
    problems.extend(look(&b, &axe, "audit", backend).await);

    b.close().await.expect("close");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

dual!(a_new_administrator_walks_the_console_at_both_sizes);
