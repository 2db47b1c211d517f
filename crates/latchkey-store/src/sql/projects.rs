//! Projects.

use async_trait::async_trait;
use latchkey_core::id::{OrgId, ProjectId};
use latchkey_core::time_fmt::Millis;

use super::rows::project;
use super::{Dialect, ReadRow, SqlStore, commit, page_limit, query};
use crate::{AuditEvent, Conflict, Page, Project, ProjectPatch, ProjectStore, StoreResult};

#[async_trait]
impl<D: Dialect> ProjectStore for SqlStore<D> {
    async fn insert_project(&self, p: &Project, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        query::<D>("INSERT INTO projects (id, org_id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&p.id)
            .bind(&p.org_id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(p.created_at)
            .bind(p.updated_at)
            .execute(&mut *tx)
            .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn get_project(&self, org_id: &OrgId, id: &ProjectId) -> StoreResult<Option<Project>> {
        let row = query::<D>(concat!("SELECT ", project_columns!(), " FROM projects WHERE org_id = $1 AND id = $2"))
            .bind(org_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(project).transpose()
    }

    async fn list_projects(&self, org_id: &OrgId, page: &Page) -> StoreResult<Vec<Project>> {
        let rows = query::<D>(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects WHERE org_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        ))
        .bind(org_id)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(project).collect()
    }

    async fn update_project(
        &self,
        org_id: &OrgId,
        id: &ProjectId,
        patch: &ProjectPatch,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Option<Project>> {
        let (set_desc, desc) = match &patch.description {
            Some(d) => (true, d.as_deref()),
            None => (false, None),
        };
        let mut tx = D::begin_write(&self.pool).await?;
        let row = query::<D>(concat!(
            "UPDATE projects SET name = COALESCE($3, name), \
             description = CASE WHEN $4 THEN $5 ELSE description END, updated_at = $6 \
             WHERE org_id = $1 AND id = $2 RETURNING ",
            project_columns!()
        ))
        .bind(org_id)
        .bind(id)
        .bind(&patch.name)
        .bind(set_desc)
        .bind(desc)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        project(&row).map(Some)
    }

    async fn delete_project(
        &self,
        org_id: &OrgId,
        id: &ProjectId,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = D::begin_write(&self.pool).await?;
        // Locking the project (PostgreSQL; SQLite's write transaction
        // excludes every other writer) makes a key being added to it
        // meanwhile (its foreign-key check share-locks the project) either
        // finish first and be counted, or wait and then fail.
        let exists = query::<D>(for_update!(D, "SELECT id FROM projects WHERE org_id = $1 AND id = $2"))
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(false);
        }
        let active = query::<D>(
            "SELECT COUNT(*) AS active FROM api_keys WHERE project_id = $1 AND (revoked_at IS NULL OR revoked_at > $2)",
        )
        .bind(id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .i64("active")?;
        if active > 0 {
            return Err(Conflict::InUse { active_keys: u64::try_from(active).unwrap_or(0) }.into());
        }
        // Workspaces, likewise (a workspace being created in it checks the
        // project under a lock this one waits for, or that waits for it).
        let workspaces = query::<D>("SELECT COUNT(*) AS n FROM workspaces WHERE org_id = $1 AND project_id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .i64("n")?;
        if workspaces > 0 {
            return Err(Conflict::ProjectHasWorkspaces { workspaces: u64::try_from(workspaces).unwrap_or(0) }.into());
        }
        query::<D>("DELETE FROM projects WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(true)
    }
}
