//! Revocations made by the CLI, a separate process, reach a running node: through NOTIFY on
//! PostgreSQL, by polling the shared file on SQLite.

use std::process::Command;
use std::time::Duration;

use crate::dual;
use crate::helpers::{Backend, TestApp, TestClient, spawn_app};

fn tessera(app: &TestApp, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("dir");
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_clear()
        .current_dir(dir.path())
        .env("DATABASE_URL", &app.db.url)
        .env("TESSERA_LOG_LEVEL", "warn")
        .env("USER", "ops-alice")
        .args(args)
        .output()
        .expect("run tessera")
}

async fn becomes_inactive(app: &TestApp, rs: &TestClient, token: &str) -> bool {
    for _ in 0..40 {
        if app.introspect(rs, token).await["active"] == false {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// `client rotate-secret --revoke-tokens` and `client remove` revoke the client's tokens on a
/// running server within seconds.
async fn client_commands_revoke_the_clients_tokens_on_running_nodes(backend: Backend) {
    let app = spawn_app(backend).await;
    let rs = app.create_resource_server_client().await;
    let leaked = app.create_service_client("api").await;
    let token = app.access_token(&leaked).await;
    assert_eq!(app.introspect(&rs, &token).await["active"], true);

    let out = tessera(
        &app,
        &[
            "client",
            "rotate-secret",
            &leaked.id,
            "--revoke-tokens",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        becomes_inactive(&app, &rs, &token).await,
        "the leaked client's token is still active"
    );
    let fresh: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rotated = TestClient {
        id: leaked.id.clone(),
        secret: fresh["client_secret"].as_str().map(str::to_string),
    };
    // Revocation is by `iat <= issued_before` in whole seconds: a token minted in the same
    // second as the revocation is revoked too (the safe side). Step past that second.
    app.clock.advance(1);
    let new_token = app.access_token(&rotated).await;
    assert_eq!(
        app.introspect(&rs, &new_token).await["active"],
        true,
        "tokens issued after stay valid"
    );

    // The CLI reads the wall clock, which the step above put one second behind this app's:
    // let it catch up, so the removal's revocation covers the token minted after the rotation.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = tessera(&app, &["client", "remove", &leaked.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(becomes_inactive(&app, &rs, &new_token).await);

    // Both changes are in the audit log, by the operating-system user who ran the CLI.
    for action in ["client.secret_rotated", "client.deleted"] {
        let filter = tessera::store::AuditFilter {
            action,
            ..Default::default()
        };
        let entries = app.state.store.list_audit(&filter, 10, 0).await.unwrap();
        assert_eq!(entries.len(), 1, "{action}");
        assert_eq!(entries[0].actor, "cli:ops-alice");
        assert_eq!(entries[0].target.as_deref(), Some(leaked.id.as_str()));
        assert!(
            entries[0]
                .user_agent
                .as_deref()
                .is_some_and(|ua| ua.starts_with("tessera-cli/"))
        );
        let detail = entries[0].detail.as_deref().unwrap_or_default();
        assert!(!detail.contains(fresh["client_secret"].as_str().unwrap()));
    }
}

dual!(client_commands_revoke_the_clients_tokens_on_running_nodes);
