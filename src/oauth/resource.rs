//! Resource indicators (RFC 8707): `Resource`, the identifier of an API, and the audience
//! rules that pick what an access token is for.

use std::fmt;
use std::time::Duration;

use url::{Host, Url};

use super::scope::Scope;
use crate::keys::SigningAlg;

/// An API's identifier: an absolute URI without a fragment (RFC 8707 §2), `https`, or `http`
/// on a loopback host for development. Kept as the exact string: it is the token's `aud`,
/// which resource servers compare as a string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{uri}' {why}")]
pub struct ResourceError {
    uri: String,
    why: &'static str,
}

/// A value as an error message shows it: escaped, and cut short, since it comes from the
/// request and may be anything, of any length (it goes back in `error_description`).
fn shown(raw: &str) -> String {
    const MOST: usize = 120;
    let escaped = raw.escape_default().to_string();
    match escaped.char_indices().nth(MOST) {
        Some((at, _)) => format!("{}…", &escaped[..at]),
        None => escaped,
    }
}

impl ResourceError {
    /// What is wrong, without the value (which may be long, or anything at all).
    pub fn why(&self) -> &'static str {
        self.why
    }
}

impl Resource {
    pub fn parse(raw: &str) -> Result<Self, ResourceError> {
        let bad = |why| ResourceError {
            uri: shown(raw),
            why,
        };
        // Lists of resources are stored space-separated, and a URI has no spaces anyway.
        if raw.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("is empty or contains a space or a control character"));
        }
        let url = Url::parse(raw).map_err(|_| {
            bad("is not an absolute URI (RFC 8707 §2); write e.g. https://api.example.com")
        })?;
        if raw.contains('#') {
            return Err(bad("must not contain a fragment (RFC 8707 §2)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain user credentials"));
        }
        match (url.scheme(), url.host()) {
            ("https", Some(_)) => {}
            ("http", Some(host)) if is_loopback(&host) => {}
            _ => {
                return Err(bad(
                    "must be an https URI (http only on 127.0.0.1, [::1] and localhost)",
                ));
            }
        }
        Ok(Self(raw.to_string()))
    }

    /// An identifier being registered: `parse`, at most `MAX_IDENTIFIER` bytes (it is a
    /// primary key, and PostgreSQL's btree refuses keys over ~2.7 KB), and written in the
    /// canonical form the URL parser gives it (a bare origin may leave off the final `/`). A
    /// token's `aud` is compared as a string, so `HTTPS://`, `:443`, `/a/../b` or a host with
    /// a trailing dot would be a second name for the same API.
    pub fn parse_identifier(raw: &str) -> Result<Self, ResourceError> {
        let bad = |why| ResourceError {
            uri: raw
                .chars()
                .take(80)
                .collect::<String>()
                .escape_default()
                .to_string(),
            why,
        };
        if raw.len() > MAX_IDENTIFIER {
            return Err(bad("is too long: at most 512 bytes"));
        }
        let parsed = Self::parse(raw)?;
        let url = Url::parse(raw).map_err(|_| bad("is not an absolute URI"))?;
        let canonical = url.as_str();
        let bare_origin = url.path() == "/" && url.query().is_none() && !raw.ends_with('/');
        if !(canonical == raw || bare_origin && canonical.strip_suffix('/') == Some(raw)) {
            return Err(bad(
                "is not in canonical form (lowercase scheme and host, no default port, no \
                 dot segments, escapes as the URL standard writes them)",
            ));
        }
        if url.host_str().is_some_and(|h| h.ends_with('.')) {
            return Err(bad("must not end its host with a dot"));
        }
        Ok(parsed)
    }

    /// Whether this identifier is `issuer` or a URL under it (same scheme, host and port; its
    /// path the issuer's or below, ignoring case and a final slash). Tessera's own endpoints
    /// live there, and a token whose `aud` is the issuer reads as one for Tessera itself: no
    /// API may take such a name.
    pub fn is_at_or_under(&self, issuer: &str) -> bool {
        let (Ok(id), Ok(iss)) = (Url::parse(&self.0), Url::parse(issuer)) else {
            return false;
        };
        let same_origin = id.scheme().eq_ignore_ascii_case(iss.scheme())
            && id
                .host_str()
                .zip(iss.host_str())
                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
            && id.port_or_known_default() == iss.port_or_known_default();
        if !same_origin {
            return false;
        }
        let base = iss.path().trim_end_matches('/').to_ascii_lowercase();
        let path = id.path().to_ascii_lowercase();
        base.is_empty()
            || path.trim_end_matches('/') == base
            || path.starts_with(&format!("{base}/"))
    }

    /// The form two identifiers are compared in for look-alikes: ASCII case folded and
    /// trailing slashes dropped.
    pub fn folded(&self) -> String {
        self.0
            .to_ascii_lowercase()
            .trim_end_matches('/')
            .to_string()
    }

    /// A value read back from the store, which only ever holds parsed identifiers.
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest API identifier registration accepts, in bytes.
pub const MAX_IDENTIFIER: usize = 512;

/// At most this many `resource` values in one request: a request names the APIs it needs,
/// and the values are checked before the client has authenticated.
pub const MAX_REQUESTED: usize = 10;

/// Adds one `resource` value of a request to the space-joined list the HTTP layer carries.
/// A value that itself contains a space would be read back as several resources, so it is
/// refused here (RFC 8707 §2: not an absolute URI), and so is an eleventh value.
pub fn push_requested(joined: &mut String, value: &str) -> Result<(), ResourceError> {
    let bad = |why| ResourceError {
        uri: shown(value),
        why,
    };
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains a space or a control character (RFC 8707 §2)"));
    }
    if joined.split(' ').filter(|s| !s.is_empty()).count() >= MAX_REQUESTED {
        return Err(bad("is one resource too many: at most 10 per request"));
    }
    if !joined.is_empty() {
        joined.push(' ');
    }
    joined.push_str(value);
    Ok(())
}

/// The `resource` values of a request, in order and without repeats, from the list that
/// `push_requested` built. RFC 8707 §2: each must be an absolute URI without a fragment,
/// else `invalid_target`.
pub fn parse_requested(joined: Option<&str>) -> Result<Vec<Resource>, ResourceError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out: Vec<Resource> = Vec::new();
    for raw in joined
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        let r = Resource::parse(raw)?;
        if out.len() >= MAX_REQUESTED {
            return Err(ResourceError {
                uri: shown(raw),
                why: "is one resource too many: at most 10 per request",
            });
        }
        if seen.insert(r.clone()) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Resources as the store keeps them: space-separated.
pub fn join(resources: &[Resource]) -> String {
    resources
        .iter()
        .map(Resource::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn split_stored(stored: &str) -> Vec<Resource> {
    stored
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| Resource::from_stored(s.to_string()))
        .collect()
}

/// A registered API, as the token endpoint needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub identifier: Resource,
    pub name: Option<String>,
    /// The scopes the API defines.
    pub scopes: Scope,
    pub access_token_ttl: Option<Duration>,
    pub signing_alg: Option<SigningAlg>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a token for some APIs looks like: its audience, the scopes it carries, and the
/// lifetime and algorithm the APIs ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub aud: Vec<String>,
    pub scope: Scope,
    pub ttl: Option<Duration>,
    pub signing_alg: Option<SigningAlg>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudienceError {
    #[error("the APIs {0} and {1} are signed with different algorithms; ask for one at a time")]
    MixedAlgorithms(String, String),
    #[error("none of the granted scopes is defined by {0}")]
    NoScope(String),
}

/// The token for `apis` (already checked: registered and allowed to the client): only the
/// granted scopes that one of the APIs defines (RFC 8707 §2: the server audience-restricts
/// and may down-scope the token), the shortest lifetime any of them asks for, and their
/// common algorithm. A token that would carry no scope is refused (`invalid_scope`): a token
/// for an API that grants nothing on it is a mistake in the request.
pub fn audience_for(apis: &[Api], granted: &Scope) -> Result<Audience, AudienceError> {
    let defined = apis
        .iter()
        .fold(Scope::empty(), |all, api| all.union(&api.scopes));
    let scope = granted.intersection(&defined);
    if scope.is_empty() {
        return Err(AudienceError::NoScope(
            apis.iter()
                .map(|a| a.identifier.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    let ttl = apis.iter().filter_map(|a| a.access_token_ttl).min();
    let mut signing_alg: Option<(SigningAlg, &Resource)> = None;
    for api in apis {
        match (api.signing_alg, signing_alg) {
            (Some(alg), Some((seen, by))) if alg != seen => {
                return Err(AudienceError::MixedAlgorithms(
                    by.to_string(),
                    api.identifier.to_string(),
                ));
            }
            (Some(alg), None) => signing_alg = Some((alg, &api.identifier)),
            _ => {}
        }
    }
    Ok(Audience {
        aud: apis.iter().map(|a| a.identifier.to_string()).collect(),
        scope,
        ttl,
        signing_alg: signing_alg.map(|(alg, _)| alg),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_at_or_under_the_issuer_are_recognised() {
        let at = |id: &str, issuer: &str| Resource(id.into()).is_at_or_under(issuer);
        for id in [
            "https://id.example.com",
            "https://id.example.com/",
            "https://id.example.com/token",
            "https://ID.example.com:443/userinfo",
        ] {
            assert!(at(id, "https://id.example.com"), "{id}");
        }
        assert!(at("https://x.example/tenant", "https://x.example/tenant/"));
        assert!(at(
            "https://x.example/Tenant/api",
            "https://x.example/tenant"
        ));
        for id in [
            "https://id.example.com.evil",
            "https://api.id.example.com",
            "http://id.example.com/api",
            "https://id.example.com:8443/api",
            "https://x.example/tenantB",
            "https://x.example/",
        ] {
            let issuer = if id.starts_with("https://x.") {
                "https://x.example/tenant"
            } else {
                "https://id.example.com"
            };
            assert!(!at(id, issuer), "{id}");
        }
    }

    #[test]
    fn identifiers_are_absolute_https_uris_without_fragments() {
        for ok in [
            "https://api.example.com",
            "https://api.example.com/orders",
            "http://127.0.0.1:9000/api",
            "http://localhost/api",
        ] {
            assert!(Resource::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/orders",
            "api.example.com",
            "https://api.example.com/#frag",
            "https://api.example.com#",
            "http://api.example.com",
            "https://user:pw@api.example.com",
            "https://api.example.com/a b",
            "urn:example:api",
        ] {
            assert!(Resource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registered_identifiers_are_canonical_and_short() {
        for ok in [
            "https://api.example.com",
            "https://api.example.com/",
            "https://api.example.com/orders",
            "https://api.example.com:8443/v1",
        ] {
            assert!(Resource::parse_identifier(ok).is_ok(), "{ok}");
        }
        let long = format!("https://api.example.com/{}", "a".repeat(3000));
        for bad in [
            "HTTPS://api.example.com",
            "https://API.example.com",
            "https://api.example.com:443",
            "https://api.example.com:443/x",
            "https://api.example.com./",
            "https://api.example.com/a/../b",
            long.as_str(),
        ] {
            assert!(Resource::parse_identifier(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requested_resources_split_and_dedup() {
        let r = parse_requested(Some(
            "https://a.example https://b.example https://a.example",
        ))
        .unwrap();
        assert_eq!(join(&r), "https://a.example https://b.example");
        assert!(parse_requested(Some("https://a.example /relative")).is_err());
        assert!(parse_requested(None).unwrap().is_empty());
    }

    #[test]
    fn a_value_with_a_space_is_not_two_resources() {
        let mut joined = String::new();
        push_requested(&mut joined, "https://a.example").unwrap();
        assert!(push_requested(&mut joined, "https://b.example https://c.example").is_err());
        assert!(push_requested(&mut joined, "https://b.example\thttps://c.example").is_err());
        assert_eq!(joined, "https://a.example");
    }

    #[test]
    fn at_most_ten_resources_per_request() {
        let mut joined = String::new();
        for i in 0..MAX_REQUESTED {
            push_requested(&mut joined, &format!("https://a{i}.example")).unwrap();
        }
        assert!(push_requested(&mut joined, "https://a.example").is_err());
        let eleven = format!("{joined} https://z.example");
        assert!(parse_requested(Some(&eleven)).is_err());
        assert_eq!(parse_requested(Some(&joined)).unwrap().len(), MAX_REQUESTED);
    }

    fn api(id: &str, scopes: &str, ttl: Option<u64>, alg: Option<SigningAlg>) -> Api {
        Api {
            identifier: Resource::parse(id).unwrap(),
            name: None,
            scopes: Scope::parse(scopes).unwrap(),
            access_token_ttl: ttl.map(Duration::from_secs),
            signing_alg: alg,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_audience_keeps_only_scopes_the_apis_define() {
        let a = api("https://a.example", "a.read a.write", Some(600), None);
        let b = api(
            "https://b.example",
            "b.read",
            Some(120),
            Some(SigningAlg::EdDsa),
        );
        let granted = Scope::parse("openid a.read b.read c.read").unwrap();
        let one = audience_for(std::slice::from_ref(&a), &granted).unwrap();
        assert_eq!(one.scope.to_string(), "a.read");
        assert_eq!(one.ttl, Some(Duration::from_secs(600)));
        let both = audience_for(&[a.clone(), b], &granted).unwrap();
        assert_eq!(both.aud, ["https://a.example", "https://b.example"]);
        assert_eq!(both.scope.to_string(), "a.read b.read");
        assert_eq!(both.ttl, Some(Duration::from_secs(120)));
        assert_eq!(both.signing_alg, Some(SigningAlg::EdDsa));
        assert!(matches!(
            audience_for(&[a], &Scope::parse("openid").unwrap()),
            Err(AudienceError::NoScope(_))
        ));
    }

    #[test]
    fn apis_with_different_algorithms_cannot_share_a_token() {
        let a = api("https://a.example", "a", None, Some(SigningAlg::Es256));
        let b = api("https://b.example", "b", None, Some(SigningAlg::EdDsa));
        assert!(matches!(
            audience_for(&[a, b], &Scope::parse("a b").unwrap()),
            Err(AudienceError::MixedAlgorithms(..))
        ));
    }
}
