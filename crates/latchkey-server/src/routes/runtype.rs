//! The Runtype profile (`reference/004_…`): minimal products and surfaces,
//! and `POST /v1/products/{id}/surfaces/{surfaceId}/keys`, which mints an
//! organization-owned `sk_live_…` / `sk_test_…` key bound to the surface.
//! Runtype scopes (`read:products`) are stored canonically (`products:read`)
//! and shown back as given; the key's per-minute and per-day limits are the
//! native ones, so verify and forward auth enforce them.
//!
//! Products, surfaces and their keys belong to the organization: creating
//! them needs `org:write` (admins), reading them `org:read`. Another
//! organization's product or surface is a 404.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::runtype::{
    CreateProduct, CreateSurface, CreateSurfaceKey, ProductView, SurfaceKeyView, SurfaceView,
};
use latchkey_api_types::{ErrorEnvelope, Paged};
use latchkey_core::id::{IdKind, ProductId, SurfaceId, is_valid};
use latchkey_core::profiles::runtype_scope;
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_core::{Environment, IssuedKey, KeyPrefix, KeyState, ScopeSet};
use latchkey_store::{KeyKind, Product, Surface};
use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, ORG_READ, ORG_WRITE};
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJson, PageQuery, Query, check_name, paginate};
use crate::keys::{KeySpec, check_limit, check_scope_count, expiry, key_policy, mint, store_minted};
use crate::state::AppState;

fn product_view(p: &Product) -> ProductView {
    ProductView { id: p.id.to_string(), name: p.name.clone(), created_at: to_rfc3339(p.created_at) }
}

fn surface_view(s: &Surface) -> SurfaceView {
    SurfaceView {
        id: s.id.to_string(),
        product_id: s.product_id.to_string(),
        name: s.name.clone(),
        created_at: to_rfc3339(s.created_at),
    }
}

/// A product of the caller's organization, or 404.
async fn find_product(state: &AppState, caller: &Caller, id: &ProductId) -> Result<Product, ApiError> {
    if !is_valid(IdKind::Product, id) {
        return Err(ApiError::not_found("product"));
    }
    state.store.get_product(&caller.org_id, id).await?.ok_or_else(|| ApiError::not_found("product"))
}

/// A surface of a product of the caller's organization, or 404.
async fn find_surface(
    state: &AppState,
    caller: &Caller,
    product_id: &ProductId,
    id: &SurfaceId,
) -> Result<Surface, ApiError> {
    let product = find_product(state, caller, product_id).await?;
    if !is_valid(IdKind::Surface, id) {
        return Err(ApiError::not_found("surface"));
    }
    state.store.get_surface(&caller.org_id, &product.id, id).await?.ok_or_else(|| ApiError::not_found("surface"))
}

/// Who may call [`create_product`].
const CREATE_PRODUCT: AuthCheck = AuthCheck::any().scope(ORG_WRITE);

/// `POST /v1/products` `{name}` → 201.
#[utoipa::path(
    post,
    path = "/v1/products",
    operation_id = "createProduct",
    tag = "runtype",
    request_body = CreateProduct,
    responses((status = 201, description = "The product", body = ProductView)),
    extensions(("x-latchkey-auth" = json!(CREATE_PRODUCT)))
)]
pub async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<CreateProduct>,
) -> Result<(StatusCode, Json<ProductView>), ApiError> {
    CREATE_PRODUCT.check(&caller)?;
    let product = Product {
        id: ProductId::new(),
        org_id: caller.org_id.clone(),
        name: check_name(&req.name)?,
        created_at: now_ms(),
    };
    let event =
        audit.event_by(&caller, "product.create", Some(("product", &product.id)), &json!({"name": product.name}));
    state.store.insert_product(&product, &event).await?;
    Ok((StatusCode::CREATED, Json(product_view(&product))))
}

/// Who may call [`list_products`].
const LIST_PRODUCTS: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/products`: the organization's products, newest first.
#[utoipa::path(
    get,
    path = "/v1/products",
    operation_id = "listProducts",
    tag = "runtype",
    params(PageQuery),
    responses((status = 200, description = "A page of products, newest first", body = Paged<ProductView>)),
    extensions(("x-latchkey-auth" = json!(LIST_PRODUCTS)))
)]
pub async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<ProductView>>, ApiError> {
    LIST_PRODUCTS.check(&caller)?;
    let page = q.page()?;
    let rows = state.store.list_products(&caller.org_id, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |p| &p.id);
    Ok(Json(Paged { data: rows.iter().map(product_view).collect(), next_cursor }))
}

/// Who may call [`get_product`].
const GET_PRODUCT: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/products/{id}`
#[utoipa::path(
    get,
    path = "/v1/products/{id}",
    operation_id = "getProduct",
    tag = "runtype",
    params(("id" = String, Path, description = "The product (`prd_…`)")),
    responses((status = 200, description = "The product", body = ProductView), (status = 404, description = "`not_found`: no such product in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GET_PRODUCT)))
)]
pub async fn get_product(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ProductId>,
) -> Result<Json<ProductView>, ApiError> {
    GET_PRODUCT.check(&caller)?;
    Ok(Json(product_view(&find_product(&state, &caller, &id).await?)))
}

/// Who may call [`create_surface`].
const CREATE_SURFACE: AuthCheck = AuthCheck::any().scope(ORG_WRITE);

/// `POST /v1/products/{id}/surfaces` `{name}` → 201.
#[utoipa::path(
    post,
    path = "/v1/products/{id}/surfaces",
    operation_id = "createSurface",
    tag = "runtype",
    params(("id" = String, Path, description = "The product (`prd_…`)")),
    request_body = CreateSurface,
    responses((status = 201, description = "The surface", body = SurfaceView), (status = 404, description = "`not_found`: no such product in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CREATE_SURFACE)))
)]
pub async fn create_surface(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(product_id): Path<ProductId>,
    JsonBody(req): JsonBody<CreateSurface>,
) -> Result<(StatusCode, Json<SurfaceView>), ApiError> {
    CREATE_SURFACE.check(&caller)?;
    let product = find_product(&state, &caller, &product_id).await?;
    let surface = Surface {
        id: SurfaceId::new(),
        org_id: caller.org_id.clone(),
        product_id: product.id,
        name: check_name(&req.name)?,
        created_at: now_ms(),
    };
    let details = json!({"name": surface.name, "productId": surface.product_id});
    let event = audit.event_by(&caller, "surface.create", Some(("surface", &surface.id)), &details);
    state.store.insert_surface(&surface, &event).await?;
    Ok((StatusCode::CREATED, Json(surface_view(&surface))))
}

/// Who may call [`list_surfaces`].
const LIST_SURFACES: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/products/{id}/surfaces`
#[utoipa::path(
    get,
    path = "/v1/products/{id}/surfaces",
    operation_id = "listSurfaces",
    tag = "runtype",
    params(("id" = String, Path, description = "The product (`prd_…`)"), PageQuery),
    responses((status = 200, description = "A page of the product's surfaces", body = Paged<SurfaceView>), (status = 404, description = "`not_found`: no such product in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(LIST_SURFACES)))
)]
pub async fn list_surfaces(
    State(state): State<AppState>,
    caller: Caller,
    Path(product_id): Path<ProductId>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<SurfaceView>>, ApiError> {
    LIST_SURFACES.check(&caller)?;
    let product = find_product(&state, &caller, &product_id).await?;
    let page = q.page()?;
    let rows = state.store.list_surfaces(&caller.org_id, &product.id, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |s| &s.id);
    Ok(Json(Paged { data: rows.iter().map(surface_view).collect(), next_cursor }))
}

/// Who may call [`get_surface`].
const GET_SURFACE: AuthCheck = AuthCheck::any().scope(ORG_READ);

/// `GET /v1/products/{id}/surfaces/{surfaceId}`
#[utoipa::path(
    get,
    path = "/v1/products/{id}/surfaces/{surfaceId}",
    operation_id = "getSurface",
    tag = "runtype",
    params(("id" = String, Path, description = "The product (`prd_…`)"), ("surfaceId" = String, Path, description = "The surface (`srf_…`)")),
    responses((status = 200, description = "The surface", body = SurfaceView), (status = 404, description = "`not_found`: no such product or surface in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(GET_SURFACE)))
)]
pub async fn get_surface(
    State(state): State<AppState>,
    caller: Caller,
    Path((product_id, id)): Path<(ProductId, SurfaceId)>,
) -> Result<Json<SurfaceView>, ApiError> {
    GET_SURFACE.check(&caller)?;
    Ok(Json(surface_view(&find_surface(&state, &caller, &product_id, &id).await?)))
}

/// The environment of a surface key: `test` (default), `production` or its
/// alias `live`.
fn environment(given: Option<&str>) -> Result<Environment, ApiError> {
    match given {
        None | Some("test") => Ok(Environment::Test),
        Some("production" | "live") => Ok(Environment::Live),
        Some(other) => {
            Err(ApiError::bad_request(format!("environment must be `test` or `production` (or `live`), not `{other}`")))
        }
    }
}

/// Who may call [`create_surface_key`].
const CREATE_SURFACE_KEY: AuthCheck = AuthCheck::any().scope(ORG_WRITE);

/// `POST /v1/products/{id}/surfaces/{surfaceId}/keys` → 201 with exactly
/// the documented fields; the plaintext is in this response only.
#[utoipa::path(
    post,
    path = "/v1/products/{id}/surfaces/{surfaceId}/keys",
    operation_id = "createSurfaceKey",
    tag = "runtype",
    params(("id" = String, Path, description = "The product (`prd_…`)"), ("surfaceId" = String, Path, description = "The surface (`srf_…`)")),
    request_body = Option<CreateSurfaceKey>,
    responses((status = 201, description = "Surface key created", body = SurfaceKeyView), (status = 400, description = "Bad Request Error: an invalid field, or scopes not `action:resource` (`invalid_scopes`)", body = ErrorEnvelope), (status = 403, description = "Forbidden Error: the caller lacks `org:write`, or may not grant the scopes", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such product or surface in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CREATE_SURFACE_KEY)))
)]
pub async fn create_surface_key(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path((product_id, surface_id)): Path<(ProductId, SurfaceId)>,
    OptionalJson(req): OptionalJson<CreateSurfaceKey>,
) -> Result<(StatusCode, Json<SurfaceKeyView>), ApiError> {
    CREATE_SURFACE_KEY.check(&caller)?;
    let surface = find_surface(&state, &caller, &product_id, &surface_id).await?;
    let now = now_ms();
    let name = req.name.as_deref().map(check_name).transpose()?;
    let given = req.scopes.unwrap_or_default();
    check_scope_count(given.len())?;
    let mut scopes = Vec::with_capacity(given.len());
    let mut bad = Vec::new();
    for s in &given {
        match runtype_scope(s) {
            Some(scope) => scopes.push(scope),
            None => bad.push(s.clone()),
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scopes",
            format!("scopes must be `action:resource` (such as `read:products`): {}", bad.join(", ")),
        ));
    }
    let scopes = ScopeSet::from_scopes(scopes);
    let environment = environment(req.environment.as_deref())?;
    let spec = KeySpec {
        environment,
        rate_limit_per_minute: check_limit("rateLimitPerMinute", req.rate_limit_per_minute)?,
        rate_limit_per_day: check_limit("rateLimitPerDay", req.rate_limit_per_day)?,
        expires_at: expiry(None, req.expires_at.as_deref(), now)?,
        surface_id: Some(surface.id.clone()),
        ..KeySpec::new(&caller, name.clone().unwrap_or_default(), KeyKind::Standard, scopes)
    }
    // Surface keys belong to the organization: they outlive their creator's membership.
    .owned_by_org();
    let prefix = KeyPrefix::branded(crate::keys::RUNTYPE_BRAND, environment)
        .map_err(|_| ApiError::internal(&std::io::Error::other("invalid profile key prefix")))?;
    let policy = key_policy(&state, &caller.org_id).await?;
    let minted = mint(&prefix, spec, &caller, now, &policy)?;
    let details = json!({
        "profile": "runtype",
        "surfaceId": surface.id,
        "name": minted.record.name,
        "scopes": minted.record.scopes,
    });
    let stored = store_minted(&state, &caller, &audit, &minted, details).await?;
    let view = SurfaceKeyView {
        id: stored.id.to_string(),
        surface_id: surface.id.into(),
        name,
        key: minted.plain.expose().to_owned(),
        key_prefix: stored.key_prefix.to_string(),
        key_hint: Some(stored.key_hint.clone()),
        scopes: given,
        rate_limit_per_minute: stored.rate_limit_per_minute,
        rate_limit_per_day: stored.rate_limit_per_day,
        expires_at: stored.expires_at.map(to_rfc3339),
        is_active: stored.status(now) == KeyState::Valid,
        environment: match stored.environment {
            Environment::Live => "production",
            Environment::Test => "test",
        }
        .to_owned(),
        created_at: to_rfc3339(stored.created_at),
    };
    Ok((StatusCode::CREATED, Json(view)))
}
