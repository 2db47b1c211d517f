//! Mount decisions: `POST /v1/workspaces/{id}/mounts` answers whether a
//! sandbox may mount a workspace at a path, with a signed grant
//! ([`crate::workspaces::grant`]); `GET /v1/workspaces/grant-keys`
//! publishes the keys that verify grants.
//!
//! Every decision about a workspace of the caller's organization, allowed
//! or refused, is audited (`workspace.mount`, with the sandbox, path, mode,
//! whether it was allowed and the refusal's code). So that the refusals
//! for a missing scope are audited too, the scope the mode needs is
//! checked here rather than before the handler; the operation declares
//! `files:read`, which every mount needs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use latchkey_api_types::ErrorEnvelope;
use latchkey_api_types::workspaces::{GrantKeys, MountDecision, MountMode, MountRequest};
use latchkey_core::id::WorkspaceId;
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_store::{Workspace, WorkspaceKind};
use serde_json::json;

use super::{check_project, stored, visible};
use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, FILES_READ, FILES_WRITE};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::keyring::Keyring;
use crate::state::AppState;
use crate::views::no_store;
use crate::workspaces::grant::{AUDIENCE, GRANT_TTL_SECS, GrantSigner, MountClaims};

/// The longest mount path, in bytes.
pub const MAX_MOUNT_PATH: usize = 1024;
/// The longest sandbox id, in characters.
pub const MAX_SANDBOX_ID: usize = 128;
/// Where nothing is mounted: the kernel's and the system's own trees.
const RESERVED_ROOTS: [&str; 4] = ["proc", "sys", "dev", "etc"];

/// Who may call [`mount`]: `files:read`, what every mount needs (`rw`
/// needs `files:write` as well, checked in the handler, [`MOUNT_RW`]).
pub(crate) const MOUNT: AuthCheck = AuthCheck::any().scope(FILES_READ);
/// A read-write mount.
const MOUNT_RW: AuthCheck = AuthCheck::any().scope(FILES_WRITE);

/// 400 `invalid_mount_path` unless `path` is an absolute path a workspace
/// may be mounted at: not `/`, at most [`MAX_MOUNT_PATH`] bytes, no
/// control character or backslash, no empty, `.` or `..` segment, and not
/// at or under `/proc`, `/sys`, `/dev` or `/etc`.
pub fn check_mount_path(path: &str) -> Result<(), ApiError> {
    let refuse = |why: &str| Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_mount_path", format!("path: {why}")));
    if path.len() > MAX_MOUNT_PATH {
        return refuse("at most 1024 bytes");
    }
    let Some(rest) = path.strip_prefix('/') else {
        return refuse("must be an absolute path (`/workspace`)");
    };
    if rest.is_empty() {
        return refuse("a workspace is not mounted over `/`");
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return refuse("no control characters or backslashes");
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return refuse("no empty segments (`//`, or a trailing `/`)");
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return refuse("no `.` or `..` segments");
    }
    if RESERVED_ROOTS.contains(&segments[0]) {
        return refuse("not at or under /proc, /sys, /dev or /etc");
    }
    Ok(())
}

/// 400 `invalid_sandbox_id` unless `id` is 1–[`MAX_SANDBOX_ID`] printable
/// ASCII characters (no spaces).
pub fn check_sandbox_id(id: &str) -> Result<(), ApiError> {
    if (1..=MAX_SANDBOX_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_sandbox_id",
            "sandboxId: 1–128 printable ASCII characters, no spaces",
        ))
    }
}

/// The master keys, or 503 (no grant can be signed without them).
fn keyring(state: &AppState) -> Result<&Keyring, ApiError> {
    state.keyring.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "mount grants are unavailable: this server has no master key",
        )
    })
}

/// `POST /v1/workspaces/{id}/mounts`: may sandbox `sandboxId` mount the
/// workspace at `path` in `mode`? Allowed: a grant valid for 5 minutes.
/// Every decision is audited.
#[utoipa::path(
    post,
    path = "/v1/workspaces/{id}/mounts",
    operation_id = "decideWorkspaceMount",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace (`wsp_…`)")),
    request_body = MountRequest,
    responses((status = 200, description = "Allowed, with a signed grant (`Cache-Control: no-store`; audited)", body = latchkey_api_types::Data<MountDecision>), (status = 400, description = "`invalid_mount_path`: not absolute, `/`, with `.`/`..` or empty segments, control characters, over 1024 bytes, or at or under /proc, /sys, /dev, /etc; `invalid_sandbox_id`", body = ErrorEnvelope), (status = 403, description = "`personal_workspace_not_mountable`; `insufficient_scope`: `ro` without `files:read`, `rw` without `files:write`; `project_mismatch`: a project-bound key, another project's workspace (all audited)", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such workspace the caller may see", body = ErrorEnvelope), (status = 503, description = "`unavailable`: this server has no master key to sign grants with", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(MOUNT)))
)]
pub async fn mount(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<WorkspaceId>,
    JsonBody(req): JsonBody<MountRequest>,
) -> Result<Response, ApiError> {
    let w = stored(&state, &caller, &id).await?;
    let decided = decide(&state, &caller, &w, &req);
    let reason = decided.as_ref().map_or_else(ApiError::code, |_| "allowed");
    let details = json!({"sandboxId": latchkey_core::text::clip(&req.sandbox_id, MAX_SANDBOX_ID), "path": latchkey_core::text::clip(&req.path, MAX_MOUNT_PATH),
                         "mode": req.mode, "allowed": decided.is_ok(), "reason": reason});
    audit.by(&state, &caller, "workspace.mount", Some(("workspace", &w.id)), details).await;
    Ok(no_store(decided?))
}

/// The decision of [`mount`] about `w`, a workspace of the caller's
/// organization.
fn decide(state: &AppState, caller: &Caller, w: &Workspace, req: &MountRequest) -> Result<MountDecision, ApiError> {
    if !visible(caller, w) {
        return Err(ApiError::not_found("workspace"));
    }
    check_project(caller, w.project_id.as_ref())?;
    if w.kind == WorkspaceKind::Personal {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "personal_workspace_not_mountable",
            "personal workspaces are never mounted into sandboxes",
        ));
    }
    match req.mode {
        MountMode::Ro => MOUNT.check(caller)?,
        MountMode::Rw => MOUNT_RW.check(caller)?,
    }
    check_sandbox_id(&req.sandbox_id)?;
    check_mount_path(&req.path)?;
    let signer = GrantSigner::derive(&keyring(state)?.current()).map_err(|e| ApiError::internal(&e))?;
    let iat = now_ms() / 1000;
    let claims = MountClaims {
        iss: state.settings.public_url.clone().unwrap_or_else(|| "latchkey".to_owned()),
        aud: AUDIENCE.to_owned(),
        sub: w.id.to_string(),
        org: w.org_id.to_string(),
        sandbox_id: req.sandbox_id.clone(),
        path: req.path.clone(),
        mode: req.mode,
        prefix: w.storage_prefix.clone(),
        iat,
        exp: iat + GRANT_TTL_SECS,
        jti: ulid::Ulid::new().to_string(),
    };
    Ok(MountDecision {
        allowed: true,
        grant: signer.sign(&claims),
        expires_at: to_rfc3339(claims.exp * 1000),
        workspace_id: claims.sub,
        sandbox_id: claims.sandbox_id,
        path: claims.path,
        mode: claims.mode,
    })
}

/// Who may call [`grant_keys`]: anyone (public keys).
pub(crate) const GRANT_KEYS: AuthCheck = AuthCheck::public();

/// `GET /v1/workspaces/grant-keys`: the JWK Set that verifies mount
/// grants, current key first (public; cacheable for 5 minutes).
#[utoipa::path(
    get,
    path = "/v1/workspaces/grant-keys",
    operation_id = "getWorkspaceGrantKeys",
    tag = "workspaces",
    responses((status = 200, description = "A JWK Set of Ed25519 public keys (`Cache-Control: public, max-age=300`)", body = GrantKeys), (status = 503, description = "`unavailable`: this server has no master key", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GRANT_KEYS)))
)]
pub async fn grant_keys(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ring = keyring(&state)?;
    // A key file re-read: a rotation another node made is published here too.
    ring.current_fresh().map_err(|e| ApiError::internal(&e))?;
    let keys = ring
        .all()
        .iter()
        .map(|k| GrantSigner::derive(k).map(|s| s.jwk()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal(&e))?;
    let mut res = Json(GrantKeys { keys }).into_response();
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_absolute_and_stay_out_of_the_system_trees() {
        for ok in ["/workspace", "/home/agent/data", "/mnt/w-1/x.y", "/procs", "/etcetera/x", "/data/..x/...", "/日本"]
        {
            assert!(check_mount_path(ok).is_ok(), "{ok}");
        }
        let long = format!("/{}", "a".repeat(MAX_MOUNT_PATH));
        for bad in [
            "",
            "/",
            "workspace",
            "./workspace",
            "/workspace/",
            "//workspace",
            "/a//b",
            "/a/../etc",
            "/..",
            "/.",
            "/a/./b",
            "/proc",
            "/proc/1",
            "/sys/fs",
            "/dev",
            "/dev/shm",
            "/etc",
            "/etc/passwd",
            "/a\0b",
            "/a\nb",
            "/a\\b",
            "/a\u{7f}",
            long.as_str(),
        ] {
            let err = check_mount_path(bad).unwrap_err();
            assert_eq!((err.status(), err.code()), (StatusCode::BAD_REQUEST, "invalid_mount_path"), "{bad:?}");
        }
    }

    #[test]
    fn sandbox_ids_are_short_printable_ascii() {
        for ok in ["sbx_1", "a", "dbx_01J:x/y", &"x".repeat(MAX_SANDBOX_ID)] {
            assert!(check_sandbox_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", " ", "a b", "a\nb", "ü", &"x".repeat(MAX_SANDBOX_ID + 1)] {
            assert_eq!(check_sandbox_id(bad).unwrap_err().code(), "invalid_sandbox_id", "{bad:?}");
        }
    }

    #[test]
    fn audited_values_are_clipped_by_characters() {
        assert_eq!(latchkey_core::text::clip("abc", 2), "ab");
        assert_eq!(latchkey_core::text::clip("日本語", 2), "日本");
        assert_eq!(latchkey_core::text::clip("ab", 5), "ab");
    }
}
