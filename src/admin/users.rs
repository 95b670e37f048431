//! User administration: search, create, disable/enable, set a password, grant/revoke admin,
//! sign out everywhere, and a user's detail (recent audit entries, live sessions). Creating
//! and the password rules are `accounts::manage`'s; these add who may and the audit entry.

use secrecy::SecretString;
use serde_json::json;

use super::api::{PageOf, Paging};
use super::sessions::SessionInfo;
use super::{Actor, Admin, AdminError};
use crate::accounts::manage::{self, NewAccount};
use crate::accounts::{Role, User, Username};
use crate::store::{AuditEntry, contains_pattern};

/// How many recent audit entries and sessions a detail page shows.
pub const RECENT: u32 = 20;

/// A user named by id (the console and the API) or by username (the CLI).
#[derive(Debug, Clone, Copy)]
pub enum UserRef<'a> {
    Id(&'a str),
    Name(&'a str),
}

/// A user signed out everywhere, and how many sessions that ended.
pub struct SignedOut {
    pub user: User,
    pub ended: usize,
}

/// A user's page: the user, the newest audit entries by or about them, their live sessions.
pub struct UserDetail {
    pub user: User,
    pub audit: Vec<AuditEntry>,
    pub sessions: Vec<SessionInfo>,
}

/// The user's roles with `role` added or removed, as stored (space-separated, sorted).
pub fn roles_with(user: &User, role: Role, on: bool) -> String {
    let mut roles: Vec<&str> = user
        .roles
        .iter()
        .map(String::as_str)
        .filter(|r| *r != role.as_str())
        .collect();
    if on {
        roles.push(role.as_str());
    }
    roles.sort_unstable();
    roles.join(" ")
}

/// No one disables their own account (they would lock themselves out).
pub fn may_disable(by: &Actor, user: &User) -> Result<(), AdminError> {
    if by.is(&user.id) {
        return Err(AdminError::invalid(
            "user",
            "you cannot disable your own account",
        ));
    }
    Ok(())
}

impl Admin<'_> {
    pub async fn user(&self, user: UserRef<'_>) -> Result<User, AdminError> {
        match user {
            UserRef::Id(id) => self.store.user_by_id(id).await?.ok_or_else(|| {
                AdminError::NotFound(format!("no user with id '{}'", id.escape_default()))
            }),
            UserRef::Name(name) => Ok(manage::find(self.store, name).await?),
        }
    }

    /// A user named in a filter or a revocation: by username, else by id.
    pub async fn find_user(&self, name_or_id: &str) -> Result<Option<User>, AdminError> {
        if let Ok(username) = Username::parse(name_or_id)
            && let Some(user) = self.store.user_by_username_key(&username.key()).await?
        {
            return Ok(Some(user));
        }
        Ok(self.store.user_by_id(name_or_id).await?)
    }

    /// Users whose name, e-mail or display name contains `q` (any case), by name.
    pub async fn search_users(&self, q: &str, paging: &Paging) -> Result<PageOf<User>, AdminError> {
        let users = self
            .store
            .search_users(&contains_pattern(q), paging.limit(), paging.offset())
            .await?;
        Ok(paging.wrap(users))
    }

    /// Every user, by name (the CLI's list).
    pub async fn all_users(&self) -> Result<Vec<User>, AdminError> {
        Ok(self.store.list_users(10_000, 0).await?)
    }

    /// Creates a user; creating an administrator needs a recent sign-in.
    pub async fn create_user(&self, by: &Actor, input: NewAccount) -> Result<User, AdminError> {
        if input.roles.contains(&Role::Admin) {
            self.require_recent(by)?;
        }
        let user = manage::create_user(self.store, self.hasher, input, self.now()).await?;
        let after = json!({
            "username": user.username, "email": user.email, "roles": user.roles.join(" ")
        });
        self.record(
            by,
            "user.created",
            &user.id,
            Some(json!({ "after": after })),
        )
        .await?;
        Ok(user)
    }

    /// Disables (ending every session, revoking every token) or enables a user; returns the
    /// user as they are now. Enabling an administrator hands back admin rights: as sensitive
    /// as granting them.
    pub async fn set_user_disabled(
        &self,
        by: &Actor,
        user: UserRef<'_>,
        disabled: bool,
    ) -> Result<User, AdminError> {
        let user = self.user(user).await?;
        if disabled {
            may_disable(by, &user)?;
        }
        // Either way for an administrator: a client's token (never recent) or a stolen stale
        // session could otherwise disable every administrator, leaving only the CLI.
        if user.has_role(Role::Admin) {
            self.require_recent(by)?;
        }
        manage::set_disabled(
            self.store,
            self.revocations,
            self.backchannel,
            &user.username,
            disabled,
            self.now(),
        )
        .await?;
        let action = if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        };
        let detail = json!({
            "before": { "disabled": user.disabled }, "after": { "disabled": disabled }
        });
        self.record(by, action, &user.id, Some(detail)).await?;
        self.user(UserRef::Id(&user.id)).await
    }

    /// A new password: every session of the user ends. Whoever sets a password can sign in
    /// as that user (and enrol their own authenticator where none is confirmed yet): as
    /// sensitive as granting admin.
    pub async fn set_password(
        &self,
        by: &Actor,
        user: UserRef<'_>,
        password: SecretString,
    ) -> Result<User, AdminError> {
        self.require_recent(by)?;
        let user = self.user(user).await?;
        let user = manage::set_password(
            self.store,
            self.revocations,
            self.backchannel,
            self.hasher,
            &user.username,
            password,
            self.clock,
        )
        .await?;
        self.record(by, "user.password_reset", &user.id, None)
            .await?;
        Ok(user)
    }

    /// Grants or revokes the admin role; returns the user as they are now. No one revokes
    /// their own (another admin must).
    pub async fn set_admin(
        &self,
        by: &Actor,
        user: UserRef<'_>,
        grant: bool,
    ) -> Result<User, AdminError> {
        self.require_recent(by)?;
        let user = self.user(user).await?;
        if !grant && by.is(&user.id) {
            return Err(AdminError::invalid(
                "user",
                "you cannot revoke your own administrator role; ask another admin",
            ));
        }
        let before = user.roles.join(" ");
        let after = roles_with(&user, Role::Admin, grant);
        self.store
            .set_user_roles(&user.id, &after, self.now())
            .await?;
        let action = if grant {
            "user.admin_granted"
        } else {
            "user.admin_revoked"
        };
        let detail = json!({ "before": { "roles": before }, "after": { "roles": after } });
        self.record(by, action, &user.id, Some(detail)).await?;
        self.user(UserRef::Id(&user.id)).await
    }

    /// Ends every session of the user, revokes their tokens and tells their clients
    /// (back-channel logout); returns the user and how many sessions ended.
    pub async fn sign_out_user(
        &self,
        by: &Actor,
        user: UserRef<'_>,
    ) -> Result<SignedOut, AdminError> {
        let user = self.user(user).await?;
        let ended = crate::sessions::end_all(
            self.store,
            self.revocations,
            self.backchannel,
            &user.id,
            self.now(),
        )
        .await?;
        self.record(
            by,
            "user.signed_out",
            &user.id,
            Some(json!({ "sessions_ended": ended })),
        )
        .await?;
        Ok(SignedOut { user, ended })
    }

    /// The user, their newest audit entries (as actor or target) and their live sessions.
    pub async fn user_detail(&self, id: &str) -> Result<UserDetail, AdminError> {
        let user = self.user(UserRef::Id(id)).await?;
        let audit = self
            .store
            .audit_about(
                &super::audit::user_actor(&user.username),
                &user.id,
                &format!("user:{}", user.id),
                i64::from(RECENT),
            )
            .await?;
        let sessions = self
            .sessions(Some(&user), &Paging::first(RECENT))
            .await?
            .items;
        Ok(UserDetail {
            user,
            audit,
            sessions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_added_once_and_removed() {
        let mut u = User {
            id: "1".into(),
            username: "a".into(),
            email: None,
            display_name: None,
            password_hash: String::new(),
            roles: vec!["admin".into(), "x".into()],
            disabled: false,
            created_at: 0,
            updated_at: 0,
            password_changed_at: 0,
        };
        assert_eq!(roles_with(&u, Role::Admin, true), "admin x");
        assert_eq!(roles_with(&u, Role::Admin, false), "x");
        u.roles.clear();
        assert_eq!(roles_with(&u, Role::Admin, true), "admin");
    }
}
