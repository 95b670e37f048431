//! An admin signs in through a real browser (headless Chromium): password, TOTP enrolment with
//! the secret shown on the page, recovery codes, then registers a client and sees it listed.

use fantoccini::{Client, Locator};
use totp_rs::{Builder, Secret};

use crate::browser::{browser, chromedriver};
use crate::dual;
use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};

pub(crate) async fn fill(b: &Client, id: &str, text: &str) {
    b.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("field {id}: {e}"))
        .send_keys(text)
        .await
        .expect("type");
}

pub(crate) async fn submit(b: &Client, form: &str) {
    b.find(Locator::Css(&format!(
        "form[action='{form}'] button[type=submit]"
    )))
    .await
    .unwrap_or_else(|e| panic!("the {form} button: {e}"))
    .click()
    .await
    .expect("click");
}

/// On the enrolment page: reads the secret shown, types the password and a code made from it,
/// and waits for the recovery codes.
pub(crate) async fn enrol_totp(b: &Client, app: &TestApp) {
    let secret = b
        .wait()
        .for_element(Locator::Id("totp-secret"))
        .await
        .expect("the enrolment page")
        .text()
        .await
        .unwrap();
    let bytes = Secret::try_from_base32(&secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    let code = Builder::new()
        .with_secret(bytes)
        .build()
        .unwrap()
        .generate(app.clock.now() as u64)
        .to_string();
    fill(b, "password", PASSWORD).await;
    fill(b, "code", &code).await;
    submit(b, "/admin/mfa/enrol").await;
    b.wait()
        .for_element(Locator::Id("recovery-codes"))
        .await
        .expect("the recovery codes");
}

async fn an_admin_enrols_totp_and_registers_a_client_in_a_real_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("root", PASSWORD).await;
    app.state
        .store
        .set_user_roles(&user.id, "admin", app.clock.now())
        .await
        .unwrap();
    let driver = chromedriver().await;
    let b = browser(&driver).await;

    b.goto(&app.url("/admin")).await.expect("open /admin");
    assert_eq!(b.current_url().await.unwrap().path(), "/login");
    fill(&b, "username", "root").await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;

    let qr = b
        .wait()
        .for_element(Locator::Id("qr"))
        .await
        .expect("the enrolment page");
    assert!(
        qr.attr("src")
            .await
            .unwrap()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    enrol_totp(&b, &app).await;

    b.goto(&app.url("/admin/clients/new")).await.unwrap();
    fill(&b, "name", "Browser-made client").await;
    fill(&b, "grant_types", "client_credentials").await;
    fill(&b, "scope", "reports.read").await;
    submit(&b, "/admin/clients").await;
    let shown = b
        .wait()
        .for_element(Locator::Id("client-secret"))
        .await
        .expect("the new secret, shown once")
        .text()
        .await
        .unwrap();
    assert!(shown.starts_with("tcs_"));

    b.goto(&app.url("/admin/clients")).await.unwrap();
    let table = b
        .find(Locator::Id("clients"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(table.contains("Browser-made client"), "{table}");
    assert!(!table.contains(&shown));
    b.close().await.expect("close");
}

dual!(an_admin_enrols_totp_and_registers_a_client_in_a_real_browser);
