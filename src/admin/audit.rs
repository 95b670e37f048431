//! Writing the audit log. Entries name the actor, the action and its target; `detail` is JSON
//! (before/after where it fits) and never holds a secret: no password, no client secret, no code.

use serde_json::Value;

use crate::clock::UnixTime;
use crate::store::{NewAuditEntry, Store, StoreError};

/// Where a request came from and when; built by the HTTP layer.
pub struct Context<'a> {
    pub now: UnixTime,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// Entries older than this many seconds are purged when a new one is written.
    pub retention_secs: i64,
}

pub struct Event<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: Option<Value>,
}

/// The actor name of a user.
pub fn user_actor(username: &str) -> String {
    format!("user:{username}")
}

/// The actor name of a client (API calls with a client_credentials token).
pub fn client_actor(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// Appends an entry and purges the expired ones (purge-on-write keeps the table bounded without
/// a background task; the delete uses the `at` index).
pub async fn record(store: &Store, ctx: &Context<'_>, event: Event<'_>) -> Result<(), StoreError> {
    let detail = event.detail.map(|d| d.to_string());
    store
        .insert_audit(&NewAuditEntry {
            at: ctx.now,
            actor: event.actor,
            action: event.action,
            target: event.target,
            detail: detail.as_deref(),
            ip: ctx.ip,
            user_agent: ctx.user_agent,
        })
        .await?;
    let purged = store.purge_audit(ctx.now - ctx.retention_secs).await?;
    if purged > 0 {
        tracing::info!(purged, "expired audit entries purged");
    }
    Ok(())
}
