//! The revocation list (DESIGN §4): shared by every node, purged when its entries can no longer
//! match a live token, reloaded at start, and published at `GET /revocations`.

use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use tessera::revocation::purge::{Purged, purge_once};
use tessera::revocation::{GrantOrigin, Revocation, Target, reason};
use tessera::store::{LISTENER_APPLICATION_NAME, NewRevocation, REVOCATION_WRITE_LOCK};

use crate::dual;
use crate::helpers::{Backend, TestApp, TestClient, jwt_claims, spawn_app, spawn_node, spawn_on};

/// Polls introspection on `node` until `token` is inactive or `within` has passed.
async fn becomes_inactive(
    node: &TestApp,
    client: &TestClient,
    token: &str,
    within: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if node.introspect(client, token).await["active"] == false {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Terminates `node`'s LISTEN connection, found by its application_name in its database.
pub(crate) async fn kill_listener(node: &TestApp) -> u64 {
    let mut admin = sqlx::PgConnection::connect(crate::pg::admin_url())
        .await
        .unwrap();
    let db = url::Url::parse(&node.db.url).unwrap().path()[1..].to_string();
    let killed: Vec<(bool,)> = sqlx::query_as(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where application_name = $1 and datname = $2",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .bind(db)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    killed.len() as u64
}

/// DESIGN §4: "Other nodes learn of it within a second: PostgreSQL LISTEN/NOTIFY, with polling
/// by cursor as the fallback after a lost connection."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_node_reaches_another_within_a_second_and_after_a_lost_listener() {
    let a = spawn_app(Backend::Postgres).await;
    let b = spawn_node(&a).await;
    let client = a.create_service_client("api.read").await;
    let first = a.access_token(&client).await;
    let second = a.access_token(&client).await;
    let third = a.access_token(&client).await;
    for token in [&first, &second, &third] {
        assert_eq!(b.introspect(&client, token).await["active"], true);
    }

    // LISTEN/NOTIFY: within a second.
    assert_eq!(a.revoke(&client, &first).await.status(), 200);
    assert!(
        becomes_inactive(&b, &client, &first, Duration::from_secs(1)).await,
        "node B still honours a token revoked on node A a second ago"
    );

    // B's listening connection dies; A revokes while B reconnects: B catches up by polling
    // after its reconnect.
    let mut killed = 0;
    for _ in 0..50 {
        killed = kill_listener(&b).await;
        if killed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(killed > 0, "node B has a listener connection to terminate");
    assert_eq!(a.revoke(&client, &second).await.status(), 200);
    assert!(
        becomes_inactive(&b, &client, &second, Duration::from_secs(4)).await,
        "node B missed a revocation made while its listener was down"
    );

    // A row that was never announced (as if NOTIFY were lost altogether): the periodic poll
    // by cursor still brings it to B.
    let jti = jwt_claims(&third)["jti"].as_str().unwrap().to_string();
    let now = a.clock.now();
    a.state
        .store
        .insert_revocation(&NewRevocation {
            kind: "jti",
            target: &jti,
            issued_before: None,
            revoked_at: now,
            expires_at: now + 3600,
            reason: reason::ADMIN,
        })
        .await
        .unwrap();
    assert!(
        becomes_inactive(&b, &client, &third, Duration::from_secs(7)).await,
        "node B never polled for an unannounced revocation"
    );
    // And B's listener is back: a notified revocation is again fast.
    let fourth = a.access_token(&client).await;
    assert_eq!(a.revoke(&client, &fourth).await.status(), 200);
    assert!(becomes_inactive(&b, &client, &fourth, Duration::from_secs(1)).await);
}

/// One purge at the app's time: (entries dropped from memory, rows deleted from the store).
async fn purge(app: &TestApp) -> (usize, u64) {
    let Purged { memory, store } =
        purge_once(&app.state.store, &app.state.revocations, app.clock.now())
            .await
            .unwrap();
    (memory, store)
}

/// DESIGN §4: "An entry only needs to live until every access token it could match has
/// expired"; the purge removes exactly those, from the store and from memory, and a node that
/// starts again holds exactly what the store holds.
async fn purge_removes_only_expired_entries_and_a_restart_reloads_the_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_service_client("api.read").await;
    let token = app.access_token(&client).await;
    let t0 = app.clock.now();
    // A jti entry lives as long as its token (300 s), a client entry 1 h.
    assert_eq!(app.revoke(&client, &token).await.status(), 200);
    let client_entry = app
        .state
        .revocations
        .revoke(
            &app.state.store,
            Revocation::new(
                Target::Client {
                    client_id: client.id.clone(),
                    before: t0,
                },
                reason::ADMIN,
                t0,
            ),
        )
        .await
        .unwrap();
    assert_eq!(app.state.revocations.len(), 2);

    let store_rows = |app: &TestApp| {
        let store = app.state.store.clone();
        async move {
            let rows = store.revocations_after(0).await.unwrap();
            rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    let memory_ids = |app: &TestApp| app.state.revocations.ids();

    // Nothing has expired yet.
    assert_eq!(purge(&app).await, (0, 0));

    app.clock.advance(301);
    assert_eq!(purge(&app).await, (1, 1));
    assert_eq!(store_rows(&app).await, vec![client_entry.id]);
    assert_eq!(memory_ids(&app), vec![client_entry.id]);
    // The client entry still revokes the client's tokens issued before t0.
    let Target::Client { client_id, before } = &client_entry.target else {
        panic!("a client entry: {client_entry:?}");
    };
    let origin = |issued_at| GrantOrigin {
        sub: "anyone",
        client_id,
        sid: None,
        family: None,
        issued_at,
    };
    assert!(app.state.revocations.revokes_grant(&origin(*before)));
    assert!(!app.state.revocations.revokes_grant(&origin(before + 1)));

    app.clock.advance(3600);
    assert_eq!(purge(&app).await, (1, 1));
    assert!(store_rows(&app).await.is_empty());
    assert!(app.state.revocations.is_empty());

    // Restart on the same database: the in-memory list is what the store holds.
    let later = app.access_token(&client).await;
    assert_eq!(app.revoke(&client, &later).await.status(), 200);
    let before_restart = memory_ids(&app);
    let (db, keys) = app.stop().await;
    let app = spawn_on(db, keys, |_| {}).await;
    assert_eq!(memory_ids(&app), store_rows(&app).await);
    assert_eq!(memory_ids(&app), before_restart);
    // Ids keep growing after purges and restarts (the cursor never goes back).
    let again = app.access_token(&client).await;
    assert_eq!(app.revoke(&client, &again).await.status(), 200);
    assert!(memory_ids(&app)[1] > before_restart[0]);
}

/// `GET /revocations?since=CURSOR`: live entries after the cursor and the next cursor, for
/// resource servers that verify tokens offline; clients authenticate (RFC 6749 §2.3.1).
async fn resource_servers_pull_the_list_by_cursor(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_resource_server_client().await;
    let first = app.access_token(&client).await;
    let second = app.access_token(&client).await;
    app.revoke(&client, &first).await;

    let pull = |since: &str| {
        app.client
            .get(app.url(&format!("/revocations?since={since}")))
            .basic_auth(&client.id, Some(client.secret()))
            .send()
    };
    let res = pull("0").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page: Value = res.json().await.unwrap();
    let entries = page["revocations"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["kind"], "jti");
    assert_eq!(entries[0]["value"], jwt_claims(&first)["jti"]);
    assert_eq!(entries[0]["reason"], "client_request");
    assert_eq!(page["more"], false);
    let cursor = page["cursor"].as_i64().unwrap();
    assert_eq!(cursor, entries[0]["id"].as_i64().unwrap());

    let page: Value = pull(&cursor.to_string())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(page["revocations"].as_array().unwrap().is_empty());
    assert_eq!(page["cursor"], cursor);

    app.revoke(&client, &second).await;
    let page: Value = pull(&cursor.to_string())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["revocations"].as_array().unwrap().len(), 1);
    assert!(page["cursor"].as_i64().unwrap() > cursor);

    // Expired entries are not published.
    app.clock.advance(301);
    let page: Value = pull("0").await.unwrap().json().await.unwrap();
    assert!(page["revocations"].as_array().unwrap().is_empty());

    // Issue 11 point 9: an ordinary confidential client may not read the list.
    let ordinary = app.create_service_client("api.read").await;
    let res = app
        .client
        .get(app.url("/revocations?since=0"))
        .basic_auth(&ordinary.id, Some(ordinary.secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );

    let res = app.get("/revocations?since=0").await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    for bad in ["-1", "x", "1&since=2"] {
        let res = pull(bad).await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_request"
        );
    }
}

/// A page of `GET /revocations?since=` as `client`: (entry ids, next cursor).
async fn pull_page(app: &TestApp, client: &TestClient, since: i64) -> (Vec<i64>, i64) {
    let res = app
        .client
        .get(app.url(&format!("/revocations?since={since}")))
        .basic_auth(&client.id, Some(client.secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let ids = page["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    (ids, page["cursor"].as_i64().unwrap())
}

/// Issue 11 point 7, DESIGN §4: "Cursors handed to nodes and to /revocations never skip an
/// entry that commits late." A revocation whose transaction is still open when a later one is
/// made (here: held open on a direct connection, as a slow node would) is neither stepped over
/// by the `/revocations` cursor nor by another node's sync.
async fn a_revocation_that_commits_late_is_not_skipped_by_any_cursor(backend: Backend) {
    let a = spawn_app(backend).await;
    // On PostgreSQL a second node follows by LISTEN and cursor; on SQLite the node itself polls.
    let b = match backend {
        Backend::Postgres => Some(spawn_node(&a).await),
        Backend::Sqlite => None,
    };
    let node = b.as_ref().unwrap_or(&a);
    let client = a.create_resource_server_client().await;
    let late_token = a.access_token(&client).await;
    let later_token = a.access_token(&client).await;
    let (_, start) = pull_page(&a, &client, 0).await;

    // A slow writer: its transaction has its id and stays open. It follows the store's rule
    // for writers of the table (the advisory lock on PostgreSQL, the write lock on SQLite).
    let mut slow = sqlx::AnyConnection::connect(&a.db.url).await.unwrap();
    let mut tx = slow.begin().await.unwrap();
    if backend == Backend::Postgres {
        sqlx::query("select 1 from pg_advisory_xact_lock($1)")
            .bind(REVOCATION_WRITE_LOCK)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let now = a.clock.now();
    let late_jti = jwt_claims(&late_token)["jti"].as_str().unwrap().to_string();
    let late_id: i64 = sqlx::query_scalar(
        "insert into revocations (kind, target, issued_before, revoked_at, expires_at, reason) \
         values ('jti', $1, null, $2, $3, 'admin') returning id",
    )
    .bind(late_jti)
    .bind(now)
    .bind(now + 3600)
    .fetch_one(&mut *tx)
    .await
    .unwrap();

    // Meanwhile the app revokes another token: a higher id.
    let revoking = {
        let a_client = a.client.clone();
        let url = a.url("/revoke");
        let (id, secret) = (client.id.clone(), client.secret().to_string());
        tokio::spawn(async move {
            a_client
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", later_token.as_str())])
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    // A poll in between must not hand out a cursor beyond the open transaction's id.
    let (ids, between) = pull_page(&a, &client, start).await;
    assert!(
        ids.iter().all(|&id| id < late_id) && between < late_id,
        "a cursor went past id {late_id} while it was uncommitted: {ids:?}, cursor {between}"
    );

    tx.commit().await.unwrap();
    assert_eq!(revoking.await.unwrap(), 200);
    let (ids, _) = pull_page(&a, &client, between).await;
    assert!(
        ids.contains(&late_id),
        "the late entry was skipped: {ids:?}"
    );
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids[1] > late_id);

    // The other node (or, on SQLite, the node's own poll) picks up the late entry too.
    assert!(
        becomes_inactive(node, &client, &late_token, Duration::from_secs(7)).await,
        "node sync skipped the late revocation"
    );
    assert!(node.state.revocations.contains(late_id));
}

dual!(
    purge_removes_only_expired_entries_and_a_restart_reloads_the_rest,
    resource_servers_pull_the_list_by_cursor,
    a_revocation_that_commits_late_is_not_skipped_by_any_cursor,
);
