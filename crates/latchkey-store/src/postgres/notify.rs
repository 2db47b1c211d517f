//! Key-cache invalidations between nodes: `NOTIFY` on the `latchkey_keys`
//! channel, and the listener that delivers them.

use std::fmt::Write as _;
use std::time::Duration;

use sqlx::postgres::PgListener;

use latchkey_core::KeyHash;

use super::PgStore;
use crate::{Invalidation, InvalidationSink, StoreResult};

/// The `NOTIFY` channel carrying key-cache invalidations.
const CHANNEL: &str = "latchkey_keys";

/// Hashes per notification: 64 hex digits and a comma each, so a payload
/// stays well below PostgreSQL's 8,000-byte limit (here at most 6,499 bytes).
const HASHES_PER_NOTIFICATION: usize = 100;

/// First and longest wait before the invalidation listener reconnects.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Tells every node listening (this one included) to drop `hashes`, in
/// notifications of at most [`HASHES_PER_NOTIFICATION`] hashes.
pub(super) async fn publish(store: &PgStore, hashes: &[KeyHash]) -> StoreResult<()> {
    for payload in payloads(hashes) {
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&store.pool).await?;
    }
    Ok(())
}

/// Delivers every notification to `sink`, listening again (with backoff)
/// after losing the connection. Returns only when the pool has been closed
/// (the process is ending).
pub(super) async fn watch(store: &PgStore, sink: &InvalidationSink) -> StoreResult<()> {
    let mut backoff = MIN_BACKOFF;
    let mut first = true;
    loop {
        let mut listener = match listen(store).await {
            Ok(listener) => listener,
            Err(sqlx::Error::PoolClosed) => return Ok(()),
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "cannot listen for key invalidations");
                tokio::time::sleep(backoff).await;
                backoff = next_backoff(backoff);
                continue;
            }
        };
        if first {
            first = false;
        } else {
            tracing::info!("listening for key invalidations again; dropping every cached key");
            sink(Invalidation::All);
        }
        backoff = MIN_BACKOFF;
        let error = loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let hashes = parse_payload(notification.payload());
                    if !hashes.is_empty() {
                        sink(Invalidation::Keys(hashes));
                    }
                }
                // The connection was lost: notifications sent from now
                // until a new listener is in place are gone. The cache
                // is dropped when listening again (above), not now: while
                // the database is down, cached keys go on verifying, and
                // nothing can be revoked meanwhile.
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        match error {
            Some(sqlx::Error::PoolClosed) => return Ok(()),
            Some(error) => tracing::warn!(%error, retry_in = ?backoff, "lost the key-invalidation listener"),
            None => tracing::warn!(retry_in = ?backoff, "lost the key-invalidation listener's connection"),
        }
        drop(listener);
        tokio::time::sleep(backoff).await;
        backoff = next_backoff(backoff);
    }
}

/// Opens a listener on the invalidation channel.
async fn listen(store: &PgStore) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(&store.pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Lowercase hex of a hash.
fn hex(hash: &KeyHash) -> String {
    let mut s = String::with_capacity(64);
    for b in hash.as_bytes() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A hash from 64 hex digits.
fn parse_hex(s: &str) -> Option<KeyHash> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let bytes = (0..32).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?;
    KeyHash::from_bytes(&bytes)
}

/// Notification payloads for `hashes`: comma-separated lowercase hex, at
/// most [`HASHES_PER_NOTIFICATION`] each.
fn payloads(hashes: &[KeyHash]) -> Vec<String> {
    hashes.chunks(HASHES_PER_NOTIFICATION).map(|c| c.iter().map(hex).collect::<Vec<_>>().join(",")).collect()
}

/// The hashes of a notification payload (comma-separated hex); garbage is
/// skipped with a warning.
fn parse_payload(payload: &str) -> Vec<KeyHash> {
    let mut hashes = Vec::new();
    for part in payload.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match parse_hex(part) {
            Some(h) => hashes.push(h),
            None => tracing::warn!(part, "ignoring a malformed key hash in a `{CHANNEL}` notification"),
        }
    }
    hashes
}

/// Doubles `backoff`, up to [`MAX_BACKOFF`].
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_payloads() {
        let a = KeyHash::of("a");
        let b = KeyHash::of("b");
        let payload = [hex(&a), hex(&b)].join(",");
        assert_eq!(payload.len(), 129);
        assert_eq!(parse_payload(&payload), vec![a, b]);
        assert_eq!(parse_payload(""), vec![]);
        assert_eq!(parse_payload(&format!("zz,{},{}x", hex(&a), hex(&b))), vec![a]);
        assert!(parse_payload("é".repeat(32).as_str()).is_empty());
    }

    #[test]
    fn payloads_stay_small() {
        assert!(payloads(&[]).is_empty());
        let hashes: Vec<KeyHash> = (0..250).map(|i| KeyHash::of(&i.to_string())).collect();
        let all = payloads(&hashes);
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|p| p.len() < 7_000));
        assert_eq!(all.iter().flat_map(|p| parse_payload(p)).collect::<Vec<_>>(), hashes);
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let mut b = MIN_BACKOFF;
        let mut seen = vec![];
        for _ in 0..8 {
            seen.push(b.as_millis());
            b = next_backoff(b);
        }
        assert_eq!(seen, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}
