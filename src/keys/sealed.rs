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

/// The most PBKDF2 iterations a key file may ask for. Decryption follows the parameters the
/// file names, so without a bound a planted or corrupted file (`iterationCount` 2^32-1) would
/// hold a blocking thread for hours at every scan. Ten million is 16 times OWASP's figure.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

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
        // The passphrase opens every key file: it gets the keys' own rule (`pem::parse`).
        let mode = std::fs::metadata(file)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .map_err(|e| {
                KeyFileError::new(format!(
                    "TESSERA_KEYS_PASSPHRASE_FILE {shown}: cannot read the passphrase: {e}"
                ))
            })?;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::new(format!(
                "TESSERA_KEYS_PASSPHRASE_FILE {shown} is readable by group or others (mode \
                 {mode:04o}); fix it with: chmod 600 {shown}"
            )));
        }
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

    /// The file the passphrase came from.
    pub fn file(&self) -> &Path {
        &self.file
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
    affordable(&info.encryption_algorithm, shown)?;
    info.decrypt(passphrase.bytes()).map_err(|_| {
        KeyFileError::new(format!(
            "{shown}: cannot decrypt this key with the passphrase in {}: a wrong passphrase, or \
             a key encrypted with another one",
            passphrase.file.display()
        ))
    })
}

/// Refuses key-derivation parameters that would make one decryption cost more than any key
/// file Tessera or OpenSSL writes: PBKDF2 beyond `MAX_PBKDF2_ITERATIONS`, and scrypt (whose
/// memory cost a file could set to gigabytes; neither Tessera nor `openssl pkcs8 -v2` uses it).
fn affordable(
    scheme: &pkcs8::pkcs5::EncryptionScheme<'_>,
    shown: &str,
) -> Result<(), KeyFileError> {
    let convert = "convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256`";
    match scheme {
        pkcs8::pkcs5::EncryptionScheme::Pbes2(params) => match &params.kdf {
            pbes2::Kdf::Pbkdf2(kdf) if kdf.iteration_count > MAX_PBKDF2_ITERATIONS => {
                Err(KeyFileError::new(format!(
                    "{shown}: its PBKDF2 iteration count ({}) is above the most Tessera accepts \
                     ({MAX_PBKDF2_ITERATIONS}); {convert}",
                    kdf.iteration_count
                )))
            }
            pbes2::Kdf::Pbkdf2(_) => Ok(()),
            pbes2::Kdf::Scrypt(_) => Err(KeyFileError::new(format!(
                "{shown} is encrypted with scrypt, which Tessera does not accept; {convert}"
            ))),
            _ => Err(KeyFileError::new(format!(
                "{shown} is encrypted with a key derivation Tessera does not accept; {convert}"
            ))),
        },
        _ => Err(KeyFileError::new(format!(
            "{shown} is encrypted with PBES1, which Tessera does not accept; {convert}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_parameters_beyond_the_bounds_are_refused_before_any_work() {
        let salt = [7u8; 16];
        let iv = [9u8; 16];
        let costly = pbes2::Parameters::pbkdf2_sha256_aes256cbc(100_000_000, &salt, &iv).unwrap();
        let scheme = pkcs8::pkcs5::EncryptionScheme::Pbes2(costly);
        let err = affordable(&scheme, "k.pem").unwrap_err().to_string();
        assert!(
            err.contains("k.pem") && err.contains("iteration count"),
            "{err}"
        );
        let fine =
            pbes2::Parameters::pbkdf2_sha256_aes256cbc(MAX_PBKDF2_ITERATIONS, &salt, &iv).unwrap();
        assert!(affordable(&pkcs8::pkcs5::EncryptionScheme::Pbes2(fine), "k.pem").is_ok());
    }
}
