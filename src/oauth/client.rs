//! OAuth clients (DESIGN §6): identifiers, types, grant types, and a registration checked as a
//! whole (the rules that relate one field to another live here, not in the CLI).

use std::fmt;
use std::time::Duration;

use url::Url;

use super::redirect_uri::{RedirectUri, RedirectUriError};
use super::scope::Scope;
use super::sso_group::SsoGroup;
use crate::clock::UnixTime;
use crate::keys::SigningAlg;

/// Longest access-token lifetime a client may ask for (DESIGN §3).
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A client identifier: 1 to 128 URL-safe characters (`A-Z a-z 0-9 - . _ ~`), so it needs no
/// escaping in URLs, forms or Basic credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(pub String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, ClientError> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(ClientError(format!(
                "'{}' is not a client id (1 to 128 characters of A-Z a-z 0-9 - . _ ~)",
                raw.escape_default()
            )))
        }
    }

    /// A new random identifier (122 random bits, lowercase hex).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 6749 §2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// Can keep a secret (a server-side web app): authenticates with a client secret.
    Confidential,
    /// Cannot (a mobile or single-page app): no secret; PKCE instead.
    Public,
}

impl ClientType {
    pub fn parse(raw: &str) -> Result<Self, ClientError> {
        match raw {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            other => Err(ClientError(format!(
                "client type '{}' is not one of: confidential, public",
                other.escape_default()
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

/// Grant types a client may be registered for. A grant that parses here may still be one the
/// token endpoint does not serve yet; `oauth::token` decides that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8693.
    TokenExchange,
    /// RFC 8628.
    DeviceCode,
}

impl GrantType {
    pub const ALL: [GrantType; 5] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::TokenExchange,
        Self::DeviceCode,
    ];

    pub fn parse(raw: &str) -> Result<Self, ClientError> {
        Self::ALL
            .into_iter()
            .find(|g| g.as_str() == raw)
            .ok_or_else(|| {
                ClientError(format!(
                    "grant type '{}' is not one of: authorization_code, refresh_token, \
                     client_credentials, {}, {}",
                    raw.escape_default(),
                    Self::TokenExchange.as_str(),
                    Self::DeviceCode.as_str()
                ))
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

/// A registered client, as the protocol code sees it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub client_type: ClientType,
    /// SHA-256 (hex) of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    /// The scopes this client may be granted.
    pub scopes: Scope,
    /// First-party clients may skip the consent page.
    pub first_party: bool,
    /// A resource server (an API) may introspect any token and pull `GET /revocations`;
    /// other clients learn only about their own tokens (issue 11 point 9).
    pub resource_server: bool,
    /// Overrides the `access_token_ttl` setting when set.
    pub access_token_ttl: Option<Duration>,
    pub backchannel_logout_uri: Option<Url>,
    /// What signs this client's access and ID tokens (`id_token_signed_response_alg`).
    pub signing_alg: SigningAlg,
    /// The vendor's group of apps that share a device's sign-in (Native SSO).
    pub native_sso_group: Option<SsoGroup>,
    /// RFC 8693: an exchange may also return a refresh token (`--exchange-refresh`).
    pub exchange_refresh: bool,
    /// RFC 8693 §1.1: it may exchange a token it serves without an actor token, i.e.
    /// impersonate the user (`--exchange-impersonate`).
    pub exchange_impersonate: bool,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    pub require_dpop: bool,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// This client's access-token lifetime: its own, or the server's default.
    pub fn access_token_ttl_or(&self, default: Duration) -> Duration {
        self.access_token_ttl.unwrap_or(default)
    }
}

/// What an operator asks for, in raw form; `Registration::parse` checks it as a whole.
#[derive(Debug, Clone, Default)]
pub struct RegistrationInput {
    pub name: String,
    pub client_type: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty: the defaults for the client type.
    pub grant_types: Vec<String>,
    pub scope: Option<String>,
    pub first_party: bool,
    /// May introspect any token and pull the revocation list (confidential clients only).
    pub resource_server: bool,
    /// A duration such as `300s` or `5m`.
    pub access_token_ttl: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub signing_alg: Option<String>,
    /// Native SSO group (`--native-sso-group`).
    pub native_sso_group: Option<String>,
    /// `--require-dpop`.
    pub require_dpop: bool,
}

/// A client registration that passed every check: what the store inserts (with an id and,
/// for confidential clients, a secret hash).
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scope,
    pub first_party: bool,
    pub resource_server: bool,
    pub access_token_ttl: Option<Duration>,
    pub backchannel_logout_uri: Option<Url>,
    pub signing_alg: SigningAlg,
    pub native_sso_group: Option<SsoGroup>,
    pub require_dpop: bool,
}

/// Scopes a client gets when the operator names none.
pub const DEFAULT_SCOPES: &str = "openid profile email offline_access";

/// The scope that asks for a device secret (Native SSO §3.1).
pub const DEVICE_SSO: &str = "device_sso";

impl Registration {
    pub fn parse(input: RegistrationInput) -> Result<Self, ClientError> {
        let name = input.name.trim().to_string();
        if name.is_empty() || name.len() > 200 {
            return Err(ClientError(
                "--name must be 1 to 200 characters".to_string(),
            ));
        }
        let client_type = ClientType::parse(&input.client_type)
            .map_err(|e| ClientError(format!("--type: {e}")))?;
        let uris = |list: &[String], flag: &str| {
            list.iter()
                .map(|u| RedirectUri::parse(u, client_type))
                .collect::<Result<Vec<_>, RedirectUriError>>()
                .map_err(|e| ClientError(format!("{flag}: {e}")))
        };
        let redirect_uris = uris(&input.redirect_uris, "--redirect-uri")?;
        let post_logout_redirect_uris = uris(
            &input.post_logout_redirect_uris,
            "--post-logout-redirect-uri",
        )?;

        let mut grant_types = if input.grant_types.is_empty() {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        } else {
            input
                .grant_types
                .iter()
                .map(|g| GrantType::parse(g).map_err(|e| ClientError(format!("--grant-type: {e}"))))
                .collect::<Result<Vec<_>, _>>()?
        };
        grant_types.sort();
        grant_types.dedup();
        if client_type == ClientType::Public && grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(ClientError(
                "--grant-type client_credentials needs a confidential client: a public client \
                 has no secret to authenticate with (RFC 6749 §4.4)"
                    .to_string(),
            ));
        }
        if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(ClientError(
                "the authorization_code grant needs at least one --redirect-uri".to_string(),
            ));
        }

        if input.resource_server && client_type != ClientType::Confidential {
            return Err(ClientError(
                "--resource-server needs a confidential client: introspection and the \
                 revocation list are for callers that authenticate with a secret"
                    .to_string(),
            ));
        }

        let scopes = Scope::parse(input.scope.as_deref().unwrap_or(DEFAULT_SCOPES))
            .map_err(|e| ClientError(format!("--scope: {e}")))?;

        let access_token_ttl = input
            .access_token_ttl
            .as_deref()
            .map(|t| {
                let ttl = crate::config::parse_duration(t)
                    .map_err(|e| ClientError(format!("--access-token-ttl: {e}")))?;
                if ttl.is_zero() || ttl > MAX_ACCESS_TOKEN_TTL {
                    return Err(ClientError(format!(
                        "--access-token-ttl {t}: must be between 1s and 1h"
                    )));
                }
                Ok(ttl)
            })
            .transpose()?;

        let backchannel_logout_uri = input
            .backchannel_logout_uri
            .as_deref()
            .map(|raw| {
                // OIDC Back-Channel Logout §2.2: absolute http(s), no fragment; https unless
                // loopback, like a confidential client's redirect URI.
                RedirectUri::parse(raw, ClientType::Confidential)
                    .ok()
                    .and_then(|_| Url::parse(raw).ok())
                    .ok_or_else(|| {
                        ClientError(format!(
                            "--backchannel-logout-uri '{}' must be an absolute https URL \
                             (http only on loopback) without a fragment",
                            raw.escape_default()
                        ))
                    })
            })
            .transpose()?;

        let signing_alg = input
            .signing_alg
            .as_deref()
            .map(SigningAlg::parse)
            .transpose()
            .map_err(|e| ClientError(format!("--signing-alg: {e}")))?
            .unwrap_or_default();

        let native_sso_group = input
            .native_sso_group
            .as_deref()
            .map(SsoGroup::parse)
            .transpose()?;
        // Native SSO §3.1: a device secret is only for apps that can share it.
        if scopes.contains(DEVICE_SSO) && native_sso_group.is_none() {
            return Err(ClientError(format!(
                "--scope {DEVICE_SSO} needs --native-sso-group: a device secret is shared only \
                 within a group of apps"
            )));
        }

        Ok(Self {
            name,
            client_type,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            first_party: input.first_party,
            resource_server: input.resource_server,
            access_token_ttl,
            backchannel_logout_uri,
            signing_alg,
            native_sso_group,
            require_dpop: input.require_dpop,
        })
    }
}

/// A client secret as it travels in a request; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(client_type: &str) -> RegistrationInput {
        RegistrationInput {
            name: "App".into(),
            client_type: client_type.into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            ..RegistrationInput::default()
        }
    }

    #[test]
    fn client_ids_are_url_safe() {
        assert!(ClientId::parse("abc-DEF_1.2~x").is_ok());
        for bad in ["", "a b", "a:b", "a/b", "é", &"x".repeat(129)] {
            assert!(ClientId::parse(bad).is_err(), "{bad}");
        }
        let id = ClientId::generate();
        assert_eq!(ClientId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn defaults_are_the_code_and_refresh_grants_and_the_oidc_scopes() {
        let r = Registration::parse(input("confidential")).unwrap();
        assert_eq!(
            r.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(r.scopes.to_string(), "email offline_access openid profile");
        assert_eq!(r.access_token_ttl, None);
        assert_eq!(r.signing_alg, SigningAlg::Rs256);
    }

    #[test]
    fn the_signing_algorithm_is_one_tessera_has_keys_for() {
        let mut i = input("confidential");
        i.signing_alg = Some("EdDSA".into());
        assert_eq!(
            Registration::parse(i.clone()).unwrap().signing_alg,
            SigningAlg::EdDsa
        );
        for bad in ["none", "HS256", "eddsa"] {
            i.signing_alg = Some(bad.into());
            let err = Registration::parse(i.clone()).unwrap_err().0;
            assert!(err.contains("--signing-alg"), "{err}");
        }
    }

    #[test]
    fn only_a_confidential_client_can_be_a_resource_server() {
        let mut i = input("public");
        i.resource_server = true;
        let err = Registration::parse(i).unwrap_err().0;
        assert!(err.contains("--resource-server"), "{err}");
        let mut i = input("confidential");
        i.resource_server = true;
        assert!(Registration::parse(i).unwrap().resource_server);
    }

    #[test]
    fn the_device_sso_scope_needs_a_native_sso_group() {
        let mut i = input("public");
        i.scope = Some("openid device_sso".into());
        let err = Registration::parse(i.clone()).unwrap_err().0;
        assert!(err.contains("--native-sso-group"), "{err}");
        i.native_sso_group = Some("acme".into());
        i.grant_types = vec![
            "authorization_code".into(),
            GrantType::TokenExchange.as_str().into(),
        ];
        let r = Registration::parse(i).unwrap();
        assert_eq!(r.native_sso_group.unwrap().as_str(), "acme");
        assert!(r.grant_types.contains(&GrantType::TokenExchange));
    }

    #[test]
    fn a_public_client_cannot_use_client_credentials() {
        let mut i = input("public");
        i.grant_types = vec!["client_credentials".into()];
        let err = Registration::parse(i).unwrap_err().to_string();
        assert!(err.contains("confidential"), "{err}");
    }

    #[test]
    fn unknown_types_and_grants_and_long_ttls_are_refused() {
        assert!(Registration::parse(input("secret")).is_err());
        let mut i = input("confidential");
        i.grant_types = vec!["password".into()];
        assert!(Registration::parse(i).unwrap_err().0.contains("password"));
        let mut i = input("confidential");
        i.access_token_ttl = Some("2h".into());
        assert!(Registration::parse(i).unwrap_err().0.contains("1h"));
        let mut i = input("confidential");
        i.access_token_ttl = Some("90s".into());
        assert_eq!(
            Registration::parse(i).unwrap().access_token_ttl,
            Some(Duration::from_secs(90))
        );
    }

    #[test]
    fn client_credentials_only_needs_no_redirect_uri() {
        let mut i = input("confidential");
        i.redirect_uris.clear();
        assert!(Registration::parse(i.clone()).is_err());
        i.grant_types = vec!["client_credentials".into()];
        assert!(Registration::parse(i).is_ok());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = ClientSecret::new("tcs_topsecret".into());
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}
