//! Workspaces' files, in the object store (`[workspaces.storage]`):
//! `POST /v1/workspaces/{id}/presign` signs a URL for one object under the
//! workspace's prefix; `GET /v1/workspaces/{id}/files` lists them.
//! latchkey never sees the bytes. Without a store both answer 501
//! `storage_not_configured`.
//!
//! Each presigned URL is audited (`workspace.presign`, the path and the
//! method; never the URL, whose signature is a credential until it
//! expires). Listing is not.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use latchkey_api_types::ErrorEnvelope;
use latchkey_api_types::workspaces::{FileList, FileView, PresignMethod, PresignRequest, PresignedUrl};
use latchkey_core::id::WorkspaceId;
use latchkey_core::time_fmt::to_rfc3339;
use serde::Deserialize;
use serde_json::json;

use super::{find, object_store, prefix, storage_error};
use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, FILES_READ, FILES_WRITE};
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::state::AppState;
use crate::views::no_store;
use crate::workspaces::{MAX_LIST, ObjectMethod};

/// A presigned URL's lifetime when the request names none.
pub const DEFAULT_EXPIRY_SECS: u64 = 900;
/// The most objects one page of a listing holds, unless `limit` says fewer.
const DEFAULT_LIST: usize = 100;

/// Who may call [`presign`]: `files:read` (a `GET`); `PUT` and `DELETE`
/// need `files:write` instead ([`WRITE_OBJECT`]).
pub(crate) const PRESIGN: AuthCheck = AuthCheck::any().scope(FILES_READ);
/// A presigned `PUT` or `DELETE`.
const WRITE_OBJECT: AuthCheck = AuthCheck::any().scope(FILES_WRITE);

/// `POST /v1/workspaces/{id}/presign`: a URL that lets its holder `GET`,
/// `PUT` or `DELETE` one object of the workspace for `expiresIn` seconds.
#[utoipa::path(
    post,
    path = "/v1/workspaces/{id}/presign",
    operation_id = "presignWorkspaceObject",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace (`wsp_…`)")),
    request_body = PresignRequest,
    responses((status = 200, description = "The URL (`Cache-Control: no-store`; audited without it)", body = latchkey_api_types::Data<PresignedUrl>), (status = 400, description = "`invalid_path`: empty, absolute, with an empty, `.` or `..` segment, a control character or a backslash, or too long; `invalid_request`: `expiresIn` outside 1–3600", body = ErrorEnvelope), (status = 403, description = "`insufficient_scope`: `GET` without `files:read`, `PUT`/`DELETE` without `files:write`; `project_mismatch`", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such workspace the caller may see", body = ErrorEnvelope), (status = 501, description = "`storage_not_configured`: this server has no object store", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(PRESIGN)))
)]
pub async fn presign(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<WorkspaceId>,
    JsonBody(req): JsonBody<PresignRequest>,
) -> Result<Response, ApiError> {
    let w = find(&state, &caller, &id).await?;
    let method = match req.method {
        PresignMethod::Get => {
            PRESIGN.check(&caller)?;
            ObjectMethod::Get
        }
        PresignMethod::Put => {
            WRITE_OBJECT.check(&caller)?;
            ObjectMethod::Put
        }
        PresignMethod::Delete => {
            WRITE_OBJECT.check(&caller)?;
            ObjectMethod::Delete
        }
    };
    let store = object_store(&state)?;
    let secs = req.expires_in.unwrap_or(DEFAULT_EXPIRY_SECS);
    if !(1..=3600).contains(&secs) {
        return Err(ApiError::bad_request("expiresIn must be between 1 and 3600 seconds"));
    }
    let signed =
        store.presign(&prefix(&w)?, &req.path, method, Duration::from_secs(secs)).map_err(|e| storage_error(&e))?;
    let details = json!({"path": req.path, "method": req.method, "expiresIn": secs});
    audit.by(&state, &caller, "workspace.presign", Some(("workspace", &w.id)), details).await;
    Ok(no_store(PresignedUrl {
        url: signed.url,
        method: req.method,
        path: req.path,
        expires_at: to_rfc3339(signed.expires_at),
    }))
}

/// `GET /v1/workspaces/{id}/files?prefix=&cursor=&limit=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    /// Only paths starting with this (`docs/` lists a folder).
    pub prefix: Option<String>,
    /// The `nextCursor` of the previous page (the last path it listed).
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Who may call [`list`].
pub(crate) const LIST: AuthCheck = AuthCheck::any().scope(FILES_READ);

/// `GET /v1/workspaces/{id}/files`: the workspace's objects, by path.
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}/files",
    operation_id = "listWorkspaceFiles",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace (`wsp_…`)"), FilesQuery),
    responses((status = 200, description = "A page of objects, by path, relative to the workspace", body = FileList), (status = 400, description = "`invalid_path`: a bad `prefix` or `cursor`; `invalid_request`: `limit` outside 1–1000", body = ErrorEnvelope), (status = 403, description = "`project_mismatch`", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such workspace the caller may see", body = ErrorEnvelope), (status = 501, description = "`storage_not_configured`: this server has no object store", body = ErrorEnvelope), (status = 502, description = "`storage_unavailable`: the object store could not be reached", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WorkspaceId>,
    Query(q): Query<FilesQuery>,
) -> Result<Json<FileList>, ApiError> {
    LIST.check(&caller)?;
    let w = find(&state, &caller, &id).await?;
    let store = object_store(&state)?;
    let limit = q.limit.map_or(DEFAULT_LIST, |l| l as usize);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let under = q.prefix.as_deref().unwrap_or_default();
    let listing = store.list(&prefix(&w)?, under, q.cursor.as_deref(), limit).await.map_err(|e| storage_error(&e))?;
    let next_cursor = if listing.truncated { listing.objects.last().map(|o| o.key.clone()) } else { None };
    let data = listing
        .objects
        .into_iter()
        .map(|o| FileView { path: o.key, size: o.size, last_modified: o.last_modified.map(to_rfc3339) })
        .collect();
    Ok(Json(FileList { data, next_cursor }))
}
