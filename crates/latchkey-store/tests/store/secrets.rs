//! `SecretStore`: the organizations' wrapped data keys (stored once,
//! re-wrapped all or nothing) and sealed secrets (per owner or
//! organization-wide, replaced at an expected version).

use std::sync::Arc;

use latchkey_core::Role;
use latchkey_core::id::UserId;
use latchkey_store::{Conflict, Rewrap, SecretFilter, SecretRecord, Store, WrappedDataKey};

use crate::fixtures::{NOW, at_once, conflict, ev, event, logged, page, page_before, secret, world};

store_tests! {
    data_keys_are_stored_once_and_rewrapped_together,
    secrets_are_kept_per_owner,
    secrets_are_replaced_at_the_expected_version,
    secrets_are_listed_without_their_values,
    concurrent_secret_writes_have_one_winner,
}

/// A data key of `org_id` wrapped by `master_key_id`.
fn data_key(org_id: &str, master_key_id: &str, byte: u8) -> WrappedDataKey {
    WrappedDataKey {
        org_id: org_id.into(),
        master_key_id: master_key_id.to_owned(),
        wrapped: vec![byte; 57],
        created_at: NOW,
        updated_at: NOW,
    }
}

/// `s` as a list shows it: without the sealed value.
fn listed(s: &SecretRecord) -> SecretRecord {
    SecretRecord { ciphertext: Vec::new(), ..s.clone() }
}

async fn data_keys_are_stored_once_and_rewrapped_together(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    assert_eq!(store.data_key(&w.org.id).await.unwrap(), None);
    let first = data_key(&w.org.id, "mk_a", 1);
    assert_eq!(store.insert_data_key(&first).await.unwrap(), first);
    assert_eq!(store.data_key(&w.org.id).await.unwrap(), Some(first.clone()));
    // Another node was first: the key stored is the one that counts.
    assert_eq!(store.insert_data_key(&data_key(&w.org.id, "mk_b", 2)).await.unwrap(), first);
    assert_eq!(store.data_key(&w.org.id).await.unwrap(), Some(first.clone()));
    let theirs = data_key(&other.id, "mk_a", 3);
    store.insert_data_key(&theirs).await.unwrap();
    let mut all = vec![first.clone(), theirs.clone()];
    all.sort_by(|a, b| a.org_id.cmp(&b.org_id));
    assert_eq!(store.all_data_keys().await.unwrap(), all);

    let rewrap = |org_id: &str, old: &str, byte| Rewrap {
        org_id: org_id.into(),
        old_master_key_id: old.to_owned(),
        new_master_key_id: "mk_c".to_owned(),
        wrapped: vec![byte; 57],
    };
    // One of them no longer wrapped by the key named: nothing changes.
    let stale = [rewrap(&w.org.id, "mk_a", 4), rewrap(&other.id, "mk_x", 5)];
    let refused = store.rewrap_data_keys(&stale, NOW + 5).await;
    assert_eq!(conflict(&refused), Some(Conflict::Changed { org_id: other.id.clone() }), "{refused:?}");
    assert_eq!(store.all_data_keys().await.unwrap(), all);

    let both = [rewrap(&w.org.id, "mk_a", 4), rewrap(&other.id, "mk_a", 5)];
    assert_eq!(store.rewrap_data_keys(&both, NOW + 5).await.unwrap(), 2);
    let rewrapped = WrappedDataKey { master_key_id: "mk_c".into(), wrapped: vec![4; 57], updated_at: NOW + 5, ..first };
    assert_eq!(store.data_key(&w.org.id).await.unwrap(), Some(rewrapped.clone()));
    let theirs = WrappedDataKey { master_key_id: "mk_c".into(), wrapped: vec![5; 57], updated_at: NOW + 5, ..theirs };
    assert_eq!(store.data_key(&other.id).await.unwrap(), Some(theirs));
    // Done already: the old master key no longer matches.
    let done = store.rewrap_data_keys(&both, NOW + 6).await;
    assert_eq!(conflict(&done), Some(Conflict::Changed { org_id: w.org.id.clone() }), "{done:?}");
    assert_eq!(store.rewrap_data_keys(&[], NOW + 6).await.unwrap(), 0);
    assert_eq!(store.data_key(&w.org.id).await.unwrap(), Some(rewrapped));
}

async fn secrets_are_kept_per_owner(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    let put = event(&w.org.id, "secret.create");
    let team = secret(&w.org.id, None, "API_TOKEN");
    assert!(store.put_secret(&team, None, &put).await.unwrap());
    assert!(logged(&*store, &put).await);
    // The same name in other scopes is another secret.
    let alices = secret(&w.org.id, Some(&w.alice.id), "API_TOKEN");
    let bobs = secret(&w.org.id, Some(&bob.id), "API_TOKEN");
    let theirs = secret(&other.id, None, "API_TOKEN");
    for s in [&alices, &bobs, &theirs] {
        assert!(store.put_secret(s, None, &ev()).await.unwrap());
    }
    assert_eq!(store.get_secret(&w.org.id, None, "API_TOKEN").await.unwrap(), Some(team.clone()));
    assert_eq!(store.get_secret(&w.org.id, Some(&w.alice.id), "API_TOKEN").await.unwrap(), Some(alices.clone()));
    assert_eq!(store.get_secret(&w.org.id, Some(&bob.id), "API_TOKEN").await.unwrap(), Some(bobs));
    assert_eq!(store.get_secret(&other.id, None, "API_TOKEN").await.unwrap(), Some(theirs));
    assert_eq!(store.get_secret(&w.org.id, None, "OTHER").await.unwrap(), None);

    // A name taken in its scope: `false`, nothing changed, no event.
    let late = event(&w.org.id, "secret.create.refused");
    assert!(!store.put_secret(&secret(&w.org.id, None, "API_TOKEN"), None, &late).await.unwrap());
    assert!(!store.put_secret(&secret(&w.org.id, Some(&w.alice.id), "API_TOKEN"), None, &late).await.unwrap());
    assert!(!logged(&*store, &late).await);
    assert_eq!(store.get_secret(&w.org.id, None, "API_TOKEN").await.unwrap(), Some(team.clone()));

    // Deleted once, by its organization only.
    let none = event(&w.org.id, "secret.delete.missing");
    assert!(!store.delete_secret(&other.id, &alices.id, &none).await.unwrap());
    let deleted = event(&w.org.id, "secret.delete");
    assert!(store.delete_secret(&w.org.id, &alices.id, &deleted).await.unwrap());
    assert!(logged(&*store, &deleted).await);
    assert_eq!(store.get_secret(&w.org.id, Some(&w.alice.id), "API_TOKEN").await.unwrap(), None);
    assert!(!store.delete_secret(&w.org.id, &alices.id, &none).await.unwrap());
    assert!(!logged(&*store, &none).await);
    assert_eq!(store.get_secret(&w.org.id, None, "API_TOKEN").await.unwrap(), Some(team));
}

async fn secrets_are_replaced_at_the_expected_version(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let v1 = secret(&w.org.id, None, "API_TOKEN");
    store.put_secret(&v1, None, &ev()).await.unwrap();

    let replaced = event(&w.org.id, "secret.update");
    let v2 = SecretRecord {
        category: "provider".into(),
        ciphertext: vec![9, 9],
        version: 2,
        updated_at: NOW + 1,
        ..v1.clone()
    };
    assert!(store.put_secret(&v2, Some(1), &replaced).await.unwrap());
    assert!(logged(&*store, &replaced).await);
    assert_eq!(store.get_secret(&w.org.id, None, "API_TOKEN").await.unwrap(), Some(v2.clone()));

    // Another write came first (the version moved on); another
    // organization's id: `false`, nothing changed, no event.
    let late = event(&w.org.id, "secret.update.refused");
    let stale = SecretRecord { ciphertext: vec![7], version: 2, updated_at: NOW + 2, ..v1.clone() };
    assert!(!store.put_secret(&stale, Some(1), &late).await.unwrap());
    let foreign = SecretRecord { org_id: other.id.clone(), version: 3, ..v2.clone() };
    assert!(!store.put_secret(&foreign, Some(2), &late).await.unwrap());
    assert!(!logged(&*store, &late).await);
    assert_eq!(store.get_secret(&w.org.id, None, "API_TOKEN").await.unwrap(), Some(v2.clone()));

    let v3 = SecretRecord { ciphertext: vec![3], version: 3, updated_at: NOW + 3, ..v2 };
    assert!(store.put_secret(&v3, Some(2), &ev()).await.unwrap());
    assert_eq!(store.get_secret(&w.org.id, None, "API_TOKEN").await.unwrap(), Some(v3));
}

async fn secrets_are_listed_without_their_values(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    let team = secret(&w.org.id, None, "TEAM");
    let alices = [secret(&w.org.id, Some(&w.alice.id), "A1"), secret(&w.org.id, Some(&w.alice.id), "A2")];
    let bobs = secret(&w.org.id, Some(&bob.id), "B1");
    let team2 = secret(&w.org.id, None, "TEAM2");
    let theirs = secret(&other.id, None, "THEIRS");
    for s in [&team, &alices[0], &alices[1], &bobs, &team2, &theirs] {
        store.put_secret(s, None, &ev()).await.unwrap();
    }
    let list = |user_id: Option<&UserId>, org_wide: bool, page| {
        let filter = SecretFilter { user_id: user_id.cloned(), org_wide };
        let (store, org_id) = (Arc::clone(&store), w.org.id.clone());
        async move { store.list_secrets(&org_id, &filter, &page).await.unwrap() }
    };
    let alice_and_team = [listed(&team2), listed(&alices[1]), listed(&alices[0]), listed(&team)];
    assert_eq!(list(Some(&w.alice.id), true, page(10)).await, alice_and_team);
    assert_eq!(list(Some(&w.alice.id), true, page(2)).await, alice_and_team[..3]);
    assert_eq!(list(Some(&w.alice.id), true, page_before(2, &alices[1].id)).await, alice_and_team[2..]);
    assert_eq!(list(None, true, page(10)).await, [listed(&team2), listed(&team)]);
    assert_eq!(list(Some(&bob.id), false, page(10)).await, [listed(&bobs)]);
    assert_eq!(list(None, false, page(10)).await, []);
    let everything = SecretFilter { user_id: Some(w.alice.id.clone()), org_wide: true };
    assert_eq!(store.list_secrets(&other.id, &everything, &page(10)).await.unwrap(), [listed(&theirs)]);
}

async fn concurrent_secret_writes_have_one_winner(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    // Two first writes of one name.
    let candidates = [secret(&w.org.id, None, "RACE"), secret(&w.org.id, None, "RACE")];
    let written = at_once("two creations", 2, |i| {
        let (store, s) = (Arc::clone(&store), candidates[i].clone());
        async move { store.put_secret(&s, None, &ev()).await.unwrap() }
    })
    .await;
    assert_eq!(written.iter().filter(|w| **w).count(), 1, "{written:?}");
    let stored = store.get_secret(&w.org.id, None, "RACE").await.unwrap().unwrap();
    assert_eq!(Some(&stored), candidates.iter().zip(&written).find(|(_, w)| **w).map(|(s, _)| s));

    // Two replacements of one version.
    let updates: Vec<SecretRecord> =
        (0..2u8).map(|i| SecretRecord { ciphertext: vec![i], version: 2, ..stored.clone() }).collect();
    let written = at_once("two replacements", 2, |i| {
        let (store, s) = (Arc::clone(&store), updates[i].clone());
        async move { store.put_secret(&s, Some(1), &ev()).await.unwrap() }
    })
    .await;
    assert_eq!(written.iter().filter(|w| **w).count(), 1, "{written:?}");
    let stored = store.get_secret(&w.org.id, None, "RACE").await.unwrap().unwrap();
    assert_eq!(Some(&stored), updates.iter().zip(&written).find(|(_, w)| **w).map(|(s, _)| s));
}
