//! The key change log: storage triggers record every change that can alter
//! a verification, and every node reads the log each second and evicts what
//! it names, whoever made the change.

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::time_fmt::Millis;
use latchkey_store::{ChangeCursor, Invalidation};

use crate::KeyVerifier;

/// How often a server reads the key change log
/// ([`KeyVerifier::follow_changes`]): the staleness bound for changes it
/// was not told about.
pub const CHANGE_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Change-log entries are kept this long (ms): a node that could not read
/// the log for longer may miss changes until their cache TTL.
pub const CHANGE_LOG_KEEP_MS: Millis = 3_600_000;

/// The change log is pruned every this many polls.
const PRUNE_EVERY_POLLS: u32 = 60;

/// Shared grants no cached key uses are dropped every this many polls.
const SWEEP_EVERY_POLLS: u32 = 10;

impl KeyVerifier {
    /// Where the key change log ends now, or `None` (logged) if storage
    /// cannot say. Take it before [`KeyVerifier::warm`], then hand it to
    /// [`KeyVerifier::follow_changes`]: a change committed while warming is
    /// then evicted after it.
    pub async fn change_cursor(&self) -> Option<ChangeCursor> {
        match self.store.key_changes_cursor().await {
            Ok(cursor) => Some(cursor),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the key change log; will retry");
                None
            }
        }
    }

    /// Reads the key change log every `interval` from `cursor` on and evicts
    /// every key it names, whoever changed it (another node whose `NOTIFY`
    /// was lost, another process on the same SQLite file, the admin CLI), so
    /// such changes show within about `interval` instead of the cache TTL;
    /// a read that names changes asks storage which organizations hold
    /// imported keys now ([`KeyVerifier::refresh_imported`]).
    /// Deletes log entries older than [`CHANGE_LOG_KEEP_MS`] now and then,
    /// and drops shared grants no cached key uses
    /// ([`KeyVerifier::sweep_grants`]). Runs until aborted.
    pub async fn follow_changes(self: Arc<Self>, mut cursor: Option<ChangeCursor>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut polls: u32 = 0;
        let mut failing = false;
        loop {
            tick.tick().await;
            polls = polls.wrapping_add(1);
            let Some(from) = cursor else {
                // No cursor since start-up: what changed meanwhile is unknown.
                cursor = self.change_cursor().await;
                if cursor.is_some() {
                    self.clear();
                }
                continue;
            };
            match self.store.key_changes(from).await {
                Ok((changed, next)) => {
                    failing = false;
                    cursor = Some(next);
                    let any = !matches!(&changed, Invalidation::Keys(hashes) if hashes.is_empty());
                    // New keys may be imported ones (another node's import):
                    // then strings of another format are looked up here too,
                    // for their organization. Asked before the evictions, so
                    // that a hash cached as unknown is looked up again.
                    if any && let Err(e) = self.refresh_imported().await {
                        tracing::debug!(error = %e, "could not ask which organizations imported keys");
                    }
                    match changed {
                        Invalidation::Keys(hashes) => hashes.iter().for_each(|h| self.invalidate(h)),
                        Invalidation::All => {
                            tracing::info!("many keys changed at once; dropping every cached key");
                            self.clear();
                        }
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot read the key change log; will retry");
                }
                Err(_) => {}
            }
            if polls.is_multiple_of(SWEEP_EVERY_POLLS) {
                self.sweep_grants();
            }
            if polls.is_multiple_of(PRUNE_EVERY_POLLS) {
                let before = latchkey_core::time_fmt::now_ms() - CHANGE_LOG_KEEP_MS;
                if let Err(e) = self.store.prune_key_changes(before).await {
                    tracing::debug!(error = %e, "could not prune the key change log");
                }
            }
        }
    }
}
