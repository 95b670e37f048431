//! The argon2id limit of this machine for logins, the yardstick of the login goal (issue 16:
//! logins/s at ≥ 90% of it). Verifies one password with the default parameters, on one core
//! and then on every core at once through `PasswordHasherPool` (what `/login` uses), and prints
//! the time per verification and the logins/s the cores allow.
//!
//!     cargo run --release --example argon2_limit
use std::time::Instant;

use secrecy::SecretString;
use tessera::accounts::password::PasswordHasherPool;
use tessera::config::Settings;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let s = Settings::default();
    let pool = PasswordHasherPool::new(
        s.argon2_memory_kib,
        s.argon2_iterations,
        s.argon2_parallelism,
    )?;
    let password = || SecretString::from("bench-correct-horse-battery-staple".to_string());
    let hash = pool.hash(password()).await?;
    let n = 40;
    let started = Instant::now();
    for _ in 0..n {
        pool.verify(password(), Some(hash.clone())).await?;
    }
    let one = started.elapsed().as_secs_f64() / f64::from(n);
    let cores = pool.capacity();
    let total = n * u32::try_from(cores).unwrap_or(1);
    let started = Instant::now();
    let all = (0..total).map(|_| {
        let pool = pool.clone();
        let hash = hash.clone();
        tokio::spawn(async move { pool.verify(password(), Some(hash)).await })
    });
    for task in futures_util::future::join_all(all).await {
        task??;
    }
    let rate = f64::from(total) / started.elapsed().as_secs_f64();
    println!(
        "argon2id m={} KiB t={} p={}: {:.1} ms per verification on one core; \
         {cores} cores: {rate:.0} verifications/s (the login limit)",
        s.argon2_memory_kib,
        s.argon2_iterations,
        s.argon2_parallelism,
        one * 1000.0
    );
    Ok(())
}
