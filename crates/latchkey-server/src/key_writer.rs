//! Group commit of new keys: concurrent creations share a transaction and
//! its WAL sync.
//!
//! Every `POST /v1/api-keys` (and `…/batch`, and the other minting routes)
//! hands its key and audit event to [`KeyWriter::insert`], which queues them
//! for the committer task and waits for its answer. The committer takes what is
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
//! Only SQLite groups writes: it has one writer, so concurrent transactions
//! queue on its write lock anyway (and its busy handler sleeps), and each
//! commit syncs the WAL. On PostgreSQL, whose transactions overlap, every
//! write is its own transaction, one statement and so one round trip
//! (`insert_keys` there is a single statement); grouping those behind one
//! committer measured no faster (bench/RESULTS.md). The committer is
//! started on first use, on the runtime of that request; if it is gone
//! (its runtime shut down), a write goes straight to the store.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use latchkey_store::{ApiKeyRecord, AuditEvent, NewApiKey, Store, StoreResult};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;

/// Most keys one group transaction writes (a full batch and the single
/// creations queued behind it).
pub const MAX_GROUP_KEYS: usize = 2_048;

/// Writes queued for the committer at most; callers beyond wait their turn.
const QUEUE_LEN: usize = 1_024;

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
    /// Whether writes are grouped (SQLite).
    grouped: bool,
    queue: OnceLock<mpsc::Sender<Write>>,
}

impl std::fmt::Debug for KeyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWriter").field("started", &self.queue.get().is_some()).finish_non_exhaustive()
    }
}

impl KeyWriter {
    /// A writer over `store`; its committer (SQLite) starts on first use.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let grouped = store.backend_name() == "sqlite";
        Self { store, grouped, queue: OnceLock::new() }
    }

    /// Stores `keys` with `events`, all or none, in a transaction it may
    /// share with other callers'; returns, once that transaction committed,
    /// the keys as stored, in order (or the failure, with nothing of `keys`
    /// stored).
    ///
    /// # Errors
    /// The store's error, or 500 if the committer stopped before answering.
    pub async fn insert(&self, keys: Vec<NewApiKey>, events: Vec<AuditEvent>) -> Result<Vec<ApiKeyRecord>, ApiError> {
        if !self.grouped {
            return Ok(write_alone(self.store.as_ref(), &keys, &events).await?);
        }
        let (done, answer) = oneshot::channel();
        let queue = self.queue.get_or_init(|| spawn_committer(Arc::clone(&self.store)));
        if let Err(mpsc::error::SendError(w)) = queue.send(Write { keys, events, done }).await {
            // The committer is gone (its runtime shut down): write directly.
            return Ok(write_alone(self.store.as_ref(), &w.keys, &w.events).await?);
        }
        let stopped = || ApiError::internal(&std::io::Error::other("the key committer stopped before answering"));
        Ok(answer.await.map_err(|_| stopped())??)
    }
}

/// Starts the committer on the current runtime.
fn spawn_committer(store: Arc<dyn Store>) -> mpsc::Sender<Write> {
    let (queue, mut waiting) = mpsc::channel::<Write>(QUEUE_LEN);
    tokio::spawn(async move {
        let mut group = Vec::new();
        while let Some(first) = waiting.recv().await {
            let mut n = first.keys.len();
            group.push(first);
            while n < MAX_GROUP_KEYS {
                let Ok(next) = waiting.try_recv() else { break };
                n += next.keys.len();
                group.push(next);
            }
            commit(store.as_ref(), &mut group).await;
        }
    });
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
    use latchkey_core::id::{OrgId, UserId};
    use latchkey_core::{Environment, KeyPrefix, PlainKey};
    use latchkey_store::sqlite::SqliteStore;
    use latchkey_store::{Org, User};

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
    #[tokio::test]
    async fn a_failing_write_fails_alone_and_its_group_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
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
        // committer first runs: one group.
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
}
