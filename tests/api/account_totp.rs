//! TOTP for every user (issue #6: optional for users, enrolled from the account page): once on,
//! a password alone opens nothing until the code step is passed.

use reqwest::StatusCode;

use crate::admin::{between, code};
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, csrf_in, hidden_inputs, http_client, location, spawn_app,
};

pub(crate) async fn account_page(app: &TestApp, browser: &reqwest::Client) -> String {
    let res = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 200, "signed in");
    res.text().await.unwrap()
}

/// Turns TOTP on from the account page; returns the secret.
pub(crate) async fn enrol(app: &TestApp, browser: &reqwest::Client) -> String {
    let html = account_page(app, browser).await;
    assert!(html.contains("Turn on two-factor sign-in"), "{html}");
    let res = browser.get(app.url("/account/mfa")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"src="data:image/png;base64,"#), "a QR code");
    assert!(
        !html.contains("/admin"),
        "no console links for a user: {html}"
    );
    let secret = between(&html, r#"<code id="totp-secret">"#, "</code>").to_string();
    let mut form = hidden_inputs(&html);
    form.push(("password".into(), PASSWORD.into()));
    form.push(("code".into(), code(&secret, app.clock.now())));
    let res = browser
        .post(app.url("/account/mfa"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let codes = between(&html, r#"<ul id="recovery-codes">"#, "</ul>");
    assert_eq!(codes.matches("<code>").count(), 10);
    secret
}

async fn a_user_turns_on_totp_and_then_every_sign_in_needs_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("bob", PASSWORD).await;
    let first = http_client();
    app.login_as(&first, "bob", PASSWORD).await;
    let secret = enrol(&app, &first).await;
    assert!(
        account_page(&app, &first)
            .await
            .contains("On: each sign-in")
    );

    // A new browser: the password leads to the code step, and opens nothing before it.
    let second = http_client();
    let res = app.login_as(&second, "bob", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let step = location(&res);
    assert!(step.starts_with("/login/mfa?return_to="), "{step}");
    let res = second.get(app.url("/account")).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "password alone is not signed in"
    );
    assert!(location(&res).starts_with("/login"));
    // (The next step's code: a TOTP step is accepted once, and enrolment used this one.)
    let res = second.get(app.url(&step)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csrf = csrf_in(&res.text().await.unwrap());
    let post = |c: String| {
        second
            .post(app.url("/login/mfa"))
            .form(&[
                ("csrf", csrf.clone()),
                ("return_to", "/account".into()),
                ("code", c),
            ])
            .send()
    };
    let res = post("000000".into()).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a wrong code is refused"
    );
    app.clock.advance(30);
    let res = post(code(&secret, app.clock.now())).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
    account_page(&app, &second).await;

    // Turning it off takes a current code; then the password alone signs in again.
    let html = account_page(&app, &second).await;
    let csrf = csrf_in(&html);
    let res = second
        .post(app.url("/account/mfa/disable"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", PASSWORD),
            ("code", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    app.clock.advance(30);
    let res = second
        .post(app.url("/account/mfa/disable"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", PASSWORD),
            ("code", &code(&secret, app.clock.now())),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        account_page(&app, &second)
            .await
            .contains("Turn on two-factor sign-in")
    );
    let third = http_client();
    let res = app.login_as(&third, "bob", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(!location(&res).contains("mfa"), "{}", location(&res));
    account_page(&app, &third).await;

    let audit = app
        .state
        .store
        .list_audit(&Default::default(), 100, 0)
        .await
        .unwrap();
    for action in [
        "totp.enrolled",
        "totp.verified",
        "totp.failed",
        "totp.disabled",
    ] {
        assert!(audit.iter().any(|e| e.action == action), "{action} audited");
    }
    assert!(
        audit
            .iter()
            .all(|e| !e.detail.as_deref().unwrap_or_default().contains(&secret)),
        "no secret in the audit log"
    );
}

dual!(a_user_turns_on_totp_and_then_every_sign_in_needs_a_code);
