//! A real relying party, the `openidconnect` crate, drives the whole flow: discovery, the
//! authorization URL, the login form (cookie jar), code exchange with PKCE, ID token
//! validation against the JWKS, userinfo and refresh.

use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, JsonWebKey, JsonWebKeySetUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
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

/// A relying party's JWKS cache, kept the way OIDC Core §10.1.1 expects: a copy is used
/// until its max-age has passed, and fetched again early only for a `kid` it does not hold.
struct JwksCache {
    issuer: IssuerUrl,
    url: JsonWebKeySetUrl,
    keys: CoreJsonWebKeySet,
    fetched_at: i64,
    max_age: i64,
    fetches: usize,
    /// Fetches made because a token named a kid the copy lacked.
    for_unknown_kid: usize,
}

impl JwksCache {
    async fn fetch(&mut self, http: &openidconnect::reqwest::Client, now: i64) {
        self.keys = CoreJsonWebKeySet::fetch_async(&self.url, http)
            .await
            .expect("jwks");
        self.fetched_at = now;
        self.fetches += 1;
    }

    fn holds(&self, kid: &str) -> bool {
        self.keys
            .keys()
            .iter()
            .any(|k| k.key_id().is_some_and(|id| id.as_str() == kid))
    }

    async fn verify(
        &mut self,
        http: &openidconnect::reqwest::Client,
        now: i64,
        rp: &RpClient,
        id_token: &CoreIdToken,
        nonce: &Nonce,
    ) -> String {
        if now - self.fetched_at >= self.max_age {
            self.fetch(http, now).await;
        }
        let kid = crate::key_rotation::kid_of(&id_token.to_string());
        if !self.holds(&kid) {
            self.for_unknown_kid += 1;
            self.fetch(http, now).await;
        }
        let verifier = CoreIdTokenVerifier::new_public_client(
            rp.client_id().clone(),
            self.issuer.clone(),
            self.keys.clone(),
        );
        id_token
            .claims(&verifier, nonce)
            .unwrap_or_else(|e| panic!("the ID token signed by {kid} validates: {e}"));
        kid
    }
}

type RpClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Signs alice in through `browser` and returns the ID token with its nonce.
async fn sign_in(
    app: &crate::helpers::TestApp,
    rp: &RpClient,
    http: &openidconnect::reqwest::Client,
    browser: &reqwest::Client,
) -> (CoreIdToken, Nonce) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let user = Browser {
        username: "alice",
        password: PASSWORD,
        consent: None,
    };
    let back = app.browse(browser, auth_url.as_str(), user).await;
    let code = query_of(&location(&back))["code"].clone();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .expect("code exchange");
    (tokens.id_token().expect("an ID token").clone(), nonce)
}

/// Issue 13, done when: a relying party that caches the JWKS for its max-age keeps verifying
/// ID tokens across a rotation without fetching the JWKS early (the successor was in the copy
/// it already held when it first signed: pre-publication), and after an emergency revocation
/// fetches again for the unknown kid of the successor that signs at once.
async fn an_openidconnect_relying_party_that_caches_the_jwks_follows_rotation_and_revocation(
    backend: Backend,
) {
    use crate::key_rotation::{Deployment, JWKS_MAX_AGE, configure, published_within};
    let d = Deployment::with(backend, configure).await;
    let app = &d.app;
    app.create_user("alice", PASSWORD).await;
    let registered = app
        .create_client(RegistrationInput {
            name: "Relying party".into(),
            client_type: "confidential".into(),
            redirect_uris: vec![REDIRECT.into()],
            scope: Some("openid".into()),
            first_party: true,
            ..RegistrationInput::default()
        })
        .await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let issuer = IssuerUrl::new(app.address.clone()).expect("issuer");
    let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
        .await
        .expect("discovery");
    let mut cache = JwksCache {
        issuer,
        url: metadata.jwks_uri().clone(),
        keys: CoreJsonWebKeySet::new(Vec::new()),
        fetched_at: 0,
        max_age: JWKS_MAX_AGE,
        fetches: 0,
        for_unknown_kid: 0,
    };
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        registered.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"));
    let browser = http_client();
    let now = || app.clock.now();

    let (id, nonce) = sign_in(app, &rp, &http, &browser).await;
    let old = cache.verify(&http, now(), &rp, &id, &nonce).await;
    assert_eq!(cache.fetches, 1);

    // A rotation, recorded with the nodes' clock: published now, signing in publish_ahead.
    let settings = &app.state.settings;
    let staged = tessera::keys::manage::rotate(
        &app.state.store,
        settings,
        tessera::keys::SigningAlg::Rs256,
        &app.clock,
    )
    .await
    .expect("rotate");
    for node in d.nodes() {
        assert!(published_within(node, &staged.kid, true, Duration::from_secs(10)).await);
    }
    assert!(!cache.holds(&staged.kid), "the copy predates the rotation");
    // Within the copy's max-age: no fetch, the old key still signs.
    d.advance(JWKS_MAX_AGE / 2);
    let (id, nonce) = sign_in(app, &rp, &http, &browser).await;
    assert_eq!(cache.verify(&http, now(), &rp, &id, &nonce).await, old);
    assert_eq!(cache.fetches, 1);
    // The copy expires before the successor signs: the next use fetches the JWKS (max-age)
    // and gets the successor with it.
    let to = |at: i64| at - now();
    d.advance(to(staged.active_at - JWKS_MAX_AGE + 30));
    let (id, nonce) = sign_in(app, &rp, &http, &browser).await;
    assert_eq!(cache.verify(&http, now(), &rp, &id, &nonce).await, old);
    assert_eq!(cache.fetches, 2);
    assert!(cache.holds(&staged.kid));
    // The successor signs while that copy is still fresh: it verifies with no fetch at all.
    d.advance(to(staged.active_at + 1));
    let (id, nonce) = sign_in(app, &rp, &http, &browser).await;
    assert_eq!(
        cache.verify(&http, now(), &rp, &id, &nonce).await,
        staged.kid
    );
    assert_eq!(
        (cache.fetches, cache.for_unknown_kid),
        (2, 0),
        "never an early fetch across a rotation"
    );

    // A leak: the active key is revoked, a new one signs at once, unknown to the copy.
    let revoked =
        tessera::keys::manage::revoke(&app.state.store, settings, &staged.kid, &app.clock)
            .await
            .expect("revoke");
    let successor = revoked.successor.expect("a successor");
    for node in d.nodes() {
        assert!(published_within(node, &staged.kid, false, Duration::from_secs(10)).await);
    }
    let (id, nonce) = sign_in(app, &rp, &http, &browser).await;
    assert_eq!(
        cache.verify(&http, now(), &rp, &id, &nonce).await,
        successor
    );
    assert_eq!(
        (cache.fetches, cache.for_unknown_kid),
        (3, 1),
        "one fetch, for the unknown kid"
    );
    assert!(
        !cache.holds(&staged.kid),
        "the fresh copy no longer holds the revoked key"
    );
}

dual!(
    a_confidential_client_signs_a_user_in_with_openidconnect,
    a_public_client_signs_a_user_in_with_openidconnect,
    an_openidconnect_relying_party_that_caches_the_jwks_follows_rotation_and_revocation
);
