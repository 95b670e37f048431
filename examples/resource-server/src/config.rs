//! Settings, from the environment in the binary and as a struct in tests.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// Tessera's issuer URL: the `iss` every token must carry; `/jwks` and `/revocations` are
    /// found from it.
    pub issuer: String,
    /// This API's identifier as registered with `tessera api add --identifier`: the `aud` a
    /// token must name (Tessera puts it there when the client asked with `resource`).
    pub audience: String,
    /// The API's backend client (`tessera client add … --serves-api IDENTIFIER`), which may
    /// pull `/revocations`.
    pub client_id: String,
    pub client_secret: String,
    /// How often the revocation list is pulled: a revoked token is refused within about this.
    pub revocations_every: Duration,
    /// Clock skew allowed on `exp`.
    pub leeway: Duration,
    /// A token naming a `kid` the cached JWKS lacks refetches it, but at most once per this
    /// (forged kids must not turn the API into a JWKS-fetching amplifier).
    pub unknown_kid_refetch_every: Duration,
}

impl Config {
    /// `TESSERA_ISSUER`, `API_IDENTIFIER`, `API_CLIENT_ID`, `API_CLIENT_SECRET`, and optionally
    /// `REVOCATIONS_EVERY_SECS` (5) and `LEEWAY_SECS` (5).
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| {
            std::env::var(name)
                .map_err(|_| format!("set {name} (see examples/resource-server/README.md)"))
        };
        let secs = |name: &str, default: u64| -> Result<Duration, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .map(Duration::from_secs)
                    .map_err(|_| format!("{name} must be a number of seconds")),
                Err(_) => Ok(Duration::from_secs(default)),
            }
        };
        Ok(Self {
            issuer: var("TESSERA_ISSUER")?.trim_end_matches('/').to_string(),
            audience: var("API_IDENTIFIER")?,
            client_id: var("API_CLIENT_ID")?,
            client_secret: var("API_CLIENT_SECRET")?,
            revocations_every: secs("REVOCATIONS_EVERY_SECS", 5)?.max(Duration::from_secs(1)),
            leeway: secs("LEEWAY_SECS", 5)?,
            unknown_kid_refetch_every: Duration::from_secs(10),
        })
    }
}
