//! Signing in through OpenID Connect identity providers: their
//! configuration (`config.rs`) and, at run time, discovery, the
//! authorization request, the code exchange and the ID token's
//! verification (`provider.rs`). Who a verified identity signs in as is
//! decided by the routes (`routes/sso.rs`).

pub(crate) mod config;
mod provider;

pub use config::{ClientSecret, ConfigError, JitConfig, ProviderConfig, check_all};
pub use provider::{Authorization, OidcError, Providers, Verified};
