//! Token exchange of Tessera's own access tokens (RFC 8693, issue 12 §2): a client turns a
//! user's token for one API into a token for another, under its exchange policy
//! (`client_apis` roles `serve` and `exchange`, the client's `exchange_*` options). The new
//! token keeps the subject's `sub`, `sid` and refresh family (`fam`), and names the tokens it
//! was made from (`xo`: their client, `jti`, `kid`), so every revocation that reaches the
//! subject (logout, password change, family, user or client revocation, its key, its `jti`)
//! reaches it too, on every node at once.
//!
//! Decisions (issue 12 §2 leaves them open; the attacker review settled the rest):
//! - The subject must be a user's token: a client's own `client_credentials` token has no
//!   user to act for and is refused.
//! - The caller's right is checked before anything about the subject's state, and every bad
//!   subject gets the same answer: `invalid_request`, as §2.2.2 says MUST for a subject or
//!   actor token that is invalid "for any reason" (so a caller learns nothing of a token it
//!   may not exchange, nor whether its user was disabled or signed out).
//! - Scopes never exceed the grant the user made (the family's scope) when the caller is
//!   the subject's own client (it cannot turn a token consented for `openid` into an API's
//!   scopes), nor when the target is an API that grant was for (A→B→A regains nothing).
//! - The actor token must be the caller's own `client_credentials` token (`sub` =
//!   `client_id` = the caller): a user's token or the subject itself proves nothing.
//! - Without an actor token, the subject's own client narrows its token (keeping the `act`
//!   it had); any other caller impersonates (§1.1), allowed only with
//!   `--exchange-impersonate`. Each `xo` origin records whether its exchange had an actor
//!   token, which the rights of an exchanged family are judged by (`oauth::exchange_rights`).
//! - A public client proves nothing by holding its own token (a thief would too): it may only
//!   narrow, to an audience the subject already has and scopes the subject already has.
//! - A token goes through at most `MAX_EXCHANGES` exchanges, which bounds `act` and `xo`.
//! - The new token lives at most as long as the subject has left: an exchange never extends
//!   a grant.
//! - No refresh token is issued (§2.2.1 makes it optional), unless the client is allowed
//!   one (`--exchange-refresh`) and asks with `requested_token_type` refresh_token: it then
//!   starts a family of its own that dies with the subject's grant (`start_family`).

use std::time::Duration;

use super::{ExchangeRequest, TokenType};
use crate::oauth::client::{Client, ClientType, GrantType};
use crate::oauth::error::OAuthError;
use crate::oauth::exchange_rights::{ExchangeRights, LostRight};
use crate::oauth::grants::authorization_code::secs;
use crate::oauth::resource::{Audience, Resource};
use crate::oauth::resources;
use crate::oauth::scope::Scope;
use crate::oauth::token::{TokenContext, TokenResponse};
use crate::revocation::GrantOrigin;
use crate::store::{ApiRow, FamilyRefused, FamilyRow};
use crate::tokens::access::{self, AccessGrant, verify_access_token};
use crate::tokens::claims::{AccessClaims, Act, ExchangedFrom, MAX_EXCHANGES, Origin};
use crate::tokens::opaque::{self, Kind};

/// RFC 8693 §2.2.2: "If the request itself is not valid or if either the subject_token or
/// actor_token are invalid for any reason, or are unacceptable based on policy, the
/// authorization server MUST construct an error response [...] The value of the error
/// parameter MUST be the invalid_request error code". One answer for every reason, so that a
/// caller learns nothing about a token it may not use.
fn bad_subject() -> OAuthError {
    OAuthError::invalid_request(
        "the subject_token is not valid for this exchange (RFC 8693 §2.2.2)",
    )
}

fn bad_actor() -> OAuthError {
    OAuthError::invalid_request(
        "the actor_token must be a valid client_credentials access token of the requesting \
         client (RFC 8693 §2.2.2)",
    )
}

pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &ExchangeRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    match request.requested_token_type {
        None | Some(TokenType::AccessToken) => {}
        Some(TokenType::RefreshToken)
            if client.exchange_refresh && client.allows_grant(GrantType::RefreshToken) => {}
        Some(TokenType::RefreshToken) => {
            return Err(OAuthError::UnauthorizedClient(
                "this client may not get a refresh token by token exchange \
                 (--exchange-refresh and the refresh_token grant)"
                    .into(),
            ));
        }
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "an access token is exchanged only for an access token, not {} (RFC 8693 §2.2.2)",
                other.as_str()
            )));
        }
    }
    let issuer = ctx.settings.issuer();
    // The signature says whose token it is; nothing about its state is looked at (or told)
    // before the caller's right to exchange it is.
    let subject = verify_access_token(ctx.keys, &issuer, request.subject_token, ctx.now)
        .map_err(|_| bad_subject())?;
    // A client's own token (client_credentials) speaks for no user.
    if subject.sub == subject.client_id {
        return Err(bad_subject());
    }

    // The one policy look-up: what the client serves and may exchange into.
    let policy = ctx.store.exchange_policy(client.id.as_str()).await?;
    // Who may exchange: the subject's own client, or the backend of an API it is for.
    let own = subject.client_id == client.id.as_str();
    let public = client.client_type != ClientType::Confidential;
    let serves = !public
        && policy
            .iter()
            .any(|(serve, api)| *serve && subject.aud.contains(&api.identifier));
    if !(own || serves) {
        return Err(bad_subject());
    }
    if subject.xo.len() >= MAX_EXCHANGES {
        return Err(OAuthError::invalid_request(format!(
            "the subject_token has been exchanged {MAX_EXCHANGES} times already, the most a \
             token may be (RFC 8693 §2.2.2)"
        )));
    }
    // Who may act, and into what, before anything about the subject's state: a caller
    // without the right learns nothing of whether the subject is alive.
    let act = actor(ctx, &issuer, client, request, &subject, own)?;
    entered_with_rights(client, &policy, &subject, request)?;
    let target = target(request)?;
    let api = policy
        .into_iter()
        .find(|(serve, api)| !*serve && api.identifier == target.as_str())
        .map(|(_, api)| resources::api_from_row(api))
        .ok_or_else(|| {
            OAuthError::InvalidTarget(
                "this client may not exchange tokens into that audience (RFC 8693 §2.2.2)".into(),
            )
        })?;
    // A public client holds no secret: its own token proves nothing about who sends it, so
    // it may only narrow, never reach an audience the token did not have.
    if public && !subject.aud.contains(target.as_str()) {
        return Err(OAuthError::InvalidTarget(
            "a public client may exchange its token only into an audience it already has \
             (RFC 8693 §2.2.2)"
                .into(),
        ));
    }
    let family = live_subject(ctx, &subject).await?;
    // RFC 9449 §6: a DPoP-bound token works only for the holder of its key, here as anywhere:
    // it is exchanged only with a proof of that key (an unacceptable subject_token, RFC 8693
    // §2.2.2).
    if let Some(cnf) = &subject.cnf
        && request.dpop_jkt != Some(cnf.jkt.as_str())
    {
        return Err(OAuthError::invalid_request(
            "the subject_token is DPoP-bound: send a DPoP proof of its key (RFC 9449 §6)",
        ));
    }
    let root = root_family(ctx, &subject, &family).await?;
    let grant = Grant {
        family: &family,
        root: &root,
    };
    let refresh = request.requested_token_type == Some(TokenType::RefreshToken);
    if refresh {
        may_refresh(ctx, &root).await?;
    }

    let scope = granted_scope(client, &api.scopes, &subject, grant, &target, own, request)?;
    let audience = Audience {
        aud: vec![target.to_string()],
        scope: scope.clone(),
        ttl: api.access_token_ttl,
        signing_alg: api.signing_alg,
    };
    let remaining = Duration::from_secs(u64::try_from(subject.exp - ctx.now).unwrap_or(0));
    let ttl =
        resources::token_ttl(Some(&audience), client, ctx.settings.access_token_ttl).min(remaining);
    let mut origins = subject.xo.clone();
    origins.push(Origin {
        c: subject.client_id.clone(),
        j: subject.jti.clone(),
        k: subject.kid.clone(),
        // A new family's tokens name the subject's family, which is no longer their own.
        f: refresh.then(|| family.family_id.clone()),
        a: subject.aud.iter().map(str::to_string).collect(),
        d: request.actor.is_some(),
    });
    // The key first: a node that cannot sign now (503) leaves no family behind.
    let key = resources::access_key(ctx, client, Some(&audience)).await?;
    let (fam, refresh_token) = match refresh {
        false => (subject.fam.clone(), None),
        true => {
            let from = ExchangedFrom {
                xo: origins.clone(),
                act: act.clone(),
            };
            let (id, token) =
                start_family(ctx, client, &subject, grant, &target, &scope, &from).await?;
            (Some(id), Some(token))
        }
    };
    // Again: the revocation list may have learnt of the key's revocation while the family was
    // stored; its successor signs then (a token born revoked would be refused everywhere).
    let key = match refresh {
        true => resources::access_key(ctx, client, Some(&audience)).await?,
        false => key,
    };
    let token = access::mint(
        &key,
        &issuer,
        AccessGrant {
            subject: subject.sub.clone(),
            audience: resources::token_aud(Some(&audience), client),
            client_id: client.id.to_string(),
            scope: scope.to_string(),
            ttl,
            sid: subject.sid.clone(),
            auth_time: subject.auth_time,
            roles: subject.roles.clone().filter(|_| scope.contains("roles")),
            family: fam,
            act,
            may_act: None,
            origins,
            // Bound to the requester's key when it sent a proof (RFC 9449 §5).
            dpop_jkt: request.dpop_jkt.map(str::to_string),
        },
        ctx.now,
    )?;
    // §2.2.1: `scope` is required when it differs from the request; the exchange never
    // grants an empty one, so it is always sent and the client need not compare.
    // With a refresh token asked for, `access_token` still holds the access token (what
    // `issued_token_type` names) and the refresh token comes beside it (§2.2.1).
    Ok(TokenResponse {
        issued_token_type: Some(TokenType::AccessToken.as_str()),
        refresh_token,
        ..TokenResponse::access_only(token, &scope)
    })
}

/// `--exchange-refresh`: a family of the caller's own for the exchanged audience and scope,
/// in the subject's session, ending no later than the subject's family, remembering what it
/// was made from. Its refresh tokens rotate with reuse detection like any other; logging out
/// revokes it with the session, and every refresh checks the grants it came from.
async fn start_family(
    ctx: &TokenContext<'_>,
    client: &Client,
    subject: &AccessClaims,
    grant: Grant<'_>,
    target: &Resource,
    scope: &Scope,
    from: &ExchangedFrom,
) -> Result<(String, String), OAuthError> {
    let Grant {
        family: parent,
        root,
    } = grant;
    let token = opaque::generate(Kind::Refresh);
    let expires_at = (ctx.now + secs(ctx.settings.refresh_token_ttl))
        .min(parent.expires_at)
        .min(root.expires_at);
    let idle = (ctx.now + secs(ctx.settings.refresh_token_idle_ttl)).min(expires_at);
    let row = FamilyRow {
        family_id: uuid::Uuid::new_v4().to_string(),
        client_id: client.id.to_string(),
        user_id: subject.sub.clone(),
        sid: subject.sid.clone(),
        scope: scope.to_string(),
        auth_time: subject.auth_time.unwrap_or(parent.auth_time),
        amr: parent.amr.clone(),
        created_at: ctx.now,
        expires_at,
        revoked_at: None,
        resources: target.to_string(),
        exchange_origins: Some(
            serde_json::to_string(from).map_err(|e| OAuthError::ServerError(e.into()))?,
        ),
        // Only confidential clients get refresh tokens by exchange, and their refresh tokens
        // are sender-constrained by client authentication, not DPoP (RFC 9449 §5).
        dpop_jkt: None,
    };
    let stored = ctx
        .store
        .insert_exchanged_family(&row, (&opaque::hash(&token), idle), from, subject.iat)
        .await?;
    match stored {
        Ok(()) => Ok((row.family_id, token)),
        // A token it is made from was revoked while this exchange was under way.
        Err(FamilyRefused::OriginRevoked) => Err(bad_subject()),
        // A right the exchange needs was taken from this client after a stale cache let
        // it through: the answer a fresh node gives.
        Err(FamilyRefused::RightLost(lost)) => Err(match lost {
            LostRight::Refresh | LostRight::Impersonate => {
                OAuthError::UnauthorizedClient(lost_right(lost).into())
            }
            LostRight::Audience => OAuthError::InvalidTarget(lost_right(lost).into()),
            LostRight::Serve => bad_subject(),
        }),
        // The audience was taken from this client (or removed) after a stale cache let the
        // exchange through (RFC 8693 §2.2.2).
        Err(FamilyRefused::TargetRevoked) => Err(OAuthError::InvalidTarget(
            "the audience is no longer available to this client".into(),
        )),
    }
}

/// Every earlier exchange by which the subject's grant came to this client (a token another
/// client made from one this client exchanged) needs the rights it would need now: another
/// client's token must not bring back to it a grant it got by impersonation, or as the
/// backend of an API, once that right is gone (`ExchangeRights::lost_entry`, as at a refresh).
fn entered_with_rights(
    client: &Client,
    policy: &[(bool, ApiRow)],
    subject: &AccessClaims,
    request: &ExchangeRequest<'_>,
) -> Result<(), OAuthError> {
    let serves: Vec<String> = policy
        .iter()
        .filter(|(serve, _)| *serve)
        .map(|(_, api)| api.identifier.clone())
        .collect();
    // Only how the grant came matters here: refresh and audience are judged elsewhere.
    let rights = ExchangeRights {
        refresh: true,
        impersonate: client.exchange_impersonate,
        serves: &serves,
        audiences: &[],
    };
    let mut xo = subject.xo.clone();
    xo.push(Origin {
        c: subject.client_id.clone(),
        j: subject.jti.clone(),
        k: None,
        f: None,
        a: subject.aud.iter().map(str::to_string).collect(),
        d: request.actor.is_some(),
    });
    let chain = ExchangedFrom { xo, act: None };
    match rights.lost_entry(client.id.as_str(), &chain) {
        None => Ok(()),
        Some(LostRight::Serve) => Err(bad_subject()),
        Some(lost) => Err(OAuthError::UnauthorizedClient(lost_right(lost).into())),
    }
}

/// Why a refresh of an exchanged family is refused when its client lost a right.
fn lost_right(lost: LostRight) -> &'static str {
    match lost {
        LostRight::Refresh => "this client may no longer get refresh tokens by token exchange",
        LostRight::Audience => {
            "this client may no longer exchange tokens into the token's audience"
        }
        LostRight::Serve => {
            "this client no longer serves the API of the token this one was exchanged from"
        }
        LostRight::Impersonate => "this client may no longer impersonate by token exchange",
    }
}

/// A refresh of a family `start_family` made: every grant it came from must still be alive
/// (in the revocation list and in the store: a revoked or removed client's families are
/// revoked there), the client must still be allowed refresh tokens by exchange and the
/// audience, and the scope stays within the API's and the client's. Returns the access
/// token's audience and what it carries of the exchange.
pub async fn refreshed(
    ctx: &TokenContext<'_>,
    client: &Client,
    family: &FamilyRow,
    stored: &str,
    requested: Option<&str>,
    scope: &Scope,
) -> Result<(Audience, ExchangedFrom), OAuthError> {
    let from: ExchangedFrom =
        serde_json::from_str(stored).map_err(|e| OAuthError::ServerError(e.into()))?;
    let ended =
        || OAuthError::InvalidGrant("the grant this token was exchanged from has ended".into());
    for o in &from.xo {
        let origin = GrantOrigin {
            sub: &family.user_id,
            client_id: &o.c,
            sid: family.sid.as_deref(),
            family: o.f.as_deref(),
            issued_at: family.created_at,
        };
        // The list, not the store, for the origin's own token (jti, key, client, APIs): the
        // store revoked this family when that entry was written, in the entry's transaction
        // (`Store::insert_revocation`, and a key's revocation with its record), and a family
        // is never stored once such an entry exists (`Store::insert_exchanged_family`). So
        // the list is needed only for the moment before this node polled the entry, and the
        // store holds the rest after the entry is purged: no `key_revoked` query per origin.
        // (A purged `kid` entry names only expired tokens, and an exchange needs a live
        // subject, which never outlives the tokens it was made from.)
        if ctx.revocations.revokes_grant(&origin)
            || ctx.revocations.revokes_origin(o, family.created_at)
        {
            return Err(ended());
        }
        if let Some(f) = o.f.as_deref() {
            let live = match ctx.store.family(f).await? {
                Some(p) => root_alive(ctx, &p).await?,
                None => false,
            };
            if !live {
                return Err(ended());
            }
        }
    }
    let target = family.resources.trim();
    if requested.is_some_and(|r| r != target) {
        return Err(OAuthError::InvalidTarget(
            "a refresh token from a token exchange is for its one audience (RFC 8707 §2.2)".into(),
        ));
    }
    let policy = ctx.store.exchange_policy(client.id.as_str()).await?;
    let (serves, audiences): (Vec<_>, Vec<_>) = policy.iter().partition(|(serve, _)| *serve);
    let ids = |l: Vec<&(bool, ApiRow)>| l.into_iter().map(|(_, a)| a.identifier.clone()).collect();
    let (serves, audiences): (Vec<String>, Vec<String>) = (ids(serves), ids(audiences));
    let rights = ExchangeRights {
        refresh: client.exchange_refresh,
        impersonate: client.exchange_impersonate,
        serves: &serves,
        audiences: &audiences,
    };
    if let Some(lost) = rights.lost(client.id.as_str(), target, &from) {
        return Err(OAuthError::InvalidGrant(lost_right(lost).into()));
    }
    let api = policy
        .into_iter()
        .find(|(serve, api)| !*serve && api.identifier == target)
        .map(|(_, api)| resources::api_from_row(api))
        .ok_or_else(ended)?;
    let scope = scope.intersection(&api.scopes).intersection(&client.scopes);
    if scope.is_empty() {
        return Err(OAuthError::InvalidScope(
            "no scope of the token may still be exchanged into its audience".into(),
        ));
    }
    Ok((
        Audience {
            aud: vec![target.to_string()],
            scope,
            ttl: api.access_token_ttl,
            signing_alg: api.signing_alg,
        },
        from,
    ))
}

/// Whether the subject's grant is alive, with the same checks every grant makes (user,
/// password, session, family, client, and the revocation list for the token itself and every
/// token it was made from), and the grant's family as the store has it: a client revoked or
/// removed revokes its families in the store without a list entry for each.
async fn live_subject(
    ctx: &TokenContext<'_>,
    subject: &AccessClaims,
) -> Result<FamilyRow, OAuthError> {
    if ctx.revocations.is_revoked(subject) {
        return Err(bad_subject());
    }
    let Some(fam) = subject.fam.as_deref() else {
        return Err(bad_subject());
    };
    // Whether the user is still live (enabled, password unchanged) is judged as for any
    // access token: disabling the user or changing the password writes a `user` entry that
    // outlives every token issued before it. No user read: DESIGN §6.
    if ctx.revocations.revokes_grant(&GrantOrigin {
        sub: &subject.sub,
        client_id: &subject.client_id,
        sid: subject.sid.as_deref(),
        family: Some(fam),
        issued_at: subject.iat,
    }) {
        return Err(bad_subject());
    }
    ctx.store
        .family(fam)
        .await?
        .filter(|f| f.revoked_at.is_none() && f.user_id == subject.sub && f.expires_at > ctx.now)
        .ok_or_else(bad_subject)
}

/// The subject's family and the family of the user's own grant it comes from (the same row
/// unless an exchange started a family on the way).
#[derive(Clone, Copy)]
struct Grant<'a> {
    family: &'a FamilyRow,
    root: &'a FamilyRow,
}

/// The family of the user's own grant the subject comes from: the first family an exchange
/// named (`o.f`, set when an exchange started a family of its own), else the subject's.
async fn root_family(
    ctx: &TokenContext<'_>,
    subject: &AccessClaims,
    family: &FamilyRow,
) -> Result<FamilyRow, OAuthError> {
    match subject.xo.iter().find_map(|o| o.f.as_deref()) {
        None => Ok(family.clone()),
        Some(root) => ctx
            .store
            .family(root)
            .await?
            .filter(|f| {
                f.revoked_at.is_none() && f.user_id == subject.sub && f.expires_at > ctx.now
            })
            .ok_or_else(bad_subject),
    }
}

/// A refresh token by exchange only where the user's grant has one itself: the user granted
/// `offline_access` (as the code flow requires, `family::start`) and its family still has a
/// live refresh token (unused, within its idle window). An exchange never outlasts what the
/// user allowed.
async fn may_refresh(ctx: &TokenContext<'_>, root: &FamilyRow) -> Result<(), OAuthError> {
    let offline = Scope::parse(&root.scope).is_ok_and(|s| s.contains("offline_access"));
    if offline && root_alive(ctx, root).await? {
        return Ok(());
    }
    Err(OAuthError::invalid_request(
        "a refresh token is issued by token exchange only for a grant the user made with \
         offline_access and that still has a live refresh token (RFC 8693 §2.2.1)",
    ))
}

/// Whether a family an exchange came from is alive: not revoked, not expired, and with a
/// refresh token not idle (a family with none ends with its session's access tokens).
async fn root_alive(ctx: &TokenContext<'_>, f: &FamilyRow) -> Result<bool, OAuthError> {
    Ok(f.revoked_at.is_none()
        && f.expires_at > ctx.now
        && ctx
            .store
            .family_has_live_token(&f.family_id, ctx.now)
            .await?)
}

/// The scope of the new token: at most what the client may have for the API; no wider than
/// the subject when the target is an audience it had or the caller is public; no wider than
/// the user's grant (the family's scope) when the caller is the subject's own client or the
/// target is an API that grant was for. `invalid_scope` when the request asks for more.
fn granted_scope(
    client: &Client,
    api_scopes: &Scope,
    subject: &AccessClaims,
    grant: Grant<'_>,
    target: &Resource,
    own: bool,
    request: &ExchangeRequest<'_>,
) -> Result<Scope, OAuthError> {
    let Grant { family, root } = grant;
    let mut allowed = client.scopes.intersection(api_scopes);
    let public = client.client_type != ClientType::Confidential;
    if subject.aud.contains(target.as_str()) || public {
        let subject_scope = Scope::parse(&subject.scope).unwrap_or_else(|_| Scope::empty());
        allowed = allowed.intersection(&subject_scope);
    }
    if own {
        let grant_scope = Scope::parse(&family.scope).unwrap_or_else(|_| Scope::empty());
        allowed = allowed.intersection(&grant_scope);
    }
    // Against the user's own grant (the root family), not the last hop: a family an exchange
    // started is for its one audience only, and would otherwise let A → B → A regain A's
    // scopes the user never granted.
    let granted_for_target = root
        .resources
        .split_whitespace()
        .any(|r| r == target.as_str());
    if granted_for_target {
        let grant_scope = Scope::parse(&root.scope).unwrap_or_else(|_| Scope::empty());
        allowed = allowed.intersection(&grant_scope);
    }
    let scope = match &request.scope {
        Some(asked) => {
            if let Some(extra) = asked.excess(&allowed).next() {
                return Err(OAuthError::InvalidScope(
                    format!("the scope {extra} may not be exchanged into that audience").into(),
                ));
            }
            asked.clone()
        }
        // Without `scope`, all that is allowed: a new audience's scopes are its own, never
        // the subject's, and `allowed` is already narrowed where it must be.
        None => allowed,
    };
    if scope.is_empty() {
        return Err(OAuthError::InvalidScope(
            "no scope may be exchanged into that audience by this client".into(),
        ));
    }
    Ok(scope)
}

/// RFC 8693 §4.1: the actor of a delegation, with the subject's own actor nested inside.
/// The actor token must be the caller's own client_credentials token. Without one, the
/// subject's own client narrows its token (its `act` stays), and any other caller
/// impersonates (§1.1, no `act`), which only a client registered for it may do.
fn actor(
    ctx: &TokenContext<'_>,
    issuer: &str,
    client: &Client,
    request: &ExchangeRequest<'_>,
    subject: &AccessClaims,
    own: bool,
) -> Result<Option<Act>, OAuthError> {
    let Some((token, kind)) = request.actor else {
        // The subject's own client narrows its token: whoever acted for the user still does
        // (and `exchange_rights` still sees how the grant came to the client).
        if own {
            return Ok(subject.act.clone());
        }
        if client.exchange_impersonate {
            return Ok(None);
        }
        return Err(OAuthError::UnauthorizedClient(
            "impersonation is not allowed for this client: send its own access token as \
             actor_token (RFC 8693 §1.1, §2.1)"
                .into(),
        ));
    };
    if kind != TokenType::AccessToken {
        return Err(super::unsupported("actor_token_type", kind.as_str()));
    }
    let actor = verify_access_token(ctx.keys, issuer, token, ctx.now)
        .ok()
        .filter(|a| !ctx.revocations.is_revoked(a))
        .filter(|a| a.sub == a.client_id && a.client_id == client.id.as_str())
        .ok_or_else(bad_actor)?;
    // RFC 9449 §6: a bound actor token too needs a proof of its key; a request carries one
    // proof, so a subject and an actor bound to different keys are refused (§2.2.2).
    if let Some(cnf) = &actor.cnf
        && request.dpop_jkt != Some(cnf.jkt.as_str())
    {
        return Err(OAuthError::invalid_request(
            "the actor_token is DPoP-bound: send a DPoP proof of its key (RFC 9449 §6)",
        ));
    }
    // §4.4: when the subject names who may act for it, the actor must be one of them.
    if let Some(may) = &subject.may_act {
        let admitted = may.sub == actor.sub
            && may
                .client_id
                .as_deref()
                .is_none_or(|c| c == actor.client_id);
        if !admitted {
            return Err(OAuthError::invalid_request(
                "the subject_token's may_act does not name this actor (RFC 8693 §4.4, §2.2.2)",
            ));
        }
    }
    Ok(Some(Act {
        sub: actor.sub,
        client_id: Some(actor.client_id),
        act: subject.act.clone().map(Box::new),
    }))
}

/// §2.1: the target API, by `audience` (its identifier) and/or `resource`. One API per
/// exchange: both may be sent only when they name the same one.
fn target(request: &ExchangeRequest<'_>) -> Result<Resource, OAuthError> {
    let audience = request
        .audience
        .map(|a| {
            Resource::parse(a).map_err(|e| {
                OAuthError::InvalidTarget(
                    format!("the audience {} (RFC 8693 §2.2.2)", e.why()).into(),
                )
            })
        })
        .transpose()?;
    match (audience, request.resource.clone()) {
        (Some(a), Some(r)) if a != r => Err(OAuthError::InvalidTarget(
            "audience and resource name different APIs; exchange into one at a time".into(),
        )),
        (Some(t), _) | (None, Some(t)) => Ok(t),
        (None, None) => Err(OAuthError::invalid_request(
            "name the API the new token is for with audience or resource (RFC 8693 §2.1)",
        )),
    }
}
