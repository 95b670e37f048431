//! Users: validated names, argon2id passwords, login throttling, and the login decision.

pub mod login;
pub mod manage;
pub mod password;
pub mod throttle;
pub mod totp;
pub mod user;

pub use user::{Email, Role, User, Username};
