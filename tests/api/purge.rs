//! Bounded state (issue 11 point 10): the purge deletes what can no longer matter from every
//! table that grows with traffic, keeps what still can, and runs on one node at a time.

use std::process::Command;

use sqlx::{AnyConnection, Connection};
use tessera::purge::{Outcome, Policy, Purged, run_once};

use crate::dual;
use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app, spawn_node};

async fn connect(app: &TestApp) -> AnyConnection {
    AnyConnection::connect(&app.db.url).await.unwrap()
}

async fn exec(conn: &mut AnyConnection, sql: &str, args: &[Arg<'_>]) {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for a in args {
        q = match a {
            Arg::S(s) => q.bind(s.to_string()),
            Arg::I(i) => q.bind(*i),
            Arg::N => q.bind(None::<i64>),
        };
    }
    q.execute(conn).await.unwrap();
}

enum Arg<'a> {
    S(&'a str),
    I(i64),
    N,
}
use Arg::{I, N, S};

/// The keys left in `table`, sorted.
async fn keys(conn: &mut AnyConnection, table: &str, key: &str) -> Vec<String> {
    let sql = format!("select {key} from {table} order by {key}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await
        .unwrap()
}

/// Seeds, at `now`, one row that must go and one that must stay (or several, where the rule
/// has several cases) in every purged table.
async fn seed(app: &TestApp, now: i64) {
    let user = app.create_user("kim", PASSWORD).await.id;
    let settings = &app.state.settings;
    let window = settings.login_failure_window.as_secs() as i64;
    let retention = settings.audit_retention.as_secs() as i64;
    let mut c = connect(app).await;
    let code = "insert into authorization_codes (code_hash, client_id, user_id, sid, \
                redirect_uri, scope, nonce, code_challenge, auth_time, amr, created_at, \
                expires_at, used_at, family_id) \
                values ($1, 'c', $2, 's', 'https://a/cb', 'openid', null, null, $3, 'pwd', $3, $4, $5, null)";
    exec(
        &mut c,
        code,
        &[S("code-expired"), S(&user), I(now - 120), I(now - 60), N],
    )
    .await;
    exec(
        &mut c,
        code,
        &[
            S("code-expired-used"),
            S(&user),
            I(now - 120),
            I(now - 1),
            I(now - 100),
        ],
    )
    .await;
    exec(
        &mut c,
        code,
        &[S("code-live"), S(&user), I(now), I(now + 60), N],
    )
    .await;
    // Used but not expired: a second redemption must still be caught as a replay.
    exec(
        &mut c,
        code,
        &[S("code-used-live"), S(&user), I(now), I(now + 60), I(now)],
    )
    .await;

    let session = "insert into sessions (id_hash, sid, user_id, auth_time, amr, created_at, \
                   last_seen_at, expires_at) values ($1, $2, $3, $4, 'pwd', $4, $4, $5)";
    exec(
        &mut c,
        session,
        &[
            S("h-expired"),
            S("sid-expired"),
            S(&user),
            I(now - 50_000),
            I(now),
        ],
    )
    .await;
    exec(
        &mut c,
        session,
        &[
            S("h-live"),
            S("sid-live"),
            S(&user),
            I(now - 100),
            I(now + 3600),
        ],
    )
    .await;
    let link = "insert into session_clients (sid, client_id, created_at) values ($1, 'c', $2)";
    // Links of sessions gone for longer than a session lives go; the links of a session that
    // ended a moment ago stay for its back-channel logout, which reads them right after.
    for sid in ["sid-expired", "sid-ended"] {
        exec(&mut c, link, &[S(sid), I(now - 50_000)]).await;
    }
    for sid in ["sid-live", "sid-just-ended"] {
        exec(&mut c, link, &[S(sid), I(now - 100)]).await;
    }

    let family = "insert into refresh_families (family_id, client_id, user_id, sid, scope, \
                  auth_time, amr, created_at, expires_at, revoked_at, revoked_reason) \
                  values ($1, 'c', $2, 'sid-live', 'openid', $3, 'pwd', $3, $4, $5, null)";
    let token = "insert into refresh_tokens (token_hash, family_id, created_at, \
                 idle_expires_at, used_at) values ($1, $2, $3, $4, $5)";
    exec(
        &mut c,
        family,
        &[S("fam-expired"), S(&user), I(now - 100), I(now), N],
    )
    .await;
    exec(
        &mut c,
        token,
        &[
            S("rt-expired"),
            S("fam-expired"),
            I(now - 100),
            I(now + 10),
            N,
        ],
    )
    .await;
    exec(
        &mut c,
        family,
        &[
            S("fam-revoked-long-ago"),
            S(&user),
            I(now - 9000),
            I(now + 9000),
            I(now - 3601),
        ],
    )
    .await;
    exec(
        &mut c,
        token,
        &[
            S("rt-revoked-long-ago"),
            S("fam-revoked-long-ago"),
            I(now - 9000),
            I(now + 10),
            I(now - 3601),
        ],
    )
    .await;
    exec(
        &mut c,
        family,
        &[
            S("fam-revoked-recently"),
            S(&user),
            I(now - 100),
            I(now + 9000),
            I(now - 60),
        ],
    )
    .await;
    exec(
        &mut c,
        token,
        &[
            S("rt-revoked-recently"),
            S("fam-revoked-recently"),
            I(now - 100),
            I(now + 10),
            N,
        ],
    )
    .await;
    exec(
        &mut c,
        family,
        &[S("fam-live"), S(&user), I(now - 100), I(now + 9000), N],
    )
    .await;
    // In a live family: a used token stays (reuse detection), an unused idle-expired one goes.
    exec(
        &mut c,
        token,
        &[
            S("rt-live-used"),
            S("fam-live"),
            I(now - 100),
            I(now - 50),
            I(now - 60),
        ],
    )
    .await;
    exec(
        &mut c,
        token,
        &[
            S("rt-live-idle"),
            S("fam-live"),
            I(now - 100),
            I(now - 1),
            N,
        ],
    )
    .await;
    exec(
        &mut c,
        token,
        &[
            S("rt-live-current"),
            S("fam-live"),
            I(now - 60),
            I(now + 600),
            N,
        ],
    )
    .await;

    // The grace window is at most 60 s: a successor sealed for a token used longer ago than
    // that is forgotten, a recent one kept.
    let seal = "update refresh_tokens set successor_sealed = 'sealed', used_at = $2 \
                where token_hash = $1";
    exec(&mut c, seal, &[S("rt-live-used"), I(now - 60)]).await;
    exec(&mut c, seal, &[S("rt-revoked-recently"), I(now - 5)]).await;

    let throttle = "insert into login_throttle (key, failures, window_start, last_failure) \
                    values ($1, 3, $2, $2)";
    exec(&mut c, throttle, &[S("user:old"), I(now - window - 10)]).await;
    exec(&mut c, throttle, &[S("user:recent"), I(now - 10)]).await;

    let revocation = "insert into revocations (kind, target, issued_before, revoked_at, \
                      expires_at, reason) values ('jti', $1, null, $2, $3, 'admin')";
    exec(
        &mut c,
        revocation,
        &[S("jti-expired"), I(now - 4000), I(now - 400)],
    )
    .await;
    exec(
        &mut c,
        revocation,
        &[S("jti-live"), I(now - 10), I(now + 3590)],
    )
    .await;

    let change = "insert into client_changes (client_id, changed_at) values ($1, $2)";
    exec(
        &mut c,
        change,
        &[S("client-changed-long-ago"), I(now - 24 * 3600 - 10)],
    )
    .await;
    exec(&mut c, change, &[S("client-changed-lately"), I(now - 10)]).await;

    let audit =
        "insert into audit_log (at, actor, action, target) values ($1, 'anonymous', $2, null)";
    exec(&mut c, audit, &[I(now - retention - 10), S("audit.old")]).await;
    exec(&mut c, audit, &[I(now - 10), S("audit.recent")]).await;

    // Hourly counts go with the audit entries: an hour that began before the retention.
    let activity = "insert into activity_hourly (hour, kind, client_id, count) \
                    values ($1, $2, 'c', 1)";
    let hour = |t: i64| t.div_euclid(3600) * 3600;
    exec(
        &mut c,
        activity,
        &[I(hour(now - retention - 3600)), S("token:old")],
    )
    .await;
    exec(&mut c, activity, &[I(hour(now)), S("token:recent")]).await;
}

/// Every table that grows with traffic loses its dead rows, and only those.
async fn the_purge_deletes_dead_rows_and_keeps_live_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = app.clock.now();
    seed(&app, now).await;
    let policy = Policy::from_settings(&app.state.settings);
    // Cut-offs keep a margin for clock skew between nodes: purging that much later judges the
    // rows as of `now`.
    let later = now + tessera::purge::CLOCK_SKEW_MARGIN;
    let outcome = run_once(&app.state.store, policy, later).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Ran(Purged {
            authorization_codes: 2,
            device_codes: 0,
            sessions: 1,
            session_clients: 2,
            refresh_tokens: 1,
            refresh_families: 2,
            sealed_successors: 1,
            login_throttle: 1,
            revocations: 1,
            client_changes: 1,
            audit_log: 1,
            activity_hourly: 1,
            dpop_proofs: 0,
        })
    );
    let mut c = connect(&app).await;
    assert_eq!(
        keys(&mut c, "authorization_codes", "code_hash").await,
        ["code-live", "code-used-live"]
    );
    assert_eq!(keys(&mut c, "sessions", "sid").await, ["sid-live"]);
    assert_eq!(
        keys(&mut c, "session_clients", "sid").await,
        ["sid-just-ended", "sid-live"]
    );
    assert_eq!(
        keys(&mut c, "refresh_families", "family_id").await,
        ["fam-live", "fam-revoked-recently"]
    );
    assert_eq!(
        keys(&mut c, "refresh_tokens", "token_hash").await,
        ["rt-live-current", "rt-live-used", "rt-revoked-recently"]
    );
    let sealed: Vec<(String,)> =
        sqlx::query_as("select token_hash from refresh_tokens where successor_sealed is not null")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(sealed, [("rt-revoked-recently".to_string(),)]);
    assert_eq!(keys(&mut c, "login_throttle", "key").await, ["user:recent"]);
    assert_eq!(keys(&mut c, "revocations", "target").await, ["jti-live"]);
    assert_eq!(
        keys(&mut c, "client_changes", "client_id").await,
        ["client-changed-lately"]
    );
    assert_eq!(keys(&mut c, "audit_log", "action").await, ["audit.recent"]);
    // (Not every row: the node may have sampled this hour's gauges meanwhile.)
    let counts: Vec<String> =
        sqlx::query_scalar("select kind from activity_hourly where client_id = 'c'")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(counts, ["token:recent"]);

    // A second purge finds nothing more.
    let again = run_once(&app.state.store, policy, later).await.unwrap();
    assert_eq!(again, Outcome::Ran(Purged::default()));
}

/// More rows than one batch: the purge loops until the backlog is gone.
async fn a_backlog_larger_than_a_batch_is_purged_in_batches(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = app.clock.now();
    let n = tessera::purge::BATCH * 2 + 7;
    let mut c = connect(&app).await;
    exec(
        &mut c,
        &format!(
            "with recursive k(i) as (select 1 union all select i + 1 from k where i < {n}) \
             insert into login_throttle (key, failures, window_start, last_failure) \
             select 'ip:' || i, 1, 0, 0 from k"
        ),
        &[],
    )
    .await;
    let policy = Policy::from_settings(&app.state.settings);
    let Outcome::Ran(purged) = run_once(&app.state.store, policy, now).await.unwrap() else {
        panic!("the purge did not run");
    };
    assert_eq!(purged.login_throttle, n as u64);
    assert!(keys(&mut c, "login_throttle", "key").await.is_empty());
}

/// On PostgreSQL one node purges at a time: while one holds the purge lock, another's purge
/// does nothing; once it is released, the other runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_purge_at_the_same_time() {
    let a = spawn_app(Backend::Postgres).await;
    let b = spawn_node(&a).await;
    let policy = Policy::from_settings(&a.state.settings);
    let now = a.clock.now();
    let lock = a.state.store.try_purge_lock().await.unwrap().expect("free");
    assert!(b.state.store.try_purge_lock().await.unwrap().is_none());
    assert_eq!(
        run_once(&b.state.store, policy, now).await.unwrap(),
        Outcome::Skipped
    );
    lock.release().await.unwrap();
    assert!(matches!(
        run_once(&b.state.store, policy, now).await.unwrap(),
        Outcome::Ran(_)
    ));
    // A node that dies holding the lock (its connection closes) does not block the others.
    let lock = a.state.store.try_purge_lock().await.unwrap().expect("free");
    drop(lock);
    let mut freed = false;
    for _ in 0..50 {
        if let Some(lock) = b.state.store.try_purge_lock().await.unwrap() {
            lock.release().await.unwrap();
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(freed, "the lock outlived its connection");
}

/// `tessera purge` runs one purge and says what it deleted.
async fn the_purge_command_runs_one_purge(backend: Backend) {
    let app = spawn_app(backend).await;
    // The command reads the wall clock and keeps the skew margin: seed as of that long ago.
    let now = app.clock.now() - tessera::purge::CLOCK_SKEW_MARGIN;
    seed(&app, now).await;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_clear()
        .current_dir(dir.path())
        .env("DATABASE_URL", &app.db.url)
        .env("TESSERA_LOG_LEVEL", "warn")
        .args(["purge", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let purged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(purged["authorization_codes"], 2);
    assert_eq!(purged["refresh_families"], 2);
    let mut c = connect(&app).await;
    assert_eq!(keys(&mut c, "sessions", "sid").await, ["sid-live"]);
}

/// A flood of anonymous events (failed logins: anyone can send them) writes at most
/// `ANONYMOUS_PER_MINUTE` entries a minute one by one, then one folded entry that counts the
/// rest; signed-in actors are never folded.
async fn a_failed_login_flood_is_folded_into_a_counted_entry(backend: Backend) {
    use tessera::admin::audit::{ANONYMOUS, ANONYMOUS_PER_MINUTE, Context, Event, FOLDED, record};
    let app = spawn_app(backend).await;
    // The start of a minute, so that the whole flood falls into it.
    let minute = app.clock.now() - app.clock.now().rem_euclid(60);
    let ctx = Context {
        now: minute + 5,
        ip: Some("203.0.113.9"),
        user_agent: Some("flood"),
        retention_secs: 3600,
    };
    let flood = ANONYMOUS_PER_MINUTE + 25;
    for i in 0..flood {
        let target = format!("guess{i}");
        let event = Event {
            actor: ANONYMOUS,
            action: "login.failed",
            target: Some(&target),
            detail: None,
        };
        record(&app.state.store, &ctx, event).await.unwrap();
    }
    for _ in 0..3 {
        let event = Event {
            actor: "user:kim",
            action: "login.failed",
            target: None,
            detail: None,
        };
        record(&app.state.store, &ctx, event).await.unwrap();
    }
    let mut c = connect(&app).await;
    let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "select actor, detail, count from audit_log where action = 'login.failed' order by id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let anonymous: Vec<_> = rows.iter().filter(|r| r.0 == ANONYMOUS).collect();
    assert_eq!(anonymous.len() as i64, ANONYMOUS_PER_MINUTE + 1);
    let folded = anonymous.last().unwrap();
    assert_eq!(folded.1.as_deref(), Some(FOLDED));
    assert_eq!(folded.2, 25);
    assert_eq!(anonymous.iter().map(|r| r.2).sum::<i64>(), flood);
    assert_eq!(rows.iter().filter(|r| r.0 == "user:kim").count(), 3);

    // The next minute starts again one by one.
    let next = Context {
        now: minute + 65,
        ..ctx
    };
    let event = Event {
        actor: ANONYMOUS,
        action: "login.failed",
        target: Some("again"),
        detail: None,
    };
    record(&app.state.store, &next, event).await.unwrap();
    let last: (Option<String>, i64) = sqlx::query_as(
        "select target, count from audit_log where id = (select max(id) from audit_log)",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(last, (Some("again".to_string()), 1));
}

dual!(
    a_failed_login_flood_is_folded_into_a_counted_entry,
    the_purge_deletes_dead_rows_and_keeps_live_ones,
    a_backlog_larger_than_a_batch_is_purged_in_batches,
    the_purge_command_runs_one_purge,
);
