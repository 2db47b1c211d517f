//! Group commit of new keys: concurrent creations share a transaction and
//! its WAL sync.
//!
//! Every `POST /v1/api-keys` (and `…/batch`, and the other minting routes)
//! hands its key and audit event to [`KeyWriter::insert`], which queues them
//! for a committer task and waits for its answer. A committer takes what is
//! waiting when it is free (up to [`MAX_GROUP_KEYS`]; it adds no delay of
//! its own: what arrives while one commit syncs forms the next group),
//! writes the group with [`latchkey_store::KeyStore::insert_keys`] (one
//! transaction, one statement per table whatever the group's size, the
//! keys answered as stored without reading them back), and answers each
//! caller only after that transaction committed: an acknowledged key is as
//! durable as before (SQLite `synchronous = FULL`, PostgreSQL's commit),
//! one sync now covering many keys.
//!
//! A write is all-or-nothing for its caller (a batch's keys commit
//! together). If a group's transaction fails, nothing of it is stored, and
//! each write of the group is retried alone, so one write's failure (a
//! project deleted meanwhile) is only its own.
//!
//! SQLite has one writer, so concurrent transactions queue on its write
//! lock anyway (and its busy handler sleeps), and each commit syncs the
//! WAL: one committer. PostgreSQL runs transactions side by side, and a
//! group's statement costs far less per key than one statement per key
//! (the statement, its commit and WAL flush, the round trip and sqlx's work
//! are paid once per group; bench/RESULTS.md, "Issue 25: usage flush and
//! creation, session 16"), but one committer alone would leave the
//! server's other cores idle while it waits: [`PG_COMMITTERS`] committers
//! take turns at the queue, each writing what waited when it took its turn.
//! The committers are started on first use, on the runtime of that
//! request; if they are gone (their runtime shut down), a write goes
//! straight to the store.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use latchkey_store::{ApiKeyRecord, AuditEvent, NewApiKey, Store, StoreResult};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::ApiError;

/// Most keys one group transaction writes (a full batch and the single
/// creations queued behind it).
pub const MAX_GROUP_KEYS: usize = 2_048;

/// Writes queued for the committers at most; callers beyond wait their
/// turn.
const QUEUE_LEN: usize = 1_024;

/// Committers on PostgreSQL (module docs); SQLite has one.
pub const PG_COMMITTERS: usize = 2;

/// Keys and their events, written together, and who waits for the answer.
struct Write {
    keys: Vec<NewApiKey>,
    events: Vec<AuditEvent>,
    done: Answer,
}

/// Who waits for a write's answer: the keys as stored (with their
/// owners), in the order written.
type Answer = oneshot::Sender<StoreResult<Vec<ApiKeyRecord>>>;

/// The group committer of new keys (module docs).
pub struct KeyWriter {
    store: Arc<dyn Store>,
    /// How many committers take groups from the queue.
    committers: usize,
    queue: OnceLock<mpsc::Sender<Write>>,
}

impl std::fmt::Debug for KeyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWriter").field("started", &self.queue.get().is_some()).finish_non_exhaustive()
    }
}

impl KeyWriter {
    /// A writer over `store`; its committers start on first use.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let committers = if store.backend_name() == "sqlite" { 1 } else { PG_COMMITTERS };
        Self { store, committers, queue: OnceLock::new() }
    }

    /// Stores `keys` with `events`, all or none, in a transaction it may
    /// share with other callers'; returns, once that transaction committed,
    /// the keys as stored, in order (or the failure, with nothing of `keys`
    /// stored).
    ///
    /// # Errors
    /// The store's error, or 500 if the committer stopped before answering.
    pub async fn insert(&self, keys: Vec<NewApiKey>, events: Vec<AuditEvent>) -> Result<Vec<ApiKeyRecord>, ApiError> {
        let (done, answer) = oneshot::channel();
        let queue = self.queue.get_or_init(|| spawn_committers(&self.store, self.committers));
        if let Err(mpsc::error::SendError(w)) = queue.send(Write { keys, events, done }).await {
            // The committer is gone (its runtime shut down): write directly.
            return Ok(write_alone(self.store.as_ref(), &w.keys, &w.events).await?);
        }
        let stopped = || ApiError::internal(&std::io::Error::other("the key committer stopped before answering"));
        Ok(answer.await.map_err(|_| stopped())??)
    }
}

/// Starts `n` committers on the current runtime. They take turns at the
/// queue: the one holding it waits for a first write, takes what else is
/// waiting, and lets go of the queue before it writes its group.
fn spawn_committers(store: &Arc<dyn Store>, n: usize) -> mpsc::Sender<Write> {
    let (queue, waiting) = mpsc::channel::<Write>(QUEUE_LEN);
    let waiting = Arc::new(Mutex::new(waiting));
    for _ in 0..n {
        let (store, waiting) = (Arc::clone(store), Arc::clone(&waiting));
        tokio::spawn(async move {
            let mut group = Vec::new();
            loop {
                {
                    let mut waiting = waiting.lock().await;
                    let Some(first) = waiting.recv().await else { break };
                    let mut keys = first.keys.len();
                    group.push(first);
                    while keys < MAX_GROUP_KEYS {
                        let Ok(next) = waiting.try_recv() else { break };
                        keys += next.keys.len();
                        group.push(next);
                    }
                }
                commit(store.as_ref(), &mut group).await;
            }
        });
    }
    queue
}

/// Writes `keys` and `events` in one transaction; the keys as stored, in
/// order.
async fn write_alone(store: &dyn Store, keys: &[NewApiKey], events: &[AuditEvent]) -> StoreResult<Vec<ApiKeyRecord>> {
    store.insert_keys(keys, events).await
}

/// Writes `group` (emptied) in one transaction and answers each write with
/// its keys as stored; if the transaction fails, each write alone.
async fn commit(store: &dyn Store, group: &mut Vec<Write>) {
    if group.len() == 1 {
        if let Some(w) = group.pop() {
            let _ = w.done.send(write_alone(store, &w.keys, &w.events).await);
        }
        return;
    }
    let (mut keys, mut events) = (Vec::new(), Vec::new());
    // Each write's keys and events in the group's, and its answer.
    let mut parts: Vec<(Range<usize>, Range<usize>, Answer)> = Vec::new();
    for w in group.drain(..) {
        let (k, e) = (keys.len(), events.len());
        keys.extend(w.keys);
        events.extend(w.events);
        parts.push((k..keys.len(), e..events.len(), w.done));
    }
    match store.insert_keys(&keys, &events).await {
        Ok(stored) => {
            let mut stored = stored.into_iter();
            for (k, _, done) in parts {
                let _ = done.send(Ok(stored.by_ref().take(k.len()).collect()));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, writes = parts.len(), "group commit of keys failed; writing each alone");
            for (k, e, done) in parts {
                let _ = done.send(write_alone(store, &keys[k], &events[e]).await);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use latchkey_core::id::{IdKind, OrgId, UserId, new_id};
    use latchkey_core::{Environment, KeyPrefix, PlainKey};
    use latchkey_store::postgres::PgStore;
    use latchkey_store::sqlite::SqliteStore;
    use latchkey_store::{Org, User};
    use sqlx::Connection as _;

    use super::*;

    const NOW: i64 = 1_750_000_000_000;

    fn key(org_id: &OrgId, user_id: &UserId) -> NewApiKey {
        let plain = PlainKey::generate(&KeyPrefix::branded("lk", Environment::Live).unwrap());
        NewApiKey::admin(&plain, org_id, user_id, "k", NOW)
    }

    fn event(org_id: &OrgId, k: &NewApiKey) -> AuditEvent {
        AuditEvent::operator(org_id, "api_key.create", ("api_key", &k.id), &serde_json::json!({}), NOW)
    }

    /// Writes queued together share one group; one that cannot be stored
    /// (its organization does not exist) fails alone, and the others of its
    /// group are stored, each exactly once.
    async fn a_failing_write_fails_alone(store: Arc<dyn Store>) {
        let org = Org {
            id: OrgId::new(),
            name: "acme".to_owned(),
            slug: "acme".to_owned(),
            members_see_all_keys: false,
            leak_action: latchkey_store::LeakAction::default(),
            created_at: NOW,
        };
        let user = User {
            id: UserId::new(),
            email: "a@example.com".to_owned(),
            display_name: "a".to_owned(),
            created_at: NOW,
        };
        let admin = key(&org.id, &user.id);
        store.bootstrap(&org, &user, &admin, &[event(&org.id, &admin)]).await.unwrap();
        let writer = KeyWriter::new(Arc::clone(&store));
        let (a, b1, b2) = (key(&org.id, &user.id), key(&org.id, &user.id), key(&org.id, &user.id));
        let nowhere = OrgId::new();
        let bad = key(&nowhere, &user.id);
        // On this current-thread runtime the three are queued before the
        // committers first run: one group.
        let (ra, rbad, rb) = tokio::join!(
            writer.insert(vec![a.clone()], vec![event(&org.id, &a)]),
            writer.insert(vec![bad.clone()], vec![event(&nowhere, &bad)]),
            writer.insert(vec![b1.clone(), b2.clone()], vec![event(&org.id, &b1), event(&org.id, &b2)]),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.iter().map(|k| &k.id).collect::<Vec<_>>(), [&a.id]);
        assert_eq!(rb.iter().map(|k| &k.id).collect::<Vec<_>>(), [&b1.id, &b2.id]);
        assert!(rbad.is_err());
        for k in [&a, &b1, &b2] {
            assert!(store.get_key(&org.id, &k.id).await.unwrap().is_some());
        }
        assert!(store.find_key_by_hash(&bad.hash).await.unwrap().is_none());
        // A later write still goes through the same committer.
        let c = key(&org.id, &user.id);
        writer.insert(vec![c.clone()], vec![event(&org.id, &c)]).await.unwrap();
        assert!(store.get_key(&org.id, &c.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_failing_write_fails_alone_and_its_group_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        a_failing_write_fails_alone(Arc::new(SqliteStore::open(dir.path()).await.unwrap())).await;
    }

    /// The same on PostgreSQL (grouped behind its committers), on a fresh
    /// database of the server `LATCHKEY_TEST_DATABASE_URL` names (skipped
    /// when it is not set), dropped afterwards.
    #[tokio::test]
    async fn a_failing_write_fails_alone_and_its_group_is_stored_on_postgres() {
        let Ok(server) = std::env::var("LATCHKEY_TEST_DATABASE_URL") else {
            eprintln!("LATCHKEY_TEST_DATABASE_URL is not set: skipping the PostgreSQL group commit test");
            return;
        };
        let server = server.trim_end_matches('/').to_owned();
        let name = format!("latchkey_test_{}", new_id(IdKind::Event).trim_start_matches("evt_"));
        let store = Arc::new(PgStore::connect(&format!("{server}/{name}")).await.unwrap());
        let outcome = tokio::spawn(a_failing_write_fails_alone(Arc::clone(&store) as Arc<dyn Store>)).await;
        drop(store);
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
        let drop_db = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        sqlx::query(sqlx::AssertSqlSafe(drop_db)).execute(&mut admin).await.unwrap();
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}
