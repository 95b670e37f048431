//! Automatic rotation (`key_rotation_period`, issue 13): the nodes stage each successor
//! `key_publish_ahead` before the period ends and it signs at the period's end, while clients
//! keep working, relying parties that cache the JWKS never meet an unknown kid, and several
//! nodes that find a key due at once stage one successor, not one each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tessera::config::Settings;
use tessera::keys::{KeyState, SigningAlg};
use tokio::sync::Mutex;

use crate::code_flow;
use crate::dual;
use crate::helpers::{Backend, TestApp, http_client};
use crate::key_rotation::{
    Deployment, JWKS_MAX_AGE, PUBLISH_AHEAD, Parties, configure, jwks_kids, kid_of, parties,
};

const PERIOD: i64 = 400;

fn rotating(s: &mut Settings) {
    configure(s);
    s.key_rotation_period = Duration::from_secs(PERIOD as u64);
}

/// The recorded activation time of the RS256 key `app` signs with.
fn active_since(app: &TestApp) -> i64 {
    let ring = app.state.keys.current();
    ring.entries()
        .iter()
        .find(|e| {
            e.record.alg == SigningAlg::Rs256 && e.record.state(app.clock.now()) == KeyState::Active
        })
        .and_then(|e| e.record.active_at)
        .expect("an active RS256 key")
}

/// Waits until every node publishes an RS256 key that is not in `known`; returns it.
async fn staged_on_every_node(d: &Deployment, known: &[String]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut staged: Option<String> = None;
    for node in d.nodes() {
        loop {
            let fresh: Vec<String> = node
                .state
                .keys
                .current()
                .entries()
                .iter()
                .filter(|e| e.record.alg == SigningAlg::Rs256 && !known.contains(&e.record.kid))
                .map(|e| e.record.kid.clone())
                .collect();
            if let [kid] = fresh.as_slice()
                && jwks_kids(node).await.contains(kid)
            {
                assert!(staged.as_ref().is_none_or(|s| s == kid), "two successors");
                staged = Some(kid.clone());
                break;
            }
            assert!(fresh.len() < 2, "two successors staged: {fresh:?}");
            assert!(Instant::now() < deadline, "no successor staged within 30s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    staged.expect("a node")
}

/// What the load saw.
#[derive(Default)]
struct Seen {
    requests: usize,
    failures: Vec<String>,
    /// The kids that signed, in order of first use.
    signers: Vec<String>,
    id_tokens: usize,
}

/// Clients and relying parties at work until `stop`: a client_credentials token on one node
/// introspected at the other, a code flow's ID token every few rounds, and a relying party
/// that fetches the JWKS and verifies every ID token it ever got (signature, issuer,
/// audience) and checks that a new kid signs only after the JWKS has shown it for
/// `jwks_max_age`. `turn` keeps the clock from moving in the middle of a round (a code
/// issued before a jump of minutes would expire, which is not what this test is about).
async fn load(d: &Deployment, p: &Parties, stop: &AtomicBool, turn: &Mutex<()>) -> Seen {
    let mut seen = Seen::default();
    let browser = http_client();
    let mut id_tokens: Vec<String> = Vec::new();
    // When (by the nodes' clock) the relying party first saw each kid.
    let mut first_seen: HashMap<String, i64> = HashMap::new();
    let initial: Vec<String> = jwks_kids(&d.app).await;
    let nodes = d.nodes();
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let _turn = turn.lock().await;
        let (at, other) = (nodes[round % nodes.len()], nodes[(round + 1) % nodes.len()]);
        round += 1;
        let set: JwkSet = match at.get("/jwks").await.json().await {
            Ok(set) => set,
            Err(e) => {
                seen.failures.push(format!("jwks: {e}"));
                continue;
            }
        };
        for jwk in &set.keys {
            if let Some(kid) = &jwk.common.key_id {
                first_seen.entry(kid.clone()).or_insert(at.clock.now());
            }
        }
        let mut signed = Vec::new();
        let res = at
            .post_token_basic(
                &p.service.id,
                p.service.secret(),
                &[("grant_type", "client_credentials")],
            )
            .await;
        seen.requests += 1;
        let body: Value = res.json().await.unwrap_or_default();
        match body["access_token"].as_str() {
            Some(token) => {
                signed.push(kid_of(token));
                let res = other
                    .post_form_basic("/introspect", &p.rs, &[("token", token)])
                    .await;
                seen.requests += 1;
                let answer: Value = res.json().await.unwrap_or_default();
                if answer["active"] != true {
                    seen.failures.push(format!("introspection: {answer}"));
                }
            }
            None => seen.failures.push(format!("token: {body}")),
        }
        if round % 4 == 1 {
            let pkce = code_flow::pkce();
            let code = code_flow::get_code(
                &d.app,
                &browser,
                &code_flow::standard(&p.app_client, &pkce, "openid"),
            )
            .await;
            let res = code_flow::redeem(&d.app, &p.app_client, &code, &pkce.verifier).await;
            seen.requests += 1;
            let body: Value = res.json().await.unwrap_or_default();
            match body["id_token"].as_str() {
                Some(id) => {
                    signed.push(kid_of(id));
                    id_tokens.push(id.to_string());
                }
                None => seen.failures.push(format!("code flow: {body}")),
            }
        }
        for kid in signed {
            if !seen.signers.contains(&kid) {
                // Pre-publication: a relying party that fetched the JWKS just before this kid
                // appeared still holds that copy for jwks_max_age.
                let shown_for = first_seen.get(&kid).map(|t| at.clock.now() - t);
                if !initial.contains(&kid) && shown_for.is_none_or(|s| s < JWKS_MAX_AGE) {
                    seen.failures.push(format!(
                        "{kid} signed after being published for {shown_for:?}s"
                    ));
                }
                seen.signers.push(kid);
            }
        }
        for id in &id_tokens {
            if let Err(e) = verify(id, &set, &d.app.address, &p.app_client.id) {
                seen.failures
                    .push(format!("an ID token no longer verifies: {e}"));
            }
        }
        seen.id_tokens = id_tokens.len();
    }
    seen
}

/// Verifies an ID token as a relying party would with the JWKS it holds (expiry aside: the
/// test's clock runs minutes ahead; what counts is that its key is still published).
fn verify(token: &str, set: &JwkSet, issuer: &str, audience: &str) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} not in JWKS"))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.validate_exp = false;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .map(|_| ())
        .map_err(|e| format!("{kid}: {e}"))
}

/// Issue 13, done when: automatic rotation with a short period rotates twice without a
/// request failing or an ID token becoming unverifiable, each successor published
/// `key_publish_ahead` before it signs, at the period's end.
async fn automatic_rotation_rotates_twice_under_load_without_a_failure(backend: Backend) {
    let d = Deployment::with(backend, rotating).await;
    let p = parties(&d.app).await;
    let first = kid_of(&d.app.access_token(&p.service).await);
    let stop = AtomicBool::new(false);
    let turn = Mutex::new(());
    let driver = async {
        let mut known = jwks_kids(&d.app).await;
        let mut signers = vec![first.clone()];
        for _ in 0..2 {
            let ends = active_since(&d.app) + PERIOD;
            // Just before the successor is due nothing is staged...
            {
                let _turn = turn.lock().await;
                d.advance(ends - PUBLISH_AHEAD - d.app.clock.now() - 30);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(jwks_kids(&d.app).await, known, "staged early");
            // ...then a node stages it, published on every node, signing nothing yet.
            {
                let _turn = turn.lock().await;
                d.advance(30);
            }
            let next = staged_on_every_node(&d, &known).await;
            let now = d.app.clock.now();
            let record = d.listed(&next);
            let active_at = record["active_at"].as_i64().expect("active_at");
            assert!(
                // A node stages at its first rescan past the due point (every 200 ms here;
                // a busy machine may take longer).
                (ends..=ends + 30).contains(&active_at),
                "signs at the period's end ({ends}), not {active_at} (now {now})"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            for node in d.nodes() {
                assert_eq!(
                    kid_of(&node.access_token(&p.service).await),
                    *signers.last().expect("a signer")
                );
            }
            // The period ends: every node signs with the successor.
            {
                let _turn = turn.lock().await;
                d.advance(active_at - d.app.clock.now() + 1);
            }
            for node in d.nodes() {
                assert_eq!(kid_of(&node.access_token(&p.service).await), next);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            known = jwks_kids(&d.app).await;
            signers.push(next);
        }
        stop.store(true, Ordering::Relaxed);
        signers
    };
    let (signers, seen) = tokio::join!(driver, load(&d, &p, &stop, &turn));
    assert!(seen.failures.is_empty(), "{:#?}", seen.failures);
    assert_eq!(seen.signers, signers, "the load saw each signer in turn");
    assert_eq!(signers.len(), 3);
    assert!(
        seen.requests >= 20 && seen.id_tokens >= 3,
        "{} requests",
        seen.requests
    );
    // Each rotation is audited, by the schedule.
    let audited = d
        .app
        .state
        .store
        .audit_about(tessera::keys::schedule::ACTOR, "", "", 100)
        .await
        .expect("audit");
    for kid in &signers[1..] {
        assert!(
            audited
                .iter()
                .any(|e| e.action == "key.rotated" && e.target.as_deref() == Some(kid)),
            "{audited:?}"
        );
    }
}

/// Attack on the schedule: several nodes find the same key due at the same moment (on
/// PostgreSQL, three nodes; each stages under the key-change lock and asks again there), and
/// only one successor per algorithm is staged: one key file, one record, one audit entry.
async fn nodes_that_find_a_key_due_at_once_stage_one_successor(backend: Backend) {
    let d = Deployment::with(backend, rotating).await;
    let third = match backend {
        Backend::Postgres => Some(Deployment::node_of(&d.app, rotating).await),
        Backend::Sqlite => None,
    };
    let ends = active_since(&d.app) + PERIOD;
    let known = jwks_kids(&d.app).await;
    // Every clock jumps at once, well past the due point: every node finds all three
    // algorithms due at its next rescan.
    let jump = ends - PUBLISH_AHEAD - d.app.clock.now() + 10;
    d.advance(jump);
    if let Some(third) = &third {
        third.clock.advance(jump);
    }
    staged_on_every_node(&d, &known).await;
    // Give the slower nodes every chance to stage a second one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let keys = d.cli_json(&["keys", "list", "--json"]);
    for alg in ["RS256", "ES256", "EdDSA"] {
        let next = keys
            .as_array()
            .expect("list")
            .iter()
            .filter(|k| k["alg"] == alg && k["state"] == "next")
            .count();
        assert_eq!(next, 1, "{alg}: {keys}");
    }
    let pem_files = std::fs::read_dir(&d.app.keys_dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pem"))
        .count();
    assert_eq!(pem_files, 6, "one new file per algorithm");
    let audited = d
        .app
        .state
        .store
        .audit_about(tessera::keys::schedule::ACTOR, "", "", 100)
        .await
        .expect("audit");
    assert_eq!(audited.len(), 3, "{audited:?}");
}

/// The `tessera_signing_key_age_seconds` lines of `/metrics`: (kid, alg) → age.
async fn key_ages(app: &TestApp) -> HashMap<(String, String), i64> {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    assert!(text.contains("# TYPE tessera_signing_key_age_seconds gauge"));
    text.lines()
        .filter_map(|line| line.strip_prefix("tessera_signing_key_age_seconds{kid=\""))
        .map(|rest| {
            let (kid, rest) = rest.split_once("\",alg=\"").expect("alg label");
            let (alg, age) = rest.split_once("\"} ").expect("value");
            (
                (kid.to_string(), alg.to_string()),
                age.parse().expect("seconds"),
            )
        })
        .collect()
}

/// `/metrics` shows how long each active key has signed, one gauge per key by kid and alg,
/// and follows a rotation: the successor from the instant it signs, the old key no longer.
async fn metrics_show_how_long_each_active_key_has_signed(backend: Backend) {
    let d = Deployment::with(backend, configure).await;
    let service = d.app.create_service_client("api").await;
    let old = kid_of(&d.app.access_token(&service).await);
    let ages = key_ages(&d.app).await;
    assert_eq!(ages.len(), 3, "one active key per algorithm: {ages:?}");
    let rs256 = |kid: &str| (kid.to_string(), "RS256".to_string());
    let age = ages[&rs256(&old)];
    assert!((0..60).contains(&age), "{age}");

    let staged = d.cli_json(&["keys", "rotate", "--json"]);
    let new = staged["kid"].as_str().expect("kid").to_string();
    let active_at = staged["active_at"].as_i64().expect("active_at");
    for node in d.nodes() {
        assert!(
            crate::key_rotation::published_within(node, &new, true, Duration::from_secs(10)).await
        );
    }
    d.advance(60);
    let ages = key_ages(&d.app).await;
    assert!(ages[&rs256(&old)] >= age + 60, "{ages:?}");
    assert!(
        !ages.contains_key(&rs256(&new)),
        "a next key is not active: {ages:?}"
    );
    d.advance(active_at - d.app.clock.now() + 5);
    for node in d.nodes() {
        let ages = key_ages(node).await;
        let rs256: Vec<_> = ages.iter().filter(|((_, alg), _)| alg == "RS256").collect();
        assert_eq!(rs256.len(), 1, "{ages:?}");
        let ((kid, _), age) = rs256[0];
        assert_eq!(*kid, new);
        assert!((5..60).contains(age), "{age}");
    }
}

dual!(
    metrics_show_how_long_each_active_key_has_signed,
    automatic_rotation_rotates_twice_under_load_without_a_failure,
    nodes_that_find_a_key_due_at_once_stage_one_successor
);
