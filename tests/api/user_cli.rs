//! `tessera user …` as an operator runs it, against the same database a server then uses.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::dual;
use crate::helpers::{Backend, TestDb, http_client, spawn_on};

fn tessera(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_clear()
        .current_dir(dir.path())
        .env("DATABASE_URL", &db.url)
        .env("TESSERA_LOG_LEVEL", "warn")
        .env("TESSERA_ARGON2_MEMORY_KIB", "1024")
        .env("TESSERA_ARGON2_ITERATIONS", "1")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tessera");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
    }
    child.wait_with_output().expect("wait")
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

async fn a_user_added_with_the_cli_can_sign_in(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = tessera(
        &db,
        &[
            "user",
            "add",
            "Bob",
            "--email",
            "bob@example.com",
            "--name",
            "Bob B",
            "--password-stdin",
        ],
        Some("a long enough passphrase\n"),
    );
    assert!(out.status.success(), "{}", err(&out));

    let dup = tessera(
        &db,
        &["user", "add", "bob", "--password-stdin"],
        Some("another passphrase\n"),
    );
    assert!(!dup.status.success());
    assert!(err(&dup).contains("already exists"), "{}", err(&dup));
    assert_eq!(err(&dup).lines().count(), 1);

    let weak = tessera(
        &db,
        &["user", "add", "eve", "--password-stdin"],
        Some("password1\n"),
    );
    assert!(!weak.status.success());
    assert!(err(&weak).contains("weak password"), "{}", err(&weak));
    let short = tessera(
        &db,
        &["user", "add", "eve", "--password-stdin"],
        Some("short\n"),
    );
    assert!(err(&short).contains("shorter than 8"), "{}", err(&short));

    let no_tty = tessera(&db, &["user", "add", "eve"], None);
    assert!(!no_tty.status.success());
    assert!(
        err(&no_tty).contains("--password-stdin"),
        "{}",
        err(&no_tty)
    );

    let list = tessera(&db, &["user", "list", "--json"], None);
    assert!(list.status.success(), "{}", err(&list));
    let users: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(users.as_array().map(Vec::len), Some(1));
    assert_eq!(users[0]["username"], "Bob");
    assert_eq!(users[0]["email"], "bob@example.com");
    assert!(
        users[0].get("password_hash").is_none(),
        "hashes are never shown"
    );

    let keys = tempfile::tempdir().expect("keys");
    let app = spawn_on(db, keys, |_| {}).await;
    let res = app
        .login_as(&http_client(), "bob", "a long enough passphrase")
        .await;
    assert_eq!(res.status(), 303);

    // Disabling through the CLI locks them out and ends the session.
    let client = http_client();
    app.login_as(&client, "bob", "a long enough passphrase")
        .await;
    let disable = tessera(&app.db, &["user", "disable", "bob"], None);
    assert!(disable.status.success(), "{}", err(&disable));
    assert_eq!(
        client
            .get(app.url("/account"))
            .send()
            .await
            .expect("a")
            .status(),
        303
    );
    let res = app
        .login_as(&http_client(), "bob", "a long enough passphrase")
        .await;
    assert_eq!(res.status(), 401);
    let enable = tessera(&app.db, &["user", "enable", "bob"], None);
    assert!(enable.status.success());
    let passwd = tessera(
        &app.db,
        &["user", "passwd", "bob", "--password-stdin"],
        Some("the next passphrase\n"),
    );
    assert!(passwd.status.success(), "{}", err(&passwd));
    let res = app
        .login_as(&http_client(), "bob", "the next passphrase")
        .await;
    assert_eq!(res.status(), 303);
}

dual!(a_user_added_with_the_cli_can_sign_in);
