//! The key lifecycle through HTTP (issue 13): a rotation is published on every node before it
//! signs, every node switches at the recorded instant, the old key verifies until it retires
//! and not after, an emergency revocation withdraws a key and its tokens everywhere within a
//! second, and `/jwks` revalidates by `ETag`. The `tessera keys` commands run as the real
//! binary, against the nodes' database and keys directory. On PostgreSQL every test runs two
//! nodes; on SQLite (one node) the same steps run on one.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use tessera::config::Settings;

use crate::code_flow;
use crate::dual;
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestClient, http_client, location, spawn_app_with, spawn_node_with,
};

pub(crate) const JWKS_MAX_AGE: i64 = 60;
pub(crate) const PUBLISH_AHEAD: i64 = 120;
/// The longest life of what a key signs: access tokens (capped at 1h), ID tokens kept as
/// `id_token_hint` (as long as a session: `session_ttl`, 1h here), logout tokens (2 min);
/// plus the JWKS max-age.
pub(crate) const RETIRE_WINDOW: i64 = 3600 + JWKS_MAX_AGE;

pub(crate) fn configure(s: &mut Settings) {
    s.jwks_max_age = Duration::from_secs(JWKS_MAX_AGE as u64);
    s.key_publish_ahead = Some(Duration::from_secs(PUBLISH_AHEAD as u64));
    s.key_rescan_interval = Duration::from_millis(200);
    s.session_ttl = Duration::from_secs(3600);
}

/// One node on SQLite, two on PostgreSQL (one database, one keys directory, one issuer).
pub(crate) struct Deployment {
    pub(crate) app: TestApp,
    pub(crate) node: Option<TestApp>,
}

impl Deployment {
    async fn new(backend: Backend) -> Self {
        Self::with(backend, configure).await
    }

    /// With settings of its own (`configure` must call `configure`).
    pub(crate) async fn with(backend: Backend, configure: fn(&mut Settings)) -> Self {
        let app = spawn_app_with(backend, configure).await;
        let node = match backend {
            Backend::Postgres => Some(Self::node_of(&app, configure).await),
            Backend::Sqlite => None,
        };
        Self { app, node }
    }

    /// Another node behind the same issuer URL.
    pub(crate) async fn node_of(app: &TestApp, configure: fn(&mut Settings)) -> TestApp {
        let issuer = app.address.clone();
        spawn_node_with(app, move |s| {
            configure(s);
            s.issuer = issuer;
        })
        .await
    }

    pub(crate) fn nodes(&self) -> Vec<&TestApp> {
        std::iter::once(&self.app).chain(&self.node).collect()
    }

    /// Moves every node's clock (the CLI keeps the wall clock, which stays behind them).
    pub(crate) fn advance(&self, secs: i64) {
        for node in self.nodes() {
            node.clock.advance(secs);
        }
    }

    /// `tessera ARGS` with the nodes' database, keys directory and key settings.
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        self.cli_command(args).output().expect("run tessera")
    }

    pub(crate) fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.env_clear()
            .current_dir(self.app.keys_dir.parent().expect("a parent"))
            .env("DATABASE_URL", &self.app.db.url)
            .env("TESSERA_KEYS_DIR", &self.app.keys_dir)
            .env("TESSERA_JWKS_MAX_AGE", JWKS_MAX_AGE.to_string())
            .env("TESSERA_KEY_PUBLISH_AHEAD", PUBLISH_AHEAD.to_string())
            .env("TESSERA_SESSION_TTL", "3600")
            .env("TESSERA_LOG_LEVEL", "warn")
            .args(args);
        cmd
    }

    pub(crate) fn cli_json(&self, args: &[&str]) -> Value {
        json_of(args, self.cli(args))
    }

    pub(crate) fn listed(&self, kid: &str) -> Value {
        let keys = self.cli_json(&["keys", "list", "--json"]);
        keys.as_array()
            .expect("a list")
            .iter()
            .find(|k| k["kid"] == kid)
            .cloned()
            .unwrap_or_else(|| panic!("{kid} is not listed: {keys}"))
    }
}

/// The JSON a successful `tessera ARGS --json` printed.
fn json_of(args: &[&str], out: Output) -> Value {
    assert!(
        out.status.success(),
        "tessera {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The `kid` in a JWS header.
pub(crate) fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("a JWT");
    let bytes = URL_SAFE_NO_PAD.decode(header).expect("base64url");
    let header: Value = serde_json::from_slice(&bytes).expect("json");
    header["kid"].as_str().expect("kid").to_string()
}

pub(crate) async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app.get("/jwks").await.json().await.expect("jwks");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

/// Polls `/jwks` until `kid` is published (or no longer is); returns how long it took.
pub(crate) async fn published_within(
    app: &TestApp,
    kid: &str,
    published: bool,
    limit: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if jwks_kids(app).await.iter().any(|k| k == kid) == published {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

struct Tokens {
    /// client_credentials access token.
    service: String,
    /// A user's access token (scope openid), good at `/userinfo`.
    user: String,
    id_token: String,
}

pub(crate) struct Parties {
    pub(crate) service: TestClient,
    pub(crate) rs: TestClient,
    pub(crate) app_client: TestClient,
}

pub(crate) async fn parties(app: &TestApp) -> Parties {
    app.create_user("alice", PASSWORD).await;
    Parties {
        service: app.create_service_client("api.read").await,
        rs: app.create_resource_server_client().await,
        app_client: code_flow::client(app, "confidential", true).await,
    }
}

async fn tokens(app: &TestApp, p: &Parties) -> Tokens {
    let pkce = code_flow::pkce();
    let browser = http_client();
    let code = code_flow::get_code(
        app,
        &browser,
        &code_flow::standard(&p.app_client, &pkce, "openid"),
    )
    .await;
    let body: Value = code_flow::redeem(app, &p.app_client, &code, &pkce.verifier)
        .await
        .json()
        .await
        .expect("json");
    Tokens {
        service: app.access_token(&p.service).await,
        user: body["access_token"].as_str().expect("at").to_string(),
        id_token: body["id_token"].as_str().expect("id token").to_string(),
    }
}

async fn userinfo_status(app: &TestApp, token: &str) -> StatusCode {
    app.client
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo")
        .status()
}

/// `/end-session` from a browser without a session: a valid hint sends it back to the
/// client's registered URI; a hint this node cannot verify is a 400.
async fn end_session_status(app: &TestApp, id_token: &str) -> StatusCode {
    let res = http_client()
        .get(app.url(&format!(
            "/end-session?id_token_hint={id_token}&post_logout_redirect_uri=https://app.example.com/bye"
        )))
        .send()
        .await
        .expect("end-session");
    if res.status().is_redirection() {
        assert!(location(&res).starts_with("https://app.example.com/bye"));
    }
    res.status()
}

/// Issue 13, done when: `keys rotate` on one node makes the next key appear in both nodes'
/// JWKS within seconds while tokens still carry the old kid; after `key_publish_ahead` both
/// sign with the new key; tokens signed before the switch verify on both (introspection,
/// userinfo, `/end-session`) until the old key retires, and not after.
async fn a_rotation_is_published_first_then_every_node_switches_at_the_recorded_instant(
    backend: Backend,
) {
    let d = Deployment::new(backend).await;
    let p = parties(&d.app).await;
    let before = tokens(&d.app, &p).await;
    let old = kid_of(&before.service);
    assert_eq!(kid_of(&before.user), old);
    assert_eq!(kid_of(&before.id_token), old);

    let staged = d.cli_json(&["keys", "rotate", "--alg", "RS256", "--json"]);
    let new = staged["kid"].as_str().expect("kid").to_string();
    assert_ne!(new, old);
    assert_eq!(staged["replaces"], old.as_str());
    let active_at = staged["active_at"].as_i64().expect("active_at");
    assert!(active_at >= d.app.clock.now() + PUBLISH_AHEAD - 2);

    for node in d.nodes() {
        assert!(
            published_within(node, &new, true, Duration::from_secs(10)).await,
            "the next key is published on every node within the rescan"
        );
        assert!(jwks_kids(node).await.contains(&old));
        // Published, but nothing signs with it yet: not client_credentials, not a code flow.
        assert_eq!(kid_of(&node.access_token(&p.service).await), old);
    }
    let during = tokens(&d.app, &p).await;
    for token in [&during.service, &during.user, &during.id_token] {
        assert_eq!(kid_of(token), old, "a next key never signs");
    }
    assert_eq!(d.listed(&new)["state"], "next");

    // The recorded instant passes: every node signs with the new key at once, no rescan needed.
    d.advance(PUBLISH_AHEAD + 1);
    for node in d.nodes() {
        assert_eq!(kid_of(&node.access_token(&p.service).await), new);
        // Tokens the old key signed still verify everywhere.
        assert_eq!(
            node.introspect(&p.rs, &before.service).await["active"],
            true
        );
        assert_eq!(userinfo_status(node, &before.user).await, StatusCode::OK);
        assert_eq!(
            end_session_status(node, &before.id_token).await,
            StatusCode::SEE_OTHER
        );
        let kids = jwks_kids(node).await;
        assert!(kids.contains(&old) && kids.contains(&new), "{kids:?}");
    }
    let after = tokens(&d.app, &p).await;
    assert_eq!(kid_of(&after.id_token), new);
    // The CLI reads the wall clock, which the nodes' clocks are ahead of now: its states are
    // those of the present, the recorded times are what every node follows.
    let retiring = d.listed(&old);
    assert_eq!(retiring["retiring_at"], active_at);
    assert_eq!(retiring["retire_after"], active_at + RETIRE_WINDOW);
    assert_eq!(d.listed(&new)["active_at"], active_at);

    // Just before retirement an ID token kept as a hint still verifies; once retired the old
    // key leaves JWKS and verifies nothing on any node.
    let retire_after = retiring["retire_after"].as_i64().expect("retire_after");
    d.advance(retire_after - d.app.clock.now() - 5);
    for node in d.nodes() {
        assert_eq!(
            end_session_status(node, &during.id_token).await,
            StatusCode::SEE_OTHER
        );
    }
    d.advance(10);
    for node in d.nodes() {
        assert_eq!(
            end_session_status(node, &during.id_token).await,
            StatusCode::BAD_REQUEST,
            "a retired key's token is refused"
        );
        assert!(!jwks_kids(node).await.contains(&old));
        assert_eq!(
            node.introspect(&p.rs, &before.service).await["active"],
            false
        );
        assert_eq!(
            end_session_status(node, &after.id_token).await,
            StatusCode::SEE_OTHER
        );
    }
}

/// Issue 13, done when: `keys revoke` makes the key's tokens inactive on every node within a
/// second (introspection, userinfo, `/end-session`), drops it from JWKS, lets its successor
/// sign at once, and tells resource servers through `/revocations` (an entry by `kid`).
async fn revoking_a_key_withdraws_it_and_its_tokens_on_every_node_within_a_second(
    backend: Backend,
) {
    let d = Deployment::new(backend).await;
    let p = parties(&d.app).await;
    let leaked = tokens(&d.app, &p).await;
    let kid = kid_of(&leaked.service);
    for node in d.nodes() {
        assert_eq!(
            node.introspect(&p.rs, &leaked.service).await["active"],
            true
        );
        assert_eq!(userinfo_status(node, &leaked.user).await, StatusCode::OK);
    }

    let revoked = d.cli_json(&["keys", "revoke", "--json", "--", &kid]);
    let start = Instant::now();
    assert_eq!(revoked["was"], "active");
    let successor = revoked["successor"]
        .as_str()
        .expect("a successor")
        .to_string();
    for node in d.nodes() {
        loop {
            let inactive = node.introspect(&p.rs, &leaked.service).await["active"] == false
                && userinfo_status(node, &leaked.user).await == StatusCode::UNAUTHORIZED;
            if inactive {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "the revoked key's tokens are still active after a second"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for node in d.nodes() {
        assert!(published_within(node, &kid, false, Duration::from_secs(2)).await);
        assert!(jwks_kids(node).await.contains(&successor));
        assert_eq!(
            end_session_status(node, &leaked.id_token).await,
            StatusCode::BAD_REQUEST
        );
        // The successor signs at once: no pre-publication in an emergency.
        assert_eq!(kid_of(&node.access_token(&p.service).await), successor);
    }

    // Resource servers that verify offline learn of it from the revocation list.
    let res = d
        .app
        .client
        .get(d.app.url("/revocations"))
        .basic_auth(&p.rs.id, Some(p.rs.secret()))
        .send()
        .await
        .expect("revocations");
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.expect("json");
    let entries = page["revocations"].as_array().expect("entries");
    assert!(
        entries.iter().any(|e| e.to_string().contains(&kid)
            && e.to_string().contains("\"kid\"")
            && e.to_string().contains("key_revoked")),
        "{page}"
    );
    assert_eq!(d.listed(&kid)["state"], "revoked");
    assert_eq!(d.listed(&successor)["state"], "active");
    // Its file is set aside, so no later start can adopt it again.
    let pem_kids = std::fs::read_dir(&d.app.keys_dir)
        .expect("keys dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "revoked"))
        .count();
    assert_eq!(pem_kids, 1);

    // Asking again changes nothing.
    let again = d.cli_json(&["keys", "revoke", "--json", "--", &kid]);
    assert_eq!(again["was"], "revoked");
    assert_eq!(again["revocation_id"], revoked["revocation_id"]);
}

/// Revoking a next key leaves the active key signing: the rotation is called off.
async fn revoking_the_next_key_calls_the_rotation_off(backend: Backend) {
    let d = Deployment::new(backend).await;
    let p = parties(&d.app).await;
    let old = kid_of(&d.app.access_token(&p.service).await);
    let staged = d.cli_json(&["keys", "rotate", "--json"]);
    let next = staged["kid"].as_str().expect("kid");
    let revoked = d.cli_json(&["keys", "revoke", "--json", "--", next]);
    assert_eq!(revoked["was"], "next");
    assert!(revoked["successor"].is_null());
    for node in d.nodes() {
        assert!(published_within(node, next, false, Duration::from_secs(10)).await);
    }
    d.advance(PUBLISH_AHEAD + RETIRE_WINDOW + 10);
    for node in d.nodes() {
        assert_eq!(kid_of(&node.access_token(&p.service).await), old);
    }
    assert_eq!(d.listed(&old)["state"], "active");
}

/// `tessera keys revoke` with a kid no key has fails and says so.
async fn revoking_an_unknown_kid_is_a_clear_error(backend: Backend) {
    let d = Deployment::new(backend).await;
    let out = d.cli(&["keys", "revoke", "no-such-kid"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no key has kid 'no-such-kid'"), "{err}");
}

/// Two `keys rotate` at once (two processes): one stages a key, the other is refused, and
/// there is one next key of the algorithm, never two.
async fn two_rotations_at_once_stage_one_next_key(backend: Backend) {
    let d = Deployment::new(backend).await;
    let mut first = d.cli_command(&["keys", "rotate", "--json"]);
    let mut second = d.cli_command(&["keys", "rotate", "--json"]);
    let spawn = |cmd: &mut Command| {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(&mut first), spawn(&mut second));
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    assert_eq!(
        [a.status.success(), b.status.success()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1,
        "{} / {}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let refused = if a.status.success() { &b } else { &a };
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("already staged"), "{err}");
    let keys = d.cli_json(&["keys", "list", "--json"]);
    let next: Vec<&Value> = keys
        .as_array()
        .expect("list")
        .iter()
        .filter(|k| k["alg"] == "RS256" && k["state"] == "next")
        .collect();
    assert_eq!(next.len(), 1, "{keys}");
    let rs256_files = std::fs::read_dir(&d.app.keys_dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.contains("-rs256") && name.ends_with(".pem")
        })
        .count();
    assert_eq!(rs256_files, 2, "the refused rotation left no key file");
}

/// RFC 9110 §13.1.2: `/jwks` answers `If-None-Match` with 304 while its content is the same,
/// and its `ETag` changes when the content does (a rotation).
async fn the_jwks_etag_changes_with_its_content_and_revalidation_gets_304(backend: Backend) {
    let d = Deployment::new(backend).await;
    for node in d.nodes() {
        let first = node.get("/jwks").await;
        assert_eq!(first.status(), 200);
        let etag = first.headers()["etag"].to_str().expect("ascii").to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let again = node
            .client
            .get(node.url("/jwks"))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("jwks");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.headers().contains_key("cache-control"));
        assert!(again.bytes().await.expect("body").is_empty());
    }
    let etag = d.app.get("/jwks").await.headers()["etag"]
        .to_str()
        .expect("ascii")
        .to_string();
    if let Some(node) = &d.node {
        assert_eq!(
            node.get("/jwks").await.headers()["etag"],
            etag.as_str(),
            "the same keys give the same validator on every node"
        );
    }

    let staged = d.cli_json(&["keys", "rotate", "--alg", "ES256", "--json"]);
    let kid = staged["kid"].as_str().expect("kid");
    for node in d.nodes() {
        assert!(published_within(node, kid, true, Duration::from_secs(10)).await);
        let res = node
            .client
            .get(node.url("/jwks"))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("jwks");
        assert_eq!(res.status(), 200, "new content, new validator");
        assert_ne!(res.headers()["etag"], etag.as_str());
    }
}

/// Key files from before the records (an existing deployment) are adopted at start: the
/// newest of each algorithm signs, older ones are published as retiring until their window
/// ends.
async fn key_files_without_records_are_adopted_newest_active_and_older_retiring(backend: Backend) {
    let keys = tempfile::tempdir().expect("dir");
    let rs256 = tessera::keys::SigningAlg::Rs256;
    let older = tessera::keys::generate(keys.path(), rs256, 1).expect("older");
    tessera::keys::generate(keys.path(), rs256, 2).expect("newer");
    tessera::keys::load_or_generate(keys.path(), 2).expect("the others");
    let db = crate::helpers::TestDb::new(backend).await;
    let app = crate::helpers::spawn_on(db, keys, configure).await;
    let d = Deployment { app, node: None };
    let ring = tessera::keys::load_existing(&d.app.keys_dir).expect("ring");
    let newest = ring.active().expect("signer").kid().to_string();
    let service = d.app.create_service_client("api").await;
    assert_eq!(kid_of(&d.app.access_token(&service).await), newest);
    let listed = d.cli_json(&["keys", "list", "--json"]);
    let states: Vec<(String, String)> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|k| {
            (
                k["file"].as_str().unwrap_or_default().to_string(),
                k["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let older_name = older
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(
        states.contains(&(older_name, "retiring".into())),
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|(_, s)| s == "active").count(),
        3,
        "{states:?}"
    );
    let kids = jwks_kids(&d.app).await;
    assert_eq!(kids.len(), 4, "the older key stays published: {kids:?}");
}

/// Attack and accident: a node started on an empty keys directory (a missing mount) beside a
/// deployment with recorded keys must not make keys of its own and stage them for every node;
/// it refuses to start and the records stay as they were. A key file planted beside the
/// published keys is never taken in: not published, not staged, and `keys revoke` does not
/// promote it.
async fn a_node_on_an_empty_mount_or_a_planted_key_file_changes_nothing(backend: Backend) {
    let d = Deployment::new(backend).await;
    let before = d.cli_json(&["keys", "list", "--json"]);
    let kids_before = jwks_kids(&d.app).await;

    let empty = tempfile::tempdir().expect("dir");
    let out = d
        .cli_command(&["serve"])
        .env("TESSERA_KEYS_DIR", empty.path())
        .env("TESSERA_BIND", "127.0.0.1:0")
        .output()
        .expect("run tessera serve");
    assert!(
        !out.status.success(),
        "a node without the recorded keys must not start"
    );
    let made: Vec<_> = std::fs::read_dir(empty.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "pem"))
        .collect();
    assert!(made.is_empty(), "it made keys of its own: {made:?}");
    assert_eq!(
        d.cli_json(&["keys", "list", "--json"]),
        before,
        "records unchanged"
    );

    let planted = tempfile::tempdir().expect("dir");
    let file = tessera::keys::generate(planted.path(), tessera::keys::SigningAlg::Rs256, 9)
        .expect("a key of the attacker's");
    let name = file.file_name().expect("name").to_owned();
    std::fs::copy(&file, d.app.keys_dir.join(&name)).expect("plant it");
    let planted_kid = tessera::keys::load_existing(planted.path())
        .expect("ring")
        .active()
        .expect("signer")
        .kid()
        .to_string();
    let active = kid_of(
        &d.app
            .access_token(&d.app.create_service_client("api").await)
            .await,
    );
    let out = d.cli(&["keys", "revoke", "--", &active]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audited = d
        .app
        .state
        .store
        .audit_about("", &active, "", 10)
        .await
        .expect("audit");
    assert!(
        audited
            .iter()
            .any(|e| e.action == "key.revoked" && e.actor.starts_with("cli:")),
        "the revocation is in the audit log: {audited:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    for node in d.nodes() {
        let kids = jwks_kids(node).await;
        assert!(
            !kids.contains(&planted_kid),
            "the planted key is published: {kids:?}"
        );
        let signed = kid_of(
            &node
                .access_token(&node.create_service_client("api").await)
                .await,
        );
        assert_ne!(signed, planted_kid, "the planted key signs");
        assert_ne!(signed, active, "the revoked key signs");
    }
    let listed = d.cli_json(&["keys", "list", "--json"]);
    assert!(
        !listed
            .as_array()
            .expect("list")
            .iter()
            .any(|k| k["kid"] == planted_kid.as_str()),
        "{listed}"
    );
    assert_ne!(kids_before, jwks_kids(&d.app).await);
}

/// Review of phase 1: `keys revoke` set aside only the file named in the record; a copy of the
/// key under another name stayed a `*.pem` that a start on a database without the record (a
/// restore, a new deployment) would adopt and sign with. Every file holding the kid goes.
async fn revoking_a_key_sets_aside_every_file_that_holds_it(backend: Backend) {
    let d = Deployment::new(backend).await;
    let kid = kid_of(
        &d.app
            .access_token(&d.app.create_service_client("api").await)
            .await,
    );
    let recorded = d.listed(&kid)["file"].as_str().expect("file").to_string();
    std::fs::copy(
        d.app.keys_dir.join(&recorded),
        d.app.keys_dir.join("backup-copy.pem"),
    )
    .expect("copy");
    let revoked = d.cli_json(&["keys", "revoke", "--json", "--", &kid]);
    assert_eq!(revoked["was"], "active");
    let names: Vec<String> = std::fs::read_dir(&d.app.keys_dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(names.contains(&format!("{recorded}.revoked")), "{names:?}");
    assert!(
        names.contains(&"backup-copy.pem.revoked".to_string()),
        "{names:?}"
    );
    let ring = tessera::keys::load_existing(&d.app.keys_dir).expect("the other keys");
    assert!(
        ring.get(&kid).is_none(),
        "a *.pem file still holds the revoked key"
    );
}

/// Review of phase 2: a node whose keys directory lacks the successor's file (a read-only
/// mounted secret not updated yet) kept its old ring when the records left nothing to sign
/// with, so the revoked, leaked key went on signing and stayed in `/jwks`. Now the revoked
/// kid leaves at once, nothing signs for its algorithm (503, `/readyz` failing) until the
/// successor's file is there, and then the successor signs.
async fn a_node_without_the_successors_file_drops_the_revoked_key_and_signs_nothing(
    backend: Backend,
) {
    let d = Deployment::new(backend).await;
    let service = d.app.create_service_client("api").await;
    let leaked = kid_of(&d.app.access_token(&service).await);
    // The operator revokes from a machine with its own copy of the keys: the successors'
    // files are written there, never into the nodes' directory.
    let elsewhere = tempfile::tempdir().expect("dir");
    for entry in std::fs::read_dir(&d.app.keys_dir).expect("keys dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "pem") {
            std::fs::copy(
                &path,
                elsewhere.path().join(path.file_name().expect("name")),
            )
            .expect("copy");
        }
    }
    let active: Vec<String> = d
        .cli_json(&["keys", "list", "--json"])
        .as_array()
        .expect("list")
        .iter()
        .filter(|k| k["state"] == "active")
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect();
    assert!(active.contains(&leaked), "{active:?}");
    let mut successors = Vec::new();
    for kid in &active {
        let args = ["keys", "revoke", "--json", "--", kid];
        let out = d
            .cli_command(&args)
            .env("TESSERA_KEYS_DIR", elsewhere.path())
            .output()
            .expect("run tessera");
        let revoked = json_of(&args, out);
        successors.push(
            revoked["successor"]
                .as_str()
                .expect("successor")
                .to_string(),
        );
    }
    for node in d.nodes() {
        for kid in &active {
            assert!(
                published_within(node, kid, false, Duration::from_secs(10)).await,
                "the revoked key {kid} is still published"
            );
        }
        let res = node
            .post_token_basic(
                &service.id,
                service.secret(),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(res.status(), 503, "a revoked key signed");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"], "temporarily_unavailable");
        assert_eq!(node.get("/readyz").await.status(), 503);
    }

    // The successors' files arrive: the node signs again, with the successor.
    for entry in std::fs::read_dir(elsewhere.path()).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "pem") {
            std::fs::copy(&path, d.app.keys_dir.join(path.file_name().expect("name")))
                .expect("copy");
        }
    }
    for node in d.nodes() {
        assert!(published_within(node, &successors[0], true, Duration::from_secs(10)).await);
        let signed = kid_of(&node.access_token(&service).await);
        assert!(successors.contains(&signed), "{signed} is no successor");
        assert_eq!(node.get("/readyz").await.status(), 200);
    }
}

dual!(
    a_node_without_the_successors_file_drops_the_revoked_key_and_signs_nothing,
    revoking_a_key_sets_aside_every_file_that_holds_it,
    a_node_on_an_empty_mount_or_a_planted_key_file_changes_nothing,
    a_rotation_is_published_first_then_every_node_switches_at_the_recorded_instant,
    revoking_a_key_withdraws_it_and_its_tokens_on_every_node_within_a_second,
    revoking_the_next_key_calls_the_rotation_off,
    revoking_an_unknown_kid_is_a_clear_error,
    two_rotations_at_once_stage_one_next_key,
    the_jwks_etag_changes_with_its_content_and_revalidation_gets_304,
    key_files_without_records_are_adopted_newest_active_and_older_retiring
);
