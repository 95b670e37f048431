//! Builds the application from settings: database, migrations, keys, listener, routes.
//! `Application::build` works on port 0, so tests run the real server in-process.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::accounts::login::Limits;
use crate::accounts::password::PasswordHasherPool;
use crate::admin::activity;
use crate::cli::FIRST_ADMIN_COMMAND;
use crate::clock::Clock;
use crate::config::{ConfigError, DatabaseUrl, Settings};
use crate::keys::{self, LiveKeys};
use crate::oauth::discovery::{self, Metadata};
use crate::revocation::{self, BackgroundTasks, RevocationList};
use crate::sessions::Lifetimes;
use crate::store::{PoolSettings, Store};

/// Everything a handler may use, shared by all workers.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    /// The signing keys: take the ring once per request with `keys.current()`.
    pub keys: LiveKeys,
    pub clock: Clock,
    /// Delivers back-channel logout tokens when a session ends.
    pub backchannel: crate::sessions::Backchannel,
    /// The revocation list, in memory on every node (DESIGN §4).
    pub revocations: Arc<RevocationList>,
    /// Access tokens whose signature this node has verified (for `/introspect`).
    pub verified_tokens: Arc<crate::tokens::verified_cache::VerifiedTokens>,
    pub discovery: Metadata,
    pub hasher: PasswordHasherPool,
    pub login_limits: Limits,
    pub session_lifetimes: Lifetimes,
    /// `scheme://host[:port]` of the issuer: what a same-site form POST sends as `Origin`.
    pub issuer_origin: String,
    /// Whether the issuer is https: cookies get `Secure` and the `__Host-` prefix.
    pub https: bool,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// This node's counts for the console's charts, written by `activity::Recorder`.
    pub activity: Arc<activity::Activity>,
    pub token_rate_limit: crate::oauth::rate_limit::ClientRateLimiter,
    /// DPoP proofs at /userinfo, per proof key (`token_rate_limit_per_client` a second): a
    /// bound token's holder cannot flood the replay store.
    pub userinfo_dpop_rate_limit: crate::oauth::rate_limit::ClientRateLimiter,
    /// DPoP (RFC 9449): proof window, nonces, the endpoint URLs proofs must name.
    pub dpop: Arc<crate::oauth::dpop::Dpop>,
}

/// Why the server could not start; each message is one line an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error(
        "cannot connect to the database {url} ({cause}); check DATABASE_URL and that the server is running"
    )]
    Database { url: String, cause: String },
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("cannot load the revocation list: {0}")]
    Revocations(#[source] crate::store::StoreError),
    #[error("cannot read the DPoP nonce secret: {0}")]
    DpopSecret(#[source] crate::store::StoreError),
    #[error("argon2 settings: {0}")]
    Hasher(#[from] crate::accounts::password::HashError),
    #[error("signing keys: {0}")]
    Keys(#[from] keys::manage::KeysError),
    #[error("the server stopped with an error: {0}")]
    Serve(std::io::Error),
    #[error("TESSERA_BIND {addr}: cannot listen ({cause})")]
    Bind { addr: String, cause: std::io::Error },
}

/// Connects to the configured database (with bounded retries) and applies the migrations.
pub async fn open_store(settings: &Settings) -> Result<Store, StartError> {
    let db = settings.database()?;
    let pool = PoolSettings {
        max_connections: settings.database_max_connections.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
            (cores * 4).max(4)
        }),
        connect_timeout: settings.database_connect_timeout,
        acquire_timeout: settings.database_acquire_timeout,
        client_cache_ttl: settings.client_cache_ttl,
    };
    let store = Store::connect(&db, &pool)
        .await
        .map_err(|e| StartError::Database {
            url: redacted(&db),
            cause: std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string()),
        })?;
    store
        .migrate()
        .await
        .map_err(|e| StartError::Migrate(e.to_string()))?;
    Ok(store)
}

/// The database location with any password removed, for messages and logs.
fn redacted(db: &DatabaseUrl) -> String {
    match db {
        DatabaseUrl::Postgres(raw) => match url::Url::parse(raw) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                u.to_string()
            }
            Err(_) => "postgres://…".into(),
        },
        DatabaseUrl::Sqlite(raw) => raw.clone(),
        DatabaseUrl::SqliteFile(path) => path.display().to_string(),
    }
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// Revocation sync and purge; they stop when the application is dropped or stops.
    background: BackgroundTasks,
    /// Writes the activity counts to the store (periodically, and once at stop).
    activity: activity::Recorder,
}

impl Application {
    /// Binds `settings.bind` and builds the server.
    pub async fn build(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        settings.validate()?;
        let listener = TcpListener::bind(&settings.bind).map_err(|cause| StartError::Bind {
            addr: settings.bind.clone(),
            cause,
        })?;
        Self::build_with_listener(settings, clock, listener).await
    }

    /// Builds the server on a listener the caller bound (tests bind port 0 first, so the
    /// issuer URL can name the port).
    pub async fn build_with_listener(
        settings: Settings,
        clock: Clock,
        listener: TcpListener,
    ) -> Result<Self, StartError> {
        settings.validate()?;
        let store = open_store(&settings).await?;
        if !settings.admin_require_totp {
            tracing::warn!(
                "ADMIN_REQUIRE_TOTP IS OFF: administrators sign in to the console with a password \
                 alone; set TESSERA_ADMIN_REQUIRE_TOTP=true in production"
            );
        }
        let (keys, key_files) = keys::manage::open(&store, &settings, &clock).await?;
        {
            let ring = keys.current();
            tracing::info!(
                kid = ring.active().map(crate::keys::SigningKey::kid),
                keys = ring.len(),
                "signing keys loaded"
            );
        }
        let revocations = RevocationList::load(&store, clock.now())
            .await
            .map(Arc::new)
            .map_err(StartError::Revocations)?;
        // The client cache serves nothing until it has a cursor; take it now rather than at the
        // sync task's first poll. On failure that poll takes it.
        if let Err(e) = store.sync_client_cache().await {
            tracing::warn!(error = %e, "cannot read client changes yet");
        }
        let nonce_secret = store
            .dpop_nonce_secret()
            .await
            .map_err(StartError::DpopSecret)?;
        let dpop = crate::oauth::dpop::Dpop::new(&settings, &nonce_secret)
            .map_err(|e| ConfigError(format!("TESSERA_ISSUER: {e}")))?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let hasher = PasswordHasherPool::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
        )?;
        let issuer_origin = settings.issuer_url()?.origin().ascii_serialization();
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let backchannel = crate::sessions::Backchannel::new(
            keys.clone(),
            settings.issuer(),
            settings.backchannel_logout_timeout,
        )
        .cut_off_after(keys::manage::max_unsynced(&settings))
        .counting(metrics.clone());
        let state = web::Data::new(AppState {
            discovery: discovery::metadata(&settings),
            hasher,
            login_limits: Limits::from_settings(&settings),
            session_lifetimes: Lifetimes {
                absolute_secs: secs(settings.session_ttl),
                idle_secs: secs(settings.session_idle_ttl),
            },
            issuer_origin,
            https: settings.is_https(),
            metrics,
            activity: Arc::default(),
            token_rate_limit: crate::oauth::rate_limit::ClientRateLimiter::new(
                settings.token_rate_limit_per_client,
            ),
            userinfo_dpop_rate_limit: crate::oauth::rate_limit::ClientRateLimiter::new(
                settings.token_rate_limit_per_client,
            ),
            settings: Arc::new(settings),
            store,
            keys,
            revocations,
            verified_tokens: Arc::default(),
            dpop: Arc::new(dpop),
            backchannel,
            clock,
        });
        let server = server(listener, state.clone())?;
        let keys_changed = Arc::new(tokio::sync::Notify::new());
        let mut background = revocation::spawn_background(
            state.store.clone(),
            state.revocations.clone(),
            state.clock.clone(),
            keys_changed.clone(),
        );
        background.push(tokio::spawn(keys::manage::run(
            state.store.clone(),
            state.keys.clone(),
            key_files,
            state.clock.clone(),
            state.settings.clone(),
            keys_changed,
        )));
        background.push(tokio::spawn(crate::purge::run(
            state.store.clone(),
            crate::purge::Policy::from_settings(&state.settings),
            state.clock.clone(),
            state.settings.purge_interval,
        )));
        let activity = activity_recorder(&state);
        background.push(tokio::spawn(activity::run(
            activity.clone(),
            state.settings.audit_issuance_interval,
        )));
        tracing::info!(port, issuer = %state.settings.issuer(), "listening");
        announce(&state).await;
        Ok(Self {
            port,
            server,
            state,
            background,
            activity,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle that stops the server gracefully (in-flight requests finish).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        drop(self.background);
        // The counts since the last flush would otherwise be lost with the process.
        if let Err(e) = self.activity.flush().await {
            tracing::warn!(error = %e, "could not write the last activity counts");
        }
        result
    }
}

/// The recorder of this node's activity counts (tests flush it to see the charts at once).
pub fn activity_recorder(state: &AppState) -> activity::Recorder {
    activity::Recorder::new(
        state.store.clone(),
        state.clock.clone(),
        state.activity.clone(),
        state.revocations.clone(),
        state.session_lifetimes.idle_secs,
    )
}

/// Tells the operator where the login page and the console are, and, while nobody can sign
/// in yet, how to create the first administrator (as Keycloak's bootstrap admin does).
async fn announce(state: &AppState) {
    let base = state.settings.issuer();
    tracing::info!(url = %format!("{base}/login"), "login page");
    tracing::info!(url = %format!("{base}/admin"), "admin console");
    match state.store.has_users().await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "no users yet: create the first administrator with `{FIRST_ADMIN_COMMAND}` \
             (same configuration as this server; the password is asked on the terminal)"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot tell whether any user exists yet"),
    }
}

fn server(listener: TcpListener, state: web::Data<AppState>) -> Result<Server, StartError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let settings = state.settings.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(crate::http::security_headers())
            .wrap(actix_web::middleware::from_fn(crate::http::record_metrics))
            .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
            .app_data(state.clone())
            .app_data(crate::http::form_config())
            .app_data(crate::http::payload_config())
            .configure(crate::http::routes)
    })
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    // Slow-loris defence: headers must arrive within this time, or the connection closes.
    .client_request_timeout(settings.client_request_timeout)
    // The binary stops the server on SIGINT/SIGTERM itself (see main.rs), so that tests can
    // run many servers in one process without each one claiming the signals.
    .disable_signals()
    .listen(listener)
    .map_err(|cause| StartError::Bind { addr, cause })?
    .run();
    Ok(server)
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
