//! Claim sets of the JWTs Tessera issues.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// An access token's claims (RFC 9068 §2.2). Optional members are left out when absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user, or for client_credentials the client itself (RFC 9068 §2.2).
    pub sub: String,
    /// What the token is for: the client id, or the API(s) a `resource` named (RFC 8707);
    /// one string, or an array when there are several (RFC 7519 §4.1.3).
    pub aud: Aud,
    pub client_id: String,
    /// Space-separated granted scopes (RFC 9068 §2.2.3); absent when none were granted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub jti: String,
    /// The SSO session (OIDC Front/Back-Channel Logout `sid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixTime>,
    /// The user's roles (RFC 9068 §2.2.3.1, RFC 7643 §4.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Private claim: the refresh-token family the token came from, so that revoking the
    /// family reaches its access tokens through the revocation list (DESIGN §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
    /// The `kid` of the key that signed the token: a JWS header member, not a claim (never
    /// serialized), set by verification so that a revoked key's tokens are found by the
    /// revocation list like any other (issue 13).
    #[serde(skip)]
    pub kid: Option<String>,
    /// RFC 8693 §4.1: who acts for the subject after a delegated token exchange; nested when
    /// the subject token already had an actor (the prior actors, most recent outermost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
    /// RFC 8693 §4.4: who may act for the subject. Tessera never mints it; a token that
    /// carries it is exchanged only by an actor it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<Act>,
    /// RFC 9449 §6.1: the thumbprint of the DPoP key the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::oauth::dpop::Cnf>,
    /// Private claim: the tokens a token exchange (RFC 8693) made this one from, oldest
    /// first, one per exchange, so that revoking any of them, its client or its signing key
    /// reaches this token too (the revocation list checks every origin). At most
    /// `MAX_EXCHANGES` long, which also bounds `act` nesting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xo: Vec<Origin>,
}

/// What a family started by a token exchange (`--exchange-refresh`) keeps of it, so that
/// each access token its refresh tokens bring carries the same `xo` and `act`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangedFrom {
    pub xo: Vec<Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
}

/// How many exchanges a token may be made through: each adds one `Origin` (and at most one
/// level of `act`), so this bounds the token's size.
pub const MAX_EXCHANGES: usize = 4;

/// A subject token of a token exchange, as little of it as revocation needs: short names,
/// since a token carries up to `MAX_EXCHANGES` of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Its `client_id`.
    pub c: String,
    /// Its `jti`.
    pub j: String,
    /// The `kid` that signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
    /// Its refresh family (`fam`), when it is not the new token's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<String>,
    /// Its audiences (`aud`): removing one of those APIs, or taking it from the token's
    /// client, reaches the new token too. Empty in tokens minted before it was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub a: Vec<String>,
    /// Whether the exchange that took this token had an actor token (a delegation, RFC 8693
    /// §1.1); without one another client impersonated (`oauth::exchange_rights`). False in
    /// tokens minted before it was kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub d: bool,
}

/// An actor (RFC 8693 §4.1): the party that acts, and before it the one it acted for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Act {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Act>>,
}

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3). Every verifier asks
/// `contains`, never compares the whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Aud {
    One(String),
    Many(Vec<String>),
}

impl Aud {
    /// One string for one audience, an array for several (an empty list is not an audience:
    /// callers always name one).
    pub fn from_list(mut list: Vec<String>) -> Self {
        if list.len() == 1 {
            Self::One(list.remove(0))
        } else {
            Self::Many(list)
        }
    }

    /// Every audience named.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&String>, &[String]) = match self {
            Self::One(one) => (Some(one), &[]),
            Self::Many(many) => (None, many),
        };
        one.into_iter().chain(many).map(String::as_str)
    }

    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|a| a == audience),
        }
    }

    /// Whether the token is only for its own client (`aud` = `client_id`): what the userinfo
    /// endpoint and the admin API accept. A token for an API is for that API alone.
    pub fn is_only(&self, client_id: &str) -> bool {
        matches!(self, Self::One(one) if one == client_id)
    }
}

impl Default for Aud {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

impl From<String> for Aud {
    fn from(s: String) -> Self {
        Self::One(s)
    }
}

impl From<&str> for Aud {
    fn from(s: &str) -> Self {
        Self::One(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_audience_is_a_string_and_several_an_array() {
        let one = Aud::from_list(vec!["a".into()]);
        assert_eq!(serde_json::to_value(&one).unwrap(), serde_json::json!("a"));
        let two = Aud::from_list(vec!["a".into(), "b".into()]);
        assert_eq!(
            serde_json::to_value(&two).unwrap(),
            serde_json::json!(["a", "b"])
        );
        let back: Aud = serde_json::from_value(serde_json::json!(["a", "b"])).unwrap();
        assert!(back.contains("b") && !back.is_only("a"));
        assert!(one.is_only("a") && !one.is_only("b"));
    }
}
