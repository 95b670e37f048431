//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds `migrations/` at
//! compile time, and cargo does not otherwise watch that directory (a new migration file would
//! be left out of an incremental build).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
