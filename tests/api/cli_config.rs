//! The binary as an operator runs it: bad settings and bad key files stop it with one clear
//! line and a non-zero exit code.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

pub fn tessera(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.env_clear()
        .current_dir(dir)
        .env("TESSERA_BIND", "127.0.0.1:0")
        .env("TESSERA_DATABASE_CONNECT_TIMEOUT", "1s")
        .env("TESSERA_LOG_LEVEL", "warn")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run tessera")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_explains_every_subcommand() {
    let dir = tempfile::tempdir().expect("dir");
    let out = tessera(dir.path(), &["--help"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "migrate", "client", "keys"] {
        assert!(text.contains(sub), "--help does not mention {sub}: {text}");
    }
}

#[test]
fn an_issuer_that_is_not_an_absolute_https_url_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    for bad in ["id.example.com", "http://id.example.com", "ftp://127.0.0.1"] {
        let out = tessera(dir.path(), &["serve"], &[("TESSERA_ISSUER", bad)]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = stderr(&out);
        assert!(err.contains("TESSERA_ISSUER"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn a_malformed_database_url_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let out = tessera(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "mysql://x@y/z")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("DATABASE_URL") && err.contains("postgres://"),
        "{err}"
    );
}

#[test]
fn unknown_keys_in_the_config_file_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("tessera.toml");
    std::fs::write(
        &file,
        "issuer = \"http://127.0.0.1:8080\"\nisuser = \"typo\"\n",
    )
    .expect("write");
    let out = tessera(dir.path(), &["--config", "tessera.toml", "migrate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("isuser"), "{err}");
}

#[test]
fn settings_come_from_the_file_then_the_environment() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("t.toml"), "issuer = \"ftp://from-file\"\n").expect("write");
    // The file's bad issuer is overridden by the environment, so this run succeeds.
    let out = tessera(
        dir.path(),
        &["--config", "t.toml", "migrate"],
        &[("TESSERA_ISSUER", "https://id.example.com")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The default database is an SQLite file in ./data, created on first use.
    assert!(dir.path().join("data/tessera.db").is_file());
}

#[test]
fn an_unreachable_database_fails_after_bounded_retries_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("dir");
    let out = tessera(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot connect to the database"), "{err}");
}

#[test]
fn a_key_file_readable_by_others_stops_the_server_and_names_the_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).expect("mkdir");
    let empty = tessera(dir.path(), &["keys", "list"], &[]);
    assert!(
        !empty.status.success(),
        "an empty keys dir has nothing to list"
    );
    tessera::keys::load_or_generate(&keys, 1).expect("generate");
    let key = std::fs::read_dir(&keys)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "pem"))
        .expect("a key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let out = tessera(dir.path(), &["serve"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("chmod 600")
            && err.contains(&*key.file_name().expect("name").to_string_lossy()),
        "{err}"
    );

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let ok = tessera(dir.path(), &["keys", "list"], &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("active"));
}

/// Issue 13: a next key signs once it has been published for `key_publish_ahead`, and by then
/// every relying party must have it: its JWKS copy lives `jwks_max_age`, counted from when the
/// last node published the key (up to one rescan late), on clocks that may differ by 30 s.
/// `key_publish_ahead = jwks_max_age` used to be accepted; anything shorter than that sum now
/// stops every command with one line naming the setting and its minimum.
#[test]
fn a_key_publish_ahead_shorter_than_jwks_max_age_a_rescan_and_a_margin_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let env = |ahead: &'static str| {
        [
            ("DATABASE_URL", db.clone()),
            ("TESSERA_JWKS_MAX_AGE", "10m".to_string()),
            ("TESSERA_KEY_RESCAN_INTERVAL", "5s".to_string()),
            ("TESSERA_KEY_PUBLISH_AHEAD", ahead.to_string()),
        ]
    };
    for ahead in ["10m", "634s"] {
        let env = env(ahead);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = tessera(dir.path(), &["migrate"], &env);
        assert_eq!(out.status.code(), Some(2), "{ahead} accepted");
        let err = stderr(&out);
        assert!(
            err.contains("TESSERA_KEY_PUBLISH_AHEAD") && err.contains("minimum, 10m 35s"),
            "{ahead}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let env = env("635s");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = tessera(dir.path(), &["migrate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
}
