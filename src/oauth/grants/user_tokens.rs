//! The tokens a user-bound grant answers with: an access token, an ID token when `openid` was
//! granted, and the refresh token the grant decided on.

use crate::accounts::User;
use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::resource::Audience;
use crate::oauth::resources;
use crate::oauth::scope::Scope;
use crate::oauth::token::{TokenContext, TokenResponse};
use crate::tokens::access::{self, AccessGrant};
use crate::tokens::claims::ExchangedFrom;
use crate::tokens::id_token::{self, IdClaims, ProfileClaims};

pub struct UserGrant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    /// The refresh-token family, when one is stored (the access token's `fam`).
    pub family_id: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub scope: &'a Scope,
    pub auth_time: i64,
    pub amr: &'a str,
    pub nonce: Option<&'a str>,
    pub refresh_token: Option<String>,
    /// Native SSO §3.4: the device secret of the session, whose hash the ID token carries.
    pub device_secret: Option<&'a str>,
    /// The API(s) the access token is for (RFC 8707), with the scopes it carries; `None`: the
    /// client itself, with every granted scope.
    pub audience: Option<Audience>,
    /// What a token exchange made the family from (`--exchange-refresh`): the access
    /// token's `xo` and `act`; empty for a family the user's own authorization started.
    pub exchanged: ExchangedFrom,
    /// RFC 9449 §5: the DPoP key of the request's proof; the access token is bound to it.
    pub dpop_jkt: Option<&'a str>,
}

/// OIDC Core §5.4: the claims each scope releases (also served by /userinfo).
pub fn profile_claims(user: &User, scope: &Scope) -> ProfileClaims {
    let mut claims = ProfileClaims::default();
    if scope.contains("profile") {
        claims.preferred_username = Some(user.username.clone());
        claims.name = user.display_name.clone();
    }
    if scope.contains("email") && user.email.is_some() {
        claims.email = user.email.clone();
        // Tessera does not verify addresses; say so rather than imply it.
        claims.email_verified = Some(false);
    }
    claims
}

/// The keys `respond` will sign with are still good (not revoked by the node's revocation list
/// since the request began, or their successors): checked just before a grant spends its
/// single-use state (a code, a refresh token, a device code), so that a node that cannot sign
/// for the client now answers 503 before the grant is spent (a retry then works).
pub async fn keys_still_sign(
    ctx: &TokenContext<'_>,
    client: &Client,
    audience: Option<&Audience>,
) -> Result<(), OAuthError> {
    ctx.signing_key(client).await?;
    resources::access_key(ctx, client, audience).await?;
    Ok(())
}

/// Signs the grant's tokens. Called after the grant has spent its single-use state: a key
/// revoked since `keys_still_sign` is replaced by its successor (`TokenContext::key_for`
/// waits for it), and only a node where none signs within that wait answers 503, which
/// the client cannot retry with the same code or refresh token.
pub async fn respond(
    ctx: &TokenContext<'_>,
    g: UserGrant<'_>,
) -> Result<TokenResponse, OAuthError> {
    let key = ctx.signing_key(g.client).await?;
    let access_key = resources::access_key(ctx, g.client, g.audience.as_ref()).await?;
    let issuer = ctx.settings.issuer();
    let client_id = g.client.id.to_string();
    let access_scope = g.audience.as_ref().map_or(g.scope, |a| &a.scope);
    let access = access::mint(
        &access_key,
        &issuer,
        AccessGrant {
            subject: g.user.id.clone(),
            audience: resources::token_aud(g.audience.as_ref(), g.client),
            client_id: client_id.clone(),
            scope: access_scope.to_string(),
            ttl: resources::token_ttl(g.audience.as_ref(), g.client, ctx.settings.access_token_ttl),
            sid: g.sid.map(str::to_string),
            auth_time: Some(g.auth_time),
            roles: access_scope.contains("roles").then(|| g.user.roles.clone()),
            family: g.family_id.map(str::to_string),
            act: g.exchanged.act,
            may_act: None,
            origins: g.exchanged.xo,
            dpop_jkt: g.dpop_jkt.map(str::to_string),
        },
        ctx.now,
    )?;
    let id_token = if g.scope.contains("openid") {
        let ttl = i64::try_from(ctx.settings.id_token_ttl.as_secs()).unwrap_or(300);
        Some(id_token::mint(
            &key,
            &IdClaims {
                iss: issuer,
                sub: g.user.id.clone(),
                aud: client_id.clone(),
                exp: ctx.now + ttl,
                iat: ctx.now,
                auth_time: g.auth_time,
                nonce: g.nonce.map(str::to_string),
                at_hash: Some(id_token::at_hash(key.signing_alg(), &access.token)),
                sid: g.sid.map(str::to_string),
                ds_hash: g
                    .device_secret
                    .map(|s| id_token::ds_hash(key.signing_alg(), s)),
                amr: g.amr.split_whitespace().map(str::to_string).collect(),
                azp: client_id,
                profile: profile_claims(g.user, g.scope),
            },
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        token_type: access.token_type(),
        access_token: access.token,
        expires_in: access.expires_in,
        scope: (!access_scope.is_empty()).then(|| access_scope.to_string()),
        refresh_token: g.refresh_token,
        id_token,
        issued_token_type: None,
        device_secret: None,
    })
}
