//! Rebuilds the crate when a migration is added or changed: the migrations
//! are embedded by `sqlx::migrate!`, which cargo does not know reads
//! `migrations/` (a new file was otherwise missed until some other change
//! rebuilt the crate, and the store ran without it).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
