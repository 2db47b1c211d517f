//! The router: one module per resource.

mod api_keys;
mod health;
mod me;
mod projects;
mod verify;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::extract::MAX_BODY;
use crate::state::AppState;

/// Every route of the native API.
pub fn router(state: AppState) -> Router {
    let authenticated = Router::new()
        .route("/v1/me", get(me::me))
        .route("/v1/scopes", get(me::scopes))
        .route("/v1/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/v1/api-keys/{id}", get(api_keys::get).patch(api_keys::update).delete(api_keys::delete))
        .route("/v1/api-keys/{id}/revoke", post(api_keys::revoke))
        .route("/v1/api-keys/{id}/rotate", post(api_keys::rotate))
        .route("/v1/projects", post(projects::create).get(projects::list))
        .route("/v1/projects/{id}", get(projects::get).patch(projects::update).delete(projects::delete))
        .route("/v1/api-keys/{id}/usage", get(api_keys::usage))
        .route("/v1/keys/verify", post(verify::verify))
        .route_layer(from_fn_with_state(state.clone(), crate::auth::authenticate));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/v1/auth/check", get(verify::auth_check).post(verify::auth_check))
        .merge(authenticated)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}
