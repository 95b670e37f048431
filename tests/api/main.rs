//! The one integration-test binary. Every test talks HTTP to the real server, on PostgreSQL and
//! on SQLite (`dual!`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests may panic"
)]

mod helpers;
mod pg;

mod account_totp;
mod admin;
mod admin_api;
mod admin_browser;
mod admin_charts;
mod admin_console;
mod admin_detail;
mod admin_keys;
mod admin_look;
mod admin_walk;
mod api_guards;
mod apis;
mod browser;
mod cli_clients;
mod cli_config;
mod cli_revocation;
mod client_cache;
mod clients;
mod code_flow;
mod device;
mod discovery;
mod dpop;
mod exchanged_families;
mod grant_lifecycle;
mod health;
mod introspect;
mod key_files_scan;
mod key_files_sealed;
mod key_review;
mod key_revocation_race;
mod key_rotation;
mod key_schedule;
mod keys;
mod limits;
mod login_page;
mod logout_everywhere;
mod native_sso;
mod nextjs_example;
mod operations;
mod outage;
mod purge;
mod resource_server;
mod revocation_list;
mod revoke;
mod rp_openidconnect;
mod signing_algs;
mod step_up;
mod token;
mod token_exchange;
mod user_cli;
