//! The router: one module per resource, plus one per compatibility profile
//! (`runloop`, `runtype`).

mod api_keys;
mod health;
mod me;
mod orgs;
mod people;
mod projects;
mod runloop;
mod runtype;
mod secrets;
mod ssh_keys;
mod verify;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, patch, post};

use crate::error::ApiError;
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
        .route("/v1/api-keys/{id}/transfer", post(api_keys::transfer))
        .route("/v1/auth/logout", post(people::logout))
        .route("/v1/sessions", get(people::list))
        .route("/v1/sessions/{id}", delete(people::revoke))
        .route("/v1/me/org", post(orgs::switch))
        .route("/v1/orgs", get(orgs::list).post(orgs::create))
        .route("/v1/orgs/{id}", get(orgs::get).patch(orgs::update))
        .route("/v1/members", get(orgs::members))
        .route("/v1/members/{user_id}", patch(orgs::update_member).delete(orgs::remove_member))
        .route("/v1/invitations", get(orgs::invitations).post(orgs::invite))
        .route("/v1/invitations/{id}", delete(orgs::revoke_invitation))
        .route("/v1/invitations/accept", post(orgs::accept))
        .route("/v1/invitations/{id}/accept", post(orgs::accept_in_path))
        .route("/v1/audit-events", get(orgs::audit_events))
        .route("/v1/secrets", get(secrets::list))
        .route("/v1/secrets/resolve", get(secrets::resolve))
        .route("/v1/secrets/{name}", get(secrets::get).put(secrets::put).delete(secrets::delete))
        .route("/v1/secrets/{name}/reveal", post(secrets::reveal))
        .route("/v1/ssh-keys", get(ssh_keys::list).post(ssh_keys::create))
        .route("/v1/ssh-keys/authorized-keys", get(ssh_keys::authorized_keys))
        .route("/v1/ssh-keys/{id}", delete(ssh_keys::delete))
        .route("/v1/ssh-keys/{id}/default", post(ssh_keys::set_default))
        // Runloop profile (reference 003).
        .route("/v1/apikeys", post(runloop::create_api_key))
        .route("/v1/restricted_keys", post(runloop::create_restricted_key))
        // Runtype profile (reference 004).
        .route("/v1/products", post(runtype::create_product).get(runtype::list_products))
        .route("/v1/products/{id}", get(runtype::get_product))
        .route("/v1/products/{id}/surfaces", post(runtype::create_surface).get(runtype::list_surfaces))
        .route("/v1/products/{id}/surfaces/{surface_id}", get(runtype::get_surface))
        .route("/v1/products/{id}/surfaces/{surface_id}/keys", post(runtype::create_surface_key))
        .route_layer(from_fn_with_state(state.clone(), crate::auth::authenticate));
    let mut public = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(crate::metrics::readyz))
        .route("/v1/auth/signup", post(people::signup))
        .route("/v1/auth/login", post(people::login));
    if state.settings.metrics_listen.is_none() {
        public = public.route("/metrics", get(crate::metrics::metrics));
    }
    if state.settings.bench_echo {
        public = public.route("/bench/echo", post(verify::echo));
    }
    public
        .route("/v1/auth/check", get(verify::auth_check).post(verify::auth_check))
        // Authenticates its caller itself (the hot path skips the middleware).
        .route("/v1/keys/verify", post(verify::verify))
        .merge(authenticated)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// `GET /metrics` alone, for its own listener (`metrics_listen`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(crate::metrics::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}
