//! Workspaces' records: `POST/GET /v1/workspaces`,
//! `GET/PATCH/DELETE /v1/workspaces/{id}` (rules in the module above).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::workspaces::{CreateWorkspace, UpdateWorkspace, WorkspaceKind as KindView, WorkspaceView};
use latchkey_api_types::{Data, ErrorEnvelope, Paged};
use latchkey_core::id::{ProjectId, WorkspaceId};
use latchkey_core::time_fmt::now_ms;
use latchkey_store::{NewWorkspace, WorkspaceFilter, WorkspaceKind, WorkspacePatch};
use serde::Deserialize;
use serde_json::json;

use super::{
    ORG_WORKSPACES, bound_project, check_change, check_project, find, object_store, prefix, storage_error, view,
};
use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, FILES_READ, FILES_WRITE};
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query, check_name, paginate};
use crate::lookup;
use crate::state::AppState;

/// A quota, when given, is a positive number of bytes.
fn check_quota(quota: Option<i64>) -> Result<Option<i64>, ApiError> {
    match quota {
        Some(q) if q <= 0 => Err(ApiError::bad_request("quotaBytes must be a positive number of bytes")),
        other => Ok(other),
    }
}

/// The project a request names, one of the caller's organization (404
/// otherwise), and the one a project-bound key is bound to (403
/// `project_mismatch` otherwise).
async fn project_of(state: &AppState, caller: &Caller, id: &str) -> Result<ProjectId, ApiError> {
    let project = lookup::project(state, caller, &ProjectId::from(id)).await?;
    check_project(caller, Some(&project.id))?;
    Ok(project.id)
}

/// Who may call [`create`].
pub(crate) const CREATE: AuthCheck = AuthCheck::any().scope(FILES_WRITE);

/// `POST /v1/workspaces`: an organization workspace (admins) or a personal
/// one of the caller's.
#[utoipa::path(
    post,
    path = "/v1/workspaces",
    operation_id = "createWorkspace",
    tag = "workspaces",
    request_body = CreateWorkspace,
    responses((status = 201, description = "The workspace", body = Data<WorkspaceView>), (status = 400, description = "`invalid_request`: a bad name or quota", body = ErrorEnvelope), (status = 403, description = "`forbidden`: an organization workspace by a member, or a personal one by an organization-owned key; `project_mismatch`: a project-bound key naming another project", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such project in the caller's organization", body = ErrorEnvelope), (status = 409, description = "`conflict`: the name is taken", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CREATE)))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<CreateWorkspace>,
) -> Result<(StatusCode, Json<Data<WorkspaceView>>), ApiError> {
    CREATE.check(&caller)?;
    let owner = match req.kind {
        KindView::Org => {
            ORG_WORKSPACES.check(&caller)?;
            None
        }
        KindView::Personal => Some(caller.acting_user()?.clone()),
    };
    let name = check_name(&req.name)?;
    let quota_bytes = check_quota(req.quota_bytes)?;
    let project_id = match req.project_id.as_deref() {
        Some(id) => Some(project_of(&state, &caller, id).await?),
        None => bound_project(&caller).cloned(),
    };
    let new = NewWorkspace {
        id: WorkspaceId::new(),
        org_id: caller.org_id.clone(),
        owner_user_id: owner,
        project_id,
        name,
        quota_bytes,
        created_by_user_id: caller.user_id.clone(),
        created_by_key_id: caller.key().map(latchkey_verify::CachedKey::key_id),
        at: now_ms(),
    };
    let details = json!({"name": new.name, "kind": req.kind, "projectId": new.project_id,
                         "quotaBytes": new.quota_bytes});
    let event = audit.event_by(&caller, "workspace.create", Some(("workspace", &new.id)), &details);
    let stored = state.store.create_workspace(&new, &event).await?;
    Ok((StatusCode::CREATED, Json(Data { data: view(stored) })))
}

/// `GET /v1/workspaces?kind=&projectId=&allOrg=&limit=&cursor=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this kind.
    pub kind: Option<KindView>,
    /// Only this project's.
    pub project_id: Option<String>,
    /// Every member's personal workspaces too (admins).
    #[serde(default)]
    pub all_org: bool,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Who may call [`list`].
pub(crate) const LIST: AuthCheck = AuthCheck::any().scope(FILES_READ);
/// `allOrg=true`.
pub(crate) const ALL_ORG: AuthCheck =
    AuthCheck::any().admin_because("allOrg lists every member's personal workspaces: it needs the admin role");

/// `GET /v1/workspaces`: the organization's workspaces and the caller's
/// personal ones (`allOrg=true`, admins: every member's), newest first.
#[utoipa::path(
    get,
    path = "/v1/workspaces",
    operation_id = "listWorkspaces",
    tag = "workspaces",
    params(ListQuery),
    responses((status = 200, description = "A page of workspaces, newest first", body = Paged<WorkspaceView>), (status = 403, description = "`forbidden`: `allOrg` by a member; `project_mismatch`: a project-bound key naming another project", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Paged<WorkspaceView>>, ApiError> {
    LIST.check(&caller)?;
    if q.all_org {
        ALL_ORG.check(&caller)?;
    }
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let project_id = match q.project_id.map(ProjectId::from) {
        Some(asked) => {
            check_project(&caller, Some(&asked))?;
            Some(asked)
        }
        None => bound_project(&caller).cloned(),
    };
    let kind = q.kind.map(|k| match k {
        KindView::Org => WorkspaceKind::Org,
        KindView::Personal => WorkspaceKind::Personal,
    });
    let filter = WorkspaceFilter { viewer: caller.user_id.clone(), all_org: q.all_org, project_id, kind };
    let rows = state.store.list_workspaces(&caller.org_id, &filter, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |w| &w.id);
    Ok(Json(Paged { data: rows.into_iter().map(view).collect(), next_cursor }))
}

/// Who may call [`get`].
pub(crate) const GET: AuthCheck = AuthCheck::any().scope(FILES_READ);

/// `GET /v1/workspaces/{id}`
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}",
    operation_id = "getWorkspace",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace (`wsp_…`)")),
    responses((status = 200, description = "The workspace", body = Data<WorkspaceView>), (status = 403, description = "`project_mismatch`: a project-bound key, another project's workspace", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such workspace the caller may see (another organization's, another member's personal one)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GET)))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WorkspaceId>,
) -> Result<Json<Data<WorkspaceView>>, ApiError> {
    GET.check(&caller)?;
    let w = find(&state, &caller, &id).await?;
    Ok(Json(Data { data: view(w) }))
}

/// Who may call [`update`].
pub(crate) const UPDATE: AuthCheck = AuthCheck::any().scope(FILES_WRITE);

/// `PATCH /v1/workspaces/{id}`: name, project, quota.
#[utoipa::path(
    patch,
    path = "/v1/workspaces/{id}",
    operation_id = "updateWorkspace",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace (`wsp_…`)")),
    request_body = UpdateWorkspace,
    responses((status = 200, description = "The workspace", body = Data<WorkspaceView>), (status = 400, description = "`invalid_request`: a bad name or quota", body = ErrorEnvelope), (status = 403, description = "`forbidden`: an organization workspace by a member; `project_mismatch`: a project-bound key, another project", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such workspace the caller may see, or no such project", body = ErrorEnvelope), (status = 409, description = "`conflict`: the name is taken", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(UPDATE)))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<WorkspaceId>,
    JsonBody(req): JsonBody<UpdateWorkspace>,
) -> Result<Json<Data<WorkspaceView>>, ApiError> {
    UPDATE.check(&caller)?;
    let w = find(&state, &caller, &id).await?;
    check_change(&caller, &w)?;
    let project_id = match req.project_id {
        Some(Some(p)) => Some(Some(project_of(&state, &caller, &p).await?)),
        Some(None) => {
            check_project(&caller, None)?;
            Some(None)
        }
        None => None,
    };
    let patch = WorkspacePatch {
        name: req.name.as_deref().map(check_name).transpose()?,
        quota_bytes: req.quota_bytes.map(check_quota).transpose()?,
        project_id,
    };
    let details = json!({"name": patch.name, "projectId": patch.project_id, "quotaBytes": patch.quota_bytes});
    let event = audit.event_by(&caller, "workspace.update", Some(("workspace", &w.id)), &details);
    let updated = state
        .store
        .update_workspace(&caller.org_id, &w.id, &patch, now_ms(), &event)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(Json(Data { data: view(updated) }))
}

/// Who may call [`delete`].
pub(crate) const DELETE: AuthCheck = AuthCheck::any().scope(FILES_WRITE);

/// `DELETE /v1/workspaces/{id}`: the record; refused while the object
/// store holds objects under its prefix, so that none is orphaned.
#[utoipa::path(
    delete,
    path = "/v1/workspaces/{id}",
    operation_id = "deleteWorkspace",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace (`wsp_…`)")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "`forbidden`: an organization workspace by a member; `project_mismatch`: a project-bound key, another project's workspace", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such workspace the caller may see", body = ErrorEnvelope), (status = 409, description = "`workspace_not_empty`: the object store still holds files of it; delete them first", body = ErrorEnvelope), (status = 502, description = "`storage_unavailable`: the object store could not be asked whether it holds files of it", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(DELETE)))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<WorkspaceId>,
) -> Result<StatusCode, ApiError> {
    DELETE.check(&caller)?;
    let w = find(&state, &caller, &id).await?;
    check_change(&caller, &w)?;
    if let Ok(store) = object_store(&state) {
        let listing = store.list(&prefix(&w)?, "", None, 1).await.map_err(|e| storage_error(&e))?;
        if !listing.objects.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "workspace_not_empty",
                "the workspace still has files; delete them first (nothing is deleted with the record)",
            ));
        }
    }
    let details = json!({"name": w.name, "kind": super::kind_view(w.kind)});
    let event = audit.event_by(&caller, "workspace.delete", Some(("workspace", &w.id)), &details);
    match state.store.delete_workspace(&caller.org_id, &w.id, &event).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found("workspace")),
    }
}
