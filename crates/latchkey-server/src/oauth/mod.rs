//! Connected apps: latchkey as the OAuth client that holds people's and
//! organizations' grants to third-party providers (issue 23). The catalog
//! of providers (`config.rs`), what latchkey asks of them (`client.rs`),
//! what the connected-apps routes share (`sealed.rs`: credentials, sealed
//! tokens, views, the URLs handed out), and a connection's token kept fresh
//! (`refresh.rs`: one refresh at a time across nodes, by lease); the routes
//! are `crate::routes::oauth`.

pub mod client;
mod config;
pub(crate) mod refresh;
mod sealed;

pub use config::{CatalogError, OAuthProviderConfig, check_catalog};
pub(crate) use sealed::{
    ConnectionKey, OpenedTokens, authorize_page_url, client_secret_aad, connect_url, connection_view, credentials,
    existing_key, open_tokens, open_tokens_with, provider, redirect_uri, scope_list, seal_tokens,
};
