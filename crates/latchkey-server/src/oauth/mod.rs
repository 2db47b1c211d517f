//! Connected apps: latchkey as the OAuth client that holds people's and
//! organizations' grants to third-party providers (issue 23). The catalog
//! of providers (`config.rs`) and what latchkey asks of them
//! (`client.rs`).

pub mod client;
mod config;

pub use config::{CatalogError, OAuthProviderConfig, check_catalog};
