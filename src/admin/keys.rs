//! The signing keys as the console, the API and `tessera keys list` show them (public facts
//! only, never key material), and the key actions of the console and the API: stage a
//! successor, promote a next key now, revoke; each needs a recent sign-in and is audited.

use serde::Serialize;

use super::{Actor, Admin, AdminError};
use crate::clock::{self, UnixTime};
use crate::config::Settings;
use crate::keys::lifecycle::LifecycleError;
use crate::keys::manage::{self, KeysError, Listed, Promoted, Revoked, Staged};
use crate::keys::{KeyRing, KeyState, SigningAlg};

#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// `next`, `active` or `retiring`: the published keys of the ring (see `KeyRing::state_of`).
    pub state: &'static str,
    pub created_at: Option<UnixTime>,
    /// `created_at` for people.
    #[serde(skip)]
    pub created: Option<String>,
}

/// Every key of the ring: the active key first, then by algorithm and age (newest first).
pub fn list(ring: &KeyRing) -> Vec<KeyInfo> {
    let mut keys: Vec<_> = ring.all().collect();
    keys.sort_by_key(|k| {
        (
            ring.state_of(k) != KeyState::Active,
            k.signing_alg(),
            std::cmp::Reverse(k.created_at()),
            k.kid().to_string(),
        )
    });
    keys.into_iter()
        .map(|k| KeyInfo {
            kid: k.kid().to_string(),
            alg: k.signing_alg().to_string(),
            state: ring.state_of(k).as_str(),
            created_at: k.created_at(),
            created: k.created_at().map(clock::display),
        })
        .collect()
}

fn keys_error(e: KeysError) -> AdminError {
    match e {
        KeysError::Lifecycle(e @ LifecycleError::UnknownKid(_)) => {
            AdminError::NotFound(e.to_string())
        }
        KeysError::Lifecycle(e) => AdminError::Conflict(e.to_string()),
        e @ (KeysError::NothingToAdopt(_) | KeysError::UnnamedKeyFiles { .. }) => {
            AdminError::Conflict(e.to_string())
        }
        KeysError::Store(e) => e.into(),
        e @ (KeysError::File(_) | KeysError::NothingSigns(_)) => {
            AdminError::Internal(anyhow::anyhow!(e.to_string()))
        }
    }
}

/// The kid of a request, checked before it reaches the records or an audit entry: an
/// RFC 7638 thumbprint is 43 base64url characters; anything of that alphabet up to 128 is
/// let through (a key file named by hand keeps its own thumbprint kid anyway).
fn checked_kid(kid: &str) -> Result<&str, AdminError> {
    let ok = !kid.is_empty()
        && kid.len() <= 128
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(kid)
    } else {
        Err(AdminError::NotFound("no key has that kid".into()))
    }
}

impl Admin<'_> {
    /// Every recorded key with its life, as `tessera keys list` shows them.
    pub async fn key_lives(&self, settings: &Settings) -> Result<Vec<Listed>, AdminError> {
        let mut listed = manage::list(self.store, settings, self.now())
            .await
            .map_err(keys_error)?;
        listed.retain(|l| l.recorded);
        Ok(listed)
    }

    /// Stages a successor for `alg`, as `tessera keys rotate` (needs a recent sign-in).
    pub async fn rotate_key(
        &self,
        by: &Actor,
        settings: &Settings,
        alg: SigningAlg,
    ) -> Result<Staged, AdminError> {
        self.require_recent(by)?;
        let staged = manage::rotate(self.store, settings, alg, self.clock)
            .await
            .map_err(keys_error)?;
        self.record(
            by,
            "key.rotated",
            &staged.kid,
            serde_json::to_value(&staged).ok(),
        )
        .await?;
        Ok(staged)
    }

    /// Makes a next key sign now (`lifecycle::plan_promotion`: once published for
    /// `jwks_max_age`); needs a recent sign-in.
    pub async fn promote_key(
        &self,
        by: &Actor,
        settings: &Settings,
        kid: &str,
    ) -> Result<Promoted, AdminError> {
        self.require_recent(by)?;
        let kid = checked_kid(kid)?;
        let promoted = manage::promote(self.store, settings, kid, self.clock)
            .await
            .map_err(keys_error)?;
        self.record(
            by,
            "key.promoted",
            kid,
            serde_json::to_value(&promoted).ok(),
        )
        .await?;
        Ok(promoted)
    }

    /// Revokes a key at once, as `tessera keys revoke`; needs a recent sign-in.
    pub async fn revoke_key(
        &self,
        by: &Actor,
        settings: &Settings,
        kid: &str,
    ) -> Result<Revoked, AdminError> {
        self.require_recent(by)?;
        let kid = checked_kid(kid)?;
        let revoked = manage::revoke(self.store, settings, kid, self.clock)
            .await
            .map_err(keys_error)?;
        // Audited whether or not a successor could be made: the revocation stands either way.
        self.record(by, "key.revoked", kid, serde_json::to_value(&revoked).ok())
            .await?;
        if let Some(missing) = revoked.successor_missing {
            return Err(AdminError::Conflict(missing));
        }
        Ok(revoked)
    }
}
