//! `SignInStore`: identities linked by (issuer, subject), just-in-time
//! accounts, verified emails, and sign-ins in progress taken once.

use std::sync::Arc;

use latchkey_core::id::{IdentityId, UserId};
use latchkey_core::{KeyHash, Role};
use latchkey_store::{AuthRequest, AuthRequestKind, Conflict, Decision, Identity, Store, Unique};

use crate::fixtures::{HOUR, NOW, at_once, conflict, ev, event, logged, new_user, person, session, world};

store_tests! {
    identities_are_linked_once_by_issuer_and_subject,
    a_person_from_a_provider_is_created_with_org_identity_and_session,
    only_verified_emails_are_found_for_linking,
    the_last_way_to_sign_in_cannot_be_unlinked,
    concurrent_unlinks_keep_one_identity,
    an_auth_request_is_taken_once_and_not_after_expiry,
    a_device_is_decided_once_and_redeemed_once,
}

fn identity(user_id: &UserId, subject: &str) -> Identity {
    Identity {
        id: IdentityId::new(),
        user_id: user_id.clone(),
        provider: "corp".to_owned(),
        issuer: "http://127.0.0.1:9/".to_owned(),
        subject: subject.to_owned(),
        email: Some(format!("{subject}@example.com")),
        created_at: NOW,
        last_used_at: None,
    }
}

fn request(kind: AuthRequestKind, secret: &str, expires_at: i64) -> AuthRequest {
    AuthRequest {
        hash: KeyHash::of(secret),
        kind,
        user_code_hash: None,
        payload: format!(r#"{{"secret":"{secret}"}}"#),
        user_id: None,
        org_id: None,
        decision: None,
        polled_at: None,
        prev_polled_at: None,
        created_at: NOW,
        expires_at,
    }
}

async fn identities_are_linked_once_by_issuer_and_subject(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = person(&*store, "bob@example.com").await;
    let linked = event(&w.org.id, "identity.link");
    let alice_corp = identity(&w.alice.id, "alice-sub");
    store.link_identity(&alice_corp, &linked).await.unwrap();
    assert!(logged(&*store, &linked).await);
    assert_eq!(store.identity(&alice_corp.issuer, "alice-sub").await.unwrap(), Some(alice_corp.clone()));
    // The subject is the key, with the issuer: another issuer's same subject is another identity.
    assert_eq!(store.identity("http://127.0.0.1:10/", "alice-sub").await.unwrap(), None);

    // The same identity cannot be linked to bob too; nothing of it is stored.
    let stolen = Identity { user_id: bob.id.clone(), ..identity(&bob.id, "alice-sub") };
    let late = event(&w.org.id, "identity.link.refused");
    let refused = store.link_identity(&stolen, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::Unique { what: Unique::Identity }), "{refused:?}");
    assert!(!logged(&*store, &late).await);
    assert_eq!(store.list_identities(&bob.id).await.unwrap(), vec![]);

    // Signing in notes the time and the email the provider gave now.
    let login = session(&w.alice.id, &w.org.id);
    let signed_in = event(&w.org.id, "session.create");
    store.sign_in_with_identity(&alice_corp.id, Some("alice@corp.example"), &login, &signed_in).await.unwrap();
    assert_eq!(store.session_by_hash(&login.token_hash).await.unwrap(), Some(login.clone()));
    assert!(logged(&*store, &signed_in).await);
    let listed = store.list_identities(&w.alice.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(login.created_at));
    assert_eq!(listed[0].email.as_deref(), Some("alice@corp.example"));
}

async fn a_person_from_a_provider_is_created_with_org_identity_and_session(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let carol = new_user("carol@example.com");
    let carol_corp = identity(&carol.id, "carol-sub");
    let login = session(&carol.id, &w.org.id);
    let events = [event(&w.org.id, "user.jit"), event(&w.org.id, "session.create")];
    store.sign_up_with_identity(&carol, true, &w.org.id, Role::Member, &carol_corp, &login, &events).await.unwrap();
    assert_eq!(store.get_user(&carol.id).await.unwrap(), Some(carol.clone()));
    assert_eq!(store.role_of(&w.org.id, &carol.id).await.unwrap(), Some(Role::Member));
    assert_eq!(store.identity(&carol_corp.issuer, "carol-sub").await.unwrap(), Some(carol_corp.clone()));
    assert_eq!(store.session_by_hash(&login.token_hash).await.unwrap(), Some(login));
    for e in &events {
        assert!(logged(&*store, e).await);
    }
    // Without a password: the user is there, with none.
    assert_eq!(store.user_by_email("carol@example.com").await.unwrap(), Some((carol.clone(), None)));

    // A taken email (alice's) is refused, and nothing of it is stored.
    let again = new_user("alice@example.com");
    let again_identity = identity(&again.id, "someone-else");
    let again_login = session(&again.id, &w.org.id);
    let late = event(&w.org.id, "user.jit.refused");
    let refused = store
        .sign_up_with_identity(
            &again,
            true,
            &w.org.id,
            Role::Member,
            &again_identity,
            &again_login,
            std::slice::from_ref(&late),
        )
        .await;
    assert_eq!(conflict(&refused), Some(Conflict::Unique { what: Unique::UserEmail }), "{refused:?}");
    assert_eq!(store.identity(&again_identity.issuer, "someone-else").await.unwrap(), None);
    assert_eq!(store.session_by_hash(&again_login.token_hash).await.unwrap(), None);
    assert!(!logged(&*store, &late).await);

    // A second account for an identity already linked: refused, no user left behind.
    let twin = new_user("twin@example.com");
    let refused = store
        .sign_up_with_identity(
            &twin,
            true,
            &w.org.id,
            Role::Member,
            &identity(&twin.id, "carol-sub"),
            &session(&twin.id, &w.org.id),
            &[],
        )
        .await;
    assert_eq!(conflict(&refused), Some(Conflict::Unique { what: Unique::Identity }), "{refused:?}");
    assert_eq!(store.get_user(&twin.id).await.unwrap(), None);
}

async fn only_verified_emails_are_found_for_linking(store: Arc<dyn Store>) {
    // The operator created alice: her email counts as verified.
    let w = world(&*store).await;
    assert_eq!(store.verified_user_by_email("alice@example.com").await.unwrap(), Some(w.alice.clone()));
    // Bob signed himself up: not verified, until he accepts an invitation sent to it.
    let bob = person(&*store, "bob@example.com").await;
    assert_eq!(store.verified_user_by_email("bob@example.com").await.unwrap(), None);
    crate::fixtures::join(&*store, &w.org.id, &bob, Role::Member).await;
    assert_eq!(store.verified_user_by_email("bob@example.com").await.unwrap(), Some(bob));
    // A provider's word counts only when it said so.
    let (dan, erin) = (new_user("dan@example.com"), new_user("erin@example.com"));
    store
        .sign_up_with_identity(
            &dan,
            true,
            &w.org.id,
            Role::Member,
            &identity(&dan.id, "dan"),
            &session(&dan.id, &w.org.id),
            &[],
        )
        .await
        .unwrap();
    store
        .sign_up_with_identity(
            &erin,
            false,
            &w.org.id,
            Role::Member,
            &identity(&erin.id, "erin"),
            &session(&erin.id, &w.org.id),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(store.verified_user_by_email("dan@example.com").await.unwrap(), Some(dan));
    assert_eq!(store.verified_user_by_email("erin@example.com").await.unwrap(), None);
    // Organizations by id or by slug.
    assert_eq!(store.org_by_id_or_slug(&w.org.id).await.unwrap(), Some(w.org.clone()));
    assert_eq!(store.org_by_id_or_slug(&w.org.slug).await.unwrap(), Some(w.org.clone()));
    assert_eq!(store.org_by_id_or_slug("no-such-org").await.unwrap(), None);
}

async fn the_last_way_to_sign_in_cannot_be_unlinked(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let carol = new_user("carol@example.com");
    let (first, second) = (identity(&carol.id, "carol-1"), identity(&carol.id, "carol-2"));
    store
        .sign_up_with_identity(&carol, true, &w.org.id, Role::Member, &first, &session(&carol.id, &w.org.id), &[])
        .await
        .unwrap();
    store.link_identity(&second, &ev()).await.unwrap();
    // Not someone else's identity, whatever its id.
    assert!(!store.unlink_identity(&w.alice.id, &first.id, &ev()).await.unwrap());
    let unlinked = event(&w.org.id, "identity.unlink");
    assert!(store.unlink_identity(&carol.id, &first.id, &unlinked).await.unwrap());
    assert!(logged(&*store, &unlinked).await);
    assert!(!store.unlink_identity(&carol.id, &first.id, &ev()).await.unwrap(), "gone already");
    // Carol has no password: her last identity stays.
    let late = event(&w.org.id, "identity.unlink.refused");
    let refused = store.unlink_identity(&carol.id, &second.id, &late).await;
    assert_eq!(conflict(&refused), Some(Conflict::LastSignInMethod), "{refused:?}");
    assert!(!logged(&*store, &late).await);
    assert_eq!(store.list_identities(&carol.id).await.unwrap(), vec![second.clone()]);
    // With a password she may.
    store.set_password(&carol.id, "argon2-hash").await.unwrap();
    assert!(store.unlink_identity(&carol.id, &second.id, &ev()).await.unwrap());
    assert_eq!(store.list_identities(&carol.id).await.unwrap(), vec![]);
}

async fn concurrent_unlinks_keep_one_identity(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let carol = new_user("carol@example.com");
    let ids: Vec<Identity> = (0..4).map(|i| identity(&carol.id, &format!("carol-{i}"))).collect();
    store
        .sign_up_with_identity(&carol, true, &w.org.id, Role::Member, &ids[0], &session(&carol.id, &w.org.id), &[])
        .await
        .unwrap();
    for i in &ids[1..] {
        store.link_identity(i, &ev()).await.unwrap();
    }
    let results = at_once("unlinks", ids.len(), |n| {
        let (store, user, id) = (store.clone(), carol.id.clone(), ids[n].id.clone());
        async move { store.unlink_identity(&user, &id, &ev()).await }
    })
    .await;
    let unlinked = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(unlinked, ids.len() - 1, "{results:?}");
    assert_eq!(store.list_identities(&carol.id).await.unwrap().len(), 1);
}

async fn an_auth_request_is_taken_once_and_not_after_expiry(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let state =
        AuthRequest { user_id: Some(w.alice.id.clone()), ..request(AuthRequestKind::Oidc, "state-1", NOW + HOUR) };
    store.insert_auth_request(&state).await.unwrap();
    // Another kind with the same hash is not it.
    assert_eq!(store.take_auth_request(AuthRequestKind::CliCode, &state.hash, NOW).await.unwrap(), None);
    let taken = at_once("takes", 4, |_| {
        let (store, hash) = (store.clone(), state.hash);
        async move { store.take_auth_request(AuthRequestKind::Oidc, &hash, NOW).await.unwrap() }
    })
    .await;
    assert_eq!(taken.iter().flatten().collect::<Vec<_>>(), vec![&state], "taken exactly once");
    // Expired: not taken.
    let old = request(AuthRequestKind::CliCode, "code-1", NOW + 1000);
    store.insert_auth_request(&old).await.unwrap();
    assert_eq!(store.take_auth_request(AuthRequestKind::CliCode, &old.hash, NOW + 1000).await.unwrap(), None);
    // And dropped when the next request is stored.
    let later = AuthRequest { created_at: NOW + 2000, ..request(AuthRequestKind::CliCode, "code-3", NOW + HOUR) };
    store.insert_auth_request(&later).await.unwrap();
    assert_eq!(store.take_auth_request(AuthRequestKind::CliCode, &old.hash, NOW).await.unwrap(), None);
}

async fn a_device_is_decided_once_and_redeemed_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = person(&*store, "bob@example.com").await;
    let user_code = KeyHash::of("BCDF-GHJK");
    let device =
        AuthRequest { user_code_hash: Some(user_code), ..request(AuthRequestKind::Device, "device-1", NOW + HOUR) };
    store.insert_auth_request(&device).await.unwrap();
    assert_eq!(store.pending_device(&user_code, NOW).await.unwrap(), Some(device.clone()));
    assert_eq!(store.pending_device(&user_code, NOW + HOUR).await.unwrap(), None, "expired");

    // Polls note their time and the one before.
    let first = store.poll_device(&device.hash, NOW + 5000).await.unwrap().unwrap();
    assert_eq!((first.polled_at, first.prev_polled_at, first.decision), (Some(NOW + 5000), None, None));
    let second = store.poll_device(&device.hash, NOW + 6000).await.unwrap().unwrap();
    assert_eq!((second.polled_at, second.prev_polled_at), (Some(NOW + 6000), Some(NOW + 5000)));
    assert_eq!(store.poll_device(&KeyHash::of("unknown"), NOW).await.unwrap(), None);

    // Not redeemable before approval.
    let alice_login = session(&w.alice.id, &w.org.id);
    assert_eq!(store.redeem_device(&device.hash, &alice_login, &ev()).await.unwrap(), None);
    assert_eq!(store.session_by_hash(&alice_login.token_hash).await.unwrap(), None);

    // Decided once: alice approves; bob's later denial changes nothing.
    let approved = event(&w.org.id, "device.approve");
    assert!(
        store
            .decide_device(&user_code, Decision::Approved, &w.alice.id, Some(&w.org.id), NOW, &approved)
            .await
            .unwrap()
    );
    assert!(logged(&*store, &approved).await);
    assert!(!store.decide_device(&user_code, Decision::Denied, &bob.id, None, NOW, &ev()).await.unwrap());
    assert_eq!(store.pending_device(&user_code, NOW).await.unwrap(), None);
    let polled = store.poll_device(&device.hash, NOW + 7000).await.unwrap().unwrap();
    assert_eq!(
        (polled.decision, polled.user_id.as_ref(), polled.org_id.as_ref()),
        (Some(Decision::Approved), Some(&w.alice.id), Some(&w.org.id))
    );

    // Redeemed once, only for the approver.
    let bob_login = session(&bob.id, &w.org.id);
    assert_eq!(store.redeem_device(&device.hash, &bob_login, &ev()).await.unwrap(), None);
    let redeemed = at_once("redeems", 3, |_| {
        let (store, hash, login) = (store.clone(), device.hash, alice_login.clone());
        async move { store.redeem_device(&hash, &login, &ev()).await }
    })
    .await;
    assert_eq!(redeemed.iter().filter(|r| matches!(r, Ok(Some(_)))).count(), 1, "{redeemed:?}");
    assert_eq!(store.session_by_hash(&alice_login.token_hash).await.unwrap(), Some(alice_login));
    assert_eq!(store.poll_device(&device.hash, NOW + 8000).await.unwrap(), None, "gone once redeemed");

    // A denied one is dropped once its device was told.
    let denied = AuthRequest {
        user_code_hash: Some(KeyHash::of("WXYZ-BCDF")),
        ..request(AuthRequestKind::Device, "device-2", NOW + HOUR)
    };
    store.insert_auth_request(&denied).await.unwrap();
    assert!(store.decide_device(&KeyHash::of("WXYZ-BCDF"), Decision::Denied, &bob.id, None, NOW, &ev()).await.unwrap());
    assert_eq!(store.poll_device(&denied.hash, NOW).await.unwrap().unwrap().decision, Some(Decision::Denied));
    assert_eq!(store.redeem_device(&denied.hash, &session(&bob.id, &w.org.id), &ev()).await.unwrap(), None);
    store.drop_auth_request(&denied.hash).await.unwrap();
    assert_eq!(store.poll_device(&denied.hash, NOW).await.unwrap(), None);
}
