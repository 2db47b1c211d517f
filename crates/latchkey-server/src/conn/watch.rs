//! Timeouts per connection, at no cost per request.
//!
//! The socket ([`super::io::EdgeIo`]) counts reads and response heads, the
//! service ([`ConnService`]) counts requests: plain counter increments, with
//! no clock reading and no allocation. The [`watchdog`] wakes once per
//! timeout period, compares the counters with its last look, and decides:
//!
//! * a request in flight: it has until the next look (one idle timeout
//!   later) to be answered; a request still unanswered then (a client
//!   sending its body byte by byte, a stuck handler) ends the connection;
//! * a request finished since the last look: the connection is idle from
//!   now, and has the idle timeout;
//! * idle, and bytes arrived: a request is being read from now, and has the
//!   header-read timeout to reach the service;
//! * idle, or reading a request, past its timeout: the connection is closed.
//!
//! A new connection starts by reading a request. Times are measured at the
//! watchdog's wake-ups, so a phase can last up to one period longer than its
//! timeout: a connection that never completes a request lasts at most the
//! header-read timeout, one that goes quiet after a request at most the idle
//! timeout plus the header-read timeout, and a request is answered within
//! one to two idle timeouts or its connection closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use tokio::time::Instant;
use tower::Service;
use tower::util::{Oneshot, ServiceExt};

use super::ConnectionLimits;

/// What a connection has done, as counters.
#[derive(Debug, Default)]
pub struct Activity {
    /// Reads that returned bytes.
    pub reads: AtomicU64,
    /// Requests handed to the service.
    pub started: AtomicU64,
    /// Final response heads written (hyper's own error answers included).
    pub responded: AtomicU64,
}

/// Adds one to a counter that only one task writes: a load and a store,
/// no locked instruction.
pub fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    reads: u64,
    started: u64,
    responded: u64,
}

impl Activity {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            reads: self.reads.load(Ordering::Relaxed),
            started: self.started.load(Ordering::Relaxed),
            responded: self.responded.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request's head.
    Head,
    /// Waiting for the next request.
    Idle,
    /// A request is in flight.
    Busy,
}

/// The phase after a look at the counters (`last` at the previous look,
/// `seen` now) that ends a period of `phase`; `None` to close the
/// connection.
fn step(phase: Phase, last: Snapshot, seen: Snapshot) -> Option<Phase> {
    let busy = seen.started > seen.responded;
    let served = seen.responded != last.responded;
    let read = seen.reads != last.reads;
    let same_request = seen.started == last.started;
    match phase {
        // Unanswered for a whole period.
        Phase::Busy if busy && same_request => None,
        _ if busy => Some(Phase::Busy),
        _ if served => Some(Phase::Idle),
        Phase::Busy => Some(Phase::Idle),
        Phase::Idle if read => Some(Phase::Head),
        Phase::Idle | Phase::Head => None,
    }
}

/// Resolves when the connection has overstayed its header-read or idle
/// timeout, or a request its idle timeout (see the module documentation).
pub async fn watchdog(activity: &Activity, limits: &ConnectionLimits) {
    let mut last = activity.snapshot();
    let mut phase = Phase::Head;
    let mut since = Instant::now();
    loop {
        let period = match phase {
            Phase::Head => limits.header_read_timeout,
            Phase::Idle | Phase::Busy => limits.idle_timeout,
        };
        tokio::time::sleep_until(since + period).await;
        let seen = activity.snapshot();
        let Some(next) = step(phase, last, seen) else {
            tracing::debug!(phase = ?phase, "closing a connection past its timeout");
            return;
        };
        (phase, last, since) = (next, seen, Instant::now());
    }
}

/// The application as hyper's service on one connection: hands each request
/// its peer address (`ConnectInfo<SocketAddr>`, as axum's
/// `into_make_service_with_connect_info`) and counts requests into
/// [`Activity`].
pub struct ConnService<S> {
    app: S,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl<S> ConnService<S> {
    /// `app` serving the connection from `peer`.
    pub fn new(app: S, peer: SocketAddr, activity: Arc<Activity>) -> Self {
        Self { app, peer, activity }
    }
}

impl<S> hyper::service::Service<Request<Incoming>> for ConnService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Oneshot<S, Request<Body>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        bump(&self.activity.started);
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(self.peer));
        self.app.clone().oneshot(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d02_each_phase_has_its_timeout() {
        let at = |reads, started, responded| Snapshot { reads, started, responded };
        let start = at(0, 0, 0);
        for (phase, last, seen, next, why) in [
            (Phase::Head, start, start, None, "nothing sent in time"),
            (Phase::Head, start, at(3, 0, 0), None, "headers not finished in time"),
            (Phase::Head, start, at(1, 1, 0), Some(Phase::Busy), "a request in flight"),
            (Phase::Head, start, at(1, 1, 1), Some(Phase::Idle), "answered: idle from now"),
            (Phase::Idle, at(1, 1, 1), at(1, 1, 1), None, "idle past the timeout"),
            (Phase::Idle, at(1, 1, 1), at(2, 1, 1), Some(Phase::Head), "a next request begins"),
            (Phase::Idle, at(1, 1, 1), at(9, 5, 5), Some(Phase::Idle), "kept busy meanwhile"),
            (Phase::Idle, at(1, 1, 1), at(3, 2, 2), Some(Phase::Idle), "answered meanwhile"),
            (Phase::Busy, at(1, 1, 0), at(1, 1, 1), Some(Phase::Idle), "answered"),
            (Phase::Busy, at(1, 1, 0), at(7, 1, 0), None, "the same request, unanswered for a period"),
            (Phase::Busy, at(1, 1, 0), at(2, 2, 1), Some(Phase::Busy), "another request in flight"),
            // hyper's own error answer counts as a response, owed to no request.
            (Phase::Head, start, at(1, 0, 1), Some(Phase::Idle), "hyper answered"),
        ] {
            assert_eq!(step(phase, last, seen), next, "{why}");
        }
    }
}
