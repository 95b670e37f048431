//! PKCE (RFC 7636), S256 only: `plain` would hand the verifier to anyone who sees the request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::tokens::opaque::ct_eq;

/// A code challenge: BASE64URL(SHA256(verifier)), exactly 43 characters (RFC 7636 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, &'static str> {
        match method {
            Some("S256") => {}
            // §4.3: an absent method means "plain".
            None | Some("plain") => {
                return Err("code_challenge_method must be S256 (plain is not accepted)");
            }
            Some(_) => return Err("unsupported code_challenge_method; use S256"),
        }
        let ok = challenge.len() == 43
            && URL_SAFE_NO_PAD
                .decode(challenge)
                .is_ok_and(|bytes| bytes.len() == 32);
        if ok {
            Ok(Self(challenge.to_string()))
        } else {
            Err("code_challenge must be the 43-character base64url SHA-256 of the verifier")
        }
    }

    /// Trusted input from the store.
    pub fn from_stored(challenge: String) -> Self {
        Self(challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 §4.6, compared in constant time. The verifier must have the §4.1 shape.
    pub fn verify(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        well_formed & ct_eq(&computed, &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn the_rfc_example_verifies() {
        let challenge =
            CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256"))
                .expect("valid");
        assert!(challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
    }

    #[test]
    fn plain_and_malformed_challenges_are_refused() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(CodeChallenge::parse(c, None).is_err());
        assert!(CodeChallenge::parse(c, Some("plain")).is_err());
        assert!(CodeChallenge::parse("short", Some("S256")).is_err());
    }
}
