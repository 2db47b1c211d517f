//! `/v1/projects`: a grouping layer inside the organization.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::{CreateProject, Data, ErrorEnvelope, Paged, ProjectView, UpdateProject};
use latchkey_core::id::{IdKind, ProjectId, is_valid};
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_store::{Project, ProjectPatch};

use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, ORG_READ, ORG_WRITE};
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query, check_name, paginate};
use crate::lookup;
use crate::state::AppState;

fn view(p: Project) -> ProjectView {
    ProjectView {
        id: p.id.into(),
        name: p.name,
        description: p.description,
        created_at: to_rfc3339(p.created_at),
        updated_at: to_rfc3339(p.updated_at),
    }
}

fn check_description(d: Option<String>) -> Result<Option<String>, ApiError> {
    match d {
        Some(d) if d.chars().count() > 1000 => {
            Err(ApiError::bad_request("description must be at most 1000 characters"))
        }
        other => Ok(other),
    }
}

/// Who may call [`create`].
pub(crate) const CREATE: AuthCheck = AuthCheck::any().scope(ORG_WRITE);

/// `POST /v1/projects`
#[utoipa::path(
    post,
    path = "/v1/projects",
    operation_id = "createProject",
    tag = "projects",
    request_body = CreateProject,
    responses((status = 201, description = "The project", body = Data<ProjectView>)),
    extensions(("x-latchkey-auth" = json!(CREATE)))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<CreateProject>,
) -> Result<(StatusCode, Json<Data<ProjectView>>), ApiError> {
    CREATE.check(&caller)?;
    let now = now_ms();
    let project = Project {
        id: ProjectId::new(),
        org_id: caller.org_id.clone(),
        name: check_name(&req.name)?,
        description: check_description(req.description)?,
        created_at: now,
        updated_at: now,
    };
    let event =
        audit.event_by(&caller, "project.create", Some(("project", &project.id)), &json!({"name": project.name}));
    state.store.insert_project(&project, &event).await?;
    Ok((StatusCode::CREATED, Json(Data { data: view(project) })))
}

/// Who may call [`list`].
const LIST: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/projects`
#[utoipa::path(
    get,
    path = "/v1/projects",
    operation_id = "listProjects",
    tag = "projects",
    params(PageQuery),
    responses((status = 200, description = "A page of projects, newest first", body = Paged<ProjectView>)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<ProjectView>>, ApiError> {
    LIST.check(&caller)?;
    let page = q.page()?;
    let rows = state.store.list_projects(&caller.org_id, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |p| &p.id);
    Ok(Json(Paged { data: rows.into_iter().map(view).collect(), next_cursor }))
}

/// Who may call [`get`].
const GET: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/projects/{id}`
#[utoipa::path(
    get,
    path = "/v1/projects/{id}",
    operation_id = "getProject",
    tag = "projects",
    params(("id" = String, Path, description = "The project (`prj_…`)")),
    responses((status = 200, description = "The project", body = Data<ProjectView>), (status = 404, description = "`not_found`: no such project in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GET)))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ProjectId>,
) -> Result<Json<Data<ProjectView>>, ApiError> {
    GET.check(&caller)?;
    let project = lookup::project(&state, &caller, &id).await?;
    Ok(Json(Data { data: view(project) }))
}

/// Who may call [`update`].
pub(crate) const UPDATE: AuthCheck = AuthCheck::any().scope(ORG_WRITE);

/// `PATCH /v1/projects/{id}`
#[utoipa::path(
    patch,
    path = "/v1/projects/{id}",
    operation_id = "updateProject",
    tag = "projects",
    params(("id" = String, Path, description = "The project (`prj_…`)")),
    request_body = UpdateProject,
    responses((status = 200, description = "The project", body = Data<ProjectView>), (status = 404, description = "`not_found`: no such project in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(UPDATE)))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<ProjectId>,
    JsonBody(req): JsonBody<UpdateProject>,
) -> Result<Json<Data<ProjectView>>, ApiError> {
    UPDATE.check(&caller)?;
    if !is_valid(IdKind::Project, &id) {
        return Err(ApiError::not_found("project"));
    }
    let patch = ProjectPatch {
        name: req.name.as_deref().map(check_name).transpose()?,
        description: req.description.map(check_description).transpose()?,
    };
    let event = audit.event_by(&caller, "project.update", Some(("project", &id)), &json!({"name": patch.name}));
    let project = state
        .store
        .update_project(&caller.org_id, &id, &patch, now_ms(), &event)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    Ok(Json(Data { data: view(project) }))
}

/// Who may call [`delete`].
pub(crate) const DELETE: AuthCheck = AuthCheck::any().scope(ORG_WRITE);

/// `DELETE /v1/projects/{id}`: refused (409) while active keys belong to it.
#[utoipa::path(
    delete,
    path = "/v1/projects/{id}",
    operation_id = "deleteProject",
    tag = "projects",
    params(("id" = String, Path, description = "The project (`prj_…`)")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "`not_found`: no such project in the caller's organization", body = ErrorEnvelope), (status = 409, description = "`conflict`: active keys belong to the project", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(DELETE)))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<ProjectId>,
) -> Result<StatusCode, ApiError> {
    DELETE.check(&caller)?;
    let event = audit.event_by(&caller, "project.delete", Some(("project", &id)), &json!({}));
    if is_valid(IdKind::Project, &id) && state.store.delete_project(&caller.org_id, &id, now_ms(), &event).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("project"))
    }
}
