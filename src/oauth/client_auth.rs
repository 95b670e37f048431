//! Client authentication at the token endpoint (RFC 6749 §2.3): which client is calling, and
//! whether it proved it. `http::extractors` reads the credentials off the request; this module
//! checks them against the store.

use super::client::{Client, ClientId, ClientSecret, ClientType};
use super::error::OAuthError;
use crate::store::Store;
use crate::tokens::opaque;

/// The credentials a request carried, by method (RFC 6749 §2.3.1, OIDC Core §9).
#[derive(Debug, Clone)]
pub enum ClientCredentials {
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and secret.
    Basic {
        client_id: String,
        secret: ClientSecret,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post {
        client_id: String,
        secret: ClientSecret,
    },
    /// `none`: a public client names itself with `client_id` only.
    None { client_id: String },
    /// Nothing identifies the client.
    Missing,
}

impl ClientCredentials {
    /// The client these credentials name, if any.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::None { client_id } => Some(client_id),
            Self::Missing => None,
        }
    }

    fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// One answer for every failure, so that a caller cannot tell an unknown client from a wrong
/// secret (RFC 6749 §5.2 `invalid_client`).
const FAILED: &str = "client authentication failed";

/// The authenticated client, or `invalid_client`. Secrets are compared as SHA-256 hashes in
/// constant time; an unknown client costs the same hash as a known one.
pub async fn authenticate(
    store: &Store,
    credentials: &ClientCredentials,
) -> Result<Client, OAuthError> {
    let basic = credentials.used_basic();
    let fail = |description: &'static str| OAuthError::invalid_client(description, basic);
    let (client_id, secret) = match credentials {
        ClientCredentials::Basic { client_id, secret }
        | ClientCredentials::Post { client_id, secret } => (client_id, Some(secret)),
        ClientCredentials::None { client_id } => (client_id, None),
        ClientCredentials::Missing => {
            // RFC 7235 §3.1: a 401 says how to authenticate, so offer Basic here too.
            return Err(OAuthError::invalid_client(
                "client authentication is required: use HTTP Basic, or client_id \
                 (and client_secret) in the form body",
                true,
            ));
        }
    };
    let presented_hash = secret.map(|s| opaque::hash(s.expose()));
    let client = match ClientId::parse(client_id) {
        Ok(id) => store.get_client_for_auth(id.as_str()).await?,
        Err(_) => None,
    };
    let Some((client, fetched)) = client else {
        return Err(fail(FAILED));
    };
    let authenticated = match (client.client_type, &client.secret_hash, &presented_hash) {
        (ClientType::Confidential, Some(stored), Some(presented)) => {
            if opaque::ct_eq(stored, presented) {
                Ok(client)
            } else {
                Err(fail(FAILED))
            }
        }
        (ClientType::Public, _, None) => Ok(client),
        // The same answer as for an unknown client: naming the client's type would tell an
        // attacker which ids exist and which of them hold a secret worth guessing.
        (ClientType::Confidential, _, None)
        | (ClientType::Public, _, Some(_))
        | (ClientType::Confidential, None, Some(_)) => Err(fail(FAILED)),
    };
    if let Ok(client) = &authenticated {
        store.remember_authenticated(client, fetched);
    }
    authenticated
}
