//! What an administrator sees: every console page, the sign-in and two-factor pages, opened in
//! headless Chromium at a desktop size (1280×800) and a phone size (390×844). The page never
//! scrolls sideways, the navigation marks where you are, times are shown in the browser's zone
//! with UTC in their tooltip, and a screenshot of each page lands in `target/screens/` for people
//! to look at.

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use reqwest::header;

use crate::admin::ADMIN;
use crate::admin_browser::{enrol_totp, fill, submit};
use crate::browser::{browser, browser_with, chromedriver};
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestClient, code_flow_client, http_client, spawn_app,
};

const SIZES: [(&str, u32, u32); 2] = [("desktop", 1280, 800), ("phone", 390, 844)];

fn screens_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screens");
    std::fs::create_dir_all(&dir).expect("target/screens");
    dir
}

/// Sizes the window so that the page's viewport (not the window) is `width`×`height`.
async fn viewport(b: &Client, width: u32, height: u32) {
    b.set_window_size(width, height).await.expect("resize");
    let inner = b
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .expect("inner size");
    let (w, h) = (inner[0].as_u64().unwrap(), inner[1].as_u64().unwrap());
    if (w, h) != (u64::from(width), u64::from(height)) {
        let dw = u64::from(width) + u64::from(width) - w;
        let dh = u64::from(height) + u64::from(height) - h;
        b.set_window_size(dw as u32, dh as u32)
            .await
            .expect("resize");
    }
}

/// At each size: no sideways scrolling of the page; a screenshot of the first screen and one of
/// the whole page.
pub(crate) async fn look(b: &Client, name: &str) {
    for (size, width, height) in SIZES {
        viewport(b, width, height).await;
        let widths = b
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth]",
                vec![],
            )
            .await
            .expect("widths");
        let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            scroll <= inner,
            "{name} at {size}: the page is {scroll} px wide in a {inner} px window"
        );
        let png = b.screenshot().await.expect("screenshot");
        std::fs::write(screens_dir().join(format!("{name}-{size}.png")), png).expect("write");
        let full = b
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .expect("height")
            .as_u64()
            .unwrap();
        if full > u64::from(height) {
            viewport(b, width, full.min(4000) as u32).await;
            let png = b.screenshot().await.expect("screenshot");
            std::fs::write(screens_dir().join(format!("{name}-{size}-full.png")), png)
                .expect("write");
        }
    }
    viewport(b, 1280, 800).await;
}

/// Opens a console page, checks the navigation's current entry, and looks at it.
async fn visit(b: &Client, app: &TestApp, path: &str, name: &str, current: Option<&str>) {
    b.goto(&app.url(path)).await.expect("open");
    assert_eq!(
        b.current_url().await.unwrap().path(),
        path.split('?').next().unwrap()
    );
    let marked: Vec<String> = {
        let mut texts = Vec::new();
        for a in b
            .find_all(Locator::Css("nav.side-nav a[aria-current='page']"))
            .await
            .unwrap()
        {
            texts.push(a.prop("textContent").await.unwrap().unwrap_or_default());
        }
        texts.sort();
        texts.dedup();
        texts
    };
    let expected: Vec<String> = current.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        marked, expected,
        "{path}: the navigation marks the current page"
    );
    let title = b.title().await.unwrap();
    assert!(title.ends_with("· Tessera admin"), "{path}: {title}");
    look(b, name).await;
}

/// Some life for the pages: users (one disabled, one with a long name), clients, sessions, tokens
/// and the audit entries all that leaves.
async fn populate(app: &TestApp) -> (String, TestClient, TestClient) {
    let bob = app.create_user("bob", PASSWORD).await;
    app.create_user("carol.with-a-rather-long-name", PASSWORD)
        .await;
    let dave = app.create_user("dave", PASSWORD).await;
    app.state
        .store
        .set_user_disabled(&dave.id, true, app.clock.now())
        .await
        .unwrap();
    for _ in 0..2 {
        app.login_as(&http_client(), "bob", PASSWORD).await;
    }
    let web = app
        .create_client(tessera::oauth::client::RegistrationInput {
            name: "Billing web app".into(),
            redirect_uris: vec![
                "https://billing.example.com/oauth/callback".into(),
                "https://billing.example.com/a/very/long/path/to/see/how/a/long/uri/wraps/on/a/phone".into(),
            ],
            ..code_flow_client("confidential")
        })
        .await;
    let service = app.create_service_client("reports.read").await;
    for _ in 0..3 {
        app.access_token(&service).await;
    }
    app.create_resource_server_client().await;
    crate::apis::register_for_the_console(app, &web).await;
    app.login_as(&http_client(), "bob", "a wrong password")
        .await;
    (bob.id, web, service)
}

async fn the_console_fits_desktop_and_phone_screens_and_marks_where_you_are(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.create_user(ADMIN, PASSWORD).await;
    app.state
        .store
        .set_user_roles(&root.id, "admin", app.clock.now())
        .await
        .unwrap();
    let (bob, web, service) = populate(&app).await;
    let driver = chromedriver().await;
    let b = browser(&driver).await;

    // Sign in, enrol TOTP, see the recovery codes.
    b.goto(&app.url("/admin")).await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/login");
    look(&b, "login").await;
    fill(&b, "username", ADMIN).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    b.wait()
        .for_element(Locator::Id("totp-secret"))
        .await
        .expect("the enrolment page");
    look(&b, "mfa-enrol").await;
    enrol_totp(&b, &app).await;
    look(&b, "mfa-recovery").await;

    let pages = [
        ("/admin".to_string(), "dashboard", Some("Dashboard")),
        ("/admin/users".into(), "users", Some("Users")),
        ("/admin/users?q=bo".into(), "users-search", Some("Users")),
        (format!("/admin/users/{bob}"), "user", Some("Users")),
        ("/admin/users/new".into(), "user-new", Some("Users")),
        ("/admin/clients".into(), "clients", Some("Clients")),
        (
            format!("/admin/clients/{}", web.id),
            "client",
            Some("Clients"),
        ),
        ("/admin/clients/new".into(), "client-new", Some("Clients")),
        (
            format!("/admin/clients/{}/edit", web.id),
            "client-edit",
            Some("Clients"),
        ),
        (
            format!("/admin/clients/{}/apis", web.id),
            "client-apis",
            Some("Clients"),
        ),
        ("/admin/apis".into(), "apis", Some("APIs")),
        ("/admin/apis/new".into(), "api-new", Some("APIs")),
        (
            format!("/admin/apis/show?identifier={}", crate::apis::LONG_ENCODED),
            "api",
            Some("APIs"),
        ),
        (
            format!(
                "/admin/apis/remove?identifier={}",
                crate::apis::LONG_ENCODED
            ),
            "confirm-api-remove",
            Some("APIs"),
        ),
        ("/admin/sessions".into(), "sessions", Some("Sessions")),
        (
            "/admin/revocations".into(),
            "revocations",
            Some("Revocations"),
        ),
        ("/admin/keys".into(), "keys", Some("Keys")),
        ("/admin/audit".into(), "audit", Some("Audit log")),
        (
            "/admin/audit?actor=user%3Abob&action=login".into(),
            "audit-filtered",
            Some("Audit log"),
        ),
        (
            format!("/admin/users/{bob}/admin"),
            "confirm",
            Some("Users"),
        ),
        (
            "/admin/reauth?return_to=%2Fadmin%2Fusers".into(),
            "reauth",
            Some("Users"),
        ),
    ];
    for (path, name, current) in &pages {
        visit(&b, &app, path, name, *current).await;
    }

    // Revoke a client's tokens by hand: the confirmation names what happens; the list shows it.
    b.goto(&app.url("/admin/revocations")).await.unwrap();
    b.find(Locator::Id("kind"))
        .await
        .unwrap()
        .select_by_value("client")
        .await
        .unwrap();
    fill(&b, "value", &service.id).await;
    submit(&b, "/admin/revocations").await;
    let message = b
        .wait()
        .for_element(Locator::Id("confirm-message"))
        .await
        .expect("the confirmation page")
        .text()
        .await
        .unwrap();
    assert!(message.contains(&service.id), "{message}");
    look(&b, "confirm-revoke").await;
    submit(&b, "/admin/revocations").await;
    b.wait()
        .for_element(Locator::Css("#revocations tbody tr"))
        .await
        .expect("the new entry");
    look(&b, "revocations-one").await;

    // Stage a key: the confirmation says when it signs; the page then shows it as next, with
    // its times and its actions, at both sizes without sideways scrolling.
    b.goto(&app.url("/admin/keys")).await.unwrap();
    b.find(Locator::Id("alg"))
        .await
        .unwrap()
        .select_by_value("ES256")
        .await
        .unwrap();
    submit(&b, "/admin/keys/rotate").await;
    let message = b
        .wait()
        .for_element(Locator::Id("confirm-message"))
        .await
        .expect("the confirmation page")
        .text()
        .await
        .unwrap();
    assert!(message.contains("Stage a new ES256 key?"), "{message}");
    look(&b, "confirm-key-stage").await;
    submit(&b, "/admin/keys/rotate").await;
    b.wait()
        .for_element(Locator::Css("#keys button.secondary"))
        .await
        .expect("the next key's Promote button");
    look(&b, "keys-staged").await;

    // The filters keep their values, and so do the pager's links.
    b.goto(&app.url("/admin/audit?actor=user%3Abob&action=login"))
        .await
        .unwrap();
    let actor = b.find(Locator::Id("actor")).await.unwrap();
    assert_eq!(
        actor.prop("value").await.unwrap().as_deref(),
        Some("user:bob")
    );

    // Times: the browser's zone in the text, UTC in the tooltip (admin.js ran).
    b.goto(&app.url("/admin/audit")).await.unwrap();
    let time = b.find(Locator::Css("time.local")).await.expect("a time");
    let datetime = time.attr("datetime").await.unwrap().unwrap();
    assert!(
        datetime.ends_with('Z') && datetime.contains('T'),
        "{datetime}"
    );
    // The server writes UTC to the minute: `2026-12-02 05:00 UTC`.
    let utc = format!("{} UTC", datetime[..16].replace('T', " "));
    let title = time.attr("title").await.unwrap().expect("a UTC tooltip");
    assert!(title.starts_with(&utc), "{title} starts with {utc}");
    assert_ne!(time.text().await.unwrap(), utc, "the text is rewritten");

    // The phone's menu opens without a script.
    viewport(&b, 390, 844).await;
    b.goto(&app.url("/admin/users")).await.unwrap();
    let menu = b.find(Locator::Css("details.menu summary")).await.unwrap();
    assert!(menu.is_displayed().await.unwrap());
    menu.click().await.unwrap();
    let users = b
        .find(Locator::Css("details.menu a[href='/admin/clients']"))
        .await
        .unwrap();
    assert!(users.is_displayed().await.unwrap());
    look(&b, "menu-open").await;

    // The same pages in dark mode, signed in with the first browser's cookies.
    let dark = browser_with(&driver, &["--blink-settings=preferredColorScheme=0"]).await;
    dark.goto(&app.url("/login")).await.unwrap();
    look(&dark, "dark-login").await;
    for cookie in b.get_all_cookies().await.unwrap() {
        dark.add_cookie(cookie).await.unwrap();
    }
    let dark_pages = [
        ("/admin".to_string(), "dark-dashboard", Some("Dashboard")),
        ("/admin/users".into(), "dark-users", Some("Users")),
        (format!("/admin/users/{bob}"), "dark-user", Some("Users")),
        (
            format!("/admin/clients/{}", web.id),
            "dark-client",
            Some("Clients"),
        ),
        ("/admin/sessions".into(), "dark-sessions", Some("Sessions")),
        ("/admin/audit".into(), "dark-audit", Some("Audit log")),
        (
            format!("/admin/users/{bob}/admin"),
            "dark-confirm",
            Some("Users"),
        ),
    ];
    for (path, name, current) in &dark_pages {
        visit(&dark, &app, path, name, *current).await;
    }
    dark.close().await.expect("close");

    // Sign out from the navigation, then a second sign-in asks for the code.
    viewport(&b, 1280, 800).await;
    b.goto(&app.url("/admin/users/new")).await.unwrap();
    b.find(Locator::Css("nav.wide-only form[action='/logout'] button"))
        .await
        .expect("sign out in the navigation")
        .click()
        .await
        .unwrap();
    b.goto(&app.url("/admin")).await.unwrap();
    assert_eq!(b.current_url().await.unwrap().path(), "/login");
    fill(&b, "username", ADMIN).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    b.wait()
        .for_element(Locator::Id("recovery_code"))
        .await
        .expect("the two-factor page");
    look(&b, "mfa-verify").await;
    b.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_fits_desktop_and_phone_screens_and_marks_where_you_are_on_sqlite() {
    the_console_fits_desktop_and_phone_screens_and_marks_where_you_are(Backend::Sqlite).await
}

async fn the_console_script_is_served_as_javascript_and_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/static/admin.js").await;
    assert_eq!(res.status(), 200);
    let kind = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("application/javascript"), "{kind}");
    let cache = res.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cache.contains("max-age"), "{cache}");
    assert!(res.text().await.unwrap().contains("Intl.DateTimeFormat"));
    // Only the console loads it; the sign-in page has no script at all.
    let login = app.get("/login").await.text().await.unwrap();
    assert!(!login.contains("<script"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_script_is_served_as_javascript_and_cached_on_sqlite() {
    the_console_script_is_served_as_javascript_and_cached(Backend::Sqlite).await
}
