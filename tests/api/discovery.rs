use serde_json::Value;

use crate::dual;
use crate::helpers::{Backend, spawn_app};

/// OIDC Discovery 1.0 §4.3: `issuer` MUST be identical to the issuer URL the document was
/// retrieved from; RFC 8414 §3.3 says the same for the OAuth metadata.
async fn discovery_documents_name_this_issuer_and_its_jwks(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let doc: Value = res.json().await.expect("json");
        assert_eq!(doc["issuer"], app.address, "{path}");
        assert_eq!(doc["jwks_uri"], format!("{}/jwks", app.address), "{path}");
        assert!(
            doc["response_types_supported"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "code")),
            "{path}"
        );
    }
}

/// Every endpoint the metadata advertises must exist: none of them may answer 404.
async fn every_advertised_endpoint_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    let endpoints: Vec<&str> = doc
        .as_object()
        .expect("object")
        .iter()
        .filter(|(k, _)| k.ends_with("_endpoint") || k.as_str() == "jwks_uri")
        .filter_map(|(_, v)| v.as_str())
        .collect();
    assert!(!endpoints.is_empty());
    for url in endpoints {
        let path = url
            .strip_prefix(&app.address)
            .expect("endpoint on this issuer");
        let res = app.get(path).await;
        assert_ne!(
            res.status(),
            404,
            "advertised endpoint {path} does not exist"
        );
    }
}

async fn unknown_paths_get_a_json_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/no/such/path").await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "not_found");
}

dual!(
    discovery_documents_name_this_issuer_and_its_jwks,
    every_advertised_endpoint_exists,
    unknown_paths_get_a_json_404
);
