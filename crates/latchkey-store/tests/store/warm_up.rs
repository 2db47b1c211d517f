//! The statements the verifier's warm-up reads keys with: their results,
//! and their query plans (each page seeks on an index, never reading the
//! keys before it).

use std::sync::Arc;

use latchkey_core::id::KeyId;
use latchkey_store::sql::{RECENTLY_USED_KEYS, USABLE_KEYS};
use latchkey_store::{NewApiKey, Store};

use crate::Db;
use crate::fixtures::{HOUR, NOW, ev, page, world};
use crate::keys::ids;
use crate::plans::{Arg, plan, postgres_scan_of_keys, sqlite_step_on_keys};

store_tests! {
    usable_keys_are_paged_by_id_across_organizations,
    recently_used_keys_are_paged_by_last_use,
}

store_tests! {
    with_db: the_warm_up_seeks_on_the_primary_key,
    the_recent_keys_warm_up_seeks_on_the_last_use,
}

async fn usable_keys_are_paged_by_id_across_organizations(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let theirs = store.list_keys(&other.id, &Default::default(), &page(10)).await.unwrap();
    let active = w.key("active");
    let expiring = NewApiKey { expires_at: Some(NOW + 1), ..w.key("expiring") };
    let expired = NewApiKey { expires_at: Some(NOW), ..w.key("expired") };
    let revoked = w.key("revoked");
    for k in [&active, &expiring, &expired, &revoked] {
        store.insert_key(k, &ev()).await.unwrap();
    }
    store.revoke_key(&w.org.id, &revoked.id, NOW - 1, &ev()).await.unwrap().unwrap();

    let mut usable: Vec<&str> = vec![&w.admin_key.id, &theirs[0].id, &active.id, &expiring.id];
    usable.sort_unstable();
    assert_eq!(ids(&store.usable_keys(None, 100, NOW).await.unwrap()), usable);
    assert_eq!(ids(&store.usable_keys(None, 2, NOW).await.unwrap()), usable[..2]);
    assert_eq!(ids(&store.usable_keys(Some(&KeyId::from(usable[1])), 2, NOW).await.unwrap()), usable[2..]);
    assert_eq!(store.usable_keys(Some(&KeyId::from(usable[3])), 2, NOW).await.unwrap(), []);
    // Records come with their owners, as everywhere.
    let all = store.usable_keys(None, 100, NOW).await.unwrap();
    let admin = all.iter().find(|k| k.id == w.admin_key.id).unwrap();
    assert_eq!(Some(admin), store.get_key(&w.org.id, &w.admin_key.id).await.unwrap().as_ref());
    // Later, the expiring key has expired too.
    assert!(!ids(&store.usable_keys(None, 100, NOW + 1).await.unwrap()).contains(&expiring.id.as_str()));
}

/// The warm-up's order: ten-minute buckets of the last use, most recent
/// first, and within one bucket by id, descending (how finely the index
/// orders keys, `api_keys_by_last_use_bucket`).
const BUCKET: i64 = 600_000;

async fn recently_used_keys_are_paged_by_last_use(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let theirs = store.list_keys(&other.id, &Default::default(), &page(10)).await.unwrap();
    let keys: Vec<NewApiKey> = (0..4).map(|i| w.key(&format!("k{i}"))).collect();
    let never = w.key("never");
    let long_ago = w.key("long ago");
    let expired = NewApiKey { expires_at: Some(NOW), ..w.key("expired") };
    let revoked = w.key("revoked");
    for k in keys.iter().chain([&never, &long_ago, &expired, &revoked]) {
        store.insert_key(k, &ev()).await.unwrap();
    }
    store.revoke_key(&w.org.id, &revoked.id, NOW - 1, &ev()).await.unwrap().unwrap();
    // `b` starts the bucket of NOW. k0 and k1 share it: the id orders them
    // (descending), whichever was used last.
    let b = NOW - NOW.rem_euclid(BUCKET);
    let used = [
        (keys[0].id.clone(), b + 1),
        (keys[1].id.clone(), b),
        (theirs[0].id.clone(), b - 1),
        (keys[2].id.clone(), b - BUCKET - 1),
        (keys[3].id.clone(), NOW - HOUR),
        // In the window's first bucket but before the window: not read.
        (long_ago.id.clone(), NOW - HOUR - 1),
        (expired.id.clone(), NOW - 1),
        (revoked.id.clone(), NOW - 1),
    ];
    store.record_last_used(&used).await.unwrap();

    let since = NOW - HOUR;
    let (hi, lo) = if keys[0].id > keys[1].id { (&keys[0], &keys[1]) } else { (&keys[1], &keys[0]) };
    let want = [hi.id.as_str(), lo.id.as_str(), theirs[0].id.as_str(), keys[2].id.as_str(), keys[3].id.as_str()];
    assert_eq!(ids(&store.recently_used_keys(since, None, 100, NOW).await.unwrap()), want);
    let first = store.recently_used_keys(since, None, 3, NOW).await.unwrap();
    assert_eq!(ids(&first), want[..3]);
    let last = &first[2];
    let below = (last.last_used_at.unwrap(), &last.id);
    assert_eq!(ids(&store.recently_used_keys(since, Some(below), 3, NOW).await.unwrap()), want[3..]);
    let end = (NOW - HOUR, &keys[3].id);
    assert_eq!(store.recently_used_keys(since, Some(end), 3, NOW).await.unwrap(), []);
    // Shorter windows: the last use is exact, the bucket only orders.
    assert_eq!(ids(&store.recently_used_keys(b - 1, None, 100, NOW).await.unwrap()), want[..3]);
    assert_eq!(ids(&store.recently_used_keys(b + 1, None, 100, NOW).await.unwrap()), [keys[0].id.as_str()]);
    // Below a key of the first bucket: the rest of that bucket, then on.
    let below_hi = (b, &hi.id);
    assert_eq!(store.recently_used_keys(since, Some(below_hi), 1, NOW).await.unwrap()[0].id, lo.id);

    // A later use moves k2 into the first bucket; an earlier one moves
    // nothing back.
    store.record_last_used(&[(keys[2].id.clone(), NOW), (keys[3].id.clone(), NOW - 2 * HOUR)]).await.unwrap();
    let now_first = store.recently_used_keys(since, None, 100, NOW).await.unwrap();
    let mut first_bucket = vec![keys[0].id.as_str(), keys[1].id.as_str(), keys[2].id.as_str()];
    first_bucket.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids(&now_first)[..3], first_bucket);
    assert_eq!(ids(&now_first)[3..], [theirs[0].id.as_str(), keys[3].id.as_str()]);
    assert_eq!(now_first.iter().find(|k| k.id == keys[3].id).unwrap().last_used_at, Some(NOW - HOUR));
}

async fn the_warm_up_seeks_on_the_primary_key(store: Arc<dyn Store>, db: Db) {
    let w = world(&*store).await;
    for i in 0..3 {
        store.insert_key(&w.key(&format!("k{i}")), &ev()).await.unwrap();
    }
    let plan = plan(&db, USABLE_KEYS, &[Arg::Int(NOW), Arg::Text("key_01"), Arg::Int(100)]).await;
    match db {
        // `SEARCH k USING INDEX sqlite_autoindex_api_keys_1 (id>?)`, where
        // an `OR` with `IS NULL` makes it `SCAN k USING INDEX …`.
        Db::Sqlite(_) => {
            assert!(plan.iter().any(|l| l.starts_with("SEARCH k ") && l.contains("(id>?)")), "{plan:#?}");
            assert!(!plan.iter().any(|l| l.starts_with("SCAN k")), "{plan:#?}");
        }
        // An index scan of the keys bounded by `Index Cond: (id > …)`,
        // where an `OR` with `IS NULL` makes it a `Filter` over every key.
        Db::Postgres(_) => {
            let (scan, details) = postgres_scan_of_keys(&plan);
            assert!(scan.contains("Index Scan using api_keys_pkey"), "{plan:#?}");
            assert!(details.iter().any(|l| l.contains("Index Cond: (id > COALESCE($2")), "{plan:#?}");
            assert!(!details.iter().any(|l| l.contains("Filter:") && l.contains("$2")), "{plan:#?}");
        }
    }
}

/// [`RECENTLY_USED_KEYS`] seeks on `api_keys_by_last_use_bucket` to where the page
/// starts and reads down from there, on both backends.
async fn the_recent_keys_warm_up_seeks_on_the_last_use(store: Arc<dyn Store>, db: Db) {
    let w = world(&*store).await;
    for i in 0..3 {
        store.insert_key(&w.key(&format!("k{i}")), &ev()).await.unwrap();
    }
    let args = [
        Arg::Int(NOW),
        Arg::Int(NOW - HOUR),
        Arg::Int(NOW - HOUR - BUCKET),
        Arg::Int(NOW - BUCKET),
        Arg::Text("key_01"),
        Arg::Int(100),
    ];
    let plan = plan(&db, RECENTLY_USED_KEYS, &args).await;
    match db {
        // `SEARCH k USING INDEX api_keys_by_last_use_bucket (last_used_bucket>? AND last_used_bucket<?)` or
        // with the row value, never a `SCAN` of the keys nor a sort.
        Db::Sqlite(_) => {
            let step = sqlite_step_on_keys(&plan);
            assert!(
                step.starts_with("SEARCH k USING INDEX api_keys_by_last_use_bucket (last_used_bucket"),
                "{plan:#?}"
            );
            assert!(!plan.iter().any(|l| l.contains("TEMP B-TREE")), "sorted after reading: {plan:#?}");
        }
        // A backward index scan bounded by `Index Cond` on the row value.
        Db::Postgres(_) => {
            let (scan, details) = postgres_scan_of_keys(&plan);
            assert!(scan.contains("Index Scan Backward using api_keys_by_last_use_bucket"), "{plan:#?}");
            assert!(details.iter().any(|l| l.contains("Index Cond:") && l.contains("last_used_bucket")), "{plan:#?}");
            assert!(!plan.iter().any(|l| l.contains("Sort")), "sorted after reading: {plan:#?}");
        }
    }
}
