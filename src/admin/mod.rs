//! Administration: the operations behind the `tessera client …` commands (and, later, the admin
//! console and its JSON API).

pub mod clients;
