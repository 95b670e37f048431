//! Token revocation (RFC 7009) and the revocation list for resource servers that verify
//! access tokens offline (`GET /revocations`).

use serde::Serialize;

use super::client_auth::{self, ClientCredentials};
use super::error::OAuthError;
use super::introspection::{PresentedTokenContext, require_confidential, required_token};
use super::token::TokenRequest;
use crate::clock::UnixTime;
use crate::revocation::{Entry, Revocation, Target, reason};
use crate::store::Store;
use crate::tokens::opaque;
use crate::tokens::presented::{self, Presented};

/// RFC 7009 §2.1: the client authenticates (a public client by its client_id, §5) and names
/// a token; `token_type_hint` is accepted and ignored, the token's shape says what it is.
/// §2.2: the answer is 200 whether or not anything was revoked: an unknown, malformed,
/// expired or already revoked token, or another client's token (§2.1: "the authorization
/// server ... verifies whether the token was issued to the client making the revocation
/// request"; if not, it is left alone and the caller learns nothing). A Native SSO device
/// secret (`token_type_hint` `device_secret` or none: its shape says what it is) may be revoked
/// by any app of its group, and ends the session it is bound to.
pub async fn revoke(
    ctx: &PresentedTokenContext<'_>,
    credentials: &ClientCredentials,
    request: &TokenRequest,
) -> Result<(), OAuthError> {
    let client = client_auth::authenticate(ctx.store, credentials).await?;
    let token = required_token(request, "RFC 7009 §2.1")?;
    match presented::classify(token) {
        Presented::AccessToken(jwt) => {
            let Some(claims) = ctx.check.verified(jwt) else {
                return Ok(());
            };
            if claims.client_id != client.id.as_str() {
                tracing::info!(client_id = %client.id, "refused to revoke another client's token");
                return Ok(());
            }
            if ctx.check.revocations.is_revoked(&claims) {
                return Ok(());
            }
            let revocation =
                Revocation::access_token(&claims, reason::CLIENT_REQUEST, ctx.check.now);
            ctx.check.revocations.revoke(ctx.store, revocation).await?;
            Ok(())
        }
        // RFC 7009 §2.1: revoking a refresh token also revokes the access tokens issued with
        // it: the whole family goes, in the store and on the list (by `fam`).
        Presented::RefreshToken(rt) => {
            let Some(row) = ctx.store.refresh_token(&opaque::hash(rt)).await? else {
                return Ok(());
            };
            let family = &row.family.family_id;
            if row.family.client_id != client.id.as_str() {
                tracing::info!(client_id = %client.id, "refused to revoke another client's token");
                return Ok(());
            }
            let now = ctx.check.now;
            ctx.store
                .revoke_family(family, reason::CLIENT_REQUEST, now)
                .await?;
            // Always, not only when the store changed: the entry is written once however often
            // this is asked, and a retry after a failure between the two writes completes it.
            ctx.check
                .revocations
                .revoke_family(ctx.store, family, reason::CLIENT_REQUEST, now)
                .await?;
            Ok(())
        }
        // Native SSO: revoking the device secret signs the device out.
        Presented::DeviceSecret(secret) => {
            crate::oauth::grants::token_exchange::native_sso::revoke_device_secret(
                ctx.store,
                ctx.check.revocations,
                ctx.backchannel,
                &client,
                secret,
                ctx.check.now,
            )
            .await
        }
        Presented::Unrecognised => Ok(()),
    }
}

/// Most entries one `GET /revocations` answer carries; `more` says to ask again.
pub const PAGE_SIZE: i64 = 1000;

/// The answer of `GET /revocations?since=CURSOR`.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationPage {
    /// Pass this as `since` next time.
    pub cursor: i64,
    /// True when the page is full and more entries follow: ask again at once.
    pub more: bool,
    pub revocations: Vec<PublishedEntry>,
}

/// One entry as resource servers see it. A token is revoked when an entry matches it:
/// `jti` = jti, `sid` = sid, `family` = fam, `user` = sub with `iat <= issued_before`,
/// `client` = client_id with `iat <= issued_before`, `kid` = the `kid` of its JWS header (a
/// revoked signing key), `api` = one of its `aud` with `iat <= issued_before` (a removed API),
/// `client_api` = `"{client_id} {aud}"` for one of its `aud` with `iat <= issued_before` (an
/// API taken from the client).
#[derive(Debug, Clone, Serialize)]
pub struct PublishedEntry {
    pub id: i64,
    pub kind: &'static str,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<UnixTime>,
    pub revoked_at: UnixTime,
    pub expires_at: UnixTime,
    pub reason: String,
}

impl From<Entry> for PublishedEntry {
    fn from(e: Entry) -> Self {
        let (kind, value, issued_before) = match e.target {
            Target::Jti(v) => ("jti", v, None),
            Target::Sid(v) => ("sid", v, None),
            Target::Family(v) => ("family", v, None),
            Target::User { sub, before } => ("user", sub, Some(before)),
            Target::Client { client_id, before } => ("client", client_id, Some(before)),
            Target::Kid(v) => ("kid", v, None),
            Target::Api { api, before } => ("api", api, Some(before)),
            Target::ClientApi { key, before } => ("client_api", key, Some(before)),
        };
        Self {
            id: e.id,
            kind,
            value,
            issued_before,
            revoked_at: e.revoked_at,
            expires_at: e.expires_at,
            reason: e.reason,
        }
    }
}

/// The live entries after `since`, from the store (the authority, not this node's copy).
/// Resource servers only: the list names sessions, users and clients of every application,
/// which an ordinary client has no business reading (issue 11 point 9).
pub async fn list_since(
    store: &Store,
    credentials: &ClientCredentials,
    since: i64,
    now: UnixTime,
) -> Result<RevocationPage, OAuthError> {
    let client = client_auth::authenticate(store, credentials).await?;
    require_confidential(&client, credentials)?;
    // An API's backend (a 'serve' link) verifies that API's tokens offline, so it needs the
    // list too; unlike --resource-server, this does not let it introspect every token.
    if !client.resource_server && store.served_apis(client.id.as_str()).await?.is_empty() {
        return Err(OAuthError::Forbidden(
            "the revocation list is for resource servers and clients that serve an API".into(),
        ));
    }
    let rows = store.live_revocations_after(since, now, PAGE_SIZE).await?;
    let more = i64::try_from(rows.len()).is_ok_and(|n| n >= PAGE_SIZE);
    let cursor = rows.last().map_or(since, |r| r.id);
    let entries = crate::revocation::entries(rows);
    Ok(RevocationPage {
        cursor,
        more,
        revocations: entries.into_iter().map(PublishedEntry::from).collect(),
    })
}

/// `since`: absent means from the start; otherwise a cursor this server handed out.
pub fn parse_since(raw: Option<&str>) -> Result<i64, OAuthError> {
    match raw {
        None => Ok(0),
        Some(text) => {
            text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                OAuthError::invalid_request("since must be a cursor (a number >= 0)")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_non_negative_cursor_defaulting_to_zero() {
        assert_eq!(parse_since(None).unwrap(), 0);
        assert_eq!(parse_since(Some("42")).unwrap(), 42);
        for bad in ["-1", "x", "1.5", ""] {
            assert!(parse_since(Some(bad)).is_err(), "{bad}");
        }
    }
}
