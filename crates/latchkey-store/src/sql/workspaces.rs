//! Workspaces' records.
//!
//! What a workspace refers to is checked in its transaction under a lock
//! (PostgreSQL: `FOR KEY SHARE` on the project's and the owner's
//! membership rows, which the `FOR UPDATE` of a project deletion or a
//! member removal waits for, or makes this wait; SQLite's write
//! transaction excludes every other writer), so a workspace is never
//! stored for a project just deleted or a member just removed.

use async_trait::async_trait;
use latchkey_core::id::{OrgId, ProjectId, UserId, WorkspaceId};
use latchkey_core::time_fmt::Millis;

use super::rows::workspace;
use super::{Dialect, SqlStore, Tx, commit, page_limit, query};
use crate::{
    AuditEvent, Conflict, NewWorkspace, Page, StoreResult, Unique, Workspace, WorkspaceFilter, WorkspaceKind,
    WorkspacePatch, WorkspaceStore, storage_prefix,
};

/// Checks that `project_id` is a project of `org_id`, and keeps it from
/// being deleted until the transaction ends.
async fn hold_project<D: Dialect>(tx: &mut Tx<D>, org_id: &OrgId, project_id: &ProjectId) -> StoreResult<()> {
    let found = query::<D>(for_key_share!(D, "SELECT id FROM projects WHERE org_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(project_id)
        .fetch_optional(&mut **tx)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(Conflict::NoSuchProject.into()),
    }
}

/// Checks that `user_id` is a member of `org_id`, and keeps them from being
/// removed until the transaction ends.
async fn hold_member<D: Dialect>(tx: &mut Tx<D>, org_id: &OrgId, user_id: &UserId) -> StoreResult<()> {
    let found = query::<D>(for_key_share!(D, "SELECT user_id FROM memberships WHERE org_id = $1 AND user_id = $2"))
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(Conflict::NotAMember.into()),
    }
}

#[async_trait]
impl<D: Dialect> WorkspaceStore for SqlStore<D> {
    async fn create_workspace(&self, n: &NewWorkspace, event: &AuditEvent) -> StoreResult<Workspace> {
        let mut tx = D::begin_write(&self.pool).await?;
        if let Some(project_id) = &n.project_id {
            hold_project::<D>(&mut tx, &n.org_id, project_id).await?;
        }
        let kind = match &n.owner_user_id {
            Some(owner) => {
                hold_member::<D>(&mut tx, &n.org_id, owner).await?;
                WorkspaceKind::Personal
            }
            None => WorkspaceKind::Org,
        };
        let row = query::<D>(concat!(
            "INSERT INTO workspaces (id, org_id, kind, owner_user_id, project_id, name, storage_prefix, quota_bytes, \
             created_by_user_id, created_by_key_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING ",
            workspace_columns!()
        ))
        .bind(&n.id)
        .bind(&n.org_id)
        .bind(kind.as_str())
        .bind(&n.owner_user_id)
        .bind(&n.project_id)
        .bind(&n.name)
        .bind(storage_prefix(&n.org_id, &n.id))
        .bind(n.quota_bytes)
        .bind(&n.created_by_user_id)
        .bind(&n.created_by_key_id)
        .bind(n.at)
        .on_unique(Unique::WorkspaceName)
        .fetch_one(&mut *tx)
        .await?;
        let stored = workspace(&row)?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(stored)
    }

    async fn get_workspace(&self, org_id: &OrgId, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        let row =
            query::<D>(concat!("SELECT ", workspace_columns!(), " FROM workspaces WHERE org_id = $1 AND id = $2"))
                .bind(org_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(workspace).transpose()
    }

    async fn list_workspaces(
        &self,
        org_id: &OrgId,
        filter: &WorkspaceFilter,
        page: &Page,
    ) -> StoreResult<Vec<Workspace>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE org_id = $1 AND (owner_user_id IS NULL OR $2 OR owner_user_id = $3) \
             AND ($4 IS NULL OR project_id = $4) AND ($5 IS NULL OR kind = $5) AND ($6 IS NULL OR id < $6) \
             ORDER BY id DESC LIMIT $7"
        ))
        .bind(org_id)
        .bind(filter.all_org)
        .bind(&filter.viewer)
        .bind(&filter.project_id)
        .bind(filter.kind.map(WorkspaceKind::as_str))
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(workspace).collect()
    }

    async fn update_workspace(
        &self,
        org_id: &OrgId,
        id: &WorkspaceId,
        patch: &WorkspacePatch,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Workspace>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let exists = query::<D>(for_update!(D, "SELECT id FROM workspaces WHERE org_id = $1 AND id = $2"))
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        if let Some(Some(project_id)) = &patch.project_id {
            hold_project::<D>(&mut tx, org_id, project_id).await?;
        }
        let (set_quota, quota) = match patch.quota_bytes {
            Some(q) => (true, q),
            None => (false, None),
        };
        let (set_project, project) = match &patch.project_id {
            Some(p) => (true, p.as_ref()),
            None => (false, None),
        };
        let row = query::<D>(concat!(
            "UPDATE workspaces SET name = COALESCE($3, name), \
             quota_bytes = CASE WHEN $4 THEN $5 ELSE quota_bytes END, \
             project_id = CASE WHEN $6 THEN $7 ELSE project_id END, updated_at = $8 \
             WHERE org_id = $1 AND id = $2 RETURNING ",
            workspace_columns!()
        ))
        .bind(org_id)
        .bind(id)
        .bind(&patch.name)
        .bind(set_quota)
        .bind(quota)
        .bind(set_project)
        .bind(project)
        .bind(now)
        .on_unique(Unique::WorkspaceName)
        .fetch_one(&mut *tx)
        .await?;
        let stored = workspace(&row)?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(Some(stored))
    }

    async fn delete_workspace(
        &self,
        org_id: &OrgId,
        id: &WorkspaceId,
        event: &AuditEvent,
    ) -> StoreResult<Option<Workspace>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let row = query::<D>(concat!(
            "DELETE FROM workspaces WHERE org_id = $1 AND id = $2 RETURNING ",
            workspace_columns!()
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let deleted = workspace(&row)?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(Some(deleted))
    }
}
