//! The key ring: every key that is published, and the one that signs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwks;

/// A private signing key, parsed once. Its `Debug` never shows key material.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: RsaKeyPair,
    /// Public members only: what `/jwks` publishes for this key.
    public_jwk: serde_json::Value,
    decoding: DecodingKey,
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
            alg: Algorithm::RS256,
            pair,
            public_jwk,
            decoding,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Algorithm {
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
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| SignError)?;
        Ok(signature)
    }
}

/// All published keys, the active one, and the JWKS document rendered once.
#[derive(Debug, Clone)]
pub struct KeyRing {
    active: Arc<SigningKey>,
    by_kid: Arc<HashMap<String, Arc<SigningKey>>>,
    jwks_json: Arc<str>,
}

impl KeyRing {
    /// `keys` are in publication order; the last one signs.
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        let keys: Vec<Arc<SigningKey>> = keys.into_iter().map(Arc::new).collect();
        let active = keys.last()?.clone();
        let jwks_json = jwks::render(keys.iter().map(|k| k.public_jwk())).into();
        let by_kid = keys.into_iter().map(|k| (k.kid.clone(), k)).collect();
        Some(Self {
            active,
            by_kid: Arc::new(by_kid),
            jwks_json,
        })
    }

    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// A verifier is chosen by `kid` only; the token's `alg` header never picks one.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(|k| k.as_ref())
    }

    /// Every published key, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &SigningKey> {
        self.by_kid.values().map(|k| k.as_ref())
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
