//! What a verification answers: the identity stage's [`Identified`], the
//! whole pipeline's [`Outcome`], and the [`Checks`] a caller asks for.

use std::net::IpAddr;
use std::sync::Arc;

use latchkey_core::{KeyState, Scope};

use crate::ratelimit::RateDecision;
use crate::record::CachedKey;

/// The identity stage's answer ([`KeyVerifier::verify`](crate::KeyVerifier::verify)): the key's state at
/// the time asked (`Valid`, `Malformed`, `NotFound`, `Expired`, `Revoked` or
/// `Disabled`), and its record whenever the key exists.
#[derive(Debug, Clone)]
pub struct Identified {
    /// Why the key is or is not usable.
    pub code: KeyState,
    /// The key, when it exists.
    pub key: Option<Arc<CachedKey>>,
}

/// What to check beyond the key's own state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checks<'a> {
    /// Only keys of this organization are found.
    pub org_id: Option<&'a str>,
    /// Scopes the key must hold.
    pub scopes: &'a [Scope],
    /// The project the request is for; a key bound to another project is
    /// refused.
    pub project_id: Option<&'a str>,
    /// Credits to spend when the key has a credit budget (0: do not spend).
    pub cost: i64,
    /// The client's address, matched against the key's networks (a key
    /// with networks is refused without one).
    pub ip: Option<IpAddr>,
}

/// The full answer of [`KeyVerifier::check`](crate::KeyVerifier::check).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Why the key is or is not usable.
    pub code: KeyState,
    /// The key, when it exists (and belongs to the asking organization).
    pub key: Option<Arc<CachedKey>>,
    /// The most constraining rate-limit window, for limited keys.
    pub ratelimit: Option<RateDecision>,
    /// Credits left after this request, for keys with a budget.
    pub remaining: Option<i64>,
}
