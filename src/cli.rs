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
    /// Manage users: add, change password, disable/enable, list.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the signing keys in TESSERA_KEYS_DIR.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys: kid, algorithm, file, and which one signs.
    List,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is asked twice on the terminal, or read from stdin with
    /// --password-stdin; it is never taken from the command line.
    Add {
        /// Username (case-insensitive, at most 64 characters, no spaces).
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Display name.
        #[arg(long = "name", value_name = "DISPLAY NAME")]
        display_name: Option<String>,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password; the user's sessions end.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they cannot sign in and their sessions end.
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// List users.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}
