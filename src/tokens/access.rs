//! Access tokens: JWTs per RFC 9068, `typ: at+jwt`, signed with the ring's active key.
//! Every grant mints through `mint`; resource-side checks go through `verify_access_token`.

use std::time::Duration;

use super::claims::{AccessClaims, Act, Aud, Origin};
use super::jws::{self, JwsError};
use crate::clock::UnixTime;
use crate::keys::{KeyRing, SigningKey};

/// RFC 9068 §2.1: the `typ` header of an access token.
pub const TYP: &str = "at+jwt";

/// What a grant decided; `mint` adds iss, iat, exp and jti.
#[derive(Debug, Clone, Default)]
pub struct AccessGrant {
    pub subject: String,
    pub audience: Aud,
    pub client_id: String,
    /// Space-separated; empty when no scope was granted.
    pub scope: String,
    pub ttl: Duration,
    pub sid: Option<String>,
    pub auth_time: Option<UnixTime>,
    pub roles: Option<Vec<String>>,
    pub family: Option<String>,
    /// RFC 8693 §4.1: set by a delegated token exchange.
    pub act: Option<Act>,
    /// RFC 8693 §4.4. No grant sets it today (a policy could); a token that carries it is
    /// exchanged only by the actors it names.
    pub may_act: Option<Act>,
    /// Private claim `xo`: what a token exchange made this token from.
    pub origins: Vec<Origin>,
    /// RFC 9449 §6: the DPoP key (thumbprint) the token is bound to.
    pub dpop_jkt: Option<String>,
}

impl AccessToken {
    /// RFC 9449 §5: `DPoP` for a bound token, `Bearer` otherwise (RFC 6750).
    pub fn token_type(&self) -> &'static str {
        match self.claims.cnf {
            Some(_) => "DPoP",
            None => "Bearer",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: String,
    pub claims: AccessClaims,
    /// Seconds until expiry, the `expires_in` of the token response.
    pub expires_in: u64,
}

/// Signs an access token valid from `now` for `grant.ttl`.
pub fn mint(
    key: &SigningKey,
    issuer: &str,
    grant: AccessGrant,
    now: UnixTime,
) -> Result<AccessToken, JwsError> {
    let expires_in = grant.ttl.as_secs();
    let claims = AccessClaims {
        iss: issuer.to_string(),
        sub: grant.subject,
        aud: grant.audience,
        client_id: grant.client_id,
        scope: grant.scope,
        exp: now.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX)),
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        sid: grant.sid,
        auth_time: grant.auth_time,
        roles: grant.roles,
        fam: grant.family,
        act: grant.act,
        may_act: grant.may_act,
        xo: grant.origins,
        cnf: grant.dpop_jkt.map(|jkt| crate::oauth::dpop::Cnf { jkt }),
        // Not serialized (a header member); only verification needs it.
        kid: None,
    };
    let token = jws::sign(key, TYP, &claims)?;
    Ok(AccessToken {
        token,
        claims,
        expires_in,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    #[error("the token is not an access token (typ must be at+jwt)")]
    WrongType,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued by another issuer")]
    OtherIssuer,
    #[error(transparent)]
    Jws(#[from] JwsError),
}

/// Checks signature (key chosen by `kid`, algorithm from the key), `typ` (RFC 9068 §4: also
/// `application/at+jwt`), `iss`, and `exp` against `now` rather than the wall clock. The
/// audience is left to the resource server, which knows who it is. The registered claims
/// RFC 9068 §2.2 requires (iss, exp, aud, sub, client_id, iat, jti) are required members of
/// `AccessClaims`, so a token without one fails to parse.
pub fn verify_access_token(
    ring: &KeyRing,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<AccessClaims, AccessTokenError> {
    let (header, payload) = jws::verify_signature(ring, token)?;
    // The type first: an ID token (or any other JWT of ours) is refused as such, whatever
    // its claims.
    let typ = header.typ.as_deref().unwrap_or_default();
    if !typ.eq_ignore_ascii_case(TYP) && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(AccessTokenError::WrongType);
    }
    let mut claims: AccessClaims = jws::parse_claims(&payload)?;
    claims.kid = header.kid;
    if claims.iss != issuer {
        return Err(AccessTokenError::OtherIssuer);
    }
    if now >= claims.exp {
        return Err(AccessTokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::keys::test_ring as ring;

    fn payload(token: &str) -> serde_json::Value {
        use base64::Engine;
        let part = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn user_claims_round_trip_and_are_left_out_when_absent() {
        let (_dir, ring) = ring();
        let grant = AccessGrant {
            subject: "user-1".into(),
            audience: "api".into(),
            client_id: "app".into(),
            scope: "openid profile".into(),
            ttl: Duration::from_secs(60),
            sid: Some("sid-1".into()),
            auth_time: Some(990),
            roles: Some(vec!["admin".into()]),
            family: Some("fam-1".into()),
            act: None,
            may_act: None,
            origins: Vec::new(),
            dpop_jkt: None,
        };
        let minted = mint(ring.active().unwrap(), "https://id.example", grant, 1000).unwrap();
        assert_eq!(minted.expires_in, 60);
        let claims = verify_access_token(&ring, "https://id.example", &minted.token, 1059).unwrap();
        // Verification adds the signing key's kid (from the header: never a claim).
        let kid = Some(ring.active().unwrap().kid().to_string());
        assert_eq!(
            claims,
            AccessClaims {
                kid,
                ..minted.claims
            }
        );
        assert!(payload(&minted.token).get("kid").is_none());
        assert_eq!(claims.fam.as_deref(), Some("fam-1"));
        assert_eq!(payload(&minted.token)["fam"], "fam-1");

        let bare = AccessGrant {
            subject: "svc".into(),
            audience: "svc".into(),
            client_id: "svc".into(),
            ttl: Duration::from_secs(60),
            ..AccessGrant::default()
        };
        let minted = mint(ring.active().unwrap(), "https://id.example", bare, 1000).unwrap();
        let json = payload(&minted.token);
        for absent in ["scope", "sid", "auth_time", "roles", "fam"] {
            assert!(json.get(absent).is_none(), "{absent}: {json}");
        }
        // Expiry is judged by the `now` argument alone.
        assert!(matches!(
            verify_access_token(&ring, "https://id.example", &minted.token, 1060),
            Err(AccessTokenError::Expired)
        ));
    }
}
