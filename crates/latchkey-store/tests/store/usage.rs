//! The verifier's write-behind: usage counts (summed, keys deleted
//! meanwhile skipped) and `lastUsedAt` (never moved back).

use std::sync::Arc;

use latchkey_core::id::KeyId;
use latchkey_store::{Store, UsageCount};

use crate::fixtures::{NOW, ev, world};

store_tests! {
    usage_counts_add_up_by_day_and_outcome,
    last_use_never_moves_back,
    a_flush_writes_last_use_and_counts,
    a_spill_chunk_is_written_once,
}

/// One count of `key_id` on `day`.
fn usage(key_id: &str, day: &str, outcome: &str, count: i64) -> UsageCount {
    UsageCount { key_id: key_id.into(), day: day.to_owned(), outcome: outcome.to_owned(), count }
}

const DAY1: &str = "2025-06-15";
const DAY2: &str = "2025-06-16";

async fn usage_counts_add_up_by_day_and_outcome(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (key, gone) = (w.key("k"), w.key("gone"));
    store.insert_key(&key, &ev()).await.unwrap();
    store.insert_key(&gone, &ev()).await.unwrap();
    store.delete_key(&w.org.id, &gone.id, &ev()).await.unwrap().unwrap();

    // Duplicates in a batch are summed; a key deleted meanwhile (or never
    // stored) is skipped without failing the rest.
    store
        .record_usage(&[
            usage(&key.id, DAY1, "VALID", 2),
            usage(&gone.id, DAY1, "VALID", 9),
            usage(&key.id, DAY1, "VALID", 3),
            usage(&key.id, DAY1, "RATE_LIMITED", 1),
            usage("key_never", DAY1, "VALID", 1),
            usage(&key.id, DAY2, "VALID", 4),
        ])
        .await
        .unwrap();
    // Later batches add up.
    store.record_usage(&[usage(&key.id, DAY1, "VALID", 1)]).await.unwrap();
    store.record_usage(&[]).await.unwrap();

    let all =
        [usage(&key.id, DAY1, "RATE_LIMITED", 1), usage(&key.id, DAY1, "VALID", 6), usage(&key.id, DAY2, "VALID", 4)];
    assert_eq!(store.key_usage(&w.org.id, &key.id, "2025-06-01").await.unwrap(), all);
    assert_eq!(store.key_usage(&w.org.id, &key.id, DAY2).await.unwrap(), all[2..]);
    assert_eq!(store.key_usage(&w.org.id, &key.id, "2025-06-17").await.unwrap(), []);
    assert_eq!(store.key_usage(&w.org.id, &gone.id, "2025-06-01").await.unwrap(), []);
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    assert_eq!(store.key_usage(&other.id, &key.id, "2025-06-01").await.unwrap(), []);
}

async fn last_use_never_moves_back(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (k1, k2) = (w.key("k1"), w.key("k2"));
    store.insert_key(&k1, &ev()).await.unwrap();
    store.insert_key(&k2, &ev()).await.unwrap();
    let last_used = |id: KeyId| {
        let (store, org_id) = (Arc::clone(&store), w.org.id.clone());
        async move { store.get_key(&org_id, &id).await.unwrap().unwrap().last_used_at }
    };

    // Within a batch the latest time wins, whatever the order.
    store
        .record_last_used(&[
            (k1.id.clone(), NOW + 50),
            (k1.id.clone(), NOW + 70),
            (k1.id.clone(), NOW + 60),
            (k2.id.clone(), NOW + 10),
            ("key_never".into(), NOW),
        ])
        .await
        .unwrap();
    assert_eq!((last_used(k1.id.clone()).await, last_used(k2.id.clone()).await), (Some(NOW + 70), Some(NOW + 10)));
    // Across batches, an older time is ignored.
    store.record_last_used(&[(k1.id.clone(), NOW + 60), (k2.id.clone(), NOW + 20)]).await.unwrap();
    assert_eq!((last_used(k1.id.clone()).await, last_used(k2.id.clone()).await), (Some(NOW + 70), Some(NOW + 20)));
    store.record_last_used(&[]).await.unwrap();
    // Use is no change of the key.
    assert_eq!(store.get_key(&w.org.id, &k1.id).await.unwrap().unwrap().updated_at, NOW);
}

async fn a_flush_writes_last_use_and_counts(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let key = w.key("k");
    store.insert_key(&key, &ev()).await.unwrap();
    let read = || {
        let (store, org_id, id) = (Arc::clone(&store), w.org.id.clone(), key.id.clone());
        async move {
            let last = store.get_key(&org_id, &id).await.unwrap().unwrap().last_used_at;
            (last, store.key_usage(&org_id, &id, DAY1).await.unwrap())
        }
    };
    store.record_key_usage(&[(key.id.clone(), NOW + 5)], &[usage(&key.id, DAY1, "VALID", 2)]).await.unwrap();
    assert_eq!(read().await, (Some(NOW + 5), vec![usage(&key.id, DAY1, "VALID", 2)]));
    // Either part may be empty.
    store.record_key_usage(&[], &[usage(&key.id, DAY1, "VALID", 1)]).await.unwrap();
    store.record_key_usage(&[(key.id.clone(), NOW + 1)], &[]).await.unwrap();
    assert_eq!(read().await, (Some(NOW + 5), vec![usage(&key.id, DAY1, "VALID", 3)]));
    // Unknown keys are skipped in both parts.
    store
        .record_key_usage(
            &[(key.id.clone(), NOW + 9), ("key_never".into(), NOW)],
            &[usage("key_never", DAY1, "VALID", 1), usage(&key.id, DAY1, "REVOKED", 1)],
        )
        .await
        .unwrap();
    let counts = vec![usage(&key.id, DAY1, "REVOKED", 1), usage(&key.id, DAY1, "VALID", 3)];
    assert_eq!(read().await, (Some(NOW + 9), counts));
    store.record_key_usage(&[], &[]).await.unwrap();
}

/// A chunk of a usage spill is written once: written again (a replay cut
/// short and repeated) it changes nothing, until the spill is forgotten.
/// Other chunks, and other spills' chunks of the same number, are written.
async fn a_spill_chunk_is_written_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let key = w.key("k");
    store.insert_key(&key, &ev()).await.unwrap();
    let read = || {
        let (store, org_id, id) = (Arc::clone(&store), w.org.id.clone(), key.id.clone());
        async move {
            let last = store.get_key(&org_id, &id).await.unwrap().unwrap().last_used_at;
            (last, store.key_usage(&org_id, &id, DAY1).await.unwrap())
        }
    };
    let (last, counts) = ([(key.id.clone(), NOW + 5)], [usage(&key.id, DAY1, "VALID", 2)]);
    assert!(store.replay_usage_chunk("s1", 0, NOW, &last, &counts).await.unwrap());
    assert!(!store.replay_usage_chunk("s1", 0, NOW, &last, &counts).await.unwrap());
    assert_eq!(read().await, (Some(NOW + 5), vec![usage(&key.id, DAY1, "VALID", 2)]));
    assert!(store.replay_usage_chunk("s1", 1, NOW, &[], &counts).await.unwrap());
    assert!(store.replay_usage_chunk("s2", 0, NOW, &[], &counts).await.unwrap());
    assert_eq!(read().await, (Some(NOW + 5), vec![usage(&key.id, DAY1, "VALID", 6)]));
    store.forget_usage_spill("s1").await.unwrap();
    assert!(!store.replay_usage_chunk("s2", 0, NOW, &[], &counts).await.unwrap());
    assert!(store.replay_usage_chunk("s1", 0, NOW, &[], &counts).await.unwrap());
    assert_eq!(read().await, (Some(NOW + 5), vec![usage(&key.id, DAY1, "VALID", 8)]));
}
