//! The database goes away and comes back (DESIGN §8): requests that need it get a prompt 503
//! with a JSON error (never a hang past `database_acquire_timeout`, never a panic), `/readyz`
//! fails, `/jwks` keeps working, and the node recovers by itself when the database returns.
//! The test runs its own throwaway PostgreSQL cluster, so that stopping it disturbs no one.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera::clock::Clock;
use tessera::config::Settings;
use tessera::startup::Application;

use crate::helpers::{http_client, service_client};

/// A PostgreSQL cluster in a temporary directory, on its own port; stopped on drop.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    /// initdb + start. Fails loudly (never skips) when PostgreSQL's server binaries are missing.
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                let mut found: Vec<PathBuf> = versions
                    .filter_map(|v| v.ok().map(|v| v.path().join("bin")))
                    .filter(|b| b.join("initdb").is_file())
                    .collect();
                found.sort();
                found.pop()
            })
            .expect(
                "the database-outage test needs PostgreSQL's server binaries \
                 (/usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql",
            );
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        if is_root() {
            // initdb refuses to run as root; the cluster belongs to the postgres user.
            let owned = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(owned.success(), "chown of the cluster directory failed");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Self {
            bin,
            data,
            port,
            _dir: dir,
        };
        cluster.run(
            "initdb",
            &["-D", &cluster.data_str(), "-U", "postgres", "-A", "trust"],
        );
        cluster.up();
        cluster
    }

    fn data_str(&self) -> String {
        self.data.display().to_string()
    }

    /// A PostgreSQL tool, run as the postgres user when we are root.
    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args);
        cmd
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool, args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.data_str()
        );
        let log = Path::new(&self.data).join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_str(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// `-m immediate`: the server goes away at once, like a crash or a lost host.
    fn down(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data_str(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data_str();
        let _ = self
            .command("pg_ctl", &["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// What a 503 may take at most: the acquire timeout plus scheduling slack.
const BOUND: Duration = Duration::from_secs(6);

/// A node on `cluster`'s database with a service client registered (`id`, `secret`).
struct Node {
    handle: actix_web::dev::ServerHandle,
    base: String,
    id: String,
    secret: String,
    _keys: tempfile::TempDir,
}

async fn start_node(cluster: &Cluster, configure: impl FnOnce(&mut Settings)) -> Node {
    let keys = tempfile::tempdir().expect("keys dir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut settings = Settings {
        issuer: format!("http://127.0.0.1:{port}"),
        bind: format!("127.0.0.1:{port}"),
        keys_dir: keys.path().to_path_buf(),
        database_url: Some(cluster.url()),
        database_max_connections: Some(4),
        database_acquire_timeout: ACQUIRE_TIMEOUT,
        database_connect_timeout: Duration::from_secs(10),
        ..Settings::default()
    };
    configure(&mut settings);
    let clock = Clock::system();
    let app = Application::build_with_listener(settings, clock.clone(), listener)
        .await
        .expect("the application starts");
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let registered = tessera::admin::clients::add(&state.store, service_client("api"), clock.now())
        .await
        .expect("register a client");
    Node {
        handle,
        base: format!("http://127.0.0.1:{port}"),
        id: registered.client.id.to_string(),
        secret: registered.secret.expect("secret"),
        _keys: keys,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_prompt_503s_and_the_node_recovers_without_a_restart() {
    let cluster = Cluster::start();
    // Without the client cache every token request needs the database, which is what this
    // test is about (with it, a recently seen client keeps getting tokens for the ttl).
    let node = start_node(&cluster, |s| s.client_cache_ttl = Duration::ZERO).await;
    let Node {
        handle,
        base,
        id,
        secret,
        ..
    } = &node;
    let http = http_client();
    let token = || async {
        let started = Instant::now();
        let res = http
            .post(format!("{base}/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("an answer, not a dropped connection");
        (res, started.elapsed())
    };
    let get = |path: &'static str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let started = Instant::now();
            let res = http.get(url).send().await.expect("an answer");
            (res, started.elapsed())
        }
    };

    let (res, _) = token().await;
    assert_eq!(res.status(), 200);
    assert_eq!(get("/readyz").await.0.status(), 200);

    cluster.down();

    for _ in 0..3 {
        let (res, took) = token().await;
        assert_eq!(res.status(), 503, "token endpoint during the outage");
        assert!(took < BOUND, "503 took {took:?}");
        assert!(res.headers().contains_key("retry-after"));
        let body: Value = res.json().await.expect("a JSON error");
        assert_eq!(body["error"], "temporarily_unavailable");
        assert!(
            !body["error_description"]
                .as_str()
                .unwrap_or_default()
                .contains("sqlx"),
            "no library text: {body}"
        );
    }
    let (res, took) = get("/readyz").await;
    assert_eq!(res.status(), 503, "readyz during the outage");
    assert!(took < BOUND, "readyz took {took:?}");
    let (res, took) = get("/jwks").await;
    assert_eq!(res.status(), 200, "/jwks needs no database");
    assert!(took < Duration::from_secs(1));

    cluster.up();

    let back = Instant::now();
    loop {
        let (res, _) = token().await;
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 503);
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "no recovery 30 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get("/readyz").await.0.status(), 200);
    handle.stop(true).await;
}

/// A database restart or failover closes pooled connections from the server's side (admin
/// shutdown, `pg_terminate_backend`, SQLSTATE 57P01). The pool finds them closed before use
/// and opens new ones, so not one request fails, sequential or in a burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_server_closed_are_replaced_before_use() {
    use sqlx::Connection;
    let app = crate::helpers::spawn_app_with(crate::helpers::Backend::Postgres, |s| {
        // Every token request reads the client row: the pool is on the path of each one.
        s.client_cache_ttl = Duration::ZERO;
        s.database_max_connections = Some(4);
    })
    .await;
    let c = app.create_service_client("api.read").await;
    let token = || app.post_token_basic(&c.id, c.secret(), &[("grant_type", "client_credentials")]);
    for round in 0..3 {
        // Fill the pool: a burst holds all its connections at once.
        for res in futures_util::future::join_all((0..8).map(|_| token())).await {
            assert_eq!(res.status(), 200, "round {round}: warm-up");
        }
        let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.expect("db");
        let killed: Vec<(bool,)> = sqlx::query_as(
            "select pg_terminate_backend(pid) from pg_stat_activity \
             where datname = current_database() and pid <> pg_backend_pid() \
             and application_name <> $1",
        )
        .bind(tessera::store::LISTENER_APPLICATION_NAME)
        .fetch_all(&mut conn)
        .await
        .expect("terminate");
        assert!(
            !killed.is_empty(),
            "round {round}: the pool had connections"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        for i in 0..6 {
            let res = token().await;
            assert_eq!(
                res.status(),
                200,
                "round {round}, request {i} after the kill"
            );
        }
        for res in futures_util::future::join_all((0..8).map(|_| token())).await {
            assert_eq!(res.status(), 200, "round {round}: burst after the kill");
        }
    }
}

/// Review of issue 13, phase 1: a node cut off from the database kept signing from its client
/// cache with whatever key it last knew, though that key may have been revoked meanwhile on
/// every other node. Once its key rescans have failed for `jwks_max_age`, it signs nothing
/// (`/token` answers 503 `temporarily_unavailable`) and `/readyz` fails; it signs again as soon
/// as it reads the key records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_the_key_records_for_jwks_max_age_stops_signing() {
    let cluster = Cluster::start();
    let node = start_node(&cluster, |s| {
        // The client is cached for long: /token needs no database for it.
        s.client_cache_ttl = Duration::from_secs(3600);
        s.jwks_max_age = Duration::from_secs(3);
        s.key_rescan_interval = Duration::from_millis(200);
    })
    .await;
    let Node {
        handle,
        base,
        id,
        secret,
        ..
    } = &node;
    let http = http_client();
    let token = || async {
        http.post(format!("{base}/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("an answer")
    };
    assert_eq!(token().await.status(), 200);

    cluster.down();
    let down = Instant::now();
    // From its cache the node still signs at first: that is the window this guard bounds.
    assert_eq!(token().await.status(), 200, "the client cache answers");
    loop {
        let res = token().await;
        if res.status() == 503 {
            let body: Value = res.json().await.expect("a JSON error");
            assert_eq!(body["error"], "temporarily_unavailable");
            break;
        }
        assert_eq!(res.status(), 200);
        assert!(
            down.elapsed() < Duration::from_secs(30),
            "still signing 30 s after the key records became unreadable"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        down.elapsed() >= Duration::from_secs(2),
        "stopped before jwks_max_age"
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        503
    );
    assert_eq!(
        http.get(format!("{base}/jwks"))
            .send()
            .await
            .expect("jwks")
            .status(),
        200,
        "the public keys stay served"
    );

    cluster.up();
    let back = Instant::now();
    while token().await.status() != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "not signing 30 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    handle.stop(true).await;
}
