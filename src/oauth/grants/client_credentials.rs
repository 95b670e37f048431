//! The client credentials grant (RFC 6749 §4.4): a confidential client asks for a token for
//! itself. No user, so no refresh token and no ID token (§4.4.3).

use crate::oauth::client::{Client, ClientType};
use crate::oauth::error::OAuthError;
use crate::oauth::resources;
use crate::oauth::scope::{self, Scope};
use crate::oauth::token::{TokenContext, TokenRequest, TokenResponse};
use crate::tokens::access::{self, AccessGrant};

pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §4.4: only confidential clients. Registration already refuses the grant for
    // public clients; this holds even if a stored row says otherwise.
    if client.client_type != ClientType::Confidential {
        return Err(OAuthError::UnauthorizedClient(
            "the client_credentials grant is for confidential clients only".into(),
        ));
    }
    let granted = granted_scope(client, request.get("scope"))?;
    // RFC 9068 §2.2 / §3: `aud` names the resource: the API `resource` names (RFC 8707 §2,
    // allowed to the client; one per request, §2.2), with only the scopes it defines; without
    // it the token is for the client's own use, so its audience is the client id.
    let audience = match resources::one_allowed(ctx.store, client, request.get("resource")).await? {
        Some(api) => Some(resources::audience(std::slice::from_ref(&api), &granted)?),
        None => None,
    };
    let granted = audience.as_ref().map_or(granted, |a| a.scope.clone());
    let key = resources::access_key(ctx, client, audience.as_ref()).await?;
    let token = access::mint(
        &key,
        &ctx.settings.issuer(),
        AccessGrant {
            subject: client.id.to_string(),
            audience: resources::token_aud(audience.as_ref(), client),
            client_id: client.id.to_string(),
            scope: granted.to_string(),
            ttl: resources::token_ttl(audience.as_ref(), client, ctx.settings.access_token_ttl),
            // RFC 9449 §5: bound to the key of the request's proof, if it had one.
            dpop_jkt: request.dpop_jkt().map(str::to_string),
            ..AccessGrant::default()
        },
        ctx.now,
    )?;
    Ok(TokenResponse::access_only(token, &granted))
}

/// RFC 6749 §3.3: the requested scope must be within the client's allowed scopes. With no
/// `scope` parameter the client gets all it is allowed, less the scopes that need a user
/// (`openid`, `offline_access`), which this grant can never honour and so refuses outright.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<Scope, OAuthError> {
    let Some(raw) = requested else {
        return Ok(client.scopes.without(scope::USER_ONLY));
    };
    let requested =
        Scope::parse(raw).map_err(|e| OAuthError::InvalidScope(e.to_string().into()))?;
    if let Some(user_only) = scope::USER_ONLY.iter().find(|s| requested.contains(s)) {
        return Err(OAuthError::InvalidScope(
            format!("the scope {user_only} needs a user; the client_credentials grant has none")
                .into(),
        ));
    }
    if !requested.is_subset(&client.scopes) {
        let excess: Vec<&str> = requested.excess(&client.scopes).collect();
        return Err(OAuthError::InvalidScope(
            format!("this client may not request the scope {}", excess.join(" ")).into(),
        ));
    }
    Ok(requested)
}
