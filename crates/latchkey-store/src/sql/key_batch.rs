//! New keys and their audit events written as a batch
//! ([`crate::KeyStore::insert_keys`]): one statement per table whatever the
//! count, and the keys' records built from what was written.
//!
//! The rows travel as JSON arrays of objects named by column, one bound
//! text per table (the statements are the dialects': SQLite's `json_each`,
//! PostgreSQL's `json_to_recordset`), so a batch of any size is one
//! prepared statement per table. The keys' records are not read back: what
//! a new key's row holds is what was written, but for its owner's details,
//! read once per batch for each distinct owner ([`KeyBatch::owners`]).

use std::collections::{HashMap, HashSet};

use latchkey_core::Role;
use latchkey_core::id::{OrgId, UserId};
use serde::Serialize;

use super::ReadRow;
use super::keys::scopes_text;
use super::rows::cidrs_text;
use crate::{ApiKeyRecord, AuditEvent, NewApiKey, StoreError, StoreResult};

/// A batch of keys and events as the dialects' batch statements bind them.
#[derive(Debug)]
pub struct KeyBatch {
    /// The `api_keys` rows, `[{"id": …, "org_id": …, …}, …]` (the hash as
    /// hex, the scopes as their stored JSON text; `updated_at` and
    /// `refilled_at` are `created_at`).
    pub keys: String,
    /// The `audit_events` rows, `[{"id": …, …, "details": …}, …]`.
    pub events: String,
    /// The distinct owners of the keys, `[{"org_id": …, "user_id": …}, …]`
    /// (empty when every key is organization-owned): the statement reading
    /// them answers `org_id`, `user_id`, `email`, `display_name` and the
    /// `role` of the user in that organization (NULL if not a member).
    pub owners: String,
}

/// An `api_keys` row of [`KeyBatch::keys`].
#[derive(Serialize)]
struct KeyRow<'a> {
    id: &'a str,
    org_id: &'a str,
    project_id: Option<&'a str>,
    name: &'a str,
    key_hash: String,
    key_prefix: String,
    key_hint: &'a str,
    environment: &'static str,
    kind: &'static str,
    scopes: String,
    owner_user_id: Option<&'a str>,
    created_by_user_id: Option<&'a str>,
    created_by_key_id: Option<&'a str>,
    rate_limit_per_minute: Option<i64>,
    rate_limit_per_day: Option<i64>,
    expires_at: Option<i64>,
    created_at: i64,
    rotated_from: Option<&'a str>,
    remaining: Option<i64>,
    refill_amount: Option<i64>,
    refill_interval: Option<&'static str>,
    surface_id: Option<&'a str>,
    allowed_cidrs: Option<String>,
    imported: bool,
    external_id: Option<&'a str>,
}

/// An `audit_events` row of [`KeyBatch::events`].
#[derive(Serialize)]
struct EventRow<'a> {
    id: &'a str,
    org_id: Option<&'a str>,
    at: i64,
    actor_type: &'a str,
    actor_id: Option<&'a str>,
    action: &'a str,
    target_type: Option<&'a str>,
    target_id: Option<&'a str>,
    ip: Option<&'a str>,
    request_id: Option<&'a str>,
    details: &'a str,
}

/// An owner of [`KeyBatch::owners`].
#[derive(Serialize)]
struct OwnerRow<'a> {
    org_id: &'a str,
    user_id: &'a str,
}

/// What a key's record says of its owner ([`crate::ApiKeyRecord`]'s
/// `owner_*` fields).
struct Owner {
    email: String,
    display_name: String,
    role: Option<Role>,
}

/// JSON text of `rows`.
fn json<T: Serialize>(rows: &[T]) -> StoreResult<String> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl KeyBatch {
    /// The batch writing `keys` and `events`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if a row cannot be encoded (it always can).
    pub fn new(keys: &[NewApiKey], events: &[AuditEvent]) -> StoreResult<Self> {
        let key_rows: Vec<KeyRow<'_>> = keys
            .iter()
            .map(|k| KeyRow {
                id: k.id.as_str(),
                org_id: k.org_id.as_str(),
                project_id: k.project_id.as_deref(),
                name: &k.name,
                key_hash: hex::encode(k.hash.as_bytes()),
                key_prefix: k.key_prefix.to_string(),
                key_hint: &k.key_hint,
                environment: k.environment.as_str(),
                kind: k.kind.as_str(),
                scopes: scopes_text(k),
                owner_user_id: k.owner_user_id.as_deref(),
                created_by_user_id: k.created_by_user_id.as_deref(),
                created_by_key_id: k.created_by_key_id.as_deref(),
                rate_limit_per_minute: k.rate_limit_per_minute,
                rate_limit_per_day: k.rate_limit_per_day,
                expires_at: k.expires_at,
                created_at: k.created_at,
                rotated_from: k.rotated_from.as_deref(),
                remaining: k.remaining,
                refill_amount: k.refill.map(|r| r.amount),
                refill_interval: k.refill.map(|r| r.interval.as_str()),
                surface_id: k.surface_id.as_deref(),
                allowed_cidrs: cidrs_text(k.allowed_cidrs.as_ref()),
                imported: k.key_prefix.prefix().is_none(),
                external_id: k.external_id.as_deref(),
            })
            .collect();
        let event_rows: Vec<EventRow<'_>> = events
            .iter()
            .map(|e| EventRow {
                id: e.id.as_str(),
                org_id: e.org_id.as_deref(),
                at: e.at,
                actor_type: &e.actor_type,
                actor_id: e.actor_id.as_deref(),
                action: &e.action,
                target_type: e.target_type.as_deref(),
                target_id: e.target_id.as_deref(),
                ip: e.ip.as_deref(),
                request_id: e.request_id.as_deref(),
                details: &e.details,
            })
            .collect();
        let mut seen = HashSet::new();
        let owner_rows: Vec<OwnerRow<'_>> = keys
            .iter()
            .filter_map(|k| Some(OwnerRow { org_id: k.org_id.as_str(), user_id: k.owner_user_id.as_deref()? }))
            .filter(|o| seen.insert((o.org_id, o.user_id)))
            .collect();
        Ok(Self { keys: json(&key_rows)?, events: json(&event_rows)?, owners: json(&owner_rows)? })
    }
}

/// The records of `keys` as just written, their owners' details from
/// `owners` (the rows [`KeyBatch::owners`] describes), in order.
///
/// # Errors
/// [`StoreError::Corrupt`] if an owner row is unreadable, or a key's owner
/// has no row (the foreign key on `owner_user_id` makes that impossible).
pub fn records<R: ReadRow>(keys: &[NewApiKey], owners: &[R]) -> StoreResult<Vec<ApiKeyRecord>> {
    let mut by_owner: HashMap<(OrgId, UserId), Owner> = HashMap::with_capacity(owners.len());
    for r in owners {
        let role = r.opt_text("role")?;
        let role = role.map(|s| s.parse()).transpose().map_err(|_| StoreError::Corrupt("memberships.role".into()))?;
        by_owner.insert(
            (r.id("org_id")?, r.id("user_id")?),
            Owner { email: r.text("email")?, display_name: r.text("display_name")?, role },
        );
    }
    keys.iter()
        .map(|k| {
            let owner = match &k.owner_user_id {
                None => None,
                Some(user_id) => Some(by_owner.get(&(k.org_id.clone(), user_id.clone())).ok_or_else(|| {
                    StoreError::Corrupt(format!("the owner {user_id} of the new key {} was not found", k.id))
                })?),
            };
            Ok(ApiKeyRecord {
                id: k.id.clone(),
                org_id: k.org_id.clone(),
                project_id: k.project_id.clone(),
                name: k.name.clone(),
                hash: k.hash,
                key_prefix: k.key_prefix.clone(),
                key_hint: k.key_hint.clone(),
                environment: k.environment,
                kind: k.kind,
                scopes: k.scopes.clone(),
                owner_user_id: k.owner_user_id.clone(),
                owner_email: owner.map(|o| o.email.clone()),
                owner_display_name: owner.map(|o| o.display_name.clone()),
                owner_role: owner.and_then(|o| o.role),
                created_by_user_id: k.created_by_user_id.clone(),
                created_by_key_id: k.created_by_key_id.clone(),
                rate_limit_per_minute: k.rate_limit_per_minute,
                rate_limit_per_day: k.rate_limit_per_day,
                expires_at: k.expires_at,
                remaining: k.remaining,
                refill: k.refill,
                created_at: k.created_at,
                updated_at: k.created_at,
                last_used_at: None,
                revoked_at: None,
                leaked_at: None,
                rotated_from: k.rotated_from.clone(),
                rotated_to: None,
                surface_id: k.surface_id.clone(),
                allowed_cidrs: k.allowed_cidrs.clone(),
                policy_cidrs: None,
                external_id: k.external_id.clone(),
                until_unused: None,
            })
        })
        .collect()
}
