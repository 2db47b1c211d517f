//! `OAuthStore`'s refresh machinery: one winner of a lease among
//! concurrent callers, a refresh stored only by the lease holder on its
//! version, cooldowns, and connections that can no longer be refreshed.

use std::sync::Arc;

use latchkey_store::{ConnectionStatus, OAuthConnection, RefreshedTokens, Store};

use crate::fixtures::{HOUR, NOW, at_once, ev, event, logged, world};
use crate::oauth::{grant, upsert};

store_tests! {
    one_caller_wins_the_refresh_lease,
    only_the_lease_holder_stores_a_refresh_on_its_version,
    unusable_connections_are_not_leased,
}

/// Tokens a refresh obtained, naming `round`.
pub fn refreshed(round: u32) -> RefreshedTokens {
    RefreshedTokens {
        access_token_sealed: format!("sealed-access-refreshed-{round}").into_bytes(),
        refresh_token_sealed: Some(format!("sealed-refresh-rotated-{round}").into_bytes()),
        token_type: "Bearer".to_owned(),
        expires_at: Some(NOW + 2 * HOUR),
        granted_scopes: None,
        at: NOW + 1000,
    }
}

async fn one_caller_wins_the_refresh_lease(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let conn = upsert(&*store, &grant(&w.org.id, Some(&w.alice.id), "github", "a", 0)).await;
    let won = at_once("leases", 32, |n| {
        let (store, org, id) = (store.clone(), w.org.id.clone(), conn.id.clone());
        async move { store.try_lease(&org, &id, &format!("node-{n}"), NOW, NOW + 30_000, 1).await.unwrap() }
    })
    .await;
    let winners: Vec<usize> = won.iter().enumerate().filter(|(_, w)| **w).map(|(n, _)| n).collect();
    assert_eq!(winners.len(), 1, "{won:?}");
    let leased = store.get_connection(&w.org.id, &conn.id).await.unwrap().unwrap();
    assert_eq!(leased.refresh_lease_holder, Some(format!("node-{}", winners[0])));
    assert_eq!((leased.refresh_lease_until, leased.version), (Some(NOW + 30_000), 1));
    assert!(leased.leased_at(NOW + 29_999) && !leased.leased_at(NOW + 30_000));

    // Live: refused, whoever asks. Expired: taken over, again by one.
    assert!(!store.try_lease(&w.org.id, &conn.id, "late", NOW + 29_999, NOW + 60_000, 1).await.unwrap());
    let won = at_once("takeovers", 32, |n| {
        let (store, org, id) = (store.clone(), w.org.id.clone(), conn.id.clone());
        async move { store.try_lease(&org, &id, &format!("next-{n}"), NOW + 30_000, NOW + 60_000, 1).await.unwrap() }
    })
    .await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");

    // Released by its holder only; then free on the same version.
    let holder = store.get_connection(&w.org.id, &conn.id).await.unwrap().unwrap().refresh_lease_holder.unwrap();
    assert!(!store.release_lease(&w.org.id, &conn.id, "someone-else").await.unwrap());
    assert!(store.release_lease(&w.org.id, &conn.id, &holder).await.unwrap());
    assert!(!store.release_lease(&w.org.id, &conn.id, &holder).await.unwrap(), "released already");
    let free = store.get_connection(&w.org.id, &conn.id).await.unwrap().unwrap();
    assert_eq!((free.refresh_lease_until, free.refresh_lease_holder), (None, None));
    // Not on a version that moved on.
    assert!(!store.try_lease(&w.org.id, &conn.id, "stale", NOW + 30_001, NOW + 60_000, 0).await.unwrap());
    assert!(store.try_lease(&w.org.id, &conn.id, "fresh", NOW + 30_001, NOW + 60_000, 1).await.unwrap());
}

async fn only_the_lease_holder_stores_a_refresh_on_its_version(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let conn = upsert(&*store, &grant(&w.org.id, Some(&w.alice.id), "github", "a", 0)).await;
    let org = &w.org.id;
    // Without a lease: nobody stores.
    assert!(!store.store_refreshed(org, &conn.id, "node-a", &refreshed(1), 1).await.unwrap());
    assert!(store.try_lease(org, &conn.id, "node-a", NOW, NOW + 30_000, 1).await.unwrap());
    assert!(!store.store_refreshed(org, &conn.id, "node-b", &refreshed(1), 1).await.unwrap(), "not the holder");
    assert!(!store.store_refreshed(org, &conn.id, "node-a", &refreshed(1), 2).await.unwrap(), "not its version");
    assert_eq!(
        store.get_connection(org, &conn.id).await.unwrap().unwrap(),
        OAuthConnection {
            refresh_lease_until: Some(NOW + 30_000),
            refresh_lease_holder: Some("node-a".to_owned()),
            ..conn.clone()
        }
    );

    // The holder, on its version: tokens replaced, version on, lease gone; scopes kept when not said.
    assert!(store.store_refreshed(org, &conn.id, "node-a", &refreshed(1), 1).await.unwrap());
    let after = store.get_connection(org, &conn.id).await.unwrap().unwrap();
    let tokens = refreshed(1);
    assert_eq!(
        after,
        OAuthConnection {
            access_token_sealed: tokens.access_token_sealed,
            refresh_token_sealed: tokens.refresh_token_sealed,
            expires_at: tokens.expires_at,
            version: 2,
            tokens_at: tokens.at,
            updated_at: tokens.at,
            ..conn.clone()
        }
    );
    // Once: the lease is gone with it.
    assert!(!store.store_refreshed(org, &conn.id, "node-a", &refreshed(2), 1).await.unwrap());
    assert!(!store.store_refreshed(org, &conn.id, "node-a", &refreshed(2), 2).await.unwrap());

    // A lease that expired still lets its holder store, as long as nobody took it over.
    assert!(store.try_lease(org, &conn.id, "node-a", NOW, NOW + 10, 2).await.unwrap());
    let narrowed = RefreshedTokens { granted_scopes: Some("read:user".to_owned()), ..refreshed(3) };
    assert!(store.store_refreshed(org, &conn.id, "node-a", &narrowed, 2).await.unwrap());
    let after = store.get_connection(org, &conn.id).await.unwrap().unwrap();
    assert_eq!((after.version, after.granted_scopes.as_str()), (3, "read:user"));
    // Taken over: the first holder's answer is refused, the new holder's is stored.
    assert!(store.try_lease(org, &conn.id, "node-a", NOW, NOW + 10, 3).await.unwrap());
    assert!(store.try_lease(org, &conn.id, "node-b", NOW + 10, NOW + 1000, 3).await.unwrap());
    assert!(!store.store_refreshed(org, &conn.id, "node-a", &refreshed(4), 3).await.unwrap());
    assert!(store.store_refreshed(org, &conn.id, "node-b", &refreshed(5), 3).await.unwrap());
    let after = store.get_connection(org, &conn.id).await.unwrap().unwrap();
    assert_eq!((after.version, after.access_token_sealed), (4, refreshed(5).access_token_sealed));
    // A reconnect while a refresh is under way: the refresh's answer is refused.
    assert!(store.try_lease(org, &conn.id, "node-c", NOW, NOW + 1000, 4).await.unwrap());
    upsert(&*store, &grant(org, Some(&w.alice.id), "github", "a", 9)).await;
    assert!(!store.store_refreshed(org, &conn.id, "node-c", &refreshed(6), 4).await.unwrap());
    assert_eq!(store.get_connection(org, &conn.id).await.unwrap().unwrap().version, 5);
}

async fn unusable_connections_are_not_leased(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = &w.org.id;
    let conn = upsert(&*store, &grant(org, Some(&w.alice.id), "github", "a", 0)).await;
    // Cooling down: no lease until it ends (a refresh that cleared it aside).
    assert!(store.set_cooldown(org, &conn.id, NOW + 5000).await.unwrap());
    assert!(store.get_connection(org, &conn.id).await.unwrap().unwrap().cooling_down_at(NOW + 4999));
    assert!(!store.try_lease(org, &conn.id, "node-a", NOW + 4999, NOW + 9000, 1).await.unwrap());
    assert!(store.try_lease(org, &conn.id, "node-a", NOW + 5000, NOW + 9000, 1).await.unwrap());

    // `invalid_grant`: marked on the version that failed only, lease cleared, audited.
    let stale = event(org, "oauth_connection.reauthorize.stale");
    assert!(!store.mark_needs_reauthorization(org, &conn.id, 2, NOW, &stale).await.unwrap());
    assert!(!logged(&*store, &stale).await);
    let marked = event(org, "oauth_connection.reauthorize");
    assert!(store.mark_needs_reauthorization(org, &conn.id, 1, NOW + 10, &marked).await.unwrap());
    assert!(logged(&*store, &marked).await);
    let after = store.get_connection(org, &conn.id).await.unwrap().unwrap();
    assert_eq!(
        (after.status, after.refresh_lease_holder, after.updated_at),
        (ConnectionStatus::NeedsReauthorization, None, NOW + 10)
    );
    assert!(!store.store_refreshed(org, &conn.id, "node-a", &refreshed(1), 1).await.unwrap(), "lease gone");
    assert!(!store.try_lease(org, &conn.id, "node-b", NOW + 9000, NOW + 20_000, 1).await.unwrap());
    assert!(!store.mark_needs_reauthorization(org, &conn.id, 1, NOW, &ev()).await.unwrap(), "once");

    // Revoked: audited once, never leased.
    let other = upsert(&*store, &grant(org, Some(&w.alice.id), "github", "b", 0)).await;
    assert!(store.try_lease(org, &other.id, "node-a", NOW, NOW + 1000, 1).await.unwrap());
    let revoked = event(org, "oauth_connection.revoke");
    assert!(store.mark_revoked(org, &other.id, NOW + 20, &revoked).await.unwrap());
    assert!(logged(&*store, &revoked).await);
    let again = event(org, "oauth_connection.revoke.again");
    assert!(!store.mark_revoked(org, &other.id, NOW + 30, &again).await.unwrap());
    assert!(!logged(&*store, &again).await);
    let after = store.get_connection(org, &other.id).await.unwrap().unwrap();
    assert_eq!(
        (after.status, after.refresh_lease_holder, after.updated_at),
        (ConnectionStatus::Revoked, None, NOW + 20)
    );
    assert!(!store.try_lease(org, &other.id, "node-b", NOW + 2000, NOW + 3000, 1).await.unwrap());
    // Connecting the account again makes it active.
    assert_eq!(
        upsert(&*store, &grant(org, Some(&w.alice.id), "github", "b", 1)).await.status,
        ConnectionStatus::Active
    );
}
