//! The verifier's write-behind: usage counts (summed, keys deleted
//! meanwhile skipped, also while the flush runs) and `lastUsedAt` (never
//! moved back).

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_core::id::KeyId;
use latchkey_store::{Store, UsageCount};
use sqlx::Connection as _;

use crate::Db;
use crate::fixtures::{NOW, ev, world};

store_tests! {
    usage_counts_add_up_by_day_and_outcome,
    last_use_never_moves_back,
    a_flush_writes_last_use_and_counts,
    a_spill_chunk_is_written_once,
}

store_tests! {
    with_db: a_flush_racing_a_key_deletion_neither_fails_nor_keeps_the_key,
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

/// A connection of the case's database holding a transaction open.
enum Held {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// What `key_usage` holds for `key_id`, read on a connection of its own
/// (not through the store, which reads counts through their key).
async fn raw_usage_rows(db: &Db, key_id: &str) -> i64 {
    const COUNT: &str = "SELECT COUNT(*) FROM key_usage WHERE key_id = $1";
    match db {
        Db::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
            sqlx::query_scalar(COUNT).bind(key_id).fetch_one(&mut conn).await.unwrap()
        }
        Db::Postgres(pg) => sqlx::query_scalar(COUNT).bind(key_id).fetch_one(&mut pg.conn().await).await.unwrap(),
    }
}

/// Deletes the key `id` in a transaction left open (its usage with it).
async fn begin_deleting(db: &Db, id: &str) -> Held {
    const DELETE: &str = "DELETE FROM api_keys WHERE id = $1";
    match db {
        Db::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
            assert_eq!(sqlx::query(DELETE).bind(id).execute(&mut conn).await.unwrap().rows_affected(), 1);
            Held::Sqlite(conn)
        }
        Db::Postgres(pg) => {
            let mut conn = pg.conn().await;
            sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
            assert_eq!(sqlx::query(DELETE).bind(id).execute(&mut conn).await.unwrap().rows_affected(), 1);
            Held::Postgres(conn)
        }
    }
}

/// Waits (up to 10 s) until a session of the PostgreSQL database waits for
/// a row lock; on SQLite, whose writers wait in a busy handler that cannot
/// be seen from outside, a moment.
async fn until_a_writer_waits(db: &Db) {
    let Db::Postgres(pg) = db else {
        tokio::time::sleep(Duration::from_millis(100)).await;
        return;
    };
    let mut conn = pg.conn().await;
    let started = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the flush never waited for the deletion");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A key deleted while a flush that counts it is under way: the flush
/// waits for the deletion, then writes the other keys' usage and skips
/// that key's, without failing; the key stays deleted and no count of it
/// is left behind (on PostgreSQL no foreign key guards this since
/// migration 0016: the flush's own row lock does). Counts written before
/// the deletion go with the key.
async fn a_flush_racing_a_key_deletion_neither_fails_nor_keeps_the_key(store: Arc<dyn Store>, db: Db) {
    let w = world(&*store).await;
    let (kept, gone) = (w.key("kept"), w.key("gone"));
    store.insert_key(&kept, &ev()).await.unwrap();
    store.insert_key(&gone, &ev()).await.unwrap();
    store.record_usage(&[usage(&gone.id, DAY1, "VALID", 1)]).await.unwrap();
    assert_eq!(raw_usage_rows(&db, gone.id.as_str()).await, 1);

    let held = begin_deleting(&db, gone.id.as_str()).await;
    let flush = tokio::spawn({
        let store = Arc::clone(&store);
        let (kept, gone) = (kept.id.clone(), gone.id.clone());
        async move {
            // No `lastUsedAt` of the deleted key: its counts alone must
            // wait for the deletion (a key's last use is not always written
            // with its counts).
            let last_used = [(kept.clone(), NOW + 7)];
            let counts =
                [usage(&gone, DAY1, "VALID", 5), usage(&gone, DAY2, "REVOKED", 1), usage(&kept, DAY1, "VALID", 2)];
            store.record_key_usage(&last_used, &counts).await
        }
    });
    until_a_writer_waits(&db).await;
    assert!(!flush.is_finished(), "the flush waits for the deletion");
    match held {
        Held::Sqlite(mut conn) => sqlx::query("COMMIT").execute(&mut conn).await.map(drop).unwrap(),
        Held::Postgres(mut conn) => sqlx::query("COMMIT").execute(&mut conn).await.map(drop).unwrap(),
    }
    flush.await.unwrap().unwrap();

    assert_eq!(store.get_key(&w.org.id, &gone.id).await.unwrap(), None);
    assert_eq!(store.find_key_by_hash(&gone.hash).await.unwrap(), None);
    assert_eq!(raw_usage_rows(&db, gone.id.as_str()).await, 0, "no count of the deleted key is left");
    let stored = store.get_key(&w.org.id, &kept.id).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(NOW + 7));
    assert_eq!(store.key_usage(&w.org.id, &kept.id, DAY1).await.unwrap(), [usage(&kept.id, DAY1, "VALID", 2)]);
}
