//! `tessera user …`: passwords come from a TTY prompt (twice) or stdin, never from argv.

use std::io::{IsTerminal, Read};

use secrecy::{ExposeSecret, SecretString};

use super::CommandError;
use crate::accounts::manage::{self, NewAccount};
use crate::accounts::password::PasswordHasherPool;
use crate::accounts::{Role, User};
use crate::admin::audit as audit_log;
use crate::cli::UserCommand;
use crate::clock::Clock;
use crate::config::Settings;
// The CLI writes revocations to the store; running nodes learn of them by NOTIFY or polling.
use crate::revocation::RevocationList;
use crate::sessions::Backchannel;
use crate::startup;
use crate::store::Store;

fn failed(e: impl std::fmt::Display) -> CommandError {
    CommandError::Failed(e.to_string())
}

fn read_password(from_stdin: bool) -> Result<SecretString, CommandError> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| failed(format!("cannot read the password from stdin: {e}")))?;
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        return Ok(SecretString::from(line.to_string()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(failed(
            "no terminal to ask for the password; pipe it in with --password-stdin",
        ));
    }
    let first = rpassword::prompt_password("Password: ").map_err(failed)?;
    let second = rpassword::prompt_password("Repeat password: ").map_err(failed)?;
    if first != second {
        return Err(failed("the two passwords differ"));
    }
    Ok(SecretString::from(first))
}

fn hasher(settings: &Settings) -> Result<PasswordHasherPool, CommandError> {
    PasswordHasherPool::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
    )
    .map_err(failed)
}

fn user_json(u: &User) -> serde_json::Value {
    serde_json::json!({
        "id": u.id, "username": u.username, "email": u.email, "display_name": u.display_name,
        "roles": u.roles, "disabled": u.disabled, "created_at": u.created_at,
        "updated_at": u.updated_at, "password_changed_at": u.password_changed_at,
    })
}

/// Every change made here lands in the audit log, as the console's do.
async fn audit(
    store: &crate::store::Store,
    settings: &Settings,
    now: crate::clock::UnixTime,
    action: &str,
    user: &User,
    detail: Option<serde_json::Value>,
) -> Result<(), CommandError> {
    let actor = audit_log::cli_actor();
    audit_log::record_cli(
        store,
        now,
        settings.audit_retention,
        audit_log::Event {
            actor: &actor,
            action,
            target: Some(&user.id),
            detail,
        },
    )
    .await
    .map_err(failed)
}

/// Back-channel logout for the sessions a command ends, signed with the keys the nodes use
/// (the recorded active keys). Without keys no node has run yet, so no session (and no client
/// to tell) exists.
async fn backchannel(store: &Store, settings: &Settings, clock: &Clock) -> Backchannel {
    let keys = crate::keys::manage::load(store, settings, clock).await;
    Backchannel::with_keys(keys, settings.issuer(), settings.backchannel_logout_timeout).awaited()
}

pub async fn run(cmd: UserCommand, settings: &Settings, clock: &Clock) -> Result<(), CommandError> {
    let store = startup::open_store(settings).await?;
    let now = clock.now();
    match cmd {
        UserCommand::Add {
            name,
            email,
            display_name,
            admin,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let user = manage::create_user(
                &store,
                &hasher(settings)?,
                NewAccount {
                    username: name,
                    email,
                    display_name,
                    roles: if admin { vec![Role::Admin] } else { vec![] },
                    password,
                },
                now,
            )
            .await
            .map_err(failed)?;
            audit(
                &store,
                settings,
                now,
                "user.created",
                &user,
                Some(serde_json::json!({ "username": user.username, "admin": admin })),
            )
            .await?;
            println!("created user {} ({})", user.username, user.id);
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            if password.expose_secret().is_empty() {
                return Err(failed("the password is empty"));
            }
            let backchannel = backchannel(&store, settings, clock).await;
            let user = manage::set_password(
                &store,
                &RevocationList::new(),
                &backchannel,
                &hasher(settings)?,
                &name,
                password,
                clock,
            )
            .await
            .map_err(failed)?;
            backchannel.settle().await;
            audit(&store, settings, now, "user.password_reset", &user, None).await?;
            println!(
                "password changed for {}; their sessions have ended",
                user.username
            );
        }
        UserCommand::Disable { name } => {
            let backchannel = backchannel(&store, settings, clock).await;
            let user = manage::set_disabled(
                &store,
                &RevocationList::new(),
                &backchannel,
                &name,
                true,
                now,
            )
            .await
            .map_err(failed)?;
            backchannel.settle().await;
            audit(&store, settings, now, "user.disabled", &user, None).await?;
            println!("disabled {}; their sessions have ended", user.username);
        }
        UserCommand::Enable { name } => {
            let user = manage::set_disabled(
                &store,
                &RevocationList::new(),
                &backchannel(&store, settings, clock).await,
                &name,
                false,
                now,
            )
            .await
            .map_err(failed)?;
            audit(&store, settings, now, "user.enabled", &user, None).await?;
            println!("enabled {}", user.username);
        }
        UserCommand::List { json } => {
            let users = store.list_users(10_000, 0).await.map_err(failed)?;
            if json {
                let list: Vec<_> = users.iter().map(user_json).collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for u in &users {
                    println!(
                        "{}\t{}\t{}\t{}",
                        u.username,
                        u.email.as_deref().unwrap_or("-"),
                        if u.roles.is_empty() {
                            "-".to_string()
                        } else {
                            u.roles.join(",")
                        },
                        if u.disabled { "disabled" } else { "active" }
                    );
                }
            }
        }
    }
    store.close().await;
    Ok(())
}
