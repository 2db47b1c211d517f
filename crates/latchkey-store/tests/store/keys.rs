//! `KeyStore`: keys stored and read back (by id, by hash, listed), patched,
//! revoked, deleted, handed to the organization, and read for the
//! verifier's cache.

use std::sync::Arc;

use latchkey_core::id::{KeyId, OrgId, UserId};
use latchkey_core::ip::IpRules;
use latchkey_core::{Environment, IssuedKey, KeyHash, KeyPrefix, KeyState, PlainKey, Role, Scope, ScopeSet};
use latchkey_store::{
    ApiKeyRecord, Conflict, KeyFilter, KeyKind, KeyPatch, NewApiKey, Refill, RefillInterval, StatusAt, Store, Unique,
};

use crate::fixtures::{
    HOUR, NOW, conflict, ev, event, logged, new_org, page, page_before, plain_key, product, project, surface, world,
};

store_tests! {
    keys_round_trip_with_every_field,
    keys_are_found_by_hash_alone_or_many_at_once,
    list_keys_filters_and_pages,
    list_keys_filters_by_environment_status_and_search,
    update_key_changes_what_the_patch_names,
    revocation_only_moves_earlier,
    delete_key_answers_its_hash,
    transfer_makes_a_key_organization_owned,
    owned_key_hashes_are_per_member_and_organization,
}

/// The hashes in a stable order, to compare as sets.
fn sorted(mut hashes: Vec<KeyHash>) -> Vec<KeyHash> {
    hashes.sort_by_key(|h| *h.as_bytes());
    hashes
}

/// The ids of `records`.
pub(crate) fn ids(records: &[ApiKeyRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

async fn keys_round_trip_with_every_field(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let project = project(&w.org.id, "p");
    store.insert_project(&project, &ev()).await.unwrap();
    let product = product(&w.org.id, "shop");
    store.insert_product(&product, &ev()).await.unwrap();
    let surface = surface(&w.org.id, &product.id, "web");
    store.insert_surface(&surface, &ev()).await.unwrap();

    let plain = PlainKey::generate(&KeyPrefix::branded("lk", Environment::Test).unwrap());
    let key = NewApiKey {
        id: KeyId::new(),
        org_id: w.org.id.clone(),
        project_id: Some(project.id.clone()),
        name: "every field".into(),
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
        remaining: Some(500),
        refill: Some(Refill { amount: 500, interval: RefillInterval::Monthly }),
        created_at: NOW,
        rotated_from: None,
        surface_id: Some(surface.id.clone()),
        allowed_cidrs: Some(IpRules::parse(&["203.0.113.0/24", "2001:db8::/32"]).unwrap()),
        external_id: Some("ext-1".to_owned()),
    };
    let created = event(&w.org.id, "api_key.create");
    store.insert_key(&key, &created).await.unwrap();
    assert!(logged(&*store, &created).await);
    let expected = ApiKeyRecord {
        id: key.id.clone(),
        org_id: w.org.id.clone(),
        project_id: Some(project.id.clone()),
        name: "every field".into(),
        hash: plain.hash(),
        key_prefix: plain.display_prefix(),
        key_hint: plain.hint(),
        environment: Environment::Test,
        kind: KeyKind::Restricted,
        scopes: ScopeSet::from_scopes([Scope::action("keys", "read"), Scope::Resource("projects".into())]),
        owner_user_id: Some(w.alice.id.clone()),
        owner_email: Some(w.alice.email.clone()),
        owner_display_name: Some(w.alice.display_name.clone()),
        owner_role: Some(Role::Admin),
        created_by_user_id: Some(w.alice.id.clone()),
        created_by_key_id: Some(w.admin_key.id.clone()),
        rate_limit_per_minute: Some(60),
        rate_limit_per_day: Some(10_000),
        expires_at: Some(NOW + HOUR),
        remaining: Some(500),
        refill: Some(Refill { amount: 500, interval: RefillInterval::Monthly }),
        created_at: NOW,
        updated_at: NOW,
        last_used_at: None,
        revoked_at: None,
        leaked_at: None,
        rotated_from: None,
        rotated_to: None,
        surface_id: Some(surface.id.clone()),
        allowed_cidrs: key.allowed_cidrs.clone(),
        policy_cidrs: None,
        external_id: key.external_id.clone(),
        until_unused: None,
    };
    assert_eq!(store.get_key(&w.org.id, &key.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(store.find_key_by_hash(&plain.hash()).await.unwrap(), Some(expected.clone()));
    assert_eq!(expected.status(NOW), KeyState::Valid);

    // An organization-owned key with nothing optional.
    let bare = w.org_key("bare");
    store.insert_key(&bare, &ev()).await.unwrap();
    let found = store.get_key(&w.org.id, &bare.id).await.unwrap().unwrap();
    assert_eq!((found.environment, found.kind, found.scopes), (Environment::Live, KeyKind::Standard, ScopeSet::all()));
    assert_eq!(
        (found.owner_user_id, found.owner_email, found.owner_display_name, found.owner_role),
        (None, None, None, None)
    );
    assert_eq!((found.project_id, found.surface_id, found.expires_at), (None, None, None));
    assert_eq!(
        (found.remaining, found.refill, found.rate_limit_per_minute, found.rate_limit_per_day),
        (None, None, None, None)
    );

    // Another organization's id finds nothing; hashes are unique.
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    assert_eq!(store.get_key(&other.id, &key.id).await.unwrap(), None);
    assert_eq!(store.get_key(&w.org.id, &KeyId::from("key_missing")).await.unwrap(), None);
    let twin = NewApiKey { hash: key.hash, ..w.key("twin") };
    let late = event(&w.org.id, "api_key.create.refused");
    let refused = store.insert_key(&twin, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::Unique { what: Unique::Other }), "{refused:?}");
    assert_eq!(store.get_key(&w.org.id, &twin.id).await.unwrap(), None);
    assert!(!logged(&*store, &late).await);
}

async fn keys_are_found_by_hash_alone_or_many_at_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    // In any organization.
    let theirs = NewApiKey::admin(&plain_key(), &other.id, &UserId::from("usr_none"), "theirs", NOW);
    let theirs = NewApiKey { owner_user_id: None, created_by_user_id: None, ..theirs };
    store.insert_key(&theirs, &ev()).await.unwrap();
    assert_eq!(store.find_key_by_hash(&theirs.hash).await.unwrap().unwrap().org_id, other.id);
    assert_eq!(store.find_key_by_hash(&KeyHash::of("unknown")).await.unwrap(), None);

    // A few hundred hashes in one call: the stored ones come back, the
    // unknown ones are absent.
    let mut stored = Vec::new();
    for i in 0..100 {
        let key = w.key(&format!("k{i}"));
        store.insert_key(&key, &ev()).await.unwrap();
        stored.push(key);
    }
    let mut asked: Vec<KeyHash> = (0..150).map(|i| KeyHash::of(&format!("unknown {i}"))).collect();
    asked.extend(stored.iter().map(|k| k.hash));
    asked.push(theirs.hash);
    let mut found = store.find_keys_by_hashes(&asked).await.unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected: Vec<&str> = stored.iter().map(|k| k.id.as_str()).collect();
    expected.push(&theirs.id);
    expected.sort_unstable();
    assert_eq!(ids(&found), expected);
    for record in &found {
        assert_eq!(Some(record), store.find_key_by_hash(&record.hash).await.unwrap().as_ref());
    }
    assert_eq!(store.find_keys_by_hashes(&[]).await.unwrap(), []);
    assert_eq!(store.find_keys_by_hashes(&[KeyHash::of("unknown")]).await.unwrap(), []);
}

async fn list_keys_filters_and_pages(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let project = project(&w.org.id, "p");
    store.insert_project(&project, &ev()).await.unwrap();
    let in_project = |k: NewApiKey| NewApiKey { project_id: Some(project.id.clone()), ..k };
    let a1 = in_project(w.key("a1"));
    let a2 = w.key("a2");
    let b1 = in_project(NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, "b1", NOW));
    let o1 = w.org_key("o1");
    for k in [&a1, &a2, &b1, &o1] {
        store.insert_key(k, &ev()).await.unwrap();
    }
    let (other, carol) = w.other_org(&*store, "carol@example.com").await;

    let list = |filter: KeyFilter, page| {
        let (store, org_id) = (Arc::clone(&store), w.org.id.clone());
        async move { store.list_keys(&org_id, &filter, &page).await.unwrap() }
    };
    let all = [&o1.id, &b1.id, &a2.id, &a1.id, &w.admin_key.id];
    assert_eq!(ids(&list(KeyFilter::default(), page(10)).await), all);
    assert_eq!(ids(&list(KeyFilter::default(), page(2)).await), all[..3]);
    assert_eq!(ids(&list(KeyFilter::default(), page_before(2, &b1.id)).await), all[2..]);
    let owner = |u: &str| KeyFilter { owner_user_id: Some(u.into()), ..KeyFilter::default() };
    assert_eq!(ids(&list(owner(&w.alice.id), page(10)).await), [&a2.id, &a1.id, &w.admin_key.id]);
    assert_eq!(ids(&list(owner(&bob.id), page(10)).await), [&b1.id]);
    assert_eq!(ids(&list(owner(&carol.id), page(10)).await), Vec::<&str>::new());
    let projects = KeyFilter { project_id: Some(project.id.clone()), ..KeyFilter::default() };
    assert_eq!(ids(&list(projects.clone(), page(10)).await), [&b1.id, &a1.id]);
    let both = KeyFilter { owner_user_id: Some(w.alice.id.clone()), ..projects };
    assert_eq!(ids(&list(both, page(10)).await), [&a1.id]);
    // The other organization lists its own key only.
    let theirs = store.list_keys(&other.id, &KeyFilter::default(), &page(10)).await.unwrap();
    assert_eq!(theirs.iter().map(|k| k.owner_user_id.as_deref()).collect::<Vec<_>>(), [Some(carol.id.as_str())]);
}

async fn list_keys_filters_by_environment_status_and_search(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let test_plain = PlainKey::generate(&KeyPrefix::branded("lk", Environment::Test).unwrap());
    let test = NewApiKey {
        environment: Environment::Test,
        hash: test_plain.hash(),
        key_prefix: test_plain.display_prefix(),
        key_hint: test_plain.hint(),
        ..w.key("Deploy Bot")
    };
    let expiring = NewApiKey { expires_at: Some(NOW + HOUR), ..w.key("50%_off\\x") };
    let revoked = w.key("deploy-old");
    let departed = NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, "bob's", NOW);
    let org_owned = w.org_key("ORG deploy");
    for k in [&test, &expiring, &revoked, &departed, &org_owned] {
        store.insert_key(k, &ev()).await.unwrap();
    }
    store.revoke_key(&w.org.id, &revoked.id, NOW + 10, &ev()).await.unwrap().unwrap();
    assert!(store.remove_member(&w.org.id, &bob.id, &ev()).await.unwrap());
    // Another organization's key matches every filter but the organization.
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    let theirs = NewApiKey { owner_user_id: None, ..NewApiKey::admin(&plain_key(), &other.id, &bob.id, "deploy", NOW) };
    store.insert_key(&theirs, &ev()).await.unwrap();

    let list = |filter: KeyFilter| {
        let (store, org_id) = (Arc::clone(&store), w.org.id.clone());
        async move { store.list_keys(&org_id, &filter, &page(50)).await.unwrap() }
    };
    let at = |status: KeyState, at| KeyFilter { status: Some(StatusAt { status, at }), ..KeyFilter::default() };
    let search = |s: &str| KeyFilter { search: Some(s.to_owned()), ..KeyFilter::default() };

    let env = |e| KeyFilter { environment: Some(e), ..KeyFilter::default() };
    assert_eq!(ids(&list(env(Environment::Test)).await), [&test.id]);
    assert_eq!(
        ids(&list(env(Environment::Live)).await),
        [&org_owned.id, &departed.id, &revoked.id, &expiring.id, &w.admin_key.id]
    );

    // The status at a time, as `IssuedKey::status` decides it: revocation
    // first, then expiry, then a departed owner.
    assert_eq!(
        ids(&list(at(KeyState::Valid, NOW)).await),
        [&org_owned.id, &revoked.id, &expiring.id, &test.id, &w.admin_key.id]
    );
    assert_eq!(ids(&list(at(KeyState::Revoked, NOW + 10)).await), [&revoked.id]);
    assert_eq!(ids(&list(at(KeyState::Revoked, NOW + 9)).await), Vec::<&str>::new());
    assert_eq!(ids(&list(at(KeyState::Disabled, NOW)).await), [&departed.id]);
    assert_eq!(ids(&list(at(KeyState::Expired, NOW + HOUR - 1)).await), Vec::<&str>::new());
    assert_eq!(ids(&list(at(KeyState::Expired, NOW + HOUR)).await), [&expiring.id]);
    let later = list(at(KeyState::Valid, NOW + HOUR)).await;
    assert_eq!(ids(&later), [&org_owned.id, &test.id, &w.admin_key.id]);
    // Every listed record agrees with its own status; a state that is no
    // status matches nothing.
    for state in [KeyState::Valid, KeyState::Expired, KeyState::Revoked, KeyState::Disabled] {
        for k in list(at(state, NOW + HOUR)).await {
            assert_eq!(k.status(NOW + HOUR), state, "{}", k.name);
        }
    }
    assert_eq!(ids(&list(at(KeyState::RateLimited, NOW)).await), Vec::<&str>::new());

    // Search: the name, case-insensitively, anywhere in it.
    assert_eq!(ids(&list(search("deploy")).await), [&org_owned.id, &revoked.id, &test.id]);
    assert_eq!(ids(&list(search("DEPLOY B")).await), [&test.id]);
    // LIKE's wildcards and escape are plain characters.
    assert_eq!(ids(&list(search("50%_")).await), [&expiring.id]);
    assert_eq!(ids(&list(search("%")).await), [&expiring.id]);
    assert_eq!(ids(&list(search("_")).await), [&expiring.id]);
    assert_eq!(ids(&list(search("\\x")).await), [&expiring.id]);
    // The shown form's start (prefix, then the hint), and the id.
    let shown = format!("{}…{}", test.key_prefix, test.key_hint);
    assert_eq!(ids(&list(search("lk_test_")).await), [&test.id]);
    assert_eq!(ids(&list(search(&test.key_prefix.to_string())).await), [&test.id]);
    assert_eq!(ids(&list(search(&shown)).await), [&test.id]);
    assert_eq!(ids(&list(search(&format!("{shown}x"))).await), Vec::<&str>::new());
    assert_eq!(ids(&list(search(&format!("{}…", test.key_prefix))).await), [&test.id]);
    let short = &test.key_prefix.to_string()[..10];
    assert_eq!(ids(&list(search(&format!("{short}…{}", test.key_hint))).await), Vec::<&str>::new());
    assert_eq!(ids(&list(search(&test.key_hint)).await), Vec::<&str>::new(), "the hint alone is not a prefix");
    assert_eq!(ids(&list(search(test.id.as_str())).await), [&test.id]);
    assert_eq!(ids(&list(search("nothing like it")).await), Vec::<&str>::new());

    // Filters combine with each other, the owner and the cursor.
    let both = KeyFilter { owner_user_id: Some(w.alice.id.clone()), ..search("deploy") };
    assert_eq!(ids(&list(both).await), [&revoked.id, &test.id]);
    let live_active = KeyFilter { environment: Some(Environment::Live), ..at(KeyState::Valid, NOW) };
    let first = store.list_keys(&w.org.id, &live_active, &page(2)).await.unwrap();
    assert_eq!(ids(&first), [&org_owned.id, &revoked.id, &expiring.id]);
    let rest = store.list_keys(&w.org.id, &live_active, &page_before(2, &revoked.id)).await.unwrap();
    assert_eq!(ids(&rest), [&expiring.id, &w.admin_key.id]);
}

async fn update_key_changes_what_the_patch_names(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let refill = Refill { amount: 10, interval: RefillInterval::Daily };
    let key = NewApiKey {
        rate_limit_per_minute: Some(60),
        rate_limit_per_day: Some(1_000),
        remaining: Some(10),
        refill: Some(refill),
        ..w.key("k")
    };
    store.insert_key(&key, &ev()).await.unwrap();
    let update = |patch: KeyPatch, now| {
        let (store, org_id, id) = (Arc::clone(&store), w.org.id.clone(), key.id.clone());
        async move { store.update_key(&org_id, &id, &patch, now, &ev()).await.unwrap().unwrap() }
    };
    let limits =
        |r: &ApiKeyRecord| (r.name.clone(), r.rate_limit_per_minute, r.rate_limit_per_day, r.remaining, r.refill);

    let renamed_event = event(&w.org.id, "api_key.update");
    let patch = KeyPatch { name: Some("renamed".into()), ..KeyPatch::default() };
    let renamed = store.update_key(&w.org.id, &key.id, &patch, NOW + 1, &renamed_event).await.unwrap().unwrap();
    assert_eq!(limits(&renamed), ("renamed".into(), Some(60), Some(1_000), Some(10), Some(refill)));
    assert_eq!(renamed.updated_at, NOW + 1);
    assert!(logged(&*store, &renamed_event).await);
    // `Some(Some(_))` sets, absent fields stay.
    let patch = KeyPatch { rate_limit_per_minute: Some(Some(120)), remaining: Some(Some(3)), ..KeyPatch::default() };
    let set = update(patch, NOW + 2).await;
    assert_eq!(limits(&set), ("renamed".into(), Some(120), Some(1_000), Some(3), Some(refill)));
    // `Some(None)` clears.
    let patch =
        KeyPatch { rate_limit_per_day: Some(None), remaining: Some(None), refill: Some(None), ..KeyPatch::default() };
    let cleared = update(patch, NOW + 3).await;
    assert_eq!(limits(&cleared), ("renamed".into(), Some(120), None, None, None));
    let patch = KeyPatch { rate_limit_per_minute: Some(None), ..KeyPatch::default() };
    let cleared = update(patch, NOW + 4).await;
    assert_eq!(limits(&cleared), ("renamed".into(), None, None, None, None));
    let patch = KeyPatch { refill: Some(Some(refill)), remaining: Some(Some(7)), ..KeyPatch::default() };
    let again = update(patch, NOW + 5).await;
    assert_eq!(limits(&again), ("renamed".into(), None, None, Some(7), Some(refill)));
    assert_eq!(store.get_key(&w.org.id, &key.id).await.unwrap(), Some(again.clone()));

    // No such key (in this organization): `None`, nothing changed.
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let none = event(&w.org.id, "api_key.update.missing");
    let patch = KeyPatch { name: Some("x".into()), ..KeyPatch::default() };
    assert_eq!(store.update_key(&other.id, &key.id, &patch, NOW + 6, &none).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
    assert_eq!(store.get_key(&w.org.id, &key.id).await.unwrap(), Some(again));
}

async fn revocation_only_moves_earlier(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let key = w.key("k");
    store.insert_key(&key, &ev()).await.unwrap();
    let revoked_event = event(&w.org.id, "api_key.revoke");
    let revoked = store.revoke_key(&w.org.id, &key.id, NOW + 100, &revoked_event).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 100));
    assert_eq!((revoked.status(NOW + 99), revoked.status(NOW + 100)), (KeyState::Valid, KeyState::Revoked));
    assert!(logged(&*store, &revoked_event).await);
    let revoke = |at| {
        let (store, org_id, id) = (Arc::clone(&store), w.org.id.clone(), key.id.clone());
        async move { store.revoke_key(&org_id, &id, at, &ev()).await.unwrap().unwrap().revoked_at }
    };
    // A later time is ignored, an earlier one brought forward.
    assert_eq!(revoke(NOW + 200).await, Some(NOW + 100));
    assert_eq!(revoke(NOW + 100).await, Some(NOW + 100));
    assert_eq!(revoke(NOW + 50).await, Some(NOW + 50));
    assert_eq!(store.get_key(&w.org.id, &key.id).await.unwrap().unwrap().revoked_at, Some(NOW + 50));

    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let none = event(&w.org.id, "api_key.revoke.missing");
    assert_eq!(store.revoke_key(&other.id, &key.id, NOW, &none).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
    assert_eq!(store.get_key(&w.org.id, &key.id).await.unwrap().unwrap().revoked_at, Some(NOW + 50));
}

async fn delete_key_answers_its_hash(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let key = w.key("k");
    store.insert_key(&key, &ev()).await.unwrap();
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let none = event(&w.org.id, "api_key.delete.missing");
    assert_eq!(store.delete_key(&other.id, &key.id, &none).await.unwrap(), None);
    assert!(store.get_key(&w.org.id, &key.id).await.unwrap().is_some());

    let deleted = event(&w.org.id, "api_key.delete");
    assert_eq!(store.delete_key(&w.org.id, &key.id, &deleted).await.unwrap(), Some(key.hash));
    assert!(logged(&*store, &deleted).await);
    assert_eq!(store.get_key(&w.org.id, &key.id).await.unwrap(), None);
    assert_eq!(store.find_key_by_hash(&key.hash).await.unwrap(), None);
    assert_eq!(store.delete_key(&w.org.id, &key.id, &none).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
}

async fn transfer_makes_a_key_organization_owned(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let key = NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, "bob's", NOW);
    store.insert_key(&key, &ev()).await.unwrap();

    let transferred = event(&w.org.id, "api_key.transfer");
    let record = store.transfer_key_to_org(&w.org.id, &key.id, NOW + 1, &transferred).await.unwrap().unwrap();
    assert_eq!((record.owner_user_id, record.owner_email, record.owner_role), (None, None, None));
    assert_eq!((record.created_by_user_id.as_deref(), record.updated_at), (Some(bob.id.as_str()), NOW + 1));
    assert!(logged(&*store, &transferred).await);
    assert_eq!(store.owned_key_hashes(&w.org.id, &bob.id).await.unwrap(), []);
    // It outlives its creator's membership.
    assert!(store.remove_member(&w.org.id, &bob.id, &ev()).await.unwrap());
    let record = store.get_key(&w.org.id, &key.id).await.unwrap().unwrap();
    assert_eq!(record.status(NOW + 2), KeyState::Valid);

    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    let none = event(&w.org.id, "api_key.transfer.missing");
    assert_eq!(store.transfer_key_to_org(&other.id, &w.admin_key.id, NOW, &none).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
    let admin = store.get_key(&w.org.id, &w.admin_key.id).await.unwrap().unwrap();
    assert_eq!(admin.owner_user_id.as_deref(), Some(w.alice.id.as_str()));
}

async fn owned_key_hashes_are_per_member_and_organization(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let a1 = w.key("a1");
    let (b1, b2) = (
        NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, "b1", NOW),
        NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, "b2", NOW),
    );
    let o1 = w.org_key("o1");
    // Alice's key in another organization of hers.
    let beta = new_org("beta");
    store.create_org(&beta, &w.alice.id, &ev()).await.unwrap();
    let elsewhere = NewApiKey::admin(&plain_key(), &beta.id, &w.alice.id, "beta", NOW);
    for k in [&a1, &b1, &b2, &o1, &elsewhere] {
        store.insert_key(k, &ev()).await.unwrap();
    }
    let owned = |org_id: &OrgId, user_id: &UserId| {
        let (store, org_id, user_id) = (Arc::clone(&store), org_id.clone(), user_id.clone());
        async move { sorted(store.owned_key_hashes(&org_id, &user_id).await.unwrap()) }
    };
    assert_eq!(owned(&w.org.id, &w.alice.id).await, sorted(vec![w.admin_key.hash, a1.hash]));
    assert_eq!(owned(&w.org.id, &bob.id).await, sorted(vec![b1.hash, b2.hash]));
    assert_eq!(owned(&beta.id, &w.alice.id).await, [elsewhere.hash]);
    assert_eq!(owned(&beta.id, &bob.id).await, []);
    assert_eq!(owned(&w.org.id, &UserId::from("usr_nobody")).await, []);
}
