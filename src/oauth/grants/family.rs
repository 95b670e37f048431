//! A new refresh-token family (DESIGN §3): every user grant that starts one (a code
//! redemption, a Native SSO exchange) builds it here, so that lifetimes and the rule for
//! issuing a refresh token are written once.

use crate::clock::UnixTime;
use crate::oauth::client::{Client, ClientType, GrantType};
use crate::oauth::scope::Scope;
use crate::oauth::token::TokenContext;
use crate::store::FamilyRow;
use crate::tokens::opaque::{self, Kind};

use super::authorization_code::secs;

/// Who and what a family is for.
pub struct FamilyStart<'a> {
    pub client: &'a Client,
    pub user_id: &'a str,
    pub sid: &'a str,
    pub scope: &'a Scope,
    pub auth_time: UnixTime,
    pub amr: &'a str,
    /// The resources the authorization granted (RFC 8707), space-separated.
    pub resources: &'a str,
    /// The key of the request's DPoP proof, if it had one.
    pub dpop_jkt: Option<&'a str>,
}

/// The family's row and, when one is issued, its first refresh token (its hash and idle
/// deadline for the store).
pub struct NewFamily {
    pub row: FamilyRow,
    pub refresh_token: Option<String>,
    first: Option<(String, UnixTime)>,
}

impl NewFamily {
    /// What the store keeps of the first refresh token.
    pub fn first(&self) -> Option<(&str, UnixTime)> {
        self.first
            .as_ref()
            .map(|(hash, idle)| (hash.as_str(), *idle))
    }
}

/// A refresh token is issued when `offline_access` was granted, the client may refresh, and
/// the grant allows one (`refresh`).
pub fn start(ctx: &TokenContext<'_>, f: FamilyStart<'_>, refresh: bool) -> NewFamily {
    let refresh_token = (refresh
        && f.scope.contains("offline_access")
        && f.client.allows_grant(GrantType::RefreshToken))
    .then(|| opaque::generate(Kind::Refresh));
    let lifetime = secs(ctx.settings.refresh_token_ttl);
    let idle = secs(ctx.settings.refresh_token_idle_ttl).min(lifetime);
    let first = refresh_token
        .as_deref()
        .map(|t| (opaque::hash(t), ctx.now + idle));
    NewFamily {
        row: FamilyRow {
            family_id: uuid::Uuid::new_v4().to_string(),
            client_id: f.client.id.to_string(),
            user_id: f.user_id.to_string(),
            sid: Some(f.sid.to_string()),
            scope: f.scope.to_string(),
            auth_time: f.auth_time,
            amr: f.amr.to_string(),
            created_at: ctx.now,
            expires_at: ctx.now + lifetime,
            revoked_at: None,
            resources: f.resources.to_string(),
            exchange_origins: None,
            // RFC 9449 §5: a public client's refresh tokens MUST be bound to the key of the
            // proof that got them. A confidential client's are not: they are already bound
            // to it by client authentication (§5), and binding them too would strand a
            // client that rotates its DPoP key without gaining anything.
            dpop_jkt: f
                .dpop_jkt
                .filter(|_| f.client.client_type == ClientType::Public)
                .map(str::to_string),
        },
        refresh_token,
        first,
    }
}
