//! Shared application state and server settings.

use std::sync::Arc;

use latchkey_core::Catalog;
use latchkey_store::Store;
use latchkey_verify::KeyVerifier;

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Brand of minted keys: `lk` gives `lk_live_…` / `lk_test_…`.
    pub brand: String,
    /// The scope catalog.
    pub catalog: Catalog,
}

impl Default for Settings {
    fn default() -> Self {
        Self { brand: "lk".to_owned(), catalog: Catalog::runtools() }
    }
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// Storage, chosen at start-up.
    pub store: Arc<dyn Store>,
    /// The verification path (cache, usage).
    pub verifier: Arc<KeyVerifier>,
    /// Settings.
    pub settings: Arc<Settings>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("backend", &self.store.backend_name()).finish_non_exhaustive()
    }
}
