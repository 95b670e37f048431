//! The JWS algorithms Tessera signs with (RFC 7518 §3.1, RFC 8037 §3.1). RS256 is the default
//! that every client supports; ES256 and EdDSA are chosen per client.

use std::fmt;

/// A signing algorithm, and so a kind of key in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SigningAlg {
    #[default]
    Rs256,
    Es256,
    EdDsa,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing algorithm '{0}' is not one of: RS256, ES256, EdDSA")]
pub struct UnknownAlg(pub String);

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    /// The `alg` value of RFC 7518 / RFC 8037 (case-sensitive, as in a JWS header).
    pub fn parse(raw: &str) -> Result<Self, UnknownAlg> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| UnknownAlg(raw.escape_default().to_string()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The verifier's algorithm for a key of this kind.
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    /// Lowercase, for key file names.
    pub fn file_tag(self) -> &'static str {
        match self {
            Self::Rs256 => "rs256",
            Self::Es256 => "es256",
            Self::EdDsa => "eddsa",
        }
    }
}

/// As its JWS name (`"RS256"`), in `tessera keys … --json`.
impl serde::Serialize for SigningAlg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_jws_names_exactly() {
        for alg in SigningAlg::ALL {
            assert_eq!(SigningAlg::parse(alg.as_str()), Ok(alg));
        }
        for bad in ["rs256", "eddsa", "ES384", "none", "HS256", ""] {
            assert!(SigningAlg::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(SigningAlg::default(), SigningAlg::Rs256);
    }
}
