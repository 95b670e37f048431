//! The in-memory copy of the revocation list: a few hash sets behind a read-write lock, so that
//! checking a token is a handful of look-ups and never waits for the database. Nothing awaits
//! while holding the lock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{PoisonError, RwLock};

use super::{Entry, Target};
use crate::clock::UnixTime;
use crate::tokens::claims::AccessClaims;

/// Every live entry of the list, by id and by what it revokes.
#[derive(Debug, Default)]
pub struct RevocationList {
    index: RwLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    by_id: BTreeMap<i64, Entry>,
    jti: HashSet<String>,
    sid: HashSet<String>,
    family: HashSet<String>,
    /// sub → the latest `before`: tokens of the user issued at or before it are revoked.
    user: HashMap<String, UnixTime>,
    /// client_id → the latest `before`.
    client: HashMap<String, UnixTime>,
    /// The highest id read from the store, purged or not: where the next poll starts.
    cursor: i64,
}

impl RevocationList {
    /// An empty list; `super::load` fills one from the store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an entry revokes this token: its jti, its session, its refresh-token family,
    /// or its user or client as of the time it was issued.
    pub fn is_revoked(&self, claims: &AccessClaims) -> bool {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        index.jti.contains(&claims.jti)
            || index.revokes(&GrantOrigin {
                sub: &claims.sub,
                client_id: &claims.client_id,
                sid: claims.sid.as_deref(),
                family: claims.fam.as_deref(),
                issued_at: claims.iat,
            })
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
        let before = index.by_id.len();
        index.by_id.retain(|_, e| e.expires_at > now);
        let removed = before - index.by_id.len();
        if removed > 0 {
            index.rebuild();
        }
        removed
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
            .by_id
            .contains_key(&id)
    }

    /// The entries held, oldest first (for tests, the admin console and diagnostics).
    pub fn entries(&self) -> Vec<Entry> {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_id
            .values()
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_id
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
    fn revokes(&self, o: &GrantOrigin<'_>) -> bool {
        o.sid.is_some_and(|s| self.sid.contains(s))
            || o.family.is_some_and(|f| self.family.contains(f))
            || self
                .user
                .get(o.sub)
                .is_some_and(|&before| o.issued_at <= before)
            || self
                .client
                .get(o.client_id)
                .is_some_and(|&before| o.issued_at <= before)
    }

    fn insert(&mut self, entry: Entry, now: UnixTime) {
        if entry.expires_at > now && !self.by_id.contains_key(&entry.id) {
            self.add(&entry.target);
            self.by_id.insert(entry.id, entry);
        }
    }

    fn add(&mut self, target: &Target) {
        match target {
            Target::Jti(jti) => {
                self.jti.insert(jti.clone());
            }
            Target::Sid(sid) => {
                self.sid.insert(sid.clone());
            }
            Target::Family(family) => {
                self.family.insert(family.clone());
            }
            Target::User { sub, before } => latest(&mut self.user, sub, *before),
            Target::Client { client_id, before } => latest(&mut self.client, client_id, *before),
        }
    }

    /// Purging is rare (once a minute at most) and the list small: rebuilding the sets from
    /// the surviving entries is simpler than reference counts and cannot drift.
    fn rebuild(&mut self) {
        self.jti.clear();
        self.sid.clear();
        self.family.clear();
        self.user.clear();
        self.client.clear();
        let targets: Vec<Target> = self.by_id.values().map(|e| e.target.clone()).collect();
        for target in &targets {
            self.add(target);
        }
    }
}

fn latest(map: &mut HashMap<String, UnixTime>, key: &str, before: UnixTime) {
    map.entry(key.to_string())
        .and_modify(|b| *b = (*b).max(before))
        .or_insert(before);
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
        assert_eq!(list.entries().len(), 1);
        assert!(list.contains(2));
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
