//! The router: one module per resource, plus one per compatibility profile
//! (`runloop`, `runtype`) and the contract's own (`reference`).
//!
//! Every route is registered from its handler's `#[utoipa::path]`
//! attribute (`utoipa_axum::routes!`), so the router and the OpenAPI
//! document ([`crate::openapi`]) are built from one list: [`public`] and
//! [`authenticated`]. Only two routes are outside it: `/metrics` is added
//! here when it has no listener of its own (it is documented all the same),
//! and `/bench/echo` exists only for the benchmarks.

pub(crate) mod api_keys;
pub(crate) mod cli_login;
pub(crate) mod device;
pub(crate) mod explain;
mod health;
pub(crate) mod identities;
pub(crate) mod key_policy;
mod leaks;
pub(crate) mod me;
pub(crate) mod oauth;
pub(crate) mod orgs;
pub(crate) mod people;
pub(crate) mod projects;
mod reference;
mod runloop;
mod runtype;
pub(crate) mod secrets;
pub(crate) mod ssh_keys;
pub(crate) mod sso;
mod verify;
pub(crate) mod webhooks;
pub(crate) mod workspaces;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

/// The routes behind the authentication middleware ([`crate::auth::authenticate`]).
fn authenticated() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me::me))
        .routes(routes!(me::scopes))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(batch_body(routes!(api_keys::batch::create_batch)))
        .routes(body_limit(routes!(api_keys::import::import), crate::extract::MAX_IMPORT_BODY))
        .routes(routes!(api_keys::export::export))
        .routes(routes!(api_keys::get, api_keys::update, api_keys::delete))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(api_keys::rotate::rotate))
        .routes(routes!(api_keys::usage))
        .routes(routes!(api_keys::transfer))
        .routes(routes!(api_keys::leak::report_leak))
        .routes(routes!(explain::explain))
        .routes(routes!(projects::create, projects::list))
        .routes(routes!(projects::get, projects::update, projects::delete))
        .routes(routes!(people::logout))
        .routes(routes!(identities::list))
        .routes(routes!(identities::unlink))
        .routes(routes!(people::list))
        .routes(routes!(people::revoke))
        .routes(routes!(orgs::switch))
        .routes(routes!(orgs::list, orgs::create))
        .routes(routes!(orgs::get, orgs::update))
        .routes(routes!(key_policy::get, key_policy::put))
        .routes(routes!(orgs::members))
        .routes(routes!(orgs::update_member, orgs::remove_member))
        .routes(routes!(orgs::invitations, orgs::invite))
        .routes(routes!(orgs::revoke_invitation))
        .routes(routes!(orgs::accept))
        .routes(routes!(orgs::accept_in_path))
        .routes(routes!(orgs::audit_events))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::resolve))
        .routes(routes!(secrets::get, secrets::put, secrets::delete))
        .routes(routes!(secrets::reveal))
        .routes(routes!(ssh_keys::list, ssh_keys::create))
        .routes(routes!(ssh_keys::authorized_keys))
        .routes(routes!(ssh_keys::delete))
        .routes(routes!(ssh_keys::set_default))
        .routes(routes!(oauth::providers::list))
        .routes(routes!(oauth::providers::put, oauth::providers::delete))
        .routes(routes!(oauth::connect::start))
        .routes(routes!(oauth::connect::get))
        .routes(routes!(oauth::connections::list))
        .routes(routes!(oauth::connections::delete))
        .routes(routes!(oauth::connections::set_default))
        .routes(routes!(oauth::token::token))
        .routes(routes!(workspaces::records::create, workspaces::records::list))
        .routes(routes!(workspaces::records::get, workspaces::records::update, workspaces::records::delete))
        .routes(routes!(workspaces::mounts::mount))
        .routes(routes!(workspaces::files::presign))
        .routes(routes!(workspaces::files::list))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::retry))
        // Runloop profile (reference 003).
        .routes(routes!(runloop::create_api_key))
        .routes(routes!(runloop::create_restricted_key))
        // Runtype profile (reference 004).
        .routes(routes!(runtype::create_product, runtype::list_products))
        .routes(routes!(runtype::get_product))
        .routes(routes!(runtype::create_surface, runtype::list_surfaces))
        .routes(routes!(runtype::get_surface))
        .routes(routes!(runtype::create_surface_key))
}

/// `route` with the batch body limit ([`crate::extract::MAX_BATCH_BODY`])
/// instead of the default one.
fn batch_body(route: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    body_limit(route, crate::extract::MAX_BATCH_BODY)
}

/// `route` with a body limit of `max` bytes instead of the default one.
fn body_limit(route: UtoipaMethodRouter<AppState>, max: usize) -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, method) = route;
    (schemas, paths, method.layer(DefaultBodyLimit::max(max)))
}

/// The routes without the middleware: public ones, and the two hot ones,
/// which authenticate what they are given themselves.
fn public() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(crate::metrics::readyz))
        .routes(routes!(people::signup))
        .routes(routes!(people::signup_invited))
        .routes(routes!(people::login))
        .routes(routes!(sso::providers))
        .routes(routes!(sso::start))
        .routes(routes!(sso::callback))
        .routes(routes!(oauth::callback::authorize))
        .routes(routes!(oauth::callback::callback))
        .routes(routes!(cli_login::token))
        .routes(routes!(device::code))
        .routes(routes!(device::token))
        .routes(routes!(verify::auth_check, verify::auth_check_post))
        .routes(routes!(verify::verify))
        .routes(batch_body(routes!(leaks::report_leaks)))
        .routes(routes!(workspaces::mounts::grant_keys))
        .routes(routes!(reference::openapi))
        .routes(routes!(reference::docs))
        .routes(routes!(reference::docs_file))
}

/// Every documented route, on the document's fixed parts: what
/// [`crate::openapi::document`] is made of.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .merge(public())
        .merge(authenticated())
        .routes(routes!(crate::metrics::metrics))
}

/// Every route of the native API.
pub fn router(state: AppState) -> Router {
    let (authenticated, _) = authenticated().split_for_parts();
    let authenticated = authenticated.route_layer(from_fn_with_state(state.clone(), crate::auth::authenticate));
    let (mut public, _) = public().split_for_parts();
    if state.settings.metrics_listen.is_none() {
        public = public.route("/metrics", get(crate::metrics::metrics));
    }
    if state.settings.bench_echo {
        public = public.route("/bench/echo", post(verify::echo));
    }
    public
        .merge(authenticated)
        .merge(crate::dashboard::router())
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
