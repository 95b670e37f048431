//! Writing the audit log. Entries name the actor, the action and its target; `detail` is JSON
//! (before/after where it fits) and never holds a secret: no password, no client secret, no code.

use serde_json::Value;

use super::api::{PageOf, Paging};
use super::{Actor, Admin, AdminError, Proof};
use crate::accounts::login::Outcome;
use crate::clock::UnixTime;
use crate::store::{AuditEntry, AuditFilter, NewAuditEntry, Store, StoreError};

/// Where a request came from and when; built by the HTTP layer.
pub struct Context<'a> {
    pub now: UnixTime,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// How long entries are kept; the background purge (`crate::purge`) deletes older ones.
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

/// The actor of a CLI command: `cli:` and the operating-system user who ran it.
pub fn cli_actor() -> String {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let who: String = who.chars().filter(|c| !c.is_control()).take(64).collect();
    format!("cli:{who}")
}

/// The actor of events no one signed in for (failed and throttled logins).
pub const ANONYMOUS: &str = "anonymous";

/// Anonymous entries of one action kept one by one per minute; past that they are folded into
/// one counted entry, so that a flood of failed logins (anyone can send them) cannot fill the
/// table: at most this many plus one rows per action and minute, however many requests.
pub const ANONYMOUS_PER_MINUTE: i64 = 60;

/// The `detail` of a folded entry (its `count` says how many events it stands for).
pub const FOLDED: &str =
    r#"{"folded":"more anonymous events this minute than the audit keeps one by one"}"#;

/// Appends an entry. Entries past the retention are deleted by the background purge
/// (`crate::purge`), in batches, rather than here on every write.
pub async fn record(store: &Store, ctx: &Context<'_>, event: Event<'_>) -> Result<(), StoreError> {
    if event.actor == ANONYMOUS && fold_anonymous(store, ctx, event.action).await? {
        return Ok(());
    }
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
    Ok(())
}

/// Past the minute's cap, counts the event in the minute's folded entry (creating it the
/// first time); true when the event was folded. Nodes racing at the cap may each add an entry
/// or create a folded one: a few rows more, never one per request.
async fn fold_anonymous(
    store: &Store,
    ctx: &Context<'_>,
    action: &str,
) -> Result<bool, StoreError> {
    let minute = ctx.now - ctx.now.rem_euclid(60);
    if store.count_audit_since(ANONYMOUS, action, minute).await? < ANONYMOUS_PER_MINUTE {
        return Ok(false);
    }
    if !store
        .bump_folded_audit(ANONYMOUS, action, minute, FOLDED)
        .await?
    {
        store
            .insert_audit(&NewAuditEntry {
                at: ctx.now,
                actor: ANONYMOUS,
                action,
                target: None,
                detail: Some(FOLDED),
                ip: None,
                user_agent: None,
            })
            .await?;
    }
    Ok(true)
}

impl Admin<'_> {
    /// Audits the outcome of a password sign-in (never the password; the name as typed, for
    /// a failure, since it may not be a user).
    pub async fn record_login(
        &self,
        ip: &str,
        user_agent: Option<&str>,
        username: &str,
        outcome: &Outcome,
    ) -> Result<(), StoreError> {
        let typed: String = username
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let (actor, action, target) = match outcome {
            Outcome::Success(user) => (
                user_actor(&user.username),
                "login.succeeded",
                user.id.clone(),
            ),
            Outcome::Failed => (ANONYMOUS.to_string(), "login.failed", typed),
            Outcome::Throttled { .. } => (ANONYMOUS.to_string(), "login.throttled", typed),
        };
        let from = Actor {
            name: actor,
            user_id: None,
            proof: Proof::Never,
            ip: None,
            user_agent: None,
        }
        .from(Some(ip.to_string()), user_agent);
        let event = Event {
            actor: &from.name,
            action,
            target: Some(&target),
            detail: None,
        };
        record(self.store, &self.audit_context(&from), event).await
    }

    /// The audit log, newest first, filtered.
    pub async fn audit_log(
        &self,
        filter: &AuditFilter<'_>,
        paging: &Paging,
    ) -> Result<PageOf<AuditEntry>, AdminError> {
        let entries = self
            .store
            .list_audit(filter, paging.limit(), paging.offset())
            .await?;
        Ok(paging.wrap(entries))
    }
}

/// A time typed in a filter, in UTC: `2026-11-27`, `2026-11-27 14:05`, `2026-11-27 14:05:09`
/// or RFC 3339. A date alone means its first second (`end_of_day` its last, for an upper
/// bound).
pub fn parse_time(text: &str, end_of_day: bool) -> Result<UnixTime, String> {
    let text = text.trim();
    let full = match text.len() {
        10 if end_of_day => format!("{text} 23:59:59"),
        10 => format!("{text} 00:00:00"),
        16 => format!("{text}:{}", if end_of_day { "59" } else { "00" }),
        _ => text.to_string(),
    };
    let at = humantime::parse_rfc3339_weak(&full).map_err(|_| {
        format!("'{text}' is not a time; write e.g. 2026-11-27 or 2026-11-27 14:05")
    })?;
    at.duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("'{text}' is before 1970"))
        .and_then(|d| i64::try_from(d.as_secs()).map_err(|_| format!("'{text}' is too far off")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_times_are_read_in_utc_with_whole_days_and_minutes() {
        assert_eq!(parse_time("2026-11-27", false), Ok(1_795_737_600));
        assert_eq!(parse_time("2026-11-27", true), Ok(1_795_737_600 + 86_399));
        assert_eq!(
            parse_time("2026-11-27 00:01", true),
            Ok(1_795_737_600 + 119)
        );
        assert_eq!(parse_time("2026-11-27T00:00:10Z", false), Ok(1_795_737_610));
        assert!(parse_time("yesterday", false).is_err());
    }
}
