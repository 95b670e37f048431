//! The protocol rules. No `HttpRequest` and no SQL here: typed inputs and `now` in, decisions out.

pub mod discovery;
