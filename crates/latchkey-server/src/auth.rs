//! Who is calling, and what they may do.
//!
//! [`Caller`] is an extractor: it reads `X-API-Key: <key>` or
//! `Authorization: Bearer <key>`, verifies the key through the hot path and
//! yields the caller's organization, user, role and scopes. Any failure is
//! the same 401 for the client; the reason is logged on the request span.
//!
//! Each handler states its requirement in one line, e.g.
//! `caller.require(ORG_WRITE)?` or `caller.require_admin()?`; the matching
//! itself is the pure, table-tested [`ScopeSet::allows`].

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use latchkey_core::time_fmt::now_ms;
use latchkey_core::{Role, Scope, ScopeSet};
use latchkey_store::ApiKeyRecord;
use latchkey_verify::Verdict;

use crate::error::ApiError;
use crate::state::AppState;

/// A static scope requirement (`resource`, `action`).
pub type Requirement = (&'static str, &'static str);

/// Read the organization: settings, keys, members, projects.
pub const ORG_READ: Requirement = ("org", "read");
/// Change the organization: manage keys and projects.
pub const ORG_WRITE: Requirement = ("org", "write");

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The organization every lookup is scoped to.
    pub org_id: String,
    /// The person behind the credential.
    pub user_id: Option<String>,
    /// Their role in the organization.
    pub role: Option<Role>,
    /// The scopes in force.
    pub scopes: ScopeSet,
    /// The key used.
    pub key: Arc<ApiKeyRecord>,
}

impl Caller {
    /// Fails with 403 `insufficient_scope` unless the caller holds `req`.
    pub fn require(&self, (resource, action): Requirement) -> Result<(), ApiError> {
        if self.scopes.allows(&Scope::action(resource, action)) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(format!("this credential lacks the `{resource}:{action}` scope")))
        }
    }

    /// Fails with 403 `forbidden` unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() { Ok(()) } else { Err(ApiError::forbidden("this action needs the admin role")) }
    }

    /// Whether the caller is an admin of the organization.
    pub fn is_admin(&self) -> bool {
        self.role == Some(Role::Admin)
    }

    /// Whether the caller may see and manage `key` (admins: every key of
    /// the org; members: their own).
    pub fn can_manage(&self, key: &ApiKeyRecord) -> bool {
        self.is_admin() || (key.owner_user_id.is_some() && key.owner_user_id == self.user_id)
    }
}

/// The credential presented, from `X-API-Key` or `Authorization: Bearer`.
pub fn presented_credential(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get("x-api-key") {
        return v.to_str().ok().map(str::trim);
    }
    let auth = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(presented) = presented_credential(parts) else {
            tracing::debug!(reason = "no credential", "unauthorized");
            return Err(ApiError::unauthorized());
        };
        let now = now_ms();
        match state.verifier.verify(presented, now).await? {
            Verdict::Valid(key) => {
                state.verifier.record_use(&key.id, now);
                Ok(Self {
                    org_id: key.org_id.clone(),
                    user_id: key.owner_user_id.clone(),
                    role: key.owner_role,
                    scopes: ScopeSet::from_stored(&key.scopes),
                    key,
                })
            }
            other => {
                tracing::info!(reason = other.code(), "unauthorized");
                Err(ApiError::unauthorized())
            }
        }
    }
}
