//! `PeopleStore`: sign-up, passwords, sessions and invitations (accepted
//! once, by the invited person, while pending).

use std::sync::Arc;

use latchkey_core::id::{InvitationId, SessionId, UserId};
use latchkey_core::{KeyHash, Role};
use latchkey_store::{AcceptError, AuditEvent, Conflict, Invitation, Org, Session, Store, Unique, User};

use crate::fixtures::{
    HOUR, NOW, at_once, conflict, ev, event, invitation, logged, new_org, new_user, page, page_before, person, session,
    world,
};

store_tests! {
    sign_up_creates_user_org_and_session,
    passwords_are_kept_per_user,
    sessions_are_listed_while_active,
    sessions_are_revoked_once_by_their_user,
    invitations_are_listed_while_pending,
    an_invitation_is_accepted_once_by_the_invited_person,
    an_invitation_signs_a_new_person_up_once,
    concurrent_acceptances_use_an_invitation_once,
}

async fn sign_up_creates_user_org_and_session(store: Arc<dyn Store>) {
    let (dana, org) = (new_user("dana@example.com"), new_org("dana"));
    let login = session(&dana.id, &org.id);
    let signed_up = event(&org.id, "user.sign_up");
    store.sign_up(&dana, "argon2-hash", &org, &login, std::slice::from_ref(&signed_up)).await.unwrap();
    let found = store.user_by_email("dana@example.com").await.unwrap();
    assert_eq!(found, Some((dana.clone(), Some("argon2-hash".to_owned()))));
    assert_eq!(store.get_org(&org.id).await.unwrap(), Some(org.clone()));
    assert_eq!(store.role_of(&org.id, &dana.id).await.unwrap(), Some(Role::Admin));
    assert_eq!(store.session_by_hash(&login.token_hash).await.unwrap(), Some(login));
    assert!(logged(&*store, &signed_up).await);

    // A taken email, or a taken slug: refused, and nothing of it is stored.
    let (again, again_org) = (new_user("dana@example.com"), new_org("dana2"));
    assert_refused(&*store, &again, &again_org, Unique::UserEmail).await;
    let (erin, clash) = (new_user("erin@example.com"), Org { slug: org.slug.clone(), ..new_org("erin") });
    assert_refused(&*store, &erin, &clash, Unique::OrgSlug).await;
    assert_eq!(store.user_by_email("erin@example.com").await.unwrap(), None);
}

/// Signs `user` up with `org`, expecting a conflict of `what` that leaves no
/// trace.
async fn assert_refused(store: &dyn Store, user: &User, org: &Org, what: Unique) {
    let login = session(&user.id, &org.id);
    let late = event(&org.id, "user.sign_up.refused");
    let refused = store.sign_up(user, "hash", org, &login, std::slice::from_ref(&late)).await;
    assert_eq!(conflict(&refused), Some(Conflict::Unique { what }), "{refused:?}");
    assert_eq!(store.get_user(&user.id).await.unwrap(), None);
    assert_eq!(store.get_org(&org.id).await.unwrap(), None);
    assert_eq!(store.session_by_hash(&login.token_hash).await.unwrap(), None);
    assert!(!logged(store, &late).await);
}

async fn passwords_are_kept_per_user(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = person(&*store, "bob@example.com").await;
    // The bootstrap admin has no password yet.
    assert_eq!(store.user_by_email("alice@example.com").await.unwrap(), Some((w.alice.clone(), None)));
    assert!(store.set_password(&w.alice.id, "new-hash").await.unwrap());
    assert_eq!(store.user_by_email("alice@example.com").await.unwrap(), Some((w.alice, Some("new-hash".to_owned()))));
    assert_eq!(store.user_by_email("bob@example.com").await.unwrap(), Some((bob, Some("argon2-hash".to_owned()))));
    assert!(!store.set_password(&UserId::from("usr_nobody"), "hash").await.unwrap());
    assert_eq!(store.user_by_email("nobody@example.com").await.unwrap(), None);
}

async fn sessions_are_listed_while_active(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let logged_in = event(&w.org.id, "session.create");
    let first = session(&w.alice.id, &w.org.id);
    store.insert_session(&first, &logged_in).await.unwrap();
    assert!(logged(&*store, &logged_in).await);
    assert_eq!(store.session_by_hash(&first.token_hash).await.unwrap(), Some(first.clone()));
    assert_eq!(store.session_by_hash(&KeyHash::of("unknown")).await.unwrap(), None);
    let (second, third) = (session(&w.alice.id, &w.org.id), session(&w.alice.id, &w.org.id));
    let expired = Session { expires_at: NOW, ..session(&w.alice.id, &w.org.id) };
    for s in [&second, &third, &expired] {
        store.insert_session(s, &ev()).await.unwrap();
    }
    // Somebody else's session is not alice's.
    person(&*store, "bob@example.com").await;

    let active = [third.clone(), second.clone(), first.clone()];
    assert_eq!(store.list_sessions(&w.alice.id, NOW, &page(10)).await.unwrap(), active);
    assert_eq!(store.list_sessions(&w.alice.id, NOW, &page(1)).await.unwrap(), active[..2]);
    assert_eq!(store.list_sessions(&w.alice.id, NOW, &page_before(1, &second.id)).await.unwrap(), active[2..]);
    // An hour later every one has expired (at `expires_at`).
    assert_eq!(store.list_sessions(&w.alice.id, NOW + HOUR, &page(10)).await.unwrap(), []);
    // An expired session is still found by its hash (whatever its state).
    assert_eq!(store.session_by_hash(&expired.token_hash).await.unwrap(), Some(expired));

    // Use and the organization acted in are noted.
    let beta = new_org("beta");
    store.create_org(&beta, &w.alice.id, &ev()).await.unwrap();
    store.touch_session(&first.id, NOW + 60_000).await.unwrap();
    store.set_session_org(&first.id, &beta.id).await.unwrap();
    let touched = Session { last_used_at: Some(NOW + 60_000), current_org_id: Some(beta.id), ..first };
    assert_eq!(store.session_by_hash(&touched.token_hash).await.unwrap(), Some(touched));
}

async fn sessions_are_revoked_once_by_their_user(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = person(&*store, "bob@example.com").await;
    let (first, second) = (session(&w.alice.id, &w.org.id), session(&w.alice.id, &w.org.id));
    let expired = Session { expires_at: NOW, ..session(&w.alice.id, &w.org.id) };
    for s in [&first, &second, &expired] {
        store.insert_session(s, &ev()).await.unwrap();
    }

    let logout = event(&w.org.id, "session.revoke");
    assert!(store.revoke_session(&w.alice.id, &second.id, NOW + 1, &logout).await.unwrap());
    assert!(logged(&*store, &logout).await);
    let revoked = store.session_by_hash(&second.token_hash).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW + 1));
    assert_eq!(store.list_sessions(&w.alice.id, NOW + 2, &page(10)).await.unwrap(), std::slice::from_ref(&first));

    // Once; somebody else's; expired; unknown: `false`, and no event.
    let none = event(&w.org.id, "session.revoke.missing");
    assert!(!store.revoke_session(&w.alice.id, &second.id, NOW + 2, &none).await.unwrap());
    assert!(!store.revoke_session(&bob.id, &first.id, NOW + 2, &none).await.unwrap());
    assert!(!store.revoke_session(&w.alice.id, &expired.id, NOW + 2, &none).await.unwrap());
    assert!(!store.revoke_session(&w.alice.id, &SessionId::from("ses_missing"), NOW + 2, &none).await.unwrap());
    assert!(!logged(&*store, &none).await);
    assert_eq!(store.session_by_hash(&second.token_hash).await.unwrap(), Some(revoked));
    assert_eq!(store.session_by_hash(&first.token_hash).await.unwrap(), Some(first));
}

async fn invitations_are_listed_while_pending(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "zed@example.com").await;
    let invited = event(&w.org.id, "invitation.create");
    let first = invitation(&w.org.id, "bob@example.com", Role::Member);
    store.insert_invitation(&first, &invited).await.unwrap();
    assert!(logged(&*store, &invited).await);
    let second = invitation(&w.org.id, "carol@example.com", Role::Admin);
    let third = invitation(&w.org.id, "dan@example.com", Role::Member);
    let expired = Invitation { expires_at: NOW, ..invitation(&w.org.id, "old@example.com", Role::Member) };
    let elsewhere = invitation(&other.id, "bob@example.com", Role::Member);
    for i in [&second, &third, &expired, &elsewhere] {
        store.insert_invitation(i, &ev()).await.unwrap();
    }

    let pending = [third.clone(), second.clone(), first.clone()];
    assert_eq!(store.list_invitations(&w.org.id, NOW, &page(10)).await.unwrap(), pending);
    assert_eq!(store.list_invitations(&w.org.id, NOW, &page(1)).await.unwrap(), pending[..2]);
    assert_eq!(store.list_invitations(&w.org.id, NOW, &page_before(1, &second.id)).await.unwrap(), pending[2..]);
    assert_eq!(store.list_invitations(&other.id, NOW, &page(10)).await.unwrap(), std::slice::from_ref(&elsewhere));

    // Revoked: once, and only by its organization; an expired one is not
    // pending any more.
    let revoked = event(&w.org.id, "invitation.revoke");
    assert!(store.revoke_invitation(&w.org.id, &third.id, NOW + 1, &revoked).await.unwrap());
    assert!(logged(&*store, &revoked).await);
    let none = event(&w.org.id, "invitation.revoke.missing");
    assert!(!store.revoke_invitation(&w.org.id, &third.id, NOW + 2, &none).await.unwrap());
    assert!(!store.revoke_invitation(&w.org.id, &elsewhere.id, NOW + 2, &none).await.unwrap());
    assert!(!store.revoke_invitation(&w.org.id, &expired.id, NOW + 2, &none).await.unwrap());
    assert!(!store.revoke_invitation(&w.org.id, &InvitationId::from("inv_missing"), NOW + 2, &none).await.unwrap());
    assert!(!logged(&*store, &none).await);
    assert_eq!(store.list_invitations(&w.org.id, NOW + 2, &page(10)).await.unwrap(), pending[1..]);
    assert_eq!(store.list_invitations(&other.id, NOW + 2, &page(10)).await.unwrap(), [elsewhere]);
}

async fn an_invitation_is_accepted_once_by_the_invited_person(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = person(&*store, "bob@example.com").await;
    let invited = invitation(&w.org.id, "bob@example.com", Role::Admin);
    store.insert_invitation(&invited, &ev()).await.unwrap();
    // The event is built from the invitation found: its organization and id.
    let template = event("org_unknown", "invitation.accept");
    let build = |i: &Invitation| AuditEvent {
        org_id: Some(i.org_id.clone()),
        target_id: Some(i.id.to_string()),
        ..template.clone()
    };
    let expected_event = build(&invited);

    let wrong = store.accept_invitation(&invited.token_hash, &w.alice, NOW, &build).await.unwrap();
    assert_eq!(wrong, Err(AcceptError::WrongUser));
    let unknown = store.accept_invitation(&KeyHash::of("unknown"), &bob, NOW, &build).await.unwrap();
    assert_eq!(unknown, Err(AcceptError::NotFound));
    assert!(!logged(&*store, &expected_event).await);

    let accepted = store.accept_invitation(&invited.token_hash, &bob, NOW + 5, &build).await.unwrap();
    assert_eq!(accepted, Ok(Invitation { accepted_at: Some(NOW + 5), ..invited.clone() }));
    assert_eq!(store.role_of(&w.org.id, &bob.id).await.unwrap(), Some(Role::Admin));
    assert!(logged(&*store, &expected_event).await);
    assert_eq!(store.list_invitations(&w.org.id, NOW + 5, &page(10)).await.unwrap(), []);
    // Used up.
    let again = store.accept_invitation(&invited.token_hash, &bob, NOW + 6, &|_| ev()).await.unwrap();
    assert_eq!(again, Err(AcceptError::NotFound));

    // A second invitation of a member.
    let second = invitation(&w.org.id, "bob@example.com", Role::Member);
    store.insert_invitation(&second, &ev()).await.unwrap();
    let member = store.accept_invitation(&second.token_hash, &bob, NOW + 7, &|_| ev()).await.unwrap();
    assert_eq!(member, Err(AcceptError::AlreadyMember));
    assert_eq!(store.role_of(&w.org.id, &bob.id).await.unwrap(), Some(Role::Admin));

    // Revoked and expired invitations are not found.
    let carol = person(&*store, "carol@example.com").await;
    let revoked = invitation(&w.org.id, "carol@example.com", Role::Member);
    store.insert_invitation(&revoked, &ev()).await.unwrap();
    assert!(store.revoke_invitation(&w.org.id, &revoked.id, NOW, &ev()).await.unwrap());
    let answer = store.accept_invitation(&revoked.token_hash, &carol, NOW + 1, &|_| ev()).await.unwrap();
    assert_eq!(answer, Err(AcceptError::NotFound));
    let expiring = invitation(&w.org.id, "carol@example.com", Role::Member);
    store.insert_invitation(&expiring, &ev()).await.unwrap();
    let answer = store.accept_invitation(&expiring.token_hash, &carol, expiring.expires_at, &|_| ev()).await.unwrap();
    assert_eq!(answer, Err(AcceptError::NotFound));
    assert_eq!(store.role_of(&w.org.id, &carol.id).await.unwrap(), None);
}

async fn concurrent_acceptances_use_an_invitation_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = person(&*store, "bob@example.com").await;
    let invited = invitation(&w.org.id, "bob@example.com", Role::Member);
    store.insert_invitation(&invited, &ev()).await.unwrap();
    let results = at_once("four acceptances", 4, |_| {
        let (store, token, bob) = (Arc::clone(&store), invited.token_hash, bob.clone());
        async move { store.accept_invitation(&token, &bob, NOW, &|_| ev()).await }
    })
    .await;
    let accepted = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let not_found = results.iter().filter(|r| matches!(r, Ok(Err(AcceptError::NotFound)))).count();
    assert_eq!((accepted, not_found), (1, 3), "{results:?}");
    assert_eq!(store.role_of(&w.org.id, &bob.id).await.unwrap(), Some(Role::Member));
}

async fn an_invitation_signs_a_new_person_up_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let invited = invitation(&w.org.id, "nina@example.com", Role::Member);
    store.insert_invitation(&invited, &ev()).await.unwrap();
    assert_eq!(store.pending_invitation(&invited.token_hash, NOW).await.unwrap(), Some(invited.clone()));
    assert_eq!(store.pending_invitation(&KeyHash::of("unknown"), NOW).await.unwrap(), None);
    assert_eq!(store.pending_invitation(&invited.token_hash, invited.expires_at).await.unwrap(), None);

    // Another email than the invited one, or an unknown token: nothing is stored.
    let nora = new_user("nora@example.com");
    let nora_login = session(&nora.id, &w.org.id);
    let refused = event(&w.org.id, "user.signup.refused");
    let events = std::slice::from_ref(&refused);
    let wrong = store.sign_up_invited(&invited.token_hash, &nora, "hash", &nora_login, NOW, events).await.unwrap();
    assert_eq!(wrong, Err(AcceptError::WrongUser));
    let unknown =
        store.sign_up_invited(&KeyHash::of("unknown"), &nora, "hash", &nora_login, NOW, events).await.unwrap();
    assert_eq!(unknown, Err(AcceptError::NotFound));
    assert_eq!(store.get_user(&nora.id).await.unwrap(), None);
    assert_eq!(store.session_by_hash(&nora_login.token_hash).await.unwrap(), None);
    assert!(!logged(&*store, &refused).await);

    // An email that has an account already: a conflict, and the invitation
    // stays pending for that person to accept with their login.
    let taken = invitation(&w.org.id, "alice@example.com", Role::Member);
    store.insert_invitation(&taken, &ev()).await.unwrap();
    let again = new_user("alice@example.com");
    let again_login = session(&again.id, &w.org.id);
    let clash = store.sign_up_invited(&taken.token_hash, &again, "hash", &again_login, NOW, events).await;
    assert_eq!(conflict(&clash), Some(Conflict::Unique { what: Unique::UserEmail }), "{clash:?}");
    assert_eq!(store.get_user(&again.id).await.unwrap(), None);
    assert_eq!(store.session_by_hash(&again_login.token_hash).await.unwrap(), None);
    assert_eq!(store.pending_invitation(&taken.token_hash, NOW).await.unwrap(), Some(taken));
    assert!(!logged(&*store, &refused).await);

    // The invited person: their account, membership with the invited role,
    // session and events, and the invitation used up.
    let nina = new_user("nina@example.com");
    let login = session(&nina.id, &w.org.id);
    let joined = [event(&w.org.id, "user.signup"), event(&w.org.id, "invitation.accept")];
    let accepted = store.sign_up_invited(&invited.token_hash, &nina, "argon2-hash", &login, NOW + 5, &joined).await;
    assert_eq!(accepted.unwrap(), Ok(Invitation { accepted_at: Some(NOW + 5), ..invited.clone() }));
    let found = store.user_by_email("nina@example.com").await.unwrap();
    assert_eq!(found, Some((nina.clone(), Some("argon2-hash".to_owned()))));
    assert_eq!(store.role_of(&w.org.id, &nina.id).await.unwrap(), Some(Role::Member));
    assert_eq!(store.user_orgs(&nina.id, &page(10)).await.unwrap().len(), 1, "no organization of her own");
    assert_eq!(store.session_by_hash(&login.token_hash).await.unwrap(), Some(login));
    for e in &joined {
        assert!(logged(&*store, e).await, "{}", e.action);
    }
    assert_eq!(store.pending_invitation(&invited.token_hash, NOW + 5).await.unwrap(), None);

    // Used up: a second sign-up with it finds nothing.
    let late = new_user("nina@example.com");
    let late_login = session(&late.id, &w.org.id);
    let used = store.sign_up_invited(&invited.token_hash, &late, "hash", &late_login, NOW + 6, &[]).await.unwrap();
    assert_eq!(used, Err(AcceptError::NotFound));
    assert_eq!(store.get_user(&late.id).await.unwrap(), None);
}
