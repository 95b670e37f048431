//! The command line: `tessera [--config FILE] <serve|migrate|purge|user …|client …|api …|keys …>`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Register and manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Register and manage APIs (resource servers): the audiences clients ask tokens for with
    /// `resource` (RFC 8707).
    #[command(subcommand)]
    Api(ApiCommand),
    /// Delete expired codes, sessions, refresh tokens, login counters, revocation entries and
    /// old audit entries once, now (the server also does it every purge_interval). Does
    /// nothing if another node is purging at the moment.
    Purge {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List, rotate and revoke the signing keys (files in TESSERA_KEYS_DIR, their life
    /// recorded in the database).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys: kid, algorithm, state (next, active, retiring, retired, revoked),
    /// created, published since, active since and planned retirement.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stage a new key for an algorithm: it is published at once on every node, and signs
    /// once it has been published for key_publish_ahead; the key it replaces then retires.
    /// Prints the new key file's path.
    #[command(alias = "generate")]
    Rotate {
        /// RS256 (RSA-2048), ES256 (P-256) or EdDSA (Ed25519).
        #[arg(long, value_name = "RS256|ES256|EdDSA", default_value = "RS256")]
        alg: String,
        /// Print JSON instead of the path.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a key at once (a leak): gone from JWKS on every node within seconds, every
    /// token it signed inactive; if it was active, its successor signs at once.
    Revoke {
        /// The key's kid (see `tessera keys list`).
        kid: String,
        #[arg(long)]
        json: bool,
    },
}

/// How to create the first administrator (`user add` below), as the server's log and the
/// console's first page tell it while there are no users.
pub const FIRST_ADMIN_COMMAND: &str = "tessera user add NAME --admin";

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

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Register an API: its identifier (the `resource` clients send, and the `aud` of its
    /// tokens) and the scopes it defines.
    Add(AddApi),
    /// List the registered APIs.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one API.
    Show {
        identifier: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove an API. Refused while a client uses or serves it (the error names them).
    Remove {
        identifier: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct AddApi {
    /// An absolute https URI without a fragment (http only on localhost), e.g.
    /// https://api.example.com.
    #[arg(long, value_name = "URI")]
    pub identifier: String,
    /// The scopes the API defines, space-separated.
    #[arg(long, value_name = "SCOPES")]
    pub scope: String,
    /// A name shown on the consent page and in the console.
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime of the API's access tokens (e.g. 5m; at most 1h). Default: the client's.
    #[arg(long, value_name = "DURATION")]
    pub access_token_ttl: Option<String>,
    /// What signs the API's access tokens: RS256, ES256 or EdDSA. Default: the client's.
    #[arg(long, value_name = "RS256|ES256|EdDSA")]
    pub signing_alg: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Values are taken as text and checked by `oauth::client::Registration`, so that every
/// mistake is reported as one line naming the option.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and, for a confidential client, its secret (shown
    /// only this once: Tessera keeps only a hash).
    Add(Box<AddClient>),
    /// List the registered clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a client; every token issued to it is revoked.
    Remove { client_id: String },
    /// Give a confidential client a new secret; the old one stops working at once.
    RotateSecret {
        client_id: String,
        #[arg(long)]
        json: bool,
        /// Also revoke every token issued to the client so far (a leaked secret).
        #[arg(long)]
        revoke_tokens: bool,
    },
    /// Set the APIs a client may get tokens for, serves and may exchange into; every list
    /// is replaced (an option left out empties its list).
    SetApis {
        client_id: String,
        /// An API the client may get tokens for (`resource`). Repeatable.
        #[arg(long = "api", value_name = "URI")]
        apis: Vec<String>,
        /// An API whose backend the client is (confidential clients only). Repeatable.
        #[arg(long = "serves-api", value_name = "URI")]
        serves_apis: Vec<String>,
        /// An API the client may exchange tokens into (RFC 8693 token exchange: the new
        /// token's audience). Must be registered with `tessera api add`. Repeatable.
        #[arg(long = "exchange-audience", value_name = "URI")]
        exchange_audiences: Vec<String>,
        /// An exchange may also return a refresh token (RFC 8693,
        /// requested_token_type=urn:ietf:params:oauth:token-type:refresh_token); it dies with
        /// the subject's grant. Confidential clients only.
        #[arg(long)]
        exchange_refresh: bool,
        /// The client may exchange a token of an API it serves without an actor token:
        /// impersonation (RFC 8693 §1.1), the new token carries no `act`. Confidential
        /// clients only.
        #[arg(long)]
        exchange_impersonate: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct AddClient {
    /// A name shown to users on the consent page.
    #[arg(long)]
    pub name: String,
    /// `confidential` (has a secret: server-side apps) or `public` (no secret: mobile,
    /// desktop and single-page apps; PKCE required).
    #[arg(long = "type", value_name = "confidential|public")]
    pub client_type: String,
    /// Where authorization responses may be sent; exact match. Repeatable.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Where the client may be sent after logout. Repeatable.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// authorization_code, refresh_token, client_credentials (confidential only) or
    /// urn:ietf:params:oauth:grant-type:token-exchange (Native SSO).
    /// Repeatable. Default: authorization_code and refresh_token.
    #[arg(long = "grant-type", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// The scopes the client may ask for, space-separated.
    /// Default: "openid profile email offline_access".
    #[arg(long, value_name = "SCOPES")]
    pub scope: Option<String>,
    /// A first-party client skips the consent page.
    #[arg(long)]
    pub first_party: bool,
    /// A resource server (an API) may introspect any client's tokens and pull the
    /// revocation list (GET /revocations). Confidential clients only.
    #[arg(long)]
    pub resource_server: bool,
    /// Access-token lifetime for this client (e.g. 300s, 10m; at most 1h).
    /// Default: the access_token_ttl setting.
    #[arg(long, value_name = "DURATION")]
    pub access_token_ttl: Option<String>,
    /// OpenID Connect Back-Channel Logout URI of the client.
    #[arg(long, value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// What signs the client's access and ID tokens: RS256 (default), ES256 or EdDSA.
    #[arg(long, value_name = "RS256|ES256|EdDSA")]
    pub signing_alg: Option<String>,
    /// Native SSO: apps of one group (one vendor's) share a device's sign-in; a member may
    /// be allowed the device_sso scope and the token-exchange grant.
    #[arg(long, value_name = "NAME")]
    pub native_sso_group: Option<String>,
    /// Every token request of this client must carry a DPoP proof (RFC 9449): its tokens are
    /// always bound to the app's key.
    #[arg(long)]
    pub require_dpop: bool,
    /// An API (registered with `tessera api add`) the client may get tokens for with
    /// `resource` (RFC 8707). Repeatable.
    #[arg(long = "api", value_name = "URI")]
    pub apis: Vec<String>,
    /// An API whose backend this client is: it may introspect tokens for that API.
    /// Confidential clients only. Repeatable.
    #[arg(long = "serves-api", value_name = "URI")]
    pub serves_apis: Vec<String>,
    /// An API the client may exchange tokens into (RFC 8693 token exchange: the new
    /// token's audience). Must be registered with `tessera api add`. Repeatable.
    #[arg(long = "exchange-audience", value_name = "URI")]
    pub exchange_audiences: Vec<String>,
    /// An exchange may also return a refresh token (RFC 8693,
    /// requested_token_type=urn:ietf:params:oauth:token-type:refresh_token); it dies with
    /// the subject's grant. Confidential clients only.
    #[arg(long)]
    pub exchange_refresh: bool,
    /// The client may exchange a token of an API it serves without an actor token:
    /// impersonation (RFC 8693 §1.1), the new token carries no `act`. Confidential
    /// clients only.
    #[arg(long)]
    pub exchange_impersonate: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_admin_hint_is_a_command_this_cli_accepts() {
        let words = FIRST_ADMIN_COMMAND.replace("NAME", "alice");
        let cli = Cli::try_parse_from(words.split(' ')).expect("the hint parses");
        let Command::User(UserCommand::Add { name, admin, .. }) = cli.command else {
            panic!("not `user add`: {:?}", cli.command);
        };
        assert_eq!(name, "alice");
        assert!(admin);
    }
}
