//! `KeyStore::insert_keys`: many keys and their audit events in one write,
//! all or none, each key answered as a read of it would find it.

use std::sync::Arc;

use latchkey_core::id::{KeyId, OrgId};
use latchkey_core::{DisplayPrefix, Environment, KeyHash, KeyPrefix, PlainKey, Role, Scope, ScopeSet};
use latchkey_store::{AuditEvent, Conflict, KeyFilter, KeyKind, NewApiKey, Refill, RefillInterval, Store, Unique};

use crate::changes::{CHANGE_WAIT, changes_within};
use crate::fixtures::{HOUR, NOW, conflict, ev, event, logged, page, plain_key, product, project, surface, world};

store_tests! {
    a_batch_answers_its_keys_as_stored,
    a_batch_is_stored_whole_or_not_at_all,
    imported_keys_read_back_as_imported_and_are_known,
}

/// An `api_key.create` event for each of `keys`.
fn events(keys: &[NewApiKey]) -> Vec<AuditEvent> {
    keys.iter().map(|k| event(k.org_id.as_str(), "api_key.create")).collect()
}

/// Whether a key with `k`'s id is stored.
async fn stored(store: &dyn Store, k: &NewApiKey) -> bool {
    store.get_key(&k.org_id, &k.id).await.unwrap().is_some()
}

async fn a_batch_answers_its_keys_as_stored(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let project = project(&w.org.id, "p");
    store.insert_project(&project, &ev()).await.unwrap();
    let product = product(&w.org.id, "shop");
    store.insert_product(&product, &ev()).await.unwrap();
    let surface = surface(&w.org.id, &product.id, "web");
    store.insert_surface(&surface, &ev()).await.unwrap();
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let (other, carol) = w.other_org(&*store, "carol@example.com").await;

    let plain = PlainKey::generate(&KeyPrefix::branded("lk", Environment::Test).unwrap());
    let every_field = NewApiKey {
        id: KeyId::new(),
        org_id: w.org.id.clone(),
        project_id: Some(project.id.clone()),
        name: "every \"field\" é".into(),
        hash: plain.hash(),
        key_prefix: plain.display_prefix(),
        key_hint: plain.hint(),
        environment: Environment::Test,
        kind: KeyKind::Restricted,
        scopes: ScopeSet::from_scopes([Scope::action("keys", "read"), Scope::Resource("projects".into())]),
        owner_user_id: Some(w.alice.id.clone()),
        created_by_user_id: Some(w.alice.id.clone()),
        created_by_key_id: Some(w.admin_key.id.clone()),
        rate_limit_per_minute: Some(60),
        rate_limit_per_day: Some(10_000),
        expires_at: Some(NOW + HOUR),
        remaining: Some(9_007_199_254_740_993),
        refill: Some(Refill { amount: 500, interval: RefillInterval::Daily }),
        created_at: NOW,
        rotated_from: Some(w.admin_key.id.clone()),
        surface_id: Some(surface.id.clone()),
        allowed_cidrs: Some(latchkey_core::ip::IpRules::parse(&["192.0.2.0/24", "2001:db8::1"]).unwrap()),
        external_id: Some("their-42".to_owned()),
    };
    let keys = vec![
        every_field,
        // The same owner twice, a member, the organization, another
        // organization's admin, and an owner who is not a member of the
        // key's organization (no role: the key is disabled).
        w.key("alice again"),
        NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, "bob's", NOW),
        w.org_key("the organization's"),
        NewApiKey::admin(&plain_key(), &other.id, &carol.id, "carol's", NOW),
        NewApiKey::admin(&plain_key(), &other.id, &w.alice.id, "alice elsewhere", NOW),
    ];
    let events = events(&keys);
    let cursor = store.key_changes_cursor().await.unwrap();
    let answered = store.insert_keys(&keys, &events).await.unwrap();
    assert_eq!(answered.len(), keys.len());
    // Every new key is in the change log (a node may hold its hash as
    // unknown): on PostgreSQL one trigger call logs the whole statement.
    let hashes: Vec<KeyHash> = keys.iter().map(|k| k.hash).collect();
    let (seen, _) = changes_within(&*store, cursor, CHANGE_WAIT, |s| hashes.iter().all(|h| s.contains(h))).await;
    assert!(hashes.iter().all(|h| seen.contains(h)), "expected {hashes:?} in the change log, saw {seen:?}");
    for (k, a) in keys.iter().zip(&answered) {
        assert_eq!(store.get_key(&k.org_id, &k.id).await.unwrap().as_ref(), Some(a), "{}", k.name);
    }
    let roles: Vec<_> = answered.iter().map(|a| a.owner_role).collect();
    assert_eq!(roles, [Some(Role::Admin), Some(Role::Admin), Some(Role::Member), None, Some(Role::Admin), None]);
    for e in &events {
        assert!(logged(&*store, e).await);
    }

    // Nothing to write: nothing written, nothing answered.
    assert!(store.insert_keys(&[], &[]).await.unwrap().is_empty());
}

async fn a_batch_is_stored_whole_or_not_at_all(store: Arc<dyn Store>) {
    let w = world(&*store).await;

    // Two keys of one batch with the same hash: the batch is refused as a
    // uniqueness conflict, and none of its keys or events is stored.
    let first = w.key("first");
    let twin = NewApiKey { hash: first.hash, ..w.key("twin") };
    let keys = vec![w.key("a"), first, w.key("b"), twin];
    let evs = events(&keys);
    let refused = store.insert_keys(&keys, &evs).await;
    assert_eq!(conflict(&refused), Some(Conflict::Unique { what: Unique::Other }), "{refused:?}");
    for k in &keys {
        assert!(!stored(&*store, k).await, "{}", k.name);
    }
    for e in &evs {
        assert!(!logged(&*store, e).await);
    }

    // A key of an organization that does not exist.
    let stray = NewApiKey::admin(&plain_key(), &OrgId::new(), &w.alice.id, "stray", NOW);
    let keys = vec![w.key("c"), stray];
    assert!(store.insert_keys(&keys, &events(&keys)).await.is_err());
    assert!(!stored(&*store, &keys[0]).await);

    // An event that cannot be stored (its id taken by the one before)
    // undoes the keys.
    let keys = vec![w.key("d")];
    let e = event(w.org.id.as_str(), "api_key.create");
    assert!(store.insert_keys(&keys, &[e.clone(), e.clone()]).await.is_err());
    assert!(!stored(&*store, &keys[0]).await);
    assert!(!logged(&*store, &e).await);

    // The same batch once the stray parts are gone is stored whole.
    let keys = vec![w.key("e"), w.key("f")];
    let evs = events(&keys);
    assert_eq!(store.insert_keys(&keys, &evs).await.unwrap().len(), 2);
    for k in &keys {
        assert!(stored(&*store, k).await);
    }
}

/// Keys imported by their hash (another system's display prefix, no hint,
/// an external id), written in a batch or alone: read back as imported,
/// found by the hash of their plaintext, listed by their external id; and
/// [`Store::orgs_with_imported_keys`] names their organization (only) once
/// one is stored.
async fn imported_keys_read_back_as_imported_and_are_known(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    store.insert_keys(&[w.key("native")], &[ev()]).await.unwrap();
    assert!(store.orgs_with_imported_keys().await.unwrap().is_empty());
    let imported = |name: &str, plaintext: &str, shown: &str, external: Option<&str>| NewApiKey {
        hash: KeyHash::of(plaintext),
        key_prefix: DisplayPrefix::imported(shown).unwrap(),
        key_hint: String::new(),
        external_id: external.map(str::to_owned),
        ..w.org_key(name)
    };
    let unkey = imported("from unkey", "prod_3ZdHXcXzvqHxY7mBUNkgXdoV", "prod_3Zd", Some("key_2cGKbMxRyIzhCxo1Idjz8q"));
    let bare = imported("no prefix", "0123456789abcdef0123", "", None);
    let answered = store.insert_keys(&[unkey.clone(), bare.clone()], &[ev(), ev()]).await.unwrap();
    assert_eq!(store.orgs_with_imported_keys().await.unwrap(), std::slice::from_ref(&w.org.id));
    let single = imported("alone", "sk-home-grown-0001", "sk-home", Some("42"));
    store.insert_key(&single, &ev()).await.unwrap();
    for (k, a) in [(&unkey, Some(&answered[0])), (&bare, Some(&answered[1])), (&single, None)] {
        let read = store.get_key(&k.org_id, &k.id).await.unwrap().unwrap();
        assert!(read.is_imported(), "{}", k.name);
        assert_eq!((read.key_prefix.to_string(), read.key_hint.as_str()), (k.key_prefix.to_string(), ""));
        assert_eq!(read.external_id, k.external_id);
        if let Some(a) = a {
            assert_eq!(a, &read);
        }
        assert_eq!(store.find_key_by_hash(&k.hash).await.unwrap().map(|r| r.id), Some(k.id.clone()));
    }
    let native = store.get_key(&w.org.id, &w.admin_key.id).await.unwrap().unwrap();
    assert!(!native.is_imported() && native.external_id.is_none());
    let by_external = |id: &str| KeyFilter { external_id: Some(id.to_owned()), ..KeyFilter::default() };
    let found = store.list_keys(&w.org.id, &by_external("42"), &page(10)).await.unwrap();
    assert_eq!(found.iter().map(|k| &k.id).collect::<Vec<_>>(), [&single.id]);
    assert!(store.list_keys(&w.org.id, &by_external("4"), &page(10)).await.unwrap().is_empty());
    // Another organization's list does not hold them.
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    assert!(store.list_keys(&other.id, &by_external("42"), &page(10)).await.unwrap().is_empty());
    assert_eq!(store.orgs_with_imported_keys().await.unwrap(), std::slice::from_ref(&w.org.id));
}
