//! `tessera client …`: stdout carries the result (text or `--json`), stderr the notes. The
//! operations are the admin service's, as the console's and the API's are.

use serde::Serialize;

use super::CommandError;
use super::service::CliService;
use crate::admin::apis::{ClientApis, ClientApisPatch};
use crate::admin::clients::{ClientView, Registered};
use crate::admin::{Actor, AdminError};
use crate::cli::{AddClient, ClientCommand};
use crate::clock::Clock;
use crate::config::Settings;
use crate::oauth::client::{Client, Registration, RegistrationInput};

fn failed(e: AdminError) -> CommandError {
    CommandError::Failed(e.to_string())
}

pub async fn run(
    command: ClientCommand,
    settings: &Settings,
    clock: &Clock,
) -> Result<(), CommandError> {
    // Check a registration before touching the database, so a typo fails fast and clearly.
    if let ClientCommand::Add(args) = &command {
        Registration::parse(registration_input(args)).map_err(|e| failed(e.into()))?;
    }
    let cli = CliService::open(settings, clock).await?;
    let result = run_on(&cli, command).await.map_err(failed);
    cli.close().await;
    result
}

fn registration_input(args: &AddClient) -> RegistrationInput {
    RegistrationInput {
        name: args.name.clone(),
        client_type: args.client_type.clone(),
        redirect_uris: args.redirect_uris.clone(),
        post_logout_redirect_uris: args.post_logout_redirect_uris.clone(),
        grant_types: args.grant_types.clone(),
        scope: args.scope.clone(),
        first_party: args.first_party,
        resource_server: args.resource_server,
        access_token_ttl: args.access_token_ttl.clone(),
        backchannel_logout_uri: args.backchannel_logout_uri.clone(),
        signing_alg: args.signing_alg.clone(),
        native_sso_group: args.native_sso_group.clone(),
        require_dpop: args.require_dpop,
    }
}

async fn run_on(cli: &CliService, command: ClientCommand) -> Result<(), AdminError> {
    let admin = cli.admin();
    let by = Actor::cli();
    match command {
        ClientCommand::Add(args) => {
            let apis = ClientApis {
                apis: args.apis.clone(),
                serves_apis: args.serves_apis.clone(),
                exchange_audiences: args.exchange_audiences.clone(),
                exchange_refresh: args.exchange_refresh,
                exchange_impersonate: args.exchange_impersonate,
                warnings: Vec::new(),
            };
            let registered = admin
                .register_client_with_apis(&by, registration_input(&args), apis)
                .await?;
            print_registered(&registered, args.json);
        }
        ClientCommand::List { json } => {
            let clients = admin.all_clients().await?;
            if json {
                let views: Vec<ClientView> = clients.iter().map(ClientView::from).collect();
                println!("{}", to_json(&views));
            } else {
                for c in &clients {
                    println!("{}\t{}\t{}", c.id, c.client_type.as_str(), c.name);
                }
            }
        }
        ClientCommand::Show { client_id, json } => {
            let apis = admin.client_apis(&client_id).await?;
            print_client(&admin.client(&client_id).await?, &apis, json);
        }
        ClientCommand::SetApis {
            client_id,
            apis,
            serves_apis,
            exchange_audiences,
            exchange_refresh,
            exchange_impersonate,
            json,
        } => {
            let patch = ClientApisPatch {
                apis: Some(apis),
                serves_apis: Some(serves_apis),
                exchange_audiences: Some(exchange_audiences),
                exchange_refresh: Some(exchange_refresh),
                exchange_impersonate: Some(exchange_impersonate),
            };
            let after = admin.update_client_apis(&by, &client_id, patch).await?;
            if json {
                println!("{}", to_json(&after));
            } else {
                print_apis(&after);
            }
        }
        ClientCommand::Remove { client_id } => {
            admin.delete_client(&by, &client_id).await?;
            println!("removed client {client_id}; its tokens are revoked");
        }
        ClientCommand::RotateSecret {
            client_id,
            json,
            revoke_tokens,
        } => {
            let (_, secret) = admin
                .rotate_client_secret(&by, &client_id, revoke_tokens)
                .await?;
            if revoke_tokens {
                eprintln!("Every token issued to the client so far is revoked.");
            }
            if json {
                let doc = serde_json::json!({ "client_id": client_id, "client_secret": secret });
                println!("{doc}");
            } else {
                println!("client_id: {client_id}\nclient_secret: {secret}");
            }
            eprintln!("The new secret is shown only now; the old one no longer works.");
        }
    }
    Ok(())
}

fn print_registered(r: &Registered, json: bool) {
    if json {
        let mut doc = serde_json::to_value(ClientView::from(&r.client)).unwrap_or_default();
        if let (Some(secret), Some(obj)) = (&r.secret, doc.as_object_mut()) {
            obj.insert("client_secret".into(), secret.clone().into());
        }
        println!("{doc}");
    } else {
        println!("client_id: {}", r.client.id);
        if let Some(secret) = &r.secret {
            println!("client_secret: {secret}");
        }
    }
    if r.secret.is_some() {
        eprintln!("The client secret is shown only now; Tessera keeps only its hash.");
    }
}

fn print_client(c: &Client, apis: &ClientApis, json: bool) {
    let view = ClientView::from(c);
    if json {
        let mut doc = serde_json::to_value(&view).unwrap_or_default();
        if let (Ok(serde_json::Value::Object(extra)), Some(obj)) =
            (serde_json::to_value(apis), doc.as_object_mut())
        {
            obj.extend(extra);
        }
        println!("{}", to_json(&doc));
        return;
    }
    let list = |l: &[String]| l.join(" ");
    println!("client_id: {}", view.client_id);
    println!("name: {}", view.name);
    println!("type: {}", view.client_type);
    println!("redirect_uris: {}", list(&view.redirect_uris));
    println!(
        "post_logout_redirect_uris: {}",
        list(&view.post_logout_redirect_uris)
    );
    println!("grant_types: {}", view.grant_types.join(" "));
    println!("scope: {}", view.scope);
    println!("first_party: {}", view.first_party);
    println!("resource_server: {}", view.resource_server);
    match view.access_token_ttl {
        Some(s) => println!("access_token_ttl: {s}s"),
        None => println!("access_token_ttl: default"),
    }
    if let Some(uri) = &view.backchannel_logout_uri {
        println!("backchannel_logout_uri: {uri}");
    }
    println!("signing_alg: {}", view.signing_alg);
    println!("require_dpop: {}", view.require_dpop);
    if let Some(group) = &view.native_sso_group {
        println!("native_sso_group: {group}");
    }
    print_apis(apis);
}

fn print_apis(apis: &ClientApis) {
    println!("apis: {}", apis.apis.join(" "));
    println!("serves_apis: {}", apis.serves_apis.join(" "));
    println!("exchange_audiences: {}", apis.exchange_audiences.join(" "));
    println!("exchange_refresh: {}", apis.exchange_refresh);
    println!("exchange_impersonate: {}", apis.exchange_impersonate);
    for warning in &apis.warnings {
        eprintln!("warning: {warning}");
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
