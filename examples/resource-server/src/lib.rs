//! An API that accepts Tessera's access tokens the way any resource server would: with
//! `jsonwebtoken` and `reqwest` only. Each request's token is verified offline (RFC 9068: the
//! signature with a key of the issuer's JWKS, `typ` `at+jwt`, `iss`, `aud` = this API's
//! identifier, `exp`, then the scope the route needs), and refused when an entry of Tessera's
//! revocation list matches it; the list is pulled every few seconds.

pub mod config;
pub mod error;
pub mod jwks;
pub mod revocations;
pub mod routes;
pub mod verify;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpServer, web};

pub use config::Config;
pub use error::AuthError;

/// What every request shares: the settings, the JWKS cache and the revocation list.
pub struct State {
    pub config: Config,
    pub http: reqwest::Client,
    pub jwks: jwks::JwksCache,
    pub revocations: revocations::Revocations,
}

/// The server (await it to serve) and its shared state.
pub struct Running {
    pub server: actix_web::dev::Server,
    pub state: web::Data<State>,
}

/// Loads the JWKS and the revocation list once, starts pulling revocations every
/// `config.revocations_every`, and serves on `listener`. The puller stops with the server.
pub async fn run(listener: TcpListener, config: Config) -> Result<Running, StartError> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| StartError(format!("HTTP client: {e}")))?;
    let state = Arc::new(State {
        jwks: jwks::JwksCache::new(&config),
        revocations: revocations::Revocations::default(),
        http,
        config,
    });
    state
        .jwks
        .refresh(&state.http)
        .await
        .map_err(|e| StartError(format!("cannot read Tessera's JWKS: {e}")))?;
    revocations::pull(&state)
        .await
        .map_err(|e| StartError(format!("cannot pull Tessera's revocation list: {e}")))?;
    tokio::spawn(revocations::keep_pulling(Arc::downgrade(&state)));

    let data = web::Data::from(state);
    let shared = data.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .configure(routes::routes)
    })
    .listen(listener)
    .map_err(|e| StartError(format!("listen: {e}")))?
    .run();
    Ok(Running {
        server,
        state: data,
    })
}

#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}
