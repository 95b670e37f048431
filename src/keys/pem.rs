//! Private keys on disk: PEM files, mode 0600, generated on first start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::RsaKeyPair;

use super::{KeyRing, SigningKey};
use crate::clock::UnixTime;

/// A problem with the keys directory, worded for the operator (file name and the fix).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyFileError(String);

/// Loads the keys in `dir` without creating any; an empty directory is an error.
pub fn load_existing(dir: &Path) -> Result<KeyRing, KeyFileError> {
    let keys = key_files(dir)?
        .iter()
        .map(|path| load(path))
        .collect::<Result<Vec<_>, _>>()?;
    KeyRing::new(keys).ok_or_else(|| {
        KeyFileError(format!(
            "{} holds no key; `tessera serve` creates one on first start",
            dir.display()
        ))
    })
}

/// Loads every `*.pem` key in `dir` (sorted by name: names start with their creation time, so
/// the newest signs). An empty or missing directory gets one new RSA-2048 key.
pub fn load_or_generate(dir: &Path, now: UnixTime) -> Result<KeyRing, KeyFileError> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                KeyFileError(format!(
                    "TESSERA_KEYS_DIR {}: cannot create the directory: {e}",
                    dir.display()
                ))
            })?;
    }
    let mut files = key_files(dir)?;
    if files.is_empty() {
        files.push(generate_rsa(dir, now)?);
        tracing::info!(dir = %dir.display(), "generated a new RS256 signing key");
    }
    let keys = files
        .iter()
        .map(|path| load(path))
        .collect::<Result<Vec<_>, _>>()?;
    KeyRing::new(keys).ok_or_else(|| KeyFileError("no signing key could be loaded".into()))
}

fn key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyFileError> {
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

fn load(path: &Path) -> Result<SigningKey, KeyFileError> {
    let shown = path.display();
    let meta = fs::metadata(path).map_err(|e| KeyFileError(format!("{shown}: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError(format!(
            "private key {shown} is readable by group or others (mode {mode:04o}); \
             fix it with: chmod 600 {shown}"
        )));
    }
    let text = fs::read(path).map_err(|e| KeyFileError(format!("{shown}: {e}")))?;
    let block =
        pem::parse(&text).map_err(|_| KeyFileError(format!("{shown} is not a PEM file")))?;
    let pair = match block.tag() {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents()),
        other => {
            return Err(KeyFileError(format!(
                "{shown} holds a '{other}', not an RSA private key"
            )));
        }
    }
    .map_err(|e| KeyFileError(format!("{shown}: not a usable RSA private key ({e})")))?;
    Ok(SigningKey::from_rsa(pair))
}

/// Writes a new RSA-2048 key as PKCS#8 PEM, created with mode 0600 (never wider, not even briefly).
pub fn generate_rsa(dir: &Path, now: UnixTime) -> Result<PathBuf, KeyFileError> {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| KeyFileError("RSA key generation failed".into()))?;
    let der = pair
        .as_der()
        .map_err(|_| KeyFileError("RSA key encoding failed".into()))?;
    let text = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
    let path = dir.join(format!("{now:012}-rs256.pem"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| KeyFileError(format!("{}: cannot create key file: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyFileError(format!("{}: cannot write key file: {e}", path.display())))?;
    Ok(path)
}
