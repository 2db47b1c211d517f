//! Records as stored and loaded, one file per resource; all re-exported
//! at the crate root.

mod audit;
mod keys;
mod oauth;
mod people;
mod projects;
mod secrets;
mod sign_in;
mod ssh;
mod webhooks;
mod workspaces;

pub use audit::*;
pub use keys::*;
pub use oauth::*;
pub use people::*;
pub use projects::*;
pub use secrets::*;
pub use sign_in::*;
pub use ssh::*;
pub use webhooks::*;
pub use workspaces::*;

/// Most items a [`Page`] holds: the API's lists take 1–100 per page
/// (`?limit=`), an export reads larger pages.
pub const MAX_PAGE: u32 = 1_000;

/// A page request: at most `limit` items with ids below `before`.
#[derive(Debug, Clone)]
pub struct Page {
    /// Items per page (1..=[`MAX_PAGE`]).
    pub limit: u32,
    /// Cursor: the last id of the previous page.
    pub before: Option<String>,
}
