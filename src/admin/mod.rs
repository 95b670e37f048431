//! Administration: the operations behind the `tessera client …` commands, the admin console
//! and its JSON API, and the audit log they write.

pub mod activity;
pub mod api;
pub mod audit;
pub mod charts;
pub mod clients;
pub mod keys;
pub mod revocations;
pub mod sessions;
pub mod stats;
pub mod users;
