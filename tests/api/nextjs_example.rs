//! The Next.js example (examples/nextjs: Auth.js with Tessera as its OpenID Connect provider),
//! built once, started once per session strategy, and driven in headless Chromium: sign in
//! (PKCE, `resource`), call the API through the app, see the access token refreshed after it
//! expires, sign out at Tessera in another tab and find the app's session gone at its next
//! request (back-channel logout), see a revoked refresh-token family sign the user out, and
//! sign out from the app (RP-initiated logout). Needs Node.js and the example's packages:
//! `npm ci --prefix examples/nextjs` (tests/run does it); it fails, never skips, without them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::admin_look::look;
use crate::browser::{browser, chromedriver};
use crate::dual;
use crate::helpers::{Backend, PASSWORD, TestApp, TestClient, http_client, spawn_app_with};
use crate::resource_server::{ORDERS, OrdersApi, start_orders_api};

/// The access tokens' lifetime here: short, so that the test sees one refreshed, and long
/// enough that the logout step ends before a refresh is due (the app refreshes with a third of
/// the lifetime left), so that only back-channel logout can end the session there.
const TOKEN_TTL_SECS: u64 = 10;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nextjs")
}

/// `next build`, once per test run, whatever the number of tests using it.
async fn built() {
    static BUILT: OnceCell<()> = OnceCell::const_new();
    BUILT
        .get_or_init(|| async {
            tokio::task::spawn_blocking(build)
                .await
                .expect("build task");
        })
        .await;
}

fn build() {
    let dir = example_dir();
    // For iterating on this test only: reuse the last build.
    if std::env::var_os("NEXTJS_EXAMPLE_REUSE_BUILD").is_some()
        && dir.join(".next/BUILD_ID").exists()
    {
        return;
    }
    let next = dir.join("node_modules/next/dist/bin/next");
    assert!(
        next.exists(),
        "the Next.js example's packages are missing; install them: npm ci --prefix examples/nextjs \
         (needs node and npm: apt-get install -y nodejs npm)"
    );
    let start = Instant::now();
    let out = Command::new("node")
        .arg(&next)
        .arg("build")
        .current_dir(&dir)
        .env("NEXT_TELEMETRY_DISABLED", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}); install it: apt-get install -y nodejs npm")
        });
    assert!(
        out.status.success(),
        "next build failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("next build: {:.1} s", start.elapsed().as_secs_f64());
}

/// A running `next start`, killed when dropped.
struct NextApp {
    child: Child,
    url: String,
    data: tempfile::TempDir,
    client: TestClient,
}

impl Drop for NextApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NextApp {
    fn store(&self) -> Value {
        std::fs::read(self.data.path().join("store.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Registers the app at Tessera (a confidential, first-party web app allowed the orders API,
/// with its back-channel logout endpoint) and starts it with `strategy`.
async fn start_next(app: &TestApp, api: &OrdersApi, strategy: &str) -> NextApp {
    let port = free_port();
    // localhost, not 127.0.0.1: Next.js rewrites 127.0.0.1 to localhost in the URLs Auth.js
    // sees, and the redirect URI must be the same at /authorize and at /token.
    let url = format!("http://localhost:{port}");
    let client = app
        .create_client(tessera::oauth::client::RegistrationInput {
            name: format!("Orders web ({strategy})"),
            client_type: "confidential".into(),
            redirect_uris: vec![format!("{url}/api/auth/callback/tessera")],
            post_logout_redirect_uris: vec![format!("{url}/")],
            scope: Some("openid profile email offline_access orders.read".into()),
            first_party: true,
            backchannel_logout_uri: Some(format!("{url}/api/backchannel-logout")),
            ..Default::default()
        })
        .await;
    crate::apis::links(app, &client, &[ORDERS], &[], &[]).await;
    let data = tempfile::tempdir().expect("data dir");
    let dir = example_dir();
    #[allow(
        clippy::zombie_processes,
        reason = "NextApp::drop kills and waits for it"
    )]
    let child = Command::new("node")
        .arg(dir.join("node_modules/next/dist/bin/next"))
        .args(["start", "-H", "localhost", "-p", &port.to_string()])
        .current_dir(&dir)
        .env("NEXT_TELEMETRY_DISABLED", "1")
        .env("SESSION_STRATEGY", strategy)
        .env("TESSERA_ISSUER", &app.address)
        .env("TESSERA_CLIENT_ID", &client.id)
        .env("TESSERA_CLIENT_SECRET", client.secret())
        .env("API_IDENTIFIER", ORDERS)
        .env("API_URL", &api.url)
        .env("AUTH_URL", &url)
        .env(
            "AUTH_SECRET",
            uuid::Uuid::new_v4().simple().to_string().repeat(2),
        )
        .env("DATA_DIR", data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let next = NextApp {
        child,
        url,
        data,
        client,
    };
    let http = http_client();
    let start = Instant::now();
    loop {
        if let Ok(res) = http
            .get(format!("{}/api/auth/providers", next.url))
            .send()
            .await
            && res.status() == 200
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "next start did not answer on {}",
            next.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    next
}

async fn text_of(b: &Client, id: &str) -> String {
    match b
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id(id))
        .await
    {
        Ok(e) => e.text().await.expect("text"),
        Err(e) => {
            let url = b
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let html = b.source().await.unwrap_or_default();
            panic!("#{id} not found ({e}) at {url}:\n{html}")
        }
    }
}

async fn click(b: &Client, css: &str) {
    b.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} not found ({e})"))
        .click()
        .await
        .expect("click");
}

/// From the app's signed-out home page through Tessera's login form (unless Tessera's session
/// is still alive), back to the app.
async fn sign_in(b: &Client, next: &NextApp) {
    b.goto(&format!("{}/", next.url))
        .await
        .expect("open the app");
    click(b, "#sign-in").await;
    let landed = b
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#username, #who"))
        .await
        .expect("Tessera's login page or the app");
    if landed.attr("id").await.expect("id").as_deref() == Some("username") {
        landed.send_keys("alice").await.expect("type");
        b.find(Locator::Id("password"))
            .await
            .expect("password")
            .send_keys(PASSWORD)
            .await
            .expect("type");
        click(b, "button[type=submit]").await;
    }
    assert_eq!(text_of(b, "who").await, "alice Example");
}

/// Reloads the home page until `id` shows (a background delivery may take a moment).
async fn home_shows(b: &Client, next: &NextApp, id: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        b.goto(&format!("{}/", next.url)).await.expect("open");
        if b.find(Locator::Id(id)).await.is_ok() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "#{id} not shown within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn exp_shown(b: &Client) -> u64 {
    b.find(Locator::Id("token-exp"))
        .await
        .expect("exp")
        .attr("data-exp")
        .await
        .expect("attr")
        .and_then(|s| s.parse().ok())
        .expect("a number")
}

#[allow(
    clippy::disallowed_methods,
    reason = "compared with times the app (another process) shows"
)]
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// OpenID Connect Back-Channel Logout §2.6: the endpoint answers 400 to a logout token that
/// fails any check and ends nothing; a valid one for another sid ends only that one.
async fn forged_logout_tokens_are_refused(app: &TestApp, next: &NextApp, sid: &str) {
    let now = unix_now();
    let good = serde_json::json!({
        "iss": app.address, "aud": next.client.id, "iat": now, "exp": now + 120,
        "jti": uuid::Uuid::new_v4().to_string(), "sub": "someone", "sid": sid,
        "events": { LOGOUT_EVENT: {} },
    });
    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let without = |key: &str| {
        let mut c = good.clone();
        c.as_object_mut().expect("object").remove(key);
        c
    };
    let sign =
        |typ: &str, claims: &Value| crate::resource_server::signed_by_tessera(app, typ, claims);
    // Change the signature's first character: every bit of it counts (the last one may
    // carry only padding bits, which lenient base64url decoders ignore).
    let signed = sign("logout+jwt", &with("sub", "victim".into()));
    let cut = signed.rfind('.').expect("a JWS") + 1;
    let flipped = if signed[cut..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{flipped}{}", &signed[..cut], &signed[cut + 1..]);
    let bad = [
        ("a bad signature", tampered),
        (
            "another audience",
            sign("logout+jwt", &with("aud", "another-client".into())),
        ),
        (
            "another issuer",
            sign(
                "logout+jwt",
                &with("iss", "https://evil.example.com".into()),
            ),
        ),
        ("a nonce", sign("logout+jwt", &with("nonce", "n".into()))),
        ("no event", sign("logout+jwt", &without("events"))),
        (
            "another event",
            sign("logout+jwt", &with("events", serde_json::json!({"x": {}}))),
        ),
        ("no sid", sign("logout+jwt", &without("sid"))),
        ("no iat", sign("logout+jwt", &without("iat"))),
        (
            "an old iat",
            sign("logout+jwt", &with("iat", (now - 3600).into())),
        ),
        ("an ID token's typ", sign("JWT", &good)),
    ];
    let http = http_client();
    let post = |token: String| {
        http.post(format!("{}/api/backchannel-logout", next.url))
            .form(&[("logout_token", token)])
            .send()
    };
    for (what, token) in bad {
        let res = post(token).await.expect("POST");
        assert_eq!(res.status(), 400, "a logout token with {what} is refused");
    }
    let res = http
        .post(format!("{}/api/backchannel-logout", next.url))
        .form(&[("nothing", "")])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 400, "no logout_token");
    let other = sign("logout+jwt", &with("sid", "another-session".into()));
    assert_eq!(post(other).await.expect("POST").status(), 200);
    assert!(
        next.store()["revokedSids"].get(sid).is_none(),
        "nothing forged ended {sid}"
    );
}

async fn the_whole_flow(app: &TestApp, b: &Client, next: &NextApp, strategy: &str) {
    assert_eq!(
        text_of(b, "strategy").await,
        format!("session strategy: {strategy}")
    );
    sign_in(b, next).await;
    look(b, &format!("nextjs-{strategy}-home")).await;
    let cookie: usize = b
        .get_all_cookies()
        .await
        .expect("cookies")
        .iter()
        .filter(|c| c.name().contains("authjs.session-token"))
        .map(|c| c.name().len() + 1 + c.value().len())
        .sum();
    println!("session cookie ({strategy}): {cookie} bytes");
    let sid = text_of(b, "sid").await;
    assert!(!sid.is_empty());
    forged_logout_tokens_are_refused(app, next, &sid).await;
    b.refresh().await.expect("reload");
    assert_eq!(text_of(b, "sid").await, sid, "still signed in");
    assert_eq!(
        text_of(b, "token-aud").await,
        ORDERS,
        "RFC 8707: the token is for the API"
    );
    let first_jti = text_of(b, "token-jti").await;
    let exp = exp_shown(b).await;

    // The app calls the API from its server with the access token.
    click(b, "#call-api").await;
    assert_eq!(text_of(b, "api-status").await, "200");
    assert!(text_of(b, "api-body").await.contains("Teapot"));
    look(b, &format!("nextjs-{strategy}-call")).await;

    // Past the token's lifetime: the next request refreshes it (with a rotated refresh token).
    let wait = (exp + 1).saturating_sub(unix_now());
    tokio::time::sleep(Duration::from_secs(wait)).await;
    b.goto(&format!("{}/", next.url)).await.expect("open");
    let refreshed_jti = text_of(b, "token-jti").await;
    assert_ne!(refreshed_jti, first_jti, "a new access token");
    assert!(exp_shown(b).await > unix_now(), "and it is live");
    click(b, "#call-api").await;
    assert_eq!(
        text_of(b, "api-status").await,
        "200",
        "the API takes the new token"
    );

    // Signing out at Tessera, in another tab: the back-channel logout ends the app's session.
    b.goto(&format!("{}/", next.url)).await.expect("open");
    let live_until = exp_shown(b).await;
    let app_tab = b.window().await.expect("window");
    let tab = b.new_window(true).await.expect("new tab");
    b.switch_to_window(tab.handle).await.expect("switch");
    b.goto(&app.url("/account"))
        .await
        .expect("Tessera's account page");
    click(b, "form[action='/logout'] button").await;
    // Close the tab only once Tessera has answered: closing it earlier can cancel the POST.
    let clicked = Instant::now();
    while b.find(Locator::Css("form[action='/logout']")).await.is_ok() {
        assert!(
            clicked.elapsed() < Duration::from_secs(20),
            "the logout form stays"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.close_window().await.expect("close tab");
    b.switch_to_window(app_tab).await.expect("back");
    let started = Instant::now();
    let ended = loop {
        let store = next.store();
        let gone = match strategy {
            "database" => store["sessions"].as_object().is_some_and(|s| s.is_empty()),
            _ => store["revokedSids"].get(&sid).is_some(),
        };
        if gone {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no back-channel logout: {store}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "back-channel logout ({strategy}): app session ended {:.2} s after Tessera's",
        ended.as_secs_f64()
    );
    // The very next request finds the session gone (before the access token expires).
    b.goto(&format!("{}/", next.url)).await.expect("open");
    text_of(b, "signed-out").await;
    assert!(
        unix_now() + TOKEN_TTL_SECS / 3 < live_until,
        "the logout step took too long to tell back-channel logout from a failed refresh"
    );
    look(b, &format!("nextjs-{strategy}-signed-out")).await;

    // A refresh-token family revoked at Tessera: the next refresh fails, the user is signed
    // out (database strategy: the test can read the refresh token from the app's store).
    sign_in(b, next).await;
    if strategy == "database" {
        let store = next.store();
        let session = store["sessions"]
            .as_object()
            .and_then(|s| s.values().next())
            .cloned()
            .expect("a session");
        let rt = session["tokens"]["refreshToken"]
            .as_str()
            .expect("refresh token");
        let res = app.revoke(&next.client, rt).await;
        assert_eq!(res.status(), 200);
        let shown = home_shows(
            b,
            next,
            "signed-out",
            Duration::from_secs(TOKEN_TTL_SECS + 5),
        )
        .await;
        println!(
            "revoked family (database): signed out after {:.1} s",
            shown.as_secs_f64()
        );
        assert!(
            next.store()["sessions"]
                .as_object()
                .is_some_and(|s| s.is_empty())
        );
        sign_in(b, next).await;
    }

    // RP-initiated logout from the app: the app's session and Tessera's both end.
    click(b, "#sign-out").await;
    text_of(b, "signed-out").await;
    b.goto(&app.url("/account"))
        .await
        .expect("Tessera's account page");
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("username"))
        .await
        .expect("signed out at Tessera too: the login form");
}

async fn the_nextjs_example_signs_in_refreshes_and_signs_out_with_both_strategies(
    backend: Backend,
) {
    let built = built();
    // A loaded CI machine (the whole suite on two cores) can starve the key rescan and the
    // app's answer to a delivery: keys resynced often, and deliveries given time.
    let app = spawn_app_with(backend, |s| {
        s.key_rescan_interval = Duration::from_millis(200);
        s.backchannel_logout_timeout = Duration::from_secs(10);
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    let api = start_orders_api(&app, Some(&format!("{TOKEN_TTL_SECS}s"))).await;
    built.await;
    let driver = chromedriver().await;
    for strategy in ["jwt", "database"] {
        let next = start_next(&app, &api, strategy).await;
        let b = browser(&driver).await;
        b.goto(&format!("{}/", next.url)).await.expect("open");
        let start = Instant::now();
        the_whole_flow(&app, &b, &next, strategy).await;
        println!(
            "nextjs example ({backend:?}, {strategy}): {:.1} s",
            start.elapsed().as_secs_f64()
        );
        b.close().await.expect("close");
    }
    api.stop().await;
}

dual!(the_nextjs_example_signs_in_refreshes_and_signs_out_with_both_strategies);
