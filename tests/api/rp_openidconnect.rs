//! A real relying party, the `openidconnect` crate, drives the whole flow: discovery, the
//! authorization URL, the login form (cookie jar), code exchange with PKCE, ID token
//! validation against the JWKS, userinfo and refresh.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use tessera::oauth::client::RegistrationInput;

use crate::dual;
use crate::helpers::{Backend, Browser, PASSWORD, http_client, location, query_of, spawn_app};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

async fn rp_flow(backend: Backend, client_type: &str) {
    let app = spawn_app(backend).await;
    let user = app.create_user("alice", PASSWORD).await;
    let registered = app
        .create_client(RegistrationInput {
            name: "Relying party".into(),
            client_type: client_type.into(),
            redirect_uris: vec![REDIRECT.into()],
            scope: Some("openid profile email offline_access".into()),
            first_party: true,
            ..RegistrationInput::default()
        })
        .await;

    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let issuer = IssuerUrl::new(app.address.clone()).expect("issuer");
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        registered.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"));

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = http_client();
    let user_agent = Browser {
        username: "alice",
        password: PASSWORD,
        consent: None,
    };
    let back = app.browse(&browser, auth_url.as_str(), user_agent).await;
    let to = location(&back);
    assert!(to.starts_with(REDIRECT), "{to}");
    let q = query_of(&to);
    assert_eq!(q["state"], *state.secret());
    // RFC 9207: the response names the issuer.
    assert_eq!(q["iss"], app.address);

    let tokens = rp
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token validates");
    assert_eq!(claims.subject().as_str(), user.id);
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("alice")
    );

    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .expect("userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), user.id);
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    let refresh = tokens
        .refresh_token()
        .expect("a refresh token (offline_access)");
    let refreshed = rp
        .exchange_refresh_token(refresh)
        .expect("token endpoint")
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.refresh_token().map(|r| r.secret()),
        Some(refresh.secret()),
        "the refresh token rotates"
    );
    let again = rp
        .exchange_refresh_token(refresh)
        .expect("token endpoint")
        .request_async(&http)
        .await;
    assert!(again.is_err(), "a used refresh token is refused");
}

async fn a_confidential_client_signs_a_user_in_with_openidconnect(backend: Backend) {
    rp_flow(backend, "confidential").await;
}

async fn a_public_client_signs_a_user_in_with_openidconnect(backend: Backend) {
    rp_flow(backend, "public").await;
}

dual!(
    a_confidential_client_signs_a_user_in_with_openidconnect,
    a_public_client_signs_a_user_in_with_openidconnect
);
