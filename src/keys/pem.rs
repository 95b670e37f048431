//! Private keys on disk: PEM files, mode 0600, generated on first start.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair,
};

use super::sealed::{self, Passphrase};
use super::{KeyRing, SigningAlg, SigningKey};
use crate::clock::UnixTime;

/// A problem with the keys directory, worded for the operator (file name and the fix).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyFileError(String);

impl KeyFileError {
    pub(super) fn new(message: String) -> Self {
        Self(message)
    }

    /// `dir` holds no key (and nothing records one).
    pub(super) fn none_in(dir: &Path) -> Self {
        Self(format!(
            "{} holds no key; `tessera serve` creates one on first start",
            dir.display()
        ))
    }
}

/// Loads the keys in `dir` without creating any; an empty directory is an error.
pub fn load_existing(dir: &Path) -> Result<KeyRing, KeyFileError> {
    KeyRing::new(load_all(dir, None)?).ok_or_else(|| KeyFileError::none_in(dir))
}

/// Loads every `*.pem` key in `dir` (sorted by name: names start with their creation time, so
/// the newest of each algorithm signs). An algorithm with no key gets a new one: RSA-2048 for
/// RS256 (the default), P-256 for ES256 and Ed25519 for EdDSA, so that a client may choose any.
pub fn load_or_generate(dir: &Path, now: UnixTime) -> Result<KeyRing, KeyFileError> {
    load_or_generate_except(dir, now, &[], None)
}

/// As `load_or_generate`, but never makes a key of an algorithm in `recorded`: those have
/// published keys on record, and a node that cannot find their files (a missing mount) must
/// not sign with keys of its own that no other node has. With a `passphrase`, encrypted files
/// are read and new ones are written encrypted.
pub fn load_or_generate_except(
    dir: &Path,
    now: UnixTime,
    recorded: &[SigningAlg],
    passphrase: Option<&Passphrase>,
) -> Result<KeyRing, KeyFileError> {
    ensure_dir(dir)?;
    let mut keys = load_all(dir, passphrase)?;
    let missing = |keys: &[SigningKey]| {
        SigningAlg::ALL
            .into_iter()
            .filter(|alg| !recorded.contains(alg))
            .filter(|alg| !keys.iter().any(|k| k.signing_alg() == *alg))
            .collect::<Vec<_>>()
    };
    if missing(&keys).is_empty() {
        return KeyRing::new(keys).ok_or_else(|| KeyFileError("no signing key".into()));
    }
    // Nodes started together on one empty directory: one creates the keys while the others
    // wait here, then load what it made instead of making their own (each node would otherwise
    // sign with a key the others do not publish).
    let _lock = DirLock::take(dir);
    keys = load_all(dir, passphrase)?;
    for alg in missing(&keys) {
        match generate_with(dir, alg, now, passphrase) {
            Ok(path) => {
                tracing::info!(dir = %dir.display(), %alg, "generated a new signing key");
                keys.push(load(&path, passphrase)?);
            }
            // Without a key of the default algorithm nothing can be signed: refuse to start.
            Err(e) if alg == SigningAlg::default() => return Err(e),
            // A read-only keys directory (a mounted secret) that predates ES256/EdDSA: serve
            // RS256 and say how to add the others; clients registered for them get a
            // server_error until then.
            Err(e) => tracing::warn!(
                error = %e, %alg,
                "no {alg} key and none could be created; run `tessera keys rotate --alg {alg}` \
                 where the keys directory is writable (the nodes pick it up without a restart)"
            ),
        }
    }
    KeyRing::new(keys).ok_or_else(|| KeyFileError("no signing key could be loaded".into()))
}

fn load_all(dir: &Path, passphrase: Option<&Passphrase>) -> Result<Vec<SigningKey>, KeyFileError> {
    key_files(dir)?
        .iter()
        .map(|path| load(path, passphrase))
        .collect()
}

/// An exclusive `flock` on the keys directory's `.lock` file, released when dropped (closing
/// the file releases it, also when the process dies). `None` where the directory allows no
/// lock file (a read-only mount): nothing can be created there anyway.
struct DirLock(#[allow(dead_code, reason = "held for its drop")] fs::File);

impl DirLock {
    fn take(dir: &Path) -> Option<Self> {
        let path = dir.join(".lock");
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .or_else(|_| fs::File::open(&path))
            .ok()?;
        match file.lock() {
            Ok(()) => Some(Self(file)),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "cannot lock the keys directory");
                None
            }
        }
    }
}

/// Creates the keys directory (mode 0700) if it does not exist.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), KeyFileError> {
    if dir.exists() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            KeyFileError(format!(
                "TESSERA_KEYS_DIR {}: cannot create the directory: {e}",
                dir.display()
            ))
        })
}

/// The `*.pem` files of `dir`, sorted by name.
pub(super) fn key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyFileError> {
    let entries = fs::read_dir(dir).map_err(|e| {
        KeyFileError(format!(
            "TESSERA_KEYS_DIR {}: cannot read the directory: {e}",
            dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "pem") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// The creation time a generated key's file name starts with (`000000000123-rs256.pem`).
fn created_at(path: &Path) -> Option<UnixTime> {
    let name = path.file_name()?.to_str()?;
    let (digits, _) = name.split_once('-')?;
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What identifies one version of a key file: a rewrite, a `chmod` (ctime) or a file moved
/// over it (inode) changes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Version {
    path: PathBuf,
    dev: u64,
    ino: u64,
    ctime: (i64, i64),
    mtime: (i64, i64),
    len: u64,
    /// Whether it was read with a passphrase (and which file): an encrypted file read
    /// without one fails, and must be tried again once there is one.
    passphrase: Option<PathBuf>,
}

/// Parsed key files by version, shared by the node's rescans and its key actions (console,
/// API), so that neither decrypts a file it has already read. Failures are kept too: a
/// broken or wrongly encrypted file costs one attempt per version, not one per rescan.
type Parsed = Result<std::sync::Arc<SigningKey>, String>;
static PARSED: std::sync::LazyLock<std::sync::Mutex<HashMap<Version, Parsed>>> =
    std::sync::LazyLock::new(Default::default);

#[cfg(test)]
thread_local! {
    /// How many key files this thread has read and parsed (cache misses), for the tests.
    pub(super) static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// More versions than this (files rewritten over and over) and the cache starts afresh.
const MAX_CACHED: usize = 4096;

/// `load`, unless this version of the file was read before. Blocking: call it off the async
/// workers (`KeyFiles::scan_blocking`).
pub(super) fn load_cached(
    path: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<std::sync::Arc<SigningKey>, KeyFileError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::metadata(path) else {
        return load(path, passphrase).map(std::sync::Arc::new);
    };
    let version = Version {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
        ctime: (meta.ctime(), meta.ctime_nsec()),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        len: meta.len(),
        passphrase: passphrase.map(|p| p.file().to_path_buf()),
    };
    let cache = || {
        PARSED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(parsed) = cache().get(&version) {
        return parsed.clone().map_err(KeyFileError);
    }
    // An I/O error (a remount, a file being copied in) is not kept: the next scan tries again.
    // Only what the file's content made of it is, for this version of the file.
    let text = read_key_file(path)?;
    #[cfg(test)]
    PARSES.with(|n| n.set(n.get() + 1));
    let parsed = parse_text(path, &text, passphrase)
        .map(|key| std::sync::Arc::new(key.with_created_at(created_at(path))))
        .map_err(|e| e.0);
    let mut cache = cache();
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(version, parsed.clone());
    parsed.map_err(KeyFileError)
}

pub(super) fn load(
    path: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<SigningKey, KeyFileError> {
    parse(path, passphrase).map(|key| key.with_created_at(created_at(path)))
}

/// The most a key file may hold: an RSA-4096 key in encrypted PEM is under 4 KiB. A bigger
/// file (a mistake, or a planted one) is not read into memory.
pub const MAX_KEY_FILE_SIZE: u64 = 64 * 1024;

fn parse(path: &Path, passphrase: Option<&Passphrase>) -> Result<SigningKey, KeyFileError> {
    let text = read_key_file(path)?;
    parse_text(path, &text, passphrase)
}

/// The bytes of a key file, at most `MAX_KEY_FILE_SIZE`, refused if others may read it.
fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    use std::io::Read;
    let shown = path.display();
    let file = fs::File::open(path).map_err(|e| KeyFileError(format!("{shown}: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| KeyFileError(format!("{shown}: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError(format!(
            "private key {shown} is readable by group or others (mode {mode:04o}); \
             fix it with: chmod 600 {shown}"
        )));
    }
    let mut text = Vec::new();
    file.take(MAX_KEY_FILE_SIZE + 1)
        .read_to_end(&mut text)
        .map_err(|e| KeyFileError(format!("{shown}: {e}")))?;
    if text.len() as u64 > MAX_KEY_FILE_SIZE {
        return Err(KeyFileError(format!(
            "{shown} is larger than {MAX_KEY_FILE_SIZE} bytes: not a key file"
        )));
    }
    Ok(text)
}

fn parse_text(
    path: &Path,
    text: &[u8],
    passphrase: Option<&Passphrase>,
) -> Result<SigningKey, KeyFileError> {
    let shown = path.display();
    let block = pem::parse(text).map_err(|_| KeyFileError(format!("{shown} is not a PEM file")))?;
    let der = block.contents();
    let unusable = || {
        KeyFileError(format!(
            "{shown}: not a usable private key (PKCS#8 RSA-2048 or larger, P-256 or Ed25519)"
        ))
    };
    match block.tag() {
        "PRIVATE KEY" => from_pkcs8(der).ok_or_else(unusable),
        "ENCRYPTED PRIVATE KEY" => {
            let passphrase = passphrase.ok_or_else(|| {
                KeyFileError(format!(
                    "{shown} is encrypted: set TESSERA_KEYS_PASSPHRASE_FILE (keys_passphrase_file) \
                     to the file that holds its passphrase"
                ))
            })?;
            let plain = sealed::open(der, passphrase, &shown.to_string())?;
            from_pkcs8(plain.as_bytes()).ok_or_else(unusable)
        }
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(der)
            .map_err(|e| KeyFileError(format!("{shown}: not a usable RSA private key ({e})")))
            .and_then(|pair| SigningKey::from_rsa(pair).map_err(|_| unusable())),
        "EC PRIVATE KEY" => {
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map_err(|_| unusable())
                .and_then(|pair| SigningKey::from_es256(pair).map_err(|_| unusable()))
        }
        other => Err(KeyFileError(format!(
            "{shown} holds a '{other}', not a private key"
        ))),
    }
}

/// A PKCS#8 key of any kind Tessera signs with (PKCS#8 names its algorithm inside).
fn from_pkcs8(der: &[u8]) -> Option<SigningKey> {
    if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
        SigningKey::from_rsa(pair).ok()
    } else if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
        SigningKey::from_ed25519(pair).ok()
    } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        SigningKey::from_es256(pair).ok()
    } else {
        None
    }
}

/// `generate_with` without a passphrase: a plain PKCS#8 file.
pub fn generate(dir: &Path, alg: SigningAlg, now: UnixTime) -> Result<PathBuf, KeyFileError> {
    generate_with(dir, alg, now, None)
}

/// Writes a new key for `alg` as PKCS#8 PEM (encrypted with `passphrase` when there is one), created with mode 0600 (never wider, not even
/// briefly), named after its creation time (`000000000123-rs256.pem`, then `…-rs256-2.pem`
/// for a second key of the same second). What it does is for its record to say.
pub fn generate_with(
    dir: &Path,
    alg: SigningAlg,
    now: UnixTime,
    passphrase: Option<&Passphrase>,
) -> Result<PathBuf, KeyFileError> {
    let der = generate_der_of(alg)?;
    generate_der(dir, alg, now, passphrase, der)
}

/// A new PKCS#8 key of `alg`.
fn generate_der_of(alg: SigningAlg) -> Result<Vec<u8>, KeyFileError> {
    let failed = |what: &str| KeyFileError(format!("{alg} key {what} failed"));
    Ok(match alg {
        SigningAlg::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| failed("generation"))?
            .as_der()
            .map_err(|_| failed("encoding"))?
            .as_ref()
            .to_vec(),
        SigningAlg::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| failed("generation"))?
                .as_ref()
                .to_vec()
        }
        SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
            .map_err(|_| failed("generation"))?
            .as_ref()
            .to_vec(),
    })
}

/// As `generate_with`, with the kid of the key made in memory: the caller checks that the
/// file it reads back holds that key, rather than trust whatever the file turns out to hold.
pub(super) fn generate_checked(
    dir: &Path,
    alg: SigningAlg,
    now: UnixTime,
    passphrase: Option<&Passphrase>,
) -> Result<(PathBuf, String), KeyFileError> {
    let der = generate_der_of(alg)?;
    let kid = from_pkcs8(&der)
        .ok_or_else(|| KeyFileError(format!("{alg} key generation failed")))?
        .kid()
        .to_string();
    generate_der(dir, alg, now, passphrase, der).map(|path| (path, kid))
}

fn generate_der(
    dir: &Path,
    alg: SigningAlg,
    now: UnixTime,
    passphrase: Option<&Passphrase>,
    der: Vec<u8>,
) -> Result<PathBuf, KeyFileError> {
    let block = match passphrase {
        Some(passphrase) => pem::Pem::new("ENCRYPTED PRIVATE KEY", sealed::seal(&der, passphrase)?),
        None => pem::Pem::new("PRIVATE KEY", der),
    };
    let text = pem::encode(&block);
    let name = |n: u32| match n {
        1 => format!("{now:012}-{}.pem", alg.file_tag()),
        n => format!("{now:012}-{}-{n}.pem", alg.file_tag()),
    };
    // Written whole under a name no reader lists (not `*.pem`), then linked into place: a
    // reader sees the complete key or none, and a link never replaces a key already there.
    let temp = dir.join(format!(".{}.{}.tmp", name(1), std::process::id()));
    let _ = fs::remove_file(&temp);
    let mut n = 1;
    let mut path = dir.join(name(n));
    let written = write_new(&temp, text.as_bytes())
        .and_then(|()| {
            loop {
                match fs::hard_link(&temp, &path) {
                    // A key made in the same second (a rotation right after the first start).
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                        n += 1;
                        path = dir.join(name(n));
                    }
                    linked => break linked,
                }
            }
        })
        .and_then(|()| fs::File::open(dir)?.sync_all());
    let _ = fs::remove_file(&temp);
    written
        .map_err(|e| KeyFileError(format!("{}: cannot create key file: {e}", path.display())))?;
    Ok(path)
}

/// Creates `path` with mode 0600 (never wider, not even briefly) and writes `bytes` to disk.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creation_time_comes_from_a_generated_file_name() {
        assert_eq!(
            created_at(Path::new("/k/001764000000-rs256.pem")),
            Some(1_764_000_000)
        );
        assert_eq!(created_at(Path::new("/k/mykey.pem")), None);
        assert_eq!(created_at(Path::new("/k/12-rs256.pem")), None);
    }

    #[test]
    fn a_key_file_larger_than_the_limit_is_not_read() {
        let dir = tempfile::tempdir().expect("dir");
        let path = generate(dir.path(), SigningAlg::Es256, 1).expect("key");
        assert!(load_cached(&path, None).is_ok());
        let mut text = fs::read(&path).expect("read");
        text.resize(usize::try_from(MAX_KEY_FILE_SIZE).expect("size") + 1, b'\n');
        fs::write(&path, text).expect("pad");
        let err = load_cached(&path, None).expect_err("refused").to_string();
        assert!(err.contains("larger than"), "{err}");
    }
}
