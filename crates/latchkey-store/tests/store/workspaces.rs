//! `WorkspaceStore`: workspaces of an organization and of its members,
//! their fixed storage prefix, names unique in their scope, listing by
//! viewer and page, changes and deletions with their events, and what a
//! project deletion and a member's removal do to them.

use std::sync::Arc;

use latchkey_core::Role;
use latchkey_core::id::{OrgId, ProjectId, UserId, WorkspaceId};
use latchkey_store::{
    Conflict, NewWorkspace, Store, Unique, Workspace, WorkspaceFilter, WorkspaceKind, WorkspacePatch, storage_prefix,
};

use crate::Db;
use crate::fixtures::{NOW, at_once, conflict, ev, event, logged, page, page_before, project, world};

store_tests! {
    workspaces_are_created_with_their_prefix_and_kept_per_organization,
    personal_workspaces_are_listed_for_their_owner_and_with_all_org,
    workspaces_are_listed_newest_first_by_page,
    names_are_unique_in_their_scope,
    concurrent_creates_of_one_name_store_one,
    an_update_changes_name_quota_and_project_only,
    a_delete_returns_the_record_once,
    a_project_with_workspaces_is_not_deleted,
    a_removed_members_personal_workspaces_stay_for_the_admins,
}

store_tests! {
    with_db: the_schema_keeps_prefix_kind_and_owner,
}

/// A new workspace `name` of `org_id` (personal when `owner`), created by
/// `owner` (or nobody in particular) at [`NOW`].
fn new_workspace(org_id: &OrgId, owner: Option<&UserId>, name: &str) -> NewWorkspace {
    NewWorkspace {
        id: WorkspaceId::new(),
        org_id: org_id.clone(),
        owner_user_id: owner.cloned(),
        project_id: None,
        name: name.to_owned(),
        quota_bytes: None,
        created_by_user_id: owner.cloned(),
        created_by_key_id: None,
        at: NOW,
    }
}

/// Creates `new`, expecting success.
async fn create(store: &dyn Store, new: &NewWorkspace) -> Workspace {
    store.create_workspace(new, &ev()).await.unwrap()
}

/// The names of `workspaces`, in order.
fn names(workspaces: &[Workspace]) -> Vec<&str> {
    workspaces.iter().map(|w| w.name.as_str()).collect()
}

async fn workspaces_are_created_with_their_prefix_and_kept_per_organization(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let p = project(org, "data");
    store.insert_project(&p, &ev()).await.unwrap();
    let new = NewWorkspace {
        project_id: Some(p.id.clone()),
        quota_bytes: Some(1 << 30),
        created_by_user_id: Some(w.alice.id.clone()),
        created_by_key_id: Some(w.admin_key.id.clone()),
        ..new_workspace(org, None, "shared")
    };
    let created = event(org, "workspace.create");
    let stored = store.create_workspace(&new, &created).await.unwrap();
    assert!(logged(&*store, &created).await);
    let expected = Workspace {
        id: new.id.clone(),
        org_id: org.clone(),
        kind: WorkspaceKind::Org,
        owner_user_id: None,
        project_id: Some(p.id.clone()),
        name: "shared".to_owned(),
        storage_prefix: format!("orgs/{org}/workspaces/{}/", new.id),
        quota_bytes: Some(1 << 30),
        created_by_user_id: Some(w.alice.id.clone()),
        created_by_key_id: Some(w.admin_key.id.clone()),
        created_at: NOW,
        updated_at: NOW,
    };
    assert_eq!(stored, expected);
    assert_eq!(stored.storage_prefix, storage_prefix(org, &new.id));
    assert_eq!(store.get_workspace(org, &new.id).await.unwrap(), Some(expected.clone()));

    // A member's own: personal, theirs.
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let mine = create(&*store, &new_workspace(org, Some(&bob.id), "notes")).await;
    assert_eq!((mine.kind, mine.owner_user_id.as_ref()), (WorkspaceKind::Personal, Some(&bob.id)));
    assert_eq!(mine.storage_prefix, format!("orgs/{org}/workspaces/{}/", mine.id));

    // Another organization sees none of them, and its own are not ours.
    let (other, carol) = w.other_org(&*store, "carol@example.com").await;
    for id in [&expected.id, &mine.id] {
        assert_eq!(store.get_workspace(&other.id, id).await.unwrap(), None);
        let late = event(&other.id, "workspace.delete.theirs");
        assert_eq!(store.delete_workspace(&other.id, id, &late).await.unwrap(), None);
        assert!(!logged(&*store, &late).await);
    }
    let theirs = create(&*store, &new_workspace(&other.id, Some(&carol.id), "notes")).await;
    assert_eq!(store.get_workspace(org, &theirs.id).await.unwrap(), None);
    let everything = WorkspaceFilter { all_org: true, ..WorkspaceFilter::default() };
    assert_eq!(store.list_workspaces(&other.id, &everything, &page(10)).await.unwrap(), std::slice::from_ref(&theirs));
    assert_eq!(store.list_workspaces(org, &everything, &page(10)).await.unwrap(), [mine, expected]);
    // An organization's project is not another's to use.
    let refused = store
        .create_workspace(
            &NewWorkspace { project_id: Some(p.id.clone()), ..new_workspace(&other.id, None, "x") },
            &ev(),
        )
        .await;
    assert_eq!(conflict(&refused), Some(Conflict::NoSuchProject), "{refused:?}");
    let missing = store
        .create_workspace(
            &NewWorkspace { project_id: Some(ProjectId::from("prj_missing")), ..new_workspace(org, None, "y") },
            &ev(),
        )
        .await;
    assert_eq!(conflict(&missing), Some(Conflict::NoSuchProject), "{missing:?}");
    assert_eq!(store.list_workspaces(&other.id, &everything, &page(10)).await.unwrap(), [theirs]);
}

async fn personal_workspaces_are_listed_for_their_owner_and_with_all_org(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let p = project(org, "data");
    store.insert_project(&p, &ev()).await.unwrap();
    let shared = create(&*store, &new_workspace(org, None, "shared")).await;
    let alices = create(&*store, &new_workspace(org, Some(&w.alice.id), "alice's")).await;
    let bobs = create(&*store, &new_workspace(org, Some(&bob.id), "bob's")).await;
    let in_p =
        create(&*store, &NewWorkspace { project_id: Some(p.id.clone()), ..new_workspace(org, None, "in p") }).await;
    let bobs_in_p = create(
        &*store,
        &NewWorkspace { project_id: Some(p.id.clone()), ..new_workspace(org, Some(&bob.id), "bob's in p") },
    )
    .await;
    let (other, carol) = w.other_org(&*store, "carol@example.com").await;
    crate::fixtures::join(&*store, &other.id, &bob, Role::Member).await;
    create(&*store, &new_workspace(&other.id, None, "theirs")).await;
    create(&*store, &new_workspace(&other.id, Some(&bob.id), "bob's elsewhere")).await;
    create(&*store, &new_workspace(&other.id, Some(&carol.id), "carol's")).await;

    let list = |filter: WorkspaceFilter| {
        let store = Arc::clone(&store);
        let org = org.clone();
        async move { store.list_workspaces(&org, &filter, &page(100)).await.unwrap() }
    };
    let viewer = |who: &UserId| WorkspaceFilter { viewer: Some(who.clone()), ..WorkspaceFilter::default() };
    // Everyone sees the organization's; each person their own besides.
    assert_eq!(list(viewer(&w.alice.id)).await, [in_p.clone(), alices.clone(), shared.clone()]);
    assert_eq!(list(viewer(&bob.id)).await, [bobs_in_p.clone(), in_p.clone(), bobs.clone(), shared.clone()]);
    assert_eq!(list(WorkspaceFilter::default()).await, [in_p.clone(), shared.clone()]);
    let stranger = UserId::new();
    assert_eq!(list(viewer(&stranger)).await, [in_p.clone(), shared.clone()]);
    // `all_org`: every member's too, whoever views.
    let all = WorkspaceFilter { all_org: true, ..viewer(&w.alice.id) };
    assert_eq!(
        names(&list(all.clone()).await),
        ["bob's in p", "in p", "bob's", "alice's", "shared"],
        "the organization's and every member's, newest first"
    );
    // By kind and by project.
    let personal = WorkspaceFilter { kind: Some(WorkspaceKind::Personal), ..all.clone() };
    assert_eq!(list(personal).await, [bobs_in_p.clone(), bobs.clone(), alices.clone()]);
    let own_personal = WorkspaceFilter { kind: Some(WorkspaceKind::Personal), ..viewer(&w.alice.id) };
    assert_eq!(list(own_personal).await, [alices]);
    let org_only = WorkspaceFilter { kind: Some(WorkspaceKind::Org), ..all.clone() };
    assert_eq!(list(org_only).await, [in_p.clone(), shared]);
    let of_p = WorkspaceFilter { project_id: Some(p.id.clone()), ..all };
    assert_eq!(list(of_p).await, [bobs_in_p.clone(), in_p.clone()]);
    let bobs_of_p = WorkspaceFilter { project_id: Some(p.id.clone()), ..viewer(&w.alice.id) };
    assert_eq!(list(bobs_of_p).await, [in_p]);
}

async fn workspaces_are_listed_newest_first_by_page(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(create(&*store, &new_workspace(org, None, &format!("w{i}"))).await);
    }
    made.reverse();
    let all = WorkspaceFilter::default();
    // A page is `limit` items and one more, which tells that a next page exists.
    assert_eq!(store.list_workspaces(org, &all, &page(2)).await.unwrap(), made[..3]);
    assert_eq!(store.list_workspaces(org, &all, &page_before(2, &made[1].id)).await.unwrap(), made[2..5]);
    assert_eq!(store.list_workspaces(org, &all, &page_before(2, &made[3].id)).await.unwrap(), made[4..]);
    assert_eq!(store.list_workspaces(org, &all, &page_before(2, &made[4].id)).await.unwrap(), []);
    assert_eq!(store.list_workspaces(org, &all, &page(10)).await.unwrap(), made);
}

async fn names_are_unique_in_their_scope(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    let first = create(&*store, &new_workspace(org, None, "data")).await;

    // Taken among the organization's: refused with a fixed sentence, nothing stored.
    let twin = new_workspace(org, None, "data");
    let late = event(org, "workspace.create.twin");
    let refused = store.create_workspace(&twin, &late).await;
    let taken = Conflict::Unique { what: Unique::WorkspaceName };
    assert_eq!(conflict(&refused), Some(taken.clone()), "{refused:?}");
    assert_eq!(taken.to_string(), "a workspace with this name already exists");
    assert!(!logged(&*store, &late).await);
    assert_eq!(store.get_workspace(org, &twin.id).await.unwrap(), None);

    // Each person's own names are theirs; another organization's are its own.
    let alices = create(&*store, &new_workspace(org, Some(&w.alice.id), "data")).await;
    create(&*store, &new_workspace(org, Some(&bob.id), "data")).await;
    create(&*store, &new_workspace(&other.id, None, "data")).await;
    let again = store.create_workspace(&new_workspace(org, Some(&w.alice.id), "data"), &late).await;
    assert_eq!(conflict(&again), Some(taken.clone()), "{again:?}");
    assert!(!logged(&*store, &late).await);
    // Names are compared exactly.
    create(&*store, &new_workspace(org, None, "Data")).await;

    // Renaming onto a taken name: refused, nothing changed.
    let second = create(&*store, &new_workspace(org, None, "logs")).await;
    let rename = WorkspacePatch { name: Some("data".to_owned()), quota_bytes: Some(Some(10)), ..Default::default() };
    let refused = store.update_workspace(org, &second.id, &rename, NOW + 1, &late).await;
    assert_eq!(conflict(&refused), Some(taken), "{refused:?}");
    assert!(!logged(&*store, &late).await);
    assert_eq!(store.get_workspace(org, &second.id).await.unwrap(), Some(second));
    // A personal workspace may take a name its owner does not use yet.
    let patch = WorkspacePatch { name: Some("logs".to_owned()), ..Default::default() };
    let renamed = store.update_workspace(org, &alices.id, &patch, NOW + 1, &ev()).await.unwrap().unwrap();
    assert_eq!(renamed.name, "logs");
    // Keeping its own name is no conflict.
    let same = WorkspacePatch { name: Some("data".to_owned()), ..Default::default() };
    assert!(store.update_workspace(org, &first.id, &same, NOW + 1, &ev()).await.unwrap().is_some());
}

async fn concurrent_creates_of_one_name_store_one(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = w.org.id.clone();
    let tries: Vec<NewWorkspace> = (0..6).map(|_| new_workspace(&org, None, "race")).collect();
    let results = at_once("creating one name six times", tries.len(), |i| {
        let store = Arc::clone(&store);
        let new = tries[i].clone();
        let e = event(&new.org_id, &format!("workspace.create.{i}"));
        async move { (store.create_workspace(&new, &e).await, e) }
    })
    .await;
    let mut stored = 0;
    for (result, e) in &results {
        match result {
            Ok(_) => {
                stored += 1;
                assert!(logged(&*store, e).await);
            }
            Err(_) => {
                assert_eq!(conflict(result), Some(Conflict::Unique { what: Unique::WorkspaceName }), "{result:?}");
                assert!(!logged(&*store, e).await);
            }
        }
    }
    assert_eq!(stored, 1);
    let all = WorkspaceFilter::default();
    assert_eq!(store.list_workspaces(&org, &all, &page(10)).await.unwrap().len(), 1);
}

async fn an_update_changes_name_quota_and_project_only(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let (p, q) = (project(org, "p"), project(org, "q"));
    for x in [&p, &q] {
        store.insert_project(x, &ev()).await.unwrap();
    }
    let original = create(&*store, &NewWorkspace { quota_bytes: Some(100), ..new_workspace(org, None, "one") }).await;

    let changed = event(org, "workspace.update");
    let patch = WorkspacePatch {
        name: Some("renamed".to_owned()),
        quota_bytes: Some(Some(200)),
        project_id: Some(Some(p.id.clone())),
    };
    let updated = store.update_workspace(org, &original.id, &patch, NOW + 1, &changed).await.unwrap();
    let expected = Workspace {
        name: "renamed".to_owned(),
        quota_bytes: Some(200),
        project_id: Some(p.id.clone()),
        updated_at: NOW + 1,
        ..original.clone()
    };
    assert_eq!(updated, Some(expected.clone()));
    assert!(logged(&*store, &changed).await);
    assert_eq!(store.get_workspace(org, &original.id).await.unwrap(), Some(expected.clone()));

    // `None` leaves a field; `Some(None)` clears it.
    let patch = WorkspacePatch { quota_bytes: Some(None), ..Default::default() };
    let expected = Workspace { quota_bytes: None, updated_at: NOW + 2, ..expected };
    assert_eq!(
        store.update_workspace(org, &original.id, &patch, NOW + 2, &ev()).await.unwrap(),
        Some(expected.clone())
    );
    let patch = WorkspacePatch { project_id: Some(Some(q.id.clone())), ..Default::default() };
    let expected = Workspace { project_id: Some(q.id.clone()), updated_at: NOW + 3, ..expected };
    assert_eq!(
        store.update_workspace(org, &original.id, &patch, NOW + 3, &ev()).await.unwrap(),
        Some(expected.clone())
    );
    let patch = WorkspacePatch { project_id: Some(None), ..Default::default() };
    let expected = Workspace { project_id: None, updated_at: NOW + 4, ..expected };
    assert_eq!(
        store.update_workspace(org, &original.id, &patch, NOW + 4, &ev()).await.unwrap(),
        Some(expected.clone())
    );
    // What never changes did not.
    assert_eq!(
        (&expected.id, &expected.org_id, expected.kind, &expected.owner_user_id, &expected.storage_prefix),
        (&original.id, &original.org_id, original.kind, &original.owner_user_id, &original.storage_prefix)
    );

    // Another organization's project, or none such: refused, nothing changed.
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let theirs = project(&other.id, "theirs");
    store.insert_project(&theirs, &ev()).await.unwrap();
    let late = event(org, "workspace.update.refused");
    for project_id in [theirs.id.clone(), ProjectId::from("prj_missing")] {
        let patch =
            WorkspacePatch { name: Some("x".to_owned()), project_id: Some(Some(project_id)), ..Default::default() };
        let refused = store.update_workspace(org, &original.id, &patch, NOW + 5, &late).await;
        assert_eq!(conflict(&refused), Some(Conflict::NoSuchProject), "{refused:?}");
    }
    assert!(!logged(&*store, &late).await);
    assert_eq!(store.get_workspace(org, &original.id).await.unwrap(), Some(expected.clone()));

    // No such workspace (in this organization): `None`, nothing appended.
    let none = event(org, "workspace.update.missing");
    let patch = WorkspacePatch { name: Some("x".to_owned()), ..Default::default() };
    assert_eq!(store.update_workspace(&other.id, &original.id, &patch, NOW + 5, &none).await.unwrap(), None);
    let missing = WorkspaceId::from("wsp_missing");
    assert_eq!(store.update_workspace(org, &missing, &patch, NOW + 5, &none).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
    assert_eq!(store.get_workspace(org, &original.id).await.unwrap(), Some(expected));
}

async fn a_delete_returns_the_record_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let gone = create(&*store, &new_workspace(org, Some(&w.alice.id), "scratch")).await;
    let kept = create(&*store, &new_workspace(org, None, "kept")).await;

    let deleted = event(org, "workspace.delete");
    assert_eq!(store.delete_workspace(org, &gone.id, &deleted).await.unwrap(), Some(gone.clone()));
    assert!(logged(&*store, &deleted).await);
    assert_eq!(store.get_workspace(org, &gone.id).await.unwrap(), None);
    let none = event(org, "workspace.delete.again");
    assert_eq!(store.delete_workspace(org, &gone.id, &none).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
    let all = WorkspaceFilter { all_org: true, ..WorkspaceFilter::default() };
    assert_eq!(store.list_workspaces(org, &all, &page(10)).await.unwrap(), [kept]);
    // Its name is free again.
    create(&*store, &new_workspace(org, Some(&w.alice.id), "scratch")).await;
}

async fn a_project_with_workspaces_is_not_deleted(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let p = project(org, "data");
    store.insert_project(&p, &ev()).await.unwrap();
    let in_p = create(&*store, &NewWorkspace { project_id: Some(p.id.clone()), ..new_workspace(org, None, "a") }).await;
    let personal = NewWorkspace { project_id: Some(p.id.clone()), ..new_workspace(org, Some(&w.alice.id), "b") };
    let personal = create(&*store, &personal).await;

    let late = event(org, "project.delete.refused");
    let refused = store.delete_project(org, &p.id, NOW, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::ProjectHasWorkspaces { workspaces: 2 }), "{refused:?}");
    assert!(!logged(&*store, &late).await);
    assert!(store.get_project(org, &p.id).await.unwrap().is_some());

    // Moved out and deleted: the project can go.
    let out = WorkspacePatch { project_id: Some(None), ..Default::default() };
    store.update_workspace(org, &in_p.id, &out, NOW + 1, &ev()).await.unwrap().unwrap();
    let refused = store.delete_project(org, &p.id, NOW, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::ProjectHasWorkspaces { workspaces: 1 }), "{refused:?}");
    store.delete_workspace(org, &personal.id, &ev()).await.unwrap().unwrap();
    let deleted = event(org, "project.delete");
    assert!(store.delete_project(org, &p.id, NOW, &deleted).await.unwrap());
    assert!(logged(&*store, &deleted).await);
    // A workspace cannot be put in it any more.
    let refused = store
        .create_workspace(&NewWorkspace { project_id: Some(p.id.clone()), ..new_workspace(org, None, "c") }, &ev())
        .await;
    assert_eq!(conflict(&refused), Some(Conflict::NoSuchProject), "{refused:?}");
}

async fn a_removed_members_personal_workspaces_stay_for_the_admins(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    crate::fixtures::join(&*store, &other.id, &bob, Role::Member).await;
    let bobs = create(&*store, &new_workspace(org, Some(&bob.id), "bob's")).await;
    let elsewhere = create(&*store, &new_workspace(&other.id, Some(&bob.id), "bob's")).await;
    let shared = create(&*store, &new_workspace(org, None, "shared")).await;

    assert!(store.remove_member(org, &bob.id, &ev()).await.unwrap());
    // Kept as it was: the admins list and reach it (the objects under its
    // prefix are not latchkey's to delete).
    assert_eq!(store.get_workspace(org, &bobs.id).await.unwrap(), Some(bobs.clone()));
    let all = WorkspaceFilter { all_org: true, viewer: Some(w.alice.id.clone()), ..WorkspaceFilter::default() };
    assert_eq!(store.list_workspaces(org, &all, &page(10)).await.unwrap(), [shared.clone(), bobs.clone()]);
    let alices = WorkspaceFilter { viewer: Some(w.alice.id.clone()), ..WorkspaceFilter::default() };
    assert_eq!(store.list_workspaces(org, &alices, &page(10)).await.unwrap(), [shared]);
    assert_eq!(store.get_workspace(&other.id, &elsewhere.id).await.unwrap(), Some(elsewhere));
    // No new personal workspace for someone who is no member.
    let late = event(org, "workspace.create.departed");
    let refused = store.create_workspace(&new_workspace(org, Some(&bob.id), "new"), &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::NotAMember), "{refused:?}");
    let stranger = crate::fixtures::person(&*store, "dave@example.com").await;
    let refused = store.create_workspace(&new_workspace(org, Some(&stranger.id), "new"), &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::NotAMember), "{refused:?}");
    assert!(!logged(&*store, &late).await);
    // The admins may delete it.
    assert_eq!(store.delete_workspace(org, &bobs.id, &ev()).await.unwrap(), Some(bobs));
}

async fn the_schema_keeps_prefix_kind_and_owner(store: Arc<dyn Store>, db: Db) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let shared = create(&*store, &new_workspace(org, None, "first")).await;
    let alices = create(&*store, &new_workspace(org, Some(&w.alice.id), "second")).await;
    for sql in [
        "UPDATE workspaces SET storage_prefix = storage_prefix || 'x/'",
        "UPDATE workspaces SET storage_prefix = 'orgs/x/workspaces/y/' WHERE name = 'first'",
        "UPDATE workspaces SET kind = 'personal', \
         owner_user_id = (SELECT user_id FROM memberships WHERE memberships.org_id = workspaces.org_id LIMIT 1) \
         WHERE name = 'first'",
        "UPDATE workspaces SET owner_user_id = NULL, kind = 'org' WHERE name = 'second'",
        "UPDATE workspaces SET org_id = (SELECT id FROM orgs WHERE id <> workspaces.org_id LIMIT 1)",
        "UPDATE workspaces SET id = 'wsp_other' WHERE name = 'first'",
    ] {
        assert!(db.execute(sql).await.is_err(), "{sql} must be refused on {}", db.backend());
    }
    assert_eq!(store.get_workspace(org, &shared.id).await.unwrap(), Some(shared));
    assert_eq!(store.get_workspace(org, &alices.id).await.unwrap(), Some(alices));
    // A row whose prefix is not its own, or whose kind and owner disagree,
    // is refused; the same row made right is stored (so the refusals are
    // those rules', not another's).
    let copy = "INSERT INTO workspaces (id, org_id, kind, owner_user_id, name, storage_prefix, created_at, updated_at) \
                SELECT 'wsp_copy', org_id, ";
    for tail in [
        "'org', NULL, 'copy', 'orgs/' || org_id || '/workspaces/wsp_other/', 0, 0 FROM workspaces WHERE name = 'first'",
        "'org', NULL, 'copy', 'orgs/' || org_id || '/workspaces/wsp_copy', 0, 0 FROM workspaces WHERE name = 'first'",
        "'org', owner_user_id, 'copy', 'orgs/' || org_id || '/workspaces/wsp_copy/', 0, 0 FROM workspaces \
         WHERE name = 'second'",
        "'personal', NULL, 'copy', 'orgs/' || org_id || '/workspaces/wsp_copy/', 0, 0 FROM workspaces \
         WHERE name = 'first'",
        "'shared', NULL, 'copy', 'orgs/' || org_id || '/workspaces/wsp_copy/', 0, 0 FROM workspaces \
         WHERE name = 'first'",
    ] {
        let sql: &'static str = Box::leak(format!("{copy}{tail}").into_boxed_str());
        assert!(db.execute(sql).await.is_err(), "{sql} must be refused on {}", db.backend());
    }
    let right: &'static str = Box::leak(
        format!(
            "{copy}'org', NULL, 'copy', 'orgs/' || org_id || '/workspaces/wsp_copy/', 0, 0 FROM workspaces \
             WHERE name = 'first'"
        )
        .into_boxed_str(),
    );
    db.execute(right).await.unwrap();
    let copied = store.get_workspace(org, &WorkspaceId::from("wsp_copy")).await.unwrap().unwrap();
    assert_eq!(copied.storage_prefix, format!("orgs/{org}/workspaces/wsp_copy/"));
}
