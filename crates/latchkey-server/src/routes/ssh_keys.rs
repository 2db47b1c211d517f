//! `/v1/ssh-keys`: members' and organization-wide SSH public keys, and the
//! `authorized_keys` file OpenSSH's `AuthorizedKeysCommand` asks for.
//!
//! Keys need `ssh-key:read` to list and fetch `authorized_keys`,
//! `ssh-key:write` to add, delete and choose the default; a session holds
//! both. A member sees and manages their own keys and sees the
//! organization-wide ones; admins add and delete organization-wide keys,
//! may delete any member's key (revoking access), and list every key with
//! `?allOrg=true`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_api_types::secrets::{CreateSshKey, OwnerScope, SshKeyView};
use latchkey_api_types::{Data, ErrorEnvelope, Paged};
use latchkey_core::id::{IdKind, SshKeyId, is_valid};
use latchkey_core::ssh::parse_public_key;
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_store::{Conflict, SshKeyFilter, SshKeyRecord, StoreError, Unique};
use serde::Deserialize;
use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, SSH_KEY_READ, SSH_KEY_WRITE};
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query, check_name, paginate};
use crate::lookup::member_id;
use crate::state::AppState;

/// Organization-wide SSH keys: adding and deleting them.
pub(crate) const ORG_WIDE: AuthCheck = AuthCheck::any().admin_because("organization-wide SSH keys need the admin role");
/// `?allOrg=true`: every member's keys.
pub(crate) const ALL_ORG: AuthCheck =
    AuthCheck::any().admin_because("listing every member's SSH keys needs the admin role");
/// Another member's `authorized_keys`.
const OTHER_MEMBER: AuthCheck =
    AuthCheck::any().admin_because("another member's authorized_keys needs the admin role or a service key");

fn view(k: &SshKeyRecord) -> SshKeyView {
    SshKeyView {
        id: k.id.to_string(),
        name: k.name.clone(),
        scope: if k.owner_user_id.is_some() { OwnerScope::User } else { OwnerScope::Org },
        owner_user_id: k.owner_user_id.clone().map(String::from),
        algorithm: k.algorithm.clone(),
        bits: k.bits,
        fingerprint: k.fingerprint.clone(),
        public_key: k.public_key.clone(),
        comment: k.comment.clone(),
        is_default: k.is_default,
        created_at: to_rfc3339(k.created_at),
    }
}

fn scope_name(k: &SshKeyRecord) -> &'static str {
    if k.owner_user_id.is_some() { "user" } else { "org" }
}

/// Who may call [`create`].
const CREATE: AuthCheck = AuthCheck::any().scope(SSH_KEY_WRITE);

/// `POST /v1/ssh-keys`: registers a public key for the caller, or with
/// `orgWide: true` (admins) for every member. A member's first key becomes
/// their default.
#[utoipa::path(
    post,
    path = "/v1/ssh-keys",
    operation_id = "createSshKey",
    tag = "ssh-keys",
    request_body = CreateSshKey,
    responses((status = 201, description = "The SSH key", body = Data<SshKeyView>), (status = 403, description = "`forbidden`: `orgWide` by a member, or an organization-owned key adding a member's key", body = ErrorEnvelope), (status = 409, description = "`conflict`: this fingerprint is registered already", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CREATE)))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<CreateSshKey>,
) -> Result<(StatusCode, Json<Data<SshKeyView>>), ApiError> {
    CREATE.check(&caller)?;
    let name = check_name(&req.name)?;
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("name must not contain control characters"));
    }
    let parsed = parse_public_key(&req.public_key).map_err(|e| ApiError::bad_request(format!("publicKey: {e}")))?;
    let owner = if req.org_wide.unwrap_or(false) {
        ORG_WIDE.check(&caller)?;
        None
    } else {
        Some(caller.acting_user()?.to_owned())
    };
    let record = SshKeyRecord {
        id: SshKeyId::new(),
        org_id: caller.org_id.clone(),
        owner_user_id: owner,
        name,
        algorithm: parsed.algorithm,
        public_key: parsed.public_key,
        comment: parsed.comment.chars().filter(|c| !c.is_control()).take(255).collect(),
        fingerprint: parsed.fingerprint,
        bits: i64::from(parsed.bits),
        is_default: false,
        created_at: now_ms(),
    };
    let details = json!({"name": record.name, "fingerprint": record.fingerprint, "scope": scope_name(&record)});
    let event = audit.event_by(&caller, "ssh_key.add", Some(("ssh_key", &record.id)), &details);
    let stored = match state.store.insert_ssh_key(&record, &event).await {
        Ok(k) => k,
        Err(StoreError::Conflict(Conflict::Unique { what: Unique::SshKeyFingerprint })) => {
            let scope = if record.owner_user_id.is_some() { "for you" } else { "organization-wide" };
            return Err(ApiError::conflict(format!(
                "the SSH key {} is already registered {scope}",
                record.fingerprint
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok((StatusCode::CREATED, Json(Data { data: view(&stored) })))
}

/// `GET /v1/ssh-keys?orgOnly=&allOrg=&limit=&cursor=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only organization-wide keys.
    #[serde(default)]
    pub org_only: bool,
    /// Every member's keys too (admins).
    #[serde(default)]
    pub all_org: bool,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Who may call [`list`].
const LIST: AuthCheck = AuthCheck::any().scope(SSH_KEY_READ);

/// `GET /v1/ssh-keys`: the caller's keys and the organization-wide ones.
#[utoipa::path(
    get,
    path = "/v1/ssh-keys",
    operation_id = "listSshKeys",
    tag = "ssh-keys",
    params(ListQuery),
    responses((status = 200, description = "The caller's keys and the organization-wide ones", body = Paged<SshKeyView>), (status = 403, description = "`forbidden`: `allOrg` by a member", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Paged<SshKeyView>>, ApiError> {
    LIST.check(&caller)?;
    if q.all_org {
        ALL_ORG.check(&caller)?;
    }
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let filter = SshKeyFilter {
        user_id: if q.org_only { None } else { caller.user_id.clone() },
        org_wide: true,
        all_users: q.all_org && !q.org_only,
    };
    let rows = state.store.list_ssh_keys(&caller.org_id, &filter, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |k| &k.id);
    Ok(Json(Paged { data: rows.iter().map(view).collect(), next_cursor }))
}

/// A key the caller may see, or 404: their own or organization-wide (and,
/// for admins, any member's).
async fn find(state: &AppState, caller: &Caller, id: &SshKeyId) -> Result<SshKeyRecord, ApiError> {
    if !is_valid(IdKind::SshKey, id) {
        return Err(ApiError::not_found("SSH key"));
    }
    let key = state.store.get_ssh_key(&caller.org_id, id).await?.ok_or_else(|| ApiError::not_found("SSH key"))?;
    let visible = match &key.owner_user_id {
        None => true,
        Some(owner) => caller.is_admin() || caller.user_id.as_ref() == Some(owner),
    };
    if visible { Ok(key) } else { Err(ApiError::not_found("SSH key")) }
}

/// Who may call [`delete`].
const DELETE: AuthCheck = AuthCheck::any().scope(SSH_KEY_WRITE);

/// `DELETE /v1/ssh-keys/{id}`: own keys; admins also organization-wide keys
/// and members' keys.
#[utoipa::path(
    delete,
    path = "/v1/ssh-keys/{id}",
    operation_id = "deleteSshKey",
    tag = "ssh-keys",
    params(("id" = String, Path, description = "The SSH key (`ssh_…`)")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "`forbidden`: an organization-wide key, by a member", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such SSH key the caller may see", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(DELETE)))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<SshKeyId>,
) -> Result<StatusCode, ApiError> {
    DELETE.check(&caller)?;
    let key = find(&state, &caller, &id).await?;
    if key.owner_user_id.is_none() {
        ORG_WIDE.check(&caller)?;
    }
    let details = json!({"name": key.name, "fingerprint": key.fingerprint, "scope": scope_name(&key),
                         "ownerUserId": key.owner_user_id});
    let event = audit.event_by(&caller, "ssh_key.delete", Some(("ssh_key", &key.id)), &details);
    if !state.store.delete_ssh_key(&caller.org_id, &key.id, &event).await? {
        return Err(ApiError::not_found("SSH key"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Who may call [`set_default`].
const SET_DEFAULT: AuthCheck = AuthCheck::any().scope(SSH_KEY_WRITE);

/// `POST /v1/ssh-keys/{id}/default`: makes one of the caller's own keys
/// their default (one per member).
#[utoipa::path(
    post,
    path = "/v1/ssh-keys/{id}/default",
    operation_id = "setDefaultSshKey",
    tag = "ssh-keys",
    params(("id" = String, Path, description = "The SSH key (`ssh_…`)")),
    responses((status = 200, description = "The caller's default key", body = Data<SshKeyView>), (status = 400, description = "`invalid_request`: an organization-wide key cannot be a member's default", body = ErrorEnvelope), (status = 403, description = "`forbidden`: an organization-owned key has no member to choose for", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such SSH key the caller may see", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(SET_DEFAULT)))
)]
pub async fn set_default(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<SshKeyId>,
) -> Result<Json<Data<SshKeyView>>, ApiError> {
    SET_DEFAULT.check(&caller)?;
    let user = caller.acting_user()?.to_owned();
    let key = find(&state, &caller, &id).await?;
    if key.owner_user_id.as_deref() != Some(user.as_str()) {
        return Err(if key.owner_user_id.is_none() {
            ApiError::bad_request("an organization-wide key cannot be a member's default; choose one of your own keys")
        } else {
            ApiError::not_found("SSH key")
        });
    }
    let details = json!({"name": key.name, "fingerprint": key.fingerprint});
    let event = audit.event_by(&caller, "ssh_key.set_default", Some(("ssh_key", &key.id)), &details);
    let updated = state
        .store
        .set_default_ssh_key(&caller.org_id, &user, &key.id, &event)
        .await?
        .ok_or_else(|| ApiError::not_found("SSH key"))?;
    Ok(Json(Data { data: view(&updated) }))
}

/// `GET /v1/ssh-keys/authorized-keys?user=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuthorizedKeysQuery {
    /// The member (id or email); default: the caller.
    user: Option<String>,
}

/// Who may call [`authorized_keys`].
const AUTHORIZED_KEYS: AuthCheck = AuthCheck::any().scope(SSH_KEY_READ);

/// `GET /v1/ssh-keys/authorized-keys?user=<email or id>`: an
/// `authorized_keys` file (text/plain): the member's keys and the
/// organization-wide ones, one per line. Another member's needs an admin
/// or an organization-owned (service) key.
#[utoipa::path(
    get,
    path = "/v1/ssh-keys/authorized-keys",
    operation_id = "getAuthorizedKeys",
    tag = "ssh-keys",
    params(AuthorizedKeysQuery),
    responses((status = 200, description = "An `authorized_keys` file for OpenSSH's `AuthorizedKeysCommand`", content_type = "text/plain", body = String), (status = 403, description = "`forbidden`: another member's file, without the admin role or a service key (or an organization-owned key naming no `user`)", body = ErrorEnvelope), (status = 404, description = "`not_found`: `user` is not a member of the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(AUTHORIZED_KEYS)))
)]
pub async fn authorized_keys(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuthorizedKeysQuery>,
) -> Result<Response, ApiError> {
    AUTHORIZED_KEYS.check(&caller)?;
    let user = match &q.user {
        Some(u) => member_id(&state, &caller.org_id, u).await?,
        None => caller.acting_user()?.to_owned(),
    };
    if caller.user_id.as_deref() != Some(user.as_str()) {
        OTHER_MEMBER.check(&caller)?;
    }
    let keys = state.store.authorized_ssh_keys(&caller.org_id, &user).await?;
    let mut body = format!("# latchkey: authorized_keys of {user} in {}\n", caller.org_id);
    for k in &keys {
        body.push_str(&format!("{} latchkey:{}:{}\n", k.public_key, k.id, k.name.replace(char::is_whitespace, "_")));
    }
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
