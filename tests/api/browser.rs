//! A person signs in through a real browser: headless Chromium driven over WebDriver.
//! `.ci/run` installs Debian's `chromium` and `chromium-driver`; without them this test fails
//! with the command that installs them (it never skips).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};

use crate::dual;
use crate::helpers::{Backend, PASSWORD, spawn_app};

pub struct Chromedriver {
    child: Child,
    pub url: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn chromedriver() -> Chromedriver {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    #[allow(clippy::zombie_processes, reason = "Chromedriver::drop kills and waits for it")]
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start chromedriver ({e}); install it: apt-get install -y chromium chromium-driver")
        });
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Chromedriver { child, url };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start listening on port {port}");
}

pub async fn browser(driver: &Chromedriver) -> fantoccini::Client {
    browser_with(driver, &[]).await
}

/// A Chromium session with more command-line switches, e.g. a dark colour scheme.
pub async fn browser_with(driver: &Chromedriver, extra: &[&str]) -> fantoccini::Client {
    // Two rustls back-ends end up linked into the test binary; name one for the WebDriver
    // client (which speaks plain http to chromedriver anyway).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=420,900",
    ];
    args.extend_from_slice(extra);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }),
    );
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

async fn a_person_signs_in_with_a_real_browser_and_sees_their_account(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    let driver = chromedriver().await;
    let b = browser(&driver).await;

    b.goto(&app.url("/account")).await.expect("open /account");
    // Not signed in: sent to the login page, which comes back to /account afterwards.
    assert_eq!(b.current_url().await.expect("url").path(), "/login");
    b.find(Locator::Id("username"))
        .await
        .expect("username field")
        .send_keys("alice")
        .await
        .expect("type");
    b.find(Locator::Id("password"))
        .await
        .expect("password field")
        .send_keys("wrong password")
        .await
        .expect("type");
    b.find(Locator::Css("button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    let error = b
        .wait()
        .for_element(Locator::Css("p.error"))
        .await
        .expect("an error message");
    assert_eq!(
        error.text().await.expect("text"),
        "Incorrect username or password."
    );

    b.find(Locator::Id("password"))
        .await
        .expect("password field")
        .send_keys(PASSWORD)
        .await
        .expect("type");
    b.find(Locator::Css("button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    let who = b
        .wait()
        .for_element(Locator::Id("who"))
        .await
        .expect("the account page");
    assert_eq!(who.text().await.expect("text"), "alice");
    assert_eq!(b.current_url().await.expect("url").path(), "/account");

    // Sign out with the button; the account page then asks for a login again.
    b.find(Locator::Css("form[action='/logout'] button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click");
    b.wait()
        .for_element(Locator::XPath("//h1[contains(., 'signed out')]"))
        .await
        .expect("signed-out page");
    b.goto(&app.url("/account")).await.expect("open /account");
    assert_eq!(b.current_url().await.expect("url").path(), "/login");
    b.close().await.expect("close");
}

dual!(a_person_signs_in_with_a_real_browser_and_sees_their_account);
