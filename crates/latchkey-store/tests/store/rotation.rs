//! `KeyStore::rotate_key`: a successor takes over, once, never from a
//! revoked key; a revocation always wins over a rotation, also when both
//! arrive at once. An old key rotated until unused waits for its quiet time
//! (by its stored last use) or its longest grace, and is revoked once
//! (`unused_rotations_due`, `end_unused_rotation`), unless a revocation
//! came first.

use std::sync::Arc;

use latchkey_core::id::KeyId;
use latchkey_core::{IssuedKey, KeyState};
use latchkey_store::{ApiKeyRecord, AuditEvent, AuditFilter, GraceEnd, NewApiKey, Spend, Store, UntilUnused};

use crate::fixtures::{HOUR, NOW, World, at_once, ev, event, logged, page, world};

store_tests! {
    rotation_hands_over_to_a_successor,
    rotation_happens_once_and_never_after_a_revocation,
    revocation_wins_over_a_concurrent_rotation,
    concurrent_rotations_make_one_successor,
    an_old_key_waits_until_unused_then_is_revoked_once,
    the_longest_grace_ends_the_wait_of_a_key_in_use,
    a_revocation_ends_the_wait_and_one_of_concurrent_ends_wins,
}

/// A successor for `old_id` (not stored).
fn successor(w: &World, old_id: &str) -> NewApiKey {
    NewApiKey { rotated_from: Some(old_id.into()), ..w.key("next") }
}

async fn rotation_hands_over_to_a_successor(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let old = NewApiKey { remaining: Some(10), ..w.key("old") };
    store.insert_key(&old, &ev()).await.unwrap();
    assert_eq!(store.spend_credits(&old.id, 3, NOW, None).await.unwrap(), Spend::Spent(7));

    // The caller read the balance before that spend: the successor gets the
    // balance as it is when the rotation happens.
    let new = NewApiKey { remaining: Some(10), ..successor(&w, &old.id) };
    let rotated = event(&w.org.id, "api_key.rotate");
    let record = store.rotate_key(&w.org.id, &old.id, &new, GraceEnd::At(NOW + HOUR), &rotated).await.unwrap().unwrap();
    assert_eq!((record.id.as_str(), record.rotated_from.as_deref()), (new.id.as_str(), Some(old.id.as_str())));
    assert_eq!((record.remaining, record.revoked_at, record.hash), (Some(7), None, new.hash));
    assert_eq!(store.find_key_by_hash(&new.hash).await.unwrap(), Some(record));
    assert!(logged(&*store, &rotated).await);

    // The old key works until the end of its grace period.
    let old_now = store.get_key(&w.org.id, &old.id).await.unwrap().unwrap();
    assert_eq!((old_now.rotated_to.as_deref(), old_now.revoked_at), (Some(new.id.as_str()), Some(NOW + HOUR)));
    assert_eq!((old_now.status(NOW), old_now.status(NOW + HOUR)), (KeyState::Valid, KeyState::Revoked));
    // A revocation during the grace period brings it forward.
    let revoked = store.revoke_key(&w.org.id, &old.id, NOW + 5, &ev()).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 5));
}

async fn rotation_happens_once_and_never_after_a_revocation(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let key = w.key("k");
    store.insert_key(&key, &ev()).await.unwrap();
    store
        .rotate_key(&w.org.id, &key.id, &successor(&w, &key.id), GraceEnd::At(NOW + HOUR), &ev())
        .await
        .unwrap()
        .unwrap();

    // Rotated already; revoked (even in the future); another organization's;
    // missing: `None`, and the would-be successor is not stored.
    let revoked = w.key("revoked");
    store.insert_key(&revoked, &ev()).await.unwrap();
    store.revoke_key(&w.org.id, &revoked.id, NOW + HOUR, &ev()).await.unwrap().unwrap();
    let none = event(&w.org.id, "api_key.rotate.refused");
    for (org_id, old_id) in
        [(&w.org.id, &key.id), (&w.org.id, &revoked.id), (&other.id, &key.id), (&w.org.id, &KeyId::from("key_missing"))]
    {
        let new = successor(&w, old_id);
        let answer = store.rotate_key(org_id, old_id, &new, GraceEnd::At(NOW + HOUR), &none).await.unwrap();
        assert_eq!(answer, None, "rotating {old_id} in {org_id}");
        assert_eq!(store.find_key_by_hash(&new.hash).await.unwrap(), None);
    }
    assert!(!logged(&*store, &none).await);
    let revoked_now = store.get_key(&w.org.id, &revoked.id).await.unwrap().unwrap();
    assert_eq!((revoked_now.revoked_at, revoked_now.rotated_to), (Some(NOW + HOUR), None));
}

async fn revocation_wins_over_a_concurrent_rotation(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let w = Arc::new(w);
    let mut rotated_first = 0;
    for round in 0..10 {
        let key = w.key("k");
        store.insert_key(&key, &ev()).await.unwrap();
        let new = successor(&w, &key.id);
        // Task 0 revokes now, task 1 rotates with an hour of grace.
        let answers = at_once("a revocation and a rotation", 2, |i| {
            let (store, w, key_id, new) = (Arc::clone(&store), Arc::clone(&w), key.id.clone(), new.clone());
            async move {
                if i == 0 {
                    store.revoke_key(&w.org.id, &key_id, NOW + 1, &ev()).await.map(|r| r.map(|r| r.id))
                } else {
                    store
                        .rotate_key(&w.org.id, &key_id, &new, GraceEnd::At(NOW + HOUR), &ev())
                        .await
                        .map(|r| r.map(|r| r.id))
                }
            }
        })
        .await;
        assert_eq!(answers[0].as_ref().unwrap().as_deref(), Some(key.id.as_str()), "round {round}");
        let rotated = answers[1].as_ref().unwrap().is_some();
        // Either way the key is revoked at the revocation's time.
        let old = store.get_key(&w.org.id, &key.id).await.unwrap().unwrap();
        assert_eq!(old.revoked_at, Some(NOW + 1), "round {round}: {answers:?}");
        let stored = store.find_key_by_hash(&new.hash).await.unwrap();
        assert_eq!(stored.is_some(), rotated, "round {round}");
        assert_eq!(old.rotated_to.is_some(), rotated, "round {round}");
        rotated_first += usize::from(rotated);
    }
    eprintln!("the rotation came first in {rotated_first} of 10 rounds");
}

async fn concurrent_rotations_make_one_successor(store: Arc<dyn Store>) {
    let w = Arc::new(world(&*store).await);
    for round in 0..5 {
        let key = w.key("k");
        store.insert_key(&key, &ev()).await.unwrap();
        let successors = [successor(&w, &key.id), successor(&w, &key.id)];
        let answers = at_once("two rotations", 2, |i| {
            let (store, w, key_id, new) = (Arc::clone(&store), Arc::clone(&w), key.id.clone(), successors[i].clone());
            async move {
                store.rotate_key(&w.org.id, &key_id, &new, GraceEnd::At(NOW + HOUR), &ev()).await.unwrap().map(|r| r.id)
            }
        })
        .await;
        let winners: Vec<&KeyId> = answers.iter().flatten().collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        let old = store.get_key(&w.org.id, &key.id).await.unwrap().unwrap();
        assert_eq!(old.rotated_to.as_ref(), Some(winners[0]), "round {round}");
        let stored = [
            store.find_key_by_hash(&successors[0].hash).await.unwrap().is_some(),
            store.find_key_by_hash(&successors[1].hash).await.unwrap().is_some(),
        ];
        assert_eq!(stored, [answers[0].is_some(), answers[1].is_some()], "round {round}");
    }
}

/// A minute, in milliseconds.
const MINUTE: i64 = 60_000;

/// Waiting until unused for 10 minutes, at the latest until `latest`.
fn when_unused(latest: i64) -> GraceEnd {
    GraceEnd::WhenUnused { quiet_ms: 10 * MINUTE, latest }
}

/// The sweeper's event for the key it revoked: `api_key.revoke` by the
/// system, naming the key.
fn swept(record: &ApiKeyRecord) -> AuditEvent {
    AuditEvent {
        actor_type: "system".to_owned(),
        actor_id: None,
        target_type: Some("api_key".to_owned()),
        target_id: Some(record.id.to_string()),
        ..event(&record.org_id, "api_key.revoke")
    }
}

/// The ids of the keys due at `now`.
async fn due(store: &dyn Store, now: i64) -> Vec<KeyId> {
    store.unused_rotations_due(now, 100).await.unwrap().into_iter().map(|d| d.id).collect()
}

/// `api_key.revoke` events about `key_id`.
async fn revocations(store: &dyn Store, w: &World, key_id: &KeyId) -> usize {
    let filter = AuditFilter { action: Some("api_key.revoke".to_owned()), ..AuditFilter::default() };
    let events = store.list_events(&w.org.id, &filter, &page(100)).await.unwrap();
    events.iter().filter(|e| e.target_id.as_deref() == Some(key_id.as_str())).count()
}

async fn an_old_key_waits_until_unused_then_is_revoked_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let old = w.key("old");
    store.insert_key(&old, &ev()).await.unwrap();
    // Used before the rotation: that use does not count as since.
    store.record_last_used(&[(old.id.clone(), NOW - 5 * MINUTE)]).await.unwrap();
    let new = successor(&w, &old.id);
    store.rotate_key(&w.org.id, &old.id, &new, when_unused(NOW + 24 * HOUR), &ev()).await.unwrap().unwrap();
    let waiting = store.get_key(&w.org.id, &old.id).await.unwrap().unwrap();
    let plan = UntilUnused { quiet_ms: 10 * MINUTE, since: NOW, max_until: NOW + 24 * HOUR, ended_at: None };
    assert_eq!((waiting.until_unused, waiting.revoked_at), (Some(plan), Some(NOW + 24 * HOUR)));
    assert_eq!(plan.last_used_since(waiting.last_used_at), None);
    assert_eq!(waiting.status(NOW + 23 * HOUR), KeyState::Valid, "it works while it waits");
    assert_eq!(store.get_key(&w.org.id, &new.id).await.unwrap().unwrap().until_unused, None);

    // Unused since the rotation: due once its quiet time has passed.
    assert!(due(&*store, NOW + 9 * MINUTE).await.is_empty());
    assert_eq!(due(&*store, NOW + 10 * MINUTE).await, std::slice::from_ref(&old.id));
    // Used meanwhile (as a flush writes it): its quiet time starts again.
    store.record_last_used(&[(old.id.clone(), NOW + 8 * MINUTE)]).await.unwrap();
    assert!(due(&*store, NOW + 17 * MINUTE).await.is_empty());
    let used = store.get_key(&w.org.id, &old.id).await.unwrap().unwrap();
    assert_eq!(plan.last_used_since(used.last_used_at), Some(NOW + 8 * MINUTE));
    // The end is decided against the row as stored, whatever the caller saw.
    assert_eq!(store.end_unused_rotation(&w.org.id, &old.id, NOW + 17 * MINUTE, &swept).await.unwrap(), None);
    assert_eq!(revocations(&*store, &w, &old.id).await, 0);
    // A rotation of the successor leaves the old key's wait alone.
    let third = successor(&w, &new.id);
    store.rotate_key(&w.org.id, &new.id, &third, GraceEnd::At(NOW + MINUTE), &ev()).await.unwrap().unwrap();
    assert_eq!(store.get_key(&w.org.id, &old.id).await.unwrap().unwrap().until_unused, Some(plan));

    // Another organization's id: nothing.
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    assert_eq!(store.end_unused_rotation(&other.id, &old.id, NOW + HOUR, &swept).await.unwrap(), None);
    assert_eq!(due(&*store, NOW + 18 * MINUTE).await, std::slice::from_ref(&old.id));
    let ended = store.end_unused_rotation(&w.org.id, &old.id, NOW + 18 * MINUTE, &swept).await.unwrap().unwrap();
    assert_eq!(ended.revoked_at, Some(NOW + 18 * MINUTE), "revoked when it was decided");
    assert_eq!(ended.until_unused, Some(UntilUnused { ended_at: Some(NOW + 18 * MINUTE), ..plan }));
    assert_eq!(ended.status(NOW + 18 * MINUTE), KeyState::Revoked);
    assert_eq!(store.get_key(&w.org.id, &old.id).await.unwrap(), Some(ended));
    // Once: a second end (another node's sweeper) writes nothing.
    assert_eq!(store.end_unused_rotation(&w.org.id, &old.id, NOW + HOUR, &swept).await.unwrap(), None);
    assert!(due(&*store, NOW + 48 * HOUR).await.is_empty());
    assert_eq!(revocations(&*store, &w, &old.id).await, 1);
}

async fn the_longest_grace_ends_the_wait_of_a_key_in_use(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let old = w.key("busy");
    store.insert_key(&old, &ev()).await.unwrap();
    store.rotate_key(&w.org.id, &old.id, &successor(&w, &old.id), when_unused(NOW + HOUR), &ev()).await.unwrap();
    store.record_last_used(&[(old.id.clone(), NOW + HOUR - MINUTE)]).await.unwrap();
    assert!(due(&*store, NOW + HOUR - 1).await.is_empty());
    assert_eq!(due(&*store, NOW + HOUR).await, std::slice::from_ref(&old.id));
    // Noted late (every node was down): it stopped at the end of its
    // longest grace all the same, and stays revoked then.
    let ended = store.end_unused_rotation(&w.org.id, &old.id, NOW + HOUR + 5, &swept).await.unwrap().unwrap();
    assert_eq!(ended.revoked_at, Some(NOW + HOUR));
    assert_eq!(ended.until_unused.unwrap().ended_at, Some(NOW + HOUR + 5));
    assert_eq!(revocations(&*store, &w, &old.id).await, 1);
}

async fn a_revocation_ends_the_wait_and_one_of_concurrent_ends_wins(store: Arc<dyn Store>) {
    let w = Arc::new(world(&*store).await);
    // A revocation ends the wait: the sweeper finds nothing to do.
    let key = w.key("revoked");
    store.insert_key(&key, &ev()).await.unwrap();
    store.rotate_key(&w.org.id, &key.id, &successor(&w, &key.id), when_unused(NOW + HOUR), &ev()).await.unwrap();
    let revoked = store.revoke_key(&w.org.id, &key.id, NOW + 1, &ev()).await.unwrap().unwrap();
    assert_eq!((revoked.revoked_at, revoked.until_unused.unwrap().ended_at), (Some(NOW + 1), Some(NOW + 1)));
    assert!(due(&*store, NOW + 2 * HOUR).await.is_empty());
    assert_eq!(store.end_unused_rotation(&w.org.id, &key.id, NOW + 2 * HOUR, &swept).await.unwrap(), None);
    // A leak only flagged leaves it waiting; one that revokes ends it.
    let key = w.key("leaked");
    store.insert_key(&key, &ev()).await.unwrap();
    store.rotate_key(&w.org.id, &key.id, &successor(&w, &key.id), when_unused(NOW + HOUR), &ev()).await.unwrap();
    let flagged = store.report_leak(&w.org.id, &key.id, NOW + 1, false, &ev()).await.unwrap().unwrap();
    assert_eq!((flagged.revoked_at, flagged.until_unused.unwrap().ended_at), (Some(NOW + HOUR), None));
    let leaked = store.report_leak(&w.org.id, &key.id, NOW + 2, true, &ev()).await.unwrap().unwrap();
    assert_eq!((leaked.revoked_at, leaked.until_unused.unwrap().ended_at), (Some(NOW + 2), Some(NOW + 2)));

    // Two sweepers and a revocation at once: at most one sweeper ends it,
    // and the revocation time is whichever committed first.
    let (swept_at, revoke_at) = (NOW + 20 * MINUTE, NOW + 30 * MINUTE);
    let mut ended_by_sweeper = 0;
    for round in 0..6 {
        let key = w.key("raced");
        store.insert_key(&key, &ev()).await.unwrap();
        store.rotate_key(&w.org.id, &key.id, &successor(&w, &key.id), when_unused(NOW + HOUR), &ev()).await.unwrap();
        let answers = at_once("two sweepers and a revocation", 3, |i| {
            let (store, w, key_id) = (Arc::clone(&store), Arc::clone(&w), key.id.clone());
            async move {
                if i == 2 {
                    store.revoke_key(&w.org.id, &key_id, revoke_at, &ev()).await.unwrap().map(|_| false)
                } else {
                    store.end_unused_rotation(&w.org.id, &key_id, swept_at, &swept).await.unwrap().map(|_| true)
                }
            }
        })
        .await;
        let ends = answers.iter().filter(|a| **a == Some(true)).count();
        assert!(ends <= 1, "round {round}: {answers:?}");
        let after = store.get_key(&w.org.id, &key.id).await.unwrap().unwrap();
        let expected = if ends == 1 { swept_at } else { revoke_at };
        assert_eq!(after.revoked_at, Some(expected), "round {round}: {answers:?}");
        assert_eq!(after.until_unused.unwrap().ended_at, Some(expected), "round {round}");
        assert_eq!(revocations(&*store, &w, &key.id).await, ends, "round {round}: the winner's event only");
        ended_by_sweeper += ends;
    }
    eprintln!("a sweeper came first in {ended_by_sweeper} of 6 rounds");
}
