//! Token exchange of access tokens (RFC 8693, issue 12 §2): a mobile app's token for one API
//! becomes, at that API's backend, a delegated token for another; every refusal cites §2.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera::oauth::client::RegistrationInput;
use tessera::tokens::access::{AccessGrant, mint};
use tessera::tokens::claims::Act;

use crate::apis::{
    ALICE, BILLING, NATIVE_CB, ORDERS, add_api, admin_api_status, code_client, code_of, error_of,
    links, ok_json, params, redeem,
};
use crate::code_flow::{authorize_url, pkce};
use crate::dual;
use crate::helpers::{Backend, PASSWORD, TestApp, TestClient, http_client, jwt_claims, spawn_app};
use crate::helpers::{location, spawn_node};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The mobile shape: a public app (PKCE, private-use redirect) with a token for ORDERS, the
/// orders backend (serves ORDERS, may exchange into BILLING), alice's browser.
pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) native: TestClient,
    pub(crate) backend: TestClient,
    pub(crate) browser: reqwest::Client,
    /// alice's token for ORDERS, issued to `native`.
    pub(crate) subject: String,
}

/// A confidential service that gets its own tokens and may exchange.
async fn service(app: &TestApp, name: &str, scope: &str) -> TestClient {
    app.create_client(RegistrationInput {
        name: name.into(),
        client_type: "confidential".into(),
        grant_types: vec!["client_credentials".into(), EXCHANGE.into()],
        scope: Some(scope.into()),
        ..RegistrationInput::default()
    })
    .await
}

pub(crate) async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    add_api(&app, ORDERS, "orders.read orders.write", None, None).await;
    add_api(&app, BILLING, "billing.read billing.write", None, None).await;
    let native = app
        .create_client(RegistrationInput {
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                EXCHANGE.into(),
            ],
            ..code_client("public", NATIVE_CB)
        })
        .await;
    links(&app, &native, &[ORDERS], &[], &[ORDERS]).await;
    let svc = service(&app, "Orders backend", "orders.read billing.read").await;
    links(&app, &svc, &[], &[ORDERS], &[BILLING]).await;

    let browser = http_client();
    let p = pkce();
    let scope = "openid orders.read";
    let url = authorize_url(&app, &params(&native, NATIVE_CB, &p, scope, &[ORDERS]));
    let to = location(&app.browse(&browser, &url, ALICE).await);
    let body =
        ok_json(redeem(&app, &native, NATIVE_CB, &code_of(&to), &p.verifier, None).await).await;
    let subject = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&subject)["aud"], json!(ORDERS));
    World {
        app,
        native,
        backend: svc,
        browser,
        subject,
    }
}

/// `POST /token` token exchange by `c` (Basic for a confidential client, `client_id` for a
/// public one) with an access token as subject, `actor` as actor token, and `extra`.
pub(crate) async fn exchange(
    app: &TestApp,
    c: &TestClient,
    subject: &str,
    actor: Option<&str>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
    ];
    if let Some(actor) = actor {
        form.extend([("actor_token", actor), ("actor_token_type", ACCESS)]);
    }
    form.extend_from_slice(extra);
    match &c.secret {
        Some(secret) => app.post_token_basic(&c.id, secret, &form).await,
        None => {
            form.push(("client_id", c.id.as_str()));
            app.post_token(&form).await
        }
    }
}

/// The backend's own exchange into BILLING, with its client_credentials token as actor.
pub(crate) async fn delegate(
    w: &World,
    subject: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let actor = w.app.access_token(&w.backend).await;
    let mut form = vec![("audience", BILLING)];
    form.extend_from_slice(extra);
    exchange(&w.app, &w.backend, subject, Some(&actor), &form).await
}

dual!(
    a_mobile_token_is_delegated_to_another_api_and_dies_with_logout_on_every_node,
    a_stolen_subject_token_cannot_be_exchanged_by_an_unrelated_client,
    an_audience_outside_the_exchange_list_is_invalid_target,
    a_wider_scope_than_allowed_is_invalid_scope,
    may_act_on_the_subject_must_admit_the_actor,
    a_second_delegation_nests_the_first_actor,
    impersonation_without_an_actor_token_is_refused_by_default,
    an_expired_or_revoked_subject_token_is_invalid_grant,
    malformed_exchange_requests_are_invalid_request,
    the_admin_api_refuses_a_token_that_carries_act,
);

/// Issue 12 "Done when": the orders backend exchanges the app's ORDERS token, with its own
/// actor token, for BILLING (RFC 8693 §2.2.1 response, §4.1 `act`, reported by
/// introspection); signing alice out makes both tokens inactive on another node.
async fn a_mobile_token_is_delegated_to_another_api_and_dies_with_logout_on_every_node(
    backend: Backend,
) {
    let w = world(backend).await;
    let body = ok_json(delegate(&w, &w.subject, &[]).await).await;
    // §2.2.1: access_token, issued_token_type and token_type are REQUIRED.
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "billing.read");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let exchanged = body["access_token"].as_str().unwrap().to_string();
    let (s, e) = (jwt_claims(&w.subject), jwt_claims(&exchanged));
    assert_eq!(e["aud"], json!(BILLING));
    assert_eq!(e["sub"], s["sub"]);
    assert_eq!(e["sid"], s["sid"]);
    assert_eq!(e["fam"], s["fam"]);
    assert_eq!(e["client_id"], json!(w.backend.id));
    let act = json!({"sub": w.backend.id, "client_id": w.backend.id});
    assert_eq!(e["act"], act);
    assert!(
        e["exp"].as_i64() <= s["exp"].as_i64(),
        "never outlives its subject"
    );

    let other = spawn_node(&w.app).await;
    let seen = other.introspect(&w.backend, &exchanged).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["act"], act);
    assert_eq!(
        other.introspect(&w.backend, &w.subject).await["active"],
        true
    );

    let csrf = w.app.account_csrf(&w.browser).await;
    let out = w
        .browser
        .post(w.app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);
    let started = Instant::now();
    loop {
        let a = other.introspect(&w.backend, &exchanged).await["active"] == true;
        let b = other.introspect(&w.backend, &w.subject).await["active"] == true;
        if !a && !b {
            break;
        }
        // Generous, so that a slow machine does not fail the test; the time is printed.
        assert!(started.elapsed() < Duration::from_secs(20), "still active");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("inactive on the other node after {:?}", started.elapsed());
    // And it cannot be exchanged again.
    assert_eq!(
        error_of(delegate(&w, &w.subject, &[]).await).await,
        "invalid_grant"
    );
}

/// Who may exchange: the subject's own client or the backend of an API in its `aud`. A
/// client with an exchange list but neither is refused as for a foreign token (§2.2.2
/// `invalid_grant`), with or without its own actor token.
async fn a_stolen_subject_token_cannot_be_exchanged_by_an_unrelated_client(backend: Backend) {
    let w = world(backend).await;
    let thief = service(&w.app, "Thief", "orders.read billing.read").await;
    links(&w.app, &thief, &[], &[], &[BILLING, ORDERS]).await;
    let actor = w.app.access_token(&thief).await;
    for audience in [BILLING, ORDERS] {
        let target = [("audience", audience)];
        let res = exchange(&w.app, &thief, &w.subject, Some(&actor), &target).await;
        assert_eq!(error_of(res).await, "invalid_grant", "{audience}");
    }
    // Serving another API is not enough either.
    links(&w.app, &thief, &[], &[BILLING], &[BILLING]).await;
    let res = exchange(
        &w.app,
        &thief,
        &w.subject,
        Some(&actor),
        &[("audience", BILLING)],
    );
    assert_eq!(error_of(res.await).await, "invalid_grant");
    // The backend of ORDERS may.
    ok_json(delegate(&w, &w.subject, &[]).await).await;
}

/// RFC 8693 §2.2.2: an audience or resource the server will not issue for is
/// `invalid_target`: not in the client's exchange list, unregistered, or two different ones.
async fn an_audience_outside_the_exchange_list_is_invalid_target(backend: Backend) {
    let w = world(backend).await;
    add_api(&w.app, "https://hr.example.com", "hr.read", None, None).await;
    let actor = w.app.access_token(&w.backend).await;
    for target in [
        [("audience", "https://hr.example.com")],
        [("audience", "https://unknown.example.com")],
        [("resource", ORDERS)],
        [("audience", "not a uri")],
    ] {
        let res = exchange(&w.app, &w.backend, &w.subject, Some(&actor), &target);
        assert_eq!(error_of(res.await).await, "invalid_target", "{target:?}");
    }
    let both = [("audience", BILLING), ("resource", ORDERS)];
    let res = exchange(&w.app, &w.backend, &w.subject, Some(&actor), &both);
    assert_eq!(error_of(res.await).await, "invalid_target");
    // resource (RFC 8707) names the same target as audience.
    let res = exchange(
        &w.app,
        &w.backend,
        &w.subject,
        Some(&actor),
        &[("resource", BILLING)],
    );
    assert_eq!(
        jwt_claims(ok_json(res.await).await["access_token"].as_str().unwrap())["aud"],
        json!(BILLING)
    );
}

/// Scopes: at most the requester's for the target API, and never wider than the subject when
/// the target is an audience it had or the requester is a public client (`invalid_scope`);
/// the response says what was granted (§2.2.1).
async fn a_wider_scope_than_allowed_is_invalid_scope(backend: Backend) {
    let w = world(backend).await;
    // billing.write is the API's but not the backend's.
    let res = delegate(&w, &w.subject, &[("scope", "billing.read billing.write")]).await;
    assert_eq!(error_of(res).await, "invalid_scope");
    // The app narrows its own token for ORDERS, never widens it (orders.write is its own
    // scope and the API's, but not the subject's).
    let own = [("audience", ORDERS), ("scope", "orders.read orders.write")];
    let actor = w.subject.clone();
    let res = exchange(&w.app, &w.native, &w.subject, Some(&actor), &own).await;
    assert_eq!(error_of(res).await, "invalid_scope");
    // resource (RFC 8707) names the target as audience does.
    let narrow = [("resource", ORDERS), ("scope", "orders.read")];
    let body = ok_json(exchange(&w.app, &w.native, &w.subject, Some(&actor), &narrow).await).await;
    assert_eq!(body["scope"], "orders.read");
}

/// A subject token signed by this server for `alice`, issued to `native` for ORDERS, with
/// `may_act`, in alice's session.
async fn subject_with_may_act(w: &World, may_act: Act) -> String {
    let s = jwt_claims(&w.subject);
    let state = &w.app.state;
    mint(
        state.keys.current().active().expect("signer"),
        &state.settings.issuer(),
        AccessGrant {
            subject: s["sub"].as_str().unwrap().into(),
            audience: ORDERS.into(),
            client_id: w.native.id.clone(),
            scope: "orders.read".into(),
            ttl: Duration::from_secs(300),
            sid: s["sid"].as_str().map(str::to_string),
            family: s["fam"].as_str().map(str::to_string),
            may_act: Some(may_act),
            ..AccessGrant::default()
        },
        w.app.clock.now(),
    )
    .unwrap()
    .token
}

/// RFC 8693 §4.4: a subject that names who may act for it admits only that actor.
async fn may_act_on_the_subject_must_admit_the_actor(backend: Backend) {
    let w = world(backend).await;
    let someone = Act {
        sub: "another-service".into(),
        client_id: Some("another-service".into()),
        act: None,
    };
    let refused = subject_with_may_act(&w, someone).await;
    assert_eq!(
        error_of(delegate(&w, &refused, &[]).await).await,
        "invalid_grant"
    );
    let backend_may = Act {
        sub: w.backend.id.clone(),
        client_id: Some(w.backend.id.clone()),
        act: None,
    };
    let admitted = subject_with_may_act(&w, backend_may).await;
    ok_json(delegate(&w, &admitted, &[]).await).await;
}

/// RFC 8693 §4.1: exchanging a delegated token again nests the earlier actor.
async fn a_second_delegation_nests_the_first_actor(backend: Backend) {
    let w = world(backend).await;
    let first = ok_json(delegate(&w, &w.subject, &[]).await).await;
    let first = first["access_token"].as_str().unwrap();
    let billing = service(&w.app, "Billing backend", "orders.read").await;
    links(&w.app, &billing, &[], &[BILLING], &[ORDERS]).await;
    let actor = w.app.access_token(&billing).await;
    let res = exchange(
        &w.app,
        &billing,
        first,
        Some(&actor),
        &[("audience", ORDERS)],
    )
    .await;
    let second = ok_json(res).await;
    let claims = jwt_claims(second["access_token"].as_str().unwrap());
    assert_eq!(
        claims["act"],
        json!({"sub": billing.id, "client_id": billing.id,
               "act": {"sub": w.backend.id, "client_id": w.backend.id}})
    );
}

/// RFC 8693 §1.1: without an actor token the exchange is impersonation, which no client is
/// allowed by default.
async fn impersonation_without_an_actor_token_is_refused_by_default(backend: Backend) {
    let w = world(backend).await;
    let res = exchange(
        &w.app,
        &w.backend,
        &w.subject,
        None,
        &[("audience", BILLING)],
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client", "{body}");
}

/// RFC 8693 §2.2.2: an expired or revoked subject token is `invalid_grant`; so is a token of
/// another issuer or a forged one.
async fn an_expired_or_revoked_subject_token_is_invalid_grant(backend: Backend) {
    let w = world(backend).await;
    let forged = format!("{}x", w.subject);
    assert_eq!(
        error_of(delegate(&w, &forged, &[]).await).await,
        "invalid_grant"
    );
    // The app revokes its token (RFC 7009).
    let revoked = w
        .app
        .client
        .post(w.app.url("/revoke"))
        .form(&[
            ("token", w.subject.as_str()),
            ("client_id", w.native.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        error_of(delegate(&w, &w.subject, &[]).await).await,
        "invalid_grant"
    );

    let w = world(backend).await;
    w.app.clock.advance(3600);
    assert_eq!(
        error_of(delegate(&w, &w.subject, &[]).await).await,
        "invalid_grant"
    );
}

/// RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED; actor_token_type is
/// REQUIRED with actor_token and MUST NOT be sent without it; §2.2.2: an unsupported token
/// type is `invalid_request`.
async fn malformed_exchange_requests_are_invalid_request(backend: Backend) {
    let w = world(backend).await;
    let (app, c) = (&w.app, &w.backend);
    let actor = app.access_token(c).await;
    let base = [("grant_type", EXCHANGE), ("audience", BILLING)];
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("subject_token_type", ACCESS)],
        vec![("subject_token", &w.subject)],
        vec![
            ("subject_token", &w.subject),
            ("subject_token_type", ACCESS),
            ("actor_token", &actor),
        ],
        vec![
            ("subject_token", &w.subject),
            ("subject_token_type", ACCESS),
            ("actor_token_type", ACCESS),
        ],
        vec![
            ("subject_token", &w.subject),
            ("subject_token_type", "urn:example:unknown"),
        ],
        vec![
            ("subject_token", &w.subject),
            ("subject_token_type", ACCESS),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            ),
        ],
    ];
    for case in cases {
        let mut form = base.to_vec();
        form.extend(case.iter().copied());
        let res = app.post_token_basic(&c.id, c.secret(), &form).await;
        assert_eq!(error_of(res).await, "invalid_request", "{case:?}");
    }
}

/// The admin API takes no token someone acts with (`act`), even one whose audience and
/// scope would otherwise do.
async fn the_admin_api_refuses_a_token_that_carries_act(backend: Backend) {
    let app = spawn_app(backend).await;
    let ops = app.create_service_client("tessera:admin").await;
    let minted = |act: Option<Act>| {
        mint(
            app.state.keys.current().active().expect("signer"),
            &app.state.settings.issuer(),
            AccessGrant {
                subject: ops.id.clone(),
                audience: ops.id.as_str().into(),
                client_id: ops.id.clone(),
                scope: "tessera:admin".into(),
                ttl: Duration::from_secs(300),
                act,
                ..AccessGrant::default()
            },
            app.clock.now(),
        )
        .unwrap()
        .token
    };
    assert_eq!(admin_api_status(&app, &minted(None)).await, 200);
    let act = Act {
        sub: "svc".into(),
        client_id: Some("svc".into()),
        act: None,
    };
    assert_eq!(admin_api_status(&app, &minted(Some(act))).await, 401);
}
