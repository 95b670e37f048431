//! The in-memory copy of the revocation list: a few hash maps behind a read-write lock, so that
//! checking a token is a handful of look-ups and never waits for the database. Nothing awaits
//! while holding the lock.
//!
//! Only what the checks need is kept, each target once: its name (a UUID as 16 bytes) and
//! until when it matters (and for users and clients, the latest `before`). The reason and the time of revocation
//! stay in the store. A node holds every live entry, so this is its memory per revocation
//! (issue 16: ≤ 150 bytes; a full `Entry` in a map plus a copy of its target in a set took
//! ~380).

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use super::{Entry, Target};
use crate::clock::UnixTime;
use crate::tokens::claims::{AccessClaims, Origin};

/// Every live entry of the list, by id and by what it revokes.
#[derive(Debug, Default)]
pub struct RevocationList {
    index: RwLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    /// id → `expires_at` of every live entry: what `contains`, `len` and the purge need.
    expiry: BTreeMap<i64, UnixTime>,
    /// jti, sid, family → the latest `expires_at` of the entries naming it.
    jti: Targets<UnixTime>,
    sid: Targets<UnixTime>,
    family: Targets<UnixTime>,
    /// sub → the latest `before` (tokens of the user issued at or before it are revoked).
    user: Targets<Before>,
    /// client_id → the latest `before`.
    client: Targets<Before>,
    /// kid of a revoked key → the latest `expires_at`.
    kid: Targets<UnixTime>,
    /// API identifier (`aud`) → the latest `before`.
    api: Targets<Before>,
    /// `"CLIENT_ID API"` → the latest `before`.
    client_api: Targets<Before>,
    /// The highest id read from the store, purged or not: where the next poll starts.
    cursor: i64,
}

/// The latest `before` of the entries naming one user or client, kept until the last of them
/// expires. An entry's `expires_at` covers every token it can match, so a later `before`
/// kept a little past an earlier entry's expiry revokes nothing that entry did not.
#[derive(Debug, Clone, Copy)]
struct Before {
    before: UnixTime,
    expires_at: UnixTime,
}

impl RevocationList {
    /// An empty list; `super::load` fills one from the store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an entry revokes this token: its jti, its session, its refresh-token family,
    /// its user or client as of the time it was issued, the key that signed it, or its API
    /// (removed, or taken from its client) as of the time it was issued; for an exchanged
    /// token, also any token it was made from (`xo`): that token's jti, client or API (as of
    /// this token's issue), key or family.
    pub fn is_revoked(&self, claims: &AccessClaims) -> bool {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        index.jti.get(&claims.jti).is_some()
            || index.revokes_audience(&claims.client_id, claims.aud.iter(), claims.iat)
            || claims
                .xo
                .iter()
                .any(|o| index.revokes_origin(o, claims.iat))
            || claims
                .kid
                .as_deref()
                .is_some_and(|kid| index.kid.get(kid).is_some())
            || index.revokes(&GrantOrigin {
                sub: &claims.sub,
                client_id: &claims.client_id,
                sid: claims.sid.as_deref(),
                family: claims.fam.as_deref(),
                issued_at: claims.iat,
            })
    }

    /// Whether an entry revokes a token an exchanged token (or family) was made from: its
    /// jti, key, family, its client or one of its APIs (removed, or taken from its client) as
    /// of `issued_at`, when what was made from it was issued (the origin is older).
    pub fn revokes_origin(&self, origin: &Origin, issued_at: UnixTime) -> bool {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .revokes_origin(origin, issued_at)
    }

    /// Whether an entry revokes what a grant would issue from: its session, its family, or its
    /// user or client as of when the grant began. Grants check this as well as the store, so
    /// that an entry written by another node (or by a racing logout) is never ignored.
    pub fn revokes_grant(&self, origin: &GrantOrigin<'_>) -> bool {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .revokes(origin)
    }

    /// Adds entries this node made itself (or learned of out of band). Already known ids are
    /// skipped, so applying the same rows twice is harmless; entries already expired at `now`
    /// are dropped. The cursor does not move: a row another node committed just before this
    /// one has a lower id and has not been read yet, and the next poll must still bring it.
    pub fn apply(&self, entries: impl IntoIterator<Item = Entry>, now: UnixTime) {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        for entry in entries {
            index.insert(entry, now);
        }
    }

    /// Adds entries read from the store by cursor (or at start) and moves the cursor past
    /// them: ids commit in order (`Store::insert_revocation`), so every lower id has been read.
    pub fn apply_read(&self, entries: impl IntoIterator<Item = Entry>, now: UnixTime) {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        for entry in entries {
            index.cursor = index.cursor.max(entry.id);
            index.insert(entry, now);
        }
    }

    /// Drops the entries whose `expires_at` has passed; returns how many.
    pub fn purge(&self, now: UnixTime) -> usize {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let before = index.expiry.len();
        index.expiry.retain(|_, &mut expires_at| expires_at > now);
        let removed = before - index.expiry.len();
        if removed > 0 {
            index.jti.retain(|e| *e > now);
            index.sid.retain(|e| *e > now);
            index.family.retain(|e| *e > now);
            index.user.retain(|b| b.expires_at > now);
            index.client.retain(|b| b.expires_at > now);
            index.kid.retain(|e| *e > now);
            index.api.retain(|b| b.expires_at > now);
            index.client_api.retain(|b| b.expires_at > now);
        }
        removed
    }

    /// Whether an entry revokes the key `kid` (every token it signed): a node must never sign
    /// with it, even before its key rescan has dropped it from the ring.
    pub fn revokes_kid(&self, kid: &str) -> bool {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .kid
            .get(kid)
            .is_some()
    }

    /// The highest id this node has read from the store.
    pub fn cursor(&self) -> i64 {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .cursor
    }

    /// Whether the entry with this id has been applied (and not purged).
    pub fn contains(&self, id: i64) -> bool {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .expiry
            .contains_key(&id)
    }

    /// The ids of the entries held, oldest first (for tests and diagnostics).
    pub fn ids(&self) -> Vec<i64> {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .expiry
            .keys()
            .copied()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .expiry
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a token or a grant comes from, as the list's entries name it.
#[derive(Debug, Clone, Copy)]
pub struct GrantOrigin<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub sid: Option<&'a str>,
    pub family: Option<&'a str>,
    /// When the token was issued, or the grant (code, family) began.
    pub issued_at: UnixTime,
}

impl Index {
    /// An `api` or `client_api` entry naming one of the audiences of a token of `client_id`
    /// issued at `issued_at`, with that in its `before`. Nothing is built while no such entry
    /// exists (the usual case).
    fn revokes_audience<'a>(
        &self,
        client_id: &str,
        mut audiences: impl Iterator<Item = &'a str>,
        issued_at: UnixTime,
    ) -> bool {
        if self.api.is_empty() && self.client_api.is_empty() {
            return false;
        }
        let covers = |b: &Before| issued_at <= b.before;
        audiences.any(|aud| {
            self.api.get(aud).is_some_and(covers)
                || (!self.client_api.is_empty()
                    && self
                        .client_api
                        .get(&super::client_api_key(client_id, aud))
                        .is_some_and(covers))
        })
    }

    fn revokes_origin(&self, o: &Origin, issued_at: UnixTime) -> bool {
        self.jti.get(&o.j).is_some()
            || o.k.as_deref().is_some_and(|k| self.kid.get(k).is_some())
            || o.f.as_deref().is_some_and(|f| self.family.get(f).is_some())
            || self.client.get(&o.c).is_some_and(|b| issued_at <= b.before)
            || self.revokes_audience(&o.c, o.a.iter().map(String::as_str), issued_at)
    }

    fn revokes(&self, o: &GrantOrigin<'_>) -> bool {
        o.sid.is_some_and(|s| self.sid.get(s).is_some())
            || o.family.is_some_and(|f| self.family.get(f).is_some())
            || self
                .user
                .get(o.sub)
                .is_some_and(|b| o.issued_at <= b.before)
            || self
                .client
                .get(o.client_id)
                .is_some_and(|b| o.issued_at <= b.before)
    }

    fn insert(&mut self, entry: Entry, now: UnixTime) {
        if entry.expires_at <= now || self.expiry.contains_key(&entry.id) {
            return;
        }
        let until = entry.expires_at;
        self.expiry.insert(entry.id, until);
        match entry.target {
            Target::Jti(jti) => latest_expiry(&mut self.jti, jti, until),
            Target::Sid(sid) => latest_expiry(&mut self.sid, sid, until),
            Target::Family(family) => latest_expiry(&mut self.family, family, until),
            Target::User { sub, before } => latest_before(&mut self.user, sub, before, until),
            Target::Client { client_id, before } => {
                latest_before(&mut self.client, client_id, before, until)
            }
            Target::Kid(kid) => latest_expiry(&mut self.kid, kid, until),
            Target::Api { api, before } => latest_before(&mut self.api, api, before, until),
            Target::ClientApi { key, before } => {
                latest_before(&mut self.client_api, key, before, until)
            }
        }
    }
}

fn latest_expiry(map: &mut Targets<UnixTime>, key: String, expires_at: UnixTime) {
    map.merge(key, expires_at, |e| *e = (*e).max(expires_at));
}

fn latest_before(map: &mut Targets<Before>, key: String, before: UnixTime, expires_at: UnixTime) {
    map.merge(key, Before { before, expires_at }, |b| {
        b.before = b.before.max(before);
        b.expires_at = b.expires_at.max(expires_at);
    });
}

/// Targets by name. Tessera's own ids (jti, sid, family, user) are UUIDs: in their canonical
/// lowercase hyphenated form they are kept as their 16 bytes rather than a 36-byte string on
/// the heap (less than half the memory). Only the canonical form is converted, so two
/// different names never share a key; any other name (a client id) is kept as it is.
#[derive(Debug)]
struct Targets<V> {
    uuid: HashMap<[u8; 16], V>,
    text: HashMap<Box<str>, V>,
}

impl<V> Default for Targets<V> {
    fn default() -> Self {
        Self {
            uuid: HashMap::new(),
            text: HashMap::new(),
        }
    }
}

impl<V> Targets<V> {
    fn get(&self, name: &str) -> Option<&V> {
        match canonical_uuid(name) {
            Some(bytes) => self.uuid.get(&bytes),
            None => self.text.get(name),
        }
    }

    /// Inserts `value`, or lets `update` merge it into the value already there.
    fn merge(&mut self, name: String, value: V, update: impl FnOnce(&mut V)) {
        match canonical_uuid(&name) {
            Some(bytes) => self.uuid.entry(bytes).and_modify(update).or_insert(value),
            None => self
                .text
                .entry(name.into_boxed_str())
                .and_modify(update)
                .or_insert(value),
        };
    }

    fn is_empty(&self) -> bool {
        self.uuid.is_empty() && self.text.is_empty()
    }

    fn retain(&mut self, mut keep: impl FnMut(&mut V) -> bool) {
        self.uuid.retain(|_, v| keep(v));
        self.text.retain(|_, v| keep(v));
    }
}

fn canonical_uuid(name: &str) -> Option<[u8; 16]> {
    if name.len() != uuid::fmt::Hyphenated::LENGTH {
        return None;
    }
    let id = uuid::Uuid::try_parse(name).ok()?;
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    (id.hyphenated().encode_lower(&mut buf) == name).then(|| id.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://id.example".into(),
            sub: "user-1".into(),
            aud: "api".into(),
            client_id: "app".into(),
            scope: String::new(),
            exp: 1300,
            iat: 1000,
            jti: "jti-1".into(),
            sid: Some("sid-1".into()),
            auth_time: None,
            roles: None,
            fam: Some("fam-1".into()),
            act: None,
            may_act: None,
            xo: Vec::new(),
            cnf: None,
            kid: Some("kid-1".into()),
        }
    }

    fn entry(id: i64, target: Target, expires_at: UnixTime) -> Entry {
        Entry {
            id,
            target,
            revoked_at: 1000,
            expires_at,
            reason: "test".into(),
        }
    }

    #[test]
    fn each_kind_of_entry_revokes_the_tokens_it_names() {
        let c = claims();
        let cases = [
            Target::Jti("jti-1".into()),
            Target::Sid("sid-1".into()),
            Target::Family("fam-1".into()),
            Target::User {
                sub: "user-1".into(),
                before: 1000,
            },
            Target::Client {
                client_id: "app".into(),
                before: 1000,
            },
            Target::Kid("kid-1".into()),
            Target::Api {
                api: "api".into(),
                before: 1000,
            },
            Target::ClientApi {
                key: "app api".into(),
                before: 1000,
            },
        ];
        for target in cases {
            let list = RevocationList::new();
            assert!(!list.is_revoked(&c));
            list.apply([entry(1, target.clone(), 5000)], 1000);
            assert!(list.is_revoked(&c), "{target:?}");
        }
    }

    #[test]
    fn other_tokens_and_tokens_issued_after_before_are_not_revoked() {
        let list = RevocationList::new();
        list.apply(
            [
                entry(1, Target::Jti("other".into()), 5000),
                entry(2, Target::Sid("other".into()), 5000),
                entry(3, Target::Family("other".into()), 5000),
                entry(7, Target::Kid("other".into()), 5000),
                entry(
                    4,
                    Target::User {
                        sub: "user-1".into(),
                        before: 999,
                    },
                    5000,
                ),
                entry(
                    5,
                    Target::Client {
                        client_id: "app".into(),
                        before: 999,
                    },
                    5000,
                ),
            ],
            1000,
        );
        assert!(!list.is_revoked(&claims()));
        // A later "before" for the same user wins over the earlier one.
        list.apply(
            [entry(
                6,
                Target::User {
                    sub: "user-1".into(),
                    before: 1000,
                },
                5000,
            )],
            1000,
        );
        assert!(list.is_revoked(&claims()));
    }

    #[test]
    fn purge_drops_only_expired_entries_and_their_effect() {
        let list = RevocationList::new();
        list.apply_read(
            [
                entry(1, Target::Jti("jti-1".into()), 2000),
                entry(2, Target::Sid("sid-2".into()), 3000),
            ],
            1000,
        );
        assert_eq!(list.purge(1999), 0);
        assert_eq!(list.purge(2000), 1);
        assert!(!list.is_revoked(&claims()));
        assert_eq!(list.ids(), [2]);
        assert!(list.contains(2));
        // The session entry still revokes until its own expiry, then nothing is left.
        let in_sid_2 = AccessClaims {
            sid: Some("sid-2".into()),
            jti: "other".into(),
            ..claims()
        };
        assert!(list.is_revoked(&in_sid_2));
        assert_eq!(list.purge(3000), 1);
        assert!(!list.is_revoked(&in_sid_2));
        assert!(list.is_empty());
        assert_eq!(list.cursor(), 2);
    }

    #[test]
    fn applying_twice_or_applying_expired_rows_only_moves_the_cursor() {
        let list = RevocationList::new();
        list.apply_read([entry(7, Target::Jti("a".into()), 900)], 1000);
        assert!(list.is_empty());
        assert_eq!(list.cursor(), 7);
        list.apply_read([entry(8, Target::Jti("b".into()), 5000)], 1000);
        list.apply_read([entry(8, Target::Jti("b".into()), 5000)], 1000);
        assert_eq!(list.len(), 1);
        // A lower id is still applied; the cursor never goes back.
        list.apply_read([entry(5, Target::Jti("c".into()), 5000)], 1000);
        assert_eq!(list.len(), 2);
        assert_eq!(list.cursor(), 8);
    }

    #[test]
    fn only_a_canonical_uuid_is_kept_as_bytes_so_names_never_collide() {
        let lower = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let list = RevocationList::new();
        list.apply([entry(1, Target::Sid(lower.into()), 5000)], 1000);
        let with_sid = |sid: &str| AccessClaims {
            sid: Some(sid.into()),
            ..claims()
        };
        assert!(list.is_revoked(&with_sid(lower)));
        // The same UUID written otherwise is another name, and not revoked.
        for other in [
            lower.to_uppercase(),
            lower.replace('-', ""),
            format!("{{{lower}}}"),
            format!("urn:uuid:{lower}"),
        ] {
            assert!(canonical_uuid(&other).is_none(), "{other}");
            assert!(!list.is_revoked(&with_sid(&other)), "{other}");
        }
        // A name that is not a UUID at all works as before.
        list.apply([entry(2, Target::Sid("session-7".into()), 5000)], 1000);
        assert!(list.is_revoked(&with_sid("session-7")));
        assert_eq!(list.purge(5000), 2);
        assert!(!list.is_revoked(&with_sid(lower)));
        assert!(!list.is_revoked(&with_sid("session-7")));
    }

    #[test]
    fn this_nodes_own_entries_do_not_move_the_cursor() {
        let list = RevocationList::new();
        list.apply_read([entry(3, Target::Jti("a".into()), 5000)], 1000);
        // Another node may have committed id 4 just before this node's 5: the next poll
        // (id > 3) must still read it.
        list.apply([entry(5, Target::Jti("b".into()), 5000)], 1000);
        assert!(list.contains(5));
        assert_eq!(list.cursor(), 3);
    }
}
