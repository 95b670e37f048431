//! The console's operations pages: sessions (list, end), revocations (list, revoke by hand),
//! signing keys, the dashboard's counts (token issuance this hour), the audit log's
//! time filter.

use std::time::Duration;

use reqwest::StatusCode;

use crate::admin::{Enrolled, between, enrol_admin, user_token};
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, csrf_in, hidden_inputs, http_client, jwt_claims, location,
    spawn_app, spawn_app_with,
};

pub(crate) async fn page(app: &TestApp, admin: &Enrolled, path: &str) -> String {
    let res = admin.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {path}");
    res.text().await.unwrap()
}

/// Posts a console form as a person would: the form, then the confirmation page's form.
/// Returns the final response.
pub(crate) async fn post_confirmed(
    app: &TestApp,
    admin: &Enrolled,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf.into())];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let res = admin
        .client
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "POST {path} asks for confirmation first");
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"name="confirm" value="yes""#), "{html}");
    admin
        .client
        .post(app.url(path))
        .form(&hidden_inputs(&html))
        .send()
        .await
        .unwrap()
}

async fn sids_of(app: &TestApp, user_id: &str) -> Vec<String> {
    let now = app.clock.now();
    let mut sids: Vec<String> = app
        .state
        .store
        .user_sessions(user_id, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    sids.sort();
    sids
}

async fn an_admin_lists_a_users_sessions_and_ends_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = enrol_admin(&app).await;
    let bob = app.create_user("bob", PASSWORD).await;
    let laptop = http_client();
    app.login_as(&laptop, "bob", PASSWORD).await;
    let laptop_sid = sids_of(&app, &bob.id).await.pop().unwrap();
    let phone = http_client();
    app.login_as(&phone, "bob", PASSWORD).await;
    let sids = sids_of(&app, &bob.id).await;
    assert_eq!(sids.len(), 2);
    let laptop_token = user_token(&app, &bob.id, &laptop_sid, "openid");
    let rs = app.create_resource_server_client().await;
    assert_eq!(app.introspect(&rs, &laptop_token).await["active"], true);

    // By name: bob's two sessions, not the admin's.
    let html = page(&app, &admin, "/admin/sessions?user=bob").await;
    for sid in &sids {
        assert!(html.contains(sid.as_str()), "{sid} listed");
    }
    assert_eq!(html.matches("/end\"").count(), 2, "{html}");
    // Everyone's: the admin's session too.
    let all = page(&app, &admin, "/admin/sessions").await;
    assert_eq!(all.matches("/end\"").count(), 3, "{all}");
    // An unknown user is said so, not an error.
    let none = page(&app, &admin, "/admin/sessions?user=nobody").await;
    assert!(none.contains("No user is named nobody"), "{none}");

    let csrf = csrf_in(&html);
    let res = post_confirmed(
        &app,
        &admin,
        &format!("/admin/sessions/{laptop_sid}/end"),
        &csrf,
        &[("user", "bob")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/admin/sessions?user=bob");

    // The laptop is signed out; the phone is not; the laptop session's token is revoked.
    let res = laptop.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "laptop signed out");
    let res = phone.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 200, "phone still signed in");
    assert_eq!(app.introspect(&rs, &laptop_token).await["active"], false);
    let html = page(&app, &admin, "/admin/sessions?user=bob").await;
    assert!(!html.contains(laptop_sid.as_str()));

    // The same sid again: it is gone.
    let res = admin
        .client
        .post(app.url(&format!("/admin/sessions/{laptop_sid}/end")))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let audit = page(&app, &admin, "/admin/audit?action=session.ended").await;
    assert!(audit.contains(laptop_sid.as_str()), "{audit}");
}

async fn revoking_by_hand_takes_effect_at_once_and_is_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = enrol_admin(&app).await;
    let rs = app.create_resource_server_client().await;
    let leaked = app.create_service_client("api").await;
    let other = app.create_service_client("api").await;
    let client_token = app.access_token(&leaked).await;
    let one_token = app.access_token(&other).await;
    let kept_token = app.access_token(&other).await;
    let bob = app.create_user("bob", PASSWORD).await;
    let bob_token = user_token(&app, &bob.id, "some-session", "openid");
    for t in [&client_token, &one_token, &kept_token, &bob_token] {
        assert_eq!(app.introspect(&rs, t).await["active"], true);
    }

    let html = page(&app, &admin, "/admin/revocations").await;
    let csrf = csrf_in(&html);
    let jti = jwt_claims(&one_token)["jti"].as_str().unwrap().to_string();
    for (kind, value) in [
        ("client", leaked.id.as_str()),
        ("jti", jti.as_str()),
        ("user", "bob"),
    ] {
        let res = post_confirmed(
            &app,
            &admin,
            "/admin/revocations",
            &csrf,
            &[("kind", kind), ("value", value)],
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{kind}");
        assert_eq!(location(&res), "/admin/revocations");
    }
    // Applied on this node before the redirect: no waiting for a poll.
    for t in [&client_token, &one_token, &bob_token] {
        assert_eq!(app.introspect(&rs, t).await["active"], false);
    }
    assert_eq!(app.introspect(&rs, &kept_token).await["active"], true);

    let html = page(&app, &admin, "/admin/revocations").await;
    for target in [leaked.id.as_str(), jti.as_str(), bob.id.as_str()] {
        assert!(html.contains(target), "{target} listed");
    }
    let audit = page(&app, &admin, "/admin/audit?action=revocation.created").await;
    assert!(audit.contains(&format!("client:{}", leaked.id)), "{audit}");
    assert!(audit.contains(&format!("jti:{jti}")), "{audit}");

    // Bad input gets a readable 400 page, never a 500, and records nothing.
    for (kind, value) in [
        ("bogus", "x"),
        ("user", "nobody"),
        ("client", "no-such-client"),
        ("jti", "   "),
    ] {
        let res = admin
            .client
            .post(app.url("/admin/revocations"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("kind", kind),
                ("value", value),
                ("confirm", "yes"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{kind} {value}");
        assert!(res.text().await.unwrap().contains("<html"), "a page");
    }
}

async fn the_keys_page_lists_every_published_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = enrol_admin(&app).await;
    let jwks: serde_json::Value = app.get("/jwks").await.json().await.unwrap();
    let html = page(&app, &admin, "/admin/keys").await;
    let table = between(&html, r#"<table id="keys" class="data">"#, "</table>");
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(table.matches(r#"<th scope="row">"#).count(), keys.len());
    for key in keys {
        assert!(table.contains(key["kid"].as_str().unwrap()), "{key}");
        assert!(table.contains(key["alg"].as_str().unwrap()), "{key}");
    }
    let ring = app.state.keys.current();
    let active = ring.active().expect("signer").kid().to_string();
    let row = between(table, &format!(r#"title="{active}""#), "</tr>");
    assert!(row.contains("RS256") && row.contains(">active<"), "{row}");
    // One active key per algorithm (issue 13 states: next, active, retiring), each with its
    // creation, publication and activation times for the LocalTime script.
    assert_eq!(
        table.matches(r#"<td class="nowrap">active</td>"#).count(),
        keys.len()
    );
    assert!(row.matches(r#"<time class="local""#).count() >= 3, "{row}");
    assert!(!html.contains("PRIVATE"), "no key material");
}

async fn the_dashboard_counts_tokens_issued_in_the_last_hour(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.audit_issuance_interval = Duration::from_secs(1);
    })
    .await;
    let admin = enrol_admin(&app).await;
    let html = page(&app, &admin, "/admin").await;
    assert_eq!(between(&html, r#"id="count-tokens">"#, "</dd>"), "0");
    let c = app.create_service_client("api").await;
    for _ in 0..3 {
        app.access_token(&c).await;
    }
    let mut counted = String::new();
    for _ in 0..50 {
        let html = page(&app, &admin, "/admin").await;
        counted = between(&html, r#"id="count-tokens">"#, "</dd>").to_string();
        if counted == "3" {
            assert!(
                html.contains("<tr><td>client_credentials</td><td>3</td></tr>"),
                "{html}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(counted, "3", "three client_credentials tokens counted");
    // The counts are the client's too.
    let client = page(&app, &admin, &format!("/admin/clients/{}", c.id)).await;
    let chart = between(&client, r#"id="chart-client-tokens""#, "</figure>");
    assert!(chart.contains("client_credentials 3</title>"), "{chart}");
    // An hour later they are no longer this hour's.
    app.clock.advance(3601);
    let html = page(&app, &admin, "/admin").await;
    assert_eq!(between(&html, r#"id="count-tokens">"#, "</dd>"), "0");
}

async fn the_audit_log_filters_by_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = enrol_admin(&app).await;
    let day = |offset: i64| {
        let t = std::time::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(app.clock.now() + offset * 86_400).unwrap());
        humantime::format_rfc3339_seconds(t).to_string()[..10].to_string()
    };
    let (yesterday, today, tomorrow) = (day(-1), day(0), day(1));
    let rows = |html: &str| between(html, "<tbody>", "</tbody>").matches("<tr>").count();
    let all = rows(&page(&app, &admin, "/admin/audit").await);
    assert!(all >= 2, "sign-in and TOTP entries");
    let html = page(&app, &admin, &format!("/admin/audit?from={today}")).await;
    assert_eq!(rows(&html), all);
    let html = page(&app, &admin, &format!("/admin/audit?from={tomorrow}")).await;
    assert_eq!(rows(&html), 0);
    let html = page(&app, &admin, &format!("/admin/audit?to={yesterday}")).await;
    assert_eq!(rows(&html), 0);
    let html = page(
        &app,
        &admin,
        &format!("/admin/audit?from={yesterday}&to={today}"),
    )
    .await;
    assert_eq!(rows(&html), all);
    let res = admin
        .client
        .get(app.url("/admin/audit?from=last+tuesday"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

async fn an_admin_edits_a_clients_redirect_uris_and_token_lifetime(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = enrol_admin(&app).await;
    let c = app.create_service_client("api").await;
    let path = format!("/admin/clients/{}/edit", c.id);
    let html = page(&app, &admin, &path).await;
    let csrf = csrf_in(&html);
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        admin.client.post(app.url(&path)).form(&form).send()
    };
    // Invalid input: the form again with the reason, and nothing changed.
    let res = post(vec![("name", "Billing"), ("access_token_ttl", "forever")])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains(r#"class="error""#));
    let res = post(vec![
        ("name", "Billing"),
        ("post_logout_redirect_uris", "not a uri"),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let stored = app.state.store.get_client(&c.id).await.unwrap().unwrap();
    assert!(stored.access_token_ttl.is_none());

    let res = post(vec![
        ("name", "Billing v2"),
        ("post_logout_redirect_uris", "https://billing.example/bye"),
        ("access_token_ttl", "2m"),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/admin/clients/{}", c.id));
    let html = page(&app, &admin, &location(&res)).await;
    assert!(html.contains("Billing v2") && html.contains("https://billing.example/bye"));
    // The new lifetime applies to the next token.
    let token = app.access_token(&c).await;
    let claims = jwt_claims(&token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    let audit = page(&app, &admin, "/admin/audit?action=client.updated").await;
    assert!(
        audit.contains("Billing v2") && audit.contains("before"),
        "{audit}"
    );
}

dual!(
    an_admin_edits_a_clients_redirect_uris_and_token_lifetime,
    an_admin_lists_a_users_sessions_and_ends_one,
    revoking_by_hand_takes_effect_at_once_and_is_listed,
    the_keys_page_lists_every_published_key,
    the_dashboard_counts_tokens_issued_in_the_last_hour,
    the_audit_log_filters_by_time,
);
