//! `ProjectStore`: projects of an organization, patched, and deleted only
//! when no active key belongs to them.

use std::sync::Arc;

use latchkey_core::id::ProjectId;
use latchkey_store::{Conflict, NewApiKey, Project, ProjectPatch, Store};

use crate::fixtures::{HOUR, NOW, conflict, ev, event, logged, page, page_before, project, world};

store_tests! {
    projects_are_kept_per_organization,
    update_project_changes_what_the_patch_names,
    a_project_in_use_is_not_deleted,
}

async fn projects_are_kept_per_organization(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let created = event(&w.org.id, "project.create");
    let first = project(&w.org.id, "one");
    store.insert_project(&first, &created).await.unwrap();
    assert!(logged(&*store, &created).await);
    let (second, third) = (project(&w.org.id, "two"), project(&w.org.id, "three"));
    let theirs = project(&other.id, "theirs");
    for p in [&second, &third, &theirs] {
        store.insert_project(p, &ev()).await.unwrap();
    }

    assert_eq!(store.get_project(&w.org.id, &first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_project(&other.id, &first.id).await.unwrap(), None);
    assert_eq!(store.get_project(&w.org.id, &theirs.id).await.unwrap(), None);
    let mine = [third, second.clone(), first];
    assert_eq!(store.list_projects(&w.org.id, &page(10)).await.unwrap(), mine);
    assert_eq!(store.list_projects(&w.org.id, &page(1)).await.unwrap(), mine[..2]);
    assert_eq!(store.list_projects(&w.org.id, &page_before(1, &second.id)).await.unwrap(), mine[2..]);
    assert_eq!(store.list_projects(&other.id, &page(10)).await.unwrap(), [theirs]);
}

async fn update_project_changes_what_the_patch_names(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let original = project(&w.org.id, "one");
    store.insert_project(&original, &ev()).await.unwrap();

    let renamed_event = event(&w.org.id, "project.update");
    let patch = ProjectPatch { name: Some("renamed".into()), description: None };
    let renamed = store.update_project(&w.org.id, &original.id, &patch, NOW + 1, &renamed_event).await.unwrap();
    let expected = Project { name: "renamed".into(), updated_at: NOW + 1, ..original.clone() };
    assert_eq!(renamed, Some(expected.clone()));
    assert!(logged(&*store, &renamed_event).await);
    // `Some(None)` clears the description; `Some(Some(_))` sets it.
    let patch = ProjectPatch { name: None, description: Some(None) };
    let expected = Project { description: None, updated_at: NOW + 2, ..expected };
    assert_eq!(
        store.update_project(&w.org.id, &original.id, &patch, NOW + 2, &ev()).await.unwrap(),
        Some(expected.clone())
    );
    let patch = ProjectPatch { name: None, description: Some(Some("new".into())) };
    let expected = Project { description: Some("new".into()), updated_at: NOW + 3, ..expected };
    assert_eq!(
        store.update_project(&w.org.id, &original.id, &patch, NOW + 3, &ev()).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(store.get_project(&w.org.id, &original.id).await.unwrap(), Some(expected.clone()));

    // No such project (in this organization): `None`, nothing changed.
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let none = event(&w.org.id, "project.update.missing");
    let patch = ProjectPatch { name: Some("x".into()), description: Some(None) };
    assert_eq!(store.update_project(&other.id, &original.id, &patch, NOW + 4, &none).await.unwrap(), None);
    assert_eq!(
        store.update_project(&w.org.id, &ProjectId::from("prj_missing"), &patch, NOW + 4, &none).await.unwrap(),
        None
    );
    assert!(!logged(&*store, &none).await);
    assert_eq!(store.get_project(&w.org.id, &original.id).await.unwrap(), Some(expected));
}

async fn a_project_in_use_is_not_deleted(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let p = project(&w.org.id, "one");
    store.insert_project(&p, &ev()).await.unwrap();
    let key = NewApiKey { project_id: Some(p.id.clone()), ..w.key("in p") };
    store.insert_key(&key, &ev()).await.unwrap();

    let late = event(&w.org.id, "project.delete.refused");
    let refused = store.delete_project(&w.org.id, &p.id, NOW, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::InUse { active_keys: 1 }), "{refused:?}");
    // A key revoked in the future (a rotation's grace period) is still active.
    store.revoke_key(&w.org.id, &key.id, NOW + HOUR, &ev()).await.unwrap().unwrap();
    let refused = store.delete_project(&w.org.id, &p.id, NOW, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::InUse { active_keys: 1 }), "{refused:?}");
    assert!(!logged(&*store, &late).await);
    assert_eq!(store.get_project(&w.org.id, &p.id).await.unwrap(), Some(p.clone()));

    // Once its keys are revoked: deleted, once, by its organization only.
    let none = event(&w.org.id, "project.delete.missing");
    assert!(!store.delete_project(&other.id, &p.id, NOW + HOUR, &none).await.unwrap());
    let deleted = event(&w.org.id, "project.delete");
    assert!(store.delete_project(&w.org.id, &p.id, NOW + HOUR, &deleted).await.unwrap());
    assert!(logged(&*store, &deleted).await);
    assert_eq!(store.get_project(&w.org.id, &p.id).await.unwrap(), None);
    assert!(!store.delete_project(&w.org.id, &p.id, NOW + HOUR, &none).await.unwrap());
    assert!(!logged(&*store, &none).await);
}
