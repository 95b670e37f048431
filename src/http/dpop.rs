//! The `DPoP` request header (RFC 9449 §4.1): at most one, of bounded size, taken as text for
//! `oauth::dpop` to check. Everything else about proofs is protocol, not HTTP.

use actix_web::HttpRequest;

use crate::oauth::dpop::MAX_PROOF_BYTES;

/// Why the header cannot be a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadHeader {
    /// §4.3 point 1: more than one `DPoP` header.
    Repeated,
    TooLarge,
    NotText,
}

impl BadHeader {
    pub fn description(self) -> &'static str {
        match self {
            Self::Repeated => "send exactly one DPoP header (RFC 9449 §4.3)",
            Self::TooLarge => "the DPoP header is too large",
            Self::NotText => "the DPoP header is not a JWT",
        }
    }
}

/// The proof, if one was sent. Checked for size before anything parses it.
pub fn proof(req: &HttpRequest) -> Result<Option<String>, BadHeader> {
    let mut values = req.headers().get_all("dpop");
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(BadHeader::Repeated);
    }
    if first.len() > MAX_PROOF_BYTES {
        return Err(BadHeader::TooLarge);
    }
    let text = first.to_str().map_err(|_| BadHeader::NotText)?;
    Ok(Some(text.trim().to_string()))
}

/// For the token endpoint: a bad header is `invalid_dpop_proof` (§5).
pub fn proof_header(req: &HttpRequest) -> Result<Option<String>, crate::oauth::error::OAuthError> {
    proof(req)
        .map_err(|e| crate::oauth::error::OAuthError::InvalidDpopProof(e.description().into()))
}
