//! The verification hot path.
//!
//! Every request to latchkey, every `POST /v1/keys/verify` and every
//! forward-auth check goes through [`KeyVerifier`]. The stages, cheapest
//! first, stopping at the first refusal:
//!
//! 1. **Format and checksum** ([`latchkey_core::imported::classify`]): a malformed string or a
//!    typo is `MALFORMED` from CPU work alone, before any lookup. A string
//!    of another format (16–256 visible characters, or latchkey's shape
//!    under a prefix latchkey does not issue) may be a key imported from
//!    another system by its hash: it goes on to the lookup only for an
//!    organization that imported keys (any, when the organization is not
//!    known: forward-auth, `/v1/me`), else it is `MALFORMED` at once.
//!    Which organizations did is asked of storage once, and again when the
//!    change log shows changed keys; latchkey's own format never asks.
//! 2. **Hash**: SHA-256 of the key, the only form ever stored.
//! 3. **Cache**: an in-memory map from hash to the key's record, holding
//!    *negative* entries for unknown hashes too, so a flood of well-formed
//!    random keys does not reach the database either. Entries live at most
//!    `cache_ttl`; a record used after half to nine tenths of its life
//!    (spread by its hash, so keys loaded together are not all re-read at
//!    once) is re-read in the background while the cached one keeps
//!    answering, so busy keys never wait for storage; due keys are read
//!    together, up to 200 per query. Every mutation made through this node evicts the
//!    entry ([`KeyVerifier::invalidate`]) so the very next verify sees it,
//!    and a read that raced with a mutation is not cached. Changes made
//!    elsewhere (other nodes, other processes) arrive as invalidations
//!    (PostgreSQL `NOTIFY`) and through the key change log, which storage
//!    triggers fill and every node reads each second
//!    ([`KeyVerifier::follow_changes`]); the TTL (5 minutes) only bounds
//!    what escapes both. The cache holds at most a budget of bytes
//!    ([`VerifierConfig::cache_bytes`]): each key as a compact record of
//!    about 190 bytes ([`record`]: its id, times and a grant shared with the
//!    other keys of its owner, display strings left in storage), negative
//!    entries as their slot. At start-up [`KeyVerifier::warm`] loads the
//!    keys used in the last hour, most recent first, up to the budget; the
//!    others load on first use.
//! 4. **Storage**: on a miss, one indexed lookup by hash; the result (found
//!    or not) is cached.
//! 5. **State**: revoked, expired, owner gone → `REVOKED`, `EXPIRED`,
//!    `DISABLED` (decided against `now`, so expiry needs no invalidation).
//! 6. **Grants** ([`KeyVerifier::check`] only): wrong organization →
//!    `NOT_FOUND`; a client address outside the key's networks (its own, or
//!    its organization policy's; no address given counts as outside) →
//!    `IP_NOT_ALLOWED`, before limits and credits are touched, so a key used
//!    elsewhere spends none of its owner's quota (a key without networks
//!    pays one `None` check); a required scope or another project →
//!    `INSUFFICIENT_SCOPE`.
//! 7. **Rate limits**: per-key GCRA in memory ([`ratelimit`]) →
//!    `RATE_LIMITED`.
//! 8. **Credits**: for keys with a credit budget, one atomic decrement in
//!    storage (exact under any concurrency, refilled per day or month) →
//!    `USAGE_EXCEEDED`. Keys without credits never write on this path. A
//!    rotated key in its grace period spends from its successor's balance
//!    (storage follows the rotation chain), so the two share one budget.
//!
//! The result is a typed [`Outcome`], never an error; only storage failures
//! are errors. [`KeyVerifier::peek`] runs stages 5–8 over a key read from
//! storage without changing anything ("explain": what verify would answer):
//! the limits are read from the same limiter, local or shared, without
//! counting ([`ratelimit::RatePeek`]), the credit balance is read instead
//! of spent, and no usage is counted. `lastUsedAt` and per-day counts by outcome are not written per
//! request: they are added up in memory and written behind, hundreds of keys
//! per transaction, by a periodic flush and at shutdown
//! ([`KeyVerifier::flush_at_shutdown`]), where what the deadline leaves is
//! spilled to a file that the next start writes.
//!
//! Concurrency: the cache is a sharded concurrent map (quick_cache, CLOCK-Pro
//! eviction by weight at its budget); shared grants are interned in a
//! sharded table touched only when a key is loaded; the limiter is sharded
//! by key; pending usage is sharded by the record's inline hash, one mutex
//! per shard held for a map update (with the day's counts inline), so no
//! large table ever grows on the request path. A periodic
//! flush writes at least [`FLUSH_BUDGET`] keys, more with more pending (a
//! sweep over every pending key in id order takes about [`FLUSH_LAG`], less
//! once more keys are pending than [`VerifierConfig::pending_keys`], by
//! default an eighth of the key cache's budget's worth: [`flush_budget`]), in paced
//! chunks, so write-behind keeps up and never stalls verification; should
//! the writes still fall behind, the excess pending usage is spilled to the
//! data directory and written once they catch up, so memory stays bounded
//! and no count is lost. Two
//! concurrent misses for the same hash may both query storage; both get the
//! same answer. Reads from storage carry the invalidation epoch they started
//! in and are dropped instead of cached if any invalidation happened
//! meanwhile, so a revocation can never be overwritten by an older read.
//!
//! The code follows the stages: `verifier.rs` holds the [`KeyVerifier`], its
//! settings and the pipeline (stages 1–2 and 5–8), `cache.rs` the records
//! by hash and their re-reads (3–4), [`record`] the compact records and their
//! weights, `interner.rs` the grants they share, `outcome.rs` what a verification
//! answers, `pending.rs` the write-behind counts, `usage.rs` their flushes,
//! `spill.rs` what a shutdown could not flush in time,
//! `changes.rs` the key change log that evicts what other nodes changed,
//! [`ratelimit`] and [`shared_limits`] the limiters.

mod background;
mod cache;
mod changes;
mod interner;
mod outcome;
mod pending;
pub mod ratelimit;
pub mod record;
pub mod shared_limits;
mod spill;
mod usage;
mod verifier;

pub use background::Background;
pub use cache::{WARM_AT_ONCE, WARM_PAUSE, WARM_WINDOW_MS};
pub use changes::{CHANGE_LOG_KEEP_MS, CHANGE_POLL_INTERVAL};
pub use outcome::{Checks, Identified, Outcome};
pub use record::{CachedKey, Grant};
pub use spill::SpillError;
pub use usage::{
    FLUSH_BUDGET, FLUSH_LAG, Flusher, LAST_USED_PRECISION_MS, PENDING_KEY_BYTES, ShutdownFlush, flush_budget,
};
pub use verifier::{DEFAULT_CACHE_BYTES, KeyVerifier, VerifierConfig};
