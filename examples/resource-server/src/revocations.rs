//! Tessera's revocation list (`GET /revocations?since=CURSOR`, README "The revocation list for
//! resource servers"), kept in memory and pulled every `revocations_every`. A token is revoked
//! when an entry matches it: `jti` its jti, `sid` its sid, `family` its `fam`, `kid` the key
//! in its header; and, for a token whose `iat` is at or before the entry's `issued_before`,
//! `user` its sub, `client` its client_id, `api` one of its `aud` (an API removed at Tessera),
//! `client_api` `"{client_id} {aud}"` for one of its `aud` (an API taken from the client).
//! A token made by token exchange also names, in its private claim `xo`, each token it was
//! made from (`c` client_id, `j` jti, `k` kid, `f` family, `a` audiences): an entry naming any
//! of those (`jti`, `kid`, `family`; `client`, `api` one of its `a`, or `client_api`
//! `"{c} {a}"`, each as of this token's `iat`) revokes it too.
//! Entries go once their `expires_at` has passed.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tokio::sync::RwLock;

use crate::State;

#[derive(Debug, Deserialize)]
struct Page {
    cursor: i64,
    more: bool,
    revocations: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    kind: String,
    value: String,
    issued_before: Option<i64>,
    expires_at: i64,
}

/// What a token is checked against.
pub struct TokenFacts<'a> {
    pub kid: &'a str,
    pub jti: &'a str,
    pub sid: Option<&'a str>,
    pub fam: Option<&'a str>,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub aud: &'a [String],
    pub iat: i64,
    /// The tokens a token exchange made this one from (`xo`), empty for any other token.
    pub origins: &'a [Origin],
}

/// One token a token exchange made this token from (Tessera's private claim `xo`, short
/// names to keep tokens small).
#[derive(Debug, Clone, Deserialize)]
pub struct Origin {
    /// Its client_id.
    pub c: String,
    /// Its jti.
    pub j: String,
    /// The kid that signed it.
    pub k: Option<String>,
    /// Its refresh-token family, when not this token's own `fam`.
    pub f: Option<String>,
    /// Its audiences: removing one of those APIs, or taking it from its client, revokes this
    /// token too. Absent in tokens minted before Tessera kept it.
    #[serde(default)]
    pub a: Vec<String>,
}

#[derive(Default)]
struct Sets {
    cursor: i64,
    /// (kind, value) → expires_at, for jti, sid, family and kid.
    exact: HashMap<(String, String), i64>,
    /// (kind, value) → (issued_before, expires_at), for user, client, api and client_api.
    before: HashMap<(String, String), (i64, i64)>,
    last_pull: Option<Instant>,
}

#[derive(Default)]
pub struct Revocations {
    sets: RwLock<Sets>,
}

impl Revocations {
    pub async fn is_revoked(&self, t: &TokenFacts<'_>) -> bool {
        let s = self.sets.read().await;
        let now = unix_now();
        let exact = |kind: &str, value: Option<&str>| {
            value.is_some_and(|v| {
                s.exact
                    .get(&(kind.to_string(), v.to_string()))
                    .is_some_and(|&until| until >= now)
            })
        };
        let before = |kind: &str, value: &str| {
            s.before
                .get(&(kind.to_string(), value.to_string()))
                .is_some_and(|&(issued_before, until)| until >= now && t.iat <= issued_before)
        };
        // An API removed (`api`), or taken from the client (`client_api`), as of this token's
        // `iat`: for the token's own audiences and for those of each token it was made from.
        let for_api = |client: &str, aud: &[String]| {
            aud.iter()
                .any(|a| before("api", a) || before("client_api", &format!("{client} {a}")))
        };
        exact("jti", Some(t.jti))
            || exact("sid", t.sid)
            || exact("family", t.fam)
            || exact("kid", Some(t.kid))
            || before("user", t.sub)
            || before("client", t.client_id)
            || for_api(t.client_id, t.aud)
            || t.origins.iter().any(|o| {
                exact("jti", Some(o.j.as_str()))
                    || exact("kid", o.k.as_deref())
                    || exact("family", o.f.as_deref())
                    || before("client", &o.c)
                    || for_api(&o.c, &o.a)
            })
    }

    /// When the list was last pulled successfully.
    pub async fn last_pull(&self) -> Option<Instant> {
        self.sets.read().await.last_pull
    }

    pub async fn len(&self) -> usize {
        let s = self.sets.read().await;
        s.exact.len() + s.before.len()
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

/// Pulls every page since the cursor; returns the kids revoked in this pull.
pub async fn pull(state: &State) -> Result<Vec<String>, String> {
    let mut revoked_kids = Vec::new();
    loop {
        let since = state.revocations.sets.read().await.cursor;
        let page: Page = state
            .http
            .get(format!("{}/revocations", state.config.issuer))
            .query(&[("since", since)])
            .basic_auth(&state.config.client_id, Some(&state.config.client_secret))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let mut s = state.revocations.sets.write().await;
        for e in page.revocations {
            let key = (e.kind.clone(), e.value.clone());
            match (e.kind.as_str(), e.issued_before) {
                ("user" | "client" | "api" | "client_api", Some(issued_before)) => {
                    let slot = s.before.entry(key).or_insert((issued_before, e.expires_at));
                    slot.0 = slot.0.max(issued_before);
                    slot.1 = slot.1.max(e.expires_at);
                }
                ("jti" | "sid" | "family" | "kid", _) => {
                    if e.kind == "kid" {
                        revoked_kids.push(e.value.clone());
                    }
                    let slot = s.exact.entry(key).or_insert(e.expires_at);
                    *slot = (*slot).max(e.expires_at);
                }
                // A kind this API does not know yet: ignore it rather than stop following.
                _ => tracing::warn!(kind = %e.kind, "unknown revocation kind"),
            }
        }
        s.cursor = page.cursor.max(s.cursor);
        let now = unix_now();
        s.exact.retain(|_, until| *until >= now);
        s.before.retain(|_, (_, until)| *until >= now);
        s.last_pull = Some(Instant::now());
        if !page.more {
            break;
        }
    }
    for kid in &revoked_kids {
        state.jwks.forget(kid).await;
    }
    Ok(revoked_kids)
}

/// Pulls every `revocations_every` while the server lives.
pub async fn keep_pulling(state: Weak<State>) {
    let every = match state.upgrade() {
        Some(s) => s.config.revocations_every,
        None => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        if let Err(e) = pull(&state).await {
            tracing::warn!(error = %e, "pulling the revocation list failed");
        }
        drop::<Arc<State>>(state);
    }
}

/// How old the list may be before tokens are refused (Tessera unreachable for a while).
pub fn max_staleness(every: Duration) -> Duration {
    (every * 6).max(Duration::from_secs(30))
}

#[allow(
    clippy::disallowed_methods,
    reason = "Tessera's clippy.toml keeps its own code on its Clock; this API has no such clock"
)]
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
