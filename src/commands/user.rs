//! `tessera user …`: passwords come from a TTY prompt (twice) or stdin, never from argv.

use std::io::{IsTerminal, Read};

use secrecy::{ExposeSecret, SecretString};

use super::CommandError;
use super::service::CliService;
use crate::accounts::manage::NewAccount;
use crate::accounts::{Role, User};
use crate::admin::Actor;
use crate::admin::users::UserRef;
use crate::cli::UserCommand;
use crate::clock::Clock;
use crate::config::Settings;

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

fn user_json(u: &User) -> serde_json::Value {
    serde_json::json!({
        "id": u.id, "username": u.username, "email": u.email, "display_name": u.display_name,
        "roles": u.roles, "disabled": u.disabled, "created_at": u.created_at,
        "updated_at": u.updated_at, "password_changed_at": u.password_changed_at,
    })
}

pub async fn run(cmd: UserCommand, settings: &Settings, clock: &Clock) -> Result<(), CommandError> {
    let cli = CliService::open(settings, clock).await?;
    let result = run_on(&cli, cmd).await;
    cli.close().await;
    result
}

async fn run_on(cli: &CliService, cmd: UserCommand) -> Result<(), CommandError> {
    let admin = cli.admin();
    let by = Actor::cli();
    match cmd {
        UserCommand::Add {
            name,
            email,
            display_name,
            admin: make_admin,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let input = NewAccount {
                username: name,
                email,
                display_name,
                roles: if make_admin {
                    vec![Role::Admin]
                } else {
                    vec![]
                },
                password,
            };
            let user = admin.create_user(&by, input).await.map_err(failed)?;
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
            let user = admin
                .set_password(&by, UserRef::Name(&name), password)
                .await
                .map_err(failed)?;
            println!(
                "password changed for {}; their sessions have ended",
                user.username
            );
        }
        UserCommand::Disable { name } => {
            let user = admin
                .set_user_disabled(&by, UserRef::Name(&name), true)
                .await
                .map_err(failed)?;
            println!("disabled {}; their sessions have ended", user.username);
        }
        UserCommand::Enable { name } => {
            let user = admin
                .set_user_disabled(&by, UserRef::Name(&name), false)
                .await
                .map_err(failed)?;
            println!("enabled {}", user.username);
        }
        UserCommand::List { json } => {
            let users = admin.all_users().await.map_err(failed)?;
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
    Ok(())
}
