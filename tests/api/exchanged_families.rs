//! Families a token exchange started (`--exchange-refresh`, issue 12 §2) die in the store with
//! whatever they were made from, so that their refresh tokens stay dead after the revocation
//! list forgot (its entries are purged about an hour on); taking an API from a client ends its
//! grants for it; an exchanged token dies with the APIs of the tokens it was made from.

use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use tessera::admin::Actor;
use tessera::revocation::{
    GRANT_IN_FLIGHT, MAX_TOKEN_LIFETIME, Revocation, Target, client_api_key, reason,
};
use tessera::store::MAX_EXCHANGED_FAMILIES;
use tessera::tokens::access::{AccessGrant, mint};

use crate::api_guards::behind_the_back;
use crate::apis::{
    ALICE, BILLING, NATIVE_CB, ORDERS, code_of, error_of, links, ok_json, params, redeem,
};
use crate::code_flow::{authorize_url, pkce};
use crate::dual;
use crate::helpers::{Backend, TestApp, TestClient, jwt_claims, location};
use crate::key_rotation::kid_of;
use crate::token_exchange::{
    REFRESH, World, becomes_inactive, delegate, exchange, exchange_for_refresh, refresh_as,
    refreshing_client, refreshing_service, revoke_as, set_options, token_of, world, world_with,
};

dual!(
    revoking_the_subject_token_revokes_the_exchanged_family_in_the_store,
    revoking_the_subjects_key_revokes_the_exchanged_family_in_the_store,
    revoking_the_middle_client_of_a_chain_revokes_the_last_family_in_the_store,
    revoking_the_origin_family_revokes_the_exchanged_family_in_the_store,
    a_refresh_of_an_exchanged_family_needs_the_serve_role_still,
    a_burst_of_exchanges_leaves_at_most_the_bound_of_live_families,
    past_the_bound_the_oldest_exchanged_family_gives_way,
    an_exchange_that_a_revocation_overtakes_at_the_commit_stores_no_family,
    a_family_exchanged_under_a_right_since_lost_stays_dead_when_it_is_granted_again,
    a_code_redeemed_after_its_api_is_taken_carries_it_no_more_and_relinking_revives_nothing,
    taking_one_api_of_two_leaves_the_family_refreshable_for_the_other_only,
    an_exchange_on_a_stale_node_into_an_audience_just_taken_stores_no_family,
    linking_an_api_again_within_the_stale_cache_margin_warns_that_its_tokens_wait,
    taking_an_api_from_a_client_ends_its_grants_for_it_and_relinking_revives_none,
    a_token_a_stale_node_mints_after_an_api_is_taken_or_removed_is_revoked,
    an_exchanged_token_dies_when_the_api_it_was_made_from_is_taken_or_removed,
    a_family_exchanged_by_impersonation_ends_when_the_right_to_impersonate_does,
    a_grant_a_stale_node_lets_through_for_an_api_just_taken_stores_nothing_for_it,
    an_exchange_on_a_stale_node_after_its_right_is_taken_stores_no_family,
    a_redemption_that_an_api_change_overtakes_at_the_commit_stores_nothing_for_the_api,
    an_impersonation_laundered_through_an_own_exchange_ends_with_the_right_to_impersonate,
    a_family_exchanged_into_an_audience_since_taken_stays_dead_when_it_is_given_again,
    past_the_bound_a_family_others_were_made_from_does_not_give_way,
    a_grant_a_client_impersonated_does_not_come_back_to_it_through_another_client,
);

const OFFLINE: &str = "openid orders.read offline_access";

/// Whether the store revoked the family of `access` (its `fam`).
async fn revoked_in_store(app: &TestApp, access: &str) -> bool {
    let fam = jwt_claims(access)["fam"].as_str().expect("fam").to_string();
    app.state
        .store
        .family(&fam)
        .await
        .expect("store")
        .expect("the family")
        .revoked_at
        .is_some()
}

/// The revocation list forgets: the clock moves past every entry's lifetime and the entries
/// are purged from the store and from memory. The app keeps its own grant alive meanwhile (a
/// refresh), so that only the store can stop an exchanged family.
async fn forget_all_entries(w: &World) {
    w.app
        .clock
        .advance(MAX_TOKEN_LIFETIME + GRANT_IN_FLIGHT + 60);
    let now = w.app.clock.now();
    let policy = tessera::purge::Policy::from_settings(&w.app.state.settings);
    tessera::purge::run_once(&w.app.state.store, policy, now)
        .await
        .expect("purge");
    w.app.state.revocations.purge(now);
    assert!(w.app.state.revocations.is_empty(), "the list forgot");
    let app_refresh = w.refresh.as_deref().expect("the app's refresh token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", app_refresh),
        ("client_id", w.native.id.as_str()),
    ];
    ok_json(w.app.post_token(&form).await).await;
}

async fn refresh_fails(w: &World, svc: &TestClient, refresh: &str) {
    assert_eq!(
        error_of(refresh_as(&w.app, svc, refresh).await).await,
        "invalid_grant"
    );
}

/// RFC 7009 §2.1: the app revokes the access token the family was exchanged from.
async fn revoking_the_subject_token_revokes_the_exchanged_family_in_the_store(backend: Backend) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (access, refresh) = exchange_for_refresh(&w, &svc).await;
    revoke_as(&w.app, &w.native, &w.subject).await;
    assert!(revoked_in_store(&w.app, &access).await);
    forget_all_entries(&w).await;
    refresh_fails(&w, &svc, &refresh).await;
}

/// `tessera keys revoke` of the key that signed the subject: the family goes in the key's
/// own transaction.
async fn revoking_the_subjects_key_revokes_the_exchanged_family_in_the_store(backend: Backend) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (access, refresh) = exchange_for_refresh(&w, &svc).await;
    let kid = kid_of(&w.subject);
    tessera::http::admin::service(&w.app.state)
        .revoke_key(&Actor::cli(), &w.app.state.settings, &kid)
        .await
        .expect("revoke the key");
    assert!(revoked_in_store(&w.app, &access).await);
    forget_all_entries(&w).await;
    refresh_fails(&w, &svc, &refresh).await;
}

/// app → orders backend (access token for BILLING) → ledger sync (a family for ORDERS):
/// revoking the orders backend's tokens (its secret rotated with `--revoke-tokens`) revokes
/// the ledger sync's family, whose own client and grant are untouched.
async fn revoking_the_middle_client_of_a_chain_revokes_the_last_family_in_the_store(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let first = token_of(&ok_json(delegate(&w, &w.subject, &[]).await).await);
    let sync = refreshing_client(&w.app, "Ledger sync", "orders.read").await;
    links(&w.app, &sync, &[], &[BILLING], &[ORDERS]).await;
    set_options(&w.app, &sync, true, false).await;
    let actor = w.app.access_token(&sync).await;
    let asks = [("audience", ORDERS), ("requested_token_type", REFRESH)];
    let body = ok_json(exchange(&w.app, &sync, &first, Some(&actor), &asks).await).await;
    let access = token_of(&body);
    let refresh = body["refresh_token"].as_str().expect("refresh").to_string();
    assert_eq!(jwt_claims(&access)["xo"].as_array().map(Vec::len), Some(2));
    tessera::http::admin::service(&w.app.state)
        .rotate_client_secret(&Actor::cli(), &w.backend.id, true)
        .await
        .expect("revoke the middle client's tokens");
    assert!(revoked_in_store(&w.app, &access).await);
    forget_all_entries(&w).await;
    refresh_fails(&w, &sync, &refresh).await;
}

/// The app revokes its refresh token (RFC 7009 §2.1): its family goes, and in the same
/// transaction the family exchanged from it.
async fn revoking_the_origin_family_revokes_the_exchanged_family_in_the_store(backend: Backend) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (access, refresh) = exchange_for_refresh(&w, &svc).await;
    let app_refresh = w.refresh.as_deref().expect("the app's refresh token");
    revoke_as(&w.app, &w.native, app_refresh).await;
    assert!(revoked_in_store(&w.app, &access).await);
    refresh_fails(&w, &svc, &refresh).await;
}

/// Issue 12 §2: the service exchanged the app's token because it serves ORDERS
/// (`--serves-api`); once it no longer does, its family from that exchange refreshes no more.
async fn a_refresh_of_an_exchanged_family_needs_the_serve_role_still(backend: Backend) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (_, refresh) = exchange_for_refresh(&w, &svc).await;
    let renewed = ok_json(refresh_as(&w.app, &svc, &refresh).await).await;
    let refresh = renewed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    links(&w.app, &svc, &[], &[], &[BILLING]).await;
    refresh_fails(&w, &svc, &refresh).await;
}

/// A client that exchanges without keeping what it got would store a family per call: one
/// client holds at most `MAX_EXCHANGED_FAMILIES` live ones from one user's grant, even when
/// the calls come all at once. Every call is answered (a stateless backend is never locked
/// out); the oldest families give way.
async fn a_burst_of_exchanges_leaves_at_most_the_bound_of_live_families(backend: Backend) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let actor = w.app.access_token(&svc).await;
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let bound = usize::try_from(MAX_EXCHANGED_FAMILIES).expect("bound");
    let burst = (0..bound + 12).map(|_| exchange(&w.app, &svc, &w.subject, Some(&actor), &asks));
    let mut refresh_tokens = Vec::new();
    for res in futures_util::future::join_all(burst).await {
        let body = ok_json(res).await;
        refresh_tokens.push(body["refresh_token"].as_str().expect("refresh").to_string());
    }
    let refreshes = refresh_tokens.iter().map(|t| refresh_as(&w.app, &svc, t));
    let mut usable = 0;
    for res in futures_util::future::join_all(refreshes).await {
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        match status.as_u16() {
            200 => usable += 1,
            400 if body["error"] == "invalid_grant" => {}
            _ => panic!("unexpected {status}: {body}"),
        }
    }
    assert_eq!(usable, bound);
}

/// Past the bound, a new exchange ends the client's oldest family from that grant (its
/// refresh token is `invalid_grant` from then on) and keeps the others.
async fn past_the_bound_the_oldest_exchanged_family_gives_way(backend: Backend) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let actor = w.app.access_token(&svc).await;
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let refresh_of = |body: Value| body["refresh_token"].as_str().expect("refresh").to_string();
    let oldest =
        refresh_of(ok_json(exchange(&w.app, &svc, &w.subject, Some(&actor), &asks).await).await);
    // The others a second later: the oldest is the oldest by its time.
    w.app.clock.advance(1);
    let second =
        refresh_of(ok_json(exchange(&w.app, &svc, &w.subject, Some(&actor), &asks).await).await);
    for _ in 2..MAX_EXCHANGED_FAMILIES {
        ok_json(exchange(&w.app, &svc, &w.subject, Some(&actor), &asks).await).await;
    }
    let newest =
        refresh_of(ok_json(exchange(&w.app, &svc, &w.subject, Some(&actor), &asks).await).await);
    refresh_fails(&w, &svc, &oldest).await;
    ok_json(refresh_as(&w.app, &svc, &second).await).await;
    ok_json(refresh_as(&w.app, &svc, &newest).await).await;
}

/// Another node's `/revoke` of the subject token commits after this node checked its list
/// and before the family's insert (the insert waits for the revocation's lock): the exchange
/// finds the entry in its own transaction and stores no family, which the revocation could
/// no longer reach (RFC 8693 §2.2.2: `invalid_request` for a revoked subject).
async fn an_exchange_that_a_revocation_overtakes_at_the_commit_stores_no_family(backend: Backend) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let actor = w.app.access_token(&svc).await;
    let jti = jwt_claims(&w.subject)["jti"]
        .as_str()
        .expect("jti")
        .to_string();
    let now = w.app.clock.now();
    let mut other_node = connect(&w.app).await;
    let mut tx = holding_the_revocation_lock(&mut other_node, backend).await;
    insert_entry(&mut tx, ("jti", jti, None), now).await;
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let exchanged = async {
        let res = exchange(&w.app, &svc, &w.subject, Some(&actor), &asks).await;
        (res.status(), res.json::<Value>().await.expect("json"))
    };
    let revoked = async {
        waits_for_the_lock(&w.app, backend).await;
        tx.commit().await.expect("commit the revocation");
    };
    let ((status, body), ()) = tokio::join!(exchanged, revoked);
    assert_eq!(
        (status.as_u16(), &body["error"]),
        (400, &Value::from("invalid_request")),
        "{body}"
    );
    assert_eq!(
        families_of(&w.app, &svc.id).await,
        0,
        "no family the revocation could not reach"
    );
}

async fn connect(app: &TestApp) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&app.db.url).await.expect("db")
}

/// "Another node" in a transaction that holds what a revocation write holds: the revocation
/// lock on PostgreSQL, the write lock on SQLite.
async fn holding_the_revocation_lock(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> sqlx::Transaction<'_, sqlx::Any> {
    let mut tx = match backend {
        Backend::Postgres => conn.begin().await.expect("begin"),
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await.expect("begin"),
    };
    if backend == Backend::Postgres {
        sqlx::query("select 1 from pg_advisory_xact_lock($1)")
            .bind(tessera::store::REVOCATION_WRITE_LOCK)
            .execute(&mut *tx)
            .await
            .expect("the revocation lock");
    }
    tx
}

/// A revocation entry (kind, target, issued_before) as a revocation write records it.
async fn insert_entry(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    (kind, target, before): (&str, String, Option<i64>),
    now: i64,
) {
    sqlx::query(
        "insert into revocations (kind, target, issued_before, revoked_at, expires_at, reason) \
         values ($1, $2, $3, $4, $5, 'admin')",
    )
    .bind(kind)
    .bind(target)
    .bind(before)
    .bind(now)
    .bind(now + 7200)
    .execute(&mut **tx)
    .await
    .expect("the entry");
}

/// How many refresh families `client_id` has in the store.
async fn families_of(app: &TestApp, client_id: &str) -> i64 {
    let mut db = connect(app).await;
    sqlx::query_scalar("select count(*) from refresh_families where client_id = $1")
        .bind(client_id)
        .fetch_one(&mut db)
        .await
        .expect("count")
}

/// Until the exchange waits for the lock the test holds: PostgreSQL shows the waiter; SQLite
/// does not, so a generous pause (the exchange takes milliseconds).
async fn waits_for_the_lock(app: &TestApp, backend: Backend) {
    if backend == Backend::Sqlite {
        tokio::time::sleep(Duration::from_millis(800)).await;
        return;
    }
    let mut db = sqlx::AnyConnection::connect(&app.db.url).await.expect("db");
    for _ in 0..200 {
        // This test's database only: tests run in parallel on one cluster.
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_locks where locktype = 'advisory' and not granted \
             and database = (select oid from pg_database where datname = current_database())",
        )
        .fetch_one(&mut db)
        .await
        .expect("pg_locks");
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the exchange never waited for the revocation lock");
}

/// Issue 12 §2: a refresh re-checks the right the exchange was made under; losing it also
/// revokes the families made under it in the link change, so that granting it again (the
/// backend serves ORDERS again, the client gets `--exchange-refresh` again) revives none.
async fn a_family_exchanged_under_a_right_since_lost_stays_dead_when_it_is_granted_again(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (access, refresh) = exchange_for_refresh(&w, &svc).await;
    links(&w.app, &svc, &[], &[], &[BILLING]).await;
    links(&w.app, &svc, &[], &[ORDERS], &[BILLING]).await;
    assert!(revoked_in_store(&w.app, &access).await);
    refresh_fails(&w, &svc, &refresh).await;

    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (access, refresh) = exchange_for_refresh(&w, &svc).await;
    set_options(&w.app, &svc, false, false).await;
    set_options(&w.app, &svc, true, false).await;
    assert!(revoked_in_store(&w.app, &access).await);
    refresh_fails(&w, &svc, &refresh).await;
}

const BOTH: &str = "openid orders.read billing.read offline_access";

/// The app is linked to ORDERS and BILLING, and alice grants both: her code, not yet
/// redeemed, and its verifier.
async fn code_for_both(w: &World) -> (String, String) {
    links(&w.app, &w.native, &[ORDERS, BILLING], &[], &[ORDERS]).await;
    let p = pkce();
    let asked = params(&w.native, NATIVE_CB, &p, BOTH, &[ORDERS, BILLING]);
    let url = authorize_url(&w.app, &asked);
    let to = location(&w.app.browse(&w.browser, &url, ALICE).await);
    (code_of(&to), p.verifier)
}

/// The app's refresh for `resource` (RFC 8707 §2.2).
async fn refresh_for(w: &World, refresh: &str, resource: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", w.native.id.as_str()),
        ("resource", resource),
    ];
    w.app.post_token(&form).await
}

/// The resources of the family of `access` (its `fam`).
async fn family_resources(app: &TestApp, access: &str) -> String {
    let fam = jwt_claims(access)["fam"].as_str().expect("fam").to_string();
    let family = app.state.store.family(&fam).await.expect("store");
    family.expect("the family").resources
}

/// A code issued for ORDERS and BILLING, redeemed after ORDERS was taken from the app, starts
/// a family for BILLING alone: linking ORDERS again gives that family nothing for it.
async fn a_code_redeemed_after_its_api_is_taken_carries_it_no_more_and_relinking_revives_nothing(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let (code, verifier) = code_for_both(&w).await;
    links(&w.app, &w.native, &[BILLING], &[], &[]).await;
    let res = redeem(
        &w.app,
        &w.native,
        NATIVE_CB,
        &code,
        &verifier,
        Some(BILLING),
    )
    .await;
    let body = ok_json(res).await;
    let access = token_of(&body);
    assert_eq!(family_resources(&w.app, &access).await, BILLING);
    links(&w.app, &w.native, &[ORDERS, BILLING], &[], &[ORDERS]).await;
    let refresh = body["refresh_token"].as_str().expect("refresh");
    let again = refresh_for(&w, refresh, ORDERS).await;
    assert_eq!(error_of(again).await, "invalid_target");
}

/// A family for ORDERS and BILLING loses ORDERS when ORDERS is taken from the app: it
/// refreshes for BILLING still, never for ORDERS, and its access tokens for ORDERS end.
async fn taking_one_api_of_two_leaves_the_family_refreshable_for_the_other_only(backend: Backend) {
    let w = world_with(backend, OFFLINE).await;
    let rs = w.app.create_resource_server_client().await;
    let (code, verifier) = code_for_both(&w).await;
    let res = redeem(&w.app, &w.native, NATIVE_CB, &code, &verifier, Some(ORDERS)).await;
    let body = ok_json(res).await;
    let orders = token_of(&body);
    assert_eq!(w.app.introspect(&rs, &orders).await["active"], true);
    let refresh = body["refresh_token"].as_str().expect("refresh");
    links(&w.app, &w.native, &[BILLING], &[], &[]).await;
    assert_eq!(family_resources(&w.app, &orders).await, BILLING);
    let refused = refresh_for(&w, refresh, ORDERS).await;
    assert_eq!(error_of(refused).await, "invalid_target");
    let billing = ok_json(refresh_for(&w, refresh, BILLING).await).await;
    assert_eq!(jwt_claims(&token_of(&billing))["aud"], BILLING);
    becomes_inactive(&w.app, &rs, &orders).await;
}

/// A node whose cached links still let the service exchange into BILLING after BILLING was
/// taken from it (only the `client_api` entry is written here, the links stay as cached)
/// stores no family: it would refresh for BILLING again once BILLING is linked again
/// (RFC 8693 §2.2.2: `invalid_target`).
async fn an_exchange_on_a_stale_node_into_an_audience_just_taken_stores_no_family(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    taken_behind_the_links(&w.app, &svc.id, BILLING).await;
    let actor = w.app.access_token(&svc).await;
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let res = exchange(&w.app, &svc, &w.subject, Some(&actor), &asks).await;
    assert_eq!(error_of(res).await, "invalid_target");
}

/// The `client_api` entry of an API taken from a client covers the tokens a node with a
/// stale cache (any allowed `client_cache_ttl`) could still mint: linking the API again
/// within that margin says that the client's tokens for it stay inactive until then.
async fn linking_an_api_again_within_the_stale_cache_margin_warns_that_its_tokens_wait(
    backend: Backend,
) {
    let w = world(backend).await;
    let relink = |app: &TestApp| {
        let patch = tessera::admin::apis::ClientApisPatch {
            apis: Some(vec![ORDERS.to_string()]),
            ..Default::default()
        };
        let (state, id) = (app.state.clone(), w.native.id.clone());
        async move {
            tessera::http::admin::service(&state)
                .update_client_apis(&Actor::cli(), &id, patch)
                .await
                .expect("link ORDERS again")
        }
    };
    links(&w.app, &w.native, &[], &[], &[]).await;
    let soon = relink(&w.app).await;
    assert_eq!(soon.warnings.len(), 1, "{:?}", soon.warnings);
    assert!(soon.warnings[0].contains(ORDERS));
    links(&w.app, &w.native, &[], &[], &[]).await;
    w.app.clock.advance(3600 + GRANT_IN_FLIGHT + 1);
    let later = relink(&w.app).await;
    assert!(later.warnings.is_empty(), "{:?}", later.warnings);
}

/// Taking ORDERS from the app revokes its refresh family for ORDERS and takes ORDERS from
/// alice's consent, in the link change: linking ORDERS again revives neither.
async fn taking_an_api_from_a_client_ends_its_grants_for_it_and_relinking_revives_none(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let alice = jwt_claims(&w.subject)["sub"]
        .as_str()
        .expect("sub")
        .to_string();
    let consent = |app: &TestApp| {
        let (alice, native) = (alice.clone(), w.native.id.clone());
        let store = app.state.store.clone();
        async move { store.consent(&alice, &native).await.expect("store") }
    };
    let resources = |c: Option<tessera::store::ConsentRow>| c.map(|c| c.resources);
    assert_eq!(resources(consent(&w.app).await).as_deref(), Some(ORDERS));
    links(&w.app, &w.native, &[], &[], &[]).await;
    links(&w.app, &w.native, &[ORDERS], &[], &[ORDERS]).await;
    assert_eq!(resources(consent(&w.app).await).as_deref(), Some(""));
    let app_refresh = w.refresh.as_deref().expect("the app's refresh token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", app_refresh),
        ("client_id", w.native.id.as_str()),
    ];
    assert_eq!(
        error_of(w.app.post_token(&form).await).await,
        "invalid_grant"
    );
}

/// A token for (the app, ORDERS) as a node would mint it from links it still cached.
fn minted_by_a_stale_node(w: &World) -> String {
    let s = jwt_claims(&w.subject);
    let state = &w.app.state;
    mint(
        state.keys.current().active().expect("signer"),
        &state.settings.issuer(),
        AccessGrant {
            subject: s["sub"].as_str().expect("sub").into(),
            audience: ORDERS.into(),
            client_id: w.native.id.clone(),
            scope: "orders.read".into(),
            ttl: Duration::from_secs(300),
            sid: s["sid"].as_str().map(str::to_string),
            ..AccessGrant::default()
        },
        w.app.clock.now(),
    )
    .expect("mint")
    .token
}

/// A node whose cached links were not invalidated yet (its notice lost) may mint for a link
/// already taken, or an API already removed, up to `client_cache_ttl` later: the entries
/// cover that too.
async fn a_token_a_stale_node_mints_after_an_api_is_taken_or_removed_is_revoked(backend: Backend) {
    let w = world(backend).await;
    let rs = w.app.create_resource_server_client().await;
    links(&w.app, &w.native, &[], &[], &[]).await;
    w.app.clock.advance(30);
    let stale = minted_by_a_stale_node(&w);
    assert_eq!(w.app.introspect(&rs, &stale).await["active"], false);

    let w = world(backend).await;
    let rs = w.app.create_resource_server_client().await;
    behind_the_back(&w.app, "delete from client_apis where api = $1", &[ORDERS]).await;
    tessera::http::admin::service(&w.app.state)
        .remove_api(&Actor::cli(), ORDERS)
        .await
        .expect("remove ORDERS");
    w.app.clock.advance(30);
    let stale = minted_by_a_stale_node(&w);
    assert_eq!(w.app.introspect(&rs, &stale).await["active"], false);
}

/// A token for BILLING exchanged from the app's token for ORDERS dies when ORDERS is taken
/// from the app, or removed: the `client_api` and `api` entries reach every origin (`xo`).
async fn an_exchanged_token_dies_when_the_api_it_was_made_from_is_taken_or_removed(
    backend: Backend,
) {
    let w = world(backend).await;
    let rs = w.app.create_resource_server_client().await;
    let billing = token_of(&ok_json(delegate(&w, &w.subject, &[]).await).await);
    assert_eq!(w.app.introspect(&rs, &billing).await["active"], true);
    links(&w.app, &w.native, &[], &[], &[]).await;
    becomes_inactive(&w.app, &rs, &billing).await;

    let w = world(backend).await;
    let rs = w.app.create_resource_server_client().await;
    let billing = token_of(&ok_json(delegate(&w, &w.subject, &[]).await).await);
    // Only the API's own entry: written as a removal would, without touching the links.
    let now = w.app.clock.now();
    let api = Target::Api {
        api: ORDERS.into(),
        before: now,
    };
    w.app
        .state
        .revocations
        .revoke(
            &w.app.state.store,
            Revocation::new(api, reason::API_REMOVED, now),
        )
        .await
        .expect("revoke ORDERS");
    becomes_inactive(&w.app, &rs, &billing).await;
}

/// Issue 12 §2: a family the service got by impersonation (no actor token, another client's
/// subject) ends, in the link change, when the service loses `--exchange-impersonate`;
/// granting it again revives none. A family it got with its actor token keeps going.
async fn a_family_exchanged_by_impersonation_ends_when_the_right_to_impersonate_does(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, true).await;
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let body = ok_json(exchange(&w.app, &svc, &w.subject, None, &asks).await).await;
    let impersonated = token_of(&body);
    let impersonated_refresh = body["refresh_token"].as_str().expect("refresh").to_string();
    let delegated = exchange_for_refresh(&w, &svc).await;
    let impersonated = (impersonated, impersonated_refresh);
    losing_impersonation_ends_only(&w, &svc, impersonated, delegated).await;
}

/// The service loses `--exchange-impersonate` (and gets it back): its family made by
/// impersonation ends for good, the one made with its actor token lives. Each is (access
/// token, refresh token).
async fn losing_impersonation_ends_only(
    w: &World,
    svc: &TestClient,
    impersonated: (String, String),
    delegated: (String, String),
) {
    set_options(&w.app, svc, true, false).await;
    set_options(&w.app, svc, true, true).await;
    assert!(revoked_in_store(&w.app, &impersonated.0).await);
    refresh_fails(w, svc, &impersonated.1).await;
    assert!(!revoked_in_store(&w.app, &delegated.0).await);
    ok_json(refresh_as(&w.app, svc, &delegated.1).await).await;
}

/// A node whose cached links still show BILLING for the app after BILLING was taken from it
/// (only the `client_api` entry is written here, the links stay as cached) lets alice's
/// browser through: her consent is remembered without BILLING; the code gives no token for
/// BILLING (RFC 8707 §2: `invalid_target`, the code stays unspent) and, for ORDERS, a family
/// for ORDERS alone, so that none refreshes for BILLING once it is linked again.
async fn a_grant_a_stale_node_lets_through_for_an_api_just_taken_stores_nothing_for_it(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    links(&w.app, &w.native, &[ORDERS, BILLING], &[], &[ORDERS]).await;
    taken_behind_the_links(&w.app, &w.native.id, BILLING).await;
    let (code, verifier) = code_for_both(&w).await;
    let alice = jwt_claims(&w.subject)["sub"]
        .as_str()
        .expect("sub")
        .to_string();
    let consent = w
        .app
        .state
        .store
        .consent(&alice, &w.native.id)
        .await
        .expect("store");
    let remembered = consent.expect("a consent").resources;
    assert!(remembered.contains(ORDERS), "{remembered}");
    assert!(!remembered.contains(BILLING), "{remembered}");
    let res = redeem(
        &w.app,
        &w.native,
        NATIVE_CB,
        &code,
        &verifier,
        Some(BILLING),
    )
    .await;
    assert_eq!(error_of(res).await, "invalid_target");
    let res = redeem(&w.app, &w.native, NATIVE_CB, &code, &verifier, Some(ORDERS)).await;
    let access = token_of(&ok_json(res).await);
    assert_eq!(family_resources(&w.app, &access).await, ORDERS);
}

/// Another node takes BILLING from the app (its `client_api` entry commits under the
/// revocation lock) while the app redeems a code for ORDERS and BILLING asking for BILLING:
/// the redemption waits for the change and then stores nothing for BILLING (`invalid_target`),
/// instead of a family the change, already past its grant rows, could no longer narrow.
async fn a_redemption_that_an_api_change_overtakes_at_the_commit_stores_nothing_for_the_api(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let (code, verifier) = code_for_both(&w).await;
    let before = families_of(&w.app, &w.native.id).await;
    let now = w.app.clock.now();
    let key = client_api_key(&w.native.id, BILLING);
    let mut other_node = connect(&w.app).await;
    let mut tx = holding_the_revocation_lock(&mut other_node, backend).await;
    insert_entry(&mut tx, ("client_api", key, Some(now + 60)), now).await;
    let redeemed = async {
        let res = redeem(
            &w.app,
            &w.native,
            NATIVE_CB,
            &code,
            &verifier,
            Some(BILLING),
        )
        .await;
        error_of(res).await
    };
    let changed = async {
        waits_for_the_lock(&w.app, backend).await;
        tx.commit().await.expect("commit the change");
    };
    let (error, ()) = tokio::join!(redeemed, changed);
    assert_eq!(error, "invalid_target");
    assert_eq!(families_of(&w.app, &w.native.id).await, before);
}

/// A node whose cached client still shows a right the exchange needs after it was taken
/// (written here behind the node's back, so its cache stays as it was): `--exchange-refresh`,
/// the `--serves-api` role the service exchanged under, `--exchange-impersonate` for an
/// exchange without an actor token, the audience. The family's insert reads the rights as
/// stored and stores none (which the change, already committed, could not revoke), with the
/// answer a fresh node gives (RFC 8693 §2.2.2).
async fn an_exchange_on_a_stale_node_after_its_right_is_taken_stores_no_family(backend: Backend) {
    let taken = [
        (
            "update clients set exchange_refresh = 0 where client_id = $1",
            true,
            "unauthorized_client",
        ),
        (
            "delete from client_apis where client_id = $1 and role = 'serve'",
            true,
            "invalid_request",
        ),
        (
            "update clients set exchange_impersonate = 0 where client_id = $1",
            false,
            "unauthorized_client",
        ),
        (
            "delete from client_apis where client_id = $1 and role = 'exchange'",
            true,
            "invalid_target",
        ),
    ];
    for (sql, with_actor, error) in taken {
        let w = world_with(backend, OFFLINE).await;
        let svc = refreshing_service(&w).await;
        set_options(&w.app, &svc, true, true).await;
        let actor = w.app.access_token(&svc).await;
        let actor = with_actor.then_some(actor.as_str());
        let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
        // The node caches the client and its policy as they are.
        ok_json(exchange(&w.app, &svc, &w.subject, actor, &asks).await).await;
        behind_the_back(&w.app, sql, &[&svc.id]).await;
        let res = exchange(&w.app, &svc, &w.subject, actor, &asks).await;
        assert_eq!(error_of(res).await, error, "{sql}");
        assert_eq!(families_of(&w.app, &svc.id).await, 1, "{sql}");
    }
}

/// A service that may impersonate turns the app's ORDERS token into a BILLING token of its
/// own without an actor token, then exchanges that own token into ORDERS for a refresh
/// token: the family came to it by impersonation (judged where the grant entered the
/// service, not at the last hop), so losing `--exchange-impersonate` ends it. The same
/// chain with the service's actor token keeps its `act` through the own exchange and lives.
async fn an_impersonation_laundered_through_an_own_exchange_ends_with_the_right_to_impersonate(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_client(&w.app, "Chain", "billing.read orders.read").await;
    links(&w.app, &svc, &[], &[ORDERS], &[BILLING, ORDERS]).await;
    set_options(&w.app, &svc, true, true).await;
    let actor = w.app.access_token(&svc).await;
    // Into BILLING with `first` as actor token (or none), then its own token back into
    // ORDERS with `second`.
    let chain = |first: Option<&str>, second: Option<&str>| {
        let (w, svc) = (&w, &svc);
        let (first, second) = (first.map(str::to_string), second.map(str::to_string));
        async move {
            let into_billing = [("audience", BILLING)];
            let res = exchange(&w.app, svc, &w.subject, first.as_deref(), &into_billing).await;
            let own = token_of(&ok_json(res).await);
            let back = [("audience", ORDERS), ("requested_token_type", REFRESH)];
            let res = exchange(&w.app, svc, &own, second.as_deref(), &back).await;
            let body = ok_json(res).await;
            let refresh = body["refresh_token"].as_str().expect("refresh").to_string();
            (token_of(&body), refresh)
        }
    };
    let laundered = chain(None, None).await;
    assert!(jwt_claims(&laundered.0).get("act").is_none());
    let delegated = chain(Some(&actor), None).await;
    assert_eq!(
        jwt_claims(&delegated.0)["act"]["client_id"],
        svc.id.as_str()
    );
    losing_impersonation_ends_only(&w, &svc, laundered, delegated).await;
    // The service's actor token on its own exchange does not make the first one a delegation.
    let laundered = chain(None, Some(&actor)).await;
    let delegated = chain(Some(&actor), Some(&actor)).await;
    losing_impersonation_ends_only(&w, &svc, laundered, delegated).await;
}

/// A service that still uses BILLING itself but may no longer exchange into it loses its
/// exchanged families for BILLING in the link change (no `client_api` entry: it may still
/// get BILLING tokens by its own grants): giving the audience back revives none.
async fn a_family_exchanged_into_an_audience_since_taken_stays_dead_when_it_is_given_again(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    links(&w.app, &svc, &[BILLING], &[ORDERS], &[BILLING]).await;
    set_options(&w.app, &svc, true, false).await;
    let (access, refresh) = exchange_for_refresh(&w, &svc).await;
    links(&w.app, &svc, &[BILLING], &[ORDERS], &[]).await;
    links(&w.app, &svc, &[BILLING], &[ORDERS], &[BILLING]).await;
    assert!(revoked_in_store(&w.app, &access).await);
    refresh_fails(&w, &svc, &refresh).await;
}

/// The service keeps one family exchanged from alice's grant and exchanges its tokens, its
/// own, per request for more: past the bound the oldest give way, but never the family the
/// others were made from (its end would end them all, the newest too).
async fn past_the_bound_a_family_others_were_made_from_does_not_give_way(backend: Backend) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, true, false).await;
    let (parent, parent_refresh) = exchange_for_refresh(&w, &svc).await;
    w.app.clock.advance(1);
    let asks = [("audience", BILLING), ("requested_token_type", REFRESH)];
    let mut newest = String::new();
    for _ in 0..MAX_EXCHANGED_FAMILIES {
        let body = ok_json(exchange(&w.app, &svc, &parent, None, &asks).await).await;
        newest = body["refresh_token"].as_str().expect("refresh").to_string();
    }
    ok_json(refresh_as(&w.app, &svc, &parent_refresh).await).await;
    ok_json(refresh_as(&w.app, &svc, &newest).await).await;
    let mut db = connect(&w.app).await;
    let live: i64 = sqlx::query_scalar(
        "select count(*) from refresh_families where client_id = $1 and revoked_at is null",
    )
    .bind(&svc.id)
    .fetch_one(&mut db)
    .await
    .expect("count");
    assert_eq!(live, MAX_EXCHANGED_FAMILIES, "the bound holds");
}

/// Only the `client_api` entry of `api` taken from `client_id`, as the link change writes it,
/// with the links left as this node cached them: what a node whose cache was not told yet
/// sees.
pub(crate) async fn taken_behind_the_links(app: &TestApp, client_id: &str, api: &str) {
    let now = app.clock.now();
    let taken = Target::ClientApi {
        key: client_api_key(client_id, api),
        before: now + 60,
    };
    app.state
        .revocations
        .revoke(
            &app.state.store,
            Revocation::new(taken, reason::API_REMOVED, now),
        )
        .await
        .expect("the client_api entry");
}

/// The service impersonated the app's token into BILLING; a second backend, which serves
/// BILLING, turned that token into one for ORDERS with its actor token; the service, which
/// serves ORDERS, may exchange that one while it may still impersonate, and not once the
/// right is gone: the grant came to it by impersonation the first time round (every
/// exchange checks each hop by which the grant came to the caller, not only the last).
async fn a_grant_a_client_impersonated_does_not_come_back_to_it_through_another_client(
    backend: Backend,
) {
    let w = world_with(backend, OFFLINE).await;
    let svc = refreshing_service(&w).await;
    set_options(&w.app, &svc, false, true).await;
    let other = refreshing_client(&w.app, "Other backend", "orders.read billing.read").await;
    links(&w.app, &other, &[], &[BILLING], &[ORDERS]).await;
    let into = |aud: &'static str| [("audience", aud)];
    let t1 = exchange(&w.app, &svc, &w.subject, None, &into(BILLING)).await;
    let t1 = token_of(&ok_json(t1).await);
    let other_actor = w.app.access_token(&other).await;
    let t2 = exchange(&w.app, &other, &t1, Some(&other_actor), &into(ORDERS)).await;
    let t2 = token_of(&ok_json(t2).await);
    let actor = w.app.access_token(&svc).await;
    ok_json(exchange(&w.app, &svc, &t2, Some(&actor), &into(BILLING)).await).await;
    set_options(&w.app, &svc, false, false).await;
    let back = exchange(&w.app, &svc, &t2, Some(&actor), &into(BILLING)).await;
    assert_eq!(error_of(back).await, "unauthorized_client");
}
