//! Parsed user input: a `Username` or `Email` exists only if it is valid.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::clock::UnixTime;

pub const MAX_USERNAME_CHARS: usize = 64;

/// A username: trimmed, NFC-normalised, 1–64 characters, no control characters or whitespace.
/// Uniqueness is case-insensitive, through `key()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("the username is empty")]
    Empty,
    #[error("the username is longer than {MAX_USERNAME_CHARS} characters")]
    TooLong,
    #[error("the username contains a control character or white space")]
    BadCharacter,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let name: String = raw.trim().nfc().collect();
        if name.is_empty() {
            return Err(UsernameError::Empty);
        }
        if name.chars().count() > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(UsernameError::BadCharacter);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity of the name: what the unique index holds.
    pub fn key(&self) -> String {
        self.0.to_lowercase().nfc().collect()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, checked only for shape (`local@domain`, no white space, ≤ 254 bytes):
/// deliverability is not ours to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let e = raw.trim();
        let ok = e.len() <= 254
            && !e.chars().any(|c| c.is_control() || c.is_whitespace())
            && e.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if ok {
            Ok(Self(e.to_string()))
        } else {
            Err(format!("'{e}' is not an e-mail address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
        }
    }
}

/// A user as stored. The password hash never leaves the accounts and store layers.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    pub password_changed_at: UnixTime,
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r == role.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_normalised_and_compared_without_case() {
        let a = Username::parse("  Ålice ").expect("valid");
        let b = Username::parse("A\u{030A}lice").expect("valid"); // decomposed Å
        assert_eq!(a.as_str(), "Ålice");
        assert_eq!(a, b);
        assert_eq!(a.key(), Username::parse("åLICE").expect("valid").key());
    }

    #[test]
    fn bad_usernames_are_refused_with_a_reason() {
        assert_eq!(Username::parse("   "), Err(UsernameError::Empty));
        assert_eq!(Username::parse("a\0b"), Err(UsernameError::BadCharacter));
        assert_eq!(Username::parse("a b"), Err(UsernameError::BadCharacter));
        assert_eq!(
            Username::parse(&"x".repeat(65)),
            Err(UsernameError::TooLong)
        );
        assert!(Username::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn emails_are_checked_for_shape() {
        assert!(Email::parse("a@example.com").is_ok());
        assert!(Email::parse("a@b@c").is_err());
        assert!(Email::parse("@example.com").is_err());
        assert!(Email::parse("a @example.com").is_err());
    }
}
