use super::CommandError;
use crate::cli::KeysCommand;
use crate::clock::Clock;
use crate::config::Settings;
use crate::keys::{self, SigningAlg};

pub fn run(cmd: KeysCommand, settings: &Settings, clock: &Clock) -> Result<(), CommandError> {
    match cmd {
        KeysCommand::List => {
            let ring = keys::load_existing(&settings.keys_dir)
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            for key in crate::admin::keys::list(&ring) {
                println!(
                    "{}\t{}\t{}\t{}",
                    key.kid,
                    key.alg,
                    key.state,
                    key.created.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        KeysCommand::Generate { alg } => {
            let alg = SigningAlg::parse(&alg).map_err(|e| CommandError::Failed(e.to_string()))?;
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&settings.keys_dir)
                .map_err(|e| {
                    CommandError::Failed(format!("{}: {e}", settings.keys_dir.display()))
                })?;
            let path = keys::generate(&settings.keys_dir, alg, clock.now())
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            println!("{}", path.display());
            eprintln!("New {alg} key written; it signs for {alg} clients from the next start.");
            Ok(())
        }
    }
}
