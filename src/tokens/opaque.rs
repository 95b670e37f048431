//! Opaque secrets (authorization codes, refresh tokens, session ids, client secrets):
//! 256 random bits, base64url, with a short prefix saying what they are; stored as SHA-256.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Kinds of opaque secret, each with its own prefix so a leaked one is recognisable (and a
/// refresh token is never accepted where a code is expected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Code,
    Refresh,
    Session,
    ClientSecret,
    Csrf,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Code => "tc_",
            Kind::Refresh => "trt_",
            Kind::Session => "ts_",
            Kind::ClientSecret => "tcs_",
            Kind::Csrf => "",
        }
    }
}

/// A freshly generated secret; hand the text to its owner once and store only `hash()`.
pub fn generate(kind: Kind) -> String {
    let bytes: [u8; 32] = random_bytes();
    let mut out = String::from(kind.prefix());
    URL_SAFE_NO_PAD.encode_string(bytes, &mut out);
    out
}

/// `N` bytes from the operating system's generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // SystemRandom reads the OS generator; it fails only if the OS has none, which we cannot
    // run without. Falling back to zeros would be a catastrophic silent failure, so abort.
    #[allow(
        clippy::expect_used,
        reason = "no OS randomness: nothing secure can proceed"
    )]
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random generator failed");
    bytes
}

/// Whether `text` has the shape of a secret of `kind` (cheap check before any look-up).
pub fn has_kind(text: &str, kind: Kind) -> bool {
    text.strip_prefix(kind.prefix())
        .is_some_and(|rest| rest.len() == 43 && URL_SAFE_NO_PAD.decode(rest).is_ok())
}

/// SHA-256 as lowercase hex: what the store keeps. High-entropy secrets need no salt or KDF.
pub fn hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        out.push(char::from_digit((b & 0xf) as u32, 16).unwrap_or('0'));
    }
    out
}

/// Constant-time equality for secrets and their hashes.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_prefixed_and_recognisable() {
        let a = generate(Kind::Refresh);
        let b = generate(Kind::Refresh);
        assert_ne!(a, b);
        assert!(a.starts_with("trt_"));
        assert!(has_kind(&a, Kind::Refresh));
        assert!(!has_kind(&a, Kind::Code));
        assert_eq!(hash(&a).len(), 64);
        assert!(ct_eq(&hash(&a), &hash(&a)));
        assert!(!ct_eq(&hash(&a), &hash(&b)));
    }
}
