//! latchkey's domain model: identifiers, the API key format, a key's state
//! (lifecycle status and verify codes) and the rules deciding it, scopes and
//! the permission check, roles, duration strings and the compatibility
//! profiles' scope vocabularies.
//!
//! This crate does no I/O and is not async: everything here is a pure function
//! of its inputs (the only source of entropy is the OS CSPRNG used to mint keys
//! and ids), so it can be tested exhaustively and reused by every other crate.

pub mod crypto;
pub mod duration;
pub mod forward_path;
pub mod id;
pub mod imported;
pub mod ip;
pub mod key;
pub mod key_state;
pub mod password;
pub mod policy;
pub mod profiles;
pub mod role;
pub mod scope;
pub mod secret;
pub mod ssh;
pub mod text;
pub mod time_fmt;
pub mod webhook;

pub use duration::{DurationError, format_duration, parse_duration};
pub use id::{
    EventId, InvitationId, KeyId, OrgId, ProductId, ProjectId, SecretId, SessionId, SshKeyId, SurfaceId, UserId,
};
pub use imported::{HashEncoding, Presented};
pub use key::{DisplayPrefix, Environment, KeyFormatError, KeyHash, KeyPrefix, PlainKey};
pub use key_state::{IssuedKey, KeyState, ScopeRefusal};
pub use role::Role;
pub use scope::{Catalog, InvalidScopes, MAX_SCOPES, RESERVED, Scope, ScopeRef, ScopeSet};
