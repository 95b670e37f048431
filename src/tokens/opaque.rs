//! Opaque secrets (authorization codes, refresh tokens, session ids, client secrets, device
//! secrets):
//! 256 random bits, base64url, with a short prefix saying what they are; stored as SHA-256.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
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
    /// Native SSO §3.2: shared by a vendor's apps on one device.
    DeviceSecret,
    /// RFC 8628 §3.2: what a device polls the token endpoint with.
    DeviceCode,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Code => "tc_",
            Kind::Refresh => "trt_",
            Kind::Session => "ts_",
            Kind::ClientSecret => "tcs_",
            Kind::Csrf => "",
            Kind::DeviceSecret => "tds_",
            Kind::DeviceCode => "tdc_",
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

/// Seals a rotated refresh token's successor with a key derived from the rotated token
/// itself (AES-256-GCM). The store keeps only the old token's SHA-256, from which this key
/// cannot be derived, so the sealed successor is useless to anyone who reads the database but
/// lets the holder of the old token get the same successor again inside the grace window.
pub fn seal_successor(old: &str, successor: &str) -> String {
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let mut sealed = successor.as_bytes().to_vec();
    let key = successor_key(old);
    // Sealing with a valid key and a fresh nonce cannot fail for inputs of this size.
    if key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut sealed,
        )
        .is_err()
    {
        return String::new();
    }
    let mut out = URL_SAFE_NO_PAD.encode(nonce);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&sealed, &mut out);
    out
}

/// The successor `seal_successor` sealed, if `old` is the token it was sealed for.
pub fn open_successor(old: &str, sealed: &str) -> Option<String> {
    let (nonce, body) = sealed.split_once('.')?;
    let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD.decode(nonce).ok()?.try_into().ok()?;
    let mut body = URL_SAFE_NO_PAD.decode(body).ok()?;
    let plain = successor_key(old)
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut body)
        .ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

fn successor_key(old: &str) -> LessSafeKey {
    let mut hasher = Sha256::new();
    // A label unlike anything `hash` is fed, so this is never the stored hash.
    hasher.update(b"tessera refresh successor key v1\0");
    hasher.update(old.as_bytes());
    let bytes: [u8; 32] = hasher.finalize().into();
    #[allow(
        clippy::expect_used,
        reason = "a 32-byte key is always a valid AES-256 key"
    )]
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).expect("32-byte AES-256 key"))
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
    fn a_sealed_successor_opens_only_with_the_token_it_was_sealed_for() {
        let (old, next) = (generate(Kind::Refresh), generate(Kind::Refresh));
        let sealed = seal_successor(&old, &next);
        assert!(!sealed.contains(&next[4..]));
        assert_eq!(
            open_successor(&old, &sealed).as_deref(),
            Some(next.as_str())
        );
        assert_eq!(open_successor(&generate(Kind::Refresh), &sealed), None);
        // The stored hash of the old token is not the key.
        assert_eq!(open_successor(&hash(&old), &sealed), None);
        assert_eq!(open_successor(&old, "garbage"), None);
    }

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
