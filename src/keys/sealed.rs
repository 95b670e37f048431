//! Key files encrypted at rest (issue 13): PKCS#8 `ENCRYPTED PRIVATE KEY` (RFC 5958 §3, PBES2
//! of RFC 8018 with PBKDF2-HMAC-SHA256 and AES-256-CBC, what `openssl pkcs8 -topk8 -v2
//! aes-256-cbc` writes), with a passphrase read from `keys_passphrase_file`, for deployments
//! whose secret store hands out files. The RustCrypto `pkcs8` crate does the format; this
//! module only reads the passphrase and picks the parameters.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo, SecretDocument};
use secrecy::{ExposeSecret, SecretString};

use super::KeyFileError;

/// PBKDF2-HMAC-SHA256 iterations: OWASP's figure for it (2023). A key file is decrypted once
/// per node start and once per command, so the cost is paid rarely.
const PBKDF2_ITERATIONS: u32 = 600_000;

/// The passphrase of the key files, and the file it came from (named in errors; the
/// passphrase itself never is).
pub struct Passphrase {
    secret: SecretString,
    file: PathBuf,
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passphrase")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl Passphrase {
    /// Reads `file`: its content without the trailing line break (as `echo … >` writes it).
    pub fn read(file: &Path) -> Result<Self, KeyFileError> {
        let shown = file.display();
        let text = std::fs::read_to_string(file).map_err(|e| {
            KeyFileError::new(format!(
                "TESSERA_KEYS_PASSPHRASE_FILE {shown}: cannot read the passphrase: {e}"
            ))
        })?;
        let secret = text.trim_end_matches(['\n', '\r']);
        if secret.is_empty() {
            return Err(KeyFileError::new(format!(
                "TESSERA_KEYS_PASSPHRASE_FILE {shown} is empty; put the key files' passphrase in \
                 it (e.g. `openssl rand -base64 32 > {shown}`)"
            )));
        }
        Ok(Self {
            secret: SecretString::from(secret.to_string()),
            file: file.to_path_buf(),
        })
    }

    fn bytes(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }
}

/// Encrypts a PKCS#8 private key (DER) with the passphrase; returns the DER of its
/// `EncryptedPrivateKeyInfo`.
pub fn seal(der: &[u8], passphrase: &Passphrase) -> Result<Vec<u8>, KeyFileError> {
    let failed = || KeyFileError::new("the new key could not be encrypted".to_string());
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| failed())?;
    rng.fill(&mut iv).map_err(|_| failed())?;
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
        .map_err(|_| failed())?;
    let sealed = PrivateKeyInfo::try_from(der)
        .and_then(|info| info.encrypt_with_params(params, passphrase.bytes()))
        .map_err(|_| failed())?;
    Ok(sealed.as_bytes().to_vec())
}

/// Decrypts an `EncryptedPrivateKeyInfo` (DER) read from `shown`; the plain key is wiped from
/// memory when the returned document is dropped.
pub fn open(
    der: &[u8],
    passphrase: &Passphrase,
    shown: &str,
) -> Result<SecretDocument, KeyFileError> {
    let info = EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|_| KeyFileError::new(format!("{shown} is not a valid encrypted PKCS#8 key")))?;
    info.decrypt(passphrase.bytes()).map_err(|_| {
        KeyFileError::new(format!(
            "{shown}: cannot decrypt this key with the passphrase in {}: a wrong passphrase, or \
             a key encrypted with another one",
            passphrase.file.display()
        ))
    })
}
