//! Leaked keys: `KeyStore::report_leak` (flag, and revoke with the rule
//! every revocation follows) and an organization's `leak_action`.

use std::sync::Arc;

use latchkey_core::id::KeyId;
use latchkey_core::{IssuedKey, KeyState};
use latchkey_store::{LeakAction, OrgPatch, Store};

use crate::fixtures::{NOW, ev, event, logged, world};

store_tests! {
    a_leak_report_flags_and_revokes_as_asked,
    an_organization_keeps_its_leak_action,
}

async fn a_leak_report_flags_and_revokes_as_asked(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let key = w.key("leaked");
    store.insert_key(&key, &ev()).await.unwrap();
    assert_eq!(store.get_key(&w.org.id, &key.id).await.unwrap().unwrap().leaked_at, None);

    // Flagged only: the key keeps working, the event is stored with it.
    let flagged = event(&w.org.id, "api_key.leaked");
    let k = store.report_leak(&w.org.id, &key.id, NOW + 10, false, &flagged).await.unwrap().unwrap();
    assert_eq!((k.leaked_at, k.revoked_at, k.status(NOW + 11)), (Some(NOW + 10), None, KeyState::Valid));
    assert!(logged(&*store, &flagged).await);

    // Revoked later: `leaked_at` keeps the first report's time.
    let k = store.report_leak(&w.org.id, &key.id, NOW + 20, true, &ev()).await.unwrap().unwrap();
    assert_eq!((k.leaked_at, k.revoked_at), (Some(NOW + 10), Some(NOW + 20)));
    assert_eq!(k.status(NOW + 20), KeyState::Revoked);
    // A later report keeps the earlier revocation, as every revoke does.
    let k = store.report_leak(&w.org.id, &key.id, NOW + 30, true, &ev()).await.unwrap().unwrap();
    assert_eq!((k.leaked_at, k.revoked_at), (Some(NOW + 10), Some(NOW + 20)));

    // A rotation's grace period is brought forward.
    let graced = w.key("graced");
    store.insert_key(&graced, &ev()).await.unwrap();
    store.revoke_key(&w.org.id, &graced.id, NOW + 1_000, &ev()).await.unwrap().unwrap();
    let k = store.report_leak(&w.org.id, &graced.id, NOW + 40, true, &ev()).await.unwrap().unwrap();
    assert_eq!((k.leaked_at, k.revoked_at), (Some(NOW + 40), Some(NOW + 40)));

    // Another organization's key, or none: `None`, nothing stored.
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let none = event(&w.org.id, "api_key.leaked.missing");
    assert_eq!(store.report_leak(&other.id, &key.id, NOW, true, &none).await.unwrap(), None);
    assert_eq!(store.report_leak(&w.org.id, &KeyId::from("key_missing"), NOW, true, &none).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
}

async fn an_organization_keeps_its_leak_action(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    assert_eq!(w.org.leak_action, LeakAction::Revoke);
    assert_eq!(store.get_org(&w.org.id).await.unwrap().unwrap().leak_action, LeakAction::Revoke, "the default");
    let patch = OrgPatch { leak_action: Some(LeakAction::Flag), ..OrgPatch::default() };
    let org = store.update_org(&w.org.id, &patch, &ev()).await.unwrap().unwrap();
    assert_eq!(org.leak_action, LeakAction::Flag);
    // A patch that does not name it keeps it.
    let patch = OrgPatch { name: Some("Renamed".into()), ..OrgPatch::default() };
    store.update_org(&w.org.id, &patch, &ev()).await.unwrap().unwrap();
    assert_eq!(store.get_org(&w.org.id).await.unwrap().unwrap().leak_action, LeakAction::Flag);
    assert_eq!(LeakAction::parse(LeakAction::Flag.as_str()), Some(LeakAction::Flag));
    assert_eq!(LeakAction::parse("ignore"), None);
}
