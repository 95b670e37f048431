//! OpenID Connect Native SSO for Mobile Apps 1.0: the apps of one vendor (one SSO group) share
//! a device's sign-in. The first app asks for `device_sso` in a code flow and gets a device
//! secret bound to its session and to the grant (refresh family) it came with (§3); another
//! app of the group exchanges that app's ID token and the device secret for its own tokens, in
//! the same session (§4), so that a logout ends them all, and whatever revokes the first
//! grant ends the secret.

use crate::clock::UnixTime;
use crate::oauth::client::{Client, DEVICE_SSO};
use crate::oauth::error::OAuthError;
use crate::oauth::grants::alive;
use crate::oauth::grants::authorization_code::secs;
use crate::oauth::grants::family::{self, FamilyStart};
use crate::oauth::grants::user_tokens::{self, UserGrant};
use crate::oauth::scope::Scope;
use crate::oauth::token::{TokenContext, TokenResponse};
use crate::revocation::GrantOrigin;
use crate::store::{DeviceSecretRow, LiveSession, NativeSsoGrant, Store};
use crate::tokens::claims::ExchangedFrom;
use crate::tokens::id_token::{self, IdClaims};
use crate::tokens::opaque::{self, Kind};

use super::{ExchangeRequest, TokenType};

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::InvalidGrant(description.into())
}

/// §3.1, §3.4: a device secret for a code flow that granted `device_sso` (with `openid`: the
/// secret is bound to the ID token's `ds_hash`, so there is none without an ID token) to a
/// client of a group; `None` otherwise. The store keeps its hash with the redemption, in the
/// same transaction (`Store::redeem_code`).
pub fn new_device_secret(client: &Client, scope: &Scope) -> Option<String> {
    (scope.contains(DEVICE_SSO) && scope.contains("openid") && client.native_sso_group.is_some())
        .then(|| opaque::generate(Kind::DeviceSecret))
}

/// §4: the token exchange of a second app. Every failure about the tokens presented is
/// `invalid_grant` (§4.3), so the answer says no more than that the pair does not work.
pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &ExchangeRequest<'_>,
    device_secret: &str,
) -> Result<TokenResponse, OAuthError> {
    let issuer = ctx.settings.issuer();
    // §4.1: `audience` is the issuer; RFC 8693 §2.2.2: any other target is `invalid_target`.
    match request.audience {
        None => {
            return Err(OAuthError::invalid_request(
                "audience is required for Native SSO: the issuer (Native SSO §4.1)",
            ));
        }
        Some(audience) if audience != issuer => return Err(invalid_target()),
        Some(_) => {}
    }
    if request.resource.is_some() {
        return Err(invalid_target());
    }
    let as_id_token = match request.requested_token_type {
        None | Some(TokenType::AccessToken) => false,
        Some(TokenType::IdToken) => true,
        Some(other) => return Err(super::unsupported("requested_token_type", other.as_str())),
    };
    // RFC 6749 §5.2: the client is not authorized to use this grant this way.
    let Some(group) = &client.native_sso_group else {
        return Err(OAuthError::UnauthorizedClient(
            "this client is in no Native SSO group, so it may not use a device secret".into(),
        ));
    };
    // §4.3: the ID token's signature and issuer hold; its expiry does not matter (the app
    // holding it may not have run for days; the device secret and the session decide).
    let (subject, alg) = id_token::verify_ignoring_expiry(ctx.keys, &issuer, request.subject_token)
        .map_err(|_| invalid("the subject_token is not an ID token of this issuer"))?;
    if !same_group(ctx.store, &subject.aud, group.as_str()).await? {
        return Err(invalid(
            "the ID token was issued to an app of another group",
        ));
    }
    let secret_hash = opaque::hash(device_secret);
    let active_since = ctx.now - secs(ctx.settings.session_idle_ttl);
    let row = match opaque::has_kind(device_secret, Kind::DeviceSecret) {
        true => {
            ctx.store
                .live_device_secret(&secret_hash, ctx.now, active_since)
                .await?
        }
        false => None,
    }
    .ok_or_else(|| invalid("the device secret is invalid, revoked, or its sign-in has ended"))?;
    check_binding(&subject, &row, alg, device_secret)?;
    if row.client_id != subject.aud
        && !same_group(ctx.store, &row.client_id, group.as_str()).await?
    {
        return Err(invalid(
            "the device secret belongs to an app of another group",
        ));
    }
    let scope = granted_scope(client, &row, request.scope.as_ref())?;
    // An ID token is issued only with `openid` (OIDC Core §3.1.2.1); asked for one without it,
    // the scope is what is wrong (RFC 6749 §5.2 invalid_scope).
    if as_id_token && !scope.contains("openid") {
        return Err(OAuthError::InvalidScope(
            "requested_token_type id_token needs the scope openid (OIDC Core §3.1.2.1)".into(),
        ));
    }
    let user = alive::live_user(
        ctx,
        GrantOrigin {
            sub: &row.user_id,
            client_id: client.id.as_str(),
            sid: Some(&row.sid),
            family: None,
            issued_at: row.created_at,
        },
    )
    .await?;
    // The grant the secret came from, checked as its own grant (DESIGN §4): an entry revoking
    // the first app (an administrator revoking its tokens), its family or the ID token's app
    // stops the secret at once, not only for this caller.
    for client_id in [row.client_id.as_str(), subject.aud.as_str()] {
        let origin = GrantOrigin {
            sub: &row.user_id,
            client_id,
            sid: Some(&row.sid),
            family: Some(&row.family_id),
            issued_at: row.created_at,
        };
        if ctx.revocations.revokes_grant(&origin) {
            return Err(invalid(
                "the device's sign-in has been revoked; sign in again",
            ));
        }
    }
    consented(ctx, client, &row.user_id, &scope).await?;

    let family = family::start(
        ctx,
        FamilyStart {
            client,
            user_id: &row.user_id,
            sid: &row.sid,
            scope: &scope,
            auth_time: row.auth_time,
            amr: &row.amr,
            resources: "",
            dpop_jkt: request.dpop_jkt,
        },
        !as_id_token,
    );
    let session = LiveSession {
        sid: &row.sid,
        active_since,
    };
    // A family is stored only with a refresh token: without one, the tokens die with the
    // session through their `sid`, and repeated exchanges store nothing new.
    let stored_family = family.first().map(|first| (&family.row, first));
    match ctx
        .store
        .grant_native_sso(
            &secret_hash,
            session,
            client.id.as_str(),
            stored_family,
            ctx.now,
        )
        .await?
    {
        NativeSsoGrant::Granted => {}
        NativeSsoGrant::Ended => {
            return Err(invalid("the device's sign-in has ended; sign in again"));
        }
    }
    let response = user_tokens::respond(
        ctx,
        UserGrant {
            client,
            user: &user,
            family_id: family
                .refresh_token
                .is_some()
                .then_some(family.row.family_id.as_str()),
            sid: Some(&row.sid),
            scope: &scope,
            auth_time: row.auth_time,
            amr: &row.amr,
            nonce: None,
            refresh_token: family.refresh_token,
            device_secret: Some(device_secret),
            audience: None,
            exchanged: ExchangedFrom::default(),
            dpop_jkt: request.dpop_jkt,
        },
    )
    .await?;
    let id_token_ttl = ctx.settings.id_token_ttl.as_secs();
    Ok(issued(response, as_id_token, id_token_ttl))
}

/// The second app gets nothing the user did not approve for it: it is first-party, or the
/// user's stored consent for it covers the scope (as `/authorize` decides; Native SSO skips
/// the browser, not the consent).
async fn consented(
    ctx: &TokenContext<'_>,
    client: &Client,
    user_id: &str,
    scope: &Scope,
) -> Result<(), OAuthError> {
    if client.first_party {
        return Ok(());
    }
    let stored = ctx.store.consent(user_id, client.id.as_str()).await?;
    // Only scopes: this exchange names no API (`resource` is refused), so the APIs the
    // consent was given at do not matter here.
    let approved = stored
        .as_ref()
        .and_then(|c| Scope::parse(&c.scope).ok())
        .unwrap_or_else(Scope::empty);
    if let Some(missing) = scope.excess(&approved).next() {
        return Err(OAuthError::InvalidGrant(
            format!(
                "the user has not approved this app for the scope {missing}: sign in to it once \
                 with the authorization code flow, or ask for a narrower scope"
            )
            .into(),
        ));
    }
    Ok(())
}

fn invalid_target() -> OAuthError {
    OAuthError::InvalidTarget(
        "Native SSO issues tokens for this issuer only: audience must be the issuer and \
         resource is not accepted (Native SSO §4.1, RFC 8693 §2.2.2)"
            .into(),
    )
}

/// Whether `client_id` names a client of `group`.
async fn same_group(store: &Store, client_id: &str, group: &str) -> Result<bool, OAuthError> {
    let client = store.get_client(client_id).await?;
    Ok(client
        .and_then(|c| c.native_sso_group)
        .is_some_and(|g| g.as_str() == group))
}

/// §4.3: the device secret is the one the ID token was bound to: same session, same user, and
/// its hash is the token's `ds_hash` (compared in constant time).
fn check_binding(
    subject: &IdClaims,
    row: &DeviceSecretRow,
    alg: crate::keys::SigningAlg,
    device_secret: &str,
) -> Result<(), OAuthError> {
    let bound = subject
        .ds_hash
        .as_deref()
        .is_some_and(|ds_hash| opaque::ct_eq(ds_hash, &id_token::ds_hash(alg, device_secret)));
    if !bound || subject.sid.as_deref() != Some(row.sid.as_str()) || subject.sub != row.user_id {
        return Err(invalid("the device secret does not match the ID token"));
    }
    Ok(())
}

/// At most what the first app was granted, and what this client may have; without `scope`,
/// both at once. Wider is `invalid_scope` (RFC 6749 §5.2).
fn granted_scope(
    client: &Client,
    row: &DeviceSecretRow,
    requested: Option<&Scope>,
) -> Result<Scope, OAuthError> {
    let first = Scope::parse(&row.scope).unwrap_or_else(|_| Scope::empty());
    let Some(requested) = requested else {
        return Ok(first.without(&not_in(&first, &client.scopes)));
    };
    if let Some(extra) = requested.excess(&first).next() {
        return Err(OAuthError::InvalidScope(
            format!("the scope {extra} is wider than the device's sign-in granted").into(),
        ));
    }
    if let Some(extra) = requested.excess(&client.scopes).next() {
        return Err(OAuthError::InvalidScope(
            format!("this client may not request the scope {extra}").into(),
        ));
    }
    Ok(requested.clone())
}

fn not_in<'a>(scope: &'a Scope, allowed: &'a Scope) -> Vec<&'a str> {
    scope.excess(allowed).collect()
}

/// RFC 8693 §2.2.1: `issued_token_type`; an ID token asked for travels in `access_token`
/// with `token_type` `N_A` and its own lifetime in `expires_in`.
fn issued(mut response: TokenResponse, as_id_token: bool, id_token_ttl: u64) -> TokenResponse {
    if as_id_token && let Some(id_token) = response.id_token.take() {
        response.access_token = id_token;
        response.token_type = "N_A";
        // RFC 8693 §2.2.1: the lifetime of the token issued, here the ID token's.
        response.expires_in = id_token_ttl;
        response.issued_token_type = Some(TokenType::IdToken.as_str());
    } else {
        response.issued_token_type = Some(TokenType::AccessToken.as_str());
    }
    response
}

/// RFC 7009 for a device secret ("signing out on the device"): the secret is revoked and the
/// session it is bound to ends, with every app's tokens in it, on every node. Only an app of
/// the secret's group may do it (§2.1: a token of another client is left alone).
pub async fn revoke_device_secret(
    store: &Store,
    revocations: &crate::revocation::RevocationList,
    backchannel: &crate::sessions::Backchannel,
    client: &Client,
    device_secret: &str,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let hash = opaque::hash(device_secret);
    let Some(issued) = store.issued_device_secret(&hash).await? else {
        return Ok(());
    };
    let ours = issued.client_id == client.id.as_str()
        || match &client.native_sso_group {
            Some(group) => same_group(store, &issued.client_id, group.as_str()).await?,
            None => false,
        };
    if !ours {
        tracing::info!(client_id = %client.id, "refused to revoke another group's device secret");
        return Ok(());
    }
    store.revoke_device_secret(&hash, now).await?;
    crate::sessions::end_by_sid(store, revocations, backchannel, &issued.sid, now).await?;
    Ok(())
}
