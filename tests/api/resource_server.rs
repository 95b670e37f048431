//! The example API (examples/resource-server) against a running Tessera: it verifies access
//! tokens offline with jsonwebtoken and a cached JWKS, answers RFC 6750 §3 challenges, and
//! honours Tessera's revocation list within its pull interval.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tessera_example_resource_server::{Config, State};

use tessera::admin::Actor;
use tessera::oauth::client::RegistrationInput;
use tessera::revocation::{Revocation, Target, reason};

use crate::apis::{
    ALICE, BILLING, NATIVE_CB, access_of, add_api, code_client, code_of, links, ok_json, params,
    redeem,
};
use crate::code_flow::{authorize_url, pkce};
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestClient, http_client, jwt_claims, location, service_client,
    spawn_app, spawn_app_with,
};
use crate::key_rotation::kid_of;
use crate::token_exchange::{EXCHANGE, REFRESH, exchange, remove_client, revoke_as, set_options};

pub(crate) const ORDERS: &str = "https://orders.example.com";
const WEB_CB: &str = "https://shop.example.com/cb";
/// The example's pull interval in these tests.
const PULL_EVERY: Duration = Duration::from_secs(2);

/// The example API, in-process on a random port.
pub(crate) struct OrdersApi {
    pub(crate) url: String,
    pub(crate) state: actix_web::web::Data<State>,
    handle: actix_web::dev::ServerHandle,
}

impl OrdersApi {
    pub(crate) async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Registers the orders API at Tessera and its backend client (which may pull
/// `/revocations`), then starts the example API against it.
pub(crate) async fn start_orders_api(app: &TestApp, ttl: Option<&str>) -> OrdersApi {
    add_api(app, ORDERS, "orders.read orders.write", ttl, None).await;
    let backend = app
        .create_client(tessera::oauth::client::RegistrationInput {
            name: "Orders backend".into(),
            ..service_client("")
        })
        .await;
    links(app, &backend, &[], &[ORDERS], &[]).await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let config = Config {
        issuer: app.address.clone(),
        audience: ORDERS.into(),
        client_id: backend.id.clone(),
        client_secret: backend.secret().to_string(),
        revocations_every: PULL_EVERY,
        leeway: Duration::ZERO,
        unknown_kid_refetch_every: Duration::from_secs(1),
    };
    let running = tessera_example_resource_server::run(listener, config)
        .await
        .expect("the example API starts");
    let handle = running.server.handle();
    tokio::spawn(running.server);
    OrdersApi {
        url: format!("http://127.0.0.1:{port}"),
        state: running.state,
        handle,
    }
}

/// A confidential web app allowed the orders API, and alice.
async fn shop(app: &TestApp) -> TestClient {
    app.create_user("alice", PASSWORD).await;
    let mut input = code_client("confidential", WEB_CB);
    input.scope = Some("openid profile offline_access orders.read".into());
    input.first_party = true;
    let client = app.create_client(input).await;
    links(app, &client, &[ORDERS], &[], &[]).await;
    client
}

/// alice signs in to the shop (code flow, PKCE, `resource`): its access token for the API,
/// and the browser (signed in at Tessera).
async fn user_token(app: &TestApp, shop: &TestClient) -> (String, reqwest::Client) {
    let p = pkce();
    let browser = http_client();
    let at = params(shop, WEB_CB, &p, "openid orders.read", &[ORDERS]);
    let res = app.browse(&browser, &authorize_url(app, &at), ALICE).await;
    let code = code_of(&location(&res));
    let (token, claims) =
        access_of(redeem(app, shop, WEB_CB, &code, &p.verifier, None).await).await;
    assert_eq!(claims["aud"], ORDERS);
    (token, browser)
}

/// A client_credentials token of `client`, for `resource` when given.
async fn service_token(app: &TestApp, client: &TestClient, resource: Option<&str>) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(resource.map(|r| ("resource", r)));
    access_of(
        app.post_token_basic(&client.id, client.secret(), &form)
            .await,
    )
    .await
    .0
}

async fn get_orders(api: &OrdersApi, token: Option<&str>) -> reqwest::Response {
    let mut req = http_client().get(format!("{}/orders", api.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("GET /orders")
}

fn challenge(res: &reqwest::Response) -> String {
    res.headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// RFC 6750 §3.1: a refused token gets 401 and a Bearer challenge with `invalid_token`.
async fn assert_invalid(res: reqwest::Response, why: &str) {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{why}");
    let c = challenge(&res);
    assert!(
        c.starts_with("Bearer ") && c.contains(r#"error="invalid_token""#),
        "{why}: {c}"
    );
}

/// A JWT signed with Tessera's active key: what a token with one thing wrong looks like when
/// only that thing is wrong.
pub(crate) fn signed_by_tessera(app: &TestApp, typ: &str, claims: &Value) -> String {
    let ring = app.state.keys.current();
    let key = ring.active().expect("a signing key");
    tessera::tokens::jws::sign(key, typ, claims).expect("sign")
}

async fn the_example_api_accepts_its_tokens_and_refuses_others_as_rfc6750_says(backend: Backend) {
    let app = spawn_app(backend).await;
    let api = start_orders_api(&app, None).await;
    let reader = app.create_service_client("orders.read").await;
    links(&app, &reader, &[ORDERS], &[], &[]).await;
    let good = service_token(&app, &reader, Some(ORDERS)).await;

    // Accepted: right issuer, audience, type, scope.
    let res = get_orders(&api, Some(&good)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["client_id"], reader.id.as_str());

    // RFC 6750 §3.1: no token, no error code; just the challenge.
    let res = get_orders(&api, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&res), r#"Bearer realm="orders""#);

    // Another audience: a token without `resource` is for the client itself (RFC 8707).
    let own = service_token(&app, &reader, None).await;
    assert_eq!(crate::helpers::jwt_claims(&own)["aud"], reader.id.as_str());
    assert_invalid(get_orders(&api, Some(&own)).await, "aud is the client").await;

    // Expired: minted an hour ago (Tessera's clock turned back for one request).
    app.clock.advance(-3600);
    let old = service_token(&app, &reader, Some(ORDERS)).await;
    app.clock.advance(3600);
    assert_invalid(get_orders(&api, Some(&old)).await, "expired").await;

    // Right key, audience and lifetime, but not an access token (RFC 9068 §4: typ at+jwt).
    let mut claims = crate::helpers::jwt_claims(&good);
    let as_id_token = signed_by_tessera(&app, "JWT", &claims);
    assert_invalid(get_orders(&api, Some(&as_id_token)).await, "typ JWT").await;
    // The same claims with typ at+jwt pass: only the type was wrong.
    let retyped = signed_by_tessera(&app, "at+jwt", &claims);
    assert_eq!(get_orders(&api, Some(&retyped)).await.status(), 200);
    // Another issuer, same key.
    claims["iss"] = "https://evil.example.com".into();
    let foreign = signed_by_tessera(&app, "at+jwt", &claims);
    assert_invalid(get_orders(&api, Some(&foreign)).await, "iss").await;

    // An unknown kid: refused, and a burst of them fetches the JWKS at most once per second.
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let mut header = crate::helpers::jwt_claims(&format!("x.{}.x", parts[0]));
    header["kid"] = "no-such-key".into();
    use base64::Engine;
    parts[0] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string());
    let forged = parts.join(".");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = api.state.jwks.fetches();
    let burst = (0..20).map(|_| get_orders(&api, Some(&forged)));
    for res in futures_util::future::join_all(burst).await {
        assert_invalid(res, "unknown kid").await;
    }
    let fetched = api.state.jwks.fetches() - before;
    assert!(
        fetched <= 1,
        "20 unknown kids fetched the JWKS {fetched} times"
    );

    // RFC 6750 §3.1: a good token without the scope the route needs is 403 insufficient_scope.
    let res = http_client()
        .post(format!("{}/orders", api.url))
        .bearer_auth(&good)
        .send()
        .await
        .expect("POST /orders");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&res),
        r#"Bearer realm="orders", error="insufficient_scope", scope="orders.write""#
    );
    api.stop().await;
}

/// The issue's promise: a token revoked at Tessera is refused by the API within its pull
/// interval. Measured from Tessera's answer to the revocation to the API's first refusal.
async fn a_token_revoked_at_tessera_is_refused_by_the_api_within_the_pull_interval(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let api = start_orders_api(&app, None).await;
    let shop = shop(&app).await;
    let (token, browser) = user_token(&app, &shop).await;
    assert_eq!(get_orders(&api, Some(&token)).await.status(), 200);

    // RFC 7009: the app revokes its access token (a `jti` entry).
    let started = Instant::now();
    let res = app
        .client
        .post(app.url("/revoke"))
        .basic_auth(&shop.id, Some(shop.secret()))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("POST /revoke");
    assert_eq!(res.status(), 200);
    let reach = refused_within(&api, &token, PULL_EVERY * 3).await;
    let took = started.elapsed();
    println!(
        "revocation reach ({backend:?}): revoked token refused after {:.2} s (pull every {} s)",
        reach.as_secs_f64(),
        PULL_EVERY.as_secs()
    );
    let margin = Duration::from_millis(1000);
    assert!(
        reach <= PULL_EVERY + margin,
        "refused after {reach:?}, more than the pull interval {PULL_EVERY:?} + {margin:?} ({took:?} in all)"
    );

    // Logging out at Tessera ends the session: a fresh token of it (a `sid` entry) goes too.
    let (second, browser2) = user_token(&app, &shop).await;
    drop(browser);
    assert_eq!(get_orders(&api, Some(&second)).await.status(), 200);
    let csrf = app.account_csrf(&browser2).await;
    let res = browser2
        .post(app.url("/logout"))
        .header("origin", &app.address)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("POST /logout");
    assert!(res.status().is_redirection() || res.status().is_success());
    refused_within_the_pull_interval(&api, &second, "token of a logged-out session").await;
    api.stop().await;
}

/// Polls the API until it refuses `token` (`what` was revoked just before), and checks that
/// this took at most the pull interval (plus a margin for a slow machine).
async fn refused_within_the_pull_interval(api: &OrdersApi, token: &str, what: &str) {
    let reach = refused_within(api, token, PULL_EVERY * 3).await;
    println!(
        "revocation reach: {what} refused after {:.2} s",
        reach.as_secs_f64()
    );
    assert!(
        reach <= PULL_EVERY + Duration::from_millis(1000),
        "{what}: {reach:?}"
    );
}

/// How long after an API is taken from a client its `client_api` entry still covers the
/// client's new tokens: the longest `client_cache_ttl` allowed and a grant in flight.
const STALE_MARGIN: i64 = 3600 + tessera::revocation::GRANT_IN_FLIGHT;

/// Tokens for an API stop when the API is taken from their client (a `client_api` entry:
/// `"{client_id} {aud}"`) or removed (an `api` entry: the `aud`), as of the entry's
/// `issued_before`: another client's tokens, and tokens issued afterwards, still pass.
async fn an_api_taken_from_a_client_or_removed_refuses_its_earlier_tokens_within_the_pull_interval(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let api = start_orders_api(&app, None).await;
    let reader = app.create_service_client("orders.read").await;
    let other = app.create_service_client("orders.read").await;
    for c in [&reader, &other] {
        links(&app, c, &[ORDERS], &[], &[]).await;
    }
    let taken = service_token(&app, &reader, Some(ORDERS)).await;
    let kept = service_token(&app, &other, Some(ORDERS)).await;
    assert_eq!(get_orders(&api, Some(&taken)).await.status(), 200);
    assert_eq!(get_orders(&api, Some(&kept)).await.status(), 200);

    links(&app, &reader, &[], &[], &[]).await;
    refused_within_the_pull_interval(&api, &taken, "token of a client the API was taken from")
        .await;
    assert_eq!(
        get_orders(&api, Some(&kept)).await.status(),
        200,
        "other client"
    );
    // Given back once the stale-cache margin has passed (the entry covers tokens a node
    // with a stale cache could mint until then): what it gets from then on passes.
    app.clock.advance(STALE_MARGIN + 1);
    links(&app, &reader, &[ORDERS], &[], &[]).await;
    let again = service_token(&app, &reader, Some(ORDERS)).await;
    let kept = service_token(&app, &other, Some(ORDERS)).await;
    tokio::time::sleep(PULL_EVERY + Duration::from_millis(500)).await;
    assert_eq!(
        get_orders(&api, Some(&again)).await.status(),
        200,
        "issued after"
    );

    // The entry `tessera api remove` writes. Removal needs every client unlinked first, which
    // writes `client_api` entries of its own, so the `api` entry is written alone here, as
    // `remove_api` writes it, to show that the API honours it by itself.
    api_entry_alone(&app, ORDERS).await;
    refused_within_the_pull_interval(&api, &kept, "token of a removed API").await;
    assert_invalid(get_orders(&api, Some(&again)).await, "removed API").await;
    app.clock.advance(2);
    let later = service_token(&app, &other, Some(ORDERS)).await;
    assert_eq!(
        get_orders(&api, Some(&later)).await.status(),
        200,
        "issued after"
    );
    api.stop().await;
}

/// The `api` entry `remove_api` writes for `api`, as of now, without touching any link.
async fn api_entry_alone(app: &TestApp, api: &str) {
    let now = app.clock.now();
    let target = Target::Api {
        api: api.into(),
        before: now,
    };
    app.state
        .revocations
        .revoke(
            &app.state.store,
            Revocation::new(target, reason::API_REMOVED, now),
        )
        .await
        .expect("an api entry");
}

/// The billing backend: serves BILLING (signed with EdDSA) and may exchange its tokens for
/// the orders API (RFC 8693), with a refresh token when allowed.
async fn billing_backend(app: &TestApp) -> TestClient {
    add_api(app, BILLING, "billing.read", None, Some("EdDSA")).await;
    let backend = app
        .create_client(RegistrationInput {
            name: "Billing backend".into(),
            client_type: "confidential".into(),
            grant_types: vec![
                "client_credentials".into(),
                "refresh_token".into(),
                EXCHANGE.into(),
            ],
            scope: Some("orders.read".into()),
            ..RegistrationInput::default()
        })
        .await;
    links(app, &backend, &[], &[BILLING], &[ORDERS]).await;
    backend
}

/// A public mobile app allowed BILLING.
async fn mobile_app(app: &TestApp) -> TestClient {
    let mobile = app
        .create_client(RegistrationInput {
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            ..code_client("public", NATIVE_CB)
        })
        .await;
    links(app, &mobile, &[BILLING], &[], &[]).await;
    mobile
}

/// alice signs in to `mobile` for BILLING: its access token, and its refresh token when
/// `scope` has offline_access.
async fn mobile_tokens(
    app: &TestApp,
    mobile: &TestClient,
    scope: &str,
) -> (String, Option<String>) {
    let p = pkce();
    let url = authorize_url(app, &params(mobile, NATIVE_CB, &p, scope, &[BILLING]));
    let to = location(&app.browse(&http_client(), &url, ALICE).await);
    let res = redeem(app, mobile, NATIVE_CB, &code_of(&to), &p.verifier, None).await;
    let body = ok_json(res).await;
    let access = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    (access, body["refresh_token"].as_str().map(str::to_string))
}

/// The billing backend exchanges `subject` for a token for the orders API, its own token as
/// actor; the token names the subject in `xo`.
async fn exchanged_for_orders(
    app: &TestApp,
    billing: &TestClient,
    subject: &str,
    extra: &[(&str, &str)],
) -> String {
    let actor = app.access_token(billing).await;
    let mut form = vec![("audience", ORDERS)];
    form.extend_from_slice(extra);
    let body = ok_json(exchange(app, billing, subject, Some(&actor), &form).await).await;
    let token = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let claims = jwt_claims(&token);
    assert_eq!(claims["aud"], ORDERS);
    assert_eq!(claims["xo"][0]["j"], jwt_claims(subject)["jti"]);
    token
}

/// A token made by token exchange carries its origins in `xo` ({c, j, k, f, a}); revoking the
/// token it was made from, that token's refresh family, its client or its signing key, or
/// taking its API from its client or removing it, reaches the exchanged token at the API
/// too, although none of them is the exchanged token's own jti, family, client, key or API.
async fn an_exchanged_token_is_refused_when_what_it_was_made_from_is_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let api = start_orders_api(&app, None).await;
    app.create_user("alice", PASSWORD).await;
    let billing = billing_backend(&app).await;
    let mobile = mobile_app(&app).await;

    // `j`: the app revokes the token it handed to the backend (RFC 7009).
    let (subject, _) = mobile_tokens(&app, &mobile, "openid billing.read").await;
    let exchanged = exchanged_for_orders(&app, &billing, &subject, &[]).await;
    assert_eq!(get_orders(&api, Some(&exchanged)).await.status(), 200);
    revoke_as(&app, &mobile, &subject).await;
    refused_within_the_pull_interval(&api, &exchanged, "exchanged token (subject jti)").await;

    // `f`: with a refresh token of its own the backend's family is new; the app revokes its
    // refresh token, and with it its family.
    set_options(&app, &billing, true, false).await;
    let (subject, refresh) =
        mobile_tokens(&app, &mobile, "openid billing.read offline_access").await;
    let asks = [("requested_token_type", REFRESH)];
    let exchanged = exchanged_for_orders(&app, &billing, &subject, &asks).await;
    let (claims, subject_fam) = (jwt_claims(&exchanged), jwt_claims(&subject)["fam"].clone());
    assert_ne!(claims["fam"], subject_fam);
    assert_eq!(claims["xo"][0]["f"], subject_fam);
    assert_eq!(get_orders(&api, Some(&exchanged)).await.status(), 200);
    revoke_as(&app, &mobile, &refresh.expect("a refresh token")).await;
    refused_within_the_pull_interval(&api, &exchanged, "exchanged token (subject family)").await;

    // `c`: the app the subject token was issued to is removed.
    let watch = mobile_app(&app).await;
    let (subject, _) = mobile_tokens(&app, &watch, "openid billing.read").await;
    let exchanged = exchanged_for_orders(&app, &billing, &subject, &[]).await;
    assert_eq!(jwt_claims(&exchanged)["xo"][0]["c"], watch.id.as_str());
    assert_eq!(get_orders(&api, Some(&exchanged)).await.status(), 200);
    remove_client(&app, &watch).await;
    refused_within_the_pull_interval(&api, &exchanged, "exchanged token (subject client)").await;

    // `a` with `c`: BILLING is taken from the app the subject was issued to (`client_api`
    // "{c} {a}"); the exchanged token is the backend's own, for ORDERS, so only its origin
    // names the pair.
    let phone = mobile_app(&app).await;
    let (subject, _) = mobile_tokens(&app, &phone, "openid billing.read").await;
    let exchanged = exchanged_for_orders(&app, &billing, &subject, &[]).await;
    assert_eq!(jwt_claims(&exchanged)["xo"][0]["a"][0], BILLING);
    assert_eq!(get_orders(&api, Some(&exchanged)).await.status(), 200);
    links(&app, &phone, &[], &[], &[]).await;
    let what = "exchanged token (subject's API taken from its client)";
    refused_within_the_pull_interval(&api, &exchanged, what).await;

    // `a`: BILLING is removed (its `api` entry alone, as `remove_api` writes it: removal
    // needs every client unlinked first).
    let (subject, _) = mobile_tokens(&app, &mobile, "openid billing.read").await;
    let exchanged = exchanged_for_orders(&app, &billing, &subject, &[]).await;
    assert_eq!(get_orders(&api, Some(&exchanged)).await.status(), 200);
    api_entry_alone(&app, BILLING).await;
    refused_within_the_pull_interval(&api, &exchanged, "exchanged token (subject's API)").await;
    app.clock.advance(2);

    // `k`: the subject was signed with BILLING's EdDSA key, the exchanged token with the
    // orders API's RS256 key; the EdDSA key is revoked after a leak.
    let (subject, _) = mobile_tokens(&app, &mobile, "openid billing.read").await;
    let exchanged = exchanged_for_orders(&app, &billing, &subject, &[]).await;
    let kid = kid_of(&subject);
    assert_ne!(kid_of(&exchanged), kid);
    assert_eq!(get_orders(&api, Some(&exchanged)).await.status(), 200);
    tessera::http::admin::service(&app.state)
        .revoke_key(&Actor::cli(), &app.state.settings, &kid)
        .await
        .expect("revoke the key");
    refused_within_the_pull_interval(&api, &exchanged, "exchanged token (subject key)").await;
    api.stop().await;
}

/// Polls the API until it refuses `token`; how long that took.
async fn refused_within(api: &OrdersApi, token: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let res = get_orders(api, Some(token)).await;
        if res.status() == StatusCode::UNAUTHORIZED {
            assert_invalid(res, "revoked").await;
            return start.elapsed();
        }
        assert_eq!(res.status(), 200);
        assert!(start.elapsed() < limit, "still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A key revoked after a leak: Tessera signs with a successor at once. The API's cached JWKS
/// is still fresh (max-age) but lacks the new kid, so the first token signed with it makes the
/// API fetch the JWKS again; the revoked key's tokens are refused (`kid` entry, gone from the
/// JWKS).
async fn a_key_rotation_makes_the_api_fetch_the_jwks_for_the_new_kid(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.key_rescan_interval = Duration::from_millis(200);
    })
    .await;
    let api = start_orders_api(&app, None).await;
    let reader = app.create_service_client("orders.read").await;
    links(&app, &reader, &[ORDERS], &[], &[]).await;
    let old = service_token(&app, &reader, Some(ORDERS)).await;
    assert_eq!(get_orders(&api, Some(&old)).await.status(), 200);
    let old_kid = crate::key_rotation::kid_of(&old);

    let revoked =
        tessera::keys::manage::revoke(&app.state.store, &app.state.settings, &old_kid, &app.clock)
            .await
            .expect("revoke the key");
    let successor = revoked.successor.expect("a successor signs at once");
    // The node picks the change up (key rescan), then signs with the successor.
    assert!(
        crate::key_rotation::published_within(&app, &old_kid, false, Duration::from_secs(10)).await,
        "the revoked key leaves the JWKS"
    );
    let start = Instant::now();
    let new = loop {
        let t = service_token(&app, &reader, Some(ORDERS)).await;
        if crate::key_rotation::kid_of(&t) == successor {
            break t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still signing with the old key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The copy is fresh for max-age; wait out only the unknown-kid limit (1 s here).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = api.state.jwks.fetches();
    assert_eq!(
        get_orders(&api, Some(&new)).await.status(),
        200,
        "new kid accepted"
    );
    assert_eq!(
        api.state.jwks.fetches(),
        before + 1,
        "one fetch, for the unknown kid"
    );
    assert_eq!(get_orders(&api, Some(&new)).await.status(), 200);
    assert_eq!(
        api.state.jwks.fetches(),
        before + 1,
        "then served from the cache"
    );
    assert_invalid(get_orders(&api, Some(&old)).await, "revoked key").await;
    api.stop().await;
}

dual!(
    the_example_api_accepts_its_tokens_and_refuses_others_as_rfc6750_says,
    a_token_revoked_at_tessera_is_refused_by_the_api_within_the_pull_interval,
    a_key_rotation_makes_the_api_fetch_the_jwks_for_the_new_kid,
    an_api_taken_from_a_client_or_removed_refuses_its_earlier_tokens_within_the_pull_interval,
    an_exchanged_token_is_refused_when_what_it_was_made_from_is_revoked,
);
