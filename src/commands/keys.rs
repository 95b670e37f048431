//! `tessera keys list|rotate|revoke` (issue 13): the key records in the database, the key
//! files in TESSERA_KEYS_DIR. Running nodes pick up what these commands change within
//! `key_rescan_interval`, at once on PostgreSQL (NOTIFY).

use super::CommandError;
use super::service::CliService;
use crate::admin::Actor;
use crate::cli::KeysCommand;
use crate::clock::{self, Clock, UnixTime};
use crate::config::Settings;
use crate::keys::manage::{self, KeysError, Listed};
use crate::keys::{KeyState, SigningAlg};
use crate::startup;

fn failed(e: impl std::fmt::Display) -> CommandError {
    CommandError::Failed(e.to_string())
}

fn json(value: &impl serde::Serialize) -> Result<(), CommandError> {
    println!("{}", serde_json::to_string(value).map_err(failed)?);
    Ok(())
}

pub async fn run(cmd: KeysCommand, settings: &Settings, clock: &Clock) -> Result<(), CommandError> {
    let store = startup::open_store(settings).await?;
    let now = clock.now();
    let result = match cmd {
        KeysCommand::List { json: as_json } => list(&store, settings, now, as_json).await,
        KeysCommand::Rotate { alg, json: as_json } => {
            rotate(&store, settings, &alg, clock, as_json).await
        }
        KeysCommand::Revoke { kid, json: as_json } => {
            revoke(&store, settings, &kid, clock, as_json).await
        }
    };
    store.close().await;
    result
}

async fn list(
    store: &crate::store::Store,
    settings: &Settings,
    now: UnixTime,
    as_json: bool,
) -> Result<(), CommandError> {
    let keys = manage::list(store, settings, now).await.map_err(failed)?;
    if as_json {
        return json(&keys);
    }
    // Tab-separated, one key a line: easy to read and to cut.
    println!("KID\tALG\tSTATE\tCREATED\tPUBLISHED\tACTIVE\tRETIRES");
    let shown = |t: Option<UnixTime>| t.map_or_else(|| "-".to_string(), clock::display);
    for key in &keys {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            key.kid,
            key.alg,
            state_column(key),
            clock::display(key.created_at),
            shown(key.recorded.then_some(key.published_at)),
            shown(key.active_at),
            shown(key.revoked_at.or(key.retire_after)),
        );
    }
    Ok(())
}

/// The state, with what an operator must know beside it.
fn state_column(key: &Listed) -> String {
    if !key.recorded {
        format!("{} (from the next start: no record yet)", key.state)
    } else if key.state.is_published() && !key.file_present {
        format!("{} (file missing here: not served)", key.state)
    } else {
        key.state.to_string()
    }
}

async fn rotate(
    store: &crate::store::Store,
    settings: &Settings,
    alg: &str,
    clock: &Clock,
    as_json: bool,
) -> Result<(), CommandError> {
    let alg = SigningAlg::parse(alg).map_err(failed)?;
    let staged = manage::rotate(store, settings, alg, clock)
        .await
        .map_err(failed)?;
    audit(settings, clock.clone(), "key.rotated", &staged.kid, &staged).await?;
    if as_json {
        return json(&staged);
    }
    println!("{}", settings.keys_dir.join(&staged.file).display());
    match (&staged.replaces, staged.replaced_retire_after) {
        (Some(old), Some(retire_after)) => eprintln!(
            "New {alg} key {} is published now and signs from {}; key {old} stops signing \
             then and leaves JWKS at {}.",
            staged.kid,
            clock::display(staged.active_at),
            clock::display(retire_after),
        ),
        _ => eprintln!(
            "New {alg} key {} signs for {alg} clients now (no {alg} key was active).",
            staged.kid
        ),
    }
    Ok(())
}

async fn revoke(
    store: &crate::store::Store,
    settings: &Settings,
    kid: &str,
    clock: &Clock,
    as_json: bool,
) -> Result<(), CommandError> {
    let revoked = manage::revoke(store, settings, kid, clock)
        .await
        .map_err(|e| match e {
            KeysError::Lifecycle(e) => failed(e),
            e => failed(format!("cannot revoke key {}: {e}", kid.escape_default())),
        })?;
    audit(
        settings,
        clock.clone(),
        "key.revoked",
        &revoked.kid,
        &revoked,
    )
    .await?;
    if as_json {
        json(&revoked)?;
        // The revocation stands; the exit status says that nothing signs for its algorithm.
        return match &revoked.successor_missing {
            Some(missing) => Err(failed(missing)),
            None => Ok(()),
        };
    }
    match (revoked.was, &revoked.successor) {
        (KeyState::Revoked, _) => println!("key {} was already revoked", revoked.kid),
        (_, Some(successor)) => println!(
            "revoked {} key {} (was {}); key {successor} signs for {} from now on",
            revoked.alg, revoked.kid, revoked.was, revoked.alg
        ),
        (_, None) => println!(
            "revoked {} key {} (was {})",
            revoked.alg, revoked.kid, revoked.was
        ),
    }
    eprintln!(
        "Every node drops it from JWKS within seconds and treats the tokens it signed as \
         inactive; resource servers see revocation {} in /revocations.",
        revoked.revocation_id
    );
    match revoked.successor_missing {
        Some(missing) => Err(failed(missing)),
        None => Ok(()),
    }
}

/// Key changes are audited like every other admin change (actor `cli:USER`), through the admin
/// service the other commands use.
async fn audit(
    settings: &Settings,
    clock: Clock,
    action: &str,
    kid: &str,
    detail: &impl serde::Serialize,
) -> Result<(), CommandError> {
    let svc = CliService::open(settings, &clock).await?;
    let detail = serde_json::to_value(detail).map_err(failed)?;
    let recorded = svc
        .admin()
        .record(&Actor::cli(), action, kid, Some(detail))
        .await
        .map_err(failed);
    svc.close().await;
    recorded
}
