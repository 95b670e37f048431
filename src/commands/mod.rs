//! What each subcommand does. `main.rs` only parses, loads settings and calls `run`.

mod api;
mod client;
mod keys;
mod service;
mod user;

use crate::cli::Command;
use crate::clock::Clock;
use crate::config::Settings;
use crate::startup::{self, Application, StartError};

/// A command's failure: one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("{0}")]
    Failed(String),
}

pub async fn run(command: Command, settings: Settings) -> Result<(), CommandError> {
    let clock = Clock::system();
    match command {
        Command::Serve => {
            let app = Application::build(settings, clock).await?;
            let handle = app.handle();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down: finishing in-flight requests");
                handle.stop(true).await;
            });
            app.run_until_stopped()
                .await
                .map_err(|e| StartError::Serve(e).into())
        }
        Command::Migrate => {
            let store = startup::open_store(&settings).await?;
            store.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Purge { json } => purge(&settings, &clock, json).await,
        Command::Keys(cmd) => keys::run(cmd, &settings, &clock).await,
        Command::User(cmd) => user::run(cmd, &settings, &clock).await,
        Command::Client(cmd) => client::run(cmd, &settings, &clock).await,
        Command::Api(cmd) => api::run(cmd, &settings, &clock).await,
    }
}

/// `tessera purge`: one purge now; stdout says what it deleted.
async fn purge(settings: &Settings, clock: &Clock, json: bool) -> Result<(), CommandError> {
    use crate::purge::{self, Outcome, Policy};
    let store = startup::open_store(settings).await?;
    let outcome = purge::run_once(&store, Policy::from_settings(settings), clock.now()).await;
    store.close().await;
    match outcome.map_err(|e| CommandError::Failed(format!("purge failed: {e}")))? {
        Outcome::Skipped => {
            return Err(CommandError::Failed(
                "another node is purging right now; nothing done".into(),
            ));
        }
        Outcome::Ran(purged) if json => {
            println!("{}", serde_json::json!(purged));
        }
        Outcome::Ran(purged) => {
            let value = serde_json::json!(purged);
            if let Some(tables) = value.as_object() {
                for (table, rows) in tables {
                    println!("{table}: {rows}");
                }
            }
        }
    }
    Ok(())
}

/// SIGINT or SIGTERM, whichever comes first.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let ctrl_c = tokio::signal::ctrl_c();
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
