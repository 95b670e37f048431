//! Key files and their records brought together (issue 13): what a node does at start and at
//! each rescan, and what `tessera keys rotate`, `revoke` and `list` do. The decisions are
//! `super::lifecycle`'s; this module reads and writes the keys directory and the store.
//!
//! Every change to the records happens in one transaction that holds `KEY_CHANGE_LOCK` from
//! its first statement, after reading the records again: nodes starting together adopt the
//! same files once, and two rotations at once cannot both stage a key.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::lifecycle::{self, FoundKey, KeyRecord, KeyState, LifecycleError, Policy};
use super::pem;
use super::sealed::Passphrase;
use super::{KeyFileError, KeyRing, LiveKeys, RingEntry, SigningAlg, SigningKey};
use crate::clock::{Clock, UnixTime};
use crate::config::Settings;
use crate::oauth::client::MAX_ACCESS_TOKEN_TTL;
use crate::revocation::{self, Target};
use crate::store::{KeyChange, KeyRow, NewRevocation, Store, StoreError};
use crate::tokens::logout_token;

/// Why a key operation failed, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    File(#[from] KeyFileError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error("cannot read or record the signing keys in the database: {0}")]
    Store(#[from] StoreError),
    #[error(
        "no signing key is active: the keys directory {0} lacks the files of the active keys \
         recorded in the database (`tessera keys list` shows them)"
    )]
    NothingSigns(String),
    #[error(
        "no signing key is recorded in the database and the keys directory {0} holds no key \
         file Tessera made: is TESSERA_KEYS_DIR right? A node's first start makes and records \
         the keys; run key commands after it"
    )]
    NothingToAdopt(String),
    #[error(
        "no signing key is recorded in the database and the keys directory {dir} holds key files \
         not named as Tessera names its keys ({files}): a node's start would record them, a key \
         command does not, and would leave them ignored from then on. So: is TESSERA_KEYS_DIR \
         right? If it is, start a node once (it records every key file), or move those files \
         away, then run the command again"
    )]
    UnnamedKeyFiles { dir: String, files: String },
}

/// The lifecycle settings, in seconds.
pub fn policy(settings: &Settings) -> Policy {
    let signed = [
        MAX_ACCESS_TOKEN_TTL,
        lifecycle::hint_lifetime(settings.id_token_ttl, settings.session_ttl),
        logout_token::LIFETIME,
    ];
    Policy {
        publish_ahead: secs(settings.publish_ahead()),
        retire_window: lifecycle::retire_window(&signed, settings.jwks_max_age),
    }
}

/// How long a node may go without reading the key records before it stops signing: the
/// JWKS max-age (a key revoked meanwhile has then left every relying party's cache, so its
/// tokens are refused everywhere else), never less than three rescans.
pub fn max_unsynced(settings: &Settings) -> Duration {
    // Saturating: a huge configured interval must not overflow (a panic in every request).
    settings
        .jwks_max_age
        .max(settings.key_rescan_interval.saturating_mul(3))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// At most this many `*.pem` files are read per scan.
pub const MAX_KEY_FILES: usize = 256;

/// The `*.pem` files of the keys directory, each parsed once: a rescan parses only files it
/// has not seen in this form (`pem::load_cached`: an RSA key's validation costs milliseconds,
/// an encrypted file's PBKDF2 a hundred or more), and names a broken file once.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    dir: PathBuf,
    broken: HashSet<String>,
    /// The file names the key records name (`prefer`): a scan reads them first, so that
    /// files nobody recorded (planted, or garbage) cannot crowd the recorded keys out of the
    /// `MAX_KEY_FILES` a scan reads.
    known: HashSet<String>,
    /// For encrypted files, and for writing new ones (`keys_passphrase_file`).
    passphrase: Option<Arc<Passphrase>>,
    /// What the last scan that could read the directory found: a rescan that cannot read it
    /// (a remount, a permission slip) keeps serving these with the records it can still read.
    last: Vec<LoadedKey>,
    /// How many files the last scan over `MAX_KEY_FILES` found (0: it was not over): the
    /// error is logged when that count changes, not at every rescan.
    crowded: usize,
}

/// A parsed key file.
#[derive(Debug, Clone)]
pub struct LoadedKey {
    pub file: String,
    pub key: Arc<SigningKey>,
}

impl KeyFiles {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            broken: HashSet::new(),
            known: HashSet::new(),
            passphrase: None,
            last: Vec::new(),
            crowded: 0,
        }
    }

    /// The keys directory of `settings`, with the passphrase of `keys_passphrase_file` (read
    /// now: a missing or empty file is an error that names it).
    pub fn open(settings: &Settings) -> Result<Self, KeyFileError> {
        let passphrase = settings
            .keys_passphrase_file
            .as_deref()
            .map(Passphrase::read)
            .transpose()?;
        Ok(Self {
            passphrase: passphrase.map(Arc::new),
            ..Self::new(&settings.keys_dir)
        })
    }

    pub fn passphrase(&self) -> Option<&Passphrase> {
        self.passphrase.as_deref()
    }

    /// Has later scans read the files of the published `records` (next, active, retiring at
    /// `now`) first: a retired key's file (kept a while, or for good in a read-only
    /// directory) takes no place ahead of them. Returns whether those records name a file the
    /// last scan did not load (it may have been left out by the cap: scan again).
    pub fn prefer(&mut self, records: &[KeyRecord], now: UnixTime) -> bool {
        self.known = records
            .iter()
            .filter(|r| !r.file.is_empty() && r.state(now).is_published())
            .map(|r| r.file.clone())
            .collect();
        self.known.iter().any(|name| {
            !self.last.iter().any(|l| &l.file == name)
                && !self.broken.contains(name)
                && !name.contains('/')
                && self.dir.join(name).is_file()
        })
    }

    /// `scan` on the blocking pool: reading, decrypting and validating keys must not hold an
    /// async worker (PBKDF2 at 600,000 iterations takes 100 ms or more per file).
    pub async fn scan_blocking(&mut self, strict: bool) -> Result<Vec<LoadedKey>, KeyFileError> {
        let mut files = self.clone();
        let (files, scanned) = tokio::task::spawn_blocking(move || {
            let scanned = files.scan(strict);
            (files, scanned)
        })
        .await
        .map_err(|e| KeyFileError::new(format!("the key scan failed: {e}")))?;
        *self = files;
        scanned
    }

    /// Every key file, sorted by name. `strict`: a file that does not parse is an error (at
    /// start and in commands); otherwise it is logged once and skipped, so that a file being
    /// copied in by hand cannot stop a running node.
    pub fn scan(&mut self, strict: bool) -> Result<Vec<LoadedKey>, KeyFileError> {
        let mut paths = pem::key_files(&self.dir)?;
        if paths.len() > MAX_KEY_FILES {
            // Each file may cost a decryption: a directory flooded with files (a mistake, or
            // planted ones) must not stall every scan. The files the records name come first
            // (so planted ones that sort first cannot push them out), then the others by name
            // (names start with the creation time). A stable sort keeps name order in each.
            if paths.len() != self.crowded {
                tracing::error!(
                    files = paths.len(),
                    max = MAX_KEY_FILES,
                    dir = %self.dir.display(),
                    "too many key files; reading the recorded ones and the first others by \
                     name (set aside old ones; said again only when the count changes)"
                );
                self.crowded = paths.len();
            }
            paths.sort_by_key(|p| file_name(p).is_none_or(|name| !self.known.contains(&name)));
            paths.truncate(MAX_KEY_FILES);
            paths.sort();
        } else {
            self.crowded = 0;
        }
        let names: HashSet<String> = paths.iter().filter_map(|p| file_name(p)).collect();
        self.broken.retain(|name| names.contains(name));
        let mut loaded = Vec::with_capacity(paths.len());
        for path in &paths {
            let Some(name) = file_name(path) else {
                continue;
            };
            match pem::load_cached(path, self.passphrase.as_deref()) {
                Ok(key) => {
                    self.broken.remove(&name);
                    loaded.push(LoadedKey { file: name, key });
                }
                Err(e) if strict => return Err(e),
                Err(e) => {
                    if self.broken.insert(name) {
                        tracing::error!(error = %e, "skipping a key file that cannot be used");
                    }
                }
            }
        }
        self.last.clone_from(&loaded);
        Ok(loaded)
    }

    /// What the last successful scan found.
    pub fn last(&self) -> &[LoadedKey] {
        &self.last
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_string)
}

fn found(loaded: &[LoadedKey]) -> Vec<FoundKey> {
    loaded
        .iter()
        .map(|l| FoundKey {
            kid: l.key.kid().to_string(),
            alg: l.key.signing_alg(),
            file: l.file.clone(),
            created_at: l.key.created_at(),
        })
        .collect()
}

fn to_record(row: KeyRow) -> Option<KeyRecord> {
    let Ok(alg) = SigningAlg::parse(&row.alg) else {
        tracing::warn!(
            kid = row.kid,
            alg = row.alg,
            "skipping a key record of unknown alg"
        );
        return None;
    };
    Some(KeyRecord {
        kid: row.kid,
        alg,
        file: row.file,
        created_at: row.created_at,
        published_at: row.published_at,
        active_at: row.active_at,
        retiring_at: row.retiring_at,
        retire_after: row.retire_after,
        revoked_at: row.revoked_at,
    })
}

fn to_row(r: &KeyRecord) -> KeyRow {
    KeyRow {
        kid: r.kid.clone(),
        alg: r.alg.as_str().to_string(),
        file: r.file.clone(),
        created_at: r.created_at,
        published_at: r.published_at,
        active_at: r.active_at,
        retiring_at: r.retiring_at,
        retire_after: r.retire_after,
        revoked_at: r.revoked_at,
    }
}

/// Records in publication order: by creation time, then kid, compared here byte by byte (a
/// database's text collation could order kids otherwise), so that every node publishes the
/// same document with the same `ETag`.
fn records(rows: Vec<KeyRow>) -> Vec<KeyRecord> {
    let mut records: Vec<KeyRecord> = rows.into_iter().filter_map(to_record).collect();
    in_publication_order(&mut records);
    records
}

fn in_publication_order(records: &mut [KeyRecord]) {
    records.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
}

/// The ring at `now` from the records and the loaded files (joined by kid: the file name is
/// only for people). Keys recorded without a loaded file cannot be published. `None` when
/// nothing can sign.
pub fn ring_from(records: &[KeyRecord], loaded: &[LoadedKey], now: UnixTime) -> Option<KeyRing> {
    Some(ring_unsigned(records, loaded, now)).filter(|r| r.active().is_some())
}

/// As `ring_from`, but kept when it cannot sign: revoked and retired keys are never in it,
/// and an algorithm whose active key's file is missing here signs nothing (`KeyRing::unsigned`)
/// rather than fall back to a key the records withdrew.
pub fn ring_unsigned(records: &[KeyRecord], loaded: &[LoadedKey], now: UnixTime) -> KeyRing {
    let by_kid: HashMap<&str, &Arc<SigningKey>> =
        loaded.iter().map(|l| (l.key.kid(), &l.key)).collect();
    let entries = records
        .iter()
        .filter_map(|record| {
            by_kid.get(record.kid.as_str()).map(|key| RingEntry {
                key: Arc::clone(key),
                record: record.clone(),
            })
        })
        .collect();
    let missing = records
        .iter()
        .filter(|r| r.state(now) == KeyState::Active)
        .filter(|r| !by_kid.contains_key(r.kid.as_str()))
        .map(|r| r.alg);
    KeyRing::build_unsigned(entries, now).with_unsigned(missing)
}

/// Opens a change, reads the records and adopts the files that have none (see
/// `lifecycle::plan_adoption`). Returns the change (still open) and every record.
async fn begin(
    store: &Store,
    loaded: &[LoadedKey],
    now: UnixTime,
    policy: Policy,
) -> Result<(KeyChange, Vec<KeyRecord>), KeysError> {
    adopt(store.begin_key_change().await?, loaded, now, policy).await
}

/// A change for a command (`rotate`, `promote`, `revoke`) with every record, adopting
/// nothing: a command records only the keys it makes itself, so a file planted in the keys
/// directory is never taken in by one (not even after a revocation left its algorithm without
/// a signer). Adoption is for a node's start (`open`), and for a command on a deployment that
/// has no record at all yet (`recorded_or_adopted`), which records what that start would.
async fn recorded(mut change: KeyChange) -> Result<(KeyChange, Vec<KeyRecord>), KeysError> {
    let all = records(change.rows().await?);
    Ok((change, all))
}

/// What a command would adopt on a deployment that predates the key records (no record at
/// all: its keys directory is all there is, and no node has started on this version yet), read
/// before the command takes the key-change lock (decrypting many files must not hold it, nor
/// a starting node waiting on it); `None` when there are records. Only files named as Tessera
/// names the keys it makes (`001700000000-rs256.pem`), holding a key of the algorithm the
/// name gives, are taken: a command never adopts whatever `*.pem` a wrong directory holds.
/// Any other key file makes it refuse, listing them (a start would adopt them, so a hand-named
/// legacy key left out here would be ignored from then on). Finding no key file at all, it
/// refuses too: a command run against an empty or wrong directory would
/// otherwise record a key of its own that signs at once on every node, with no
/// pre-publication, and every node's real key files would be ignored from then on.
async fn adoptable(
    store: &Store,
    settings: &Settings,
) -> Result<Option<Vec<LoadedKey>>, KeysError> {
    if !records(store.signing_keys().await?).is_empty() {
        return Ok(None);
    }
    let loaded = if settings.keys_dir.exists() {
        KeyFiles::open(settings)?.scan_blocking(true).await?
    } else {
        Vec::new()
    };
    let (generated, other): (Vec<LoadedKey>, Vec<LoadedKey>) = loaded
        .into_iter()
        .partition(|k| generated_name(&k.file, k.key.signing_alg()));
    // A node's start would adopt these too (a hand-named legacy key may be the one that
    // signs): recording only the others would leave them ignored forever. Refuse instead.
    if !other.is_empty() {
        let mut files: Vec<&str> = other.iter().map(|k| k.file.as_str()).collect();
        files.sort_unstable();
        return Err(KeysError::UnnamedKeyFiles {
            dir: settings.keys_dir.display().to_string(),
            files: files.join(", "),
        });
    }
    if generated.is_empty() {
        return Err(KeysError::NothingToAdopt(
            settings.keys_dir.display().to_string(),
        ));
    }
    Ok(Some(generated))
}

/// Whether `file` is a name `pem::generate` gives a key of `alg`: `CREATED-TAG.pem` or
/// `CREATED-TAG-N.pem`, CREATED twelve digits.
fn generated_name(file: &str, alg: SigningAlg) -> bool {
    let Some(rest) = file.strip_suffix(".pem") else {
        return false;
    };
    let Some((created, rest)) = rest.split_at_checked(12) else {
        return false;
    };
    let Some(rest) = rest
        .strip_prefix('-')
        .and_then(|r| r.strip_prefix(alg.file_tag()))
    else {
        return false;
    };
    let numbered = rest
        .strip_prefix('-')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    created.bytes().all(|b| b.is_ascii_digit()) && (rest.is_empty() || numbered)
}

/// `recorded`, except on a deployment with no record at all (`adoptable` found it so before
/// the lock): there the command first records the key files exactly as that start would
/// (`adopt`), so that the keys that signed until now keep their state (the newest of each
/// algorithm active) rather than being left out by the command's record. A node that started
/// meanwhile recorded them itself: then nothing is adopted.
async fn recorded_or_adopted(
    change: KeyChange,
    adoptable: Option<Vec<LoadedKey>>,
    settings: &Settings,
    clock: &Clock,
) -> Result<(KeyChange, Vec<KeyRecord>), KeysError> {
    let (change, all) = recorded(change).await?;
    if !all.is_empty() {
        return Ok((change, all));
    }
    let Some(loaded) = adoptable else {
        return Err(KeysError::NothingToAdopt(
            settings.keys_dir.display().to_string(),
        ));
    };
    adopt(change, &loaded, clock.now(), policy(settings)).await
}

/// `begin` with a change already open.
async fn adopt(
    mut change: KeyChange,
    loaded: &[LoadedKey],
    now: UnixTime,
    policy: Policy,
) -> Result<(KeyChange, Vec<KeyRecord>), KeysError> {
    let mut all = records(change.rows().await?);
    let adopted = lifecycle::plan_adoption(&all, &found(loaded), now, policy);
    for record in &adopted {
        if all.iter().any(|r| r.kid == record.kid) {
            change.update_times(&to_row(record)).await?;
            all.retain(|r| r.kid != record.kid);
        } else {
            change.insert(&to_row(record)).await?;
            tracing::warn!(
                kid = record.kid,
                alg = %record.alg,
                file = record.file,
                state = %record.state(now),
                "recorded a key file found without a record (check that you made it)"
            );
        }
        all.push(record.clone());
    }
    in_publication_order(&mut all);
    Ok((change, all))
}

/// At start: creates the keys a new deployment lacks (atomically, one node for all), records
/// the files that have no record yet, and builds the ring.
pub async fn open(
    store: &Store,
    settings: &Settings,
    clock: &Clock,
    revocations: Arc<revocation::RevocationList>,
) -> Result<(LiveKeys, KeyFiles), KeysError> {
    let now = clock.now();
    // Every algorithm with a record, revoked or retired included: a key made here for one of
    // them would never be adopted (`lifecycle::plan_adoption`), only left behind unrecorded.
    let known = records(store.signing_keys().await?);
    let recorded: Vec<SigningAlg> = known.iter().map(|r| r.alg).collect();
    let mut files = KeyFiles::open(settings)?;
    files.prefer(&known, now);
    let (dir, passphrase) = (settings.keys_dir.clone(), files.passphrase.clone());
    tokio::task::spawn_blocking(move || {
        pem::load_or_generate_except(&dir, now, &recorded, passphrase.as_deref()).map(|_| ())
    })
    .await
    .map_err(|e| KeyFileError::new(format!("the key scan failed: {e}")))??;
    let loaded = files.scan_blocking(true).await?;
    let (change, records) = begin(store, &loaded, now, policy(settings)).await?;
    warn_missing(&records, &loaded, now);
    // Checked before the change is kept: a node that could not sign records nothing.
    let ring = ring_from(&records, &loaded, now)
        .ok_or_else(|| KeysError::NothingSigns(settings.keys_dir.display().to_string()))?;
    change.commit().await?;
    Ok((LiveKeys::new(ring, clock.clone(), revocations), files))
}

/// The ring of the recorded keys, for a command that signs (back-channel logout tokens): the
/// same active keys the nodes use, never a next one.
pub async fn load(store: &Store, settings: &Settings, clock: &Clock) -> Option<LiveKeys> {
    let mut files = KeyFiles::open(settings).ok()?;
    let records = records(store.signing_keys().await.ok()?);
    files.prefer(&records, clock.now());
    let loaded = files.scan_blocking(false).await.ok()?;
    let ring = ring_from(&records, &loaded, clock.now())?;
    // The records just read leave out every revoked key: the command's list holds none.
    Some(LiveKeys::new(ring, clock.clone(), Arc::default()))
}

fn warn_missing(records: &[KeyRecord], loaded: &[LoadedKey], now: UnixTime) {
    for record in records {
        if record.state(now).is_published() && !loaded.iter().any(|l| l.key.kid() == record.kid) {
            tracing::error!(
                kid = record.kid,
                file = record.file,
                state = %record.state(now),
                "a published key's file is missing from the keys directory; it is not served"
            );
        }
    }
}

/// Reads the records and the directory again; swaps the ring if the keys changed. Returns
/// whether they did. Only the records are what a node must read to stay in step (a revoked
/// key leaves with them): a keys directory that cannot be read is logged and the keys it held
/// at the last scan are used, so the rescan still counts (`LiveKeys::synced`).
///
/// The directory is scanned first and the records read after it, so that a slow scan (many
/// encrypted files) never builds the ring from records older than the scan, and the node
/// counts itself synced from when it read the records, not from when the scan ended.
pub async fn rescan(
    store: &Store,
    files: &mut KeyFiles,
    live: &LiveKeys,
    clock: &Clock,
) -> Result<bool, KeysError> {
    let scanned = files.scan_blocking(false).await;
    let read_at = std::time::Instant::now();
    let records = records(store.signing_keys().await?);
    // A key recorded since the last scan whose file that scan left out (more files than a
    // scan reads): read again, the recorded files first (parsed files are cached).
    let now = clock.now();
    let scanned = match scanned {
        Ok(_) if files.prefer(&records, now) => files.scan_blocking(false).await,
        scanned => scanned,
    };
    let loaded = match scanned {
        Ok(loaded) => loaded,
        Err(e) => {
            tracing::warn!(
                error = %e,
                "cannot read the keys directory; serving the keys of its last scan"
            );
            files.last().to_vec()
        }
    };
    // Never keep the old ring when the new one cannot sign: the old one may hold a key the
    // records revoked (a leaked key whose successor's file is not in this node's directory
    // yet). Signing nothing for that algorithm (503, `/readyz` failing) is the safe answer.
    let ring = ring_unsigned(&records, &loaded, now);
    if !ring.signs_all() {
        tracing::error!(
            algs = ?ring.unsigned(),
            signs = ring.active().is_some(),
            "an active key's file is missing from the keys directory: this node signs nothing \
             for its algorithm until the file is there (`tessera keys list`)"
        );
    }
    let changed = live.replace(ring);
    live.synced(read_at);
    if changed {
        warn_missing(&records, &loaded, now);
        let ring = live.current();
        let without: Vec<SigningAlg> = SigningAlg::ALL
            .into_iter()
            .filter(|alg| ring.for_alg(*alg).is_none())
            .collect();
        if !without.is_empty() {
            // Cluster-wide (no active record), so not a readiness failure: see `/readyz`.
            tracing::error!(
                algs = ?without,
                "no key signs for these algorithms: run `tessera keys rotate --alg ALG`"
            );
        }
        for entry in ring.entries() {
            tracing::info!(
                kid = entry.record.kid,
                alg = %entry.record.alg,
                state = %entry.record.state(now),
                "signing keys changed"
            );
        }
    }
    Ok(changed)
}

/// Keeps the node's ring in step with the records: a rescan every `key_rescan_interval`, and
/// one as soon as `wake` fires (a PostgreSQL notification on `KEY_CHANNEL`, see
/// `revocation::sync`, or the rotation task below after it staged a key). The automatic
/// rotation (`schedule`) runs in a task of its own: its lock or its key generation may take
/// long, and rescans (which withdraw revoked keys) must never wait for it.
pub async fn run(
    store: Store,
    live: LiveKeys,
    mut files: KeyFiles,
    clock: Clock,
    settings: Arc<Settings>,
    wake: Arc<tokio::sync::Notify>,
) {
    let interval = settings.key_rescan_interval;
    let rotation = tokio::spawn(rotate_on_schedule(
        store.clone(),
        live.clone(),
        clock.clone(),
        settings.clone(),
        wake.clone(),
    ));
    // The rotation task ends with this one (the node shutting down).
    let _rotation = AbortOnDrop(rotation);
    let mut stopped = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = wake.notified() => {}
        }
        if let Err(e) = rescan(&store, &mut files, &live, &clock).await {
            let cut_off = live.unsynced_for();
            if cut_off > max_unsynced(&settings) && !stopped {
                stopped = true;
                tracing::error!(
                    error = %e,
                    cut_off_secs = cut_off.as_secs(),
                    "the key records have been unreadable for longer than jwks_max_age: this \
                     node signs nothing and /readyz fails until it reads them again"
                );
            } else {
                tracing::warn!(error = %e, "cannot rescan the signing keys");
            }
            continue;
        }
        if std::mem::take(&mut stopped) {
            tracing::info!("the key records are readable again: this node signs again");
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The automatic rotation's turn every `key_rescan_interval`; after staging a key it wakes
/// the rescan, so the node publishes it now (SQLite has no NOTIFY).
async fn rotate_on_schedule(
    store: Store,
    live: LiveKeys,
    clock: Clock,
    settings: Arc<Settings>,
    wake: Arc<tokio::sync::Notify>,
) {
    let mut schedule = super::schedule::Schedule::new(settings.clone(), clock);
    loop {
        tokio::time::sleep(settings.key_rescan_interval).await;
        if schedule.tick(&store, &live.current()).await {
            wake.notify_one();
        }
    }
}

/// A key `rotate` staged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Staged {
    pub kid: String,
    pub alg: SigningAlg,
    pub file: String,
    /// When it starts signing.
    pub active_at: UnixTime,
    /// The key it replaces, which retires then.
    pub replaces: Option<String>,
    /// When the replaced key leaves JWKS.
    pub replaced_retire_after: Option<UnixTime>,
}

/// At most this many live key records (next, active, retiring): each rotation adds one, and a
/// loop of them (a script gone wrong, a stolen admin session) must not grow JWKS, and every
/// node's ring, without bound. Revoke adds one only for an algorithm it leaves without a
/// signer, and adoption only for an algorithm without records, from at most `MAX_KEY_FILES`.
pub const MAX_KEY_RECORDS: usize = 1000;

/// `tessera keys rotate`: a new key for `alg`, published now, signing after `publish_ahead`.
/// The times are read from `clock` once the change holds the lock: a rotation that waited
/// for another records when it really publishes, never earlier.
pub async fn rotate(
    store: &Store,
    settings: &Settings,
    alg: SigningAlg,
    clock: &Clock,
) -> Result<Staged, KeysError> {
    rotate_when(store, settings, alg, clock, false, |_, _| Ok(())).await
}

/// The automatic rotation (`key_rotation_period`): as `rotate`, but only if it is still due by
/// the records read under the change's lock, so that a node whose ring is behind (another node
/// staged a successor, which may even sign by now) never stages a second one. It never waits
/// for the lock: another node holding it is at it already (`Ok(None)`).
pub async fn rotate_if_due(
    store: &Store,
    settings: &Settings,
    alg: SigningAlg,
    clock: &Clock,
) -> Result<Staged, KeysError> {
    let period = secs(settings.key_rotation_period);
    let ahead = policy(settings).publish_ahead;
    rotate_when(store, settings, alg, clock, true, |records, now| {
        if lifecycle::rotation_due(records, alg, now, period, ahead) {
            Ok(())
        } else {
            Err(LifecycleError::NotDue(alg))
        }
    })
    .await
}

async fn rotate_when(
    store: &Store,
    settings: &Settings,
    alg: SigningAlg,
    clock: &Clock,
    nowait: bool,
    due: impl FnOnce(&[KeyRecord], UnixTime) -> Result<(), LifecycleError>,
) -> Result<Staged, KeysError> {
    let policy = policy(settings);
    // Before the directory is made: on a deployment without records, an empty or missing
    // directory is refused, never taken as one that holds no key.
    let adoptable = adoptable(store, settings).await?;
    pem::ensure_dir(&settings.keys_dir)?;
    let files = KeyFiles::open(settings)?;
    let (mut change, records) = if nowait {
        let Some(change) = store.try_key_change().await? else {
            return Err(LifecycleError::NotDue(alg).into());
        };
        recorded_or_adopted(change, adoptable, settings, clock).await?
    } else {
        recorded_or_adopted(store.begin_key_change().await?, adoptable, settings, clock).await?
    };
    // Read now that the lock is held: the key is published from this instant on.
    let now = clock.now();
    let planned = due(&records, now)
        .and_then(|()| within_bound(&records, alg, now))
        .and_then(|()| lifecycle::plan_rotation(&records, alg, now, policy));
    let rotation = match planned {
        Ok(rotation) => rotation,
        Err(e) => {
            // What was adopted on the way stays recorded.
            change.commit().await?;
            return Err(e.into());
        }
    };
    let (path, record) = new_key_blocking(
        &settings.keys_dir,
        alg,
        now,
        rotation.new_key.active_at,
        files.passphrase.clone(),
    )
    .await?;
    if let Err(e) = record_new_key(&mut change, &record, rotation.retires.as_ref()).await {
        // Not committed (the change rolls back when dropped): nothing refers to the file.
        drop(change);
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    if let Err(e) = change.commit().await {
        forget_unless_recorded(store, &path, &record.kid).await;
        return Err(e.into());
    }
    Ok(Staged {
        kid: record.kid,
        alg,
        file: record.file,
        active_at: rotation.new_key.active_at,
        replaces: rotation.retires.as_ref().map(|r| r.kid.clone()),
        replaced_retire_after: rotation.retires.and_then(|r| r.retire_after),
    })
}

/// Only live records (next, active, retiring) count: retired and revoked ones stay for the
/// audit trail and cost a rescan nothing once out of JWKS. A rotation that restores a missing
/// signer for `alg` (after a fail-closed revocation) is never refused.
fn within_bound(
    records: &[KeyRecord],
    alg: SigningAlg,
    now: UnixTime,
) -> Result<(), LifecycleError> {
    let signs = records
        .iter()
        .any(|r| r.alg == alg && r.state(now) == KeyState::Active);
    let live = records
        .iter()
        .filter(|r| r.state(now).is_published())
        .count();
    if signs && live >= MAX_KEY_RECORDS {
        return Err(LifecycleError::TooManyRecords(MAX_KEY_RECORDS));
    }
    Ok(())
}

/// After a commit whose outcome is unknown (the acknowledgement was lost: the connection
/// dropped, the server restarted), a new key's file is removed only if the records, read
/// again, do not name it. A recorded key whose file was deleted would leave its algorithm
/// with nothing to sign; an unrecorded file left behind only gets a warning at the next scan.
async fn forget_unless_recorded(store: &Store, path: &Path, kid: &str) {
    match store.signing_keys().await {
        Ok(rows) if !rows.iter().any(|r| r.kid == kid) => {
            let _ = std::fs::remove_file(path);
        }
        Ok(_) => tracing::warn!(
            kid,
            "the key change was committed although its acknowledgement was lost; keeping its file"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            kid,
            file = %path.display(),
            "cannot tell whether the new key was recorded; its file is kept (an unrecorded \
             file is ignored beside recorded keys)"
        ),
    }
}

async fn record_new_key(
    change: &mut KeyChange,
    record: &KeyRecord,
    retires: Option<&KeyRecord>,
) -> Result<(), StoreError> {
    change.insert(&to_row(record)).await?;
    if let Some(old) = retires {
        change.update_times(&to_row(old)).await?;
    }
    Ok(())
}

/// `new_key` on the blocking pool (RSA generation and PBKDF2 take a while).
async fn new_key_blocking(
    dir: &Path,
    alg: SigningAlg,
    now: UnixTime,
    active_at: UnixTime,
    passphrase: Option<Arc<Passphrase>>,
) -> Result<(PathBuf, KeyRecord), KeyFileError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || new_key(&dir, alg, now, active_at, passphrase.as_deref()))
        .await
        .map_err(|e| KeyFileError::new(format!("{alg} key generation failed: {e}")))?
}

/// Writes a new key file, checks that it reads back as the key made in memory (whose kid the
/// record takes) and makes its record: published now, active from `active_at`.
fn new_key(
    dir: &Path,
    alg: SigningAlg,
    now: UnixTime,
    active_at: UnixTime,
    passphrase: Option<&Passphrase>,
) -> Result<(PathBuf, KeyRecord), KeyFileError> {
    let (path, kid) = pem::generate_checked(dir, alg, now, passphrase)?;
    read_back(&path, &kid, passphrase)?;
    let record = KeyRecord {
        kid,
        alg,
        file: file_name(&path).unwrap_or_default(),
        created_at: now,
        published_at: now,
        active_at: Some(active_at),
        retiring_at: None,
        retire_after: None,
        revoked_at: None,
    };
    Ok((path, record))
}

/// The kid is the key made in memory, which its record takes; the file read back must hold
/// that very key (not a file another process put under the name), or it is removed and
/// nothing is recorded.
fn read_back(path: &Path, kid: &str, passphrase: Option<&Passphrase>) -> Result<(), KeyFileError> {
    let checked = pem::load(path, passphrase).and_then(|key| {
        if key.kid() == kid {
            Ok(())
        } else {
            Err(KeyFileError::new(format!(
                "{}: the file written does not hold the key just made",
                path.display()
            )))
        }
    });
    if checked.is_err() {
        let _ = std::fs::remove_file(path);
    }
    checked
}

/// What `promote` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Promoted {
    pub kid: String,
    pub alg: SigningAlg,
    /// The key that signed before and retires now.
    pub replaces: Option<String>,
    /// When the replaced key leaves JWKS.
    pub replaced_retire_after: Option<UnixTime>,
}

/// Makes the next key `kid` sign now rather than at its recorded time (see
/// `lifecycle::plan_promotion` and `lifecycle::promotion_margin` for when that is allowed).
pub async fn promote(
    store: &Store,
    settings: &Settings,
    kid: &str,
    clock: &Clock,
) -> Result<Promoted, KeysError> {
    let policy = policy(settings);
    let (mut change, records) = recorded(store.begin_key_change().await?).await?;
    let now = clock.now();
    let margin =
        lifecycle::promotion_margin(secs(settings.jwks_max_age), settings.key_rescan_interval);
    let changed = match lifecycle::plan_promotion(&records, kid, now, margin, policy) {
        Ok(changed) => changed,
        Err(e) => {
            change.commit().await?;
            return Err(e.into());
        }
    };
    for record in &changed {
        change.update_times(&to_row(record)).await?;
    }
    change.commit().await?;
    let promoted = changed.iter().find(|r| r.kid == kid);
    let replaced = changed.iter().find(|r| r.kid != kid);
    Ok(Promoted {
        kid: kid.to_string(),
        alg: promoted.map_or_else(SigningAlg::default, |r| r.alg),
        replaces: replaced.map(|r| r.kid.clone()),
        replaced_retire_after: replaced.and_then(|r| r.retire_after),
    })
}

/// What `revoke` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Revoked {
    pub kid: String,
    pub alg: SigningAlg,
    /// The key's state before.
    pub was: KeyState,
    /// The key that signs for its algorithm from now on, when the revoked key was active.
    pub successor: Option<String>,
    /// The revoked key was active and no successor could be made (the keys directory is
    /// read-only here, say): why, and what to run. Nothing signs for `alg` until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successor_missing: Option<String>,
    /// The revocation list entry that makes every token the key signed inactive.
    pub revocation_id: i64,
}

/// `tessera keys revoke KID`: withdraws the key at once (every node drops it from JWKS at its
/// next rescan or notification) and revokes every token it signed through the revocation list
/// (entry by `kid`, which resource servers pulling `/revocations` see too), both in one
/// transaction. If it was active, a successor signs at once: the next key if there is one,
/// else a new key. The new key's file is written *before* the change takes the lock, and
/// recorded in the revocation's transaction only if that file could be made: the revocation
/// never fails with the keys directory, and nodes see the revoked key and its successor at
/// one instant. If no key can be made, the revocation stands and nothing signs for the
/// algorithm (`Revoked::successor_missing` says what to run).
pub async fn revoke(
    store: &Store,
    settings: &Settings,
    kid: &str,
    clock: &Clock,
) -> Result<Revoked, KeysError> {
    // Neither the keys directory nor the passphrase file is needed to revoke (an ops host
    // without the keys mount, a passphrase file this user cannot read): without them the
    // revocation commits all the same, no successor can be made and the algorithm fails
    // closed (`successor_missing`).
    let files = KeyFiles::open(settings).map_err(|e| {
        tracing::warn!(error = %e, "revoking without the keys directory's passphrase");
        e.to_string()
    });
    // A deployment without records: what to adopt, read before the lock.
    let adoptable = adoptable(store, settings).await?;
    // A first look, without the lock: does an active key need a new successor?
    let peek = records(store.signing_keys().await?);
    let loaded = match &files {
        Ok(files) => {
            let mut files = files.clone();
            files.prefer(&peek, clock.now());
            files.scan_blocking(false).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "revoking without reading the keys directory");
                Vec::new()
            })
        }
        Err(_) => Vec::new(),
    };
    let mut made = Premade(None);
    let mut made_error = None;
    if let Ok(plan) = lifecycle::plan_revocation(&peek, kid, clock.now())
        && plan.needs_new_key
    {
        match make_successor(settings, files.as_ref(), plan.revoked.alg, clock.now()).await {
            Ok(new) => made = Premade(Some(new)),
            Err(e) => made_error = Some(e.to_string()),
        }
    }
    // From here on the pre-made file goes with every early return (`Premade`'s drop), unless
    // the records read under the lock name it.
    let (mut change, records) =
        recorded_or_adopted(store.begin_key_change().await?, adoptable, settings, clock).await?;
    made.keep_if_recorded(&records);
    let now = clock.now();
    let plan = match lifecycle::plan_revocation(&records, kid, now) {
        Ok(plan) => plan,
        Err(e) => {
            change.commit().await?;
            return Err(e.into());
        }
    };
    let alg = plan.revoked.alg;
    if !(plan.needs_new_key && plan.was != KeyState::Revoked) {
        // Another change got there first (a next key appeared, or the key was revoked).
        made.discard();
    }
    // An active key's successor: the next key promoted by the plan, or the new one.
    let mut successor = plan
        .updates
        .iter()
        .filter(|_| plan.was == KeyState::Active)
        .find(|r| r.state(now) == KeyState::Active)
        .map(|r| r.kid.clone());
    let mut created = None;
    let mut successor_missing = None;
    if plan.was != KeyState::Revoked {
        change.update_times(&to_row(&plan.revoked)).await?;
        for update in &plan.updates {
            change.update_times(&to_row(update)).await?;
        }
        if plan.needs_new_key {
            match (&made.0, made_error.take()) {
                (Some((path, record)), _) => {
                    let record = KeyRecord {
                        created_at: now,
                        published_at: now,
                        active_at: Some(now),
                        ..record.clone()
                    };
                    // On failure `made` removes the file (nothing recorded it).
                    change.insert(&to_row(&record)).await?;
                    successor = Some(record.kid.clone());
                    created = Some((path.clone(), record.kid));
                }
                (None, Some(e)) => successor_missing = Some(e),
                // The first look saw no need (a next key was there): made after the commit.
                (None, None) => {}
            }
        }
    }
    // In the same transaction as the record: a revoked key whose tokens stay active (or the
    // other way round) is never visible. Asking again writes nothing new.
    let entry = revocation::Revocation::new(
        Target::Kid(plan.revoked.kid.clone()),
        revocation::reason::KEY_REVOKED,
        now,
    );
    let inserted = change
        .insert_revocation(&NewRevocation {
            kind: entry.target.kind(),
            target: entry.target.value(),
            issued_before: entry.target.before(),
            revoked_at: entry.revoked_at,
            expires_at: entry.expires_at,
            reason: entry.reason,
        })
        .await;
    let revocation_id = inserted?;
    // Past the commit (whatever its outcome) the file is no longer `made`'s to remove.
    made.disarm();
    if let Err(e) = change.commit().await {
        if let Some((path, kid)) = &created {
            forget_unless_recorded(store, path, kid).await;
        }
        return Err(e.into());
    }
    if let Err(e) = store.notify_revocation(revocation_id).await {
        tracing::warn!(error = %e, revocation_id, "could not announce a revocation; nodes will poll");
    }
    if plan.needs_new_key && plan.was != KeyState::Revoked && successor.is_none() {
        let staged = match successor_missing.take() {
            Some(e) => Err(e),
            None => match &files {
                Ok(files) => stage_successor(store, settings, Ok(files), alg, clock)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.clone()),
            },
        };
        match staged {
            Ok(kid) => successor = Some(kid),
            Err(e) => {
                tracing::error!(
                    error = %e,
                    %alg,
                    "the key is revoked, but no successor could be made: nothing signs for \
                     {alg} until one is staged"
                );
                successor_missing = Some(format!(
                    "key {} is revoked, but no {alg} key could be made to succeed it ({e}); \
                     nothing signs for {alg} until one is: run `tessera keys rotate --alg \
                     {alg}` where the keys directory {} is writable",
                    plan.revoked.kid,
                    settings.keys_dir.display()
                ));
            }
        }
    }
    // Every copy: the same key under another name would otherwise be adopted again by a
    // start on a database without this record.
    // The recorded name only if what was loaded under it is this key: a name can be reused
    // (a file moved over another), and another key's file must not be set aside.
    let copies = loaded
        .iter()
        .filter(|l| l.key.kid() == plan.revoked.kid)
        .map(|l| l.file.as_str());
    let mut names: Vec<&str> = copies.collect();
    names.sort_unstable();
    names.dedup();
    for file in names {
        set_aside(&settings.keys_dir, file, "revoked");
    }
    Ok(Revoked {
        kid: plan.revoked.kid,
        alg,
        was: plan.was,
        successor,
        successor_missing,
        revocation_id,
    })
}

/// A new key file for `alg`, not recorded yet (see `revoke`).
async fn make_successor(
    settings: &Settings,
    files: Result<&KeyFiles, &String>,
    alg: SigningAlg,
    now: UnixTime,
) -> Result<(PathBuf, KeyRecord), KeyFileError> {
    // Without the passphrase a new key would be written unencrypted: none is made.
    let files = files.map_err(|e| KeyFileError::new(e.clone()))?;
    pem::ensure_dir(&settings.keys_dir)?;
    new_key_blocking(&settings.keys_dir, alg, now, now, files.passphrase.clone()).await
}

/// A key file `revoke` made ahead of its transaction: removed when dropped (every early
/// return) unless the records read under the lock name its key, or it was disarmed once the
/// transaction that records it was sent to commit.
struct Premade(Option<(PathBuf, KeyRecord)>);

impl Premade {
    fn keep_if_recorded(&mut self, records: &[KeyRecord]) {
        if let Some((_, made)) = &self.0
            && records.iter().any(|r| r.kid == made.kid)
        {
            self.disarm();
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }

    fn discard(&mut self) {
        if let Some((path, _)) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Premade {
    fn drop(&mut self) {
        self.discard();
    }
}

/// A key that signs for `alg` at once, after its active key was revoked: made and recorded in
/// a change of its own (the revocation is committed already). If another change made one
/// meanwhile, that one is the successor.
async fn stage_successor(
    store: &Store,
    settings: &Settings,
    files: Result<&KeyFiles, &String>,
    alg: SigningAlg,
    clock: &Clock,
) -> Result<String, KeysError> {
    let (path, record) = make_successor(settings, files, alg, clock.now()).await?;
    let mut change = store.begin_key_change().await?;
    let recorded = async {
        let now = clock.now();
        let all = records(change.rows().await?);
        if let Some(active) = all
            .iter()
            .find(|r| r.alg == alg && r.state(now) == KeyState::Active)
        {
            return Ok::<_, StoreError>(Some(active.kid.clone()));
        }
        change
            .insert(&to_row(&KeyRecord {
                created_at: now,
                published_at: now,
                active_at: Some(now),
                ..record.clone()
            }))
            .await?;
        Ok(None)
    }
    .await;
    match recorded {
        Ok(Some(other)) => {
            drop(change);
            let _ = std::fs::remove_file(&path);
            Ok(other)
        }
        Ok(None) => match change.commit().await {
            Ok(()) => Ok(record.kid),
            Err(e) => {
                forget_unless_recorded(store, &path, &record.kid).await;
                Err(e.into())
            }
        },
        Err(e) => {
            drop(change);
            let _ = std::fs::remove_file(&path);
            Err(e.into())
        }
    }
}

/// How long a retired key's file stays in the keys directory after the key left JWKS (for an
/// operator who wants to look at it); then it is set aside like a revoked key's, so that
/// the directory, and what every scan reads, stays small.
pub const RETIRED_FILE_KEPT: i64 = 7 * 24 * 3600;

/// Sets aside (`….pem.retired`) the files of keys retired longer than `RETIRED_FILE_KEPT`.
/// Returns how many it renamed.
pub async fn set_aside_retired(store: &Store, settings: &Settings, now: UnixTime) -> usize {
    let Ok(rows) = store.signing_keys().await else {
        return 0;
    };
    let dir = settings.keys_dir.clone();
    let due: Vec<String> = records(rows)
        .into_iter()
        .filter(|r| r.state(now) == KeyState::Retired)
        .filter(|r| {
            r.retire_after
                .is_some_and(|at| at.saturating_add(RETIRED_FILE_KEPT) <= now)
        })
        .map(|r| r.file)
        .filter(|file| !file.contains('/') && dir.join(file).is_file())
        .collect();
    if due.is_empty() {
        return 0;
    }
    tokio::task::spawn_blocking(move || {
        due.iter()
            .filter(|file| set_aside(&dir, file, "retired"))
            .count()
    })
    .await
    .unwrap_or_default()
}

/// Renames a revoked or retired key's file out of the `*.pem` set (`….pem.{suffix}`), so that
/// no later start (on a restored or new database, say) can ever adopt it again. The record is
/// what withdraws the key; a read-only directory only gets a warning. Returns whether it did.
fn set_aside(dir: &Path, file: &str, suffix: &str) -> bool {
    if file.is_empty() || file.contains('/') || !file.ends_with(".pem") {
        return false;
    }
    let from = dir.join(file);
    if !from.exists() {
        return false;
    }
    let to = dir.join(format!("{file}.{suffix}"));
    match std::fs::rename(&from, &to) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                error = %e,
                file = %from.display(),
                "the key is {suffix}, but its file could not be renamed; delete it by hand"
            );
            false
        }
    }
}

/// One line of `tessera keys list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
    /// `false` for a key file without a record yet: its state and times are what the next
    /// start records (see `lifecycle::plan_adoption`).
    pub recorded: bool,
    pub file: String,
    /// Whether the file is in the keys directory (a published key without one is not served).
    pub file_present: bool,
    pub created_at: UnixTime,
    pub published_at: UnixTime,
    pub active_at: Option<UnixTime>,
    pub retiring_at: Option<UnixTime>,
    /// When it leaves (or left) JWKS.
    pub retire_after: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
}

/// `tessera keys list`: every recorded key, and every key file without a record as the next
/// start will record it; active keys first, then by algorithm, state and age (newest first).
/// Reads only; changes nothing. Nothing at all to list is an error: no node has started yet.
pub async fn list(
    store: &Store,
    settings: &Settings,
    now: UnixTime,
) -> Result<Vec<Listed>, KeysError> {
    let mut files = KeyFiles::open(settings)?;
    let records = records(store.signing_keys().await?);
    files.prefer(&records, now);
    let loaded = if settings.keys_dir.exists() {
        files.scan_blocking(false).await?
    } else {
        Vec::new()
    };
    let planned = lifecycle::plan_adoption(&records, &found(&loaded), now, policy(settings));
    let listed = |r: &KeyRecord, recorded: bool| Listed {
        kid: r.kid.clone(),
        alg: r.alg,
        state: r.state(now),
        recorded,
        file: r.file.clone(),
        file_present: loaded.iter().any(|l| l.key.kid() == r.kid),
        created_at: r.created_at,
        published_at: r.published_at,
        active_at: r.active_at,
        retiring_at: r.retiring_at,
        retire_after: r.retire_after,
        revoked_at: r.revoked_at,
    };
    let mut all: Vec<Listed> = records.iter().map(|r| listed(r, true)).collect();
    all.extend(
        planned
            .iter()
            .filter(|p| !records.iter().any(|r| r.kid == p.kid))
            .map(|p| listed(p, false)),
    );
    if all.is_empty() {
        return Err(KeyFileError::none_in(&settings.keys_dir).into());
    }
    all.sort_by_key(|l| {
        (
            l.state != KeyState::Active,
            l.alg,
            l.state,
            std::cmp::Reverse(l.created_at),
            l.kid.clone(),
        )
    });
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt;

    fn parses() -> usize {
        pem::PARSES.with(std::cell::Cell::get)
    }

    /// A file that does not parse is read once per version of the file (the failure is cached
    /// with the version: an encrypted file's PBKDF2 costs 100 ms or more, and rescans run every
    /// few seconds), and named once; the file fixed (a good key moved over it) is read at the
    /// next scan and taken.
    #[test]
    fn a_broken_key_file_is_parsed_once_per_version_and_taken_once_fixed() {
        let dir = tempfile::tempdir().unwrap();
        pem::generate(dir.path(), SigningAlg::Rs256, 1000).unwrap();
        let broken = dir.path().join("000000002000-rs256.pem");
        std::fs::write(
            &broken,
            "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut files = KeyFiles::new(dir.path());
        let start = parses();
        assert_eq!(files.scan(false).unwrap().len(), 1);
        assert_eq!(parses() - start, 2, "each file read once");
        for _ in 0..5 {
            assert_eq!(files.scan(false).unwrap().len(), 1);
        }
        assert_eq!(parses() - start, 2, "neither file read again");
        assert!(
            files.scan(true).is_err(),
            "a strict scan names the broken file"
        );
        assert_eq!(parses() - start, 2);

        let elsewhere = tempfile::tempdir().unwrap();
        let fixed = pem::generate(elsewhere.path(), SigningAlg::Rs256, 2000).unwrap();
        std::fs::rename(fixed, &broken).unwrap();
        let loaded = files.scan(false).unwrap();
        assert_eq!(loaded.len(), 2, "the fixed file is taken");
        assert_eq!(parses() - start, 3, "only the new version is read");
        assert!(files.broken.is_empty());
    }

    /// A new key's file that reads back as another key (its kid differs from the one its
    /// record would take) is removed and refused; the right key passes.
    #[test]
    fn a_new_key_file_that_holds_another_key_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, kid) = pem::generate_checked(dir.path(), SigningAlg::Es256, 1000, None).unwrap();
        let (other, other_kid) =
            pem::generate_checked(dir.path(), SigningAlg::Es256, 2000, None).unwrap();
        assert_ne!(kid, other_kid);
        assert!(read_back(&path, &kid, None).is_ok());
        assert!(path.exists());
        let err = read_back(&other, &kid, None).expect_err("another key");
        assert!(
            err.to_string().contains("does not hold the key just made"),
            "{err}"
        );
        assert!(!other.exists(), "the file is removed");
    }

    /// More key files than a scan reads: the files the records name come first whatever
    /// their names, the others by name.
    #[test]
    fn a_scan_over_the_cap_reads_the_recorded_files_first() {
        let dir = tempfile::tempdir().unwrap();
        let real = pem::generate(dir.path(), SigningAlg::Es256, 1000).unwrap();
        let real = file_name(&real).unwrap();
        for i in 0..MAX_KEY_FILES {
            let path = dir.path().join(format!("0000-planted-{i:03}.pem"));
            std::fs::write(&path, "not a key").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut files = KeyFiles::new(dir.path());
        assert!(files.scan(false).unwrap().is_empty(), "crowded out by name");
        let record = KeyRecord {
            kid: String::new(),
            alg: SigningAlg::Es256,
            file: real.clone(),
            created_at: 1000,
            published_at: 1000,
            active_at: Some(1000),
            retiring_at: None,
            retire_after: None,
            revoked_at: None,
        };
        assert!(
            files.prefer(&[record], 1000),
            "a recorded file was left out: scan again"
        );
        let loaded = files.scan(false).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].file, real);
    }

    /// Only the published records' files go first: a retired key's file (kept for days, or
    /// for good in a read-only directory) takes no place ahead of the others.
    #[test]
    fn a_retired_keys_file_is_not_read_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_name(&pem::generate(dir.path(), SigningAlg::Es256, 1000).unwrap()).unwrap();
        let record = KeyRecord {
            kid: String::new(),
            alg: SigningAlg::Es256,
            file: file.clone(),
            created_at: 1000,
            published_at: 1000,
            active_at: Some(1000),
            retiring_at: Some(2000),
            retire_after: Some(3000),
            revoked_at: None,
        };
        let mut files = KeyFiles::new(dir.path());
        files.prefer(std::slice::from_ref(&record), 2500);
        assert!(files.known.contains(&file), "retiring: published");
        files.prefer(&[record], 3000);
        assert!(files.known.is_empty(), "retired: not first");
    }

    /// A key command adopts only the names `pem::generate` gives, for the key's own algorithm.
    #[test]
    fn only_generated_names_of_the_keys_algorithm_are_adoptable() {
        let rs = SigningAlg::Rs256;
        for name in ["001700000000-rs256.pem", "001700000000-rs256-2.pem"] {
            assert!(generated_name(name, rs), "{name}");
        }
        for name in [
            "001700000000-es256.pem",
            "server.pem",
            "0000-planted-000.pem",
            "1700000000-rs256.pem",
            "001700000000-rs256-.pem",
            "001700000000-rs256-x.pem",
            "001700000000-rs256.pem.revoked",
            "00170000000a-rs256.pem",
        ] {
            assert!(!generated_name(name, rs), "{name}");
        }
        let name = file_name(&pem::generate(tempfile::tempdir().unwrap().path(), rs, 1).unwrap());
        assert!(generated_name(&name.unwrap(), rs));
    }

    #[test]
    fn a_huge_rescan_interval_does_not_overflow_the_cut_off() {
        // The largest interval the configuration accepts.
        let settings = Settings {
            key_rescan_interval: crate::config::MAX_KEY_RESCAN_INTERVAL,
            ..Settings::default()
        };
        assert_eq!(
            max_unsynced(&settings),
            crate::config::MAX_KEY_RESCAN_INTERVAL * 3
        );
    }
}
