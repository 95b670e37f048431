use std::process::ExitCode;

use clap::Parser;
use tessera::cli::{Cli, Command, KeysCommand};
use tessera::clock::Clock;
use tessera::config::Settings;
use tessera::startup::{self, Application, StartError};
use tessera::{admin, keys, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tessera: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log_level, settings.log_format);
    match run(cli.command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
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
            app.run_until_stopped().await.map_err(StartError::Serve)?;
            Ok(())
        }
        Command::Migrate => {
            let store = startup::open_store(&settings).await?;
            store.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Client(command) => Ok(admin::clients::run(command, &settings, &clock).await?),
        Command::Keys(KeysCommand::List) => {
            let ring = keys::load_existing(&settings.keys_dir)?;
            for key in ring.all() {
                let marker = if key.kid() == ring.active().kid() {
                    "active"
                } else {
                    "published"
                };
                println!("{}\t{:?}\t{marker}", key.kid(), key.alg());
            }
            Ok(())
        }
    }
}

/// SIGINT or SIGTERM, whichever comes first.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
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
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
