//! Where to go after login: only a path on this server. Anything that a browser could read as
//! another origin (`//evil`, `/\evil`, `https://evil`, their percent-encoded forms, control
//! characters) is refused, so the login page is never an open redirect.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(String);

impl ReturnTo {
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > 4096 {
            return None;
        }
        // Browsers drop tabs and newlines inside URLs, so "/\t/evil" would become "//evil".
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return None;
        }
        // The path, raw and decoded, must not read as "//host" or "/\\host".
        let path = raw.split(['?', '#']).next().unwrap_or_default();
        let decoded = urlencoding::decode(path).ok()?;
        for candidate in [path, decoded.as_ref()] {
            let safe = candidate.starts_with('/')
                && !candidate.starts_with("//")
                && !candidate.contains('\\')
                && !candidate.chars().any(char::is_control);
            if !safe {
                return None;
            }
        }
        // A last check with a real URL parser: relative to any base it stays on that base.
        let base = url::Url::parse("https://tessera.invalid/").ok()?;
        let joined = base.join(raw).ok()?;
        (joined.origin() == base.origin()).then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for ok in ["/account", "/authorize?client_id=a&state=b%20c", "/"] {
            assert_eq!(
                ReturnTo::parse(ok).map(|r| r.0),
                Some(ok.to_string()),
                "{ok}"
            );
        }
    }

    #[test]
    fn anything_that_leaves_the_site_is_refused() {
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2Fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "javascript:alert(1)",
            "/\tevil",
            "/%09/evil.example",
            "account",
            "",
        ] {
            assert_eq!(ReturnTo::parse(bad), None, "{bad}");
        }
    }
}
