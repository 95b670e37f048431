//! One module per grant type; `oauth::token::exchange` dispatches to them.

pub mod client_credentials;
