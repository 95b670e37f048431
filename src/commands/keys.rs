use super::CommandError;
use crate::cli::KeysCommand;
use crate::config::Settings;
use crate::keys;

pub fn run(cmd: KeysCommand, settings: &Settings) -> Result<(), CommandError> {
    match cmd {
        KeysCommand::List => {
            let ring = keys::load_existing(&settings.keys_dir)
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            for key in ring.all() {
                let state = if key.kid() == ring.active().kid() {
                    "active"
                } else {
                    "published"
                };
                println!("{}\t{:?}\t{state}", key.kid(), key.alg());
            }
            Ok(())
        }
    }
}
