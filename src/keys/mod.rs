//! Signing keys: private keys in files of the keys directory, each with a recorded life in the
//! store (next, active, retiring, retired or revoked: `lifecycle`), kept parsed in memory in a
//! ring that every node swaps when the records change (`manage`), published as JWKS.

mod alg;
mod jwks;
pub mod lifecycle;
pub mod manage;
mod pem;
mod ring;
pub mod schedule;

pub use alg::{SigningAlg, UnknownAlg};
pub use jwks::thumbprint_rsa;
pub use lifecycle::{KeyRecord, KeyState};
pub use pem::{KeyFileError, generate, load_existing, load_or_generate};
pub use ring::{KeyRing, LiveKeys, RingEntry, SigningKey};

/// A ring with one freshly generated key per algorithm, in a directory that lives as long as
/// the returned guard (for unit tests).
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test setup")]
pub fn test_ring() -> (tempfile::TempDir, KeyRing) {
    let dir = tempfile::tempdir().unwrap();
    let ring = load_or_generate(dir.path(), 0).unwrap();
    (dir, ring)
}
