//! What a request names, found in the caller's organization, for the routes
//! that share a lookup (a route's own lookups stay in its file). A record
//! of another organization, or an id of the wrong kind, is the same 404 as
//! one that does not exist.

use latchkey_core::Role;
use latchkey_core::id::{IdKind, OrgId, ProjectId, UserId, is_valid};
use latchkey_core::{KeyHash, PlainKey};
use latchkey_store::{Org, Project};

use crate::auth::{Caller, Credential};
use crate::error::ApiError;
use crate::state::AppState;

/// The caller's role in organization `id`, or 404. A key only knows its
/// own organization.
pub(crate) async fn org_role(state: &AppState, caller: &Caller, id: &OrgId) -> Result<(Org, Role), ApiError> {
    let role = match (&caller.credential, &caller.user_id) {
        (Credential::Session(_), Some(user)) if is_valid(IdKind::Org, id) => state.store.role_of(id, user).await?,
        (Credential::Key(_), _) if *id == caller.org_id => Some(caller.role),
        _ => None,
    };
    let Some(role) = role else { return Err(ApiError::not_found("organization")) };
    let org = state.store.get_org(id).await?.ok_or_else(|| ApiError::not_found("organization"))?;
    Ok((org, role))
}

/// A project of the caller's organization, or 404.
pub(crate) async fn project(state: &AppState, caller: &Caller, id: &ProjectId) -> Result<Project, ApiError> {
    if !is_valid(IdKind::Project, id) {
        return Err(ApiError::not_found("project"));
    }
    state.store.get_project(&caller.org_id, id).await?.ok_or_else(|| ApiError::not_found("project"))
}

/// The id of a member of `org_id` named by id or email, or 404.
pub(crate) async fn member_id(state: &AppState, org_id: &OrgId, who: &str) -> Result<UserId, ApiError> {
    let who = who.trim();
    let id = if is_valid(IdKind::User, who) {
        Some(UserId::from(who))
    } else if who.contains('@') {
        state.store.user_by_email(&who.to_lowercase()).await?.map(|(u, _)| u.id)
    } else {
        None
    };
    match id {
        Some(id) if state.store.role_of(org_id, &id).await?.is_some() => Ok(id),
        _ => Err(ApiError::not_found("user")),
    }
}

/// Prefix of invitation tokens (`lki_…`). Never change it: issued
/// invitations carry it, and the request log redacts path segments that
/// start with it (`app.rs`).
pub(crate) const INVITATION_PREFIX: &str = "lki_";

/// The stored hash of an invitation token, if `token` is one (its prefix and
/// checksum are checked before any I/O); anything else is answered as an
/// unknown invitation.
pub(crate) fn invitation_hash(token: &str) -> Result<KeyHash, ApiError> {
    match PlainKey::parse(token) {
        Ok(t) if t.expose().starts_with(INVITATION_PREFIX) => Ok(t.hash()),
        _ => Err(ApiError::not_found("invitation")),
    }
}
