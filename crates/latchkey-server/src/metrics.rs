//! `GET /metrics` (Prometheus text format) and `GET /readyz`.
//!
//! Counters and histograms are recorded where things happen (the verifier
//! counts outcomes, cache hits and misses, rate-limit rejections and
//! fallbacks, and times each check); gauges that describe state (database
//! pool, cache size) are sampled when the page is rendered.
//!
//! | metric | type |
//! |---|---|
//! | `latchkey_verify_total{outcome}` | counter: checks by verdict (`VALID`, `REVOKED`, …), verify and authentication alike |
//! | `latchkey_verify_duration_seconds` | histogram: time of one check |
//! | `latchkey_key_cache_hits_total`, `latchkey_key_cache_misses_total` | counters: hit ratio = hits / (hits + misses) |
//! | `latchkey_ratelimit_rejections_total` | counter: requests refused by a key's rate limit |
//! | `latchkey_ratelimit_fallback_total` | counter: checks decided on this node because Redis was unreachable |
//! | `latchkey_db_pool_connections{state}` | gauge: `open` and `idle` connections |
//! | `latchkey_key_cache_entries` | gauge: cached key records (positive and negative) |
//! | `latchkey_key_cache_bytes` | gauge: what they weigh against the key cache's budget (`--key-cache-mib`) |
//! | `latchkey_usage_pending_keys` | gauge: keys whose usage is not yet written (set after each flush) |
//! | `latchkey_usage_flushed_keys_total` | counter: keys whose usage a flush wrote (its rate is the flush rate) |
//! | `latchkey_connections_refused_total` | counter: connections answered 503 at the connection limit |

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_api_types::ErrorEnvelope;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::state::AppState;

/// Buckets of the check-time histogram, in seconds (10 µs … 1 s).
const DURATION_BUCKETS: [f64; 12] = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 5e-2, 0.25, 1.0];

/// The process-wide Prometheus recorder, installed on first use. `None` if
/// another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("latchkey_verify_duration_seconds".to_owned()), &DURATION_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Drains recorded histogram samples into their buckets every second. Without
/// it the recorder keeps every sample until the next scrape: memory would
/// grow with traffic on a server nobody scrapes.
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            if let Some(h) = handle() {
                h.run_upkeep();
            }
        }
    })
}

/// Who may call [`metrics`]: anyone, or the bearer of the configured
/// `metrics_token` (not a key).
const METRICS: AuthCheck = AuthCheck::public();

/// `GET /metrics`: public, or with `metrics_token` set only for
/// `Authorization: Bearer <token>` (else 401).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "health",
    responses((status = 200, description = "Prometheus metrics", content_type = "text/plain", body = String), (status = 401, description = "`unauthorized`: a `metrics_token` is configured and this is not it (`Authorization: Bearer`)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(METRICS)))
)]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.settings.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if !presented.is_some_and(|t| token.matches(t)) {
            return ApiError::unauthorized().into_response();
        }
    }
    let Some(handle) = handle() else {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "metrics are not recorded")
            .into_response();
    };
    let pool = state.store.pool_stats();
    metrics::gauge!("latchkey_db_pool_connections", "state" => "open").set(f64::from(pool.size));
    metrics::gauge!("latchkey_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    #[expect(clippy::cast_precision_loss, reason = "a gauge; exact below 2^53 entries")]
    metrics::gauge!("latchkey_key_cache_entries").set(state.verifier.cached() as f64);
    #[expect(clippy::cast_precision_loss, reason = "a gauge; exact below 2^53 bytes")]
    metrics::gauge!("latchkey_key_cache_bytes").set(state.verifier.cached_bytes() as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

/// Who may call [`readyz`].
const READYZ: AuthCheck = AuthCheck::public();

/// `GET /readyz`: 200 when the database (and Redis, if configured) answer;
/// 503 `unavailable` naming what does not.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "getReadiness",
    tag = "health",
    responses((status = 200, description = "The database (and Redis, when configured) answer", body = Object), (status = 503, description = "`unavailable`: the database or Redis does not answer", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(READYZ)))
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let database = state.store.ping().await.err().map(|e| format!("database: {e}"));
    let redis = match state.verifier.shared_limits() {
        Some(redis) => redis.ping().await.err().map(|e| format!("redis: {e}")),
        None => None,
    };
    let down: Vec<String> = database.into_iter().chain(redis).collect();
    if down.is_empty() {
        let redis = if state.verifier.shared_limits().is_some() { "ok" } else { "not configured" };
        axum::Json(json!({"status": "ready", "database": "ok", "redis": redis})).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", down.join("; ")).into_response()
    }
}
