//! What only the PostgreSQL adapter does: several nodes creating and
//! migrating one database together, key-cache invalidations over `NOTIFY`
//! (including a lost listener connection), an unreachable server, and a
//! change log that misses no transaction committing late.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_core::KeyHash;
use latchkey_store::postgres::PgStore;
use latchkey_store::{
    ChangeCursor, Invalidation, InvalidationSink, KeyStore as _, NewApiKey, OrgStore as _, Store, StoreError,
};
use sqlx::Connection as _;

use crate::PgDb;
use crate::changes::{CHANGE_WAIT, changes_within};
use crate::fixtures::{NOW, at_once, ev, plain_key, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_create_and_migrate_one_database() {
    let Some(db) = PgDb::from_env("nodes_starting_together_create_and_migrate_one_database") else { return };
    db.run(|db| async move {
        // The database does not exist yet; every node would create it and
        // apply the migrations.
        let nodes = at_once("four nodes starting", 4, |_| {
            let url = db.url.clone();
            async move { PgStore::connect(&url).await.unwrap() }
        })
        .await;
        for node in &nodes {
            node.ping().await.unwrap();
            assert_eq!(node.backend_name(), "postgres");
        }
        // One database: what one node writes, the others read.
        let w = world(&nodes[0]).await;
        for node in &nodes[1..] {
            assert_eq!(node.get_org(&w.org.id).await.unwrap(), Some(w.org.clone()));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_travel_and_survive_a_lost_connection() {
    let Some(db) = PgDb::from_env("invalidations_travel_and_survive_a_lost_connection") else { return };
    db.run(|db| async move {
        let store = Arc::new(PgStore::connect(&db.url).await.unwrap());
        let seen: Arc<Mutex<Vec<Invalidation>>> = Arc::default();
        let sink: InvalidationSink = {
            let seen = Arc::clone(&seen);
            Arc::new(move |i| seen.lock().unwrap().push(i))
        };
        let watcher = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.watch_invalidations(sink).await }
        });
        let wait_for = |n: usize| {
            let seen = Arc::clone(&seen);
            async move {
                for _ in 0..200 {
                    if seen.lock().unwrap().len() >= n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                panic!("expected {n} invalidations, got {:?}", seen.lock().unwrap());
            }
        };
        // Until the listener is up, notifications are not delivered: retry.
        let probe = KeyHash::of("probe");
        for _ in 0..100 {
            store.publish_invalidation(&[probe]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            if !seen.lock().unwrap().is_empty() {
                break;
            }
        }
        wait_for(1).await;
        seen.lock().unwrap().clear();

        // Many hashes travel in several notifications, in order.
        let hashes: Vec<KeyHash> = (0..250).map(|i| KeyHash::of(&format!("k{i}"))).collect();
        store.publish_invalidation(&hashes).await.unwrap();
        wait_for(3).await;
        let got: Vec<KeyHash> = seen
            .lock()
            .unwrap()
            .drain(..)
            .flat_map(|i| match i {
                Invalidation::Keys(k) => k,
                Invalidation::All => panic!("unexpected All"),
            })
            .collect();
        assert_eq!(got, hashes);

        // Kill the listener's connection: it comes back and says `All`.
        let mut admin = db.admin().await;
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
        )
        .bind(&db.name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert_eq!(killed, vec![true]);
        admin.close().await.unwrap();
        wait_for(1).await;
        assert_eq!(seen.lock().unwrap().drain(..).collect::<Vec<_>>(), vec![Invalidation::All]);
        store.publish_invalidation(&[probe]).await.unwrap();
        wait_for(1).await;
        assert_eq!(seen.lock().unwrap().drain(..).collect::<Vec<_>>(), vec![Invalidation::Keys(vec![probe])]);
        assert!(!watcher.is_finished());
        watcher.abort();
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_seconds() {
    let started = std::time::Instant::now();
    let result = PgStore::connect("postgres://postgres@127.0.0.1:9/latchkey").await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A database closed to connections (`ALLOW_CONNECTIONS false`, its
/// sessions ended) is `Unavailable`, which the API answers 503: before, the
/// new connection's 55000 error was an internal error (500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_closed_to_connections_is_unavailable() {
    let Some(db) = PgDb::from_env("a_database_closed_to_connections_is_unavailable") else { return };
    db.run(|db| async move {
        let store = PgStore::connect(&db.url).await.unwrap();
        let w = world(&store).await;
        let mut admin = db.admin().await;
        let allow = |on: bool| format!("ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {on}", db.name);
        sqlx::query(sqlx::AssertSqlSafe(allow(false))).execute(&mut admin).await.unwrap();
        let _: Vec<bool> =
            sqlx::query_scalar("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
                .bind(&db.name)
                .fetch_all(&mut admin)
                .await
                .unwrap();
        let closed = store.get_org(&w.org.id).await;
        sqlx::query(sqlx::AssertSqlSafe(allow(true))).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        assert!(matches!(closed, Err(StoreError::Unavailable(_))), "{closed:?}");
        assert_eq!(store.get_org(&w.org.id).await.unwrap(), Some(w.org.clone()), "usable again once reopened");
    })
    .await;
}

/// The change log names a change whose transaction started first and
/// commits last (polling by sequence number would skip it), and hands out
/// nothing past a transaction still open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_log_misses_no_late_commit() {
    let Some(db) = PgDb::from_env("the_change_log_misses_no_late_commit") else { return };
    db.run(|db| async move {
        let store = PgStore::connect(&db.url).await.unwrap();
        let w = world(&store).await;
        let (early, late) = (plain_key(), plain_key());
        let early_key = NewApiKey::admin(&early, &w.org.id, &w.alice.id, "early", NOW);
        let late_key = NewApiKey::admin(&late, &w.org.id, &w.alice.id, "late", NOW);
        store.insert_key(&early_key, &ev()).await.unwrap();
        store.insert_key(&late_key, &ev()).await.unwrap();
        // Read the log up to their insertion: a cursor taken now could lie
        // before it, while another database's transaction is open.
        let inserted = |s: &[KeyHash]| s.contains(&late.hash());
        let (seen, start) = changes_within(&store, ChangeCursor(0), CHANGE_WAIT, inserted).await;
        assert!(inserted(&seen), "{seen:?}");

        // A transaction changes `early` and stays open; meanwhile `late` is
        // revoked and committed.
        let mut slow = db.conn().await;
        sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
        sqlx::query("UPDATE api_keys SET name = 'renamed' WHERE id = $1")
            .bind(early_key.id.as_str())
            .execute(&mut slow)
            .await
            .unwrap();
        store.revoke_key(&w.org.id, &late_key.id, NOW + 1, &ev()).await.unwrap();
        // Nothing past the open transaction is handed out yet: the cursor
        // stays before it.
        let (seen, cursor) = changes_within(&store, start, Duration::from_millis(500), |_| false).await;
        assert!(!seen.contains(&early.hash()) && !seen.contains(&late.hash()), "{seen:?}");
        sqlx::query("COMMIT").execute(&mut slow).await.unwrap();
        let both = |s: &[KeyHash]| s.contains(&early.hash()) && s.contains(&late.hash());
        let (seen, _) = changes_within(&store, cursor, CHANGE_WAIT, both).await;
        assert!(both(&seen), "{seen:?}");
        slow.close().await.unwrap();
    })
    .await;
}
