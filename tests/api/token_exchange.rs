//! Token exchange of access tokens (RFC 8693, issue 12 §2): a mobile app's token for one API
//! becomes, at that API's backend, a delegated token for another; every refusal cites §2.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tessera::admin::apis::ClientApisPatch;
use tessera::admin::{Actor, AdminError};
use tessera::oauth::client::RegistrationInput;
use tessera::tokens::access::{AccessGrant, mint};
use tessera::tokens::claims::Act;

use crate::apis::{
    ALICE, BILLING, NATIVE_CB, ORDERS, add_api, admin_api_status, code_client, code_of, error_of,
    links, ok_json, params, redeem,
};
use crate::code_flow::{authorize_url, pkce};
use crate::dual;
use crate::helpers::spawn_app_with;
use crate::helpers::{Backend, PASSWORD, TestApp, TestClient, http_client, jwt_claims, spawn_app};
use crate::helpers::{location, spawn_node};
use crate::key_rotation::{kid_of, published_within};

pub(crate) const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
pub(crate) const REFRESH: &str = "urn:ietf:params:oauth:token-type:refresh_token";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// The mobile shape: a public app (PKCE, private-use redirect) with a token for ORDERS, the
/// orders backend (serves ORDERS, may exchange into BILLING), alice's browser.
pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) native: TestClient,
    pub(crate) backend: TestClient,
    pub(crate) browser: reqwest::Client,
    /// alice's token for ORDERS, issued to `native`.
    pub(crate) subject: String,
    /// `native`'s refresh token, when `offline_access` was asked for.
    pub(crate) refresh: Option<String>,
}

/// A confidential service that gets its own tokens and may exchange.
pub(crate) async fn service(app: &TestApp, name: &str, scope: &str) -> TestClient {
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
    world_with(backend, "openid orders.read").await
}

pub(crate) async fn world_with(backend: Backend, scope: &str) -> World {
    world_configured(backend, scope, |_| {}).await
}

/// `world_with` on an app spawned with `configure`.
pub(crate) async fn world_configured(
    backend: Backend,
    scope: &str,
    configure: impl FnOnce(&mut tessera::config::Settings),
) -> World {
    let app = spawn_app_with(backend, configure).await;
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
        refresh: body["refresh_token"].as_str().map(str::to_string),
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
    an_expired_revoked_or_forged_subject_token_is_invalid_request,
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
    // And it cannot be exchanged again (§2.2.2: an invalid subject_token is
    // `invalid_request`).
    assert_eq!(
        error_of(delegate(&w, &w.subject, &[]).await).await,
        "invalid_request"
    );
}

/// Who may exchange: the subject's own client or the backend of an API in its `aud`. A
/// client with an exchange list but neither is refused as for any invalid subject token
/// (RFC 8693 §2.2.2: "invalid for any reason, or [...] unacceptable based on policy" MUST be
/// `invalid_request`), with or without its own actor token.
async fn a_stolen_subject_token_cannot_be_exchanged_by_an_unrelated_client(backend: Backend) {
    let w = world(backend).await;
    let thief = service(&w.app, "Thief", "orders.read billing.read").await;
    links(&w.app, &thief, &[], &[], &[BILLING, ORDERS]).await;
    let actor = w.app.access_token(&thief).await;
    for audience in [BILLING, ORDERS] {
        let target = [("audience", audience)];
        let res = exchange(&w.app, &thief, &w.subject, Some(&actor), &target).await;
        assert_eq!(error_of(res).await, "invalid_request", "{audience}");
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
    assert_eq!(error_of(res.await).await, "invalid_request");
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
    // The app narrows its own token for ORDERS (no actor: its own token, no `act`), never
    // widens it (orders.write is its own scope and the API's, but not the subject's).
    let own = [("audience", ORDERS), ("scope", "orders.read orders.write")];
    let res = exchange(&w.app, &w.native, &w.subject, None, &own).await;
    assert_eq!(error_of(res).await, "invalid_scope");
    // resource (RFC 8707) names the target as audience does.
    let narrow = [("resource", ORDERS), ("scope", "orders.read")];
    let body = ok_json(exchange(&w.app, &w.native, &w.subject, None, &narrow).await).await;
    assert_eq!(body["scope"], "orders.read");
    assert!(
        jwt_claims(body["access_token"].as_str().unwrap())
            .get("act")
            .is_none()
    );
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

/// RFC 8693 §4.4: a subject that names who may act for it admits only that actor; one it
/// does not admit makes the subject unacceptable (§2.2.2: `invalid_request`).
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
        "invalid_request"
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

/// RFC 8693 §2.2.2: "If [...] either the subject_token or actor_token are invalid for any
/// reason [...] The value of the error parameter MUST be the invalid_request error code": an
/// expired, revoked or forged subject token is `invalid_request`, each with the same words.
async fn an_expired_revoked_or_forged_subject_token_is_invalid_request(backend: Backend) {
    let w = world(backend).await;
    let forged = format!("{}x", w.subject);
    assert_eq!(
        error_of(delegate(&w, &forged, &[]).await).await,
        "invalid_request"
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
        "invalid_request"
    );

    let w = world(backend).await;
    w.app.clock.advance(3600);
    assert_eq!(
        error_of(delegate(&w, &w.subject, &[]).await).await,
        "invalid_request"
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
            ("requested_token_type", ID_TOKEN),
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

dual!(
    the_subjects_own_client_gets_no_scope_the_user_did_not_grant,
    a_round_trip_through_another_api_regains_no_scope,
    revoking_the_subject_token_or_its_client_revokes_the_exchanged_token,
    removing_the_middle_client_of_a_chain_revokes_the_last_token,
    revoking_the_subjects_signing_key_revokes_a_token_signed_by_another,
    a_public_client_may_only_narrow_its_own_token,
    the_actor_token_must_be_the_callers_own_client_credentials_token,
    a_token_is_exchanged_at_most_four_times,
    every_bad_subject_gets_one_answer_whoever_asks,
    a_bad_target_is_invalid_target_and_never_echoed,
    impersonation_needs_the_exchange_impersonate_option,
    the_exchange_options_need_a_recent_sign_in_and_a_confidential_client,
    a_refresh_token_needs_the_exchange_refresh_option,
    an_exchanged_refresh_token_rotates_with_reuse_detection,
    an_exchanged_refresh_token_dies_with_the_subjects_family,
    an_exchanged_refresh_token_dies_with_logout,
    an_exchanged_refresh_token_dies_with_the_subjects_client,
    an_exchange_no_key_can_sign_for_is_temporarily_unavailable,
    no_refresh_token_by_exchange_without_offline_access,
    an_exchanged_refresh_token_dies_when_the_users_grant_goes_idle,
    an_exchanged_refresh_token_dies_with_a_revoked_key_after_the_list_forgets,
    a_round_trip_through_an_exchanged_family_regains_no_scope,
    an_impersonating_family_stops_when_impersonation_is_turned_off,
    the_callers_rights_are_checked_before_the_subjects_state,
);

pub(crate) const LEDGER: &str = "https://ledger.example.com";
const WEB_CB: &str = "https://web.example.com/cb";

/// Waits until `token` is inactive at `app`'s introspection, asked by `by` (a resource
/// server); at most 20 s, generous for a slow machine.
pub(crate) async fn becomes_inactive(app: &TestApp, by: &TestClient, token: &str) {
    let started = Instant::now();
    while app.introspect(by, token).await["active"] == true {
        assert!(started.elapsed() < Duration::from_secs(20), "still active");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn token_of(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

pub(crate) async fn set_options(app: &TestApp, c: &TestClient, refresh: bool, impersonate: bool) {
    tessera::http::admin::service(&app.state)
        .update_client_apis(
            &Actor::cli(),
            &c.id,
            ClientApisPatch {
                exchange_refresh: Some(refresh),
                exchange_impersonate: Some(impersonate),
                ..ClientApisPatch::default()
            },
        )
        .await
        .expect("set the exchange options");
}

pub(crate) async fn remove_client(app: &TestApp, c: &TestClient) {
    tessera::http::admin::service(&app.state)
        .delete_client(&Actor::cli(), &c.id)
        .await
        .expect("remove the client");
}

/// `/revoke` of `token` by the public client `c` (RFC 7009).
pub(crate) async fn revoke_as(app: &TestApp, c: &TestClient, token: &str) {
    let res = app
        .client
        .post(app.url("/revoke"))
        .form(&[("token", token), ("client_id", c.id.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), 200);
}

/// Review finding 1: a confidential client's own token, for which alice granted only
/// `openid`, does not become a token with every scope the client may have for another API:
/// the user's grant caps the own path.
async fn the_subjects_own_client_gets_no_scope_the_user_did_not_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", PASSWORD).await;
    add_api(&app, ORDERS, "orders.read orders.write", None, None).await;
    add_api(&app, BILLING, "billing.read billing.write", None, None).await;
    let web = app
        .create_client(RegistrationInput {
            grant_types: vec!["authorization_code".into(), EXCHANGE.into()],
            scope: Some("openid orders.read billing.read billing.write".into()),
            ..code_client("confidential", WEB_CB)
        })
        .await;
    links(&app, &web, &[ORDERS], &[], &[BILLING, ORDERS]).await;
    let grant = |scope: &'static str, resources: &'static [&'static str]| {
        let (app, web) = (&app, &web);
        async move {
            let p = pkce();
            let url = authorize_url(app, &params(web, WEB_CB, &p, scope, resources));
            let to = location(&app.browse(&http_client(), &url, ALICE).await);
            let res = redeem(app, web, WEB_CB, &code_of(&to), &p.verifier, None).await;
            token_of(&ok_json(res).await)
        }
    };
    let openid_only = grant("openid", &[]).await;
    for extra in [
        vec![("audience", BILLING)],
        vec![("audience", BILLING), ("scope", "billing.read")],
        vec![("audience", ORDERS)],
    ] {
        let res = exchange(&app, &web, &openid_only, None, &extra).await;
        assert_eq!(error_of(res).await, "invalid_scope", "{extra:?}");
    }
    // Granted orders.read for ORDERS: the own path keeps to it.
    let orders = grant("openid orders.read", &[ORDERS]).await;
    let res = exchange(&app, &web, &orders, None, &[("audience", BILLING)]).await;
    assert_eq!(error_of(res).await, "invalid_scope");
    let body = ok_json(exchange(&app, &web, &orders, None, &[("audience", ORDERS)]).await).await;
    assert_eq!(body["scope"], "orders.read");
}

/// Review finding 2: ORDERS → BILLING → ORDERS does not regain the ORDERS scopes alice did
/// not grant: an API of the original grant is capped by that grant, not by the last hop.
async fn a_round_trip_through_another_api_regains_no_scope(backend: Backend) {
    let w = world(backend).await;
    let billing = service(&w.app, "Billing backend", "orders.read orders.write").await;
    links(&w.app, &billing, &[], &[BILLING], &[ORDERS]).await;
    let first = token_of(&ok_json(delegate(&w, &w.subject, &[]).await).await);
    let actor = w.app.access_token(&billing).await;
    let wide = [("audience", ORDERS), ("scope", "orders.read orders.write")];
    let res = exchange(&w.app, &billing, &first, Some(&actor), &wide).await;
    assert_eq!(error_of(res).await, "invalid_scope");
    let res = exchange(
        &w.app,
        &billing,
        &first,
        Some(&actor),
        &[("audience", ORDERS)],
    )
    .await;
    assert_eq!(ok_json(res).await["scope"], "orders.read");
}

/// Review finding 3: `/revoke` of the subject token alone, and removing the subject's client,
/// reach a token exchanged from it, on another node too; neither can be exchanged again.
async fn revoking_the_subject_token_or_its_client_revokes_the_exchanged_token(backend: Backend) {
    let w = world(backend).await;
    let rs = w.app.create_resource_server_client().await;
    let other = spawn_node(&w.app).await;
    let exchanged = token_of(&ok_json(delegate(&w, &w.subject, &[]).await).await);
    assert_eq!(other.introspect(&rs, &exchanged).await["active"], true);
    revoke_as(&w.app, &w.native, &w.subject).await;
    becomes_inactive(&other, &rs, &exchanged).await;
    becomes_inactive(&w.app, &rs, &exchanged).await;

    let w = world(backend).await;
    let rs = w.app.create_resource_server_client().await;
    let other = spawn_node(&w.app).await;
    let exchanged = token_of(&ok_json(delegate(&w, &w.subject, &[]).await).await);
    let billing = service(&w.app, "Billing backend", "orders.read").await;
    links(&w.app, &billing, &[], &[BILLING], &[ORDERS]).await;
    remove_client(&w.app, &w.native).await;
    becomes_inactive(&other, &rs, &exchanged).await;
    // Nor can what was exchanged be exchanged further (§2.2.2).
    let actor = w.app.access_token(&billing).await;
    let res = exchange(
        &w.app,
        &billing,
        &exchanged,
        Some(&actor),
        &[("audience", ORDERS)],
    )
    .await;
    assert_eq!(error_of(res).await, "invalid_request");
}

/// Review finding 3: in app → orders backend → billing backend, removing the orders backend
/// (the middle) revokes the billing backend's token.
async fn removing_the_middle_client_of_a_chain_revokes_the_last_token(backend: Backend) {
    let w = world(backend).await;
    let rs = w.app.create_resource_server_client().await;
    let other = spawn_node(&w.app).await;
    let billing = service(&w.app, "Billing backend", "orders.read").await;
    links(&w.app, &billing, &[], &[BILLING], &[ORDERS]).await;
    let first = token_of(&ok_json(delegate(&w, &w.subject, &[]).await).await);
    let actor = w.app.access_token(&billing).await;
    let res = exchange(
        &w.app,
        &billing,
        &first,
        Some(&actor),
        &[("audience", ORDERS)],
    )
    .await;
    let last = token_of(&ok_json(res).await);
    assert_eq!(other.introspect(&rs, &last).await["active"], true);
    remove_client(&w.app, &w.backend).await;
    becomes_inactive(&other, &rs, &last).await;
    assert_eq!(w.app.introspect(&rs, &w.subject).await["active"], true);
}

/// Review finding 3: the subject's signing key revoked (a leak) revokes a token exchanged
/// from it even when that token is signed by a key of another algorithm.
async fn revoking_the_subjects_signing_key_revokes_a_token_signed_by_another(backend: Backend) {
    let w = world(backend).await;
    let rs = w.app.create_resource_server_client().await;
    add_api(&w.app, LEDGER, "ledger.read", None, Some("EdDSA")).await;
    let ledger = service(&w.app, "Ledger backend", "ledger.read").await;
    links(&w.app, &ledger, &[], &[ORDERS], &[LEDGER]).await;
    let actor = w.app.access_token(&ledger).await;
    let res = exchange(
        &w.app,
        &ledger,
        &w.subject,
        Some(&actor),
        &[("audience", LEDGER)],
    )
    .await;
    let exchanged = token_of(&ok_json(res).await);
    let kid = kid_of(&w.subject);
    assert_ne!(kid_of(&exchanged), kid);
    assert_eq!(w.app.introspect(&rs, &exchanged).await["active"], true);
    tessera::http::admin::service(&w.app.state)
        .revoke_key(&Actor::cli(), &w.app.state.settings, &kid)
        .await
        .expect("revoke the key");
    becomes_inactive(&w.app, &rs, &exchanged).await;
}

/// Review findings 4 and 5: a public client's token proves nothing about who sends it, so
/// the app may only narrow it (no new audience: `invalid_target`), and its own token is no
/// actor token (§2.2.2 `invalid_request`).
async fn a_public_client_may_only_narrow_its_own_token(backend: Backend) {
    let w = world(backend).await;
    links(&w.app, &w.native, &[ORDERS], &[], &[ORDERS, BILLING]).await;
    let res = exchange(
        &w.app,
        &w.native,
        &w.subject,
        None,
        &[("audience", BILLING)],
    )
    .await;
    assert_eq!(error_of(res).await, "invalid_target");
    let own = [("audience", ORDERS)];
    let res = exchange(&w.app, &w.native, &w.subject, Some(&w.subject), &own).await;
    assert_eq!(error_of(res).await, "invalid_request");
    ok_json(exchange(&w.app, &w.native, &w.subject, None, &own).await).await;
}

/// Review finding 5: the actor token is the caller's own client_credentials token, not a
/// user's token (the subject itself, or one the caller got by exchange) nor another
/// client's (§2.2.2 `invalid_request`).
async fn the_actor_token_must_be_the_callers_own_client_credentials_token(backend: Backend) {
    let w = world(backend).await;
    let exchanged = token_of(&ok_json(delegate(&w, &w.subject, &[]).await).await);
    let other = service(&w.app, "Other", "orders.read").await;
    let theirs = w.app.access_token(&other).await;
    for actor in [&w.subject, &exchanged, &theirs] {
        let res = exchange(
            &w.app,
            &w.backend,
            &w.subject,
            Some(actor),
            &[("audience", BILLING)],
        );
        assert_eq!(error_of(res.await).await, "invalid_request");
    }
}

/// Review finding 6: `act` (and `xo`) grow by one per exchange; the fifth exchange of a
/// chain is refused (§2.2.2 `invalid_request`), so a token stays small.
async fn a_token_is_exchanged_at_most_four_times(backend: Backend) {
    let w = world(backend).await;
    let billing = service(&w.app, "Billing backend", "orders.read").await;
    links(&w.app, &billing, &[], &[BILLING], &[ORDERS]).await;
    let to_billing = w.app.access_token(&w.backend).await;
    let to_orders = w.app.access_token(&billing).await;
    let mut token = w.subject.clone();
    for round in 0..5 {
        let res = match round % 2 {
            0 => exchange(
                &w.app,
                &w.backend,
                &token,
                Some(&to_billing),
                &[("audience", BILLING)],
            ),
            _ => exchange(
                &w.app,
                &billing,
                &token,
                Some(&to_orders),
                &[("audience", ORDERS)],
            ),
        }
        .await;
        if round == 4 {
            assert_eq!(error_of(res).await, "invalid_request");
            break;
        }
        token = token_of(&ok_json(res).await);
    }
    let claims = jwt_claims(&token);
    let mut depth = 0;
    let mut act = &claims["act"];
    while act.is_object() {
        depth += 1;
        act = &act["act"];
    }
    assert_eq!(depth, 4);
    assert_eq!(claims["xo"].as_array().map(Vec::len), Some(4));
    assert!(token.len() < 4096, "{} bytes", token.len());
    eprintln!("a token after four exchanges: {} bytes", token.len());
}

/// Review finding 7: the caller's right is checked before the subject's state, and every bad
/// subject (forged, revoked, foreign) gets the same answer, so a client learns nothing about
/// a token it may not exchange.
async fn every_bad_subject_gets_one_answer_whoever_asks(backend: Backend) {
    let w = world(backend).await;
    let thief = service(&w.app, "Thief", "billing.read").await;
    links(&w.app, &thief, &[], &[], &[BILLING]).await;
    let thief_actor = w.app.access_token(&thief).await;
    let answer = |res: reqwest::Response| async move {
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        (status, body)
    };
    let target = [("audience", BILLING)];
    let live =
        answer(exchange(&w.app, &thief, &w.subject, Some(&thief_actor), &target).await).await;
    assert_eq!(live.1["error"], "invalid_request", "{}", live.1);
    let forged = format!("{}x", w.subject);
    let forged = answer(exchange(&w.app, &thief, &forged, Some(&thief_actor), &target).await).await;
    revoke_as(&w.app, &w.native, &w.subject).await;
    let revoked =
        answer(exchange(&w.app, &thief, &w.subject, Some(&thief_actor), &target).await).await;
    let backend_sees = answer(delegate(&w, &w.subject, &[]).await).await;
    assert_eq!(live, forged);
    assert_eq!(live, revoked);
    assert_eq!(live, backend_sees);
}

/// Review finding 8: a resource or audience that is no API of the client's is
/// `invalid_target` (RFC 8693 §2.2.2), and the value sent is never echoed back whole.
async fn a_bad_target_is_invalid_target_and_never_echoed(backend: Backend) {
    let w = world(backend).await;
    let actor = w.app.access_token(&w.backend).await;
    let long = format!("https://unknown.example.com/{}", "a".repeat(4000));
    let spaced = format!("not a uri {}", "a".repeat(4000));
    for (name, value) in [
        ("audience", "not a uri <b>marked</b>"),
        ("audience", long.as_str()),
        ("resource", long.as_str()),
        ("audience", spaced.as_str()),
        ("resource", spaced.as_str()),
    ] {
        let res = exchange(
            &w.app,
            &w.backend,
            &w.subject,
            Some(&actor),
            &[(name, value)],
        )
        .await;
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"], "invalid_target", "{name}");
        let said = body["error_description"].as_str().unwrap_or_default();
        // The exchange names no value; the HTTP layer's check of every `resource` shows at
        // most 120 characters of it, escaped.
        assert!(!said.contains("marked") && said.len() < 300, "{said}");
    }
}

/// RFC 8693 §1.1: without an actor token, a serving client impersonates the user, which only
/// a client registered with `--exchange-impersonate` may do; its token has no `act`.
async fn impersonation_needs_the_exchange_impersonate_option(backend: Backend) {
    let w = world(backend).await;
    let target = [("audience", BILLING)];
    let res = exchange(&w.app, &w.backend, &w.subject, None, &target).await;
    assert_eq!(error_of(res).await, "unauthorized_client");
    set_options(&w.app, &w.backend, false, true).await;
    let body = ok_json(exchange(&w.app, &w.backend, &w.subject, None, &target).await).await;
    let claims = jwt_claims(&token_of(&body));
    assert!(claims.get("act").is_none(), "{claims}");
    assert_eq!(claims["client_id"], json!(w.backend.id));
    assert_eq!(claims["sub"], jwt_claims(&w.subject)["sub"]);
    set_options(&w.app, &w.backend, false, false).await;
    let res = exchange(&w.app, &w.backend, &w.subject, None, &target).await;
    assert_eq!(error_of(res).await, "unauthorized_client");
}

/// Review finding 10: turning on either option is as powerful as a new exchange audience:
/// it needs a recent sign-in; and a public client may have neither.
async fn the_exchange_options_need_a_recent_sign_in_and_a_confidential_client(backend: Backend) {
    let w = world(backend).await;
    let admin = tessera::http::admin::service(&w.app.state);
    for (refresh, impersonate) in [(true, false), (false, true)] {
        let patch = ClientApisPatch {
            exchange_refresh: Some(refresh),
            exchange_impersonate: Some(impersonate),
            ..ClientApisPatch::default()
        };
        let by_token = Actor::client(&w.backend.id);
        let res = admin
            .update_client_apis(&by_token, &w.backend.id, patch.clone())
            .await;
        assert!(matches!(res, Err(AdminError::NotRecent { .. })), "{res:?}");
        let res = admin
            .update_client_apis(&Actor::cli(), &w.native.id, patch.clone())
            .await;
        assert!(res.is_err(), "a public client: {res:?}");
        let after = admin
            .update_client_apis(&Actor::cli(), &w.backend.id, patch)
            .await
            .expect("by the operator");
        assert_eq!(
            (after.exchange_refresh, after.exchange_impersonate),
            (refresh, impersonate)
        );
    }
}

/// A confidential service that may also refresh (the refresh_token grant).
pub(crate) async fn refreshing_service(w: &World) -> TestClient {
    let svc = refreshing_client(&w.app, "Billing sync", "billing.read").await;
    links(&w.app, &svc, &[], &[ORDERS], &[BILLING]).await;
    svc
}

/// A confidential client with client_credentials, refresh_token and token exchange.
pub(crate) async fn refreshing_client(app: &TestApp, name: &str, scope: &str) -> TestClient {
    app.create_client(RegistrationInput {
        name: name.into(),
        client_type: "confidential".into(),
        grant_types: vec![
            "client_credentials".into(),
            "refresh_token".into(),
            EXCHANGE.into(),
        ],
        scope: Some(scope.into()),
        ..RegistrationInput::default()
    })
    .await
}

/// `requested_token_type` refresh_token by `svc`: the access token and the refresh token.
pub(crate) async fn exchange_for_refresh(w: &World, svc: &TestClient) -> (String, String) {
    let actor = w.app.access_token(svc).await;
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let body = ok_json(exchange(&w.app, svc, &w.subject, Some(&actor), &asks).await).await;
    assert_eq!(body["issued_token_type"], ACCESS);
    let refresh = body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    (token_of(&body), refresh)
}

pub(crate) async fn refresh_as(app: &TestApp, c: &TestClient, token: &str) -> reqwest::Response {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    app.post_token_basic(&c.id, c.secret(), &form).await
}

/// Issue 12 §2: a refresh token comes only to a client allowed one (`--exchange-refresh`,
/// with the refresh_token grant); others get `unauthorized_client`.
async fn a_refresh_token_needs_the_exchange_refresh_option(backend: Backend) {
    let w = world(backend).await;
    let svc = refreshing_service(&w).await;
    let actor = w.app.access_token(&svc).await;
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let res = exchange(&w.app, &svc, &w.subject, Some(&actor), &asks).await;
    assert_eq!(error_of(res).await, "unauthorized_client");
    // The option without the grant is not enough either.
    set_options(&w.app, &w.backend, true, false).await;
    let actor = w.app.access_token(&w.backend).await;
    let res = exchange(&w.app, &w.backend, &w.subject, Some(&actor), &asks).await;
    assert_eq!(error_of(res).await, "unauthorized_client");
    // Without asking, no refresh token even for a client allowed one.
    set_options(&w.app, &svc, true, false).await;
    let actor = w.app.access_token(&svc).await;
    let body = ok_json(exchange(&w.app, &svc, &w.subject, Some(&actor), &asks[..1]).await).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
}

/// The exchanged refresh token keeps the audience and scope, rotates, and a reused one
/// revokes its family (RFC 9700 §4.14) and the access tokens it brought.
async fn an_exchanged_refresh_token_rotates_with_reuse_detection(backend: Backend) {
    let w = world_with(backend, "openid orders.read offline_access").await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let rs = w.app.create_resource_server_client().await;
    let (access, first) = exchange_for_refresh(&w, &svc).await;
    // A burst of the same refresh token: exactly one rotates it.
    let burst = (0..8).map(|_| refresh_as(&w.app, &svc, &first));
    let answers = futures_util::future::join_all(burst).await;
    let mut body = None;
    for res in answers {
        if res.status() == 200 {
            assert!(body.is_none(), "a second refresh of the same token passed");
            body = Some(res.json::<Value>().await.expect("json"));
        }
    }
    let body = body.expect("one refresh passes");
    let renewed = token_of(&body);
    let claims = jwt_claims(&renewed);
    assert_eq!(claims["aud"], json!(BILLING));
    assert_eq!(body["scope"], "billing.read");
    assert_eq!(claims["sid"], jwt_claims(&w.subject)["sid"]);
    assert_eq!(claims["act"], jwt_claims(&access)["act"]);
    assert_eq!(claims["xo"][0]["f"], jwt_claims(&w.subject)["fam"]);
    let second = body["refresh_token"].as_str().expect("rotated").to_string();
    assert_ne!(second, first);
    assert_eq!(
        error_of(refresh_as(&w.app, &svc, &first).await).await,
        "invalid_grant"
    );
    assert_eq!(
        error_of(refresh_as(&w.app, &svc, &second).await).await,
        "invalid_grant"
    );
    becomes_inactive(&w.app, &rs, &renewed).await;
    // The subject's own grant is untouched.
    assert_eq!(w.app.introspect(&rs, &w.subject).await["active"], true);
}

/// It dies with the subject's family: the app revokes its refresh token (RFC 7009).
async fn an_exchanged_refresh_token_dies_with_the_subjects_family(backend: Backend) {
    let w = world_with(backend, "openid orders.read offline_access").await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let rs = w.app.create_resource_server_client().await;
    let (access, refresh) = exchange_for_refresh(&w, &svc).await;
    let renewed = ok_json(refresh_as(&w.app, &svc, &refresh).await).await;
    let refresh = renewed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    revoke_as(
        &w.app,
        &w.native,
        w.refresh.as_deref().expect("the app's refresh token"),
    )
    .await;
    assert_eq!(
        error_of(refresh_as(&w.app, &svc, &refresh).await).await,
        "invalid_grant"
    );
    becomes_inactive(&w.app, &rs, &access).await;
    becomes_inactive(&w.app, &rs, &token_of(&renewed)).await;
}

/// It dies with the session: alice logs out.
async fn an_exchanged_refresh_token_dies_with_logout(backend: Backend) {
    let w = world_with(backend, "openid orders.read offline_access").await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let rs = w.app.create_resource_server_client().await;
    let (access, refresh) = exchange_for_refresh(&w, &svc).await;
    let csrf = w.app.account_csrf(&w.browser).await;
    let out = w
        .browser
        .post(w.app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 200);
    assert_eq!(
        error_of(refresh_as(&w.app, &svc, &refresh).await).await,
        "invalid_grant"
    );
    becomes_inactive(&w.app, &rs, &access).await;
}

/// It dies with the subject's client: the app is removed.
async fn an_exchanged_refresh_token_dies_with_the_subjects_client(backend: Backend) {
    let w = world_with(backend, "openid orders.read offline_access").await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let rs = w.app.create_resource_server_client().await;
    let (access, refresh) = exchange_for_refresh(&w, &svc).await;
    let renewed = ok_json(refresh_as(&w.app, &svc, &refresh).await).await;
    let refresh = renewed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    remove_client(&w.app, &w.native).await;
    assert_eq!(
        error_of(refresh_as(&w.app, &svc, &refresh).await).await,
        "invalid_grant"
    );
    becomes_inactive(&w.app, &rs, &access).await;
    becomes_inactive(&w.app, &rs, &token_of(&renewed)).await;
}

/// Review finding 9: an exchange into an API whose algorithm this node cannot sign for now
/// (its active key revoked from another machine, the successor's file not here yet) is 503
/// `temporarily_unavailable`, as for every other grant, never a 500.
async fn an_exchange_no_key_can_sign_for_is_temporarily_unavailable(backend: Backend) {
    let w = world(backend).await;
    add_api(&w.app, LEDGER, "ledger.read", None, Some("EdDSA")).await;
    let ledger = service(&w.app, "Ledger backend", "ledger.read").await;
    links(&w.app, &ledger, &[], &[ORDERS], &[LEDGER]).await;
    let actor = w.app.access_token(&ledger).await;
    let target = [("audience", LEDGER)];
    let res = exchange(&w.app, &ledger, &w.subject, Some(&actor), &target).await;
    let kid = kid_of(&token_of(&ok_json(res).await));
    let elsewhere = tempfile::tempdir().expect("dir");
    for entry in std::fs::read_dir(&w.app.keys_dir).expect("keys dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "pem") {
            let to = elsewhere.path().join(path.file_name().expect("name"));
            std::fs::copy(&path, to).expect("copy");
        }
    }
    let mut settings = (*w.app.state.settings).clone();
    settings.keys_dir = elsewhere.path().to_path_buf();
    tessera::keys::manage::revoke(&w.app.state.store, &settings, &kid, &w.app.clock)
        .await
        .expect("revoke the EdDSA key");
    assert!(published_within(&w.app, &kid, false, Duration::from_secs(10)).await);
    let res = exchange(&w.app, &ledger, &w.subject, Some(&actor), &target).await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
}

/// Hostile review 2, finding 1: without `offline_access` the user allowed no refresh token,
/// so an exchange gives none either (`invalid_request`), and nothing is stored for it.
async fn no_refresh_token_by_exchange_without_offline_access(backend: Backend) {
    let w = world(backend).await;
    assert!(w.refresh.is_none());
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let actor = w.app.access_token(&svc).await;
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let res = exchange(&w.app, &svc, &w.subject, Some(&actor), &asks).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("offline_access")),
        "{body}"
    );
}

/// Hostile review 2, finding 1: the exchanged family lives no longer than the user's grant.
/// The app stops refreshing; once its refresh token's idle window lapses, the exchanged
/// family refuses, though its own refresh token is fresh. Nothing revokes the exchanged
/// family here (no logout, no list entry): only the durable guard on each refresh does.
async fn an_exchanged_refresh_token_dies_when_the_users_grant_goes_idle(backend: Backend) {
    let w = world_with(backend, "openid orders.read offline_access").await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (_, refresh) = exchange_for_refresh(&w, &svc).await;
    let idle = i64::try_from(w.app.state.settings.refresh_token_idle_ttl.as_secs()).expect("secs");
    w.app.clock.advance(idle * 2 / 3);
    let renewed = ok_json(refresh_as(&w.app, &svc, &refresh).await).await;
    let refresh = renewed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    w.app.clock.advance(idle * 2 / 3);
    assert_eq!(
        error_of(refresh_as(&w.app, &svc, &refresh).await).await,
        "invalid_grant"
    );
}

/// Hostile review 2, finding 2: a revoked signing key of the subject reaches the exchanged
/// family for good, past the revocation-list entry's lifetime and its purge.
async fn an_exchanged_refresh_token_dies_with_a_revoked_key_after_the_list_forgets(
    backend: Backend,
) {
    let w = world_with(backend, "openid orders.read offline_access").await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (_, refresh) = exchange_for_refresh(&w, &svc).await;
    tessera::http::admin::service(&w.app.state)
        .revoke_key(&Actor::cli(), &w.app.state.settings, &kid_of(&w.subject))
        .await
        .expect("revoke the key");
    let horizon = tessera::revocation::MAX_TOKEN_LIFETIME + tessera::revocation::GRANT_IN_FLIGHT;
    w.app.clock.advance(horizon + 60);
    let policy = tessera::purge::Policy::from_settings(&w.app.state.settings);
    tessera::purge::run_once(&w.app.state.store, policy, w.app.clock.now())
        .await
        .expect("purge");
    // The app keeps its grant alive, so only the key can stop the exchanged family.
    let app_refresh = w.refresh.as_deref().expect("the app's refresh token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", app_refresh),
        ("client_id", w.native.id.as_str()),
    ];
    ok_json(w.app.post_token(&form).await).await;
    assert_eq!(
        error_of(refresh_as(&w.app, &svc, &refresh).await).await,
        "invalid_grant"
    );
}

/// Hostile review 2, finding 3: ORDERS → (refresh by exchange) BILLING → ORDERS regains
/// nothing alice did not grant for ORDERS: the cap is the user's grant, not the exchanged
/// family (whose only resource is BILLING).
async fn a_round_trip_through_an_exchanged_family_regains_no_scope(backend: Backend) {
    let w = world_with(backend, "openid orders.read offline_access").await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (_, refresh) = exchange_for_refresh(&w, &svc).await;
    let via_family = token_of(&ok_json(refresh_as(&w.app, &svc, &refresh).await).await);
    let billing = service(&w.app, "Billing backend", "orders.read orders.write").await;
    links(&w.app, &billing, &[], &[BILLING], &[ORDERS]).await;
    let actor = w.app.access_token(&billing).await;
    let wide = [("audience", ORDERS), ("scope", "orders.read orders.write")];
    let res = exchange(&w.app, &billing, &via_family, Some(&actor), &wide).await;
    assert_eq!(error_of(res).await, "invalid_scope");
    let res = exchange(
        &w.app,
        &billing,
        &via_family,
        Some(&actor),
        &[("audience", ORDERS)],
    )
    .await;
    assert_eq!(ok_json(res).await["scope"], "orders.read");
}

/// Hostile review 2, finding 5: a family started by impersonation (no actor token) refreshes
/// only while the client may still impersonate.
async fn an_impersonating_family_stops_when_impersonation_is_turned_off(backend: Backend) {
    let w = world_with(backend, "openid orders.read offline_access").await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, true).await;
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let body = ok_json(exchange(&w.app, &svc, &w.subject, None, &asks).await).await;
    let refresh = body["refresh_token"].as_str().expect("refresh").to_string();
    let renewed = ok_json(refresh_as(&w.app, &svc, &refresh).await).await;
    let refresh = renewed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    set_options(&w.app, &svc, true, false).await;
    assert_eq!(
        error_of(refresh_as(&w.app, &svc, &refresh).await).await,
        "invalid_grant"
    );
}

/// Hostile review 2, finding 7: a caller without the right to the target (or to impersonate)
/// gets the same answer for a live subject as for a revoked one: the rights come first, so
/// it cannot learn whether the subject is alive.
async fn the_callers_rights_are_checked_before_the_subjects_state(backend: Backend) {
    let w = world(backend).await;
    let actor = w.app.access_token(&w.backend).await;
    let not_mine = [("audience", ORDERS)];
    let ask = |actor: Option<String>| {
        let w = &w;
        async move {
            let res = exchange(&w.app, &w.backend, &w.subject, actor.as_deref(), &not_mine).await;
            let res_status = res.status();
            (res_status, res.json::<Value>().await.expect("json"))
        }
    };
    let live_target = ask(Some(actor.clone())).await;
    let live_impersonate = ask(None).await;
    assert_eq!(
        live_target.1["error"], "invalid_target",
        "{}",
        live_target.1
    );
    assert_eq!(live_impersonate.1["error"], "unauthorized_client");
    revoke_as(&w.app, &w.native, &w.subject).await;
    assert_eq!(ask(Some(actor)).await, live_target);
    assert_eq!(ask(None).await, live_impersonate);
}
