//! DPoP, RFC 9449: sender-constrained tokens. A client proves possession of a key with a
//! proof JWT on each request (`proof`); tokens issued with a proof carry the key's thumbprint
//! (`cnf.jkt`, §6) and only a proof of that key can use them. This module adds the checks that
//! need the server's state: server nonces (§8, `nonce`) and the replay check (§11.1, through
//! the store: shared by every node on PostgreSQL).

pub mod nonce;
pub mod proof;

use std::borrow::Cow;

use url::Url;

pub use proof::{ALGS, Expected, InvalidProof, MAX_PROOF_BYTES, Proof, Window};

use crate::clock::UnixTime;
use crate::config::Settings;
use crate::store::{Store, StoreError};

/// The `cnf` claim of a bound token (RFC 7800 §3.1, RFC 9449 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cnf {
    pub jkt: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DpopError {
    /// `invalid_dpop_proof` (§5, §7.1).
    #[error("{0}")]
    Invalid(Cow<'static, str>),
    /// §8: a nonce is required and the proof had none, or a stale one: `use_dpop_nonce`, with
    /// the nonce to use.
    #[error("a DPoP nonce is required: sign a new proof with the nonce of the DPoP-Nonce header")]
    UseNonce(String),
    /// §7.1: the proof is valid but not of the key the access token is bound to.
    #[error("the access token is not bound to the DPoP proof's key")]
    WrongKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<InvalidProof> for DpopError {
    fn from(e: InvalidProof) -> Self {
        Self::Invalid(e.0)
    }
}

/// The server's DPoP settings and nonce secret, shared by every request.
#[derive(Debug)]
pub struct Dpop {
    pub window: Window,
    /// Whether proofs at the token endpoint must carry a server nonce (`dpop_nonce`).
    pub require_nonce: bool,
    nonces: nonce::Nonces,
    /// The token endpoint's URL as configured: what `htu` must name (never the `Host` header).
    token_url: Url,
    userinfo_url: Url,
}

impl Dpop {
    pub fn new(settings: &Settings, nonce_secret: &[u8]) -> Result<Self, url::ParseError> {
        let issuer = settings.issuer();
        Ok(Self {
            window: Window {
                lifetime: secs(settings.dpop_proof_lifetime),
                skew: secs(settings.dpop_clock_skew),
            },
            require_nonce: settings.dpop_nonce,
            nonces: nonce::Nonces::new(nonce_secret, settings.dpop_nonce_window),
            token_url: Url::parse(&format!("{issuer}/token"))?,
            userinfo_url: Url::parse(&format!("{issuer}/userinfo"))?,
        })
    }

    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    pub fn userinfo_url(&self) -> &Url {
        &self.userinfo_url
    }

    /// The `DPoP-Nonce` to send with token responses, when nonces are on.
    pub fn nonce(&self, now: UnixTime) -> Option<String> {
        self.require_nonce.then(|| self.nonces.current(now))
    }

    /// §4.3 in full: the proof's own checks, then the nonce (when `nonce` is true), then the
    /// replay check, last, so that only a proof that verified is ever stored (and only until
    /// its window is over).
    pub async fn check(
        &self,
        store: &Store,
        raw: &str,
        expected: &Expected<'_>,
        nonce: bool,
        now: UnixTime,
    ) -> Result<Proof, DpopError> {
        self.check_bound(store, raw, expected, nonce, None, now)
            .await
    }

    /// `check`, and when `jkt` is given (the `cnf.jkt` of the token presented, §7.1) the
    /// proof's key must be that one, checked before the proof is recorded: a proof that does
    /// not fit the token takes no room in the replay store.
    pub async fn check_bound(
        &self,
        store: &Store,
        raw: &str,
        expected: &Expected<'_>,
        nonce: bool,
        jkt: Option<&str>,
        now: UnixTime,
    ) -> Result<Proof, DpopError> {
        let proof = proof::verify(raw, expected, self.window, now)?;
        if let Some(jkt) = jkt
            && !crate::tokens::opaque::ct_eq(jkt, &proof.jkt)
        {
            return Err(DpopError::WrongKey);
        }
        if nonce {
            let fresh = proof
                .nonce
                .as_deref()
                .is_some_and(|n| self.nonces.accepts(n, now));
            if !fresh {
                return Err(DpopError::UseNonce(self.nonces.current(now)));
            }
        }
        let expires = self.window.expires(proof.iat).saturating_add(1);
        if !store
            .record_dpop_proof(&proof.replay_key(), expires, now)
            .await?
        {
            return Err(DpopError::Invalid(
                "the DPoP proof was used before (its jti was seen)".into(),
            ));
        }
        Ok(proof)
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
