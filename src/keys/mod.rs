//! Signing keys: loaded once from the keys directory, kept parsed in memory, published as JWKS.

mod alg;
mod jwks;
mod pem;
mod ring;

pub use alg::{SigningAlg, UnknownAlg};
pub use jwks::thumbprint_rsa;
pub use pem::{KeyFileError, generate, load_existing, load_or_generate};
pub use ring::{KeyRing, KeyState, SigningKey};

/// A ring with one freshly generated RS256 key, in a directory that lives as long as the
/// returned guard (for unit tests).
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test setup")]
pub fn test_ring() -> (tempfile::TempDir, KeyRing) {
    let dir = tempfile::tempdir().unwrap();
    let ring = load_or_generate(dir.path(), 0).unwrap();
    (dir, ring)
}
