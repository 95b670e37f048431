//! `SsoGroup`: the name of a vendor's group of apps that share a device's sign-in (OpenID
//! Connect Native SSO for Mobile Apps 1.0). Only clients of the same group may exchange each
//! other's ID token and device secret, so the name is compared exactly.

use std::fmt;

use super::client::ClientError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoGroup(String);

impl SsoGroup {
    /// 1 to 64 characters of `A-Z a-z 0-9 - . _`: shown in the console and on the command
    /// line, so nothing that needs escaping.
    pub fn parse(raw: &str) -> Result<Self, ClientError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(ClientError(format!(
                "--native-sso-group '{}' must be 1 to 64 characters of A-Z a-z 0-9 - . _",
                raw.escape_default()
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SsoGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_short_and_plain() {
        assert_eq!(
            SsoGroup::parse("acme.apps_1").unwrap().as_str(),
            "acme.apps_1"
        );
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(SsoGroup::parse(bad).is_err(), "{bad}");
        }
    }
}
