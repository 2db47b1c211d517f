//! `/v1/api-keys`: the RunTools-shaped key API (reference document 000).
//!
//! A person (session) manages keys as a member of the organization; a key
//! needs `org:write` (reading `org:read`). Admins manage every key of the
//! organization; members only their own. Nobody can grant a scope they may
//! not use themselves (scopes bounded by role): not on create, and not by
//! rotating someone else's broader key. A key is owned by a member (it stops
//! working when they leave) or by the organization (`"owner": "org"`, or
//! `POST /v1/api-keys/{id}/transfer`; admins only).

pub(crate) mod batch;
mod compliance;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod leak;
pub(crate) mod rotate;

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::{
    ApiKeyView, CreateApiKey, Data, ErrorEnvelope, KeyEnvironment, KeyOwner, KeyStatus, Paged, RefView, SHOWN_ONCE,
    Shown, TransferApiKey, UntilUnusedView, UpdateApiKey, UsageDayView,
};
use latchkey_core::id::{IdKind, KeyId, ProjectId, is_valid};
use latchkey_core::ip::IpRules;
use latchkey_core::policy::{KeyFacts, KeyPolicy};
use latchkey_core::time_fmt::{Millis, day_string, epoch_day, now_ms, to_rfc3339};
use latchkey_core::{Environment, IssuedKey, KeyPrefix, KeyState, PlainKey, Role, format_duration};
use latchkey_store::{ApiKeyRecord, KeyFilter, KeyKind, KeyPatch, StatusAt};
use serde::Deserialize;
use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, ORG_READ};
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query, check_name, paginate};

use crate::keys::{
    KeySpec, Minted, check_ceiling, check_cidrs, check_external_id, check_grant, check_limit, check_refill,
    check_remaining, check_scope_count, expiry, facts, key_policy, mint, owner_ceiling, store_minted,
};
use crate::lookup;
use crate::state::AppState;

/// `"owner": "org"` on create: a key the organization owns.
const ORG_OWNED: AuthCheck = AuthCheck::any().admin();

/// The API view of a stored key at `now` (without plaintext).
pub fn view(k: &ApiKeyRecord, now: Millis) -> ApiKeyView {
    ApiKeyView {
        id: k.id.to_string(),
        name: k.name.clone(),
        key_prefix: k.key_prefix.to_string(),
        key_hint: k.key_hint.clone(),
        scopes: k.scopes.to_strings(),
        project_id: k.project_id.clone().map(String::from),
        environment: k.environment.as_str().to_owned(),
        expires_at: k.expires_at.map(to_rfc3339),
        last_used_at: k.last_used_at.map(to_rfc3339),
        revoked_at: k.revoked_at.map(to_rfc3339),
        leaked_at: k.leaked_at.map(to_rfc3339),
        created_at: to_rfc3339(k.created_at),
        // A status is always a lifecycle state, which has a wire form.
        status: k.status(now).status_str().unwrap_or_default().to_owned(),
        owner_user_id: k.owner_user_id.clone().map(String::from),
        owner_display_name: k.owner_display_name.clone(),
        owner_email: k.owner_email.clone(),
        rotated_from: k.rotated_from.clone().map(String::from),
        rotated_to: k.rotated_to.clone().map(String::from),
        rate_limit_per_minute: k.rate_limit_per_minute,
        rate_limit_per_day: k.rate_limit_per_day,
        remaining: k.remaining,
        refill: k.refill.map(crate::views::refill_view),
        owner: if k.owner_user_id.is_some() { KeyOwner::User } else { KeyOwner::Org },
        // The credential that created it: a key, or a person's session.
        created_by: match (&k.created_by_key_id, &k.created_by_user_id) {
            (Some(key), _) => Some(RefView { kind: "key".to_owned(), id: Some(key.to_string()) }),
            (None, Some(u)) => Some(RefView { kind: "user".to_owned(), id: Some(u.to_string()) }),
            (None, None) => None,
        },
        kind: k.kind.as_str().to_owned(),
        surface_id: k.surface_id.clone().map(String::from),
        last_used_since_rotation_at: k.until_unused.and_then(|p| p.last_used_since(k.last_used_at)).map(to_rfc3339),
        until_unused: k.until_unused.map(|p| UntilUnusedView {
            quiet_for: format_duration(u64::try_from(p.quiet_ms / 1000).unwrap_or_default()),
            since: to_rfc3339(p.since),
            max_grace_ends_at: to_rfc3339(p.max_until),
            ended_at: p.ended_at.map(to_rfc3339),
        }),
        allowed_cidrs: k.allowed_cidrs.as_ref().map(IpRules::to_strings),
        imported: k.is_imported(),
        external_id: k.external_id.clone(),
        key: None,
    }
}

fn brand_prefix(state: &AppState, env: Environment) -> Result<KeyPrefix, ApiError> {
    KeyPrefix::branded(&state.settings.brand, env)
        .map_err(|_| ApiError::internal(&std::io::Error::other("configured key brand is not a valid prefix")))
}

fn shown(k: &ApiKeyRecord, plain: &PlainKey, now: Millis) -> Shown<ApiKeyView> {
    let mut v = view(k, now);
    v.key = Some(plain.expose().to_owned());
    Shown { data: v, message: SHOWN_ONCE.to_owned() }
}

/// Who may call [`create`].
pub(crate) const CREATE: AuthCheck = AuthCheck::key_managers();

/// `POST /v1/api-keys`: mints a key; the plaintext is in this response only.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    operation_id = "createApiKey",
    tag = "api-keys",
    request_body = CreateApiKey,
    responses((status = 201, description = "The key, its plaintext shown this once", body = Shown<ApiKeyView>), (status = 400, description = "`invalid_request` or `invalid_scopes`: a field is invalid, or a scope is not in the catalog", body = ErrorEnvelope), (status = 403, description = "`insufficient_scope` (granting a scope the caller may not use, or beyond the owner's role) or `forbidden` (`owner: org` by a member)", body = ErrorEnvelope), (status = 404, description = "`not_found`: `projectId` names no project of the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CREATE)))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<CreateApiKey>,
) -> Result<(StatusCode, Json<Shown<ApiKeyView>>), ApiError> {
    CREATE.check(&caller)?;
    let now = now_ms();
    let policy = key_policy(&state, &caller.org_id).await?;
    let (minted, details) = prepare(&state, &caller, &req, now, &policy, &mut HashMap::new()).await?;
    let stored = store_minted(&state, &caller, &audit, &minted, details).await?;
    Ok((StatusCode::CREATED, Json(shown(&stored, &minted.plain, now))))
}

/// The key `req` asks for, minted for `caller` after every check of
/// [`create`] (the caller passed [`CREATE`]), with the details of its audit
/// event, under the organization's key `policy`. `projects` remembers the
/// projects already looked up (a batch names the same one many times).
async fn prepare(
    state: &AppState,
    caller: &Caller,
    req: &CreateApiKey,
    now: Millis,
    policy: &KeyPolicy,
    projects: &mut HashMap<String, ProjectId>,
) -> Result<(Minted, serde_json::Value), ApiError> {
    if req.owner == KeyOwner::Org {
        ORG_OWNED.check(caller)?;
    }
    let name = check_name(&req.name)?;
    check_scope_count(req.scopes.len())?;
    let scopes = state.settings.catalog.parse_scopes(&req.scopes).map_err(|e| ApiError::invalid_scopes(&e.0))?;
    let expires_at = expiry(req.expires_in.as_deref(), req.expires_at.as_deref(), now)?;
    let rate_limit_per_minute = check_limit("rateLimitPerMinute", req.rate_limit_per_minute)?;
    let rate_limit_per_day = check_limit("rateLimitPerDay", req.rate_limit_per_day)?;
    let refill = check_refill(req.refill)?;
    let remaining = check_remaining(req.remaining)?;
    if refill.is_some() && remaining.is_none() {
        return Err(ApiError::bad_request("refill needs remaining (the starting credit balance)"));
    }
    let allowed_cidrs = check_cidrs("allowedCidrs", req.allowed_cidrs.as_deref())?;
    let project_id = match req.project_id.as_deref() {
        Some(id) => match projects.get(id) {
            Some(known) => Some(known.clone()),
            None => {
                let found = lookup::project(state, caller, &ProjectId::from(id)).await?.id;
                projects.insert(id.to_owned(), found.clone());
                Some(found)
            }
        },
        None => None,
    };
    let environment = if req.is_test { Environment::Test } else { Environment::Live };
    let mut spec = KeySpec {
        project_id,
        environment,
        rate_limit_per_minute,
        rate_limit_per_day,
        remaining,
        refill,
        expires_at,
        allowed_cidrs,
        ..KeySpec::new(caller, name, KeyKind::Standard, scopes)
    };
    if req.owner == KeyOwner::Org {
        spec = spec.owned_by_org();
    }
    let minted = mint(&brand_prefix(state, environment)?, spec, caller, now, policy)?;
    let details = json!({
        "name": minted.record.name,
        "scopes": minted.record.scopes,
        "owner": req.owner,
        "allowedCidrs": minted.record.allowed_cidrs.as_ref().map(IpRules::to_strings),
    });
    Ok((minted, details))
}

/// `GET /v1/api-keys` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Every member's keys (admins, or everyone when the organization lets
    /// members see every key).
    #[serde(default)]
    pub all_org: bool,
    /// Only keys of this project.
    pub project_id: Option<String>,
    /// Only keys in this lifecycle status now.
    #[param(inline)]
    pub status: Option<KeyStatus>,
    /// Only keys of this environment.
    #[param(inline)]
    pub environment: Option<KeyEnvironment>,
    /// Only keys whose name contains this text (case-insensitively), whose
    /// shown form (`lk_live_AbCd…wxyz`) starts with it, or whose id it is;
    /// at most 100 characters.
    #[param(max_length = 100)]
    pub search: Option<String>,
    /// `false`: only keys that break the organization's current key policy
    /// (made before a rule was tightened); `true`: only keys that keep it.
    pub compliant: Option<bool>,
    /// Only keys imported with this external id (`POST /v1/api-keys/import`).
    #[param(max_length = 255)]
    pub external_id: Option<String>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Longest `search` of [`ListQuery`], in characters.
const MAX_SEARCH: usize = 100;

/// Who may call [`list`].
const LIST: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// Whether `caller` may list every key of the organization (`allOrg`):
/// admins, and everyone when the organization lets members see every key.
///
/// # Errors
/// 403 `forbidden` with the reason, or a storage error.
pub(crate) async fn check_all_org(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        return Ok(());
    }
    let org = state.store.get_org(&caller.org_id).await?;
    if org.is_some_and(|o| o.members_see_all_keys) {
        Ok(())
    } else {
        Err(ApiError::forbidden("listing every key of the organization needs the admin role"))
    }
}

/// `GET /v1/api-keys`: the caller's own keys; `?allOrg=true` (admins) for
/// every key of the organization; filtered by project, status, environment
/// and a search.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    operation_id = "listApiKeys",
    tag = "api-keys",
    params(ListQuery),
    responses((status = 200, description = "A page of keys, newest first", body = Paged<ApiKeyView>), (status = 400, description = "`invalid_request`: an unknown parameter or an invalid value (a status or environment not listed, a search over 100 characters, `compliant` not a boolean, an `externalId` over 255 characters)", body = ErrorEnvelope), (status = 403, description = "`forbidden`: `allOrg` by a member, unless the organization lets members see every key", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Paged<ApiKeyView>>, ApiError> {
    LIST.check(&caller)?;
    if q.all_org {
        check_all_org(&state, &caller).await?;
    }
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    if q.search.as_deref().is_some_and(|s| s.chars().count() > MAX_SEARCH) {
        return Err(ApiError::bad_request(format!("search must be at most {MAX_SEARCH} characters")));
    }
    let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(id) = q.external_id.as_deref() {
        check_external_id(id)?;
    }
    let now = now_ms();
    let filter = KeyFilter {
        owner_user_id: if q.all_org { None } else { Some(caller.user_id.clone().unwrap_or_default()) },
        project_id: q.project_id.map(ProjectId::from),
        environment: q.environment.map(|e| match e {
            KeyEnvironment::Live => Environment::Live,
            KeyEnvironment::Test => Environment::Test,
        }),
        status: q.status.map(|s| StatusAt {
            status: match s {
                KeyStatus::Active => KeyState::Valid,
                KeyStatus::Expired => KeyState::Expired,
                KeyStatus::Revoked => KeyState::Revoked,
                KeyStatus::Disabled => KeyState::Disabled,
            },
            at: now,
        }),
        search: search.map(str::to_owned),
        external_id: q.external_id,
    };
    let (rows, next_cursor) = match q.compliant {
        None => paginate(state.store.list_keys(&caller.org_id, &filter, &page).await?, page.limit, |k| &k.id),
        Some(wanted) => {
            let policy = key_policy(&state, &caller.org_id).await?;
            let keeps = |k: &ApiKeyRecord| latchkey_core::policy::violations(&policy, &facts(k)).is_empty() == wanted;
            compliance::filtered(&state, &caller.org_id, &filter, page, keeps).await?
        }
    };
    Ok(Json(Paged { data: rows.iter().map(|k| view(k, now)).collect(), next_cursor }))
}

/// A key the caller may manage, or 404 (also for other orgs' and, for
/// members, other members' keys).
async fn find(state: &AppState, caller: &Caller, id: &KeyId) -> Result<ApiKeyRecord, ApiError> {
    if !is_valid(IdKind::Key, id) {
        return Err(ApiError::not_found("API key"));
    }
    match state.store.get_key(&caller.org_id, id).await? {
        Some(k) if caller.can_manage(&k) => Ok(k),
        _ => Err(ApiError::not_found("API key")),
    }
}

/// Who may call [`get`].
const GET: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/api-keys/{id}`
#[utoipa::path(
    get,
    path = "/v1/api-keys/{id}",
    operation_id = "getApiKey",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key (`key_…`)")),
    responses((status = 200, description = "The key (never its plaintext)", body = Data<ApiKeyView>), (status = 404, description = "`not_found`: no such key the caller may manage (another member's key, another organization's)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GET)))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<KeyId>,
) -> Result<Json<Data<ApiKeyView>>, ApiError> {
    GET.check(&caller)?;
    let key = find(&state, &caller, &id).await?;
    Ok(Json(Data { data: view(&key, now_ms()) }))
}

/// Who may call [`update`].
const UPDATE: AuthCheck = AuthCheck::key_managers();

/// `PATCH /v1/api-keys/{id}`: name, rate limits, credits and refill.
/// Absent fields are kept; `null` clears a limit or the credit budget.
#[utoipa::path(
    patch,
    path = "/v1/api-keys/{id}",
    operation_id = "updateApiKey",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key (`key_…`)")),
    request_body = UpdateApiKey,
    responses((status = 200, description = "The key", body = Data<ApiKeyView>), (status = 404, description = "`not_found`: no such key the caller may manage (another member's key, another organization's)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(UPDATE)))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<KeyId>,
    JsonBody(req): JsonBody<UpdateApiKey>,
) -> Result<Json<Data<ApiKeyView>>, ApiError> {
    UPDATE.check(&caller)?;
    let key = find(&state, &caller, &id).await?;
    let patch = KeyPatch {
        name: req.name.as_deref().map(check_name).transpose()?,
        rate_limit_per_minute: req.rate_limit_per_minute.map(|v| check_limit("rateLimitPerMinute", v)).transpose()?,
        rate_limit_per_day: req.rate_limit_per_day.map(|v| check_limit("rateLimitPerDay", v)).transpose()?,
        remaining: req.remaining.map(check_remaining).transpose()?,
        refill: req.refill.map(check_refill).transpose()?,
        allowed_cidrs: req.allowed_cidrs.as_ref().map(|v| check_cidrs("allowedCidrs", v.as_deref())).transpose()?,
    };
    let refill_after = patch.refill.unwrap_or(key.refill);
    let remaining_after = patch.remaining.unwrap_or(key.remaining);
    if refill_after.is_some() && remaining_after.is_none() {
        return Err(ApiError::bad_request("refill needs remaining (a credit balance); clear refill too"));
    }
    if let Some(cidrs) = &patch.allowed_cidrs {
        // An update may not bring in a violation; one the key had already
        // (a rule tightened after it was made) does not block other changes.
        let policy = key_policy(&state, &caller.org_id).await?;
        let after = KeyFacts { allowed_cidrs: cidrs.as_ref(), ..facts(&key) };
        let before = latchkey_core::policy::violations(&policy, &facts(&key));
        if let Some(v) = latchkey_core::policy::violations(&policy, &after).into_iter().find(|v| !before.contains(v)) {
            return Err(ApiError::policy_violation(v));
        }
    }
    let now = now_ms();
    let details = json!({
        "name": req.name,
        "rateLimitPerMinute": patch.rate_limit_per_minute.unwrap_or(key.rate_limit_per_minute),
        "rateLimitPerDay": patch.rate_limit_per_day.unwrap_or(key.rate_limit_per_day),
        "remaining": remaining_after,
        "allowedCidrs": patch.allowed_cidrs.as_ref().map(|c| c.as_ref().map(IpRules::to_strings)),
    });
    let event = audit.event_by(&caller, "api_key.update", Some(("api_key", &key.id)), &details);
    let updated = state
        .store
        .update_key(&caller.org_id, &key.id, &patch, now, &event)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    state.invalidate_keys(&[updated.hash]).await;
    if patch.rate_limit_per_minute.is_some() || patch.rate_limit_per_day.is_some() {
        state.verifier.reset_limits(&updated.id);
    }
    Ok(Json(Data { data: view(&updated, now) }))
}

/// `GET /v1/api-keys/{id}/usage` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Days back from today (1–90, default 30).
    #[param(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
}

/// Who may call [`usage`].
const USAGE: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/api-keys/{id}/usage`: daily verification counts by outcome
/// (UTC days, oldest first; written behind, so the last seconds may be
/// missing).
#[utoipa::path(
    get,
    path = "/v1/api-keys/{id}/usage",
    operation_id = "getApiKeyUsage",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key (`key_…`)"), UsageQuery),
    responses((status = 200, description = "Daily verification counts by outcome, oldest first", body = Data<Vec<UsageDayView>>), (status = 404, description = "`not_found`: no such key the caller may manage (another member's key, another organization's)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(USAGE)))
)]
pub async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<KeyId>,
    Query(q): Query<UsageQuery>,
) -> Result<Json<Data<Vec<UsageDayView>>>, ApiError> {
    USAGE.check(&caller)?;
    let key = find(&state, &caller, &id).await?;
    let days = q.days.unwrap_or(30);
    if !(1..=90).contains(&days) {
        return Err(ApiError::bad_request("days must be between 1 and 90"));
    }
    let since = day_string(epoch_day(now_ms()) - i64::from(days) + 1);
    let rows = state.store.key_usage(&caller.org_id, &key.id, &since).await?;
    let mut out: Vec<UsageDayView> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|d| d.date != r.day) {
            out.push(UsageDayView { date: r.day.clone(), counts: Default::default(), total: 0 });
        }
        if let Some(day) = out.last_mut() {
            day.total += r.count;
            day.counts.insert(r.outcome, r.count);
        }
    }
    Ok(Json(Data { data: out }))
}

/// Who may call [`revoke`].
pub(crate) const REVOKE: AuthCheck = AuthCheck::key_managers();

/// `POST /v1/api-keys/{id}/revoke`: immediate; the next request with the key
/// is refused. Revoking a revoked key changes nothing.
#[utoipa::path(
    post,
    path = "/v1/api-keys/{id}/revoke",
    operation_id = "revokeApiKey",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key (`key_…`)")),
    responses((status = 200, description = "The revoked key", body = Data<ApiKeyView>), (status = 404, description = "`not_found`: no such key the caller may manage (another member's key, another organization's)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(REVOKE)))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<KeyId>,
) -> Result<Json<Data<ApiKeyView>>, ApiError> {
    REVOKE.check(&caller)?;
    let key = find(&state, &caller, &id).await?;
    let now = now_ms();
    let event = audit.event_by(&caller, "api_key.revoke", Some(("api_key", &key.id)), &json!({}));
    let revoked = state
        .store
        .revoke_key(&caller.org_id, &key.id, now, &event)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    state.invalidate_keys(&[revoked.hash]).await;
    tracing::info!(key_id = %revoked.id, "api key revoked");
    Ok(Json(Data { data: view(&revoked, now) }))
}

/// Who may call [`delete`].
const DELETE: AuthCheck = AuthCheck::key_managers();

/// `DELETE /v1/api-keys/{id}`: removes the key for good (it stops working
/// at once).
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    operation_id = "deleteApiKey",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key (`key_…`)")),
    responses((status = 204, description = "Deleted; the key stops working at once"), (status = 404, description = "`not_found`: no such key the caller may manage (another member's key, another organization's)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(DELETE)))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<KeyId>,
) -> Result<StatusCode, ApiError> {
    DELETE.check(&caller)?;
    let key = find(&state, &caller, &id).await?;
    let event = audit.event_by(&caller, "api_key.delete", Some(("api_key", &key.id)), &json!({"name": key.name}));
    let hash =
        state.store.delete_key(&caller.org_id, &key.id, &event).await?.ok_or_else(|| ApiError::not_found("API key"))?;
    state.invalidate_keys(&[hash]).await;
    tracing::info!(key_id = %key.id, "api key deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Who may call [`transfer`].
const TRANSFER: AuthCheck = AuthCheck::key_managers().admin();

/// `POST /v1/api-keys/{id}/transfer` `{"to": "org"}`: the organization
/// takes the key over (admins); it keeps working when its creator leaves,
/// and `createdBy` keeps the record.
#[utoipa::path(
    post,
    path = "/v1/api-keys/{id}/transfer",
    operation_id = "transferApiKey",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key (`key_…`)")),
    request_body = TransferApiKey,
    responses((status = 200, description = "The key, now the organization's", body = Data<ApiKeyView>), (status = 403, description = "`forbidden` (not an admin) or `insufficient_scope` (the key holds what the admin or its owner's role does not allow)", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such key the caller may manage (another member's key, another organization's)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(TRANSFER)))
)]
pub async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<KeyId>,
    JsonBody(req): JsonBody<TransferApiKey>,
) -> Result<Json<Data<ApiKeyView>>, ApiError> {
    TRANSFER.check(&caller)?;
    if req.to != "org" {
        return Err(ApiError::bad_request("keys can only be transferred to the organization (`\"to\": \"org\"`)"));
    }
    let key = find(&state, &caller, &id).await?;
    // The organization's key holds what its owner held: nothing the admin
    // doing it may not grant, nothing an organization-owned key may not
    // hold, and nothing beyond its owner's role now (a key made before its
    // owner was demoted keeps its old scopes, bounded by the role at use).
    check_ceiling(&key.scopes, owner_ceiling(&key))?;
    check_grant(&caller, &key.scopes, Role::Admin)?;
    let now = now_ms();
    let details = json!({"from": key.owner_user_id, "to": "org"});
    let event = audit.event_by(&caller, "api_key.transfer", Some(("api_key", &key.id)), &details);
    let moved = state
        .store
        .transfer_key_to_org(&caller.org_id, &key.id, now, &event)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    state.invalidate_keys(&[moved.hash]).await;
    Ok(Json(Data { data: view(&moved, now) }))
}
