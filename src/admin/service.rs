//! `Admin`: what every admin operation works with (the store, the revocation list, the
//! back-channel, the hasher, the clock and the policy), and `Actor`: who asks, from where, and
//! how recently they proved who they are. Each operation checks its rules, changes the store
//! and records its audit entry with the actor; the console, the API and the CLI only build
//! the two and call it.

use serde_json::Value;

use super::AdminError;
use super::audit::{self, Context, Event};
use crate::accounts::User;
use crate::accounts::login::Limits;
use crate::accounts::password::PasswordHasherPool;
use crate::clock::{Clock, UnixTime};
use crate::config::Settings;
use crate::revocation::RevocationList;
use crate::sessions::Backchannel;
use crate::store::Store;

/// The service: borrowed from the application state (HTTP) or built by a CLI command.
pub struct Admin<'a> {
    pub store: &'a Store,
    pub revocations: &'a RevocationList,
    pub backchannel: &'a Backchannel,
    pub hasher: &'a PasswordHasherPool,
    pub limits: &'a Limits,
    pub clock: &'a Clock,
    pub policy: Policy,
    /// The issuer URL (`Settings::issuer`): no API may be named by it or under it.
    pub issuer: String,
}

/// The settings the operations apply.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long a sign-in counts as recent for sensitive actions.
    pub reauth_window_secs: i64,
    /// How long audit entries are kept.
    pub audit_retention_secs: i64,
    /// A session unused for longer is over even if its row remains.
    pub session_idle_secs: i64,
    /// Administrators must pass TOTP.
    pub admin_require_totp: bool,
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Policy {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            reauth_window_secs: secs(settings.admin_reauth_window),
            audit_retention_secs: secs(settings.audit_retention),
            session_idle_secs: secs(settings.session_idle_ttl),
            admin_require_totp: settings.admin_require_totp,
        }
    }
}

/// How recently an actor proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// A client's token: no one signed in to mint it, so it never counts as recent (a leaked
    /// client secret must not be worth more than an admin's password, issue 11).
    Never,
    /// A user's password (or second factor) at this time.
    SignedInAt(UnixTime),
    /// An operator at the host with the database's credentials (the CLI).
    Operator,
}

/// Who asks for an operation and from where: what its audit entry names.
#[derive(Debug, Clone)]
pub struct Actor {
    /// As the audit log names it: `user:NAME`, `client:ID` or `cli:USER`.
    pub name: String,
    /// The acting user's id (none for a client or the CLI).
    pub user_id: Option<String>,
    pub proof: Proof,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    /// A signed-in user who last proved who they are at `signed_in_at`.
    pub fn user(user: &User, signed_in_at: Option<UnixTime>) -> Self {
        Self {
            name: audit::user_actor(&user.username),
            user_id: Some(user.id.clone()),
            proof: signed_in_at.map_or(Proof::Never, Proof::SignedInAt),
            ip: None,
            user_agent: None,
        }
    }

    /// A client calling with its own (client_credentials) token.
    pub fn client(client_id: &str) -> Self {
        Self {
            name: audit::client_actor(client_id),
            user_id: None,
            proof: Proof::Never,
            ip: None,
            user_agent: None,
        }
    }

    /// The `tessera` CLI (no IP; the user agent names the CLI).
    pub fn cli() -> Self {
        Self {
            name: audit::cli_actor(),
            user_id: None,
            proof: Proof::Operator,
            ip: None,
            user_agent: Some(concat!("tessera-cli/", env!("CARGO_PKG_VERSION")).to_string()),
        }
    }

    /// Where the request came from. The user agent is bounded: a request's headers may be
    /// 100+ KiB, and failed sign-ins are audited.
    pub fn from(mut self, ip: Option<String>, user_agent: Option<&str>) -> Self {
        self.ip = ip;
        self.user_agent = user_agent.map(|ua| ua.chars().take(256).collect());
        self
    }

    /// Whether the actor is this user.
    pub fn is(&self, user_id: &str) -> bool {
        self.user_id.as_deref() == Some(user_id)
    }
}

impl Admin<'_> {
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Sensitive actions (granting admin, setting a password, deleting a client, rotating its
    /// secret, registering or editing a client into a powerful one) need a sign-in within the
    /// re-authentication window.
    pub fn require_recent(&self, by: &Actor) -> Result<(), AdminError> {
        match by.proof {
            Proof::Operator => Ok(()),
            Proof::SignedInAt(at) if self.now() - at <= self.policy.reauth_window_secs => Ok(()),
            Proof::SignedInAt(_) => Err(AdminError::NotRecent { by_client: false }),
            Proof::Never => Err(AdminError::NotRecent {
                by_client: by.user_id.is_none(),
            }),
        }
    }

    /// The audit context of an actor's request.
    pub fn audit_context<'b>(&self, by: &'b Actor) -> Context<'b> {
        Context {
            now: self.now(),
            ip: by.ip.as_deref(),
            user_agent: by.user_agent.as_deref(),
            retention_secs: self.policy.audit_retention_secs,
        }
    }

    /// Records the audit entry of an operation.
    pub async fn record(
        &self,
        by: &Actor,
        action: &str,
        target: &str,
        detail: Option<Value>,
    ) -> Result<(), AdminError> {
        let event = Event {
            actor: &by.name,
            action,
            target: Some(target),
            detail,
        };
        audit::record(self.store, &self.audit_context(by), event).await?;
        Ok(())
    }
}

/// A search or filter box's text: trimmed, without control characters, at most `max` chars.
pub fn clean_filter(raw: Option<&str>, max: usize) -> String {
    raw.unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}
