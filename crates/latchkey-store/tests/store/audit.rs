//! `AuditStore`, and the promise every changing method makes: a change and
//! its audit event are stored together or not at all.

use std::sync::Arc;

use latchkey_core::Role;
use latchkey_core::id::KeyId;
use latchkey_store::{AuditEvent, AuditFilter, Conflict, GraceEnd, KeyPatch, NewApiKey, Store, Unique};

use crate::Db;
use crate::fixtures::{
    HOUR, NOW, conflict, ev, event, invitation, logged, new_org, page, page_before, person, project, secret, session,
    ssh, world,
};

store_tests! {
    events_are_listed_newest_first_by_filter,
    a_refused_change_appends_no_event,
    a_change_whose_event_fails_is_not_stored,
}

store_tests! {
    with_db: the_audit_trail_is_append_only,
}

async fn events_are_listed_newest_first_by_filter(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let at = |at, action: &str, actor: &str, target: &str| AuditEvent {
        at,
        actor_id: Some(actor.to_owned()),
        target_id: Some(target.to_owned()),
        ..event(&w.org.id, action)
    };
    let e1 = at(NOW, "api_key.create", "usr_a", "key_1");
    let e2 = at(NOW + 10, "api_key.revoke", "usr_a", "key_1");
    let e3 = at(NOW + 20, "api_key.create", "usr_b", "key_2");
    let e4 = AuditEvent {
        actor_type: "key".into(),
        ip: None,
        request_id: None,
        ..at(NOW + 30, "member.remove", "usr_b", "usr_c")
    };
    let theirs = event(&other.id, "api_key.create");
    let nobodys = AuditEvent { org_id: None, actor_id: None, ..event(&w.org.id, "user.login_failed") };
    for e in [&e1, &e2, &e3, &e4, &theirs, &nobodys] {
        store.append_event(e).await.unwrap();
    }

    let list = |filter: AuditFilter, page| {
        let store = Arc::clone(&store);
        let org_id = w.org.id.clone();
        async move { store.list_events(&org_id, &filter, &page).await.unwrap() }
    };
    let all = [e4.clone(), e3.clone(), e2.clone(), e1.clone()];
    assert_eq!(list(AuditFilter::default(), page(10)).await, all);
    assert_eq!(list(AuditFilter::default(), page(2)).await, all[..3]);
    assert_eq!(list(AuditFilter::default(), page_before(2, &e3.id)).await, all[2..]);
    let action = |a: &str| AuditFilter { action: Some(a.to_owned()), ..AuditFilter::default() };
    assert_eq!(list(action("api_key.create"), page(10)).await, [e3.clone(), e1.clone()]);
    let actor = AuditFilter { actor_id: Some("usr_a".into()), ..AuditFilter::default() };
    assert_eq!(list(actor, page(10)).await, [e2.clone(), e1.clone()]);
    let target = AuditFilter { target_id: Some("key_1".into()), ..AuditFilter::default() };
    assert_eq!(list(target, page(10)).await, [e2.clone(), e1.clone()]);
    // `since` is inclusive, `until` exclusive.
    let since = AuditFilter { since: Some(NOW + 10), ..AuditFilter::default() };
    assert_eq!(list(since, page(10)).await, all[..3]);
    let until = AuditFilter { until: Some(NOW + 20), ..AuditFilter::default() };
    assert_eq!(list(until, page(10)).await, [e2.clone(), e1.clone()]);
    let window = AuditFilter { since: Some(NOW + 10), until: Some(NOW + 30), ..action("api_key.create") };
    assert_eq!(list(window, page(10)).await, [e3]);
    let both = AuditFilter { actor_id: Some("usr_a".into()), ..action("api_key.create") };
    assert_eq!(list(both, page(10)).await, [e1]);

    // Organization-scoped: the other organization's event is its own, and an
    // event of no organization is nobody's.
    let default = AuditFilter::default();
    assert_eq!(store.list_events(&other.id, &default, &page(10)).await.unwrap(), [theirs]);
    assert!(!list(default, page(10)).await.contains(&nobodys));
}

async fn the_audit_trail_is_append_only(store: Arc<dyn Store>, db: Db) {
    let w = world(&*store).await;
    let kept = event(&w.org.id, "api_key.create");
    store.append_event(&kept).await.unwrap();
    for sql in ["UPDATE audit_events SET action = 'changed'", "DELETE FROM audit_events"] {
        assert!(db.execute(sql).await.is_err(), "{sql} must be refused on {}", db.backend());
    }
    // TRUNCATE (PostgreSQL) bypasses row triggers; it is refused too.
    if let Db::Postgres(_) = db {
        assert!(db.execute("TRUNCATE audit_events").await.is_err(), "TRUNCATE must be refused");
    }
    assert!(logged(&*store, &kept).await);
}

async fn a_refused_change_appends_no_event(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    // A duplicate key hash.
    let late = event(&w.org.id, "api_key.create");
    let duplicate = NewApiKey { hash: w.admin_key.hash, ..w.key("dup") };
    let refused = store.insert_key(&duplicate, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::Unique { what: Unique::Other }), "{refused:?}");
    assert!(!logged(&*store, &late).await);
    // Changes answered with `None` (no such record) append nothing either.
    let none = event(&w.org.id, "api_key.missing");
    let patch = KeyPatch { name: Some("x".into()), ..KeyPatch::default() };
    assert_eq!(store.update_key(&w.org.id, &KeyId::from("key_missing"), &patch, NOW, &none).await.unwrap(), None);
    assert_eq!(store.revoke_key(&w.org.id, &KeyId::from("key_missing"), NOW, &none).await.unwrap(), None);
    assert_eq!(store.delete_key(&w.org.id, &KeyId::from("key_missing"), &none).await.unwrap(), None);
    assert_eq!(store.transfer_key_to_org(&w.org.id, &KeyId::from("key_missing"), NOW, &none).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
}

/// An event that cannot be appended (its id is taken) fails the change it
/// describes, and leaves no trace of it: one transaction, for every kind of
/// change.
async fn a_change_whose_event_fails_is_not_stored(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let taken = event(&w.org.id, "first");
    store.append_event(&taken).await.unwrap();
    let clash = || AuditEvent { action: "clash".into(), ..taken.clone() };
    let bob = person(&*store, "bob@example.com").await;
    let key = w.key("k");
    store.insert_key(&key, &ev()).await.unwrap();

    // Creations.
    let new_key = w.key("new");
    assert!(store.insert_key(&new_key, &clash()).await.is_err());
    assert_eq!(store.get_key(&w.org.id, &new_key.id).await.unwrap(), None);
    let project = project(&w.org.id, "p");
    assert!(store.insert_project(&project, &clash()).await.is_err());
    assert_eq!(store.get_project(&w.org.id, &project.id).await.unwrap(), None);
    let org = new_org("beta");
    assert!(store.create_org(&org, &w.alice.id, &clash()).await.is_err());
    assert_eq!(store.get_org(&org.id).await.unwrap(), None);
    let login = session(&w.alice.id, &w.org.id);
    assert!(store.insert_session(&login, &clash()).await.is_err());
    assert_eq!(store.session_by_hash(&login.token_hash).await.unwrap(), None);
    let invited = invitation(&w.org.id, "bob@example.com", Role::Member);
    assert!(store.insert_invitation(&invited, &clash()).await.is_err());
    assert_eq!(store.list_invitations(&w.org.id, NOW, &page(10)).await.unwrap(), []);
    let secret = secret(&w.org.id, None, "TOKEN");
    assert!(store.put_secret(&secret, None, &clash()).await.is_err());
    assert_eq!(store.get_secret(&w.org.id, None, "TOKEN").await.unwrap(), None);
    let ssh = ssh(&w.org.id, Some(&w.alice.id), "laptop", "SHA256:laptop");
    assert!(store.insert_ssh_key(&ssh, &clash()).await.is_err());
    assert_eq!(store.get_ssh_key(&w.org.id, &ssh.id).await.unwrap(), None);

    // Changes of a key.
    let before = store.get_key(&w.org.id, &key.id).await.unwrap();
    let patch = KeyPatch { name: Some("renamed".into()), remaining: Some(Some(5)), ..KeyPatch::default() };
    assert!(store.update_key(&w.org.id, &key.id, &patch, NOW + 1, &clash()).await.is_err());
    assert!(store.revoke_key(&w.org.id, &key.id, NOW + 1, &clash()).await.is_err());
    let successor = NewApiKey { rotated_from: Some(key.id.clone()), ..w.key("next") };
    assert!(store.rotate_key(&w.org.id, &key.id, &successor, GraceEnd::At(NOW + HOUR), &clash()).await.is_err());
    assert_eq!(store.find_key_by_hash(&successor.hash).await.unwrap(), None);
    assert!(store.transfer_key_to_org(&w.org.id, &key.id, NOW + 1, &clash()).await.is_err());
    assert!(store.delete_key(&w.org.id, &key.id, &clash()).await.is_err());
    assert_eq!(store.get_key(&w.org.id, &key.id).await.unwrap(), before);

    // Memberships.
    let invited = invitation(&w.org.id, "bob@example.com", Role::Member);
    store.insert_invitation(&invited, &ev()).await.unwrap();
    let accepted = store.accept_invitation(&invited.token_hash, &bob, NOW, &|_| clash()).await;
    assert!(accepted.is_err(), "{accepted:?}");
    assert_eq!(store.role_of(&w.org.id, &bob.id).await.unwrap(), None);
    assert_eq!(store.list_invitations(&w.org.id, NOW, &page(10)).await.unwrap(), std::slice::from_ref(&invited));
    store.accept_invitation(&invited.token_hash, &bob, NOW, &|_| ev()).await.unwrap().unwrap();
    assert!(store.set_role(&w.org.id, &bob.id, Role::Admin, &clash()).await.is_err());
    assert!(store.remove_member(&w.org.id, &bob.id, &clash()).await.is_err());
    assert_eq!(store.role_of(&w.org.id, &bob.id).await.unwrap(), Some(Role::Member));

    // The event that was there first is the only one with its id.
    let mine = store.list_events(&w.org.id, &AuditFilter::default(), &page(100)).await.unwrap();
    assert_eq!(mine.iter().filter(|e| e.id == taken.id).collect::<Vec<_>>(), [&taken]);
}
