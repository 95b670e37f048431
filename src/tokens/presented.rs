//! What a client presented where any token is accepted (`/introspect`, `/revoke`): the shape
//! alone says which kind of token it can be, so a `token_type_hint` is never needed to find it
//! (RFC 7662 §2.1, RFC 7009 §2.1 make the hint optional and non-binding).

use super::opaque::{self, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// Three dot-separated parts: a JWS, so possibly one of our access tokens.
    AccessToken(&'a str),
    /// `trt_` and 43 base64url characters: possibly one of our refresh tokens.
    RefreshToken(&'a str),
    /// `tds_` and 43 base64url characters: possibly a device secret (Native SSO).
    DeviceSecret(&'a str),
    /// Anything else is no token of ours.
    Unrecognised,
}

pub fn classify(token: &str) -> Presented<'_> {
    if opaque::has_kind(token, Kind::Refresh) {
        Presented::RefreshToken(token)
    } else if opaque::has_kind(token, Kind::DeviceSecret) {
        Presented::DeviceSecret(token)
    } else if token.split('.').count() == 3 {
        Presented::AccessToken(token)
    } else {
        Presented::Unrecognised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_told_apart_by_shape() {
        let refresh = opaque::generate(Kind::Refresh);
        assert_eq!(classify(&refresh), Presented::RefreshToken(&refresh));
        let device = opaque::generate(Kind::DeviceSecret);
        assert_eq!(classify(&device), Presented::DeviceSecret(&device));
        assert_eq!(classify("a.b.c"), Presented::AccessToken("a.b.c"));
        for other in ["", "trt_short", "a.b", "tc_abc", "a.b.c.d.e"] {
            assert_eq!(classify(other), Presented::Unrecognised, "{other}");
        }
    }
}
