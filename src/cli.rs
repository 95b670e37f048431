//! The command line: `tessera [--config FILE] <serve|migrate|keys …>`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: an OAuth 2.0 / OpenID Connect identity provider",
    long_about = "Tessera: an OAuth 2.0 / OpenID Connect identity provider.\n\n\
        Settings come from defaults, then the TOML file given with --config, then TESSERA_* \
        environment variables (and DATABASE_URL). See the README for every setting."
)]
pub struct Cli {
    /// TOML configuration file (also TESSERA_CONFIG).
    #[arg(
        long,
        short,
        global = true,
        env = "TESSERA_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server: applies pending migrations, loads (or creates) the signing keys,
    /// then serves until SIGINT/SIGTERM, finishing in-flight requests.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the signing keys in TESSERA_KEYS_DIR.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys: kid, algorithm, file, and which one signs.
    List,
}
