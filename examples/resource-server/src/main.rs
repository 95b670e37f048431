//! `orders-api`: the example API. Settings from the environment (README.md).

use std::net::TcpListener;

use tessera_example_resource_server::{Config, run};

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_env()?;
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let listener = TcpListener::bind(&bind)?;
    tracing::info!(%bind, audience = %config.audience, issuer = %config.issuer, "orders API listening");
    run(listener, config).await?.server.await?;
    Ok(())
}
