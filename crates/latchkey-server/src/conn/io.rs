//! The connection's socket as hyper sees it: counts reads for the watchdog
//! and gives hyper's own error answers the error envelope.
//!
//! hyper answers a request it cannot parse itself, before any service sees
//! it: `400 Bad Request` (malformed request line or header), `414 URI Too
//! Long`, `431 Request Header Fields Too Large`, each a bare head with
//! `content-length: 0`, and then closes the connection. It has no hook for
//! the body. Such a head is the only one hyper writes without the service
//! having been called for it, so it is recognised by counting: a response
//! head written when every request the service received has had its head
//! already is hyper's. It is then replaced by the same status with the
//! envelope (and `connection: close`, which hyper is about to do anyway).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::watch::{Activity, bump};

/// A TCP stream that counts reads into [`Activity`] and rewrites hyper's
/// own error answers (see the module documentation).
pub struct EdgeIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    /// A replacement answer still to be written, and how much of it is.
    pending: Option<(Vec<u8>, usize)>,
    /// Whether an answer was replaced: the connection is closing after it.
    replaced: bool,
}

/// What is read and dropped of a refused request before closing, so that
/// the close is not a reset that destroys the answer on its way.
const DRAIN_ON_CLOSE: usize = 256 * 1024;

impl EdgeIo {
    /// Wraps `stream`, reporting to `activity`.
    pub fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Self { stream, activity, pending: None, replaced: false }
    }

    /// Counts a write starting a response head; `Some(replacement)` if it is
    /// one of hyper's own answers.
    fn on_write(&mut self, first: &[u8]) -> Option<Vec<u8>> {
        let status = first.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
        if status[0] == b'1' {
            return None;
        }
        let served = self.activity.started.load(Ordering::Relaxed);
        let owed = self.activity.responded.load(Ordering::Relaxed) < served;
        // hyper's answers are a whole bodiless head in one write, owed to no
        // request; a body chunk that merely starts like a head is neither.
        let hyper_error = !owed && first.ends_with(b"\r\n\r\n") && contains(first, b"\r\ncontent-length: 0\r\n");
        if owed || hyper_error {
            bump(&self.activity.responded);
        }
        if hyper_error { replacement(status) } else { None }
    }

    /// Writes what is left of a replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            let Some(rest) = bytes.get(*written..).filter(|r| !r.is_empty()) else {
                self.pending = None;
                break;
            };
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The enveloped answer for one of hyper's own statuses.
fn replacement(status: &[u8]) -> Option<Vec<u8>> {
    let (line, code, message) = match status {
        b"400" => ("400 Bad Request", "invalid_request", "the request could not be parsed as HTTP/1.1"),
        b"414" => ("414 URI Too Long", "uri_too_long", "the request target is too long"),
        b"431" => (
            "431 Request Header Fields Too Large",
            "headers_too_large",
            "the request's headers are too large or too many",
        ),
        _ => return None,
    };
    let body = crate::error::envelope_bytes(code, message);
    let mut res = format!(
        "HTTP/1.1 {line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    res.extend_from_slice(&body);
    Some(res)
}

impl AsyncRead for EdgeIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            bump(&this.activity.reads);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for EdgeIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(answer) = this.on_write(buf) {
            this.pending = Some((answer, 0));
            this.replaced = true;
            // hyper's bytes count as written; ours follow on flush.
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(answer) = this.on_write(first)
        {
            this.pending = Some((answer, 0));
            this.replaced = true;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if std::mem::take(&mut this.replaced) {
            // The rest of the request hyper refused, as far as it has arrived.
            let mut sink = [0u8; 8192];
            let mut drained = 0;
            while drained < DRAIN_ON_CLOSE {
                match this.stream.try_read(&mut sink) {
                    Ok(n) if n > 0 => drained += n,
                    _ => break,
                }
            }
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d17_hyper_statuses_get_the_envelope() {
        for (status, code) in [("400", "invalid_request"), ("414", "uri_too_long"), ("431", "headers_too_large")] {
            let answer = String::from_utf8(replacement(status.as_bytes()).unwrap()).unwrap();
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
            assert!(head.contains("content-type: application/json"), "{head}");
            assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["code"], code);
            assert!(v["error"]["message"].is_string());
        }
        assert_eq!(replacement(b"500"), None);
    }
}
