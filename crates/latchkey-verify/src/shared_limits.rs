//! Rate limits shared by every node, in Redis.
//!
//! One Lua script per check ([`SCRIPT`]): it reads the clock of the Redis
//! server (`TIME`, one clock for every node), checks each configured window
//! of the key with GCRA and, only if every window admits the request,
//! advances them; Redis runs a script atomically, so concurrent requests on
//! any number of nodes are exact. One round trip per limited verify. The
//! same script, told not to count, reads the windows without writing
//! anything ([`RedisLimiter::peek`]: "explain").
//!
//! The GCRA here counts in microseconds (Lua numbers are doubles, exact to
//! 2^53 µs ≈ 285 years): the emission interval is `T = ceil(P / L)` and the
//! burst tolerance `(L − 1)·T`, so from idle exactly `L` requests pass and
//! the long-run rate is at most `L` per `P` (rounding makes it stricter,
//! never looser). State per window is one key holding the theoretical
//! arrival time, expiring when the window is full again.
//!
//! When Redis cannot be reached or answers too slowly, the caller falls back
//! to the node's own limiter (never to "no limit") and this limiter does not
//! try Redis again for [`RETRY_AFTER_FAILURE`], so an outage does not add a
//! timeout to every request.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::ratelimit::{Limits, RateDecision, RatePeek, WindowState, most_constraining};

/// How long a Redis call may take before the node decides alone.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is not asked again for this long.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// GCRA over the windows in `KEYS`; `ARGV` holds `limit, period_us` per
/// window, then `1` to count the request (advance the windows if every one
/// admits it) or `0` to only read them. Returns `{allowed, retry_us,
/// limit1, remaining1, reset_us1, …}`: whether a request is (counted) or
/// would be (read) admitted, and each window after it; read, a window
/// that has room reports it even when another refuses.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local count = ARGV[2 * n + 1] == '1'
local tats, ts, taus = {}, {}, {}
local allowed, retry = 1, 0
for i = 1, n do
  local limit = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  local T = math.ceil(period / limit)
  local tau = (limit - 1) * T
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i], ts[i], taus[i] = tat, T, tau
  if tat - now > tau then
    allowed = 0
    retry = math.max(retry, tat - now - tau)
  end
end
local out = {allowed, retry}
for i = 1, n do
  local tat = tats[i]
  if allowed == 1 and count then
    tat = tat + ts[i]
    redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  end
  local remaining = math.floor((taus[i] - (tat - now)) / ts[i]) + 1
  if remaining < 0 or (allowed == 0 and count) then remaining = 0 end
  out[#out + 1] = tonumber(ARGV[2 * i - 1])
  out[#out + 1] = remaining
  out[#out + 1] = tat - now
end
return out
";

/// Why Redis gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum SharedLimitError {
    /// Redis refused or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer within [`REDIS_TIMEOUT`].
    #[error("redis did not answer within {} ms", REDIS_TIMEOUT.as_millis())]
    Timeout,
    /// Redis failed recently; not asked again yet.
    #[error("redis failed recently; deciding on this node")]
    Backoff,
    /// The script answered something unexpected.
    #[error("unexpected answer from the rate-limit script")]
    Protocol,
}

/// Per-key rate limits in Redis, shared by every node using the same Redis.
#[derive(Clone)]
pub struct RedisLimiter {
    conn: ConnectionManager,
    script: std::sync::Arc<redis::Script>,
    /// Until when (ms since the epoch, local clock) Redis is not asked.
    skip_until_ms: std::sync::Arc<AtomicI64>,
    prefix: String,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// A limiter on the Redis at `url` (`redis://127.0.0.1:6379`). Connects
    /// lazily and reconnects by itself, so a node starts (and limits on its
    /// own) while Redis is down.
    pub fn new(url: &str) -> Result<Self, SharedLimitError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            script: std::sync::Arc::new(redis::Script::new(SCRIPT)),
            skip_until_ms: std::sync::Arc::new(AtomicI64::new(0)),
            prefix: "latchkey:rl:".to_owned(),
        })
    }

    /// Whether Redis answers `PING` (readiness).
    pub async fn ping(&self) -> Result<(), SharedLimitError> {
        let mut conn = self.conn.clone();
        let ping = redis::cmd("PING");
        tokio::time::timeout(REDIS_TIMEOUT, ping.query_async::<String>(&mut conn))
            .await
            .map_err(|_| SharedLimitError::Timeout)??;
        Ok(())
    }

    /// Checks and, if admitted, counts one request of `key_id` against every
    /// configured window of `limits`. `Ok(None)` when the key has no limits.
    /// `now_ms` is only used for the failure back-off; the windows run on
    /// the Redis server's clock.
    pub async fn check(
        &self,
        key_id: &str,
        limits: Limits,
        now_ms: i64,
    ) -> Result<Option<RateDecision>, SharedLimitError> {
        let windows = windows(limits);
        if windows.is_empty() {
            return Ok(None);
        }
        if windows.iter().any(|(_, l, _)| *l == 0) {
            // A zero limit refuses everything; no shared state needed.
            return Ok(Some(RateDecision {
                allowed: false,
                limit: 0,
                remaining: 0,
                reset_ms: 0,
                retry_after_ms: 60_000,
            }));
        }
        let answer = self.run(key_id, &windows, true, now_ms).await?;
        decision(&answer).map(Some).ok_or(SharedLimitError::Protocol)
    }

    /// The windows of `key_id` under `limits` as a request would find them
    /// now, read by the script without counting or writing anything (a
    /// zero limit's window is answered without asking: it has no room).
    /// `Ok(None)` when the key has no limits.
    pub async fn peek(&self, key_id: &str, limits: Limits, now_ms: i64) -> Result<Option<RatePeek>, SharedLimitError> {
        let all = windows(limits);
        if all.is_empty() {
            return Ok(None);
        }
        let asked: Vec<(&str, u32, i64)> = all.iter().copied().filter(|(_, l, _)| *l > 0).collect();
        let (mut retry_us, read) = if asked.is_empty() {
            (0, Vec::new())
        } else {
            let answer = self.run(key_id, &asked, false, now_ms).await?;
            parse(&answer).map(|(_, retry, w)| (retry, w)).ok_or(SharedLimitError::Protocol)?
        };
        if read.len() != asked.len() {
            return Err(SharedLimitError::Protocol);
        }
        let mut peek = RatePeek { per_minute: None, per_day: None, retry_after_ms: 0 };
        let mut read = read.into_iter();
        for (name, limit, period_us) in all {
            let state = if limit == 0 {
                retry_us = retry_us.max(period_us);
                WindowState { limit: 0, remaining: 0, reset_ms: period_us / 1000 }
            } else {
                read.next().ok_or(SharedLimitError::Protocol)?
            };
            *(if name == "m" { &mut peek.per_minute } else { &mut peek.per_day }) = Some(state);
        }
        peek.retry_after_ms = us_to_ms(retry_us);
        Ok(Some(peek))
    }

    /// Runs the script over `windows` of `key_id` (`count`: advance them),
    /// within [`REDIS_TIMEOUT`], unless Redis failed within
    /// [`RETRY_AFTER_FAILURE`] of `now_ms`.
    async fn run(
        &self,
        key_id: &str,
        windows: &[(&str, u32, i64)],
        count: bool,
        now_ms: i64,
    ) -> Result<Vec<i64>, SharedLimitError> {
        if now_ms < self.skip_until_ms.load(Ordering::Relaxed) {
            return Err(SharedLimitError::Backoff);
        }
        let mut invocation = self.script.prepare_invoke();
        for (name, limit, period) in windows {
            invocation.key(format!("{}{key_id}:{name}", self.prefix)).arg(*limit).arg(*period);
        }
        invocation.arg(u8::from(count));
        let mut conn = self.conn.clone();
        match tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async::<Vec<i64>>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.failed(now_ms, e.into())),
            Err(_) => Err(self.failed(now_ms, SharedLimitError::Timeout)),
        }
    }

    fn failed(&self, now_ms: i64, e: SharedLimitError) -> SharedLimitError {
        let pause = i64::try_from(RETRY_AFTER_FAILURE.as_millis()).unwrap_or(1000);
        self.skip_until_ms.store(now_ms + pause, Ordering::Relaxed);
        e
    }
}

/// The configured windows of `limits`: (key suffix, limit, period in µs),
/// minute first.
fn windows(limits: Limits) -> Vec<(&'static str, u32, i64)> {
    [("m", limits.per_minute, 60_000_000_i64), ("d", limits.per_day, 86_400_000_000)]
        .into_iter()
        .filter_map(|(name, limit, period)| limit.map(|l| (name, l, period)))
        .collect()
}

/// Microseconds to whole milliseconds, rounded up; negative counts as 0.
fn us_to_ms(us: i64) -> i64 {
    (us.max(0) + 999) / 1000
}

/// The script's answer: whether admitted, the retry in µs, and each
/// window's state in the order asked.
fn parse(answer: &[i64]) -> Option<(bool, i64, Vec<WindowState>)> {
    let (&allowed, rest) = answer.split_first()?;
    let (&retry_us, windows) = rest.split_first()?;
    if windows.is_empty() || windows.len() % 3 != 0 {
        return None;
    }
    let states = windows
        .chunks_exact(3)
        .map(|w| {
            Some(WindowState {
                limit: u32::try_from(w[0]).ok()?,
                remaining: u32::try_from(w[1].max(0)).ok()?,
                reset_ms: us_to_ms(w[2]),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some((allowed == 1, retry_us, states))
}

/// The script's answer as a decision on the most constraining window, as
/// the local limiter reports it ([`most_constraining`]).
fn decision(answer: &[i64]) -> Option<RateDecision> {
    let (allowed, retry_us, windows) = parse(answer)?;
    let worst = most_constraining(windows)?;
    Some(RateDecision {
        allowed,
        limit: worst.limit,
        remaining: worst.remaining,
        reset_ms: worst.reset_ms,
        retry_after_ms: if allowed { 0 } else { us_to_ms(retry_us).max(1) },
    })
}

#[cfg(test)]
mod tests {
    use super::decision;

    #[test]
    fn the_most_constraining_window_is_reported() {
        // minute: 60 limit, 10 left; day: 1000 limit, 3 left.
        let d = decision(&[1, 0, 60, 10, 50_000_000, 1000, 3, 86_000_000_000]).unwrap();
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining, d.reset_ms, d.retry_after_ms), (1000, 3, 86_000_000, 0));
        let refused = decision(&[0, 999_001, 60, 0, 60_000_000]).unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_ms, 1000);
        assert!(decision(&[1, 0]).is_none());
        assert!(decision(&[1, 0, 60, 1]).is_none());
    }
}
