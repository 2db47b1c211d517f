//! Key policies and key networks: the policy round-trips, its networks are
//! joined to every key read (a key's own kept apart), a change of either is
//! in the key change log, and a change of the policy's networks answers
//! the keys it affects.

use std::sync::Arc;

use latchkey_core::ip::IpRules;
use latchkey_core::policy::{KeyPolicy, MaxLifetime};
use latchkey_core::{Scope, ScopeSet};
use latchkey_store::{KeyPatch, NewApiKey, Store};

use crate::changes::{CHANGE_WAIT, changes_within};
use crate::fixtures::{NOW, ev, world};

store_tests! {
    key_policies_round_trip_and_lend_their_networks_to_keys_without_their_own,
}

async fn key_policies_round_trip_and_lend_their_networks_to_keys_without_their_own(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    assert_eq!(store.key_policy(&w.org.id).await.unwrap(), KeyPolicy::default(), "none set: the default");
    let own = IpRules::parse(&["10.1.0.0/16", "2001:db8::/48"]).unwrap();
    let bound = NewApiKey { allowed_cidrs: Some(own.clone()), ..w.key("bound") };
    let free = w.key("free");
    store.insert_key(&bound, &ev()).await.unwrap();
    store.insert_keys(std::slice::from_ref(&free), &[ev()]).await.unwrap();
    let read = store.get_key(&w.org.id, &bound.id).await.unwrap().unwrap();
    assert_eq!((read.allowed_cidrs.as_ref(), read.policy_cidrs.as_ref()), (Some(&own), None));

    let cursor = store.key_changes_cursor().await.unwrap();
    let nets = IpRules::parse(&["10.0.0.0/8"]).unwrap();
    let policy = KeyPolicy {
        max_lifetime: Some(MaxLifetime::parse("90d").unwrap()),
        require_expiry: true,
        forbid_wildcard_in_live: true,
        allowed_scopes: Some(ScopeSet::from_scopes([Scope::Resource("sandbox".into())])),
        default_rate_limit_per_minute: Some(60),
        default_rate_limit_per_day: None,
        allowed_cidrs: Some(nets.clone()),
    };
    let affected = store.put_key_policy(&w.org.id, &policy, NOW, &ev()).await.unwrap();
    let mut expected = vec![w.admin_key.hash, free.hash];
    expected.sort_by_key(|h| *h.as_bytes());
    let mut got = affected.clone();
    got.sort_by_key(|h| *h.as_bytes());
    assert_eq!(got, expected, "the keys without networks of their own");
    assert_eq!(store.key_policy(&w.org.id).await.unwrap(), policy);
    let (logged, cursor) =
        changes_within(&*store, cursor, CHANGE_WAIT, |s| expected.iter().all(|h| s.contains(h))).await;
    // (Which other entries come with them depends on the backend: on
    // PostgreSQL the cursor may hand out older entries again.)
    assert!(expected.iter().all(|h| logged.contains(h)), "{logged:?}");

    let by_hash = store.find_key_by_hash(&free.hash).await.unwrap().unwrap();
    assert_eq!((by_hash.allowed_cidrs.as_ref(), by_hash.effective_cidrs()), (None, Some(&nets)));
    let bound_read = store.find_key_by_hash(&bound.hash).await.unwrap().unwrap();
    assert_eq!(bound_read.effective_cidrs(), Some(&own), "a key's own networks win");

    // The same networks again: nobody to evict.
    let same = KeyPolicy { require_expiry: false, ..policy.clone() };
    assert!(store.put_key_policy(&w.org.id, &same, NOW, &ev()).await.unwrap().is_empty());

    // A key's own networks changed or cleared: logged, read back.
    let patch = KeyPatch { allowed_cidrs: Some(None), ..KeyPatch::default() };
    let cleared = store.update_key(&w.org.id, &bound.id, &patch, NOW, &ev()).await.unwrap().unwrap();
    assert_eq!((cleared.allowed_cidrs.as_ref(), cleared.effective_cidrs()), (None, Some(&nets)));
    let (logged, _) = changes_within(&*store, cursor, CHANGE_WAIT, |s| s.contains(&bound.hash)).await;
    assert!(logged.contains(&bound.hash), "{logged:?}");
}
