//! Server metadata, generated from the settings and from what is implemented: an endpoint is
//! advertised only once it exists.

use serde_json::{Value, json};

use crate::config::Settings;

/// Both documents, rendered once at start.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub openid: String,
    pub oauth: String,
}

pub fn metadata(settings: &Settings) -> Metadata {
    let issuer = settings.issuer();
    let doc = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
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
