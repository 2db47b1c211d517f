//! The application as one service: request ids, tracing and the body limit
//! around the router.
//!
//! The layers wrap the router once, not each route (`Router::layer` boxes
//! every route again per layer, and each request then clones the nested
//! boxes: 15 allocations per request for four layers).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::response::Response;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{MakeSpan, Trace, TraceLayer};

use crate::extract::MAX_BODY;
use crate::state::AppState;

/// The routes the platform's services call on every request of their
/// customers. They are traced only when their `debug` span is enabled
/// (`LATCHKEY_LOG=latchkey_server=debug`) when the server starts: the trace
/// layer reads the clock four times per request and wraps the response
/// body even for a disabled span. Their log lines (refusals, errors) then
/// carry no request id.
pub const HOT_PATHS: [&str; 2] = ["/v1/keys/verify", "/v1/auth/check"];

/// The request id header.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `serve --bench-echo`'s route, verify's baseline in the benchmarks: as
/// untraced as the hot paths.
const BENCH_ECHO: &str = "/bench/echo";

/// The whole application: routes plus request ids, tracing and the body
/// limit, ready for `axum::serve`.
pub fn app(
    state: AppState,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let request_id = X_REQUEST_ID;
    let router = crate::routes::router(state);
    ServiceBuilder::new()
        .layer_fn(|inner| SaneRequestId { inner })
        .layer(SetRequestIdLayer::new(request_id.clone(), RequestIds::new()))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .service(TracedUnlessHot {
            traced: TraceLayer::new_for_http().make_span_with(RequestSpan).layer(router.clone()),
            plain: router,
            trace_hot: tracing::span_enabled!(tracing::Level::DEBUG),
        })
}

/// Each request's span: `info` level, `debug` for [`HOT_PATHS`].
#[derive(Clone, Copy)]
struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &Request<B>) -> tracing::Span {
        let id = || req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        let path = req.uri().path();
        if HOT_PATHS.contains(&path) {
            tracing::debug_span!("request", method = %req.method(), path = %path, request_id = %id())
        } else {
            tracing::info_span!("request", method = %req.method(), path = %loggable_path(path), request_id = %id())
        }
    }
}

/// A path as it may be logged: the token of `POST
/// /v1/invitations/{token}/accept` (any segment after `/v1/invitations/`
/// that is followed by another) and any segment that starts like a session
/// or invitation token (`lks_`, `lki_`) replaced by `…`.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const INVITATIONS: &str = "/v1/invitations/";
    let secret =
        |seg: &str| seg.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("lks_") || p.eq_ignore_ascii_case("lki_"));
    let token_at = path
        .get(..INVITATIONS.len())
        .filter(|p| p.eq_ignore_ascii_case(INVITATIONS))
        .and_then(|_| path[INVITATIONS.len()..].find('/'))
        .map(|end| INVITATIONS.len()..INVITATIONS.len() + end);
    if token_at.is_none() && !path.split('/').any(secret) {
        return path.into();
    }
    let mut out = String::with_capacity(path.len());
    let mut at = 0;
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let whole = at..at + seg.len();
        let redact = secret(seg) || token_at.as_ref().is_some_and(|t| *t == whole && !seg.is_empty());
        out.push_str(if redact { "…" } else { seg });
        at = whole.end + 1;
    }
    out.into()
}

/// Request ids: a random per-process prefix (a ULID) and a counter. As
/// unique as UUIDs across nodes, without the system call for randomness
/// that `MakeRequestUuid` makes on every request.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let prefix = ulid::Ulid::new().to_string().to_lowercase();
        Self { prefix: prefix.into(), next: Arc::new(AtomicU64::new(0)) }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::try_from(request_id(&self.prefix, n)).ok().map(RequestId::new)
    }
}

/// `{prefix}-{n:x}`, written without the formatting machinery (a tenth of
/// its instructions, on every request).
fn request_id(prefix: &str, n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (u64::BITS - n.leading_zeros()).div_ceil(4).max(1);
    let mut id = String::with_capacity(prefix.len() + 1 + 16);
    id.push_str(prefix);
    id.push('-');
    for i in (0..digits).rev() {
        id.push(char::from(HEX[((n >> (i * 4)) & 0xf) as usize]));
    }
    id
}

/// The longest request id kept from a client.
const MAX_REQUEST_ID: usize = 128;

/// Whether a client's `x-request-id` is kept: 1 to [`MAX_REQUEST_ID`]
/// characters of `A-Z a-z 0-9 . _ : -`. Any other is replaced by one of ours,
/// so that what lands in logs and the audit trail is short and printable.
fn sane_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Drops a client's `x-request-id` that is not [`sane_request_id`] (every
/// copy of it), so that `SetRequestId` makes one. `SetRequestId` alone keeps
/// whatever the client sent.
#[derive(Clone)]
struct SaneRequestId<S> {
    inner: S,
}

impl<S: Service<Request<Body>>> Service<Request<Body>> for SaneRequestId<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let headers = req.headers_mut();
        let mut ids = headers.get_all(X_REQUEST_ID).iter();
        let keep = match (ids.next(), ids.next()) {
            (None, _) => true,
            (Some(id), None) => sane_request_id(id.as_bytes()),
            (Some(_), Some(_)) => false,
        };
        if !keep {
            headers.remove(X_REQUEST_ID);
        }
        self.inner.call(req)
    }
}

/// [`Trace`] for every request but those of [`HOT_PATHS`] (and the bench
/// route that is their baseline), unless `trace_hot`.
#[derive(Clone)]
struct TracedUnlessHot<S> {
    traced: Trace<S, SharedClassifier<ServerErrorsAsFailures>, RequestSpan>,
    plain: S,
    trace_hot: bool,
}

impl<S> Service<Request<Body>> for TracedUnlessHot<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = MaybeTraced<
        S::Future,
        <Trace<S, SharedClassifier<ServerErrorsAsFailures>, RequestSpan> as Service<Request<Body>>>::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        ready!(self.plain.poll_ready(cx))?;
        self.traced.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let path = req.uri().path();
        if !self.trace_hot && (HOT_PATHS.contains(&path) || path == BENCH_ECHO) {
            MaybeTraced::Plain { fut: self.plain.call(req) }
        } else {
            MaybeTraced::Traced { fut: self.traced.call(req) }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of [`TracedUnlessHot`]: the router's own, or the
    /// traced one with its body boxed.
    #[project = MaybeTracedProj]
    enum MaybeTraced<P, T> {
        Plain { #[pin] fut: P },
        Traced { #[pin] fut: T },
    }
}

impl<P, T, B> Future for MaybeTraced<P, T>
where
    P: Future<Output = Result<Response, Infallible>>,
    T: Future<Output = Result<Response<B>, Infallible>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, Infallible>;

    /// A handler that panics answers 500 with the envelope, instead of the
    /// connection being dropped without an answer (the future is not polled
    /// again: this poll is its last).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match self.project() {
            MaybeTracedProj::Plain { fut } => fut.poll(cx),
            MaybeTracedProj::Traced { fut } => fut.poll(cx).map(|res| res.map(|r| r.map(Body::new))),
        }))
        .unwrap_or_else(|_| {
            tracing::error!("a request handler panicked; answered 500");
            Poll::Ready(Ok(axum::response::IntoResponse::into_response(crate::error::ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log (x-request-id)",
            ))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_envelope_on_hot_and_traced_routes() {
        use tower::ServiceExt as _;
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let router = axum::Router::new()
            .route("/v1/keys/verify", axum::routing::post(boom))
            .route("/v1/projects", axum::routing::post(boom));
        let app = TracedUnlessHot {
            traced: TraceLayer::new_for_http().make_span_with(RequestSpan).layer(router.clone()),
            plain: router,
            trace_hot: false,
        };
        for path in ["/v1/keys/verify", "/v1/projects"] {
            let req = Request::post(path).body(Body::empty()).unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), 500, "{path}");
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], "internal", "{path}");
        }
    }

    #[test]
    fn d12_only_short_plain_request_ids_are_kept() {
        for good in ["a", "req-1", "01HZX.abc_def:42", &"x".repeat(128)] {
            assert!(sane_request_id(good.as_bytes()), "{good}");
        }
        for bad in ["", &"x".repeat(129), "a b", "a\u{1b}[31m", "a\tb", "é", "a/b", "<script>", "a\0"] {
            assert!(!sane_request_id(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn d06_tokens_never_reach_a_logged_path() {
        let cases = [
            ("/v1/invitations/lki_secret/accept", "/v1/invitations/…/accept"),
            ("/V1/Invitations/%6Cki_secret/accept", "/V1/Invitations/…/accept"),
            ("/v1/invitations/anything/accept/", "/v1/invitations/…/accept/"),
            ("/v1/invitations/inv_01abc", "/v1/invitations/inv_01abc"),
            ("/v1/invitations/accept", "/v1/invitations/accept"),
            ("/v1/sessions/LKS_token", "/v1/sessions/…"),
            ("/x/lki_a/y", "/x/…/y"),
            ("/v1/api-keys/key_01/rotate", "/v1/api-keys/key_01/rotate"),
            ("/", "/"),
            ("", ""),
        ];
        for (path, logged) in cases {
            assert_eq!(loggable_path(path), logged, "{path}");
        }
    }

    #[test]
    fn request_ids_are_the_prefix_and_a_hex_counter() {
        for n in [0, 1, 9, 10, 15, 16, 255, 256, 0xdead_beef, u64::MAX] {
            assert_eq!(request_id("01abc", n), format!("01abc-{n:x}"));
        }
        let mut ids = RequestIds::new();
        let req = Request::new(());
        let first = ids.make_request_id(&req).unwrap();
        let second = ids.make_request_id(&req).unwrap();
        assert_ne!(first.header_value(), second.header_value());
        assert!(first.header_value().to_str().unwrap().ends_with("-0"));
    }
}
