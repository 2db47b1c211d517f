//! `KeyStore::spend_credits`: balances spent exactly (also concurrently),
//! refilled once a period, and shared along a rotation chain; and
//! `KeyStore::credit_balance`, which reads what a spend would find.

use std::sync::Arc;

use latchkey_core::id::KeyId;
use latchkey_store::{GraceEnd, KeyPatch, NewApiKey, Refill, RefillInterval, Spend, Store};

use crate::fixtures::{HOUR, NOW, World, at_once, ev, world};

store_tests! {
    credits_are_spent_while_they_last,
    credits_are_refilled_once_a_period,
    a_rotated_key_spends_from_the_end_of_its_chain,
    concurrent_spends_never_overdraw,
    spends_during_a_rotation_never_overdraw,
    the_balance_is_what_a_spend_would_find_and_reading_it_changes_nothing,
}

/// Stores an organization-owned key of `w` with `remaining` credits and
/// `refill`.
async fn credited(store: &dyn Store, w: &World, remaining: i64, refill: Option<Refill>) -> NewApiKey {
    let key = NewApiKey { remaining: Some(remaining), refill, ..w.org_key("credited") };
    store.insert_key(&key, &ev()).await.unwrap();
    key
}

/// The balance stored for `key_id`.
async fn balance(store: &dyn Store, w: &World, key_id: &str) -> Option<i64> {
    store.get_key(&w.org.id, &KeyId::from(key_id)).await.unwrap().unwrap().remaining
}

async fn credits_are_spent_while_they_last(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let key = credited(&*store, &w, 5, None).await;
    assert_eq!(store.spend_credits(&key.id, 2, NOW, None).await.unwrap(), Spend::Spent(3));
    // Not enough: nothing is spent.
    assert_eq!(store.spend_credits(&key.id, 4, NOW, None).await.unwrap(), Spend::Exhausted);
    assert_eq!(balance(&*store, &w, &key.id).await, Some(3));
    assert_eq!(store.spend_credits(&key.id, 3, NOW, None).await.unwrap(), Spend::Spent(0));
    assert_eq!(store.spend_credits(&key.id, 1, NOW, None).await.unwrap(), Spend::Exhausted);
    assert_eq!(balance(&*store, &w, &key.id).await, Some(0));
    assert_eq!(store.spend_credits(&KeyId::from("key_missing"), 1, NOW, None).await.unwrap(), Spend::Exhausted);
}

async fn credits_are_refilled_once_a_period(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let daily = Refill { amount: 10, interval: RefillInterval::Daily };
    // Created at NOW: its last refill is its creation.
    let key = credited(&*store, &w, 1, Some(daily)).await;
    assert_eq!(store.spend_credits(&key.id, 1, NOW + 1, Some(NOW - 1)).await.unwrap(), Spend::Spent(0));
    assert_eq!(store.spend_credits(&key.id, 1, NOW + 2, Some(NOW - 1)).await.unwrap(), Spend::Exhausted);

    // A new period began: the balance is reset to the refill amount first,
    // once.
    let next = NOW + 24 * HOUR;
    assert_eq!(store.spend_credits(&key.id, 3, next + 1, Some(next)).await.unwrap(), Spend::Spent(7));
    assert_eq!(store.spend_credits(&key.id, 3, next + 2, Some(next)).await.unwrap(), Spend::Spent(4));
    // Without a period start there is nothing to refill.
    assert_eq!(store.spend_credits(&key.id, 4, next + 3, None).await.unwrap(), Spend::Spent(0));
    assert_eq!(store.spend_credits(&key.id, 1, next + 4, None).await.unwrap(), Spend::Exhausted);
    // More than a refill gives: refused, and the refill not taken either.
    assert_eq!(
        store.spend_credits(&key.id, 11, next + 24 * HOUR, Some(next + 24 * HOUR)).await.unwrap(),
        Spend::Exhausted
    );
    assert_eq!(balance(&*store, &w, &key.id).await, Some(0));

    // Setting the balance counts as this period's refill.
    let patch = KeyPatch { remaining: Some(Some(2)), ..KeyPatch::default() };
    store.update_key(&w.org.id, &key.id, &patch, next + 10, &ev()).await.unwrap().unwrap();
    assert_eq!(store.spend_credits(&key.id, 1, next + 11, Some(next)).await.unwrap(), Spend::Spent(1));

    // A key without a refill rule is never refilled.
    let fixed = credited(&*store, &w, 1, None).await;
    assert_eq!(store.spend_credits(&fixed.id, 1, next + 1, Some(next)).await.unwrap(), Spend::Spent(0));
    assert_eq!(store.spend_credits(&fixed.id, 1, next + 2, Some(next + 1)).await.unwrap(), Spend::Exhausted);
}

async fn a_rotated_key_spends_from_the_end_of_its_chain(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let rotate = |old_id: KeyId| {
        let (store, org_id) = (Arc::clone(&store), w.org.id.clone());
        let new = NewApiKey { rotated_from: Some(old_id.clone()), ..w.org_key("next") };
        async move {
            store.rotate_key(&org_id, &old_id, &new, GraceEnd::At(NOW + HOUR), &ev()).await.unwrap().unwrap();
            new
        }
    };
    let a = credited(&*store, &w, 10, None).await;
    assert_eq!(store.spend_credits(&a.id, 3, NOW, None).await.unwrap(), Spend::Spent(7));
    let b = rotate(a.id.clone()).await;
    assert_eq!(balance(&*store, &w, &b.id).await, Some(7));
    // The old key, in its grace period, and its successor share one balance.
    assert_eq!(store.spend_credits(&a.id, 1, NOW + 1, None).await.unwrap(), Spend::Spent(6));
    assert_eq!(store.spend_credits(&b.id, 2, NOW + 2, None).await.unwrap(), Spend::Spent(4));
    assert_eq!(balance(&*store, &w, &b.id).await, Some(4));
    // Along the whole chain.
    let c = rotate(b.id.clone()).await;
    assert_eq!(store.spend_credits(&a.id, 1, NOW + 3, None).await.unwrap(), Spend::Spent(3));
    assert_eq!(store.spend_credits(&b.id, 1, NOW + 4, None).await.unwrap(), Spend::Spent(2));
    assert_eq!(store.spend_credits(&a.id, 3, NOW + 5, None).await.unwrap(), Spend::Exhausted);
    assert_eq!(balance(&*store, &w, &c.id).await, Some(2));
    assert_eq!(store.spend_credits(&c.id, 2, NOW + 6, None).await.unwrap(), Spend::Spent(0));

    // The successor deleted: the old key has nothing left to spend.
    let x = credited(&*store, &w, 5, None).await;
    let y = rotate(x.id.clone()).await;
    store.delete_key(&w.org.id, &y.id, &ev()).await.unwrap().unwrap();
    assert_eq!(store.spend_credits(&x.id, 1, NOW + 7, None).await.unwrap(), Spend::Exhausted);
    assert_eq!(balance(&*store, &w, &x.id).await, Some(5));
}

async fn concurrent_spends_never_overdraw(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let key = credited(&*store, &w, 100, None).await;
    let spends = at_once("130 spends", 130, |i| {
        let (store, key_id) = (Arc::clone(&store), key.id.clone());
        async move { store.spend_credits(&key_id, 1, NOW + i64::try_from(i).unwrap(), None).await.unwrap() }
    })
    .await;
    let mut left: Vec<i64> =
        spends.iter().filter_map(|s| if let Spend::Spent(n) = s { Some(*n) } else { None }).collect();
    left.sort_unstable();
    // Every balance from 99 down to 0 was left exactly once.
    assert_eq!(left, (0..100).collect::<Vec<_>>());
    assert_eq!(spends.iter().filter(|s| **s == Spend::Exhausted).count(), 30);
    assert_eq!(balance(&*store, &w, &key.id).await, Some(0));
}

async fn spends_during_a_rotation_never_overdraw(store: Arc<dyn Store>) {
    let w = Arc::new(world(&*store).await);
    let old = credited(&*store, &w, 50, None).await;
    let new = NewApiKey { rotated_from: Some(old.id.clone()), ..w.org_key("next") };
    // Forty spends of the old key while it is rotated, then forty of the
    // successor: fifty credits are spent, once each.
    let mut results = at_once("a rotation among 40 spends", 41, |i| {
        let (store, w, old_id, new) = (Arc::clone(&store), Arc::clone(&w), old.id.clone(), new.clone());
        async move {
            if i == 20 {
                let rotated =
                    store.rotate_key(&w.org.id, &old_id, &new, GraceEnd::At(NOW + HOUR), &ev()).await.unwrap();
                assert!(rotated.is_some());
                None
            } else {
                Some(store.spend_credits(&old_id, 1, NOW, None).await.unwrap())
            }
        }
    })
    .await;
    results.extend(
        at_once("40 spends of the successor", 40, |_| {
            let (store, new_id) = (Arc::clone(&store), new.id.clone());
            async move { Some(store.spend_credits(&new_id, 1, NOW, None).await.unwrap()) }
        })
        .await,
    );
    let spent = results.iter().filter(|s| matches!(s, Some(Spend::Spent(_)))).count();
    let exhausted = results.iter().filter(|s| matches!(s, Some(Spend::Exhausted))).count();
    assert_eq!((spent, exhausted), (50, 30), "{results:?}");
    assert_eq!(balance(&*store, &w, &new.id).await, Some(0));
}

async fn the_balance_is_what_a_spend_would_find_and_reading_it_changes_nothing(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let key = credited(&*store, &w, 5, None).await;
    for _ in 0..3 {
        assert_eq!(store.credit_balance(&key.id, None).await.unwrap(), Some(5));
    }
    assert_eq!(store.spend_credits(&key.id, 2, NOW, None).await.unwrap(), Spend::Spent(3));
    assert_eq!(store.credit_balance(&key.id, None).await.unwrap(), Some(3));

    // A refill due is read as the refill amount, and not taken by the read.
    let daily = Refill { amount: 10, interval: RefillInterval::Daily };
    let refilled = credited(&*store, &w, 1, Some(daily)).await;
    let next = NOW + 24 * HOUR;
    assert_eq!(store.credit_balance(&refilled.id, Some(NOW - 1)).await.unwrap(), Some(1), "refilled at creation");
    assert_eq!(store.credit_balance(&refilled.id, Some(next)).await.unwrap(), Some(10));
    assert_eq!(balance(&*store, &w, &refilled.id).await, Some(1), "the read refilled nothing");
    assert_eq!(store.spend_credits(&refilled.id, 3, next + 1, Some(next)).await.unwrap(), Spend::Spent(7));
    assert_eq!(store.credit_balance(&refilled.id, Some(next)).await.unwrap(), Some(7), "refilled once a period");

    // A rotated key reads its successor's balance, which the two share.
    let new = NewApiKey { rotated_from: Some(key.id.clone()), ..w.org_key("next") };
    store.rotate_key(&w.org.id, &key.id, &new, GraceEnd::At(NOW + HOUR), &ev()).await.unwrap().unwrap();
    assert_eq!(store.spend_credits(&new.id, 1, NOW + 1, None).await.unwrap(), Spend::Spent(2));
    assert_eq!(store.credit_balance(&key.id, None).await.unwrap(), Some(2));

    // No budget, no key: nothing to read.
    let unlimited = w.org_key("unlimited");
    store.insert_key(&unlimited, &ev()).await.unwrap();
    assert_eq!(store.credit_balance(&unlimited.id, None).await.unwrap(), None);
    assert_eq!(store.credit_balance(&KeyId::from("key_missing"), None).await.unwrap(), None);
}
