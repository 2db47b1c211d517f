//! `OrgStore`: the first organization, further organizations, members,
//! and the rule that an organization keeps an admin (also under
//! concurrency).

use std::sync::Arc;

use latchkey_core::id::{OrgId, UserId};
use latchkey_core::{IssuedKey, KeyState, Role};
use latchkey_store::{Conflict, Member, NewApiKey, Org, OrgPatch, Store, Unique, User};

use crate::fixtures::{
    HOUR, NOW, at_once, conflict, ev, event, join, logged, new_org, new_user, page, page_before, person, plain_key,
    world,
};

store_tests! {
    bootstrap_happens_once,
    bootstrap_is_refused_once_any_organization_exists,
    concurrent_bootstraps_initialize_once,
    create_org_with_admin_reuses_a_known_email,
    create_org_makes_its_creator_admin,
    update_org_changes_what_the_patch_names,
    user_orgs_pages_newest_first,
    role_of_is_per_organization,
    list_members_pages_by_user_id,
    set_role_keeps_an_admin,
    remove_member_keeps_an_admin,
    concurrent_demotions_leave_one_admin,
}

async fn bootstrap_happens_once(store: Arc<dyn Store>) {
    let (org, alice, plain) = (new_org("acme"), new_user("alice@example.com"), plain_key());
    // The key names no owner: it becomes the new admin's.
    let key = NewApiKey {
        owner_user_id: None,
        created_by_user_id: None,
        ..NewApiKey::admin(&plain, &org.id, &alice.id, "first", NOW)
    };
    let events = [event(&org.id, "org.bootstrap"), event(&org.id, "api_key.create")];
    store.bootstrap(&org, &alice, &key, &events).await.unwrap();
    assert_eq!(store.get_org(&org.id).await.unwrap(), Some(org.clone()));
    assert_eq!(store.get_user(&alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.role_of(&org.id, &alice.id).await.unwrap(), Some(Role::Admin));
    let found = store.find_key_by_hash(&plain.hash()).await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.org_id.as_str()), (key.id.as_str(), org.id.as_str()));
    assert_eq!(found.owner_user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(found.created_by_user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(found.owner_role, Some(Role::Admin));
    for e in &events {
        assert!(logged(&*store, e).await, "{e:?}");
    }
    assert_eq!(store.get_org(&OrgId::from("org_missing")).await.unwrap(), None);
    assert_eq!(store.get_user(&UserId::from("usr_missing")).await.unwrap(), None);

    // A second bootstrap is refused and changes nothing.
    let (second, bob, plain2) = (new_org("second"), new_user("bob@example.com"), plain_key());
    let late = event(&second.id, "org.bootstrap");
    let again = store
        .bootstrap(
            &second,
            &bob,
            &NewApiKey::admin(&plain2, &second.id, &bob.id, "k", NOW),
            std::slice::from_ref(&late),
        )
        .await;
    assert_eq!(conflict(&again), Some(Conflict::AlreadyInitialized { org_name: org.name.clone() }), "{again:?}");
    assert_eq!(store.get_org(&second.id).await.unwrap(), None);
    assert_eq!(store.get_user(&bob.id).await.unwrap(), None);
    assert_eq!(store.find_key_by_hash(&plain2.hash()).await.unwrap(), None);
    assert!(!logged(&*store, &late).await);
}

async fn bootstrap_is_refused_once_any_organization_exists(store: Arc<dyn Store>) {
    // An organization made by a sign-up counts.
    person(&*store, "first@example.com").await;
    let (org, user, plain) = (new_org("later"), new_user("later@example.com"), plain_key());
    let key = NewApiKey::admin(&plain, &org.id, &user.id, "k", NOW);
    let refused = store.bootstrap(&org, &user, &key, &[]).await;
    assert_eq!(conflict(&refused), Some(Conflict::AlreadyInitialized { org_name: "own".into() }), "{refused:?}");
    assert_eq!(store.get_org(&org.id).await.unwrap(), None);
    assert_eq!(store.find_key_by_hash(&plain.hash()).await.unwrap(), None);
}

async fn concurrent_bootstraps_initialize_once(store: Arc<dyn Store>) {
    let attempts: Vec<(Org, User, NewApiKey)> = (0..2)
        .map(|i| {
            let (org, admin) = (new_org(&format!("first{i}")), new_user(&format!("admin{i}@example.com")));
            let key = NewApiKey::admin(&plain_key(), &org.id, &admin.id, "k", NOW);
            (org, admin, key)
        })
        .collect();
    let results = at_once("two bootstraps", 2, |i| {
        let (store, (org, admin, key)) = (Arc::clone(&store), attempts[i].clone());
        async move { store.bootstrap(&org, &admin, &key, &[]).await }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    let winner = &attempts[results.iter().position(Result::is_ok).unwrap()].0;
    let loser = Some(Conflict::AlreadyInitialized { org_name: winner.name.clone() });
    assert_eq!(results.iter().filter(|r| conflict(r) == loser).count(), 1, "{results:?}");
    let mut orgs = Vec::new();
    for (org, _, _) in &attempts {
        orgs.extend(store.get_org(&org.id).await.unwrap());
    }
    assert_eq!(orgs.len(), 1, "{orgs:?}");
}

async fn create_org_with_admin_reuses_a_known_email(store: Arc<dyn Store>) {
    let w = world(&*store).await;

    // A new email: a new user, admin of the organization and owner of its key.
    let (beta, bob, plain) = (new_org("beta"), new_user("bob@example.com"), plain_key());
    let created = event(&beta.id, "org.create");
    let bob_id = store
        .create_org_with_admin(
            &beta,
            &bob,
            &NewApiKey::admin(&plain, &beta.id, &bob.id, "b", NOW),
            std::slice::from_ref(&created),
        )
        .await
        .unwrap();
    assert_eq!(bob_id, bob.id);
    assert_eq!(store.get_org(&beta.id).await.unwrap(), Some(beta.clone()));
    assert_eq!(store.get_user(&bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(store.role_of(&beta.id, &bob.id).await.unwrap(), Some(Role::Admin));
    let key = store.find_key_by_hash(&plain.hash()).await.unwrap().unwrap();
    assert_eq!((key.org_id.as_str(), key.owner_user_id.as_deref()), (beta.id.as_str(), Some(bob.id.as_str())));
    assert!(logged(&*store, &created).await);

    // A known email: that user, whatever id the caller minted.
    let (gamma, stranger, plain) = (new_org("gamma"), new_user("alice@example.com"), plain_key());
    let key = NewApiKey::admin(&plain, &gamma.id, &stranger.id, "g", NOW);
    let reused = store.create_org_with_admin(&gamma, &stranger, &key, &[]).await.unwrap();
    assert_eq!(reused, w.alice.id);
    assert_eq!(store.get_user(&stranger.id).await.unwrap(), None);
    assert_eq!(store.role_of(&gamma.id, &w.alice.id).await.unwrap(), Some(Role::Admin));
    let key = store.find_key_by_hash(&plain.hash()).await.unwrap().unwrap();
    assert_eq!(key.owner_user_id.as_deref(), Some(w.alice.id.as_str()));

    // A taken slug: refused, and nothing of it is stored.
    let (delta, carol, plain) =
        (Org { slug: beta.slug.clone(), ..new_org("delta") }, new_user("carol@example.com"), plain_key());
    let late = event(&delta.id, "org.create");
    let key = NewApiKey::admin(&plain, &delta.id, &carol.id, "d", NOW);
    let taken = store.create_org_with_admin(&delta, &carol, &key, std::slice::from_ref(&late)).await;
    assert_eq!(conflict(&taken), Some(Conflict::Unique { what: Unique::OrgSlug }), "{taken:?}");
    assert_eq!(store.get_org(&delta.id).await.unwrap(), None);
    assert_eq!(store.user_by_email("carol@example.com").await.unwrap(), None);
    assert_eq!(store.find_key_by_hash(&plain.hash()).await.unwrap(), None);
    assert!(!logged(&*store, &late).await);
}

async fn create_org_makes_its_creator_admin(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let beta = new_org("beta");
    let created = event(&beta.id, "org.create");
    store.create_org(&beta, &w.alice.id, &created).await.unwrap();
    assert_eq!(store.get_org(&beta.id).await.unwrap(), Some(beta.clone()));
    assert_eq!(store.role_of(&beta.id, &w.alice.id).await.unwrap(), Some(Role::Admin));
    assert!(logged(&*store, &created).await);

    // Slugs are unique.
    let clash = Org { slug: beta.slug.clone(), ..new_org("clash") };
    let late = event(&clash.id, "org.create");
    let refused = store.create_org(&clash, &w.alice.id, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::Unique { what: Unique::OrgSlug }), "{refused:?}");
    assert_eq!(store.get_org(&clash.id).await.unwrap(), None);
    assert!(!logged(&*store, &late).await);
}

async fn update_org_changes_what_the_patch_names(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;

    let renamed_event = event(&w.org.id, "org.rename");
    let patch = OrgPatch { name: Some("Acme Corp".into()), ..OrgPatch::default() };
    let renamed = store.update_org(&w.org.id, &patch, &renamed_event).await.unwrap();
    let expected = Org { name: "Acme Corp".into(), ..w.org.clone() };
    assert_eq!(renamed, Some(expected.clone()));
    assert!(logged(&*store, &renamed_event).await);

    let patch = OrgPatch { members_see_all_keys: Some(true), ..OrgPatch::default() };
    let expected = Org { members_see_all_keys: true, ..expected };
    assert_eq!(store.update_org(&w.org.id, &patch, &ev()).await.unwrap(), Some(expected.clone()));
    let patch = OrgPatch { slug: Some(format!("{}-corp", w.org.slug)), ..OrgPatch::default() };
    let expected = Org { slug: format!("{}-corp", w.org.slug), ..expected };
    assert_eq!(store.update_org(&w.org.id, &patch, &ev()).await.unwrap(), Some(expected.clone()));
    assert_eq!(store.get_org(&w.org.id).await.unwrap(), Some(expected.clone()));

    // Another organization's slug: refused, nothing changed, no event.
    let late = event(&w.org.id, "org.update.refused");
    let patch = OrgPatch { name: Some("Taken".into()), slug: Some(other.slug.clone()), ..OrgPatch::default() };
    let taken = store.update_org(&w.org.id, &patch, &late).await;
    assert_eq!(conflict(&taken), Some(Conflict::Unique { what: Unique::OrgSlug }), "{taken:?}");
    assert_eq!(store.get_org(&w.org.id).await.unwrap(), Some(expected));
    assert!(!logged(&*store, &late).await);

    // No such organization.
    let none = event(&w.org.id, "org.update.missing");
    let patch = OrgPatch { name: Some("x".into()), ..OrgPatch::default() };
    assert_eq!(store.update_org(&OrgId::from("org_missing"), &patch, &none).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
}

async fn user_orgs_pages_newest_first(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let mut mine = vec![(w.org.clone(), Role::Admin)];
    for name in ["b", "c", "d"] {
        let org = new_org(name);
        store.create_org(&org, &w.alice.id, &ev()).await.unwrap();
        mine.push((org, Role::Admin));
    }
    let (bobs, _) = w.other_org(&*store, "bob@example.com").await;
    join(&*store, &bobs.id, &w.alice, Role::Member).await;
    mine.push((bobs, Role::Member));
    // Ids are minted in creation order: newest first is by id, descending.
    mine.sort_by(|a, b| b.0.id.cmp(&a.0.id));

    assert_eq!(store.user_orgs(&w.alice.id, &page(10)).await.unwrap(), mine);
    // `limit + 1` rows tell the caller that there is more; `before` goes on.
    let first = store.user_orgs(&w.alice.id, &page(2)).await.unwrap();
    assert_eq!(first, mine[..3]);
    assert_eq!(store.user_orgs(&w.alice.id, &page_before(2, &first[1].0.id)).await.unwrap(), mine[2..]);
    assert_eq!(store.user_orgs(&w.alice.id, &page_before(2, &mine[4].0.id)).await.unwrap(), []);
    assert_eq!(store.user_orgs(&UserId::from("usr_nobody"), &page(10)).await.unwrap(), []);
}

async fn role_of_is_per_organization(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let (other, carol) = w.other_org(&*store, "carol@example.com").await;
    assert_eq!(store.role_of(&w.org.id, &w.alice.id).await.unwrap(), Some(Role::Admin));
    assert_eq!(store.role_of(&w.org.id, &bob.id).await.unwrap(), Some(Role::Member));
    assert_eq!(store.role_of(&w.org.id, &carol.id).await.unwrap(), None);
    assert_eq!(store.role_of(&other.id, &w.alice.id).await.unwrap(), None);
    assert_eq!(store.role_of(&w.org.id, &UserId::from("usr_nobody")).await.unwrap(), None);
}

async fn list_members_pages_by_user_id(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let mut members = vec![Member { user: w.alice.clone(), role: Role::Admin, joined_at: NOW }];
    for (email, role) in
        [("bob@example.com", Role::Member), ("carol@example.com", Role::Admin), ("dan@example.com", Role::Member)]
    {
        let user = w.member(&*store, email, role).await;
        members.push(Member { user, role, joined_at: NOW });
    }
    let (other, erin) = w.other_org(&*store, "erin@example.com").await;
    members.sort_by(|a, b| b.user.id.cmp(&a.user.id));

    assert_eq!(store.list_members(&w.org.id, &page(10)).await.unwrap(), members);
    let first = store.list_members(&w.org.id, &page(2)).await.unwrap();
    assert_eq!(first, members[..3]);
    assert_eq!(store.list_members(&w.org.id, &page_before(2, &first[1].user.id)).await.unwrap(), members[2..]);
    let theirs = store.list_members(&other.id, &page(10)).await.unwrap();
    assert_eq!(theirs.iter().map(|m| &m.user.id).collect::<Vec<_>>(), [&erin.id]);
    assert_eq!(store.list_members(&OrgId::from("org_missing"), &page(10)).await.unwrap(), []);
}

async fn set_role_keeps_an_admin(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let bob_key = NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, "bob's", NOW);
    store.insert_key(&bob_key, &ev()).await.unwrap();

    let promoted = event(&w.org.id, "member.promote");
    let answer = store.set_role(&w.org.id, &bob.id, Role::Admin, &promoted).await.unwrap();
    assert_eq!(answer, Some(Member { user: bob.clone(), role: Role::Admin, joined_at: NOW }));
    assert!(logged(&*store, &promoted).await);
    // The keys' records carry the owner's current role.
    let key = store.get_key(&w.org.id, &bob_key.id).await.unwrap().unwrap();
    assert_eq!(key.owner_role, Some(Role::Admin));

    // One of two admins may step down; the last one may not.
    let alice = store.set_role(&w.org.id, &w.alice.id, Role::Member, &ev()).await.unwrap().unwrap();
    assert_eq!(alice.role, Role::Member);
    let late = event(&w.org.id, "member.demote.refused");
    let refused = store.set_role(&w.org.id, &bob.id, Role::Member, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::LastAdmin), "{refused:?}");
    assert_eq!(store.role_of(&w.org.id, &bob.id).await.unwrap(), Some(Role::Admin));
    assert!(!logged(&*store, &late).await);
    // Staying admin is no demotion.
    let same = store.set_role(&w.org.id, &bob.id, Role::Admin, &ev()).await.unwrap().unwrap();
    assert_eq!(same.role, Role::Admin);

    // Not a member (of this organization): `None`, and no event.
    let (other, carol) = w.other_org(&*store, "carol@example.com").await;
    let none = event(&w.org.id, "member.role.missing");
    assert_eq!(store.set_role(&w.org.id, &UserId::from("usr_nobody"), Role::Member, &none).await.unwrap(), None);
    assert_eq!(store.set_role(&w.org.id, &carol.id, Role::Member, &none).await.unwrap(), None);
    assert_eq!(store.set_role(&other.id, &bob.id, Role::Admin, &none).await.unwrap(), None);
    assert_eq!(store.role_of(&other.id, &bob.id).await.unwrap(), None);
    assert!(!logged(&*store, &none).await);
}

async fn remove_member_keeps_an_admin(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let bob_key = NewApiKey::admin(&plain_key(), &w.org.id, &bob.id, "bob's", NOW);
    store.insert_key(&bob_key, &ev()).await.unwrap();

    // The last admin cannot leave.
    let late = event(&w.org.id, "member.remove.refused");
    let refused = store.remove_member(&w.org.id, &w.alice.id, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::LastAdmin), "{refused:?}");
    assert_eq!(store.role_of(&w.org.id, &w.alice.id).await.unwrap(), Some(Role::Admin));
    assert!(!logged(&*store, &late).await);

    // A member leaves; their keys stay, disabled.
    let removed = event(&w.org.id, "member.remove");
    assert!(store.remove_member(&w.org.id, &bob.id, &removed).await.unwrap());
    assert!(logged(&*store, &removed).await);
    assert_eq!(store.role_of(&w.org.id, &bob.id).await.unwrap(), None);
    let key = store.get_key(&w.org.id, &bob_key.id).await.unwrap().unwrap();
    assert_eq!((key.owner_role, key.status(NOW + HOUR)), (None, KeyState::Disabled));

    // Not (or no longer) a member of this organization: `false`, no event.
    let (other, carol) = w.other_org(&*store, "carol@example.com").await;
    let none = event(&w.org.id, "member.remove.missing");
    assert!(!store.remove_member(&w.org.id, &bob.id, &none).await.unwrap());
    assert!(!store.remove_member(&w.org.id, &UserId::from("usr_nobody"), &none).await.unwrap());
    assert!(!store.remove_member(&w.org.id, &carol.id, &none).await.unwrap());
    assert_eq!(store.role_of(&other.id, &carol.id).await.unwrap(), Some(Role::Admin));
    assert!(!logged(&*store, &none).await);

    // Someone who left can be invited back.
    join(&*store, &w.org.id, &bob, Role::Member).await;
    assert_eq!(store.role_of(&w.org.id, &bob.id).await.unwrap(), Some(Role::Member));
}

async fn concurrent_demotions_leave_one_admin(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Admin).await;
    let (org, admins) = (w.org, [w.alice.id, bob.id]);
    for round in 0..10 {
        let results = at_once("two demotions", 2, |i| {
            let (store, org_id, user_id) = (Arc::clone(&store), org.id.clone(), admins[i].clone());
            async move { store.set_role(&org_id, &user_id, Role::Member, &ev()).await }
        })
        .await;
        let demoted = results.iter().filter(|r| matches!(r, Ok(Some(m)) if m.role == Role::Member)).count();
        let refused = results.iter().filter(|r| conflict(r) == Some(Conflict::LastAdmin)).count();
        assert_eq!((demoted, refused), (1, 1), "round {round}: {results:?}");
        let members = store.list_members(&org.id, &page(10)).await.unwrap();
        assert_eq!(members.iter().filter(|m| m.role == Role::Admin).count(), 1, "round {round}: {members:?}");
        for user_id in &admins {
            store.set_role(&org.id, user_id, Role::Admin, &ev()).await.unwrap().unwrap();
        }
    }

    // Two removals of the last two admins at once: one leaves.
    let results = at_once("two removals", 2, |i| {
        let (store, org_id, user_id) = (Arc::clone(&store), org.id.clone(), admins[i].clone());
        async move { store.remove_member(&org_id, &user_id, &ev()).await }
    })
    .await;
    let removed = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let refused = results.iter().filter(|r| conflict(r) == Some(Conflict::LastAdmin)).count();
    assert_eq!((removed, refused), (1, 1), "{results:?}");
    let members = store.list_members(&org.id, &page(10)).await.unwrap();
    assert_eq!(members.iter().map(|m| m.role).collect::<Vec<_>>(), [Role::Admin]);
}
