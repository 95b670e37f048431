//! Client registration and the client store, on both databases.

use std::time::Duration;

use tessera::admin::clients::{self, AdminError};
use tessera::oauth::client::{ClientType, GrantType, RegistrationInput};
use tessera::tokens::opaque;

use crate::dual;
use crate::helpers::{Backend, spawn_app};

fn full_input() -> RegistrationInput {
    RegistrationInput {
        name: "Native app".into(),
        client_type: "public".into(),
        redirect_uris: vec![
            "com.example.app:/oauth2redirect".into(),
            "http://127.0.0.1/cb".into(),
        ],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
        grant_types: vec!["refresh_token".into(), "authorization_code".into()],
        scope: Some("openid profile".into()),
        first_party: true,
        access_token_ttl: Some("10m".into()),
        backchannel_logout_uri: Some("https://app.example.com/bcl".into()),
        signing_alg: Some("ES256".into()),
        resource_server: false,
        native_sso_group: Some("acme".into()),
        require_dpop: true,
    }
}

/// Every field survives the round trip through the store.
async fn a_registered_client_reads_back_with_every_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = &app.state.store;
    let now = app.clock.now();
    let registered = clients::add(store, full_input(), now).await.unwrap();
    assert!(registered.secret.is_none(), "public clients get no secret");
    let c = clients::show(store, registered.client.id.as_str())
        .await
        .unwrap();
    assert_eq!(c.name, "Native app");
    assert_eq!(c.client_type, ClientType::Public);
    assert_eq!(c.secret_hash, None);
    let uris: Vec<&str> = c.redirect_uris.iter().map(|u| u.as_str()).collect();
    assert_eq!(
        uris,
        ["com.example.app:/oauth2redirect", "http://127.0.0.1/cb"]
    );
    assert_eq!(
        c.post_logout_redirect_uris[0].as_str(),
        "https://app.example.com/bye"
    );
    assert_eq!(
        c.grant_types,
        [GrantType::AuthorizationCode, GrantType::RefreshToken]
    );
    assert_eq!(c.scopes.to_string(), "openid profile");
    assert!(c.first_party);
    assert_eq!(c.access_token_ttl, Some(Duration::from_secs(600)));
    assert_eq!(c.signing_alg, tessera::keys::SigningAlg::Es256);
    assert!(c.require_dpop);
    assert_eq!(
        c.native_sso_group.as_ref().map(|g| g.as_str()),
        Some("acme")
    );
    assert_eq!(
        c.backchannel_logout_uri.as_ref().map(|u| u.as_str()),
        Some("https://app.example.com/bcl")
    );
    assert_eq!((c.created_at, c.updated_at), (now, now));
    // The RFC 8252 §7.3 loopback rule works on what came back from the store.
    assert!(c.redirect_uris[1].matches("http://127.0.0.1:4711/cb", c.client_type));
}

/// DESIGN §3: the secret is stored only as its SHA-256; rotation replaces it.
async fn secrets_are_stored_hashed_and_rotation_replaces_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = &app.state.store;
    let r = clients::add(store, crate::helpers::service_client("api"), 1)
        .await
        .unwrap();
    let secret = r.secret.unwrap();
    assert!(opaque::has_kind(&secret, opaque::Kind::ClientSecret));
    let id = r.client.id.to_string();
    assert_eq!(
        r.client.secret_hash.as_deref(),
        Some(opaque::hash(&secret).as_str())
    );

    let new = clients::rotate_secret(store, &id, 2).await.unwrap();
    assert_ne!(new, secret);
    let c = clients::show(store, &id).await.unwrap();
    assert_eq!(c.secret_hash, Some(opaque::hash(&new)));
    assert_eq!((c.created_at, c.updated_at), (1, 2));
}

async fn clients_are_listed_and_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = &app.state.store;
    let a = clients::add(store, full_input(), 1)
        .await
        .unwrap()
        .client
        .id;
    let b = clients::add(store, crate::helpers::service_client("api"), 2)
        .await
        .unwrap()
        .client
        .id;
    let ids: Vec<_> = clients::list(store)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [a.clone(), b.clone()]);

    clients::remove(store, &app.state.revocations, a.as_str(), app.clock.now())
        .await
        .unwrap();
    assert!(matches!(
        clients::show(store, a.as_str()).await,
        Err(AdminError::NotFound(_))
    ));
    assert!(matches!(
        clients::remove(store, &app.state.revocations, a.as_str(), app.clock.now()).await,
        Err(AdminError::NotFound(_))
    ));
    // A public client has no secret to rotate.
    let p = clients::add(store, full_input(), 3)
        .await
        .unwrap()
        .client
        .id;
    assert!(matches!(
        clients::rotate_secret(store, p.as_str(), 4).await,
        Err(AdminError::Invalid("client_secret", _))
    ));
    assert_eq!(clients::list(store).await.unwrap().len(), 2);
}

/// Invalid registrations never reach the store.
async fn invalid_registrations_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = &app.state.store;
    let bad = [
        RegistrationInput {
            redirect_uris: vec!["/relative".into()],
            ..full_input()
        },
        RegistrationInput {
            client_type: "confidential".into(),
            ..full_input() // private-use scheme on a confidential client
        },
        RegistrationInput {
            grant_types: vec!["client_credentials".into()],
            ..full_input()
        },
        RegistrationInput {
            access_token_ttl: Some("61m".into()),
            ..full_input()
        },
    ];
    for input in bad {
        assert!(matches!(
            clients::add(store, input, 1).await,
            Err(AdminError::Invalid(..))
        ));
    }
    assert!(clients::list(store).await.unwrap().is_empty());
}

dual!(
    a_registered_client_reads_back_with_every_field,
    secrets_are_stored_hashed_and_rotation_replaces_them,
    clients_are_listed_and_removed,
    invalid_registrations_are_refused
);
