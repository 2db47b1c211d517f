//! `OAuthStore`: organizations' client credentials, connect requests whose
//! state is used once, connections updated in place per account, one
//! default per owner and provider, lists and organizations kept apart
//! (the refresh lease: `oauth_refresh`).

use std::sync::Arc;

use latchkey_core::id::{OAuthConnectRequestId, OAuthConnectionId, OrgId, UserId};
use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, Role};
use latchkey_store::{
    ConnectStatus, ConnectionFilter, ConnectionStatus, NewOAuthConnection, OAuthClient, OAuthConnectRequest,
    OAuthConnection, Store,
};

use crate::fixtures::{HOUR, NOW, at_once, ev, event, logged, world};
use crate::oauth_refresh::refreshed;

store_tests! {
    client_credentials_are_put_replaced_and_deleted,
    a_reconnected_account_is_updated_in_place,
    the_first_connection_is_the_default_and_the_default_moves,
    deleting_the_default_promotes_the_next_oldest,
    concurrent_first_connections_make_one_default,
    own_and_shared_connections_are_listed_without_tokens,
    another_organizations_connections_are_not_found,
    a_connect_state_is_used_once,
    connect_requests_expire,
    a_removed_members_connected_apps_go_with_them,
}

/// A grant of `account` at `provider` for `owner` (`None`: the
/// organization's), with sealed tokens that name `round`.
pub fn grant(org_id: &OrgId, owner: Option<&UserId>, provider: &str, account: &str, round: u32) -> NewOAuthConnection {
    NewOAuthConnection {
        id: OAuthConnectionId::new(),
        org_id: org_id.clone(),
        owner_user_id: owner.cloned(),
        provider: provider.to_owned(),
        account_id: account.to_owned(),
        account_label: format!("{account}-label-{round}"),
        requested_scopes: "repo read:user".to_owned(),
        granted_scopes: "repo".to_owned(),
        access_token_sealed: format!("sealed-access-{account}-{round}").into_bytes(),
        refresh_token_sealed: Some(format!("sealed-refresh-{account}-{round}").into_bytes()),
        token_type: "Bearer".to_owned(),
        expires_at: Some(NOW + HOUR),
        at: NOW + Millis::from(round),
    }
}

/// Stores `new`, expecting success.
pub async fn upsert(store: &dyn Store, new: &NewOAuthConnection) -> OAuthConnection {
    store.upsert_connection(new, &ev()).await.unwrap()
}

/// A pending connect request of `user_id` whose state is `state`.
fn connect_request(org_id: &OrgId, user_id: &UserId, state: &str, expires_at: Millis) -> OAuthConnectRequest {
    OAuthConnectRequest {
        id: OAuthConnectRequestId::new(),
        org_id: org_id.clone(),
        user_id: user_id.clone(),
        provider: "github".to_owned(),
        scopes: "repo read:user".to_owned(),
        shared: false,
        state_hash: KeyHash::of(state),
        pkce_verifier: format!("verifier-of-{state}"),
        status: ConnectStatus::Pending,
        error: None,
        connection_id: None,
        created_at: NOW,
        expires_at,
    }
}

/// The ids of `connections`, in order.
fn ids(connections: &[OAuthConnection]) -> Vec<&OAuthConnectionId> {
    connections.iter().map(|c| &c.id).collect()
}

async fn client_credentials_are_put_replaced_and_deleted(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let github = OAuthClient {
        org_id: w.org.id.clone(),
        provider: "github".to_owned(),
        client_id: "cid-1".to_owned(),
        client_secret_sealed: Some(b"sealed-secret-1".to_vec()),
        updated_at: NOW,
    };
    let put = event(&w.org.id, "oauth_client.put");
    store.put_oauth_client(&github, &put).await.unwrap();
    assert!(logged(&*store, &put).await);
    assert_eq!(store.get_oauth_client(&w.org.id, "github").await.unwrap(), Some(github.clone()));
    // Put again: replaced (a public client now: no secret).
    let public =
        OAuthClient { client_id: "cid-2".to_owned(), client_secret_sealed: None, updated_at: NOW + 1, ..github };
    store.put_oauth_client(&public, &ev()).await.unwrap();
    let linear = OAuthClient { provider: "linear".to_owned(), ..public.clone() };
    store.put_oauth_client(&linear, &ev()).await.unwrap();
    assert_eq!(store.list_oauth_clients(&w.org.id).await.unwrap(), vec![public.clone(), linear.clone()]);

    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    assert_eq!(store.get_oauth_client(&other.id, "github").await.unwrap(), None);
    assert_eq!(store.list_oauth_clients(&other.id).await.unwrap(), vec![]);
    let late = event(&other.id, "oauth_client.delete.none");
    assert!(!store.delete_oauth_client(&other.id, "github", &late).await.unwrap());
    assert!(!logged(&*store, &late).await);

    let deleted = event(&w.org.id, "oauth_client.delete");
    assert!(store.delete_oauth_client(&w.org.id, "github", &deleted).await.unwrap());
    assert!(logged(&*store, &deleted).await);
    assert_eq!(store.list_oauth_clients(&w.org.id).await.unwrap(), vec![linear]);
}

async fn a_reconnected_account_is_updated_in_place(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let me = Some(&w.alice.id);
    let first = grant(&w.org.id, me, "github", "1001", 0);
    let connected = event(&w.org.id, "oauth_connection.create");
    let stored = store.upsert_connection(&first, &connected).await.unwrap();
    assert!(logged(&*store, &connected).await);
    assert_eq!(
        (&stored.id, stored.version, stored.is_default, stored.status, stored.created_at),
        (&first.id, 1, true, ConnectionStatus::Active, NOW)
    );
    assert_eq!(store.get_connection(&w.org.id, &first.id).await.unwrap(), Some(stored.clone()));

    // Its refresh broke; then the person connects the same account again.
    assert!(store.try_lease(&w.org.id, &first.id, "node-a", NOW, NOW + 1000, 1).await.unwrap());
    assert!(store.set_cooldown(&w.org.id, &first.id, NOW + 5000).await.unwrap());
    assert!(store.mark_needs_reauthorization(&w.org.id, &first.id, 1, NOW, &ev()).await.unwrap());
    let again =
        NewOAuthConnection { granted_scopes: "repo read:user".to_owned(), ..grant(&w.org.id, me, "github", "1001", 7) };
    let reconnected = event(&w.org.id, "oauth_connection.update");
    let updated = store.upsert_connection(&again, &reconnected).await.unwrap();
    assert!(logged(&*store, &reconnected).await);
    assert_eq!(
        updated,
        OAuthConnection {
            id: first.id.clone(),
            account_label: again.account_label.clone(),
            granted_scopes: again.granted_scopes.clone(),
            access_token_sealed: again.access_token_sealed.clone(),
            refresh_token_sealed: again.refresh_token_sealed.clone(),
            status: ConnectionStatus::Active,
            version: 2,
            refresh_lease_until: None,
            refresh_lease_holder: None,
            cooldown_until: None,
            tokens_at: again.at,
            created_at: NOW,
            updated_at: again.at,
            ..stored.clone()
        }
    );
    assert_eq!(store.get_connection(&w.org.id, &first.id).await.unwrap(), Some(updated.clone()));
    // Tokens as given: a reconnect without a refresh token leaves none.
    let bare = NewOAuthConnection { refresh_token_sealed: None, ..grant(&w.org.id, me, "github", "1001", 8) };
    let bare = upsert(&*store, &bare).await;
    assert_eq!((&bare.id, bare.version, bare.refresh_token_sealed.as_ref()), (&first.id, 3, None));

    // Another account, another owner, or the organization: other connections.
    let second = upsert(&*store, &grant(&w.org.id, me, "github", "1002", 0)).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let bobs = upsert(&*store, &grant(&w.org.id, Some(&bob.id), "github", "1001", 0)).await;
    let shared = upsert(&*store, &grant(&w.org.id, None, "github", "1001", 0)).await;
    let linear = upsert(&*store, &grant(&w.org.id, me, "linear", "1001", 0)).await;
    let all = ConnectionFilter { all_org: true, ..ConnectionFilter::default() };
    let listed = store.list_connections(&w.org.id, &all).await.unwrap();
    assert_eq!(ids(&listed), vec![&first.id, &second.id, &bobs.id, &shared.id, &linear.id]);
    assert!(listed.iter().all(|c| c.version == 1 || c.id == first.id));

    // Nothing of a failed change is left: an owner who does not exist.
    let ghost = UserId::new();
    let late = event(&w.org.id, "oauth_connection.create.refused");
    let refused = store.upsert_connection(&grant(&w.org.id, Some(&ghost), "github", "1003", 0), &late).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(!logged(&*store, &late).await);
    assert_eq!(store.list_connections(&w.org.id, &all).await.unwrap().len(), listed.len());
}

async fn the_first_connection_is_the_default_and_the_default_moves(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let me = Some(&w.alice.id);
    let a = upsert(&*store, &grant(&w.org.id, me, "github", "a", 0)).await;
    let b = upsert(&*store, &grant(&w.org.id, me, "github", "b", 0)).await;
    let c = upsert(&*store, &grant(&w.org.id, me, "github", "c", 0)).await;
    let l = upsert(&*store, &grant(&w.org.id, me, "linear", "a", 0)).await;
    let s1 = upsert(&*store, &grant(&w.org.id, None, "github", "s1", 0)).await;
    let s2 = upsert(&*store, &grant(&w.org.id, None, "github", "s2", 0)).await;
    // The first per owner and provider, the organization counting as one owner.
    assert_eq!(
        [a.is_default, b.is_default, c.is_default, l.is_default, s1.is_default, s2.is_default],
        [true, false, false, true, true, false]
    );
    let default_of = |owner: Option<UserId>, provider: &'static str| {
        let (store, org) = (store.clone(), w.org.id.clone());
        async move { store.default_connection(&org, owner.as_ref(), provider).await.unwrap().map(|c| c.id) }
    };
    assert_eq!(default_of(Some(w.alice.id.clone()), "github").await, Some(a.id.clone()));
    assert_eq!(default_of(None, "github").await, Some(s1.id.clone()));
    assert_eq!(default_of(None, "linear").await, None);
    assert_eq!(default_of(Some(UserId::new()), "github").await, None);
    // With its tokens, unlike a list.
    let found = store.default_connection(&w.org.id, me, "github").await.unwrap().unwrap();
    assert_eq!(found.access_token_sealed, a.access_token_sealed);

    // Moved: exactly one default, audited.
    let moved = event(&w.org.id, "oauth_connection.default");
    let now_default = store.set_default_connection(&w.org.id, &c.id, NOW + 50, &moved).await.unwrap().unwrap();
    assert!(logged(&*store, &moved).await);
    assert_eq!((now_default.is_default, now_default.updated_at), (true, NOW + 50));
    // The tokens did not change: their time stays (a refresh is due by it).
    assert_eq!(now_default.tokens_at, c.tokens_at);
    assert_eq!(default_of(Some(w.alice.id.clone()), "github").await, Some(c.id.clone()));
    let all = ConnectionFilter { all_org: true, ..ConnectionFilter::default() };
    let defaults: Vec<_> = store
        .list_connections(&w.org.id, &all)
        .await
        .unwrap()
        .into_iter()
        .filter(|x| x.is_default)
        .map(|x| x.id)
        .collect();
    assert_eq!(defaults, vec![c.id.clone(), s1.id.clone(), l.id.clone()]);
    // Again on the default: it stays the one.
    store.set_default_connection(&w.org.id, &c.id, NOW + 60, &ev()).await.unwrap().unwrap();
    assert_eq!(default_of(Some(w.alice.id.clone()), "github").await, Some(c.id.clone()));
    // The organization's moves alone.
    store.set_default_connection(&w.org.id, &s2.id, NOW + 70, &ev()).await.unwrap().unwrap();
    assert_eq!(default_of(None, "github").await, Some(s2.id.clone()));
    assert_eq!(default_of(Some(w.alice.id.clone()), "github").await, Some(c.id.clone()));

    // Not another organization's, nor a missing one; nothing appended.
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    let late = event(&other.id, "oauth_connection.default.none");
    assert_eq!(store.set_default_connection(&other.id, &a.id, NOW, &late).await.unwrap(), None);
    assert_eq!(store.set_default_connection(&w.org.id, &OAuthConnectionId::new(), NOW, &late).await.unwrap(), None);
    assert!(!logged(&*store, &late).await);
    assert_eq!(default_of(Some(w.alice.id.clone()), "github").await, Some(c.id.clone()));
}

async fn deleting_the_default_promotes_the_next_oldest(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let me = Some(&w.alice.id);
    let a = upsert(&*store, &grant(&w.org.id, me, "github", "a", 0)).await;
    let b = upsert(&*store, &grant(&w.org.id, me, "github", "b", 0)).await;
    let c = upsert(&*store, &grant(&w.org.id, me, "github", "c", 0)).await;
    let shared = upsert(&*store, &grant(&w.org.id, None, "github", "s", 0)).await;
    let default_id = || {
        let (store, org, me) = (store.clone(), w.org.id.clone(), w.alice.id.clone());
        async move { store.default_connection(&org, Some(&me), "github").await.unwrap().map(|c| c.id) }
    };

    // A non-default goes alone.
    assert_eq!(store.delete_connection(&w.org.id, &b.id, NOW + 10, &ev()).await.unwrap().map(|x| x.id), Some(b.id));
    assert_eq!(default_id().await, Some(a.id.clone()));
    // The default: the oldest left takes over; what is returned has its tokens.
    let gone = event(&w.org.id, "oauth_connection.delete");
    let deleted = store.delete_connection(&w.org.id, &a.id, NOW + 20, &gone).await.unwrap().unwrap();
    assert!(logged(&*store, &gone).await);
    assert_eq!(
        (deleted.access_token_sealed, deleted.refresh_token_sealed),
        (a.access_token_sealed, a.refresh_token_sealed)
    );
    let promoted = store.get_connection(&w.org.id, &c.id).await.unwrap().unwrap();
    assert_eq!((promoted.is_default, promoted.updated_at), (true, NOW + 20));
    assert_eq!(store.get_connection(&w.org.id, &a.id).await.unwrap(), None);
    // The organization's default is another owner's business.
    assert!(store.get_connection(&w.org.id, &shared.id).await.unwrap().unwrap().is_default);
    // The last one: no default left.
    store.delete_connection(&w.org.id, &c.id, NOW + 30, &ev()).await.unwrap().unwrap();
    assert_eq!(default_id().await, None);
    // Gone already, or another organization's: nothing, nothing appended.
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    let late = event(&other.id, "oauth_connection.delete.none");
    assert_eq!(store.delete_connection(&w.org.id, &c.id, NOW, &late).await.unwrap(), None);
    assert_eq!(store.delete_connection(&other.id, &shared.id, NOW, &late).await.unwrap(), None);
    assert!(!logged(&*store, &late).await);
    assert!(store.get_connection(&w.org.id, &shared.id).await.unwrap().is_some());
    // A next connection is the default again.
    assert!(upsert(&*store, &grant(&w.org.id, me, "github", "d", 0)).await.is_default);
}

async fn concurrent_first_connections_make_one_default(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    // Different accounts at once: one default.
    let stored = at_once("first connections", 8, |n| {
        let (store, new) = (store.clone(), grant(&w.org.id, Some(&w.alice.id), "github", &format!("acct-{n}"), 0));
        async move { store.upsert_connection(&new, &ev()).await.unwrap() }
    })
    .await;
    assert_eq!(stored.iter().filter(|c| c.is_default).count(), 1, "{stored:?}");
    // The same account at once: one connection, updated by each in turn.
    let same = at_once("reconnects", 8, |n| {
        let (store, new) = (store.clone(), grant(&w.org.id, None, "github", "same", u32::try_from(n).unwrap()));
        async move { store.upsert_connection(&new, &ev()).await.unwrap() }
    })
    .await;
    let mut versions: Vec<i64> = same.iter().map(|c| c.version).collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    assert!(same.iter().all(|c| c.id == same[0].id && c.is_default));
    let shared = ConnectionFilter::default();
    assert_eq!(store.list_connections(&w.org.id, &shared).await.unwrap().len(), 1);
}

async fn own_and_shared_connections_are_listed_without_tokens(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let alices = upsert(&*store, &grant(&w.org.id, Some(&w.alice.id), "github", "a", 0)).await;
    let bobs = upsert(&*store, &grant(&w.org.id, Some(&bob.id), "github", "b", 0)).await;
    let shared = upsert(&*store, &grant(&w.org.id, None, "github", "s", 0)).await;
    let linear = upsert(&*store, &grant(&w.org.id, Some(&w.alice.id), "linear", "a", 0)).await;
    let list = |filter: ConnectionFilter| {
        let (store, org) = (store.clone(), w.org.id.clone());
        async move { store.list_connections(&org, &filter).await.unwrap() }
    };

    let own = list(ConnectionFilter { owner: Some(w.alice.id.clone()), ..ConnectionFilter::default() }).await;
    assert_eq!(ids(&own), vec![&alices.id, &shared.id, &linear.id]);
    let bobs_view = list(ConnectionFilter { owner: Some(bob.id.clone()), ..ConnectionFilter::default() }).await;
    assert_eq!(ids(&bobs_view), vec![&bobs.id, &shared.id]);
    assert_eq!(ids(&list(ConnectionFilter::default()).await), vec![&shared.id], "shared only");
    let every = list(ConnectionFilter { all_org: true, ..ConnectionFilter::default() }).await;
    assert_eq!(ids(&every), vec![&alices.id, &bobs.id, &shared.id, &linear.id]);
    let github_only = ConnectionFilter {
        owner: Some(w.alice.id.clone()),
        provider: Some("github".to_owned()),
        ..ConnectionFilter::default()
    };
    assert_eq!(ids(&list(github_only).await), vec![&alices.id, &shared.id]);

    // Lists carry no tokens; the rest is as stored.
    for listed in &every {
        assert!(listed.access_token_sealed.is_empty() && listed.refresh_token_sealed.is_none(), "{listed:?}");
        let full = store.get_connection(&w.org.id, &listed.id).await.unwrap().unwrap();
        assert!(!full.access_token_sealed.is_empty() && full.refresh_token_sealed.is_some());
        assert_eq!(
            listed,
            &OAuthConnection { access_token_sealed: Vec::new(), refresh_token_sealed: None, ..full.clone() }
        );
        assert!(!format!("{full:?}").contains("sealed-"), "{full:?}");
    }
}

async fn another_organizations_connections_are_not_found(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, carol) = w.other_org(&*store, "carol@example.com").await;
    let mine = upsert(&*store, &grant(&w.org.id, Some(&w.alice.id), "github", "a", 0)).await;
    let shared = upsert(&*store, &grant(&w.org.id, None, "github", "s", 0)).await;
    // The same account connected in the other organization is its own.
    let theirs = upsert(&*store, &grant(&other.id, None, "github", "s", 0)).await;
    assert_ne!(theirs.id, shared.id);
    assert!(theirs.is_default);

    for id in [&mine.id, &shared.id] {
        assert_eq!(store.get_connection(&other.id, id).await.unwrap(), None);
        assert!(!store.try_lease(&other.id, id, "x", NOW, NOW + 1000, 1).await.unwrap());
        assert!(!store.store_refreshed(&other.id, id, "x", &refreshed(1), 1).await.unwrap());
        assert!(!store.set_cooldown(&other.id, id, NOW + 1000).await.unwrap());
        assert!(!store.mark_needs_reauthorization(&other.id, id, 1, NOW, &ev()).await.unwrap());
        assert!(!store.mark_revoked(&other.id, id, NOW, &ev()).await.unwrap());
    }
    let every = ConnectionFilter { all_org: true, owner: Some(carol.id.clone()), provider: None };
    assert_eq!(ids(&store.list_connections(&other.id, &every).await.unwrap()), vec![&theirs.id]);
    assert_eq!(store.default_connection(&other.id, None, "github").await.unwrap().map(|c| c.id), Some(theirs.id));
    assert_eq!(store.default_connection(&other.id, Some(&w.alice.id), "github").await.unwrap(), None);
    // Untouched by all of that.
    let after = store.get_connection(&w.org.id, &mine.id).await.unwrap().unwrap();
    assert_eq!(after, mine);
}

async fn a_connect_state_is_used_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let req = connect_request(org, &w.alice.id, "state-1", NOW + HOUR);
    store.insert_connect_request(&req).await.unwrap();
    assert_eq!(store.get_connect_request(org, &req.id).await.unwrap(), Some(req.clone()));
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    assert_eq!(store.get_connect_request(&other.id, &req.id).await.unwrap(), None);
    // Not finished before its callback.
    let conn = upsert(&*store, &grant(org, Some(&w.alice.id), "github", "a", 0)).await;
    assert!(!store.finish_connect_request(org, &req.id, Ok(&conn.id)).await.unwrap());
    // Another state is not it; the callbacks race: one takes it.
    assert_eq!(store.take_pending_by_state(&KeyHash::of("state-2"), NOW).await.unwrap(), None);
    let taken = at_once("callbacks", 8, |_| {
        let store = store.clone();
        async move { store.take_pending_by_state(&KeyHash::of("state-1"), NOW + 10).await.unwrap() }
    })
    .await;
    let exchanging = OAuthConnectRequest { status: ConnectStatus::Exchanging, ..req.clone() };
    assert_eq!(taken.iter().flatten().collect::<Vec<_>>(), vec![&exchanging], "taken exactly once");
    assert_eq!(store.get_connect_request(org, &req.id).await.unwrap(), Some(exchanging));

    // Finished once, within its organization.
    assert!(!store.finish_connect_request(&other.id, &req.id, Ok(&conn.id)).await.unwrap());
    assert!(store.finish_connect_request(org, &req.id, Ok(&conn.id)).await.unwrap());
    assert!(!store.finish_connect_request(org, &req.id, Err("too late")).await.unwrap());
    let done = store.get_connect_request(org, &req.id).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.connection_id.as_ref(), done.error),
        (ConnectStatus::Completed, Some(&conn.id), None)
    );
    assert_eq!(store.take_pending_by_state(&KeyHash::of("state-1"), NOW + 20).await.unwrap(), None);
    // Its connection deleted: the request stays, without it.
    store.delete_connection(org, &conn.id, NOW, &ev()).await.unwrap().unwrap();
    let done = store.get_connect_request(org, &req.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.connection_id), (ConnectStatus::Completed, None));

    // A failure says why.
    let refused = connect_request(org, &w.alice.id, "state-3", NOW + HOUR);
    store.insert_connect_request(&refused).await.unwrap();
    store.take_pending_by_state(&refused.state_hash, NOW).await.unwrap().unwrap();
    assert!(store.finish_connect_request(org, &refused.id, Err("access_denied")).await.unwrap());
    let failed = store.get_connect_request(org, &refused.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.error.as_deref(), failed.connection_id),
        (ConnectStatus::Failed, Some("access_denied"), None)
    );
    // A state is stored once.
    let twin = connect_request(org, &w.alice.id, "state-3", NOW + HOUR);
    assert!(store.insert_connect_request(&twin).await.is_err());
    assert_eq!(store.get_connect_request(org, &twin.id).await.unwrap(), None);
}

async fn connect_requests_expire(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let req = connect_request(org, &w.alice.id, "state-old", NOW + 1000);
    store.insert_connect_request(&req).await.unwrap();
    // Expired: its state is no longer taken, but a waiting client still finds it.
    assert_eq!(store.take_pending_by_state(&req.state_hash, NOW + 1000).await.unwrap(), None);
    let found = store.get_connect_request(org, &req.id).await.unwrap().unwrap();
    assert_eq!((found.status, found.expires_at), (ConnectStatus::Pending, NOW + 1000));
    // Kept a day after its expiry; dropped by the next request stored after that.
    let soon = OAuthConnectRequest {
        created_at: NOW + 1000 + 23 * HOUR,
        ..connect_request(org, &w.alice.id, "s2", NOW + 25 * HOUR)
    };
    store.insert_connect_request(&soon).await.unwrap();
    assert!(store.get_connect_request(org, &req.id).await.unwrap().is_some());
    let later = OAuthConnectRequest {
        created_at: NOW + 1000 + 24 * HOUR,
        ..connect_request(org, &w.alice.id, "s3", NOW + 26 * HOUR)
    };
    store.insert_connect_request(&later).await.unwrap();
    assert_eq!(store.get_connect_request(org, &req.id).await.unwrap(), None);
    assert!(store.get_connect_request(org, &soon.id).await.unwrap().is_some());
}

async fn a_removed_members_connected_apps_go_with_them(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let bob = w.member(&*store, "bob@example.com", Role::Member).await;
    let (other, _) = w.other_org(&*store, "carol@example.com").await;
    crate::fixtures::join(&*store, &other.id, &bob, Role::Member).await;
    let gone = upsert(&*store, &grant(org, Some(&bob.id), "github", "b", 0)).await;
    let request = connect_request(org, &bob.id, "bob-state", NOW + HOUR);
    store.insert_connect_request(&request).await.unwrap();
    // What stays: Alice's, the organization's, and Bob's in his other organization.
    let kept = [
        upsert(&*store, &grant(org, Some(&w.alice.id), "github", "a", 0)).await,
        upsert(&*store, &grant(org, None, "github", "o", 0)).await,
        upsert(&*store, &grant(&other.id, Some(&bob.id), "github", "b", 0)).await,
    ];
    let removed = event(org, "member.remove");
    assert!(store.remove_member(org, &bob.id, &removed).await.unwrap());
    assert!(logged(&*store, &removed).await);
    assert_eq!(store.get_connection(org, &gone.id).await.unwrap(), None);
    assert_eq!(store.get_connect_request(org, &request.id).await.unwrap(), None);
    assert_eq!(store.take_pending_by_state(&request.state_hash, NOW).await.unwrap(), None);
    for c in &kept {
        assert!(store.get_connection(&c.org_id, &c.id).await.unwrap().is_some(), "{c:?}");
    }
}
