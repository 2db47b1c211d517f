//! [`Store`] itself: what is common, and the dialect's change feed.

use std::time::Duration;

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::time_fmt::Millis;

use super::{Dialect, SqlStore, query};
use crate::{ChangeCursor, Invalidation, InvalidationSink, PRUNE_BATCH, PoolStats, Store, StoreResult};

/// One batch of [`Store::prune_key_changes`] (`$1` the time, `$2`
/// [`PRUNE_BATCH`]): the oldest entries, found on `key_changes_by_time`,
/// deleted by their primary key. Public for the prune benchmark
/// (`benches/warmup.rs`).
pub const PRUNE_KEY_CHANGES: &str = "DELETE FROM key_changes WHERE seq IN \
     (SELECT seq FROM key_changes WHERE changed_at < $1 ORDER BY changed_at LIMIT $2)";

/// The pause between two batches of a prune: about what a batch takes, so
/// that a prune of a million entries leaves half of the time to others.
const PRUNE_PAUSE: Duration = Duration::from_millis(10);

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    fn backend_name(&self) -> &'static str {
        D::NAME
    }

    async fn ping(&self) -> StoreResult<()> {
        query::<D>("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats { size: self.pool.size(), idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX) }
    }

    async fn publish_invalidation(&self, hashes: &[KeyHash]) -> StoreResult<()> {
        D::publish_invalidation(self, hashes).await
    }

    async fn watch_invalidations(&self, sink: InvalidationSink) -> StoreResult<()> {
        D::watch_invalidations(self, sink).await
    }

    async fn key_changes_cursor(&self) -> StoreResult<ChangeCursor> {
        D::key_changes_cursor(self).await
    }

    async fn key_changes(&self, cursor: ChangeCursor) -> StoreResult<(Invalidation, ChangeCursor)> {
        D::key_changes(self, cursor).await
    }

    async fn prune_key_changes(&self, before: Millis) -> StoreResult<u64> {
        let mut pruned = 0;
        loop {
            let n = query::<D>(PRUNE_KEY_CHANGES).bind(before).bind(PRUNE_BATCH).execute(&self.pool).await?;
            pruned += n;
            if n < PRUNE_BATCH.unsigned_abs() {
                return Ok(pruned);
            }
            // Others' writes (and, on SQLite, the write lock) go first.
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
    }
}
