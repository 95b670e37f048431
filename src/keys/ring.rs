//! The key ring: every key that is published, the one that signs for each algorithm, and the
//! node's current ring (`LiveKeys`), swapped whole when the keys change.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use sha2::{Digest, Sha256};

use super::SigningAlg;
use super::jwks;
use super::lifecycle::{KeyRecord, KeyState};
use crate::clock::{Clock, UnixTime};
use crate::revocation::RevocationList;

/// The parsed private key, one variant per algorithm.
enum Pair {
    Rsa(RsaKeyPair),
    /// P-256 with the fixed-length (r ‖ s) signature encoding JWS needs (RFC 7518 §3.4).
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private signing key, parsed once. Its `Debug` never shows key material.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    pair: Pair,
    /// Public members only: what `/jwks` publishes for this key.
    public_jwk: serde_json::Value,
    /// The public key parsed once for verification: parsing an RSA key from its components
    /// on every verify (what `jsonwebtoken` does) costs several microseconds per token.
    verifier: ParsedPublicKey,
    /// When the key was made, from its file name (`tessera keys generate` and first start name
    /// files by creation time); `None` for a key file named by hand.
    created_at: Option<UnixTime>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("signing failed")]
pub struct SignError;

impl SigningKey {
    pub fn from_rsa(pair: RsaKeyPair) -> Result<Self, SignError> {
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let kid = jwks::thumbprint_rsa(&n, &e);
        let public_jwk = serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e,
        });
        // RFC 8017 RSAPublicKey DER, straight from a key aws-lc-rs accepted.
        let verifier = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public.as_ref())
            .map_err(|_| SignError)?;
        Ok(Self {
            kid,
            alg: SigningAlg::Rs256,
            pair: Pair::Rsa(pair),
            public_jwk,
            verifier,
            created_at: None,
        })
    }

    /// A P-256 key; `pair` must have been parsed with `ECDSA_P256_SHA256_FIXED_SIGNING`.
    pub fn from_es256(pair: EcdsaKeyPair) -> Result<Self, SignError> {
        // SEC 1 §2.3.3 uncompressed point: 0x04 ‖ X (32 bytes) ‖ Y (32 bytes).
        let point = pair.public_key().as_ref();
        let (x, y) = match point {
            [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err(SignError),
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let kid = jwks::thumbprint_ec("P-256", &x, &y);
        let verifier =
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).map_err(|_| SignError)?;
        let public_jwk = serde_json::json!({
            "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256", "x": x, "y": y,
        });
        Ok(Self {
            kid,
            alg: SigningAlg::Es256,
            pair: Pair::Es256(pair),
            public_jwk,
            verifier,
            created_at: None,
        })
    }

    /// An Ed25519 key (RFC 8037: `kty` OKP, `crv` Ed25519, `alg` EdDSA).
    pub fn from_ed25519(pair: Ed25519KeyPair) -> Result<Self, SignError> {
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let kid = jwks::thumbprint_okp("Ed25519", &x);
        let verifier =
            ParsedPublicKey::new(&ED25519, pair.public_key().as_ref()).map_err(|_| SignError)?;
        let public_jwk = serde_json::json!({
            "kty": "OKP", "use": "sig", "alg": "EdDSA", "kid": kid, "crv": "Ed25519", "x": x,
        });
        Ok(Self {
            kid,
            alg: SigningAlg::EdDsa,
            pair: Pair::Ed25519(pair),
            public_jwk,
            verifier,
            created_at: None,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn created_at(&self) -> Option<UnixTime> {
        self.created_at
    }

    pub fn with_created_at(mut self, at: Option<UnixTime>) -> Self {
        self.created_at = at;
        self
    }

    /// The algorithm as `jsonwebtoken` names it (the JWS `alg` header).
    pub fn alg(&self) -> Algorithm {
        self.alg.jwt()
    }

    pub fn signing_alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.public_jwk
    }

    /// Whether `signature` is this key's signature of `message` (the JWS signing input).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify_sig(message, signature).is_ok()
    }

    /// Signs the JWS signing input with the already-parsed key (no per-token key parsing).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| SignError)?;
                Ok(signature)
            }
            Pair::Es256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SignError),
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// A published key and its recorded life.
#[derive(Debug, Clone)]
pub struct RingEntry {
    pub key: Arc<SigningKey>,
    pub record: KeyRecord,
}

/// The keys as they stand at one instant (`built_at`): the published ones (next, active,
/// retiring), the one that signs for each algorithm, and the JWKS document rendered once.
/// Immutable; `LiveKeys` swaps in a new one when the records change or a recorded time passes.
#[derive(Debug, Clone)]
pub struct KeyRing {
    built_at: UnixTime,
    /// Published keys with their records, in publication order (what `at` rebuilds from).
    entries: Vec<RingEntry>,
    /// The key that signs by default (RS256), or another signer if no RS256 key can; `None`
    /// when nothing can sign (the node then signs nothing rather than keep a withdrawn key).
    active: Option<Arc<SigningKey>>,
    /// Algorithms whose active key this node cannot sign with (its file is missing here): it
    /// signs nothing for them, and `/readyz` fails, until the file arrives.
    unsigned: Vec<SigningAlg>,
    /// The active key of each algorithm: what signs for a client that chose it.
    by_alg: HashMap<SigningAlg, Arc<SigningKey>>,
    /// Every published key, by kid, with its state.
    by_kid: HashMap<String, (Arc<SigningKey>, KeyState)>,
    jwks_json: Arc<str>,
    /// A strong validator of `jwks_json` (RFC 9110 §8.8.3): changes exactly when it does.
    etag: Arc<str>,
    /// When the next recorded transition of a published key happens.
    next_change: Option<UnixTime>,
}

impl KeyRing {
    /// A ring of keys without records (a keys directory read on its own): the last key of
    /// each algorithm in `keys` signs for it, the others are retiring with no planned end.
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        let keys: Vec<Arc<SigningKey>> = keys.into_iter().map(Arc::new).collect();
        let entries = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let newest = !keys[i + 1..].iter().any(|k| k.alg == key.alg);
                RingEntry {
                    key: key.clone(),
                    record: KeyRecord {
                        kid: key.kid.clone(),
                        alg: key.alg,
                        file: String::new(),
                        created_at: key.created_at.unwrap_or_default(),
                        published_at: 0,
                        active_at: Some(0),
                        retiring_at: (!newest).then_some(0),
                        retire_after: None,
                        revoked_at: None,
                    },
                }
            })
            .collect();
        Self::build(entries, 0)
    }

    /// The ring at `now` of keys loaded with their records: the published ones are kept
    /// (in the order given), each algorithm's active key signs for it. `None` when nothing
    /// can sign.
    pub fn build(entries: Vec<RingEntry>, now: UnixTime) -> Option<Self> {
        Some(Self::build_unsigned(entries, now)).filter(|r| r.active.is_some())
    }

    /// As `build`, but a ring that cannot sign is kept: a running node must drop a revoked key
    /// even when no successor can sign here yet (fail closed, never keep the old ring).
    pub fn build_unsigned(entries: Vec<RingEntry>, now: UnixTime) -> Self {
        let entries: Vec<RingEntry> = entries
            .into_iter()
            .filter(|e| e.record.kid == e.key.kid && e.record.alg == e.key.alg)
            .filter(|e| e.record.state(now).is_published())
            .collect();
        let mut by_alg: HashMap<SigningAlg, Arc<SigningKey>> = HashMap::new();
        let mut signer_since: HashMap<SigningAlg, UnixTime> = HashMap::new();
        for e in &entries {
            if e.record.state(now) != KeyState::Active {
                continue;
            }
            // Records allow one active key per algorithm; should two overlap anyway, the one
            // that became active last signs (on every node alike).
            let since = e.record.active_at.unwrap_or_default();
            if signer_since.get(&e.key.alg).is_none_or(|s| since >= *s) {
                signer_since.insert(e.key.alg, since);
                by_alg.insert(e.key.alg, e.key.clone());
            }
        }
        let active = by_alg
            .get(&SigningAlg::default())
            .or_else(|| SigningAlg::ALL.iter().find_map(|alg| by_alg.get(alg)))
            .cloned();
        // RS256 keys first (a stable sort keeps publication order within an algorithm): the
        // order is the same on every node and after a restart, and naive clients that take
        // the first key get the default algorithm.
        let mut published: Vec<&RingEntry> = entries.iter().collect();
        published.sort_by_key(|e| e.key.alg);
        let jwks_json: Arc<str> = jwks::render(published.iter().map(|e| e.key.public_jwk())).into();
        let etag = format!(
            "\"{}\"",
            URL_SAFE_NO_PAD.encode(&Sha256::digest(jwks_json.as_bytes())[..16])
        )
        .into();
        let by_kid = entries
            .iter()
            .map(|e| (e.key.kid.clone(), (e.key.clone(), e.record.state(now))))
            .collect();
        let next_change = entries
            .iter()
            .filter_map(|e| e.record.next_change(now))
            .min();
        Self {
            built_at: now,
            entries,
            active,
            unsigned: Vec::new(),
            by_alg,
            by_kid,
            jwks_json,
            etag,
            next_change,
        }
    }

    /// Whether a key that signs here (for any algorithm) is one `revoked` names.
    pub fn signs_with_any(&self, revoked: impl Fn(&str) -> bool) -> bool {
        self.by_alg.values().any(|key| revoked(key.kid()))
    }

    /// The same ring at `now` without the keys `revoked` names: their algorithms sign nothing
    /// (`unsigned`) until a ring built from the records names their successors.
    pub fn without(&self, revoked: impl Fn(&str) -> bool, now: UnixTime) -> Self {
        let dropped: Vec<SigningAlg> = self
            .entries
            .iter()
            .filter(|e| revoked(e.key.kid()))
            .map(|e| e.key.alg)
            .collect();
        let entries = self
            .entries
            .iter()
            .filter(|e| !revoked(e.key.kid()))
            .cloned()
            .collect();
        Self::build_unsigned(entries, now)
            .with_unsigned(self.unsigned.iter().copied().chain(dropped))
    }

    /// Marks the algorithms whose active key is recorded but cannot sign here.
    pub fn with_unsigned(mut self, algs: impl IntoIterator<Item = SigningAlg>) -> Self {
        for alg in algs {
            if !self.by_alg.contains_key(&alg) && !self.unsigned.contains(&alg) {
                self.unsigned.push(alg);
            }
        }
        self.unsigned.sort();
        self
    }

    /// The same keys at a later instant: a recorded transition has passed. An algorithm that
    /// signed before and cannot now (its successor's file is missing here) signs nothing.
    pub fn at(&self, now: UnixTime) -> Self {
        let lost: Vec<SigningAlg> = self.by_alg.keys().copied().collect();
        Self::build_unsigned(self.entries.clone(), now)
            .with_unsigned(self.unsigned.iter().copied().chain(lost))
    }

    /// The key that signs by default (RS256); `None` when nothing can sign.
    pub fn active(&self) -> Option<&SigningKey> {
        self.active.as_deref()
    }

    /// Whether every algorithm this node should sign for has a key that signs here.
    pub fn signs_all(&self) -> bool {
        self.active.is_some() && self.unsigned.is_empty()
    }

    /// The algorithms whose active key cannot sign here.
    pub fn unsigned(&self) -> &[SigningAlg] {
        &self.unsigned
    }

    /// The key that signs for a client registered with `alg`; `None` if none is active.
    pub fn for_alg(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.by_alg.get(&alg).map(|k| k.as_ref())
    }

    /// As `for_alg`, shared: a signer may outlive the ring it took the key from.
    pub fn signer(&self, alg: SigningAlg) -> Option<Arc<SigningKey>> {
        self.by_alg.get(&alg).cloned()
    }

    /// The algorithms the ring can sign with, in a stable order (for discovery).
    pub fn algs(&self) -> Vec<SigningAlg> {
        let mut algs: Vec<SigningAlg> = self.by_alg.keys().copied().collect();
        algs.sort();
        algs
    }

    /// A verifier is chosen by `kid` only; the token's `alg` header never picks one. Only
    /// published keys verify: a retired or revoked key is not in the ring.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(|(k, _)| k.as_ref())
    }

    /// Every published key, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &SigningKey> {
        self.by_kid.values().map(|(k, _)| k.as_ref())
    }

    /// The published keys with their records, in publication order.
    pub fn entries(&self) -> &[RingEntry] {
        &self.entries
    }

    /// What a published key does at the instant the ring stands for (next, active, retiring).
    pub fn state_of(&self, key: &SigningKey) -> KeyState {
        self.by_kid
            .get(&key.kid)
            .map_or(KeyState::Retired, |(_, state)| *state)
    }

    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }

    /// The `ETag` of `/jwks`: a hash of `jwks_json`, quoted.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    pub fn built_at(&self) -> UnixTime {
        self.built_at
    }

    /// When a recorded transition changes this ring (a next key starts signing, a retiring
    /// key leaves).
    pub fn next_change(&self) -> Option<UnixTime> {
        self.next_change
    }

    /// Whether `other` holds the same keys with the same records (so the same ring at any
    /// instant).
    pub fn same_records(&self, other: &KeyRing) -> bool {
        self.unsigned == other.unsigned
            && self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.record == b.record)
    }

    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }
}

/// The node's current ring, swapped whole when the keys change (a rescan, a notification) and
/// moved on by itself when a recorded transition passes, so every node switches signing keys
/// at the recorded instant rather than at its next rescan. Readers take the ring with one
/// short read lock and an `Arc` clone (no allocation), and never hold the lock while signing.
#[derive(Debug, Clone)]
pub struct LiveKeys {
    inner: Arc<Live>,
}

#[derive(Debug)]
struct Live {
    ring: RwLock<Arc<KeyRing>>,
    clock: Clock,
    /// When the node last read the key records (real elapsed time, not the clock: it measures
    /// how long the node has been cut off, which a test's clock jumps must not fake).
    synced: Mutex<Instant>,
    /// Wakes the node's key rescan (`manage::run`): notifications, and a signer that found its
    /// key revoked before the rescan dropped it.
    wake: Arc<tokio::sync::Notify>,
    /// The node's revocation list: `for_signing` never hands out a ring that signs with a kid
    /// it holds revoked, whoever signs (`/token`, back-channel logout tokens, anything later).
    revocations: Arc<RevocationList>,
    /// Revoked kids a signer already waited `REVOKED_SIGNER_WAIT` for in vain (the rescan
    /// cannot read the records): later signers do not wait for them again, until the ring no
    /// longer holds them.
    gave_up: Mutex<HashSet<String>>,
    /// When a signer last woke the rescan: at most one wake per `WAKE_EVERY`, so that waiting
    /// requests do not run failing rescans back to back against a struggling database.
    woken: Mutex<Option<Instant>>,
}

/// The least time between two rescans that signers wake.
const WAKE_EVERY: Duration = Duration::from_millis(100);

/// How long a request that finds its signing key revoked (by the revocation list, ahead of
/// the key records) waits for the rescan to bring the successor before it gets a 503.
pub const REVOKED_SIGNER_WAIT: Duration = Duration::from_secs(2);

impl LiveKeys {
    /// `revocations` is the node's revocation list (a command's own, empty one when it signs
    /// only from records it has just read): every signer goes through `for_signing`, which
    /// checks the ring against it.
    pub fn new(ring: KeyRing, clock: Clock, revocations: Arc<RevocationList>) -> Self {
        Self {
            inner: Arc::new(Live {
                ring: RwLock::new(Arc::new(ring)),
                clock,
                synced: Mutex::new(Instant::now()),
                wake: Arc::new(tokio::sync::Notify::new()),
                revocations,
                gave_up: Mutex::default(),
                woken: Mutex::default(),
            }),
        }
    }

    /// What wakes this node's key rescan (`manage::run` waits on it).
    pub fn rescan_signal(&self) -> Arc<tokio::sync::Notify> {
        self.inner.wake.clone()
    }

    /// Whether the node's revocation list holds `kid` revoked: a signer checks its key again
    /// right before it signs (the list may learn of a revocation while a request is under way).
    pub fn revokes_kid(&self, kid: &str) -> bool {
        self.inner.revocations.revokes_kid(kid)
    }

    /// The ring to sign with: the one path every signer takes. `None` when the node has not
    /// read the key records within `max_unsynced` (a node cut off from the database longer
    /// may be signing with a key revoked meanwhile, whose tokens every other node refuses),
    /// or when no key can sign (every active key withdrawn or its file missing); a ring that
    /// signs nothing for an algorithm whose key was revoked (the signer answers 503).
    ///
    /// Never a ring that signs with a key the node's revocation list holds revoked. The list
    /// may learn of a key's revocation (committed with the record that revokes it) before the
    /// key rescan reads that record: a token signed then would be born revoked. So a signer
    /// that finds the key of one of `algs` (what it is about to sign with) revoked wakes the
    /// rescan and waits for a ring without it (a successor signs then), at most
    /// `REVOKED_SIGNER_WAIT`; after that the revoked key's algorithm signs nothing on this
    /// node (503) until the rescan catches up, and later signers do not wait for that kid
    /// again. Revoked keys of other algorithms are dropped from the ring without a wait.
    pub async fn for_signing(
        &self,
        max_unsynced: Duration,
        algs: &[SigningAlg],
    ) -> Option<Arc<KeyRing>> {
        let waited = Instant::now();
        loop {
            let ring = self.fresh(max_unsynced)?;
            let pending: Vec<String> = algs
                .iter()
                .filter_map(|alg| ring.for_alg(*alg))
                .map(|key| key.kid().to_string())
                .filter(|kid| self.revokes_kid(kid) && !self.given_up(kid))
                .collect();
            if pending.is_empty() {
                if ring.signs_with_any(|kid| self.revokes_kid(kid)) {
                    self.wake_rescan();
                }
                return Some(self.unrevoked(&ring));
            }
            self.wake_rescan();
            if waited.elapsed() >= REVOKED_SIGNER_WAIT {
                self.give_up(&ring, pending);
                return Some(self.unrevoked(&ring));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether every algorithm can sign here now, with keys the revocation list does not hold
    /// revoked (readiness; no wait).
    pub fn signs_all_now(&self, max_unsynced: Duration) -> bool {
        self.fresh(max_unsynced)
            .map(|ring| self.unrevoked(&ring))
            .is_some_and(|ring| !ring.is_empty() && ring.signs_all())
    }

    /// `ring` without the keys the revocation list holds revoked (their algorithms sign
    /// nothing in it).
    fn unrevoked(&self, ring: &Arc<KeyRing>) -> Arc<KeyRing> {
        if !ring.signs_with_any(|kid| self.revokes_kid(kid)) {
            return ring.clone();
        }
        Arc::new(ring.without(|kid| self.revokes_kid(kid), self.inner.clock.now()))
    }

    /// Wakes the key rescan, at most once per `WAKE_EVERY`.
    fn wake_rescan(&self) {
        let mut woken = self
            .inner
            .woken
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if woken.is_none_or(|at| at.elapsed() >= WAKE_EVERY) {
            *woken = Some(Instant::now());
            self.inner.wake.notify_one();
        }
    }

    fn given_up(&self, kid: &str) -> bool {
        self.inner
            .gave_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(kid)
    }

    /// Remembers that waiting for the rescan to drop `kids` was in vain (said once per kid);
    /// forgets the kids `ring` no longer holds.
    fn give_up(&self, ring: &KeyRing, kids: Vec<String>) {
        let mut gave_up = self
            .inner
            .gave_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        gave_up.retain(|kid| ring.get(kid).is_some());
        for kid in kids {
            if gave_up.insert(kid.clone()) {
                tracing::error!(
                    kid,
                    "a key that signs on this node is revoked and the key rescan has not \
                     dropped it yet: its algorithm signs nothing here until it does"
                );
            }
        }
    }

    /// The node read the key records `at` (never moves back).
    pub fn synced(&self, at: Instant) {
        let mut synced = self
            .inner
            .synced
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *synced = (*synced).max(at);
    }

    /// How long since the node last read the key records.
    pub fn unsynced_for(&self) -> Duration {
        self.inner
            .synced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    /// The current ring if the node has read the key records within `max_unsynced` and a key
    /// signs in it; unchecked against the revocation list (`for_signing` checks it).
    fn fresh(&self, max_unsynced: Duration) -> Option<Arc<KeyRing>> {
        if self.unsynced_for() > max_unsynced {
            return None;
        }
        Some(self.current()).filter(|ring| ring.active.is_some())
    }

    /// The ring as it stands now. Take it once per request and use it throughout.
    pub fn current(&self) -> Arc<KeyRing> {
        let ring = self.load();
        match ring.next_change {
            Some(at) if self.inner.clock.now() >= at => self.advance(ring),
            _ => ring,
        }
    }

    /// Replaces the ring (keys added, promoted, revoked); returns whether it changed.
    pub fn replace(&self, ring: KeyRing) -> bool {
        let mut current = self
            .inner
            .ring
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if current.same_records(&ring) {
            return false;
        }
        *current = Arc::new(ring);
        true
    }

    fn load(&self) -> Arc<KeyRing> {
        self.inner
            .ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A recorded transition has passed: the first reader after it rebuilds the ring from the
    /// keys it already holds (no I/O) and publishes it for the others.
    fn advance(&self, seen: Arc<KeyRing>) -> Arc<KeyRing> {
        let now = self.inner.clock.now();
        let ring = seen.at(now);
        if ring.unsigned != seen.unsigned {
            // A successor whose file is missing here: the old key's recorded time is over, so
            // nothing signs for its algorithm until the file arrives (said once, not per request).
            tracing::error!(
                algs = ?ring.unsigned,
                "no key can sign after a recorded key transition: the successor's file is \
                 missing from the keys directory"
            );
        }
        let ring = Arc::new(ring);
        let mut current = self
            .inner
            .ring
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if Arc::ptr_eq(&current, &seen) {
            *current = ring.clone();
            ring
        } else {
            // Another reader (or a rescan) got there first.
            current.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::keys::test_ring;

    /// Two RS256 keys: `old` active until `switch`, `new` published now and active from then.
    fn rotating(switch: UnixTime) -> (tempfile::TempDir, Vec<RingEntry>) {
        let (dir_a, a) = test_ring();
        let (_dir_b, b) = test_ring();
        let key = |ring: &KeyRing| {
            ring.entries()
                .iter()
                .find(|e| e.key.alg == SigningAlg::Rs256)
                .map(|e| e.key.clone())
                .unwrap()
        };
        let record = |key: &SigningKey| KeyRecord {
            kid: key.kid.clone(),
            alg: key.alg,
            file: String::new(),
            created_at: 0,
            published_at: 0,
            active_at: None,
            retiring_at: None,
            retire_after: None,
            revoked_at: None,
        };
        let (old, new) = (key(&a), key(&b));
        let entries = vec![
            RingEntry {
                record: KeyRecord {
                    active_at: Some(0),
                    retiring_at: Some(switch),
                    retire_after: Some(switch + 100),
                    ..record(&old)
                },
                key: old,
            },
            RingEntry {
                record: KeyRecord {
                    active_at: Some(switch),
                    ..record(&new)
                },
                key: new,
            },
        ];
        (dir_a, entries)
    }

    #[test]
    fn a_next_key_is_published_but_signs_only_from_its_recorded_instant() {
        let (_dir, entries) = rotating(1000);
        let (old, new) = (entries[0].key.kid.clone(), entries[1].key.kid.clone());
        let before = KeyRing::build(entries, 999).unwrap();
        assert_eq!(before.active().unwrap().kid(), old);
        assert_eq!(before.state_of(before.get(&new).unwrap()), KeyState::Next);
        assert!(
            before.jwks_json().contains(&new),
            "the next key is published"
        );
        assert_eq!(before.next_change(), Some(1000));

        let after = before.at(1000);
        assert_eq!(after.active().unwrap().kid(), new);
        assert_eq!(after.state_of(after.get(&old).unwrap()), KeyState::Retiring);
        // Same keys published, same document, same validator.
        assert_eq!(after.etag(), before.etag());

        let retired = after.at(1100);
        assert!(
            retired.get(&old).is_none(),
            "a retired key no longer verifies"
        );
        assert!(!retired.jwks_json().contains(&old));
        assert_ne!(retired.etag(), after.etag());
        assert_eq!(retired.next_change(), None);
    }

    #[test]
    fn live_keys_switch_at_the_recorded_instant_without_a_rescan() {
        let clock = Clock::system();
        let now = clock.now();
        let (_dir, entries) = rotating(now + 60);
        let (old, new) = (entries[0].key.kid.clone(), entries[1].key.kid.clone());
        let live = LiveKeys::new(
            KeyRing::build(entries, now).unwrap(),
            clock.clone(),
            Arc::default(),
        );
        assert_eq!(live.current().active().unwrap().kid(), old);
        clock.advance(60);
        assert_eq!(live.current().active().unwrap().kid(), new);
        // Every reader gets the same ring after the switch.
        assert!(Arc::ptr_eq(&live.current(), &live.current()));
        clock.advance(100);
        assert!(live.current().get(&old).is_none());
    }

    #[test]
    fn a_ring_without_a_signer_is_refused() {
        let (_dir, entries) = rotating(1000);
        let next_only: Vec<RingEntry> = entries.into_iter().skip(1).collect();
        assert!(KeyRing::build(next_only, 10).is_none());
    }
}
