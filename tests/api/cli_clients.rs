//! `tessera client …` as an operator runs it, against an SQLite file that a server then uses.

use serde_json::Value;

use crate::cli_config::{stderr, tessera};
use crate::helpers::{Backend, TestDb, spawn_on};

fn run(dir: &std::path::Path, db: &TestDb, args: &[&str]) -> std::process::Output {
    tessera(dir, args, &[("DATABASE_URL", &db.url)])
}

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

const ADD_SERVICE: &[&str] = &[
    "client",
    "add",
    "--name",
    "Billing service",
    "--type",
    "confidential",
    "--grant-type",
    "client_credentials",
    "--scope",
    "api.read",
];

async fn token_status(app: &crate::helpers::TestApp, id: &str, secret: &str) -> u16 {
    app.post_token_basic(id, secret, &[("grant_type", "client_credentials")])
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_add_prints_a_secret_that_works_at_the_token_endpoint_until_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await;

    // Text output: the id and the secret, one per line.
    let out = run(dir.path(), &db, ADD_SERVICE);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.lines().any(|l| l.starts_with("client_id: ")), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("client_secret: tcs_")),
        "{text}"
    );
    assert!(stderr(&out).contains("shown only now"));

    let mut args = ADD_SERVICE.to_vec();
    args.push("--json");
    let added = stdout_json(&run(dir.path(), &db, &args));
    let id = added["client_id"].as_str().unwrap().to_string();
    let secret = added["client_secret"].as_str().unwrap().to_string();
    assert_eq!(
        added["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert!(added.get("secret_hash").is_none());

    // `list --json` and `show --json` parse and name the client.
    let list = stdout_json(&run(dir.path(), &db, &["client", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == id)
    );
    let shown = stdout_json(&run(dir.path(), &db, &["client", "show", &id, "--json"]));
    assert_eq!(shown["name"], "Billing service");
    assert_eq!(shown["scope"], "api.read");

    // Rotate, then a server on the same database accepts only the new secret.
    let rotated = stdout_json(&run(
        dir.path(),
        &db,
        &["client", "rotate-secret", &id, "--json"],
    ));
    let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);

    let keys = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    let app = spawn_on(db, keys, |s| s.database_url = Some(url)).await;
    assert_eq!(token_status(&app, &id, &new_secret).await, 200);
    assert_eq!(token_status(&app, &id, &secret).await, 401);

    // Removed: the secret stops working and `show` fails.
    let (db, _keys) = app.stop().await;
    let out = run(dir.path(), &db, &["client", "remove", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(dir.path(), &db, &["client", "show", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no client"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_add_works_against_a_server_started_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let url = db.url.clone();
    let app = spawn_on(db, tempfile::tempdir().unwrap(), |_| {}).await;
    let mut args = ADD_SERVICE.to_vec();
    args.push("--json");
    let out = tessera(dir.path(), &args, &[("DATABASE_URL", &url)]);
    let added = stdout_json(&out);
    let status = token_status(
        &app,
        added["client_id"].as_str().unwrap(),
        added["client_secret"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_client_input_is_refused_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let base = ["client", "add", "--name", "x"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--type", "confidential", "--redirect-uri", "/cb"],
            "--redirect-uri",
        ),
        (
            &[
                "--type",
                "confidential",
                "--redirect-uri",
                "http://app.example.com/cb",
            ],
            "not loopback",
        ),
        (
            &[
                "--type",
                "confidential",
                "--redirect-uri",
                "https://a.example/cb#frag",
            ],
            "fragment",
        ),
        (
            &["--type", "public", "--grant-type", "client_credentials"],
            "confidential",
        ),
        (
            &["--type", "confidential", "--grant-type", "password"],
            "--grant-type",
        ),
        (
            &[
                "--type",
                "confidential",
                "--grant-type",
                "client_credentials",
                "--access-token-ttl",
                "2h",
            ],
            "1h",
        ),
        (
            &["--type", "secret", "--redirect-uri", "https://a.example/cb"],
            "--type",
        ),
        (
            &[
                "--type",
                "public",
                "--redirect-uri",
                "com.example.mail:/cb",
                "--scope",
                "openid device_sso",
            ],
            "--native-sso-group",
        ),
        (
            &[
                "--type",
                "public",
                "--redirect-uri",
                "com.example.mail:/cb",
                "--native-sso-group",
                "a b",
            ],
            "--native-sso-group",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = run(dir.path(), &db, &args);
        assert!(!out.status.success(), "{extra:?} was accepted");
        let err = stderr(&out);
        assert_eq!(
            err.trim().lines().count(),
            1,
            "one line for {extra:?}: {err}"
        );
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
    let list = stdout_json(&run(dir.path(), &db, &["client", "list", "--json"]));
    assert_eq!(list, serde_json::json!([]));
}

/// Native SSO: `--native-sso-group` and the token-exchange grant are registered and shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_add_registers_a_native_sso_group_member() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let exchange = "urn:ietf:params:oauth:grant-type:token-exchange";
    let added = stdout_json(&run(
        dir.path(),
        &db,
        &[
            "client",
            "add",
            "--name",
            "Mail",
            "--type",
            "public",
            "--redirect-uri",
            "com.example.mail:/cb",
            "--scope",
            "openid offline_access device_sso",
            "--native-sso-group",
            "acme",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            exchange,
            "--json",
        ],
    ));
    assert_eq!(added["native_sso_group"], "acme");
    assert_eq!(
        added["grant_types"],
        serde_json::json!(["authorization_code", exchange])
    );
}
