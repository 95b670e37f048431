//! Administration: every operation behind the admin console, its JSON API and the `tessera
//! user|client|keys` commands, on one service (`Admin`) with typed input and one error type
//! (`AdminError`). Each operation checks who may (`Actor`), changes the store and writes its
//! audit entry; `http/admin/{console,api}` and `commands/` only extract, call and render.

pub mod activity;
pub mod api;
pub mod apis;
pub mod audit;
pub mod charts;
pub mod clients;
mod error;
pub mod keys;
pub mod mfa;
pub mod revocations;
mod service;
pub mod sessions;
pub mod stats;
pub mod users;

pub use error::AdminError;
pub use service::{Actor, Admin, Policy, Proof, clean_filter};
