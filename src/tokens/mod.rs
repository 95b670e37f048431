//! Tokens are minted and checked here: signed JWTs, and opaque secrets stored only as hashes.

pub mod access;
pub mod claims;
pub mod id_token;
pub mod jws;
pub mod logout_token;
pub mod opaque;
pub mod presented;
pub mod verified_cache;
