//! Serving connections: hyper's HTTP/1 over the listener, with the limits
//! `axum::serve` does not have.
//!
//! * **Connection limit.** At most [`ConnectionLimits::max_connections`] at
//!   once; one more is accepted, answered 503 with the error envelope and
//!   closed, so the listener never stops accepting and never runs out of
//!   file descriptors.
//! * **Header-read and idle timeouts** ([`watch`]): a connection that does
//!   not complete a request's headers within the header-read timeout, or
//!   sits idle between requests longer than the idle timeout, is closed.
//!   They are enforced per connection, not per request: the request path
//!   pays two counter increments and no clock reading or allocation (hyper's
//!   own `header_read_timeout` reads the clock and boxes a timer for every
//!   request).
//! * **Error envelope for hyper's own answers** ([`io`]): the 400, 414 and
//!   431 that hyper writes itself for requests it cannot parse get the
//!   `{"error":{"code","message"}}` body every other error has.
//! * **Shutdown deadline.** On shutdown the listener closes, idle
//!   connections close, in-flight requests are answered; after
//!   [`ConnectionLimits::shutdown_deadline`] whatever is left is dropped.

mod io;
mod watch;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower::Service;

use self::io::EdgeIo;
use self::watch::{Activity, ConnService};

/// The connection limits of the listener (`[server]` in `latchkey.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a connection has to complete a request's headers, from its
    /// opening or from the first byte after an idle wait.
    pub header_read_timeout: Duration,
    /// Time a connection may wait idle between requests.
    pub idle_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// On shutdown, time in-flight requests have to finish before their
    /// connections are dropped.
    pub shutdown_deadline: Duration,
}

/// The most connections by default, when the file-descriptor limit allows.
const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// File descriptors kept for everything but client connections (database
/// pool, log files, the listener, accepting the refused ones).
const RESERVED_FDS: u64 = 128;

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// [`DEFAULT_MAX_CONNECTIONS`], or fewer if the process's limit of open
/// files (its soft `RLIMIT_NOFILE`) would not leave room for them.
pub fn default_max_connections() -> usize {
    let open_files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    open_files
        .map(|n| n.saturating_sub(RESERVED_FDS).max(16))
        .and_then(|n| usize::try_from(n).ok())
        .map_or(DEFAULT_MAX_CONNECTIONS, |n| n.min(DEFAULT_MAX_CONNECTIONS))
}

/// The largest request head (request line and headers) hyper reads; a
/// larger one is answered 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` until `shutdown` resolves, then drains the
/// connections within the deadline.
pub async fn serve_connections<S>(
    listener: TcpListener,
    app: S,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true).header_read_timeout(None).max_header_size(MAX_HEAD_BYTES);
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if conns.len() >= limits.max_connections => refuse(&stream),
                Ok((stream, peer)) => {
                    let http = http.clone();
                    let conn = serve_one(stream, peer, app.clone(), http, limits.clone(), close_rx.clone());
                    conns.spawn(conn);
                }
                Err(e) => accept_failed(&e).await,
            },
        }
    }
    drop(listener);
    // Every connection: finish what is in flight, then close.
    drop(close_tx);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_deadline, drain).await.is_err() {
        tracing::warn!(
            connections = conns.len(),
            deadline_ms = limits.shutdown_deadline.as_millis(),
            "shutdown deadline passed; dropping the remaining connections"
        );
        conns.shutdown().await;
    }
}

/// One connection, until it ends, times out ([`watch::watchdog`]), or is
/// closed by shutdown.
async fn serve_one<S>(
    stream: TcpStream,
    peer: SocketAddr,
    app: S,
    http: hyper::server::conn::http1::Builder,
    limits: ConnectionLimits,
    mut close: tokio::sync::watch::Receiver<()>,
) where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let activity = std::sync::Arc::new(Activity::default());
    let io = TokioIo::new(EdgeIo::new(stream, std::sync::Arc::clone(&activity)));
    let service = ConnService::new(app, peer, std::sync::Arc::clone(&activity));
    let mut conn = std::pin::pin!(http.serve_connection(io, service));
    let mut watchdog = std::pin::pin!(watch::watchdog(&activity, &limits));
    tokio::select! {
        result = conn.as_mut() => return log_end(result),
        () = &mut watchdog => return,
        _ = close.changed() => conn.as_mut().graceful_shutdown(),
    }
    // Shutting down: in-flight requests finish, a connection still reading
    // headers has until its timeout (or the shutdown deadline).
    tokio::select! {
        result = conn => log_end(result),
        () = watchdog => {}
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// The answer to a connection over the limit.
static REFUSAL: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let body = crate::error::envelope_bytes("unavailable", "too many connections; try again shortly");
    let mut res = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    res.extend_from_slice(&body);
    res
});

/// Answers a connection over the limit with 503 and closes it, without
/// waiting for anything: what the client already sent is read first (so the
/// close is not a reset that could destroy the answer), the answer fits an
/// empty send buffer.
fn refuse(stream: &TcpStream) {
    metrics::counter!("latchkey_connections_refused_total").increment(1);
    tracing::debug!("connection refused: at the connection limit");
    let mut sink = [0u8; 4096];
    for _ in 0..4 {
        match stream.try_read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let _ = stream.try_write(&REFUSAL);
}

/// An accept error: a connection that went away before it was accepted is
/// nothing; anything else (out of file descriptors) is logged, and accepting
/// pauses briefly so as not to spin.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_connection_limit_fits_the_open_file_limit() {
        let n = default_max_connections();
        assert!((16..=DEFAULT_MAX_CONNECTIONS).contains(&n), "{n}");
    }

    #[test]
    fn the_refusal_is_a_503_with_the_envelope() {
        let text = String::from_utf8(REFUSAL.clone()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "unavailable");
    }
}
