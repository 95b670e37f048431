//! The guards around APIs (issue 12 review): identifiers that are not Tessera's own, one
//! registration per look-alike however many arrive at once, link changes that cannot
//! interleave, tokens that end with their API or link, and per-node caches of the links that
//! every admin change reaches within the bound of the client cache.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;
use tessera::admin::Actor;

use crate::apis::{BILLING, ORDERS, add_api, error_of, links};
use crate::dual;
use crate::helpers::{Backend, TestApp, TestClient, spawn_app, spawn_node};
use crate::token_exchange::{World, exchange, world};

dual!(
    an_api_named_by_or_under_the_issuer_is_refused,
    a_burst_of_look_alike_identifiers_registers_exactly_one,
    a_stale_actor_cannot_race_a_link_removal,
    unlinking_or_removing_an_api_ends_its_tokens_on_every_node,
    a_link_change_on_one_node_reaches_the_cache_of_another,
    an_exchange_policy_change_and_a_disabled_user_reach_another_node,
);

/// How soon a change must reach a running node: NOTIFY on PostgreSQL, the 1 s poll on SQLite
/// (as for the client cache, tests/api/client_cache.rs).
fn deadline(backend: Backend) -> Duration {
    match backend {
        Backend::Postgres => Duration::from_secs(1),
        Backend::Sqlite => Duration::from_secs(2),
    }
}

/// Waits until `check` holds, at most `within` (plus the time of the last check).
async fn within<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    loop {
        if check().await {
            return true;
        }
        if started.elapsed() > within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An admin API caller: a client with `tessera:admin` (it never counts as a recent sign-in).
async fn admin_token(app: &TestApp) -> String {
    let ops = app.create_service_client("tessera:admin").await;
    app.access_token(&ops).await
}

async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, app.url(&format!("/admin/api/v1{path}")))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json::<Value>().await.unwrap_or(Value::Null))
}

/// A token for `api` by client_credentials.
async fn token_for(app: &TestApp, c: &TestClient, api: &str) -> reqwest::Response {
    app.post_token_basic(
        &c.id,
        c.secret(),
        &[("grant_type", "client_credentials"), ("resource", api)],
    )
    .await
}

async fn token_of(res: reqwest::Response) -> String {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn active(app: &TestApp, caller: &TestClient, token: &str) -> bool {
    app.introspect(caller, token).await["active"] == true
}

/// Runs `sql` on the test database behind every node's back (no `client_changes` row): a
/// node that answers as before afterwards answered from its cache.
pub(crate) async fn behind_the_back(app: &TestApp, sql: &str, binds: &[&str]) {
    let mut c = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for b in binds {
        q = q.bind(b.to_string());
    }
    q.execute(&mut c).await.unwrap();
}

/// An identifier that is the issuer or under it would collide with Tessera's own endpoints
/// and audience: the admin API answers 400 naming the field, the service (the CLI's and the
/// console's error) says why; an identifier beside it is fine.
async fn an_api_named_by_or_under_the_issuer_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = admin_token(&app).await;
    let issuer = app.state.settings.issuer();
    for identifier in [
        issuer.clone(),
        format!("{issuer}/"),
        format!("{issuer}/token"),
        format!("{issuer}/admin/api/v1"),
    ] {
        let body = json!({ "identifier": identifier, "scope": "x.read" });
        let (status, answer) = call(&app, &token, reqwest::Method::POST, "/apis", Some(body)).await;
        assert_eq!(status, 400, "{identifier}: {answer}");
        assert!(answer.to_string().contains("issuer"), "{answer}");
    }
    let err = tessera::http::admin::service(&app.state)
        .add_api(
            &Actor::cli(),
            tessera::admin::apis::ApiInput {
                identifier: format!("{issuer}/userinfo"),
                scope: "x.read".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Tessera's own issuer URL"),
        "{err}"
    );
    let (_, list) = call(&app, &token, reqwest::Method::GET, "/apis", None).await;
    assert_eq!(list, json!([]));
    // Another origin is another API.
    let body = json!({ "identifier": ORDERS, "scope": "orders.read" });
    assert_eq!(
        call(&app, &token, reqwest::Method::POST, "/apis", Some(body))
            .await
            .0,
        201
    );
}

/// The look-alike rule holds under a burst: identifiers that differ only in case or a final
/// slash, sent at once to two nodes, register exactly one (a unique index decides, not a
/// look-up before the insert); every other request is a 409.
async fn a_burst_of_look_alike_identifiers_registers_exactly_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let node = spawn_node(&app).await;
    let token = admin_token(&app).await;
    let variants = [
        "https://twins.example.com/api",
        "https://twins.example.com/API",
        "https://twins.example.com/api/",
        "https://twins.example.com/Api/",
        "https://twins.example.com/aPi",
        "https://twins.example.com/apI//",
        "https://twins.example.com/API/",
        "https://twins.example.com/ApI",
    ];
    let requests = variants.iter().enumerate().map(|(i, id)| {
        let target = if i % 2 == 0 { &app } else { &node };
        let token = token.clone();
        async move {
            let body = json!({ "identifier": id, "scope": "twins.read" });
            call(target, &token, reqwest::Method::POST, "/apis", Some(body))
                .await
                .0
        }
    });
    let mut statuses = futures_util::future::join_all(requests).await;
    statuses.sort_unstable();
    let mut want = vec![409; variants.len() - 1];
    want.insert(0, 201);
    assert_eq!(statuses, want);
    let (_, list) = call(&app, &token, reqwest::Method::GET, "/apis", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // Sequentially too, with the message naming the one registered.
    let registered = list[0]["identifier"].as_str().unwrap().to_string();
    let body = json!({ "identifier": "https://twins.example.com/API", "scope": "twins.read" });
    let (status, answer) = call(&app, &token, reqwest::Method::POST, "/apis", Some(body)).await;
    if registered != "https://twins.example.com/API" {
        assert_eq!(status, 409);
        assert!(answer.to_string().contains(&registered), "{answer}");
    }
}

/// A link change reads, checks and writes under one lock. An actor without a recent sign-in
/// (a client's token, over the admin API on node B) narrows a client from ORDERS + BILLING to
/// ORDERS (no sign-in needed to take an API away) while an operator (the CLI's path, on node
/// A) narrows it to BILLING. Serialised, the stale
/// request either comes first (then the other leaves BILLING) or sees BILLING alone and is
/// refused as a widening to ORDERS (403): ORDERS never comes back. Interleaved (read, the
/// other commits, write), it would write ORDERS back without a recent sign-in.
async fn a_stale_actor_cannot_race_a_link_removal(backend: Backend) {
    let app = spawn_app(backend).await;
    let node = spawn_node(&app).await;
    add_api(&app, ORDERS, "orders.read", None, None).await;
    add_api(&app, BILLING, "billing.read", None, None).await;
    let token = admin_token(&app).await;
    let svc = app.create_service_client("orders.read billing.read").await;
    let path = format!("/clients/{}/apis", svc.id);
    let rounds = 15;
    let mut stale_passed = 0;
    for round in 0..rounds {
        links(&app, &svc, &[ORDERS, BILLING], &[], &[]).await;
        let admin = tessera::http::admin::service(&app.state);
        let operator = Actor::cli();
        let remove = admin.update_client_apis(
            &operator,
            &svc.id,
            tessera::admin::apis::ClientApisPatch {
                apis: Some(vec![BILLING.into()]),
                ..Default::default()
            },
        );
        let stale = call(
            &node,
            &token,
            reqwest::Method::PUT,
            &path,
            Some(json!({ "apis": [ORDERS] })),
        );
        let (removed, (narrowed, answer)) = tokio::join!(remove, stale);
        removed.expect("the operator's change");
        assert!(narrowed == 200 || narrowed == 403, "{narrowed} {answer}");
        stale_passed += usize::from(narrowed == 200);
        let (_, now) = call(&app, &token, reqwest::Method::GET, &path, None).await;
        assert_eq!(
            now["apis"],
            json!([BILLING]),
            "round {round}: ORDERS came back without a recent sign-in"
        );
    }
    // Each change is audited with the change itself: one entry per stale request that changed
    // something, none for a refused one.
    let (_, audit) = call(
        &app,
        &token,
        reqwest::Method::GET,
        "/audit?per_page=100&action=client.apis_updated",
        None,
    )
    .await;
    let by_client = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with("client:"))
        })
        .count();
    assert_eq!(by_client, stale_passed, "{audit}");
}

/// Taking an API from a client ends that client's tokens for it at once on this node and
/// within the sync bound on another (introspection), and the entry is in `/revocations` for
/// resource servers; its tokens for other APIs live on. Removing an API ends every token for
/// it, whatever the links (here removed behind Tessera's back, so only the removal's own
/// entry can end the token).
async fn unlinking_or_removing_an_api_ends_its_tokens_on_every_node(backend: Backend) {
    let app = spawn_app(backend).await;
    let node = spawn_node(&app).await;
    add_api(&app, ORDERS, "orders.read", None, None).await;
    add_api(&app, BILLING, "billing.read", None, None).await;
    let svc = app.create_service_client("orders.read billing.read").await;
    links(&app, &svc, &[ORDERS, BILLING], &[], &[]).await;
    let rs = app
        .create_client(tessera::oauth::client::RegistrationInput {
            resource_server: true,
            ..crate::helpers::service_client("nothing")
        })
        .await;
    let orders = token_of(token_for(&app, &svc, ORDERS).await).await;
    let billing = token_of(token_for(&app, &svc, BILLING).await).await;
    for n in [&app, &node] {
        assert!(active(n, &rs, &orders).await);
        assert!(active(n, &rs, &billing).await);
    }

    // Unlink through the admin API (taking an API away needs no recent sign-in).
    let token = admin_token(&app).await;
    let path = format!("/clients/{}/apis", svc.id);
    let body = json!({ "apis": [BILLING] });
    assert_eq!(
        call(&app, &token, reqwest::Method::PUT, &path, Some(body))
            .await
            .0,
        200
    );
    assert!(!active(&app, &rs, &orders).await, "inactive at once here");
    assert!(!active(&app, &svc, &orders).await);
    assert!(
        within(deadline(backend), || async {
            !active(&node, &rs, &orders).await
        })
        .await,
        "inactive on the other node within the bound"
    );
    assert!(
        active(&node, &rs, &billing).await,
        "other APIs' tokens live on"
    );
    let feed: Value = app
        .client
        .get(app.url("/revocations?since=0"))
        .basic_auth(&rs.id, Some(rs.secret()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = feed["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "client_api")
        .cloned()
        .unwrap_or_else(|| panic!("no client_api entry in {feed}"));
    assert_eq!(entry["value"], json!(format!("{} {ORDERS}", svc.id)));
    assert_eq!(entry["reason"], "api_removed");
    assert!(entry["issued_before"].as_i64().is_some());

    // Removing BILLING: its link is dropped behind Tessera's back first, so that only the
    // removal can end the token.
    behind_the_back(&app, "delete from client_apis where api = $1", &[BILLING]).await;
    assert!(active(&app, &rs, &billing).await);
    tessera::http::admin::service(&app.state)
        .remove_api(&Actor::cli(), BILLING)
        .await
        .unwrap();
    assert!(!active(&app, &rs, &billing).await, "inactive at once here");
    assert!(
        within(deadline(backend), || async {
            !active(&node, &rs, &billing).await
        })
        .await,
        "inactive on the other node within the bound"
    );
    // The removal and its audit entry committed together.
    let (_, audit) = call(
        &app,
        &token,
        reqwest::Method::GET,
        "/audit?per_page=100&action=api.deleted",
        None,
    )
    .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
}

/// A node answers `/token` with `resource` and a backend's introspection from its cache of the
/// client's links (the rows changed behind its back do not matter), and a change made on
/// another node reaches it within the bound: a removed link is refused there.
async fn a_link_change_on_one_node_reaches_the_cache_of_another(backend: Backend) {
    let app = spawn_app(backend).await;
    let node = spawn_node(&app).await;
    add_api(&app, ORDERS, "orders.read", None, None).await;
    let svc = app.create_service_client("orders.read").await;
    let orders_backend = app.create_service_client("nothing").await;
    links(&app, &svc, &[ORDERS], &[], &[]).await;
    links(&app, &orders_backend, &[], &[ORDERS], &[]).await;

    // Let node B hear of the set-up's changes (a late one would forget what it caches next),
    // warm its caches, then change the rows behind its back: it still answers.
    tokio::time::sleep(deadline(backend)).await;
    let token = token_of(token_for(&node, &svc, ORDERS).await).await;
    assert!(active(&node, &orders_backend, &token).await);
    behind_the_back(
        &app,
        "delete from client_apis where client_id = $1",
        &[&svc.id],
    )
    .await;
    behind_the_back(
        &app,
        "delete from client_apis where client_id = $1",
        &[&orders_backend.id],
    )
    .await;
    token_of(token_for(&node, &svc, ORDERS).await).await;
    assert!(
        active(&node, &orders_backend, &token).await,
        "the backend's links come from the cache"
    );
    // Put them back, then take them away properly on node A.
    behind_the_back(
        &app,
        "insert into client_apis (client_id, api, role) values ($1, $2, 'use')",
        &[&svc.id, ORDERS],
    )
    .await;
    behind_the_back(
        &app,
        "insert into client_apis (client_id, api, role) values ($1, $2, 'serve')",
        &[&orders_backend.id, ORDERS],
    )
    .await;
    // The backend loses its API on node A: node B stops showing it the API's tokens.
    links(&app, &orders_backend, &[], &[], &[]).await;
    assert!(!active(&app, &orders_backend, &token).await, "at once here");
    assert!(
        within(deadline(backend), || async {
            !active(&node, &orders_backend, &token).await
        })
        .await,
        "the former backend still sees the API's tokens on node B"
    );
    // The client loses it on node A: node B stops minting for it.
    links(&app, &svc, &[], &[], &[]).await;
    assert_eq!(
        error_of(token_for(&app, &svc, ORDERS).await).await,
        "invalid_target",
        "refused at once on the node that made the change"
    );
    assert!(
        within(deadline(backend), || async {
            token_for(&node, &svc, ORDERS).await.status() == 400
        })
        .await,
        "node B still mints for a removed link"
    );
    assert_eq!(
        error_of(token_for(&node, &svc, ORDERS).await).await,
        "invalid_target"
    );
}

/// A token exchange reads no database for its policy once the client is cached (rows changed
/// behind the node's back do not matter), an exchange audience taken away on node A is refused
/// on node B within the bound, and the user's state (disabled) reaches node B's exchanges
/// through the revocation list as fast as it reaches introspection.
async fn an_exchange_policy_change_and_a_disabled_user_reach_another_node(backend: Backend) {
    let w: World = world(backend).await;
    let node = spawn_node(&w.app).await;
    // As above: the set-up's changes reach node B before it caches.
    tokio::time::sleep(deadline(backend)).await;
    assert_eq!(exchange_at(&node, &w).await.status(), 200);
    behind_the_back(
        &w.app,
        "delete from client_apis where client_id = $1 and role = 'exchange'",
        &[&w.backend.id],
    )
    .await;
    assert_eq!(
        exchange_at(&node, &w).await.status(),
        200,
        "the policy comes from the cache"
    );
    behind_the_back(
        &w.app,
        "insert into client_apis (client_id, api, role) values ($1, $2, 'exchange')",
        &[&w.backend.id, BILLING],
    )
    .await;
    links(&w.app, &w.backend, &[], &[ORDERS], &[]).await;
    assert_eq!(
        error_of(exchange_at(&w.app, &w).await).await,
        "invalid_target",
        "refused at once on the node that made the change"
    );
    assert!(
        within(deadline(backend), || async {
            exchange_at(&node, &w).await.status() == 400
        })
        .await,
        "node B still exchanges into a removed audience"
    );
    assert_eq!(
        error_of(exchange_at(&node, &w).await).await,
        "invalid_target"
    );

    // Back, then disable alice on node A: node B refuses her token within the bound.
    links(&w.app, &w.backend, &[], &[ORDERS], &[BILLING]).await;
    assert!(
        within(deadline(backend), || async {
            exchange_at(&node, &w).await.status() == 200
        })
        .await
    );
    tessera::http::admin::service(&w.app.state)
        .set_user_disabled(
            &Actor::cli(),
            tessera::admin::users::UserRef::Name("alice"),
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        error_of(exchange_at(&w.app, &w).await).await,
        "invalid_request",
        "RFC 8693 §2.2.2: an unacceptable subject_token is invalid_request"
    );
    assert!(
        within(deadline(backend), || async {
            exchange_at(&node, &w).await.status() == 400
        })
        .await,
        "node B still exchanges a disabled user's token"
    );
    assert_eq!(
        error_of(exchange_at(&node, &w).await).await,
        "invalid_request"
    );
}

/// The orders backend's exchange of alice's ORDERS token into BILLING, on node `n`.
async fn exchange_at(n: &TestApp, w: &World) -> reqwest::Response {
    let actor = n.access_token(&w.backend).await;
    exchange(
        n,
        &w.backend,
        &w.subject,
        Some(&actor),
        &[("audience", BILLING)],
    )
    .await
}
