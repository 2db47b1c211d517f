//! latchkey's HTTP server: the axum application over a [`Store`] and the
//! [`KeyVerifier`].
//!
//! * `app.rs` — tracing, request ids, body limits around the router.
//! * `routes/` — one module per resource; handlers are thin: authorize in
//!   one line, validate, call storage, shape the view. No route file uses
//!   another: what several share is a module of its own.
//! * `keys.rs` — keys as a service: minting (every path's one grant check),
//!   the key fields' validators, storing a minted key.
//! * `lookup.rs` — what a request names (a project, a member), found in the
//!   caller's organization or 404; `views.rs` — views several routes show.
//! * `extract.rs` — JSON, query and paging with the error envelope, and the
//!   checks of names and emails.
//! * `auth.rs` — who is calling: the [`auth::Caller`] extractor;
//!   `authz.rs` — what they may do: one [`authz::AuthCheck`] per operation.
//! * `dashboard/` — the HTML pages for people, adapters over `routes/`.
//! * `error.rs` — the one error policy.
//! * `openapi.rs` — the OpenAPI document, generated from the routes'
//!   attributes; `routes/reference.rs` serves it and its viewer.
//! * `conn/` — serving connections: limits, timeouts, shutdown deadline.
//! * `forwarded.rs` — the client's address behind trusted proxies.
//! * `workspaces/` — workspaces' files in the object store: presigned URLs
//!   for one object under a workspace's prefix, and listings.
//! * `webhooks/` — webhook endpoints' targets and secrets, the delivery
//!   worker and the scheduler of expiry and credit events.
//! * `rotation.rs` — a rotation's grace period, and the sweeper that
//!   revokes old keys rotated until unused once they are.
//! * `keyring.rs` — the master keys that wrap the organizations' data keys
//!   (the ciphers themselves are in `latchkey_core::crypto`).

mod app;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod conn;
mod dashboard;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod key_writer;
pub mod keyring;
mod keys;
pub mod leaks;
mod lookup;
pub mod metrics;
pub mod oauth;
pub mod oidc;
pub mod openapi;
pub mod outbound;
pub mod rotation;
mod routes;
mod sealing;
pub mod state;
pub mod throttle;
mod views;
pub mod webhooks;
pub mod workspaces;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use latchkey_store::Store;
use latchkey_verify::{KeyVerifier, VerifierConfig};

pub use app::{HOT_PATHS, app};
pub use state::{AppState, Settings, Shared};

/// How often batched key usage is written.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// Builds the state over `store`; with `shared_limits` (Redis) the keys'
/// rate limits are counted across every node using it.
///
/// # Errors
/// `[workspaces.storage]` ([`Settings::workspace_storage`]) is not usable.
pub fn state(
    store: Arc<dyn Store>,
    settings: Settings,
    verifier: &VerifierConfig,
    shared_limits: Option<latchkey_verify::shared_limits::RedisLimiter>,
) -> Result<AppState, workspaces::StorageConfigError> {
    let object_store = settings.workspace_storage.as_ref().map(workspaces::ObjectStore::new).transpose()?;
    // Install the Prometheus recorder first: the verifier registers its
    // metrics when it is built.
    let _ = metrics::handle();
    let mut built =
        KeyVerifier::new(Arc::clone(&store), verifier).with_issued_prefixes(keys::issued_prefixes(&settings.brand));
    if let Some(shared) = shared_limits {
        built = built.with_shared_limits(shared);
    }
    let verifier = Arc::new(built);
    let failed_auth = Arc::new(latchkey_verify::ratelimit::RateLimiter::new());
    let login_failures = Arc::new(throttle::FailureWindow::new(Duration::from_secs(60)));
    let signups = Arc::new(throttle::FailureWindow::new(Duration::from_secs(3600)));
    let oidc = Arc::new(oidc::Providers::new(&settings.oidc));
    let settings = Arc::new(settings);
    let key_writer = Arc::new(key_writer::KeyWriter::new(Arc::clone(&store)));
    Ok(Shared {
        store,
        key_writer,
        verifier,
        settings,
        failed_auth,
        login_failures,
        signups,
        keyring: None,
        oidc,
        object_store,
    }
    .into())
}

/// Applies invalidations published by other nodes (and this one) to this
/// node's key cache, for as long as the server runs.
fn spawn_invalidation_watcher(state: &AppState) -> tokio::task::JoinHandle<()> {
    let store = Arc::clone(&state.store);
    let verifier = Arc::clone(&state.verifier);
    let sink: latchkey_store::InvalidationSink = Arc::new(move |inv| match inv {
        latchkey_store::Invalidation::Keys(hashes) => {
            for hash in &hashes {
                verifier.invalidate(hash);
            }
        }
        latchkey_store::Invalidation::All => {
            tracing::info!("key cache flushed after the invalidation listener reconnected");
            verifier.clear();
        }
    });
    tokio::spawn(async move {
        if let Err(e) = store.watch_invalidations(sink).await {
            tracing::error!(error = %e, "invalidations from other nodes are not received; the cache TTL bounds staleness");
        }
    })
}

/// How often idle failed-authentication budgets are dropped.
const FAILED_AUTH_SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// Drops failed-authentication budgets that are back to full: an address
/// is remembered for at most a minute after its last failure.
fn spawn_failed_auth_sweeper(state: &AppState) -> tokio::task::JoinHandle<()> {
    let failed_auth = Arc::clone(&state.failed_auth);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(FAILED_AUTH_SWEEP_INTERVAL);
        loop {
            every.tick().await;
            failed_auth.sweep(latchkey_core::time_fmt::now_ms());
        }
    })
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains
/// in-flight requests (within the shutdown deadline) and writes pending key
/// usage (within [`Settings::usage_flush_deadline`], spilling the rest to
/// [`Settings::usage_spill_dir`]). Connections are served as [`conn`] describes.
///
/// With `metrics_listener` (bound to [`Settings::metrics_listen`]),
/// `GET /metrics` is served there, with the same connection limits, until
/// the main listener stops.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let flusher = state.verifier.spawn_flusher(USAGE_FLUSH_INTERVAL, state.settings.usage_spill_dir.clone());
    let verifier = Arc::clone(&state.verifier);
    let state_settings = Arc::clone(&state.settings);
    let cached = Arc::clone(&verifier);
    // The key cache: the change log's cursor first, then the warm-up (paced,
    // in the background: requests come first) while following the log, so
    // whatever changes while keys load is evicted (a page read before an
    // eviction is not cached: the cache's epoch).
    let cache_upkeep = tokio::spawn(async move {
        let cursor = cached.change_cursor().await;
        let warm = async {
            let started = std::time::Instant::now();
            match cached.warm(latchkey_core::time_fmt::now_ms(), latchkey_verify::WARM_PAUSE).await {
                Ok(n) => tracing::info!(keys = n, ms = started.elapsed().as_millis(), "key cache warmed"),
                Err(e) => tracing::warn!(error = %e, "could not warm the key cache; keys load on first use"),
            }
        };
        let follow = Arc::clone(&cached).follow_changes(cursor, latchkey_verify::CHANGE_POLL_INTERVAL);
        tokio::join!(warm, follow);
    });
    let watcher = spawn_invalidation_watcher(&state);
    let upkeep = metrics::spawn_upkeep();
    let sweeper = spawn_failed_auth_sweeper(&state);
    let webhook_worker = webhooks::delivery::spawn(state.clone());
    let webhook_scheduler = webhooks::scheduler::spawn(state.clone());
    let rotation_sweeper = rotation::spawn(state.clone());
    // Identity providers that cannot be reached now are retried: the server
    // starts without them.
    let discovery = tokio::spawn(Arc::clone(&state.oidc).discover_all());
    let limits = state.settings.connections.clone();
    let metrics_server = metrics_listener.map(|l| {
        let (router, limits) = (routes::metrics_router(state.clone()), limits.clone());
        tokio::spawn(async move { conn::serve_connections(l, router, &limits, std::future::pending()).await })
    });
    conn::serve_connections(listener, app(state), &limits, shutdown).await;
    if let Some(task) = metrics_server {
        task.abort();
    }
    sweeper.abort();
    webhook_worker.abort();
    webhook_scheduler.abort();
    discovery.abort();
    cache_upkeep.abort();
    watcher.abort();
    upkeep.abort();
    rotation_sweeper.stop().await;
    let started = std::time::Instant::now();
    let (deadline, spill_dir) = (state_settings.usage_flush_deadline, state_settings.usage_spill_dir.as_deref());
    match verifier.flush_at_shutdown(flusher, deadline, spill_dir).await {
        Ok(done) => tracing::info!(
            flushed = done.flushed,
            spilled = done.spilled,
            spill = done.spill.as_ref().map(|p| p.display().to_string()),
            unwritten = verifier.pending_usage(),
            ms = started.elapsed().as_millis(),
            "key usage written at shutdown"
        ),
        Err(e) => tracing::error!(
            error = %e,
            unwritten = verifier.pending_usage(),
            ms = started.elapsed().as_millis(),
            "could not spill the key usage left at shutdown"
        ),
    }
    Ok(())
}
