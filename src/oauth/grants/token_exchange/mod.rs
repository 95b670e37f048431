//! The token-exchange grant (RFC 8693): a client presents a token it holds (the subject) and,
//! optionally, one of the party acting for it (the actor), and gets a token for another use.
//! This module reads and checks the request of §2.1 and picks the path that serves it; each
//! path is a module beside it: Native SSO (an ID token and a device secret, OpenID Connect
//! Native SSO for Mobile Apps 1.0 §4) and access tokens (delegation to another API).

pub mod access_token;
pub mod native_sso;

use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::resource::Resource;
use crate::oauth::scope::Scope;
use crate::oauth::token::{TokenContext, TokenRequest, TokenResponse};

/// Token type identifiers (RFC 8693 §3, Native SSO §4.1) this server understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    AccessToken,
    RefreshToken,
    IdToken,
    Jwt,
    /// Native SSO §4.1.
    DeviceSecret,
}

impl TokenType {
    const ALL: [TokenType; 5] = [
        Self::AccessToken,
        Self::RefreshToken,
        Self::IdToken,
        Self::Jwt,
        Self::DeviceSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "urn:ietf:params:oauth:token-type:access_token",
            Self::RefreshToken => "urn:ietf:params:oauth:token-type:refresh_token",
            Self::IdToken => "urn:ietf:params:oauth:token-type:id_token",
            Self::Jwt => "urn:ietf:params:oauth:token-type:jwt",
            Self::DeviceSecret => "urn:openid:params:token-type:device-secret",
        }
    }

    /// RFC 8693 §2.2.2: a type the server does not support is `invalid_request`.
    fn parse(parameter: &str, raw: &str) -> Result<Self, OAuthError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| unsupported(parameter, raw))
    }
}

fn unsupported(parameter: &str, raw: &str) -> OAuthError {
    OAuthError::invalid_request(format!(
        "{parameter} '{}' is not supported (RFC 8693 §2.2.2)",
        raw.escape_default()
    ))
}

/// A token-exchange request whose parameters passed RFC 8693 §2.1.
#[derive(Debug, Clone)]
pub struct ExchangeRequest<'a> {
    pub subject_token: &'a str,
    pub subject_token_type: TokenType,
    /// `actor_token` with its `actor_token_type`: §2.1 allows only both or neither.
    pub actor: Option<(&'a str, TokenType)>,
    /// What the client asked for; `None`: an access token (§2.1 leaves the default to us).
    pub requested_token_type: Option<TokenType>,
    pub audience: Option<&'a str>,
    pub resource: Option<Resource>,
    pub scope: Option<Scope>,
    /// RFC 9449: the key of the request's DPoP proof, when it sent a valid one.
    pub dpop_jkt: Option<&'a str>,
}

impl<'a> ExchangeRequest<'a> {
    /// RFC 8693 §2.1. Each parameter appears at most once (the HTTP layer refuses repeats).
    pub fn parse(request: &'a TokenRequest) -> Result<Self, OAuthError> {
        let required = |name: &str| {
            request.get(name).ok_or_else(|| {
                OAuthError::invalid_request(format!(
                    "the {name} parameter is missing (RFC 8693 §2.1)"
                ))
            })
        };
        let subject_token = required("subject_token")?;
        let subject_token_type =
            TokenType::parse("subject_token_type", required("subject_token_type")?)?;
        let actor = match (request.get("actor_token"), request.get("actor_token_type")) {
            (Some(token), Some(kind)) => Some((token, TokenType::parse("actor_token_type", kind)?)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type is required with actor_token (RFC 8693 §2.1)",
                ));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "actor_token_type must not be sent without actor_token (RFC 8693 §2.1)",
                ));
            }
        };
        let requested_token_type = request
            .get("requested_token_type")
            .map(|raw| TokenType::parse("requested_token_type", raw))
            .transpose()?;
        // §2.1: `resource` is an absolute URI without a fragment (RFC 8707 §2), kept as sent:
        // it names a registered API by its identifier, which a URL parser would normalize.
        // §2.2.2: a target the server will not issue for is `invalid_target`; the value is
        // not echoed (it may be long, or anything at all).
        let resource = request
            .get("resource")
            .map(|raw| {
                Resource::parse(raw).map_err(|e| {
                    OAuthError::InvalidTarget(
                        format!("the resource {} (RFC 8707 §2)", e.why()).into(),
                    )
                })
            })
            .transpose()?;
        let scope = request
            .get("scope")
            .map(|raw| {
                Scope::parse(raw).map_err(|e| OAuthError::InvalidScope(e.to_string().into()))
            })
            .transpose()?;
        Ok(Self {
            subject_token,
            subject_token_type,
            actor,
            requested_token_type,
            audience: request.get("audience"),
            resource,
            scope,
            dpop_jkt: request.dpop_jkt(),
        })
    }
}

pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let request = ExchangeRequest::parse(request)?;
    match (request.subject_token_type, request.actor) {
        (TokenType::IdToken, Some((device_secret, TokenType::DeviceSecret))) => {
            native_sso::exchange(ctx, client, &request, device_secret).await
        }
        (TokenType::IdToken, _) => Err(OAuthError::invalid_request(
            "an ID token is exchanged only with a device secret as actor_token \
             (actor_token_type urn:openid:params:token-type:device-secret, Native SSO §4.1)",
        )),
        (TokenType::AccessToken, _) => access_token::exchange(ctx, client, &request).await,
        (other, _) => Err(unsupported("subject_token_type", other.as_str())),
    }
}
