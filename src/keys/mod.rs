//! Signing keys: private keys in files of the keys directory, each with a recorded life in the
//! store (next, active, retiring, retired or revoked: `lifecycle`), kept parsed in memory in a
//! ring that every node swaps when the records change (`manage`), published as JWKS. Files may be
//! encrypted PKCS#8 with a passphrase from `keys_passphrase_file` (`sealed`).

mod alg;
mod jwks;
pub mod lifecycle;
pub mod manage;
mod pem;
mod ring;
pub mod schedule;
mod sealed;

pub use alg::{SigningAlg, UnknownAlg};
pub use jwks::thumbprint_rsa;
pub use lifecycle::{KeyRecord, KeyState};
pub use pem::{KeyFileError, generate, generate_with, load_existing, load_or_generate};
pub use ring::{KeyRing, LiveKeys, REVOKED_SIGNER_WAIT, RingEntry, SigningKey};
pub use sealed::Passphrase;

/// A ring with one freshly generated key per algorithm, in a directory that lives as long as
/// the returned guard (for unit tests).
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test setup")]
pub fn test_ring() -> (tempfile::TempDir, KeyRing) {
    let dir = tempfile::tempdir().unwrap();
    let ring = load_or_generate(dir.path(), 0).unwrap();
    (dir, ring)
}
