//! User administration by id (the console and the API): roles. Sessions are ended through
//! `sessions::end_all`. Creating users,
//! passwords and disabling are in `accounts::manage`, shared with the CLI.

use crate::accounts::{Role, User};
use crate::clock::UnixTime;
use crate::store::{Store, StoreError};

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

/// Grants or revokes a role; returns the roles before and after.
pub async fn set_role(
    store: &Store,
    user: &User,
    role: Role,
    on: bool,
    now: UnixTime,
) -> Result<(String, String), StoreError> {
    let before = user.roles.join(" ");
    let after = roles_with(user, role, on);
    store.set_user_roles(&user.id, &after, now).await?;
    Ok((before, after))
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
