//! `/v1/secrets`: user-private and organization-wide secrets, sealed with the
//! organization's data key (`latchkey_core::crypto`), which is wrapped by
//! the master key (`crate::keyring`).
//!
//! Who may do what (docs/API.md has the table):
//! * every route needs `secret:read` (metadata, reveal, resolve) or
//!   `secret:write` (set, delete) from a key; a session holds both;
//! * a user-private secret exists only for its owner: anyone else, admins
//!   included, gets 404 for it;
//! * organization-wide secrets: every member reads the metadata and
//!   reveals; only admins set or delete them;
//! * resolving for another member (`?user=`) is the platform's job, not an
//!   organization admin's: it needs `secret:resolve`, a reserved scope that
//!   no request can grant (not even `*` covers it); only the operator mints
//!   a service key holding it (`latchkey admin create-service-key`). Any
//!   other credential resolves the organization's secrets and its own
//!   user's (an organization-owned key: the organization's only).
//!
//! A value is in memory only while it is sealed or opened, in buffers that
//! are wiped afterwards; it is never logged, audited or put in an error.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_api_types::secrets::{OwnerScope, PutSecret, ResolvedSecret, ResolvedSecrets, RevealedSecret, SecretView};
use latchkey_api_types::{Data, ErrorEnvelope, Paged, SecretName};
use latchkey_core::crypto::{CryptoError, SecretAad};
use latchkey_core::id::SecretId;
use latchkey_core::secret::{MAX_VALUE_LEN, is_valid_category, is_valid_name};
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_store::{SecretFilter, SecretRecord};
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroize as _;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, SECRET_READ, SECRET_RESOLVE, SECRET_WRITE};
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query, paginate};
use crate::lookup::member_id;
use crate::sealing::{SealError, data_key};
use crate::state::AppState;
use crate::views::no_store;

/// Most names one resolve may ask for.
const MAX_RESOLVE: usize = 100;
/// Attempts at a write that lost a race with another write of the same name.
const PUT_ATTEMPTS: usize = 5;

/// Organization-wide secrets: setting and deleting them.
pub(crate) const ORG_WIDE: AuthCheck = AuthCheck::any().admin_because("organization-wide secrets need the admin role");
/// Resolving another member's secrets (`?user=`): a service key the
/// operator minted.
const RESOLVE_FOR_OTHERS: AuthCheck = AuthCheck::any().scope(SECRET_RESOLVE);

fn scope_of(s: &SecretRecord) -> OwnerScope {
    if s.owner_user_id.is_some() { OwnerScope::User } else { OwnerScope::Org }
}

fn view(s: &SecretRecord) -> SecretView {
    SecretView {
        id: s.id.to_string(),
        name: s.name.clone(),
        category: s.category.clone(),
        scope: scope_of(s),
        owner_user_id: s.owner_user_id.clone().map(String::from),
        version: s.version,
        created_at: to_rfc3339(s.created_at),
        updated_at: to_rfc3339(s.updated_at),
    }
}

fn aad(s: &SecretRecord) -> SecretAad<'_> {
    SecretAad {
        org_id: &s.org_id,
        secret_id: &s.id,
        name: &s.name,
        owner_user_id: s.owner_user_id.as_deref(),
        version: s.version,
    }
}

/// Opens a secret's value.
async fn open(state: &AppState, s: &SecretRecord) -> Result<String, ApiError> {
    let Some(key) = data_key(state, &s.org_id, false).await? else {
        return Err(ApiError::internal(&SealError {
            what: format!("secret {} exists but {} has no data key", s.id, s.org_id),
            source: CryptoError::Malformed,
        }));
    };
    let plain = key.open(&aad(s), &s.ciphertext).map_err(|e| {
        ApiError::internal(&SealError { what: format!("cannot open secret {} of {}", s.id, s.org_id), source: e })
    })?;
    String::from_utf8(plain.to_vec()).map_err(|_| {
        ApiError::internal(&SealError {
            what: format!("secret {} of {} is not UTF-8", s.id, s.org_id),
            source: CryptoError::Malformed,
        })
    })
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request("secret names are 1–128 characters of A-Z, 0-9 and _ (e.g. ANTHROPIC_API_KEY)"))
    }
}

/// `?scope=user|org`: which of two secrets of the same name is meant
/// (default: the caller's own if there is one, else the organization's).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScopeQuery {
    /// `user` (the caller's own) or `org` (the organization's); default:
    /// the caller's own if there is one.
    pub scope: Option<OwnerScope>,
}

/// The secret `name` as the caller sees it, or 404: their own (user scope),
/// or the organization's.
async fn find(
    state: &AppState,
    caller: &Caller,
    name: &str,
    scope: Option<OwnerScope>,
) -> Result<SecretRecord, ApiError> {
    if !is_valid_name(name) {
        return Err(ApiError::not_found("secret"));
    }
    let org = &caller.org_id;
    let user = caller.user_id.as_ref();
    let found = match (scope, user) {
        (Some(OwnerScope::User), Some(u)) => state.store.get_secret(org, Some(u), name).await?,
        (Some(OwnerScope::User), None) => None,
        (Some(OwnerScope::Org), _) => state.store.get_secret(org, None, name).await?,
        (None, Some(u)) => match state.store.get_secret(org, Some(u), name).await? {
            Some(s) => Some(s),
            None => state.store.get_secret(org, None, name).await?,
        },
        (None, None) => state.store.get_secret(org, None, name).await?,
    };
    found.ok_or_else(|| ApiError::not_found("secret"))
}

/// Who may call [`put`].
const PUT: AuthCheck = AuthCheck::any().scope(SECRET_WRITE);

/// `PUT /v1/secrets/{name}`: creates (201) or replaces (200) the caller's
/// secret, or with `orgWide: true` (admins) the organization's.
#[utoipa::path(
    put,
    path = "/v1/secrets/{name}",
    operation_id = "putSecret",
    tag = "secrets",
    params(("name" = inline(SecretName), Path, description = "The secret's name (`A-Z0-9_`, 1–128)")),
    request_body = PutSecret,
    responses((status = 200, description = "Replaced (version + 1)", body = Data<SecretView>), (status = 201, description = "Created", body = Data<SecretView>), (status = 403, description = "`forbidden`: `orgWide` by a member, or an organization-owned key setting a private secret", body = ErrorEnvelope), (status = 409, description = "`conflict`: changed by someone else meanwhile; try again", body = ErrorEnvelope), (status = 503, description = "`unavailable`: the database cannot be reached, or this server has no master key", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(PUT)))
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(name): Path<String>,
    JsonBody(mut req): JsonBody<PutSecret>,
) -> Result<(StatusCode, Json<Data<SecretView>>), ApiError> {
    let result = put_inner(&state, &caller, &audit, &name, &req).await;
    req.value.zeroize();
    let (secret, created) = result?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(Data { data: view(&secret) })))
}

async fn put_inner(
    state: &AppState,
    caller: &Caller,
    audit: &Audit,
    name: &str,
    req: &PutSecret,
) -> Result<(SecretRecord, bool), ApiError> {
    PUT.check(caller)?;
    check_name(name)?;
    if !is_valid_category(&req.category) {
        return Err(ApiError::bad_request("category is 1–64 characters of a-z, 0-9, - and _ (e.g. provider, tool)"));
    }
    if req.value.is_empty() {
        return Err(ApiError::bad_request("value must not be empty"));
    }
    if req.value.len() > MAX_VALUE_LEN {
        return Err(ApiError::bad_request(format!("value must be at most {} KiB", MAX_VALUE_LEN / 1024)));
    }
    let owner = if req.org_wide.unwrap_or(false) {
        ORG_WIDE.check(caller)?;
        None
    } else {
        Some(caller.acting_user()?.clone())
    };
    let key = data_key(state, &caller.org_id, true).await?.ok_or_else(|| ApiError::not_found("organization"))?;
    for _ in 0..PUT_ATTEMPTS {
        let existing = state.store.get_secret(&caller.org_id, owner.as_ref(), name).await?;
        let now = now_ms();
        let mut secret = match &existing {
            Some(e) => SecretRecord {
                category: req.category.clone(),
                version: e.version + 1,
                updated_at: now,
                ciphertext: Vec::new(),
                ..e.clone()
            },
            None => SecretRecord {
                id: SecretId::new(),
                org_id: caller.org_id.clone(),
                name: name.to_owned(),
                category: req.category.clone(),
                owner_user_id: owner.clone(),
                ciphertext: Vec::new(),
                version: 1,
                created_at: now,
                updated_at: now,
            },
        };
        secret.ciphertext = key.seal(&aad(&secret), req.value.as_bytes()).map_err(|e| {
            ApiError::internal(&SealError { what: format!("cannot seal secret {}", secret.id), source: e })
        })?;
        let details = json!({"name": secret.name, "scope": scope_of(&secret), "category": secret.category,
                             "version": secret.version});
        let event = audit.event_by(caller, "secret.set", Some(("secret", &secret.id)), &details);
        if state.store.put_secret(&secret, existing.as_ref().map(|e| e.version), &event).await? {
            return Ok((secret, existing.is_none()));
        }
    }
    Err(ApiError::conflict("the secret is being changed by someone else; try again"))
}

/// `GET /v1/secrets?orgOnly=&limit=&cursor=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only organization-wide secrets.
    #[serde(default)]
    pub org_only: bool,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Who may call [`list`].
const LIST: AuthCheck = AuthCheck::any().scope(SECRET_READ);

/// `GET /v1/secrets`: the caller's own secrets and the organization's
/// (`?orgOnly=true`: the organization's only), metadata only.
#[utoipa::path(
    get,
    path = "/v1/secrets",
    operation_id = "listSecrets",
    tag = "secrets",
    params(ListQuery),
    responses((status = 200, description = "The caller's own and the organization's secrets, metadata only", body = Paged<SecretView>)),
    extensions(("x-latchkey-auth" = json!(LIST)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Paged<SecretView>>, ApiError> {
    LIST.check(&caller)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    let filter = SecretFilter { user_id: if q.org_only { None } else { caller.user_id.clone() }, org_wide: true };
    let rows = state.store.list_secrets(&caller.org_id, &filter, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |s| &s.id);
    Ok(Json(Paged { data: rows.iter().map(view).collect(), next_cursor }))
}

/// Who may call [`get`].
const GET: AuthCheck = AuthCheck::any().scope(SECRET_READ);

/// `GET /v1/secrets/{name}?scope=`: metadata.
#[utoipa::path(
    get,
    path = "/v1/secrets/{name}",
    operation_id = "getSecret",
    tag = "secrets",
    params(("name" = inline(SecretName), Path, description = "The secret's name (`A-Z0-9_`, 1–128)"), ScopeQuery),
    responses((status = 200, description = "The metadata", body = Data<SecretView>), (status = 404, description = "`not_found`: no such secret the caller may see (another member's private secret, another organization's)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GET)))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> Result<Json<Data<SecretView>>, ApiError> {
    GET.check(&caller)?;
    let secret = find(&state, &caller, &name, q.scope).await?;
    Ok(Json(Data { data: view(&secret) }))
}

/// Who may call [`reveal`].
const REVEAL: AuthCheck = AuthCheck::any().scope(SECRET_READ);

/// `POST /v1/secrets/{name}/reveal?scope=`: the value (audited).
#[utoipa::path(
    post,
    path = "/v1/secrets/{name}/reveal",
    operation_id = "revealSecret",
    tag = "secrets",
    params(("name" = inline(SecretName), Path, description = "The secret's name (`A-Z0-9_`, 1–128)"), ScopeQuery),
    responses((status = 200, description = "The metadata and the value (audited; `Cache-Control: no-store`)", body = Data<RevealedSecret>), (status = 404, description = "`not_found`: no such secret the caller may see (another member's private secret, another organization's)", body = ErrorEnvelope), (status = 503, description = "`unavailable`: the database cannot be reached, or this server has no master key", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(REVEAL)))
)]
pub async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(name): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> Result<Response, ApiError> {
    Ok(no_store(revealed(&state, &caller, &audit, &name, q.scope).await?))
}

/// What [`reveal`] answers, checked and audited: the dashboard's reveal
/// shows the same value in a page instead.
pub(crate) async fn revealed(
    state: &AppState,
    caller: &Caller,
    audit: &Audit,
    name: &str,
    scope: Option<OwnerScope>,
) -> Result<RevealedSecret, ApiError> {
    REVEAL.check(caller)?;
    let secret = find(state, caller, name, scope).await?;
    let value = open(state, &secret).await?;
    audit
        .by(
            state,
            caller,
            "secret.reveal",
            Some(("secret", &secret.id)),
            json!({"name": secret.name, "scope": scope_of(&secret), "version": secret.version}),
        )
        .await;
    Ok(RevealedSecret { secret: view(&secret), value })
}

/// Who may call [`delete`].
const DELETE: AuthCheck = AuthCheck::any().scope(SECRET_WRITE);

/// `DELETE /v1/secrets/{name}?scope=`: the caller's own, or (admins) the
/// organization's.
#[utoipa::path(
    delete,
    path = "/v1/secrets/{name}",
    operation_id = "deleteSecret",
    tag = "secrets",
    params(("name" = inline(SecretName), Path, description = "The secret's name (`A-Z0-9_`, 1–128)"), ScopeQuery),
    responses((status = 204, description = "Deleted"), (status = 403, description = "`forbidden`: an organization-wide secret, by a member", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such secret the caller may see (another member's private secret, another organization's)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(DELETE)))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(name): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> Result<StatusCode, ApiError> {
    DELETE.check(&caller)?;
    let secret = find(&state, &caller, &name, q.scope).await?;
    if secret.owner_user_id.is_none() {
        ORG_WIDE.check(&caller)?;
    }
    let details = json!({"name": secret.name, "scope": scope_of(&secret)});
    let event = audit.event_by(&caller, "secret.delete", Some(("secret", &secret.id)), &details);
    if !state.store.delete_secret(&caller.org_id, &secret.id, &event).await? {
        return Err(ApiError::not_found("secret"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/secrets/resolve?names=A,B&user=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResolveQuery {
    /// Comma-separated names, 1–100 of them.
    #[param(pattern = "^ *[A-Z0-9_]{1,128} *(, *[A-Z0-9_]{1,128} *){0,99}$")]
    names: String,
    /// The member to resolve for (id or email); default: the caller.
    user: Option<String>,
}

/// Who may call [`resolve`].
const RESOLVE: AuthCheck = AuthCheck::any().scope(SECRET_READ).or_scope(SECRET_RESOLVE);

/// `GET /v1/secrets/resolve`: the values the platform hands a member's
/// workload: for each name, the member's own secret, else the
/// organization's. For another member than the caller's own user only with
/// `secret:resolve` (see the module doc). Each value returned is audited as
/// `secret.reveal`.
#[utoipa::path(
    get,
    path = "/v1/secrets/resolve",
    operation_id = "resolveSecrets",
    tag = "secrets",
    params(ResolveQuery),
    responses((status = 200, description = "The values found (audited; `Cache-Control: no-store`) and the names missing", body = Data<ResolvedSecrets>), (status = 403, description = "`forbidden`: another member's secrets without `secret:resolve`", body = ErrorEnvelope), (status = 404, description = "`not_found`: `user` is not a member of the caller's organization", body = ErrorEnvelope), (status = 503, description = "`unavailable`: the database cannot be reached, or this server has no master key", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(RESOLVE)))
)]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Query(q): Query<ResolveQuery>,
) -> Result<Response, ApiError> {
    RESOLVE.check(&caller)?;
    let resolver = RESOLVE_FOR_OTHERS.allows(&caller);
    // The count first: no work on a list longer than the limit.
    let bad_names = || ApiError::bad_request(format!("names: give 1–{MAX_RESOLVE} comma-separated secret names"));
    let entries = || q.names.split(',').map(str::trim).filter(|n| !n.is_empty());
    if entries().nth(MAX_RESOLVE).is_some() {
        return Err(bad_names());
    }
    let mut names: Vec<&str> = Vec::with_capacity(MAX_RESOLVE);
    for n in entries() {
        check_name(n)?;
        if !names.contains(&n) {
            names.push(n);
        }
    }
    if names.is_empty() {
        return Err(bad_names());
    }
    let user = match &q.user {
        Some(u) => {
            let id = member_id(&state, &caller.org_id, u).await?;
            if caller.user_id.as_deref() != Some(id.as_str()) && !resolver {
                return Err(ApiError::forbidden(
                    "resolving another member's secrets needs a service key holding `secret:resolve`, which only \
                     the operator mints (`latchkey admin create-service-key`)",
                ));
            }
            Some(id)
        }
        None => caller.user_id.clone(),
    };
    let mut out = ResolvedSecrets { secrets: Vec::new(), missing: Vec::new() };
    let mut found = Vec::new();
    for name in names {
        let own = match &user {
            Some(u) => state.store.get_secret(&caller.org_id, Some(u), name).await?,
            None => None,
        };
        let secret = match own {
            Some(s) => Some(s),
            None => state.store.get_secret(&caller.org_id, None, name).await?,
        };
        match secret {
            Some(s) => found.push(s),
            None => out.missing.push(name.to_owned()),
        }
    }
    for s in &found {
        let value = open(&state, s).await?;
        out.secrets.push(ResolvedSecret {
            name: s.name.clone(),
            scope: scope_of(s),
            id: s.id.to_string(),
            category: s.category.clone(),
            version: s.version,
            value,
        });
    }
    for s in &found {
        audit
            .by(
                &state,
                &caller,
                "secret.reveal",
                Some(("secret", &s.id)),
                json!({"name": s.name, "scope": scope_of(s), "version": s.version, "via": "resolve",
                       "forUserId": user}),
            )
            .await;
    }
    Ok(no_store(out))
}
