//! `KeyStore::rotate_key`: a successor takes over, once, never from a
//! revoked key; a revocation always wins over a rotation, also when both
//! arrive at once.

use std::sync::Arc;

use latchkey_core::id::KeyId;
use latchkey_core::{IssuedKey, KeyState};
use latchkey_store::{NewApiKey, Spend, Store};

use crate::fixtures::{HOUR, NOW, World, at_once, ev, event, logged, world};

store_tests! {
    rotation_hands_over_to_a_successor,
    rotation_happens_once_and_never_after_a_revocation,
    revocation_wins_over_a_concurrent_rotation,
    concurrent_rotations_make_one_successor,
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
    let record = store.rotate_key(&w.org.id, &old.id, &new, NOW + HOUR, &rotated).await.unwrap().unwrap();
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
    store.rotate_key(&w.org.id, &key.id, &successor(&w, &key.id), NOW + HOUR, &ev()).await.unwrap().unwrap();

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
        let answer = store.rotate_key(org_id, old_id, &new, NOW + HOUR, &none).await.unwrap();
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
                    store.rotate_key(&w.org.id, &key_id, &new, NOW + HOUR, &ev()).await.map(|r| r.map(|r| r.id))
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
            async move { store.rotate_key(&w.org.id, &key_id, &new, NOW + HOUR, &ev()).await.unwrap().map(|r| r.id) }
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
