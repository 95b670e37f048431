//! Signing keys: loaded once from the keys directory, kept parsed in memory, published as JWKS.

mod alg;
mod jwks;
mod pem;
mod ring;

pub use alg::{SigningAlg, UnknownAlg};
pub use jwks::thumbprint_rsa;
pub use pem::{KeyFileError, generate, load_existing, load_or_generate};
pub use ring::{KeyRing, KeyState, SigningKey};
