//! `RedirectUri`: a registered redirection endpoint, and the rule that matches a presented one.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use url::{Host, Url};

use super::client::ClientType;

/// A redirect URI as registered: kept as the exact string (matching is by string, RFC 9700
/// §4.1.3) together with its parsed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    raw: String,
    url: Url,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{uri}' {why}")]
pub struct RedirectUriError {
    uri: String,
    why: &'static str,
}

impl RedirectUri {
    /// Rules (RFC 6749 §3.1.2, RFC 9700 §4.1, RFC 8252 §7 and §8.3):
    /// - absolute, without a fragment or user credentials;
    /// - `https`, or `http` only on a loopback host (127.0.0.1, [::1], localhost);
    /// - a private-use scheme (reverse domain name, e.g. `com.example.app:/cb`) only for a
    ///   public (native) client.
    pub fn parse(raw: &str, client_type: ClientType) -> Result<Self, RedirectUriError> {
        let bad = |why| RedirectUriError {
            uri: raw.escape_default().to_string(),
            why,
        };
        if raw.is_empty() {
            return Err(bad("is empty"));
        }
        // The URL parser would quietly percent-encode these, and the exact string is what is
        // matched (and what the store separates lists by).
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains a space or a control character"));
        }
        let url = Url::parse(raw).map_err(|_| {
            bad("is not an absolute URI (RFC 6749 §3.1.2); write e.g. https://app.example.com/callback")
        })?;
        if raw.contains('#') {
            return Err(bad("must not contain a fragment (RFC 6749 §3.1.2)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain user credentials"));
        }
        match url.scheme() {
            "https" => {
                if url.host().is_none() {
                    return Err(bad("has no host"));
                }
            }
            "http" => {
                if !url.host().as_ref().is_some_and(is_loopback) {
                    return Err(bad("uses http on a host that is not loopback; use https \
                         (http is allowed only for 127.0.0.1, [::1] and localhost)"));
                }
            }
            scheme => {
                if client_type != ClientType::Public {
                    return Err(bad(
                        "uses a private-use scheme, which only public (native) clients may \
                         register (RFC 8252 §7.1); use https",
                    ));
                }
                if !scheme.contains('.') {
                    return Err(bad(
                        "has a scheme that is not https, http on loopback, or a private-use \
                         scheme in reverse-domain form like com.example.app:/callback (RFC 8252 §7.1)",
                    ));
                }
            }
        }
        Ok(Self {
            raw: raw.to_string(),
            url,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether `presented` names this registered URI: the exact string (RFC 9700 §4.1.3), or,
    /// for a public (native) client whose registered URI is an `http` loopback IP literal,
    /// the same URI on any port (RFC 8252 §7.3).
    pub fn matches(&self, presented: &str, client_type: ClientType) -> bool {
        if presented == self.raw {
            return true;
        }
        if client_type != ClientType::Public || !self.is_loopback_ip_literal() {
            return false;
        }
        let Ok(other) = Url::parse(presented) else {
            return false;
        };
        other.scheme() == "http"
            && other.host() == self.url.host()
            && other.username().is_empty()
            && other.password().is_none()
            && other.path() == self.url.path()
            && other.query() == self.url.query()
            && !presented.contains('#')
    }

    /// `http://127.0.0.1…` or `http://[::1]…`: RFC 8252 §7.3 lets the port vary. Not
    /// `localhost`, which §8.3 advises against because it may not resolve to loopback.
    fn is_loopback_ip_literal(&self) -> bool {
        self.url.scheme() == "http"
            && matches!(self.url.host(), Some(Host::Ipv4(_) | Host::Ipv6(_)))
            && self.url.host().as_ref().is_some_and(is_loopback)
    }
}

/// The registered URI that `presented` matches, if any.
pub fn find_match<'a>(
    registered: &'a [RedirectUri],
    presented: &str,
    client_type: ClientType,
) -> Option<&'a RedirectUri> {
    registered
        .iter()
        .find(|r| r.matches(presented, client_type))
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientType::{Confidential, Public};

    fn ok(raw: &str, t: ClientType) -> RedirectUri {
        RedirectUri::parse(raw, t).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn err(raw: &str, t: ClientType) -> String {
        RedirectUri::parse(raw, t).unwrap_err().to_string()
    }

    #[test]
    fn https_and_loopback_http_are_accepted_for_every_client() {
        for t in [Confidential, Public] {
            ok("https://app.example.com/cb", t);
            ok("https://app.example.com/cb?tenant=1", t);
            ok("http://127.0.0.1:8080/cb", t);
            ok("http://[::1]/cb", t);
            ok("http://localhost:3000/cb", t);
        }
    }

    #[test]
    fn relative_uris_fragments_and_credentials_are_refused() {
        assert!(err("/cb", Confidential).contains("not an absolute URI"));
        assert!(err("app.example.com/cb", Confidential).contains("not an absolute URI"));
        assert!(err("", Confidential).contains("empty"));
        for spaced in [
            " https://a.example/cb",
            "https://a.example/a b",
            "https://a.example/\n",
        ] {
            assert!(err(spaced, Confidential).contains("space"), "{spaced:?}");
        }
        assert!(err("https://app.example.com/cb#x", Confidential).contains("fragment"));
        assert!(err("https://app.example.com/cb#", Confidential).contains("fragment"));
        assert!(err("https://u:p@app.example.com/cb", Confidential).contains("credentials"));
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        assert!(err("http://app.example.com/cb", Confidential).contains("not loopback"));
        assert!(err("http://10.0.0.1/cb", Public).contains("not loopback"));
    }

    #[test]
    fn private_use_schemes_are_for_native_clients_only() {
        ok("com.example.app:/oauth2redirect", Public);
        assert!(err("com.example.app:/cb", Confidential).contains("RFC 8252"));
        // Not reverse-domain: refused, which also keeps javascript:, data: and file: out.
        for bad in [
            "myapp:/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
        ] {
            assert!(err(bad, Public).contains("reverse-domain"), "{bad}");
        }
    }

    #[test]
    fn matching_is_by_exact_string() {
        let r = ok("https://app.example.com/cb", Confidential);
        assert!(r.matches("https://app.example.com/cb", Confidential));
        for other in [
            "https://app.example.com/cb/",
            "https://APP.example.com/cb",
            "https://app.example.com/cb?x=1",
            "https://app.example.com:443/cb",
            "https://app.example.com/cb#",
            "https://app.example.com/CB",
        ] {
            assert!(!r.matches(other, Confidential), "{other}");
            assert!(!r.matches(other, Public), "{other}");
        }
    }

    #[test]
    fn a_native_clients_loopback_redirect_may_use_any_port() {
        let v4 = ok("http://127.0.0.1/cb", Public);
        assert!(v4.matches("http://127.0.0.1:51004/cb", Public));
        assert!(!v4.matches("http://127.0.0.1:51004/other", Public));
        assert!(!v4.matches("http://127.0.0.1:51004/cb?x=1", Public));
        assert!(!v4.matches("http://127.0.0.1:51004/cb#f", Public));
        assert!(!v4.matches("https://127.0.0.1:51004/cb", Public));
        assert!(!v4.matches("http://[::1]:51004/cb", Public));
        // Confidential (web) clients get exact matching only.
        assert!(!v4.matches("http://127.0.0.1:51004/cb", Confidential));

        let v6 = ok("http://[::1]:8000/cb", Public);
        assert!(v6.matches("http://[::1]:1234/cb", Public));

        // `localhost` is not an IP literal (RFC 8252 §8.3): exact match only.
        let named = ok("http://localhost:8000/cb", Public);
        assert!(!named.matches("http://localhost:9000/cb", Public));
        assert!(named.matches("http://localhost:8000/cb", Public));
    }

    #[test]
    fn find_match_picks_the_registered_uri() {
        let list = [
            ok("https://a.example/cb", Public),
            ok("http://127.0.0.1/cb", Public),
        ];
        assert_eq!(
            find_match(&list, "http://127.0.0.1:9/cb", Public).map(RedirectUri::as_str),
            Some("http://127.0.0.1/cb")
        );
        assert!(find_match(&list, "https://evil.example/cb", Public).is_none());
    }
}
