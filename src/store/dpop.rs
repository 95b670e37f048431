//! DPoP (RFC 9449): the proofs already accepted (§11.1) and the secret nonces are derived from
//! (§8). On PostgreSQL both are rows every node shares; on SQLite (one node) the proofs seen
//! are kept in memory, which is as good as a table for a single node and costs no write.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Backend, Store, StoreError};
use crate::clock::UnixTime;

/// Proofs seen by this node, for SQLite: at most `cap` within their window. When that many
/// are live a new proof is refused (503, fail closed) rather than forgotten or let through:
/// memory stays bounded whatever the traffic.
#[derive(Debug)]
pub(super) struct SeenProofs {
    seen: Mutex<HashMap<[u8; 32], UnixTime>>,
    cap: usize,
}

/// About 6 MB of entries; far above what the rate limits let through in one proof window.
const MAX_SEEN_PROOFS: usize = 100_000;

impl Default for SeenProofs {
    fn default() -> Self {
        Self::with_cap(MAX_SEEN_PROOFS)
    }
}

/// The memory is full of proofs still within their window.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Full;

impl SeenProofs {
    pub(super) fn with_cap(cap: usize) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            cap,
        }
    }

    fn first_use(
        &self,
        proof_hash: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, Full> {
        let key: [u8; 32] = Sha256::digest(proof_hash.as_bytes()).into();
        // A panic while holding the lock leaves the map as it was between two whole inserts.
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // Amortised clean-up, and always before refusing for want of room.
        if seen.len() >= self.cap || (seen.len() >= 1024 && seen.len().is_power_of_two()) {
            seen.retain(|_, exp| *exp > now);
        }
        match seen.get(&key) {
            Some(exp) if *exp > now => Ok(false),
            _ if seen.len() >= self.cap && !seen.contains_key(&key) => Err(Full),
            _ => {
                seen.insert(key, expires_at);
                Ok(true)
            }
        }
    }
}

impl Store {
    /// Records a proof as used until `expires_at`; `false` when it was used before and is
    /// still within its window. The insert that finds the key taken is the atomic check: of a
    /// burst of copies, on any number of nodes, exactly one gets `true`.
    #[tracing::instrument(skip_all)]
    pub async fn record_dpop_proof(
        &self,
        proof_hash: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if self.backend == Backend::Sqlite {
            return self
                .seen_proofs
                .first_use(proof_hash, expires_at, now)
                .map_err(|Full| {
                    StoreError::Unavailable(sqlx::Error::Protocol(
                        "the DPoP replay memory is full".into(),
                    ))
                });
        }
        // An expired row not purged yet is taken over, never read as a replay.
        let done = sqlx::query(
            "insert into dpop_proofs (proof_hash, expires_at) values ($1, $2) \
             on conflict (proof_hash) do update set expires_at = excluded.expires_at \
             where dpop_proofs.expires_at <= $3",
        )
        .bind(proof_hash)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes up to `limit` proofs whose window is over.
    #[tracing::instrument(skip(self))]
    pub async fn purge_dpop_proofs_batch(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "delete from dpop_proofs where proof_hash in \
             (select proof_hash from dpop_proofs where expires_at <= $1 limit $2)",
        )
        .bind(now)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The nonce secret every node shares: the first node to start writes a random one, every
    /// other node (and every restart) reads that one.
    #[tracing::instrument(skip_all)]
    pub async fn dpop_nonce_secret(&self) -> Result<Vec<u8>, StoreError> {
        let mut fresh = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        sqlx::query(
            "insert into dpop_nonce_secret (id, secret) values (1, $1) \
             on conflict (id) do nothing",
        )
        .bind(hex(&fresh))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("select secret from dpop_nonce_secret where id = 1")
            .fetch_one(&self.pool)
            .await?;
        let secret: String = row.try_get("secret")?;
        Ok(secret.into_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_memory_refuses_new_proofs_until_one_expires() {
        let seen = SeenProofs::with_cap(2);
        assert_eq!(seen.first_use("a", 10, 0), Ok(true));
        assert_eq!(seen.first_use("b", 20, 0), Ok(true));
        assert_eq!(seen.first_use("a", 10, 1), Ok(false));
        assert_eq!(seen.first_use("c", 10, 1), Err(Full));
        assert_eq!(seen.first_use("c", 30, 10), Ok(true));
        assert_eq!(seen.first_use("c", 30, 11), Ok(false));
    }
}
