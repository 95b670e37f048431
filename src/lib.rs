//! Tessera, an OAuth 2.0 / OpenID Connect identity provider.
//!
//! A request enters in [`http`], which parses it and calls [`oauth`] (the protocol rules);
//! tokens are minted in [`tokens`] with keys from [`keys`]; every SQL statement is in [`store`].

pub mod accounts;
pub mod admin;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod error;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod oauth;
pub mod purge;
pub mod revocation;
pub mod sessions;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tokens;
