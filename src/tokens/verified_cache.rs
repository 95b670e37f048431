//! Access tokens whose signature this node has already checked, so that a resource server
//! introspecting the same token again and again (the common case: one token, many API calls
//! until it expires) pays one SHA-256 of the token instead of a signature verification (about
//! 25 µs for RS256, most of an introspection).
//!
//! What is cached is only the outcome that cannot change: "this issuer's key signed these
//! claims". Everything that can change is still judged on every request by the caller: expiry
//! against `now`, and the revocation list. Entries are keyed by the token's SHA-256 (the token
//! itself is not kept), dropped once the token has expired, and the map is bounded: a flood
//! of distinct tokens costs re-verification, never unbounded memory. Failed verifications are
//! not cached, so forged tokens cannot fill it.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use sha2::{Digest, Sha256};

use super::claims::AccessClaims;
use crate::clock::UnixTime;

/// Enough for every token a busy node sees within an access-token lifetime in most
/// deployments; at a few hundred bytes per entry, a few MB at most.
pub const DEFAULT_CAPACITY: usize = 10_000;

pub type TokenDigest = [u8; 32];

#[derive(Debug)]
pub struct VerifiedTokens {
    capacity: usize,
    entries: RwLock<HashMap<TokenDigest, Arc<AccessClaims>>>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl VerifiedTokens {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn digest(token: &str) -> TokenDigest {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The claims of a token verified earlier for `issuer`, if it has not expired at `now`.
    pub fn get(
        &self,
        digest: &TokenDigest,
        issuer: &str,
        now: UnixTime,
    ) -> Option<Arc<AccessClaims>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(digest)
            .filter(|claims| now < claims.exp && claims.iss == issuer)
            .cloned()
    }

    /// Remembers a token whose signature and issuer were just verified. When the map is full,
    /// expired entries go first; if that frees nothing, the whole map is dropped (cheaper than
    /// tracking recency on every hit, and the cost is only re-verification).
    pub fn insert(&self, digest: TokenDigest, claims: Arc<AccessClaims>, now: UnixTime) {
        if self.capacity == 0 || now >= claims.exp {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&digest) {
            entries.retain(|_, c| now < c.exp);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(digest, claims);
    }

    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(jti: &str, exp: UnixTime) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "https://id.example".into(),
            sub: "user-1".into(),
            aud: "api".into(),
            client_id: "app".into(),
            scope: String::new(),
            exp,
            iat: 1000,
            jti: jti.into(),
            sid: None,
            auth_time: None,
            roles: None,
            fam: None,
            act: None,
            may_act: None,
            xo: Vec::new(),
            cnf: None,
            kid: None,
        })
    }

    #[test]
    fn entries_answer_until_exp_and_only_for_their_issuer() {
        let cache = VerifiedTokens::new(10);
        let d = VerifiedTokens::digest("a.b.c");
        cache.insert(d, claims("j", 1300), 1000);
        assert!(cache.get(&d, "https://id.example", 1299).is_some());
        assert!(cache.get(&d, "https://id.example", 1300).is_none());
        assert!(cache.get(&d, "https://other.example", 1000).is_none());
        assert!(
            cache
                .get(&VerifiedTokens::digest("a.b.d"), "https://id.example", 1000)
                .is_none()
        );
        // An already expired token is not remembered at all.
        let e = VerifiedTokens::digest("x.y.z");
        cache.insert(e, claims("k", 1000), 1000);
        assert!(cache.get(&e, "https://id.example", 999).is_none());
    }

    #[test]
    fn the_map_never_grows_past_its_capacity() {
        let cache = VerifiedTokens::new(4);
        for i in 0..4 {
            cache.insert(
                VerifiedTokens::digest(&i.to_string()),
                claims("j", 1100 + i),
                1000,
            );
        }
        assert_eq!(cache.len(), 4);
        // Full, and three (exp 1100, 1101, 1102) have expired at 1102: they make room.
        cache.insert(VerifiedTokens::digest("4"), claims("j", 2000), 1102);
        assert_eq!(cache.len(), 2);
        for i in 5..20 {
            cache.insert(
                VerifiedTokens::digest(&i.to_string()),
                claims("j", 2000),
                1102,
            );
            assert!(cache.len() <= 4);
        }
        assert!(VerifiedTokens::new(0).is_empty());
    }
}
