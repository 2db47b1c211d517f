//! Signing in through OpenID Connect identity providers.

mod config;

pub use config::{ClientSecret, ConfigError, JitConfig, ProviderConfig, check_all};
