//! The key ring: every key that is published, and the one that signs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};

use super::SigningAlg;
use super::jwks;
use crate::clock::UnixTime;

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
    decoding: DecodingKey,
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
    pub fn from_rsa(pair: RsaKeyPair) -> Self {
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let kid = jwks::thumbprint_rsa(&n, &e);
        let public_jwk = serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e,
        });
        // The components come from a key aws-lc-rs just accepted, so they are well-formed.
        let decoding = DecodingKey::from_rsa_raw_components(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        );
        Self {
            kid,
            alg: SigningAlg::Rs256,
            pair: Pair::Rsa(pair),
            public_jwk,
            decoding,
            created_at: None,
        }
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
        let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|_| SignError)?;
        let public_jwk = serde_json::json!({
            "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256", "x": x, "y": y,
        });
        Ok(Self {
            kid,
            alg: SigningAlg::Es256,
            pair: Pair::Es256(pair),
            public_jwk,
            decoding,
            created_at: None,
        })
    }

    /// An Ed25519 key (RFC 8037: `kty` OKP, `crv` Ed25519, `alg` EdDSA).
    pub fn from_ed25519(pair: Ed25519KeyPair) -> Result<Self, SignError> {
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let kid = jwks::thumbprint_okp("Ed25519", &x);
        let decoding = DecodingKey::from_ed_components(&x).map_err(|_| SignError)?;
        let public_jwk = serde_json::json!({
            "kty": "OKP", "use": "sig", "alg": "EdDSA", "kid": kid, "crv": "Ed25519", "x": x,
        });
        Ok(Self {
            kid,
            alg: SigningAlg::EdDsa,
            pair: Pair::Ed25519(pair),
            public_jwk,
            decoding,
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

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Signing,
    Published,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Signing => "signing",
            Self::Published => "published",
        }
    }
}

/// All published keys, the active one, and the JWKS document rendered once.
#[derive(Debug, Clone)]
pub struct KeyRing {
    active: Arc<SigningKey>,
    /// The newest key of each algorithm: what signs for a client that chose that algorithm.
    by_alg: Arc<HashMap<SigningAlg, Arc<SigningKey>>>,
    by_kid: Arc<HashMap<String, Arc<SigningKey>>>,
    jwks_json: Arc<str>,
}

impl KeyRing {
    /// `keys` are in publication order; the last one of each algorithm signs for it, and the
    /// last RS256 key (the default algorithm) is the active key.
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        let keys: Vec<Arc<SigningKey>> = keys.into_iter().map(Arc::new).collect();
        let by_alg: HashMap<SigningAlg, Arc<SigningKey>> =
            keys.iter().map(|k| (k.alg, k.clone())).collect();
        let active = by_alg
            .get(&SigningAlg::default())
            .or_else(|| keys.last())?
            .clone();
        // RS256 keys first (a stable sort keeps publication order within an algorithm): the
        // order is the same after a restart, and naive clients that take the first key get
        // the default algorithm.
        let mut published: Vec<&Arc<SigningKey>> = keys.iter().collect();
        published.sort_by_key(|k| k.alg);
        let jwks_json = jwks::render(published.iter().map(|k| k.public_jwk())).into();
        let by_kid = keys.into_iter().map(|k| (k.kid.clone(), k)).collect();
        Some(Self {
            active,
            by_alg: Arc::new(by_alg),
            by_kid: Arc::new(by_kid),
            jwks_json,
        })
    }

    /// The key that signs by default (RS256).
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// The key that signs for a client registered with `alg`; `None` if the ring has none.
    pub fn for_alg(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.by_alg.get(&alg).map(|k| k.as_ref())
    }

    /// The algorithms the ring can sign with, in a stable order (for discovery).
    pub fn algs(&self) -> Vec<SigningAlg> {
        let mut algs: Vec<SigningAlg> = self.by_alg.keys().copied().collect();
        algs.sort();
        algs
    }

    /// A verifier is chosen by `kid` only; the token's `alg` header never picks one.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(|k| k.as_ref())
    }

    /// Every published key, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &SigningKey> {
        self.by_kid.values().map(|k| k.as_ref())
    }

    /// What a key does: `active` signs by default (RS256), `signing` signs for the clients
    /// that chose its algorithm, `published` only verifies (an older key kept in JWKS so that
    /// tokens it signed stay valid until they expire).
    pub fn state_of(&self, key: &SigningKey) -> KeyState {
        if key.kid == self.active.kid {
            KeyState::Active
        } else if self.for_alg(key.alg).is_some_and(|k| k.kid == key.kid) {
            KeyState::Signing
        } else {
            KeyState::Published
        }
    }

    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }

    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }
}
