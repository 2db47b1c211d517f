//! Workspaces (issue 24): storage spaces owned by an organization or a
//! member, whose files live in the platform's S3-compatible object store
//! under an immutable prefix, `orgs/{orgId}/workspaces/{wspId}/`. latchkey
//! never stores or proxies their bytes: it hands out short-lived presigned
//! URLs for exactly one object under that prefix, and lists what is there.
//!
//! * `keys.rs` — prefixes and object keys: what may be signed (pure checks).
//! * `storage.rs` — `[workspaces.storage]` and the object store: presigned
//!   GET / PUT / DELETE URLs and `ListObjectsV2`, signed with SigV4
//!   (rusty-s3, sans-IO) and sent with [`crate::outbound::client`].
//! * `grant.rs` — mount grants: Ed25519-signed JWTs, with a key derived
//!   from the master key, and the JWK Set that verifies them.

pub mod grant;
mod keys;
pub mod storage;

pub use keys::{KeyError, MAX_KEY_BYTES, Prefix};
pub use storage::{
    Listing, MAX_EXPIRY, MAX_LIST, ObjectEntry, ObjectMethod, ObjectStore, Presigned, StorageConfig,
    StorageConfigError, StorageError,
};
