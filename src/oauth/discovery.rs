//! Server metadata, generated from the settings and from what is implemented: an endpoint is
//! advertised only once it exists.

use serde_json::{Value, json};

use crate::config::Settings;
use crate::keys::SigningAlg;
use crate::oauth::{scope, token};

/// Both documents, rendered once at start.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub openid: String,
    pub oauth: String,
}

pub fn metadata(settings: &Settings) -> Metadata {
    let issuer = settings.issuer();
    let grants: Vec<&str> = token::SUPPORTED_GRANTS.iter().map(|g| g.as_str()).collect();
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    let doc = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        // RFC 8628 §4.
        "device_authorization_endpoint": format!("{issuer}/device_authorization"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "end_session_endpoint": format!("{issuer}/end-session"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        // RFC 9449 §5.1: the algorithms a DPoP proof may be signed with.
        "dpop_signing_alg_values_supported": crate::oauth::dpop::ALGS,
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
            "sid", "ds_hash", "amr", "azp", "preferred_username", "name", "email", "email_verified"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // OpenID Connect Native SSO for Mobile Apps 1.0 §5 (scope device_sso, token exchange).
        "native_sso_supported": true,
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint": format!("{issuer}/introspect"),
        // Confidential clients only (oauth::introspection::require_confidential).
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint": format!("{issuer}/revoke"),
        // RFC 7009 §2.1 / §5: public clients revoke their own tokens with their client_id.
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": scope::SUPPORTED,
        "subject_types_supported": ["public"],
        // Every algorithm has a key (generated at start); a client picks one at registration.
        "id_token_signing_alg_values_supported": algs,
    });
    let oauth = doc.clone();
    Metadata {
        openid: to_string(doc),
        oauth: to_string(oauth),
    }
}

fn to_string(v: Value) -> String {
    v.to_string()
}
