//! `SshKeyStore`: SSH public keys of members and of the organization, one
//! default per member, unique fingerprints per scope.

use std::sync::Arc;

use latchkey_core::Role;
use latchkey_core::id::{SshKeyId, UserId};
use latchkey_store::{Conflict, SshKeyFilter, SshKeyRecord, Store, Unique};

use crate::fixtures::{World, conflict, ev, event, logged, page, page_before, ssh, world};

store_tests! {
    a_members_first_key_is_their_default,
    fingerprints_are_unique_per_scope,
    ssh_keys_are_listed_by_scope,
    the_default_moves_and_keys_are_deleted,
}

/// Stores `key`, expecting success; returns the stored record.
async fn insert(store: &dyn Store, key: &SshKeyRecord) -> SshKeyRecord {
    store.insert_ssh_key(key, &ev()).await.unwrap()
}

/// Alice's two keys, an organization-wide key and bob's key, stored in
/// that order.
async fn keys(store: &dyn Store, w: &World, bob: &UserId) -> [SshKeyRecord; 4] {
    [
        insert(store, &ssh(&w.org.id, Some(&w.alice.id), "laptop", "SHA256:a")).await,
        insert(store, &ssh(&w.org.id, Some(&w.alice.id), "desktop", "SHA256:b")).await,
        insert(store, &ssh(&w.org.id, None, "deploy", "SHA256:c")).await,
        insert(store, &ssh(&w.org.id, Some(bob), "bob", "SHA256:d")).await,
    ]
}

async fn a_members_first_key_is_their_default(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let added = event(&w.org.id, "ssh_key.create");
    let laptop = ssh(&w.org.id, Some(&w.alice.id), "laptop", "SHA256:a");
    let stored = store.insert_ssh_key(&laptop, &added).await.unwrap();
    assert_eq!(stored, SshKeyRecord { is_default: true, ..laptop });
    assert!(logged(&*store, &added).await);
    assert_eq!(store.get_ssh_key(&w.org.id, &stored.id).await.unwrap(), Some(stored));
    // Her second key is not, whatever the caller says.
    let desktop = SshKeyRecord { is_default: true, ..ssh(&w.org.id, Some(&w.alice.id), "desktop", "SHA256:b") };
    assert!(!insert(&*store, &desktop).await.is_default);
    // Organization-wide keys are nobody's default; bob's first is his.
    assert!(!insert(&*store, &ssh(&w.org.id, None, "deploy", "SHA256:c")).await.is_default);
    assert!(insert(&*store, &ssh(&w.org.id, Some(&bob.id), "bob", "SHA256:d")).await.is_default);

    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    assert_eq!(store.get_ssh_key(&other.id, &desktop.id).await.unwrap(), None);
    assert_eq!(store.get_ssh_key(&w.org.id, &SshKeyId::from("ssh_missing")).await.unwrap(), None);
}

async fn fingerprints_are_unique_per_scope(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    // One public key registered by alice, bob, the organization and another
    // organization: four scopes.
    for (org_id, owner) in
        [(&w.org.id, Some(&w.alice.id)), (&w.org.id, Some(&bob.id)), (&w.org.id, None), (&other.id, None)]
    {
        insert(&*store, &ssh(org_id, owner, "shared", "SHA256:same")).await;
    }
    // Twice in one scope: refused, no event.
    let late = event(&w.org.id, "ssh_key.create.refused");
    for owner in [Some(&w.alice.id), None] {
        let again = ssh(&w.org.id, owner, "again", "SHA256:same");
        let refused = store.insert_ssh_key(&again, &late).await;
        assert_eq!(conflict(&refused), Some(Conflict::Unique { what: Unique::SshKeyFingerprint }), "{refused:?}");
        assert_eq!(store.get_ssh_key(&w.org.id, &again.id).await.unwrap(), None);
    }
    assert!(!logged(&*store, &late).await);
}

async fn ssh_keys_are_listed_by_scope(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let [laptop, desktop, deploy, bobs] = keys(&*store, &w, &bob.id).await;
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    let theirs = insert(&*store, &ssh(&other.id, None, "theirs", "SHA256:e")).await;
    let list = |user_id: Option<&UserId>, org_wide, all_users, page| {
        let filter = SshKeyFilter { user_id: user_id.cloned(), org_wide, all_users };
        let (store, org_id) = (Arc::clone(&store), w.org.id.clone());
        async move { store.list_ssh_keys(&org_id, &filter, &page).await.unwrap() }
    };
    let alices = [desktop.clone(), laptop.clone()];
    assert_eq!(list(Some(&w.alice.id), false, false, page(10)).await, alices);
    assert_eq!(list(Some(&w.alice.id), true, false, page(10)).await, [deploy.clone(), desktop.clone(), laptop.clone()]);
    assert_eq!(list(None, true, false, page(10)).await, std::slice::from_ref(&deploy));
    assert_eq!(list(None, false, true, page(10)).await, [bobs.clone(), desktop.clone(), laptop.clone()]);
    let all = [bobs.clone(), deploy.clone(), desktop.clone(), laptop.clone()];
    assert_eq!(list(None, true, true, page(10)).await, all);
    assert_eq!(list(None, true, true, page(2)).await, all[..3]);
    assert_eq!(list(None, true, true, page_before(2, &deploy.id)).await, all[2..]);
    assert_eq!(list(None, false, false, page(10)).await, []);
    let everything = SshKeyFilter { user_id: None, org_wide: true, all_users: true };
    assert_eq!(store.list_ssh_keys(&other.id, &everything, &page(10)).await.unwrap(), std::slice::from_ref(&theirs));

    // Who may log in: their own keys and the organization's, oldest first.
    assert_eq!(store.authorized_ssh_keys(&w.org.id, &w.alice.id).await.unwrap(), [laptop, desktop, deploy.clone()]);
    assert_eq!(store.authorized_ssh_keys(&w.org.id, &bob.id).await.unwrap(), [deploy, bobs]);
    assert_eq!(store.authorized_ssh_keys(&other.id, &w.alice.id).await.unwrap(), [theirs]);
}

async fn the_default_moves_and_keys_are_deleted(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let [laptop, desktop, deploy, bobs] = keys(&*store, &w, &bob.id).await;
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    let is_default = |id: SshKeyId| {
        let (store, org_id) = (Arc::clone(&store), w.org.id.clone());
        async move { store.get_ssh_key(&org_id, &id).await.unwrap().unwrap().is_default }
    };

    let chosen = event(&w.org.id, "ssh_key.default");
    let answer = store.set_default_ssh_key(&w.org.id, &w.alice.id, &desktop.id, &chosen).await.unwrap();
    assert_eq!(answer, Some(SshKeyRecord { is_default: true, ..desktop.clone() }));
    assert!(logged(&*store, &chosen).await);
    assert!(!is_default(laptop.id.clone()).await);

    // Only a key of one's own: not bob's, not the organization's, not in
    // another organization.
    let none = event(&w.org.id, "ssh_key.default.refused");
    for (org_id, user_id, id) in [
        (&w.org.id, &w.alice.id, &bobs.id),
        (&w.org.id, &w.alice.id, &deploy.id),
        (&w.org.id, &bob.id, &desktop.id),
        (&other.id, &w.alice.id, &desktop.id),
    ] {
        assert_eq!(store.set_default_ssh_key(org_id, user_id, id, &none).await.unwrap(), None, "{id} for {user_id}");
    }
    assert!(!logged(&*store, &none).await);
    assert_eq!((is_default(desktop.id.clone()).await, is_default(bobs.id.clone()).await), (true, true));

    // Deleted once, by its organization only; with her default gone, her
    // next key becomes the default.
    let missing = event(&w.org.id, "ssh_key.delete.missing");
    assert!(!store.delete_ssh_key(&other.id, &desktop.id, &missing).await.unwrap());
    let deleted = event(&w.org.id, "ssh_key.delete");
    assert!(store.delete_ssh_key(&w.org.id, &desktop.id, &deleted).await.unwrap());
    assert!(logged(&*store, &deleted).await);
    assert_eq!(store.get_ssh_key(&w.org.id, &desktop.id).await.unwrap(), None);
    assert!(!store.delete_ssh_key(&w.org.id, &desktop.id, &missing).await.unwrap());
    assert!(!logged(&*store, &missing).await);
    assert!(insert(&*store, &ssh(&w.org.id, Some(&w.alice.id), "new", "SHA256:f")).await.is_default);
}
