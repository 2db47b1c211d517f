//! The `Store` methods themselves: the backend's name, readiness, pool
//! figures, invalidations, and the key change log (what it names, what it
//! does not, its overflow to "everything", pruning).

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_core::{KeyHash, Role};
use latchkey_store::{
    ChangeCursor, Invalidation, KeyPatch, MAX_KEY_CHANGES, NewApiKey, PRUNE_BATCH, Store, UsageCount,
};

use crate::Db;
use crate::fixtures::{HOUR, NOW, bounded, ev, plain_key, world};

store_tests! {
    with_db: the_store_names_its_backend_and_answers, pruning_goes_in_batches_and_keeps_newer_entries,
}

store_tests! {
    the_change_log_names_every_change_that_can_alter_a_verification,
    more_than_the_maximum_of_changes_comes_back_as_all,
    pruning_empties_the_change_log,
}

/// How long the change log is polled for an entry expected there.
/// PostgreSQL hands out an entry once its transaction and every older one
/// on the server (other databases' included) have finished.
pub const CHANGE_WAIT: Duration = Duration::from_secs(20);

/// The hashes the change log names from `cursor` on, polled every 50 ms
/// until `done` says so or `wait` has passed; with the cursor to go on
/// from.
pub async fn changes_within(
    store: &dyn Store,
    mut cursor: ChangeCursor,
    wait: Duration,
    done: impl Fn(&[KeyHash]) -> bool,
) -> (Vec<KeyHash>, ChangeCursor) {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    loop {
        let (changed, next) = store.key_changes(cursor).await.unwrap();
        let Invalidation::Keys(hashes) = changed else { panic!("a handful of changes is not everything") };
        seen.extend(hashes);
        cursor = next;
        if done(&seen) || Instant::now() >= deadline {
            return (seen, cursor);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the change log names from `cursor` on, once it names every one of
/// `expected` (failing the case after [`CHANGE_WAIT`]): the distinct hashes,
/// in a stable order, and the cursor to go on from.
async fn changes_naming(store: &dyn Store, cursor: ChangeCursor, expected: &[KeyHash]) -> (Vec<KeyHash>, ChangeCursor) {
    let (mut seen, cursor) =
        changes_within(store, cursor, CHANGE_WAIT, |s| expected.iter().all(|h| s.contains(h))).await;
    assert!(expected.iter().all(|h| seen.contains(h)), "expected {expected:?} in the change log, saw {seen:?}");
    seen.sort_by_key(|h| *h.as_bytes());
    seen.dedup();
    (seen, cursor)
}

/// `hashes`, distinct, in [`changes_naming`]'s order.
fn set(mut hashes: Vec<KeyHash>) -> Vec<KeyHash> {
    hashes.sort_by_key(|h| *h.as_bytes());
    hashes.dedup();
    hashes
}

async fn the_store_names_its_backend_and_answers(store: Arc<dyn Store>, db: Db) {
    assert_eq!(store.backend_name(), db.backend());
    store.ping().await.unwrap();
    let stats = store.pool_stats();
    assert!(stats.size >= 1 && stats.idle <= stats.size, "{stats:?}");
    store.publish_invalidation(&[KeyHash::of("k")]).await.unwrap();
    store.publish_invalidation(&[]).await.unwrap();
    // A single node has nobody to hear from: watching returns at once. (The
    // PostgreSQL watcher runs until the process ends: `postgres_only`.)
    if let Db::Sqlite(_) = db {
        let watched = bounded("watching on SQLite", store.watch_invalidations(Arc::new(|i| panic!("{i:?}")))).await;
        watched.unwrap();
    }
}

async fn the_change_log_names_every_change_that_can_alter_a_verification(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let bobs = NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, "bob's", NOW);
    let (key, credited) = (w.key("k"), NewApiKey { remaining: Some(10), ..w.key("credited") });
    // The inserts are read off the log first: on PostgreSQL an entry comes
    // once every older transaction on the server has ended (other
    // databases' too), so a cursor taken right after them may still see
    // them, and `key`'s insert would pass for its update below.
    let start = store.key_changes_cursor().await.unwrap();
    for k in [&bobs, &key, &credited] {
        store.insert_key(k, &ev()).await.unwrap();
    }
    let (_, cursor) = changes_naming(&*store, start, &[bobs.hash, key.hash, credited.hash]).await;

    // A new key and a changed one.
    let new = w.key("new");
    store.insert_key(&new, &ev()).await.unwrap();
    let patch = KeyPatch { rate_limit_per_minute: Some(Some(5)), ..KeyPatch::default() };
    store.update_key(&w.org.id, &key.id, &patch, NOW + 1, &ev()).await.unwrap().unwrap();
    let (_, cursor) = changes_naming(&*store, cursor, &[new.hash, key.hash]).await;

    // What verification writes itself (last use, counts, credits) is no
    // change; a revocation, ending the wait, is.
    store.record_last_used(&[(key.id.clone(), NOW + 5)]).await.unwrap();
    let counted = UsageCount { key_id: key.id.clone(), day: "2025-06-15".into(), outcome: "VALID".into(), count: 3 };
    store.record_usage(std::slice::from_ref(&counted)).await.unwrap();
    store.spend_credits(&credited.id, 1, NOW + 5, None).await.unwrap();
    store.revoke_key(&w.org.id, &new.id, NOW + 6, &ev()).await.unwrap().unwrap();
    let (seen, cursor) = changes_naming(&*store, cursor, &[new.hash]).await;
    assert_eq!(seen, [new.hash]);

    // The owner's role changing, or the owner leaving, changes their keys.
    store.set_role(&w.org.id, &bob.id, Role::Admin, &ev()).await.unwrap().unwrap();
    let (seen, cursor) = changes_naming(&*store, cursor, &[bobs.hash]).await;
    assert_eq!(seen, [bobs.hash]);
    store.remove_member(&w.org.id, &bob.id, &ev()).await.unwrap();
    let (seen, cursor) = changes_naming(&*store, cursor, &[bobs.hash]).await;
    assert_eq!(seen, [bobs.hash]);

    // A rotation changes both keys; a transfer and a deletion their key.
    let successor = NewApiKey { rotated_from: Some(key.id.clone()), ..w.key("next") };
    store
        .rotate_key(&w.org.id, &key.id, &successor, latchkey_store::GraceEnd::At(NOW + HOUR), &ev())
        .await
        .unwrap()
        .unwrap();
    let (seen, cursor) = changes_naming(&*store, cursor, &[key.hash, successor.hash]).await;
    assert_eq!(seen, set(vec![key.hash, successor.hash]));
    store.transfer_key_to_org(&w.org.id, &credited.id, NOW + 7, &ev()).await.unwrap().unwrap();
    let (seen, cursor) = changes_naming(&*store, cursor, &[credited.hash]).await;
    assert_eq!(seen, [credited.hash]);
    store.delete_key(&w.org.id, &successor.id, &ev()).await.unwrap().unwrap();
    let (seen, cursor) = changes_naming(&*store, cursor, &[successor.hash]).await;
    assert_eq!(seen, [successor.hash]);
    assert_eq!(store.key_changes(cursor).await.unwrap().0, Invalidation::Keys(Vec::new()));
}

async fn more_than_the_maximum_of_changes_comes_back_as_all(store: Arc<dyn Store>) {
    const KEYS: usize = 100;
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Admin).await;
    for i in 0..KEYS {
        store
            .insert_key(&NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, &format!("b{i}"), NOW), &ev())
            .await
            .unwrap();
    }
    // Read what is there, so that what follows is counted exactly.
    let marker = w.key("marker");
    let cursor = store.key_changes_cursor().await.unwrap();
    store.insert_key(&marker, &ev()).await.unwrap();
    let (_, start) = changes_naming(&*store, cursor, &[marker.hash]).await;

    // Each role change of bob's names his keys: exactly the maximum.
    let role = |i: usize| if i.is_multiple_of(2) { Role::Member } else { Role::Admin };
    let rounds = MAX_KEY_CHANGES / KEYS;
    for i in 0..rounds {
        store.set_role(&w.org.id, &bob.id, role(i), &ev()).await.unwrap().unwrap();
    }
    let deadline = Instant::now() + CHANGE_WAIT;
    loop {
        match store.key_changes(start).await.unwrap().0 {
            Invalidation::Keys(hashes) if hashes.len() == MAX_KEY_CHANGES => break,
            Invalidation::Keys(hashes) => {
                assert!(Instant::now() < deadline, "{} changes of {MAX_KEY_CHANGES}", hashes.len());
            }
            Invalidation::All => panic!("exactly {MAX_KEY_CHANGES} changes are not more"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // One more: too many to name, so everything.
    store.set_role(&w.org.id, &bob.id, role(rounds), &ev()).await.unwrap().unwrap();
    let next = loop {
        match store.key_changes(start).await.unwrap() {
            (Invalidation::All, next) => break next,
            (Invalidation::Keys(hashes), _) => {
                assert!(Instant::now() < deadline + CHANGE_WAIT, "{} changes", hashes.len());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The cursor it comes with is past them all.
    let after = w.key("after");
    store.insert_key(&after, &ev()).await.unwrap();
    let (seen, _) = changes_naming(&*store, next, &[after.hash]).await;
    assert_eq!(seen, [after.hash]);
}

async fn pruning_empties_the_change_log(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let key = w.key("k");
    store.insert_key(&key, &ev()).await.unwrap();
    // Entries are stamped when made (now, not at the cases' NOW).
    assert_eq!(store.prune_key_changes(0).await.unwrap(), 0);
    let (seen, _) = changes_naming(&*store, ChangeCursor(0), &[key.hash, w.admin_key.hash]).await;
    assert_eq!(seen, set(vec![key.hash, w.admin_key.hash]));
    assert!(store.prune_key_changes(i64::MAX).await.unwrap() >= 2);
    assert_eq!(store.key_changes(ChangeCursor(0)).await.unwrap().0, Invalidation::Keys(Vec::new()));
    assert_eq!(store.prune_key_changes(i64::MAX).await.unwrap(), 0);
}

async fn pruning_goes_in_batches_and_keeps_newer_entries(store: Arc<dyn Store>, db: Db) {
    /// Entries made at 1 s after the epoch: more than two batches.
    const OLD: u64 = 12_345;
    /// Entries made at 2 s, the time pruned before.
    const AT_THE_LIMIT: u64 = 3;
    assert!(OLD > 2 * PRUNE_BATCH.unsigned_abs());
    let w = world(&*store).await;
    let (old, at_the_limit) = match db {
        Db::Sqlite(_) => (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12345) \
             INSERT INTO key_changes (key_hash, changed_at) SELECT randomblob(32), 1000 FROM n",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) \
             INSERT INTO key_changes (key_hash, changed_at) SELECT randomblob(32), 2000 FROM n",
        ),
        Db::Postgres(_) => (
            "INSERT INTO key_changes (key_hash, changed_at) \
             SELECT sha256(i::text::bytea), 1000 FROM generate_series(1, 12345) i",
            "INSERT INTO key_changes (key_hash, changed_at) \
             SELECT sha256(i::text::bytea), 2000 FROM generate_series(1, 3) i",
        ),
    };
    db.execute(old).await.unwrap();
    db.execute(at_the_limit).await.unwrap();

    // Every older entry goes, over several batches; the rest stay.
    assert_eq!(store.prune_key_changes(2000).await.unwrap(), OLD);
    assert_eq!(store.prune_key_changes(2000).await.unwrap(), 0);
    assert_eq!(store.prune_key_changes(2001).await.unwrap(), AT_THE_LIMIT);
    // What the world's keys logged (made now) is still there.
    let (seen, _) = changes_naming(&*store, ChangeCursor(0), &[w.admin_key.hash]).await;
    assert_eq!(seen, [w.admin_key.hash]);
}
