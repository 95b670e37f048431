//! How nodes and commands read the keys directory (issue 13): recorded keys are read before
//! files nobody recorded, a revocation sets aside the files that hold the revoked key (by kid,
//! never by a name that now holds another key), a successor made ahead of a revocation that
//! another revocation beat is removed, and a deployment from before the key records keeps its
//! keys when the first thing run on the new version is `keys rotate`.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera::clock::Clock;
use tessera::keys::SigningAlg;

use crate::dual;
use crate::helpers::{Backend, TestApp, TestClient, TestDb, spawn_on};
use crate::key_review::token_status;
use crate::key_rotation::{
    Deployment, JWKS_MAX_AGE, PUBLISH_AHEAD, configure, jwks_kids, kid_of, parties,
    published_within,
};

/// `/token` for `client` until it is signed by `kid` (a node may answer 503 while it picks up
/// a revocation); whether that happened within `limit`.
async fn signs_with_within(
    node: &TestApp,
    client: &TestClient,
    kid: &str,
    limit: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        let (status, body) = token_status(node, client).await;
        if status == 200 && kid_of(body["access_token"].as_str().expect("token")) == kid {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn pem_names(dir: &Path) -> HashSet<String> {
    std::fs::read_dir(dir)
        .expect("keys dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".pem"))
        .collect()
}

/// A file that ends in `.pem`, is private, and holds no key.
fn plant_junk(dir: &Path, name: &str) {
    let path = dir.join(name);
    std::fs::write(
        &path,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// A scan reads at most `MAX_KEY_FILES` (256) files. 300 planted files named to sort before
/// every real key file (whose names start with the 12-digit creation time) used to fill the
/// whole scan: every node dropped every key at its next rescan (empty `/jwks`, nothing signed).
/// The files the records name are read first; a key recorded after the scan (a rotation on
/// another node) is read at once too.
async fn planted_files_that_sort_first_never_crowd_the_recorded_keys_out_of_a_scan(
    backend: Backend,
) {
    let d = Deployment::with(backend, configure).await;
    let p = parties(&d.app).await;
    let active = kid_of(&d.app.access_token(&p.service).await);
    for i in 0..300 {
        plant_junk(&d.app.keys_dir, &format!("0000-planted-{i:03}.pem"));
    }
    // Several rescans (every 200 ms) with the planted files in place.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for node in d.nodes() {
        assert!(jwks_kids(node).await.contains(&active));
        assert_eq!(kid_of(&node.access_token(&p.service).await), active);
        assert_eq!(node.get("/readyz").await.status(), 200);
    }
    // A key staged now is not known to the last scan, and sorts after the planted files.
    let staged = d.cli_json(&["keys", "rotate", "--json"]);
    let next = staged["kid"].as_str().expect("kid").to_string();
    for node in d.nodes() {
        assert!(
            published_within(node, &next, true, Duration::from_secs(10)).await,
            "the staged key is published despite the planted files"
        );
    }
    // An emergency revocation: its successor signs on every node.
    let revoked = d.cli_json(&["keys", "revoke", "--json", "--", &active]);
    let successor = revoked["successor"].as_str().expect("a successor");
    for node in d.nodes() {
        assert!(signs_with_within(node, &p.service, successor, Duration::from_secs(10)).await);
        assert!(published_within(node, &active, false, Duration::from_secs(10)).await);
    }
}

/// `keys revoke` sets aside (`….pem.revoked`) every file whose key is the revoked one, found
/// by kid: a copy under another name goes, and the recorded file name, once another key was
/// moved over it, stays (that file is not the revoked key's).
async fn a_revocation_sets_aside_files_by_kid_not_by_the_recorded_name(backend: Backend) {
    let d = Deployment::with(backend, configure).await;
    let es = d
        .app
        .create_client(tessera::oauth::client::RegistrationInput {
            signing_alg: Some("ES256".into()),
            ..crate::helpers::service_client("api.read")
        })
        .await;
    let kid = kid_of(&d.app.access_token(&es).await);
    let recorded = d.listed(&kid)["file"].as_str().expect("file").to_string();
    let dir = &d.app.keys_dir;
    std::fs::copy(dir.join(&recorded), dir.join("copy-of-es256.pem")).expect("copy");
    // Another key, moved over the recorded name.
    let elsewhere = tempfile::tempdir().expect("dir");
    let other = tessera::keys::generate(elsewhere.path(), SigningAlg::Es256, 1).expect("key");
    std::fs::rename(&other, dir.join(&recorded)).expect("move over");

    let revoked = d.cli_json(&["keys", "revoke", "--json", "--", &kid]);
    assert_eq!(revoked["was"], "active");
    let names = pem_names(dir);
    assert!(!names.contains("copy-of-es256.pem"), "{names:?}");
    assert!(dir.join("copy-of-es256.pem.revoked").exists());
    assert!(
        names.contains(&recorded),
        "the file now under the recorded name holds another key and stays: {names:?}"
    );
}

/// Each `keys revoke` of an active key makes its successor's file before it takes the lock.
/// When several run at once, one records its successor; the others find the key revoked
/// already and remove the files they made: no unrecorded key file is left behind (one that a
/// start on a database without records could take in).
async fn revocations_at_once_leave_no_unrecorded_successor_file(backend: Backend) {
    let d = Deployment::with(backend, configure).await;
    let p = parties(&d.app).await;
    let active = kid_of(&d.app.access_token(&p.service).await);
    let args = ["keys", "revoke", "--json", "--", active.as_str()];
    let children: Vec<_> = (0..3)
        .map(|_| {
            d.cli_command(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let successors: HashSet<String> = outs
        .iter()
        .map(|out| {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            v["successor"].as_str().unwrap_or_default().to_string()
        })
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(successors.len(), 1, "one successor: {successors:?}");
    let listed = d.cli_json(&["keys", "list", "--json"]);
    let recorded: HashSet<String> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|k| k["file"].as_str().unwrap_or_default().to_string())
        .collect();
    let stray: Vec<String> = pem_names(&d.app.keys_dir)
        .into_iter()
        .filter(|n| !recorded.contains(n))
        .collect();
    assert!(stray.is_empty(), "unrecorded key files left: {stray:?}");
}

/// `tessera ARGS` on `db` and `keys` with the test key settings.
fn cli(db: &TestDb, keys: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_clear()
        .current_dir(keys.parent().expect("a parent"))
        .env("DATABASE_URL", &db.url)
        .env("TESSERA_KEYS_DIR", keys)
        .env("TESSERA_JWKS_MAX_AGE", JWKS_MAX_AGE.to_string())
        .env("TESSERA_KEY_PUBLISH_AHEAD", PUBLISH_AHEAD.to_string())
        .env("TESSERA_SESSION_TTL", "3600")
        .env("TESSERA_LOG_LEVEL", "warn")
        .args(args)
        .output()
        .expect("run tessera")
}

fn cli_json(db: &TestDb, keys: &Path, args: &[&str]) -> Value {
    let out = cli(db, keys, args);
    assert!(
        out.status.success(),
        "tessera {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// A deployment from before the key records: key files only (the first start made one per
/// algorithm; a newer RS256 key was added by hand later), no `signing_keys` rows. The
/// operator upgrades and runs `keys rotate` before any node has started on the new version.
/// The rotation used to record only its own key, after which no start took the old files in
/// (their algorithm had a record): the key that signed until then left `/jwks` and RS256
/// signed nothing until the new key's time. Now the command first records the old files as a
/// start would (newest of each algorithm active, older ones retiring), then stages.
async fn keys_rotate_before_the_first_start_keeps_the_keys_of_a_deployment_without_records(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let keys = tempfile::tempdir().expect("dir");
    let now = Clock::system().now();
    let day = 24 * 3600;
    for (alg, at) in [
        (SigningAlg::Rs256, now - 60 * day),
        (SigningAlg::Es256, now - 60 * day),
        (SigningAlg::EdDsa, now - 60 * day),
        (SigningAlg::Rs256, now - day),
    ] {
        tessera::keys::generate(keys.path(), alg, at).expect("key file");
    }
    let out = cli(&db, keys.path(), &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the files hold, as `keys list` shows them before anything is recorded.
    let before = cli_json(&db, keys.path(), &["keys", "list", "--json"]);
    let planned = |state: &str, alg: &str| -> Vec<String> {
        before
            .as_array()
            .expect("list")
            .iter()
            .filter(|k| k["state"] == state && k["alg"] == alg && k["recorded"] == false)
            .map(|k| k["kid"].as_str().expect("kid").to_string())
            .collect()
    };
    let (newer, older) = (planned("active", "RS256"), planned("retiring", "RS256"));
    assert_eq!((newer.len(), older.len()), (1, 1), "{before}");
    let (es, ed) = (planned("active", "ES256"), planned("active", "EdDSA"));
    assert_eq!((es.len(), ed.len()), (1, 1), "{before}");

    let staged = cli_json(&db, keys.path(), &["keys", "rotate", "--json"]);
    assert_eq!(staged["replaces"], newer[0].as_str(), "{staged}");
    let next = staged["kid"].as_str().expect("kid").to_string();
    let listed = cli_json(&db, keys.path(), &["keys", "list", "--json"]);
    for (kid, state) in [
        (&newer[0], "active"),
        (&older[0], "retiring"),
        (&es[0], "active"),
        (&ed[0], "active"),
        (&next, "next"),
    ] {
        let key = listed
            .as_array()
            .expect("list")
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .unwrap_or_else(|| panic!("{kid} is not listed: {listed}"));
        assert_eq!(key["state"], state, "{key}");
        assert_eq!(key["recorded"], true, "{key}");
    }

    // The first node on the new version publishes every one of them and signs with the key
    // that signed before the upgrade.
    let app = spawn_on(db, keys, configure).await;
    let kids = jwks_kids(&app).await;
    for kid in [&newer[0], &older[0], &es[0], &ed[0], &next] {
        assert!(kids.contains(kid), "{kid} not in {kids:?}");
    }
    let service = app.create_service_client("api.read").await;
    assert_eq!(kid_of(&app.access_token(&service).await), newer[0]);
}

/// A database without key records, and a keys directory that is empty, missing, or holds only
/// a `*.pem` Tessera never named (a wrong `TESSERA_KEYS_DIR`): `keys rotate` and `keys revoke`
/// refuse, saying so, and record nothing. They used to make a key of their own that signed at
/// once on every node (no pre-publication), after which every node ignored its real files of
/// that algorithm. The missing directory is not created; the real directory then works.
async fn key_commands_on_a_database_without_records_refuse_an_empty_or_wrong_keys_directory(
    backend: Backend,
) {
    let (db, root) = migrated(backend).await;
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).expect("dir");
    let missing = root.path().join("missing");
    let wrong = root.path().join("wrong");
    std::fs::create_dir(&wrong).expect("dir");
    let planted = tessera::keys::generate(&wrong, SigningAlg::Rs256, 1_000).expect("key");
    std::fs::rename(&planted, wrong.join("server.pem")).expect("rename");
    for dir in [&empty, &missing, &wrong] {
        for args in [
            &["keys", "rotate", "--json"][..],
            &["keys", "rotate", "--alg", "ES256", "--json"][..],
            &["keys", "revoke", "some-kid", "--json"][..],
        ] {
            let out = cli(&db, dir, args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{dir:?} {args:?} succeeded");
            assert!(stderr.contains("is TESSERA_KEYS_DIR right?"), "{stderr}");
        }
    }
    assert!(!missing.exists(), "the missing directory was created");
    assert!(pem_names(&empty).is_empty(), "a key file was made");
    assert_eq!(pem_names(&wrong), HashSet::from(["server.pem".to_string()]));

    // Nothing was recorded: a node on the real directory adopts its files as before.
    let keys = tempfile::tempdir().expect("dir");
    tessera::keys::generate(keys.path(), SigningAlg::Rs256, Clock::system().now() - 60)
        .expect("key");
    let listed = cli_json(&db, keys.path(), &["keys", "list", "--json"]);
    let real = listed[0]["kid"].as_str().expect("kid").to_string();
    let staged = cli_json(&db, keys.path(), &["keys", "rotate", "--json"]);
    assert_eq!(staged["replaces"], real.as_str(), "{staged}");
    let app = spawn_on(db, keys, configure).await;
    let service = app.create_service_client("api.read").await;
    assert_eq!(kid_of(&app.access_token(&service).await), real);
}

/// A fresh, migrated database with no key record, and a directory to put keys directories in.
async fn migrated(backend: Backend) -> (TestDb, tempfile::TempDir) {
    let db = TestDb::new(backend).await;
    let root = tempfile::tempdir().expect("dir");
    let out = cli(&db, root.path(), &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (db, root)
}

/// Issue 13 review 5, finding 4: on a database without key records, a start records every key
/// file but a key command only the files named as Tessera names its keys. A hand-named legacy
/// key beside them (here the one that signs, as it sorts last) would be left out of the
/// command's records and ignored by every start after it: the command refuses, naming it, and
/// records nothing.
async fn a_key_command_on_a_database_without_records_refuses_hand_named_key_files(
    backend: Backend,
) {
    let (db, root) = migrated(backend).await;
    let keys = root.path().join("keys");
    std::fs::create_dir(&keys).expect("dir");
    tessera::keys::generate(&keys, SigningAlg::Rs256, Clock::system().now() - 120).expect("key");
    let legacy = tessera::keys::generate(&keys, SigningAlg::Rs256, 1_000).expect("key");
    std::fs::rename(&legacy, keys.join("prod-rs256.pem")).expect("rename");
    for args in [
        &["keys", "rotate", "--json"][..],
        &["keys", "revoke", "some-kid", "--json"][..],
    ] {
        let out = cli(&db, &keys, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains("prod-rs256.pem"), "{stderr}");
    }
    assert_eq!(pem_names(&keys).len(), 2, "a key file was made");
    let listed = cli_json(&db, &keys, &["keys", "list", "--json"]);
    let listed = listed.as_array().expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.iter().all(|k| k["recorded"] == false),
        "a key was recorded: {listed:?}"
    );
}

dual!(
    a_key_command_on_a_database_without_records_refuses_hand_named_key_files,
    key_commands_on_a_database_without_records_refuse_an_empty_or_wrong_keys_directory,
    planted_files_that_sort_first_never_crowd_the_recorded_keys_out_of_a_scan,
    a_revocation_sets_aside_files_by_kid_not_by_the_recorded_name,
    revocations_at_once_leave_no_unrecorded_successor_file,
    keys_rotate_before_the_first_start_keeps_the_keys_of_a_deployment_without_records,
);
