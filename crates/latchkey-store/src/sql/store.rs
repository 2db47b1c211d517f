//! [`Store`] itself: what is common, and the dialect's change feed.

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::time_fmt::Millis;

use super::{Dialect, SqlStore, query};
use crate::{ChangeCursor, Invalidation, InvalidationSink, PoolStats, Store, StoreResult};

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
        query::<D>("DELETE FROM key_changes WHERE changed_at < $1").bind(before).execute(&self.pool).await
    }
}
