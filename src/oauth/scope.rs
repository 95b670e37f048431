//! `Scope`: a set of scope tokens (RFC 6749 §3.3), kept sorted so its text form is stable.

use std::collections::BTreeSet;
use std::fmt;

/// Scopes this server gives a meaning to; advertised as `scopes_supported`.
pub const SUPPORTED: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "roles",
    "device_sso",
];

/// Scopes that only make sense when a user signs in (an ID token, a refresh token for the
/// user's session); grants without a user, such as client_credentials, never carry them.
pub const USER_ONLY: &[&str] = &["openid", "offline_access", "device_sso"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScopeError(String);

impl Scope {
    /// Space-separated scope tokens. Each token is 1*( %x21 / %x23-5B / %x5D-7E ) per RFC 6749
    /// §3.3; repeated spaces are tolerated, repeated tokens collapse (it is a set). The empty
    /// string is the empty set.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        let mut set = BTreeSet::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if let Some(bad) = token.chars().find(|&c| !is_scope_char(c)) {
                return Err(ScopeError(format!(
                    "scope '{}' contains the character {bad:?}, which RFC 6749 §3.3 does not allow",
                    token.escape_default()
                )));
            }
            set.insert(token.to_string());
        }
        Ok(Self(set))
    }

    pub fn empty() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    pub fn is_subset(&self, allowed: &Scope) -> bool {
        self.0.is_subset(&allowed.0)
    }

    /// The tokens of `self` that `allowed` lacks, for error messages.
    pub fn excess<'a>(&'a self, allowed: &'a Scope) -> impl Iterator<Item = &'a str> {
        self.0.difference(&allowed.0).map(String::as_str)
    }

    /// This set without the given tokens.
    pub fn without(&self, tokens: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|t| !tokens.contains(&t.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// Everything in either set (consent accumulates).
    pub fn union(&self, other: &Scope) -> Self {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// Only what both sets hold (an API's token carries only the scopes it defines).
    pub fn intersection(&self, other: &Scope) -> Self {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

/// The space-separated form (sorted), as in the `scope` claim and response member.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_into_a_sorted_set() {
        let s = Scope::parse("profile openid  profile email").unwrap();
        assert_eq!(s.to_string(), "email openid profile");
        assert!(s.contains("openid"));
        assert!(Scope::parse("").unwrap().is_empty());
        assert!(Scope::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn scope_tokens_outside_the_rfc6749_charset_are_refused() {
        for bad in ["a\"b", "a\\b", "tab\there", "é", "nul\0"] {
            let err = Scope::parse(bad).unwrap_err();
            assert!(err.to_string().contains("RFC 6749 §3.3"), "{bad}: {err}");
        }
        assert!(Scope::parse("urn:example:read api://x/y.z!#$%&'()*+,-./:;<=>?@[]^_`{|}~").is_ok());
    }

    #[test]
    fn subset_excess_and_without() {
        let allowed = Scope::parse("openid api.read api.write").unwrap();
        let asked = Scope::parse("api.read admin").unwrap();
        assert!(!asked.is_subset(&allowed));
        assert_eq!(asked.excess(&allowed).collect::<Vec<_>>(), ["admin"]);
        assert!(Scope::parse("api.read").unwrap().is_subset(&allowed));
        assert!(Scope::empty().is_subset(&allowed));
        assert_eq!(allowed.without(USER_ONLY).to_string(), "api.read api.write");
    }
}
