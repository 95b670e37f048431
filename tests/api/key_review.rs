//! The third attacker review of the key lifecycle (issue 13), each finding through the real
//! path: revoking an active key when no successor can be made (the revocation stands, the
//! algorithm fails closed, `/readyz` says so), an unreadable keys directory that must not cut
//! a node off, a held key-change lock that must not stall rescans, the margin of an early
//! promotion, retired key files set aside, a burst of stage requests, bounded settings.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use tessera::keys::manage::RETIRED_FILE_KEPT;
use tessera::oauth::client::RegistrationInput;
use tessera::store::KEY_CHANGE_LOCK;

use crate::admin_api::fresh_admin_api;
use crate::dual;
use crate::helpers::{Backend, TestApp, service_client, spawn_app_with};
use crate::key_rotation::{
    Deployment, PUBLISH_AHEAD, RETIRE_WINDOW, configure, kid_of, published_within,
};

/// Makes the node's key generation for `tag` (`rs256`, `es256`, `eddsa`) fail for the next
/// seconds: a directory where `pem::generate_with` writes its temporary file. Mode bits would
/// not do: the tests may run as root, which ignores them.
fn block_generation(app: &TestApp, tag: &str) -> Vec<PathBuf> {
    let now = app.clock.now();
    (now - 2..now + 30)
        .map(|at| {
            let path = app
                .keys_dir
                .join(format!(".{at:012}-{tag}.pem.{}.tmp", std::process::id()));
            std::fs::create_dir(&path).expect("block");
            path
        })
        .collect()
}

/// The kid of the published key of `alg` that signs (the newest in `/jwks`).
async fn jwks_of(app: &TestApp, alg: &str) -> Vec<String> {
    let jwks: Value = app.get("/jwks").await.json().await.expect("jwks");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["alg"] == alg)
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

pub(crate) async fn token_status(
    app: &TestApp,
    client: &crate::helpers::TestClient,
) -> (StatusCode, Value) {
    let res = app
        .post_token_basic(
            &client.id,
            client.secret(),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let status = res.status();
    (status, res.json().await.unwrap_or_default())
}

/// Finding 2 and 1 of the review: revoking the active ES256 key on a node whose keys
/// directory takes no new key failed as a whole (500), because the successor was made inside
/// the revocation's transaction: the leaked key stayed. Now the revocation commits first (the
/// key leaves JWKS, its tokens die), the API answers 409 saying what to run, ES256 signs
/// nothing (503 `temporarily_unavailable`, never the revoked key), and `/readyz` fails, as an
/// ES256 client is registered, until a successor is staged.
async fn revoking_the_active_key_when_no_successor_can_be_made_revokes_it_and_fails_closed(
    backend: Backend,
) {
    let app = spawn_app_with(backend, configure).await;
    let es = app
        .create_client(RegistrationInput {
            signing_alg: Some("ES256".into()),
            ..service_client("api.read")
        })
        .await;
    let rs_client = app.create_service_client("api.read").await;
    let rs = app.create_resource_server_client().await;
    let leaked_token = app.access_token(&es).await;
    let leaked = kid_of(&leaked_token);
    assert_eq!(app.get("/readyz").await.status(), 200);

    let blocked = block_generation(&app, "es256");
    let api = fresh_admin_api(&app, "keyadmin").await;
    let (status, body) = api
        .call(Method::POST, &format!("/keys/{leaked}/revoke"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.to_string().contains("tessera keys rotate --alg ES256"),
        "{body}"
    );
    // The revocation stands: out of JWKS, its tokens inactive, audited.
    assert!(published_within(&app, &leaked, false, Duration::from_secs(5)).await);
    assert_eq!(app.introspect(&rs, &leaked_token).await["active"], false);
    assert!(
        api.audit("key.revoked")
            .await
            .iter()
            .any(|e| e["target"] == json!(leaked))
    );
    // Fail closed: nothing signs ES256; RS256 clients are served.
    let (status, body) = token_status(&app, &es).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(jwks_of(&app, "ES256").await.is_empty());
    assert_eq!(token_status(&app, &rs_client).await.0, StatusCode::OK);
    // A cluster-wide gap, not this node's: still ready (RS256 logins must stay up behind a
    // load balancer), and the metric says which algorithm lacks a signer.
    assert_eq!(app.get("/readyz").await.status(), 200);
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("tessera_signing_alg_without_signer{alg=\"ES256\"} 1"),
        "{metrics}"
    );

    // The operator stages a successor where the directory takes one: it signs at once.
    for dir in blocked {
        std::fs::remove_dir(dir).expect("unblock");
    }
    let (status, staged) = api
        .call(Method::POST, "/keys", Some(json!({ "alg": "ES256" })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{staged}");
    let successor = staged["kid"].as_str().expect("kid").to_string();
    assert!(published_within(&app, &successor, true, Duration::from_secs(5)).await);
    assert_eq!(kid_of(&app.access_token(&es).await), successor);
    assert_eq!(app.get("/readyz").await.status(), 200);
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("tessera_signing_alg_without_signer{alg=\"ES256\"} 0"),
        "{metrics}"
    );
}

/// The same from the CLI on PostgreSQL (two nodes), with a keys directory that takes no new
/// key (a file-size limit of 0 on the command, which holds for root too): the command
/// revokes, prints what it did, says what to run and exits non-zero; both nodes drop the key
/// and sign nothing for RS256.
async fn keys_revoke_from_the_cli_without_a_writable_directory_revokes_and_says_what_to_run() {
    let d = Deployment::with(Backend::Postgres, configure).await;
    let service = d.app.create_service_client("api").await;
    let leaked = kid_of(&d.app.access_token(&service).await);
    let cmd = d.cli_command(&["keys", "revoke", "--json", "--", &leaked]);
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 0; exec "$0" "$@""#)
        .arg(program)
        .args(args)
        .env_clear()
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(d.app.keys_dir.parent().expect("parent"))
        .output()
        .expect("run tessera");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("tessera keys rotate --alg RS256"),
        "{stderr}"
    );
    let revoked: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(revoked["was"], "active");
    assert!(revoked["successor"].is_null());
    for node in d.nodes() {
        assert!(published_within(node, &leaked, false, Duration::from_secs(5)).await);
        let (status, body) = token_status(node, &service).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        // The gap is the cluster's, not a node's: `/readyz` stays ready (review 4, finding 5).
        assert_eq!(node.get("/readyz").await.status(), 200);
    }
    let staged = d.cli_json(&["keys", "rotate", "--alg", "RS256", "--json"]);
    let successor = staged["kid"].as_str().expect("kid");
    for node in d.nodes() {
        assert!(published_within(node, successor, true, Duration::from_secs(5)).await);
        assert_eq!(kid_of(&node.access_token(&service).await), successor);
    }
}

/// Finding 3: a node whose keys directory could not be read (a remount, a permission slip)
/// counted that as a failed rescan, and after `jwks_max_age` stopped signing although it read
/// the key records fine. Now the records are what counts: the node keeps signing with the keys
/// it has. (The directory is replaced by a file: mode bits do not stop root.)
async fn an_unreadable_keys_directory_does_not_cut_off_a_node_that_reads_the_records(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |s| {
        configure(s);
        s.jwks_max_age = Duration::from_secs(2);
    })
    .await;
    let service = app.create_service_client("api").await;
    let kid = kid_of(&app.access_token(&service).await);
    let moved = app.keys_dir.with_extension("moved");
    std::fs::rename(&app.keys_dir, &moved).expect("move the directory away");
    std::fs::write(&app.keys_dir, b"not a directory").expect("a file in its place");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, body) = token_status(&app, &service).await;
    let restore = || {
        let _ = std::fs::remove_file(&app.keys_dir);
        let _ = std::fs::rename(&moved, &app.keys_dir);
    };
    if status != StatusCode::OK {
        restore();
    }
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(kid_of(body["access_token"].as_str().expect("token")), kid);
    assert_eq!(app.get("/readyz").await.status(), 200);
    restore();
}

/// Finding 4: the automatic rotation waited for the key-change lock inline in the rescan
/// loop, with no timeout: a session that held it (a hung command, a psql) stopped every
/// rescan, so a revoked key stayed published. Now the rotation only tries the lock, in a task
/// of its own: a revocation recorded meanwhile reaches `/jwks` within seconds, and the
/// rotation happens once the lock is free.
async fn rescans_go_on_while_another_session_holds_the_key_change_lock() {
    let app = spawn_app_with(Backend::Postgres, |s| {
        configure(s);
        s.key_rotation_period = Duration::from_secs(PUBLISH_AHEAD as u64 + 60);
    })
    .await;
    let es = jwks_of(&app, "ES256").await;
    let rs_before = jwks_of(&app, "RS256").await;
    let mut holder = sqlx::PgConnection::connect(&app.db.url)
        .await
        .expect("connect");
    sqlx::query("select pg_advisory_lock($1)")
        .bind(KEY_CHANGE_LOCK)
        .execute(&mut holder)
        .await
        .expect("lock");
    // Every algorithm's rotation is due now; the lock is held.
    app.clock.advance(100);
    tokio::time::sleep(Duration::from_millis(600)).await;
    sqlx::query("update signing_keys set revoked_at = $1 where kid = $2")
        .bind(app.clock.now())
        .bind(&es[0])
        .execute(&mut holder)
        .await
        .expect("revoke by hand");
    assert!(
        published_within(&app, &es[0], false, Duration::from_secs(3)).await,
        "the rescans stalled behind the lock"
    );
    assert_eq!(
        jwks_of(&app, "RS256").await,
        rs_before,
        "staged under a held lock"
    );
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(KEY_CHANGE_LOCK)
        .execute(&mut holder)
        .await
        .expect("unlock");
    let start = Instant::now();
    while jwks_of(&app, "RS256").await.len() <= rs_before.len() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no rotation after the lock was freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Finding 5: a key staged while another change held the lock was recorded as published
/// when the request came in, not when it was: its activation time came that much early.
async fn a_staged_key_is_published_from_when_the_lock_was_taken() {
    let app = spawn_app_with(Backend::Postgres, configure).await;
    let api = fresh_admin_api(&app, "keyadmin").await;
    let mut holder = sqlx::PgConnection::connect(&app.db.url)
        .await
        .expect("connect");
    sqlx::query("select pg_advisory_lock($1)")
        .bind(KEY_CHANGE_LOCK)
        .execute(&mut holder)
        .await
        .expect("lock");
    let stage = api.call(Method::POST, "/keys", Some(json!({ "alg": "EdDSA" })));
    let release = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.clock.advance(50);
        let after = app.clock.now();
        sqlx::query("select pg_advisory_unlock($1)")
            .bind(KEY_CHANGE_LOCK)
            .execute(&mut holder)
            .await
            .expect("unlock");
        after
    };
    let ((status, staged), after) = tokio::join!(stage, release);
    assert_eq!(status, StatusCode::CREATED, "{staged}");
    let active_at = staged["active_at"].as_i64().expect("active_at");
    assert!(
        active_at >= after + PUBLISH_AHEAD,
        "published from before the lock: {active_at} < {}",
        after + PUBLISH_AHEAD
    );
}

/// Finding 6: the files of retired keys piled up in the keys directory, and every scan read
/// (and decrypted) them all. A week after a key left JWKS its file is set aside
/// (`….pem.retired`), as a revoked key's is.
async fn the_file_of_a_key_retired_for_a_week_is_set_aside(backend: Backend) {
    let d = Deployment::with(backend, configure).await;
    let service = d.app.create_service_client("api").await;
    let old = kid_of(&d.app.access_token(&service).await);
    let old_file = d.listed(&old)["file"].as_str().expect("file").to_string();
    let staged = d.cli_json(&["keys", "rotate", "--json"]);
    let new = staged["kid"].as_str().expect("kid").to_string();
    d.advance(PUBLISH_AHEAD + RETIRE_WINDOW + 60);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        d.app.keys_dir.join(&old_file).is_file(),
        "set aside before its week"
    );
    d.advance(RETIRED_FILE_KEPT);
    let start = Instant::now();
    while d.app.keys_dir.join(&old_file).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the retired key's file is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(d.app.keys_dir.join(format!("{old_file}.retired")).is_file());
    for node in d.nodes() {
        assert_eq!(kid_of(&node.access_token(&service).await), new);
    }
}

/// Finding 13: a burst of parallel stage requests through the admin API stages exactly one
/// next key per algorithm; the others are refused with a conflict that names it.
async fn a_burst_of_stage_requests_leaves_one_next_key_per_algorithm(backend: Backend) {
    let app = spawn_app_with(backend, configure).await;
    let api = fresh_admin_api(&app, "keyadmin").await;
    let calls = (0..12).map(|i| {
        let alg = ["RS256", "ES256", "EdDSA"][i % 3];
        api.call(Method::POST, "/keys", Some(json!({ "alg": alg })))
    });
    let answers = futures_util::future::join_all(calls).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3, "{answers:?}");
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::CREATED
                || (*status == StatusCode::CONFLICT && body.to_string().contains("already staged")),
            "{status} {body}"
        );
    }
    let rows = app.state.store.signing_keys().await.expect("records");
    let now = app.clock.now();
    for alg in ["RS256", "ES256", "EdDSA"] {
        let next = rows
            .iter()
            .filter(|r| r.alg == alg && r.active_at.is_some_and(|at| at > now))
            .count();
        assert_eq!(next, 1, "{alg}: {rows:?}");
    }
}

/// Finding 13, the other half, and review 4 finding 4: stage in a loop adds live records
/// without end. Only live records (next, active, retiring) count towards `MAX_KEY_RECORDS`:
/// retired or revoked ones, which nothing deletes, never block a rotation. Past the bound no
/// key is staged (409 naming it), except the one that restores a missing signer after a
/// fail-closed revocation.
async fn no_key_is_staged_past_the_bound_on_key_records(backend: Backend) {
    let app = spawn_app_with(backend, configure).await;
    let insert = |prefix: &'static str, retire_after: i64| {
        let app = &app;
        async move {
            let have = app.state.store.signing_keys().await.expect("records").len();
            let mut change = app.state.store.begin_key_change().await.expect("change");
            for i in have..have + tessera::keys::manage::MAX_KEY_RECORDS {
                change
                    .insert(&tessera::store::KeyRow {
                        kid: format!("{prefix}-{i}"),
                        alg: "RS256".into(),
                        file: format!("{prefix}-{i}.pem"),
                        created_at: 1,
                        published_at: 1,
                        active_at: Some(1),
                        retiring_at: Some(2),
                        retire_after: Some(retire_after),
                        revoked_at: None,
                    })
                    .await
                    .expect("insert");
            }
            change.commit().await.expect("commit");
        }
    };
    // A thousand retired records: rotations go on.
    insert("retired", 3).await;
    let api = fresh_admin_api(&app, "keyadmin").await;
    let (status, body) = api
        .call(Method::POST, "/keys", Some(json!({ "alg": "ES256" })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A thousand live (retiring) ones: refused.
    insert("retiring", i64::MAX / 2).await;
    let (status, body) = api
        .call(Method::POST, "/keys", Some(json!({ "alg": "EdDSA" })))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("1000 key records"), "{body}");
    // Yet the rotation that restores a missing signer is never refused.
    let es = app
        .create_client(RegistrationInput {
            signing_alg: Some("EdDSA".into()),
            ..service_client("api.read")
        })
        .await;
    let active = kid_of(&app.access_token(&es).await);
    let blocked = block_generation(&app, "eddsa");
    let (status, body) = api
        .call(Method::POST, &format!("/keys/{active}/revoke"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for dir in blocked {
        std::fs::remove_dir(dir).expect("unblock");
    }
    let (status, body) = api
        .call(Method::POST, "/keys", Some(json!({ "alg": "EdDSA" })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Finding 8: no upper bound on the key durations: a typo (`100y`), or a value whose sum
/// overflows, stopped the start with a panic or made keys that never sign. Each is now a
/// configuration error naming the setting.
#[test]
fn key_durations_beyond_their_bounds_are_a_readable_configuration_error() {
    let dir = tempfile::tempdir().expect("dir");
    for (var, value) in [
        ("TESSERA_JWKS_MAX_AGE", "18446744073709551615"),
        ("TESSERA_JWKS_MAX_AGE", "3153600000"),
        ("TESSERA_KEY_PUBLISH_AHEAD", "86400000"),
        ("TESSERA_KEY_ROTATION_PERIOD", "3153600000"),
        ("TESSERA_KEY_RESCAN_INTERVAL", "172800"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .env_clear()
            .current_dir(dir.path())
            .env(var, value)
            .args(["keys", "list"])
            .output()
            .expect("run tessera");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}={value} accepted");
        assert!(!err.contains("panicked"), "{var}={value}: {err}");
        assert!(
            err.contains(var) && err.contains("longer than the most allowed"),
            "{var}={value}: {err}"
        );
    }
}

/// Review 4, finding 1: after a revocation left ES256 without a signer, a key file planted in
/// the keys directory (a real key the attacker holds, named to sort last) was adopted by the
/// next change, the `keys rotate` the 409 recommends included, and signed at once. No key
/// change and no start takes in a file for an algorithm that has records: the planted kid
/// never signs and never appears in `/jwks`, neither after the rotation nor on a new node.
async fn a_key_planted_after_a_fail_closed_revoke_is_never_adopted(backend: Backend) {
    let app = spawn_app_with(backend, configure).await;
    let es = app
        .create_client(RegistrationInput {
            signing_alg: Some("ES256".into()),
            ..service_client("api.read")
        })
        .await;
    let leaked = kid_of(&app.access_token(&es).await);
    let blocked = block_generation(&app, "es256");
    let api = fresh_admin_api(&app, "keyadmin").await;
    let (status, body) = api
        .call(Method::POST, &format!("/keys/{leaked}/revoke"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for dir in blocked {
        std::fs::remove_dir(dir).expect("unblock");
    }
    // The attacker's key, made elsewhere, dropped into the directory under a name that sorts
    // after every real key.
    let outside = tempfile::tempdir().expect("dir");
    let made = tessera::keys::generate(
        outside.path(),
        tessera::keys::SigningAlg::Es256,
        999_999_999_999,
    )
    .expect("planted key");
    let planted = tessera::keys::load_existing(outside.path())
        .expect("load")
        .active()
        .expect("a key")
        .kid()
        .to_string();
    let planted_file = app.keys_dir.join("999999999999-es256.pem");
    std::fs::copy(&made, &planted_file).expect("plant");
    // A node started now (a restart) does not take it in.
    let node = crate::helpers::spawn_node_with(&app, configure).await;
    assert!(!jwks_of(&node, "ES256").await.contains(&planted));
    assert!(!jwks_of(&app, "ES256").await.contains(&planted));

    // The rotation the 409 recommends makes and records a key of its own.
    let (status, staged) = api
        .call(Method::POST, "/keys", Some(json!({ "alg": "ES256" })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{staged}");
    let successor = staged["kid"].as_str().expect("kid").to_string();
    assert_ne!(successor, planted);
    assert!(published_within(&app, &successor, true, Duration::from_secs(5)).await);
    assert_eq!(kid_of(&app.access_token(&es).await), successor);
    assert!(!jwks_of(&app, "ES256").await.contains(&planted));
    assert!(published_within(&node, &successor, true, Duration::from_secs(5)).await);
    assert!(!jwks_of(&node, "ES256").await.contains(&planted));
    assert_eq!(kid_of(&node.access_token(&es).await), successor);
    assert!(!jwks_of(&app, "ES256").await.contains(&planted));
    let records = app.state.store.signing_keys().await.expect("records");
    assert!(
        !records.iter().any(|r| r.kid == planted),
        "planted key recorded"
    );
}

/// Review 4, finding 2: revoke read the keys directory (and the passphrase file) before its
/// transaction, so without them (an ops host without the keys mount) nothing was revoked.
/// With the directory replaced by a file the revocation stands: the key leaves `/jwks`, its
/// tokens are inactive, and no successor can be made (409, ES256 fails closed).
async fn a_revocation_without_the_keys_directory_still_revokes(backend: Backend) {
    let app = spawn_app_with(backend, configure).await;
    let es = app
        .create_client(RegistrationInput {
            signing_alg: Some("ES256".into()),
            ..service_client("api.read")
        })
        .await;
    let rs = app.create_resource_server_client().await;
    let token = app.access_token(&es).await;
    let leaked = kid_of(&token);
    let moved = app.keys_dir.with_extension("moved");
    std::fs::rename(&app.keys_dir, &moved).expect("move the keys away");
    std::fs::write(&app.keys_dir, b"not a directory").expect("a file in its place");
    let api = fresh_admin_api(&app, "keyadmin").await;
    let (status, body) = api
        .call(Method::POST, &format!("/keys/{leaked}/revoke"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(published_within(&app, &leaked, false, Duration::from_secs(5)).await);
    assert!(!jwks_of(&app, "ES256").await.contains(&leaked));
    assert_eq!(app.introspect(&rs, &token).await["active"], false);
    std::fs::remove_file(&app.keys_dir).expect("remove the file");
    std::fs::rename(&moved, &app.keys_dir).expect("restore");
}

dual!(
    a_key_planted_after_a_fail_closed_revoke_is_never_adopted,
    a_revocation_without_the_keys_directory_still_revokes,
    revoking_the_active_key_when_no_successor_can_be_made_revokes_it_and_fails_closed,
    an_unreadable_keys_directory_does_not_cut_off_a_node_that_reads_the_records,
    the_file_of_a_key_retired_for_a_week_is_set_aside,
    a_burst_of_stage_requests_leaves_one_next_key_per_algorithm,
    no_key_is_staged_past_the_bound_on_key_records
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_revoke_from_the_cli_without_a_writable_directory_revokes_and_says_what_to_run_postgres()
 {
    keys_revoke_from_the_cli_without_a_writable_directory_revokes_and_says_what_to_run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescans_go_on_while_another_session_holds_the_key_change_lock_postgres() {
    rescans_go_on_while_another_session_holds_the_key_change_lock().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_key_is_published_from_when_the_lock_was_taken_postgres() {
    a_staged_key_is_published_from_when_the_lock_was_taken().await;
}
