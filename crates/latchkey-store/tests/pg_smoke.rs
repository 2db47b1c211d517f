//! The PostgreSQL adapter against a real server: database creation,
//! concurrent migration, round trips, and the rules that need locking
//! (last admin, credits, invitations) under concurrency; invalidations over
//! `NOTIFY`, including a lost listener connection.
//!
//! Runs when `LATCHKEY_TEST_DATABASE_URL` names a server
//! (`postgres://postgres@127.0.0.1:5432`); each test uses its own fresh
//! database on it and drops it afterwards.
#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected state")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_core::id::{IdKind, new_id};
use latchkey_core::{Environment, KeyHash, KeyPrefix, PlainKey, Role};
use latchkey_store::postgres::PgStore;
use latchkey_store::{
    AcceptError, AuditEvent, AuditStore, ChangeCursor, Invalidation, InvalidationSink, Invitation, KeyFilter, KeyStore,
    LAST_ADMIN, NewApiKey, Org, OrgPatch, OrgStore, Page, PeopleStore, Project, ProjectStore, Session, Spend, Store,
    StoreError, UsageCount, User,
};
use sqlx::Connection as _;

const NOW: i64 = 1_750_000_000_000;

/// A fresh database on the test server: its URL and an admin URL to drop it.
struct TestDb {
    url: String,
    admin_url: String,
    name: String,
}

impl TestDb {
    fn new() -> Option<Self> {
        let Ok(base) = std::env::var("LATCHKEY_TEST_DATABASE_URL") else {
            eprintln!("LATCHKEY_TEST_DATABASE_URL is not set: skipping the PostgreSQL smoke test");
            return None;
        };
        let (server, query) = match base.split_once('?') {
            Some((s, q)) => (s.trim_end_matches('/').to_owned(), format!("?{q}")),
            None => (base.trim_end_matches('/').to_owned(), String::new()),
        };
        let name = format!("lk_smoke_{}", new_id(IdKind::Event).to_lowercase());
        Some(Self { url: format!("{server}/{name}{query}"), admin_url: format!("{server}/postgres{query}"), name })
    }

    async fn admin(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.admin_url).await.unwrap()
    }

    async fn conn(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url).await.unwrap()
    }

    async fn drop_db(self) {
        let mut admin = self.admin().await;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

fn plain_key() -> PlainKey {
    PlainKey::generate(&KeyPrefix::branded("lk", Environment::Live).unwrap())
}

fn page(limit: u32) -> Page {
    Page { limit, before: None }
}

fn new_org(name: &str) -> Org {
    Org {
        id: new_id(IdKind::Org),
        name: name.to_owned(),
        slug: format!("{name}-{}", new_id(IdKind::Org).to_lowercase()),
        members_see_all_keys: false,
        created_at: NOW,
    }
}

fn new_user(email: &str) -> User {
    User { id: new_id(IdKind::User), email: email.to_owned(), display_name: email.to_owned(), created_at: NOW }
}

fn session(user_id: &str, org_id: &str) -> Session {
    Session {
        id: new_id(IdKind::Session),
        user_id: user_id.to_owned(),
        token_hash: KeyHash::of(&new_id(IdKind::Session)),
        current_org_id: Some(org_id.to_owned()),
        ip: None,
        user_agent: None,
        created_at: NOW,
        expires_at: NOW + 3_600_000,
        last_used_at: None,
        revoked_at: None,
    }
}

/// Invites `email` to `org_id` as `role`; returns the token hash.
async fn invite(store: &PgStore, org_id: &str, email: &str, role: Role) -> KeyHash {
    let token_hash = KeyHash::of(&new_id(IdKind::Invitation));
    store
        .insert_invitation(
            &Invitation {
                id: new_id(IdKind::Invitation),
                org_id: org_id.to_owned(),
                email: email.to_owned(),
                role,
                token_hash,
                invited_by: None,
                created_at: NOW,
                expires_at: NOW + 3_600_000,
                accepted_at: None,
                revoked_at: None,
            },
            &ev(),
        )
        .await
        .unwrap();
    token_hash
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_trips_and_locking_rules() {
    let Some(db) = TestDb::new() else { return };

    // Several nodes starting together on a database that does not exist yet.
    let stores = futures_join_all((0..4).map(|_| PgStore::connect(&db.url))).await;
    let store = Arc::new(stores.into_iter().map(Result::unwrap).next().unwrap());
    assert_eq!(store.backend_name(), "postgres");
    store.ping().await.unwrap();
    assert!(store.pool_stats().size >= 1);

    // Bootstrap, once.
    let org = new_org("acme");
    let alice = new_user("alice@example.com");
    let key_plain = plain_key();
    let key = NewApiKey::admin(&key_plain, &org.id, &alice.id, "first", NOW);
    store.bootstrap(&org, &alice, &key, &[]).await.unwrap();
    let again = store.bootstrap(&new_org("other"), &new_user("x@example.com"), &key, &[]).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

    assert_eq!(store.get_org(&org.id).await.unwrap(), Some(org.clone()));
    assert_eq!(store.get_user(&alice.id).await.unwrap(), Some(alice.clone()));
    let found = store.find_key_by_hash(&key_plain.hash()).await.unwrap().unwrap();
    assert_eq!(found.id, key.id);
    assert_eq!(found.owner_role, Some(Role::Admin));
    assert_eq!(found.owner_email.as_deref(), Some("alice@example.com"));
    assert_eq!(store.get_key(&org.id, &key.id).await.unwrap(), Some(found.clone()));
    assert_eq!(store.get_key("org_other", &key.id).await.unwrap(), None);
    // Several hashes in one query (the verifier's re-reads); unknown ones are absent.
    let many = store.find_keys_by_hashes(&[plain_key().hash(), key_plain.hash()]).await.unwrap();
    assert_eq!(many, vec![found.clone()]);
    assert!(store.find_keys_by_hashes(&[]).await.unwrap().is_empty());

    // Organization patch and slug uniqueness.
    let patched = store
        .update_org(&org.id, &OrgPatch { members_see_all_keys: Some(true), ..OrgPatch::default() }, &ev())
        .await
        .unwrap()
        .unwrap();
    assert!(patched.members_see_all_keys);
    assert_eq!(patched.name, "acme");
    let other = new_org("beta");
    store.create_org(&other, &alice.id, &ev()).await.unwrap();
    let taken =
        store.update_org(&other.id, &OrgPatch { slug: Some(org.slug.clone()), ..OrgPatch::default() }, &ev()).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    assert_eq!(store.update_org("org_missing", &OrgPatch::default(), &ev()).await.unwrap(), None);
    let orgs = store.user_orgs(&alice.id, &page(10)).await.unwrap();
    assert_eq!(orgs.len(), 2);
    assert!(orgs[0].0.id > orgs[1].0.id, "newest first");

    // Reusing the admin user by email.
    let gamma = new_org("gamma");
    let reused = store
        .create_org_with_admin(
            &gamma,
            &new_user("alice@example.com"),
            &NewApiKey::admin(&plain_key(), &gamma.id, "ignored", "g", NOW),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(reused, alice.id);

    // Sign-up, invitations (accepted once, by the invited person only).
    let bob = new_user("bob@example.com");
    let bob_org = new_org("bobs");
    store.sign_up(&bob, "hash", &bob_org, &session(&bob.id, &bob_org.id), &[]).await.unwrap();
    let dup = store.sign_up(&bob, "hash", &new_org("bobs2"), &session(&bob.id, &bob_org.id), &[]).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let token = invite(&store, &org.id, "bob@example.com", Role::Admin).await;
    let wrong = store.accept_invitation(&token, &alice, NOW, &|_| ev()).await.unwrap();
    assert_eq!(wrong, Err(AcceptError::WrongUser));
    let accepts = futures_join_all((0..4).map(|_| store.accept_invitation(&token, &bob, NOW, &|_| ev()))).await;
    let ok = accepts.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let not_found = accepts.iter().filter(|r| matches!(r, Ok(Err(AcceptError::NotFound)))).count();
    assert_eq!((ok, not_found), (1, 3), "{accepts:?}");
    let token2 = invite(&store, &org.id, "bob@example.com", Role::Member).await;
    assert_eq!(store.accept_invitation(&token2, &bob, NOW, &|_| ev()).await.unwrap(), Err(AcceptError::AlreadyMember));
    assert_eq!(store.role_of(&org.id, &bob.id).await.unwrap(), Some(Role::Admin));

    // The last-admin rule under concurrency: of two simultaneous demotions of
    // the only two admins, exactly one succeeds.
    for round in 0..10 {
        let (e1, e2) = (ev(), ev());
        let (a, b) = tokio::join!(
            store.set_role(&org.id, &alice.id, Role::Member, &e1),
            store.set_role(&org.id, &bob.id, Role::Member, &e2)
        );
        let refused =
            [&a, &b].iter().filter(|r| matches!(r, Err(StoreError::Conflict(reason)) if reason == LAST_ADMIN)).count();
        assert_eq!(refused, 1, "round {round}: {a:?} {b:?}");
        let admins: Vec<_> = store
            .list_members(&org.id, &page(10))
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.role == Role::Admin)
            .collect();
        assert_eq!(admins.len(), 1);
        // Restore both as admins.
        store.set_role(&org.id, &alice.id, Role::Admin, &ev()).await.unwrap().unwrap();
        store.set_role(&org.id, &bob.id, Role::Admin, &ev()).await.unwrap().unwrap();
    }
    let (e1, e2) = (ev(), ev());
    let (a, b) = tokio::join!(store.remove_member(&org.id, &alice.id, &e1), store.remove_member(&org.id, &bob.id, &e2));
    assert_eq!([&a, &b].iter().filter(|r| matches!(r, Ok(true))).count(), 1, "{a:?} {b:?}");
    assert!(matches!(store.remove_member(&org.id, "usr_nobody", &ev()).await, Ok(false)));
    assert!(store.set_role(&org.id, "usr_nobody", Role::Member, &ev()).await.unwrap().is_none());

    // Credits are exact under concurrency.
    let mut credited = NewApiKey::admin(&plain_key(), &org.id, &alice.id, "credits", NOW);
    credited.owner_user_id = None;
    credited.remaining = Some(100);
    store.insert_key(&credited, &ev()).await.unwrap();
    let spends = futures_join_all((0..130).map(|i| store.spend_credits(&credited.id, 1, NOW + i, None))).await;
    let spent = spends.iter().filter(|s| matches!(s, Ok(Spend::Spent(_)))).count();
    let exhausted = spends.iter().filter(|s| matches!(s, Ok(Spend::Exhausted))).count();
    assert_eq!((spent, exhausted), (100, 30));
    assert_eq!(store.get_key(&org.id, &credited.id).await.unwrap().unwrap().remaining, Some(0));

    // Batched usage (duplicates summed, deleted keys skipped) and last use.
    let day = "2025-06-15".to_owned();
    let usage = |key_id: &str, outcome: &str, count: i64| UsageCount {
        key_id: key_id.to_owned(),
        day: day.clone(),
        outcome: outcome.to_owned(),
        count,
    };
    store
        .record_usage(&[
            usage(&credited.id, "VALID", 2),
            usage(&credited.id, "VALID", 3),
            usage(&credited.id, "RATE_LIMITED", 1),
            usage("key_deleted", "VALID", 9),
        ])
        .await
        .unwrap();
    store.record_usage(&[usage(&credited.id, "VALID", 1)]).await.unwrap();
    let counts = store.key_usage(&org.id, &credited.id, "2025-06-01").await.unwrap();
    assert_eq!(counts, vec![usage(&credited.id, "RATE_LIMITED", 1), usage(&credited.id, "VALID", 6)]);
    store
        .record_last_used(&[(credited.id.clone(), NOW + 50), (credited.id.clone(), NOW + 70), ("key_x".into(), 1)])
        .await
        .unwrap();
    store.record_last_used(&[(credited.id.clone(), NOW + 60)]).await.unwrap();
    assert_eq!(store.get_key(&org.id, &credited.id).await.unwrap().unwrap().last_used_at, Some(NOW + 70));

    // Paging and filters.
    let listed = store.list_keys(&org.id, &KeyFilter::default(), &page(1)).await.unwrap();
    assert_eq!(listed.len(), 2, "limit + 1");
    assert!(listed[0].id > listed[1].id);
    let next = store
        .list_keys(&org.id, &KeyFilter::default(), &Page { limit: 5, before: Some(listed[0].id.clone()) })
        .await
        .unwrap();
    assert!(next.iter().all(|k| k.id < listed[0].id));
    let usable = store.usable_keys(None, 100, NOW).await.unwrap();
    assert!(usable.windows(2).all(|w| w[0].id < w[1].id));

    // Rotation happens once.
    let successor = NewApiKey {
        rotated_from: Some(key.id.clone()),
        ..NewApiKey::admin(&plain_key(), &org.id, &alice.id, "next", NOW)
    };
    let successor2 = NewApiKey {
        rotated_from: Some(key.id.clone()),
        ..NewApiKey::admin(&plain_key(), &org.id, &alice.id, "next", NOW)
    };
    let (e1, e2) = (ev(), ev());
    let (r1, r2) = tokio::join!(
        store.rotate_key(&org.id, &key.id, &successor, NOW + 1000, &e1),
        store.rotate_key(&org.id, &key.id, &successor2, NOW + 1000, &e2)
    );
    assert_eq!([&r1, &r2].iter().filter(|r| matches!(r, Ok(Some(_)))).count(), 1, "{r1:?} {r2:?}");

    // Projects with active keys cannot be deleted.
    let project = Project {
        id: new_id(IdKind::Project),
        org_id: org.id.clone(),
        name: "p".into(),
        description: None,
        created_at: NOW,
        updated_at: NOW,
    };
    store.insert_project(&project, &ev()).await.unwrap();
    let in_project = NewApiKey {
        project_id: Some(project.id.clone()),
        ..NewApiKey::admin(&plain_key(), &org.id, &alice.id, "p", NOW)
    };
    store.insert_key(&in_project, &ev()).await.unwrap();
    assert!(matches!(store.delete_project(&org.id, &project.id, NOW, &ev()).await, Err(StoreError::Conflict(_))));
    store.revoke_key(&org.id, &in_project.id, NOW, &ev()).await.unwrap().unwrap();
    assert!(store.delete_project(&org.id, &project.id, NOW + 1, &ev()).await.unwrap());
    assert_eq!(store.delete_key(&org.id, &in_project.id, &ev()).await.unwrap(), Some(in_project.hash));

    // The audit trail is append-only.
    let event = AuditEvent {
        id: new_id(IdKind::Event),
        org_id: Some(org.id.clone()),
        at: NOW,
        actor_type: "user".into(),
        actor_id: Some(alice.id.clone()),
        action: "api_key.create".into(),
        target_type: None,
        target_id: None,
        ip: None,
        request_id: None,
        details: "{}".into(),
    };
    store.append_event(&event).await.unwrap();
    let mut conn = db.conn().await;
    for sql in ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"] {
        let refused = sqlx::query(sql).execute(&mut conn).await;
        assert!(refused.is_err(), "{sql} must be refused");
    }
    conn.close().await.unwrap();

    drop(store);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_travel_and_survive_a_lost_connection() {
    let Some(db) = TestDb::new() else { return };
    let store = Arc::new(PgStore::connect(&db.url).await.unwrap());
    store.publish_invalidation(&[]).await.unwrap();

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
    drop(store);
    db.drop_db().await;
}

/// Runs futures concurrently (on this task) and collects their outputs.
async fn futures_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in set.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_seconds() {
    let started = std::time::Instant::now();
    let result = PgStore::connect("postgres://postgres@127.0.0.1:9/latchkey").await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// The hashes the change log names from `cursor` on, polled until `done`
/// says so (other databases' transactions on the same server may hold the
/// horizon back for a moment) or `polls` polls 50 ms apart pass; returns
/// them and the cursor.
async fn changes_until(
    store: &PgStore,
    mut cursor: ChangeCursor,
    polls: usize,
    done: impl Fn(&[KeyHash]) -> bool,
) -> (Vec<KeyHash>, ChangeCursor) {
    let mut seen = Vec::new();
    for _ in 0..polls {
        let (changed, next) = store.key_changes(cursor).await.unwrap();
        let Invalidation::Keys(hashes) = changed else { panic!("a handful of changes is not everything") };
        seen.extend(hashes);
        cursor = next;
        if done(&seen) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (seen, cursor)
}

/// The change log names every committed change that can alter a
/// verification, including one whose transaction started first and commits
/// last (polling by sequence number would skip it), and nothing that
/// verification writes itself (usage, `lastUsedAt`, credits).
#[tokio::test]
async fn the_change_log_misses_no_late_commit() {
    let Some(db) = TestDb::new() else { return };
    let store = PgStore::connect(&db.url).await.unwrap();
    let org = new_org("acme");
    let alice = new_user("alice@example.com");
    let admin = NewApiKey::admin(&plain_key(), &org.id, &alice.id, "admin", NOW);
    store.bootstrap(&org, &alice, &admin, &[]).await.unwrap();
    let (early, late) = (plain_key(), plain_key());
    let early_key = NewApiKey::admin(&early, &org.id, &alice.id, "early", NOW);
    let late_key = NewApiKey::admin(&late, &org.id, &alice.id, "late", NOW);
    store.insert_key(&early_key, &ev()).await.unwrap();
    store.insert_key(&late_key, &ev()).await.unwrap();
    let start = store.key_changes_cursor().await.unwrap();

    // A transaction changes `early` and stays open; meanwhile `late` is
    // revoked and committed.
    let mut slow = db.conn().await;
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    sqlx::query("UPDATE api_keys SET name = 'renamed' WHERE id = $1")
        .bind(&early_key.id)
        .execute(&mut slow)
        .await
        .unwrap();
    store.revoke_key(&org.id, &late_key.id, NOW + 1, &ev()).await.unwrap();
    // Nothing past the open transaction is handed out yet: the cursor
    // stays before it.
    let (seen, cursor) = changes_until(&store, start, 10, |_| false).await;
    assert!(!seen.contains(&early.hash()) && !seen.contains(&late.hash()), "{seen:?}");
    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();
    let (seen, cursor) =
        changes_until(&store, cursor, 200, |s| s.contains(&early.hash()) && s.contains(&late.hash())).await;
    assert!(seen.contains(&early.hash()) && seen.contains(&late.hash()), "{seen:?}");

    // Verification's own writes are not changes; a deletion is.
    store.record_last_used(&[(early_key.id.clone(), NOW + 5)]).await.unwrap();
    store
        .record_usage(&[UsageCount {
            key_id: early_key.id.clone(),
            day: "2025-06-15".into(),
            outcome: "VALID".into(),
            count: 3,
        }])
        .await
        .unwrap();
    store.delete_key(&org.id, &late_key.id, &ev()).await.unwrap();
    let (seen, _) = changes_until(&store, cursor, 200, |s| s.contains(&late.hash())).await;
    assert_eq!(seen, vec![late.hash()]);

    // Pruning empties the log.
    assert!(store.prune_key_changes(i64::MAX).await.unwrap() >= 4);
    let (seen, _) = changes_until(&store, ChangeCursor(0), 1, |_| true).await;
    assert!(seen.is_empty(), "{seen:?}");
    drop(slow);
    db.drop_db().await;
}

/// An audit event to hand to the store's mutating methods.
fn ev() -> AuditEvent {
    AuditEvent::operator("org_test", "test", ("api_key", "key_test"), &serde_json::json!({}), 0)
}
