//! The protocol rules. No `HttpRequest` and no SQL here: typed inputs and `now` in, decisions out.

pub mod authorize;
pub mod client;
pub mod client_auth;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod exchange_rights;
pub mod grants;
pub mod introspection;
pub mod pkce;
pub mod rate_limit;
pub mod redirect_uri;
pub mod resource;
pub mod resources;
pub mod revocation;
pub mod scope;
pub mod sso_group;
pub mod token;
