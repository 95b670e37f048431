//! `tessera api …`: register, list, show and remove APIs (resource servers, RFC 8707). The
//! operations are the admin service's, as the console's and the admin API's are.

use super::CommandError;
use super::service::CliService;
use crate::admin::apis::{ApiInput, ApiView};
use crate::admin::{Actor, AdminError};
use crate::cli::ApiCommand;
use crate::clock::Clock;
use crate::config::Settings;

pub async fn run(
    command: ApiCommand,
    settings: &Settings,
    clock: &Clock,
) -> Result<(), CommandError> {
    let cli = CliService::open(settings, clock).await?;
    let result = run_on(&cli, command)
        .await
        .map_err(|e| CommandError::Failed(e.to_string()));
    cli.close().await;
    result
}

async fn run_on(cli: &CliService, command: ApiCommand) -> Result<(), AdminError> {
    let admin = cli.admin();
    let by = Actor::cli();
    match command {
        ApiCommand::Add(args) => {
            let input = ApiInput {
                identifier: args.identifier,
                name: args.name,
                scope: args.scope,
                access_token_ttl: args.access_token_ttl,
                signing_alg: args.signing_alg,
            };
            print_api(&admin.add_api(&by, input).await?, args.json);
        }
        ApiCommand::List { json } => {
            let apis = admin.apis().await?;
            if json {
                println!("{}", to_json(&apis));
            } else {
                for a in &apis {
                    println!(
                        "{}\t{}\t{}",
                        a.identifier,
                        a.scope,
                        a.name.as_deref().unwrap_or("")
                    );
                }
            }
        }
        ApiCommand::Show { identifier, json } => print_api(&admin.api(&identifier).await?, json),
        ApiCommand::Remove { identifier, json } => {
            let removed = admin.remove_api(&by, &identifier).await?;
            if json {
                println!("{}", to_json(&removed));
            } else {
                println!("removed API {}", removed.identifier);
            }
        }
    }
    Ok(())
}

fn print_api(api: &ApiView, json: bool) {
    if json {
        println!("{}", to_json(api));
        return;
    }
    println!("identifier: {}", api.identifier);
    if let Some(name) = &api.name {
        println!("name: {name}");
    }
    println!("scope: {}", api.scope);
    match api.access_token_ttl {
        Some(s) => println!("access_token_ttl: {s}s"),
        None => println!("access_token_ttl: the client's"),
    }
    println!(
        "signing_alg: {}",
        api.signing_alg.as_deref().unwrap_or("the client's")
    );
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
