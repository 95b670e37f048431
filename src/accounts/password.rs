//! argon2id password hashing on the blocking pool, under a semaphore sized to the cores so that
//! a flood of logins queues here instead of starving the async workers (and `/token`).
//! Verification reuses its 19 MiB work areas: allocating one per login made every blocking
//! thread's malloc arena keep its own, and a login flood grew the process to ~1 GB.

use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Longest password accepted, in bytes. Longer input is refused before hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A small list of the most common passwords (those of 8+ characters), refused outright.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "qwerty123",
    "11111111",
    "00000000",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "welcome123",
    "abc12345",
    "abcd1234",
    "letmein1",
    "trustno1",
    "passw0rd",
    "p@ssw0rd",
    "superman",
    "starwars",
    "12341234",
    "87654321",
    "qwertyui",
    "asdfghjk",
    "zxcvbnm1",
    "changeme",
    "administrator",
    "admin123",
    "whatever",
    "dragon12",
    "monkey12",
    "master12",
    "1q2w3e4r",
    "1qaz2wsx",
    "q1w2e3r4",
    "computer",
    "michael1",
    "jennifer",
    "internet",
    "password!",
    "tessera1",
    "secret123",
    "letmein123",
    "qwerty12",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WeakPassword {
    #[error("the password is shorter than {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("the password is one of the most common passwords")]
    Common,
}

/// Policy for new passwords (the CLI and password changes).
pub fn check_new_password(pw: &SecretString) -> Result<(), WeakPassword> {
    let pw = pw.expose_secret();
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(WeakPassword::TooLong);
    }
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(WeakPassword::TooShort);
    }
    if COMMON.contains(&pw.to_lowercase().as_str()) {
        return Err(WeakPassword::Common);
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed")]
    Failed,
}

/// Hashes and verifies passwords with the configured argon2id parameters.
#[derive(Clone)]
pub struct PasswordHasherPool {
    params: Params,
    permits: Arc<Semaphore>,
    /// argon2 work areas, at most one per permit, reused from one verification to the next.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// A real hash of a random password, verified against for unknown users so that they take
    /// as long as known ones (no user enumeration by timing).
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasherPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasherPool")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

pub enum Verified {
    No,
    Yes { needs_rehash: bool },
}

impl PasswordHasherPool {
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, HashError> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| HashError::Params(e.to_string()))?;
        let permits = std::thread::available_parallelism().map_or(1, |n| n.get());
        let random = SecretString::from(crate::tokens::opaque::generate(
            crate::tokens::opaque::Kind::Csrf,
        ));
        let dummy_hash = hash_with(&params, &random)?.into();
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            memory: Arc::default(),
            dummy_hash,
        })
    }

    /// How many hashes may run at once (one per core).
    pub fn capacity(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        let params = self.params.clone();
        self.run(move || hash_with(&params, &password)).await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no user,
    /// so both paths cost one argon2 verification.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verified, HashError> {
        let params = self.params.clone();
        let is_real = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let memory = self.memory.clone();
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Verified::No;
            };
            let ok = verify_with_pooled_memory(&memory, &params, &password, &parsed);
            if !(ok && is_real) {
                return Verified::No;
            }
            let current = Params::try_from(&parsed).ok();
            let needs_rehash = parsed.algorithm.as_str() != "argon2id"
                || current.is_none_or(|p| {
                    p.m_cost() != params.m_cost()
                        || p.t_cost() != params.t_cost()
                        || p.p_cost() != params.p_cost()
                });
            Verified::Yes { needs_rehash }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Failed)?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|_| HashError::Failed)
    }
}

/// Recomputes the hash of `password` with the stored hash's algorithm, version, parameters and
/// salt, in a pooled work area, and compares in constant time.
fn verify_with_pooled_memory(
    pool: &Mutex<Vec<Vec<Block>>>,
    configured: &Params,
    password: &SecretString,
    stored: &PasswordHash<'_>,
) -> bool {
    let (Some(expected), Some(salt)) = (stored.hash, stored.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
        return false;
    };
    let version = stored
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .ok();
    let (Some(version), Ok(params)) = (version, Params::try_from(stored)) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let mut memory = pool
        .lock()
        .ok()
        .and_then(|mut p| p.pop())
        .unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt,
            &mut out,
            &mut memory[..blocks],
        )
        .is_ok()
        && bool::from(out.ct_eq(expected.as_bytes()));
    // Keep work areas of the configured size only: an odd stored hash (larger m) must not pin
    // its memory for the life of the process.
    if memory.len() <= configured.block_count()
        && let Ok(mut p) = pool.lock()
    {
        p.push(memory);
    }
    ok
}

fn hash_with(params: &Params, password: &SecretString) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| HashError::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused() {
        let s = |p: &str| SecretString::from(p.to_string());
        assert_eq!(check_new_password(&s("short")), Err(WeakPassword::TooShort));
        assert_eq!(
            check_new_password(&s("Password1")),
            Err(WeakPassword::Common)
        );
        assert_eq!(
            check_new_password(&s(&"x".repeat(2000))),
            Err(WeakPassword::TooLong)
        );
        assert!(check_new_password(&s("correct horse battery")).is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_and_report_stale_parameters() {
        let pool = PasswordHasherPool::new(1024, 1, 1).expect("params");
        let pw = || SecretString::from("correct horse battery".to_string());
        let hash = pool.hash(pw()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(matches!(
            pool.verify(pw(), Some(hash.clone())).await,
            Ok(Verified::Yes {
                needs_rehash: false
            })
        ));
        let wrong = SecretString::from("wrong".to_string());
        assert!(matches!(
            pool.verify(wrong, Some(hash.clone())).await,
            Ok(Verified::No)
        ));
        assert!(matches!(pool.verify(pw(), None).await, Ok(Verified::No)));
        let stronger = PasswordHasherPool::new(2048, 1, 1).expect("params");
        assert!(matches!(
            stronger.verify(pw(), Some(hash)).await,
            Ok(Verified::Yes { needs_rehash: true })
        ));
    }
}
