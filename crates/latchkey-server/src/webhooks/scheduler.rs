//! The scheduler of the events no request causes: `api_key.expiring` (7
//! days and 1 day before), `api_key.expired`, `api_key.usage_threshold`
//! (80 % and 100 % of a credit grant spent). Every node runs it; on
//! PostgreSQL one at a time (an advisory lock for the tick's transaction),
//! and each event's id is made of what it is about, so none is written
//! twice, across nodes or restarts
//! ([`latchkey_store::WebhookStore::enqueue_scheduled_events`]).

use latchkey_core::time_fmt::now_ms;

use crate::state::AppState;

/// Starts this node's scheduler.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(state.settings.webhooks.schedule_interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match state.store.enqueue_scheduled_events(now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "scheduled webhook events written"),
                Err(e) => tracing::warn!(error = %e, "could not write scheduled webhook events"),
            }
        }
    })
}
