//! `WebhookStore`: the outbox filled in the transaction of each audited
//! change (every mapped action, `api_key.leaked` included), fan-out to
//! subscribed endpoints only, leased claims that never hand one delivery to
//! two claimers, outcomes under the lease, disabling, and scheduled events
//! written once.

use std::sync::Arc;

use latchkey_core::id::WebhookId;
use latchkey_store::sql::EXPIRY_DUE;
use latchkey_store::{
    AttemptOutcome, DeliveryAttempt, DeliveryState, NewApiKey, NewWebhook, Store, WebhookEvent, WebhookPatch,
};

use crate::Db;
use crate::fixtures::{NOW, ev, event, page, world};
use crate::plans::{Arg, plan, postgres_scan_of_keys, sqlite_step_on_keys};

store_tests! {
    mapped_audit_actions_become_events_for_subscribed_endpoints_only,
    a_claim_leases_each_delivery_to_one_claimer_and_outcomes_need_the_lease,
    scheduled_and_test_events_are_written_once,
    an_attempt_recorded_while_its_endpoint_is_deleted_does_not_fail_either,
}

store_tests! {
    with_db: the_scheduler_seeks_expiring_keys_by_organization_and_expiry,
}

fn endpoint(org_id: &str, events: &[&str]) -> NewWebhook {
    NewWebhook {
        id: WebhookId::new(),
        org_id: org_id.into(),
        url: "https://hooks.example.com/x".to_owned(),
        description: None,
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret: vec![1, 2, 3],
        created_by_user_id: None,
        created_by_key_id: None,
        at: NOW,
    }
}

async fn mapped_audit_actions_become_events_for_subscribed_endpoints_only(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = w.org.id.as_str();
    let all = [
        ("api_key.create", "api_key.created"),
        ("api_key.rotate", "api_key.rotated"),
        ("api_key.revoke", "api_key.revoked"),
        ("api_key.delete", "api_key.deleted"),
        ("api_key.leaked", "api_key.leaked"),
        ("invitation.accept", "member.joined"),
        ("member.remove", "member.removed"),
        ("member.update", "member.role_changed"),
        ("secret.set", "secret.changed"),
        ("secret.delete", "secret.changed"),
    ];
    // Before any endpoint: nothing is queued.
    store.append_event(&event(org, "api_key.revoke")).await.unwrap();
    let types: Vec<&str> = all.iter().map(|(_, t)| *t).collect();
    let hook = store.create_webhook(&endpoint(org, &types), &ev()).await.unwrap();
    let narrow = store.create_webhook(&endpoint(org, &["api_key.leaked"]), &ev()).await.unwrap();
    for (action, _) in all {
        store.append_event(&event(org, action)).await.unwrap();
    }
    store.append_event(&event(org, "webhook.create")).await.unwrap(); // not an event type
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    store.append_event(&event(other.id.as_str(), "api_key.revoke")).await.unwrap();

    let list = store.list_deliveries(&w.org.id, &hook.id, &page(100)).await.unwrap();
    let mut got: Vec<&str> = list.iter().map(|d| d.event_type.as_str()).collect();
    got.sort_unstable();
    let mut want: Vec<&str> = all.iter().map(|(_, t)| *t).collect();
    want.sort_unstable();
    assert_eq!(got, want);
    assert!(list.iter().all(|d| d.state == DeliveryState::Pending && d.attempts.is_empty()));
    let leaked = store.list_deliveries(&w.org.id, &narrow.id, &page(100)).await.unwrap();
    assert_eq!(leaked.iter().map(|d| d.event_type.as_str()).collect::<Vec<_>>(), ["api_key.leaked"]);
    assert!(store.list_deliveries(&other.id, &hook.id, &page(100)).await.unwrap().is_empty(), "scoped by org");

    // Disabled: its subscriptions are gone; enabled again, they are back.
    let off = WebhookPatch { enabled: Some(false), ..WebhookPatch::default() };
    store.update_webhook(&w.org.id, &narrow.id, &off, NOW, &ev()).await.unwrap().unwrap();
    store.append_event(&event(org, "api_key.leaked")).await.unwrap();
    assert_eq!(store.list_deliveries(&w.org.id, &narrow.id, &page(100)).await.unwrap().len(), 1);
    let on = WebhookPatch { enabled: Some(true), ..WebhookPatch::default() };
    store.update_webhook(&w.org.id, &narrow.id, &on, NOW, &ev()).await.unwrap().unwrap();
    store.append_event(&event(org, "api_key.leaked")).await.unwrap();
    assert_eq!(store.list_deliveries(&w.org.id, &narrow.id, &page(100)).await.unwrap().len(), 2);
}

async fn a_claim_leases_each_delivery_to_one_claimer_and_outcomes_need_the_lease(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = w.org.id.as_str();
    let hook = store.create_webhook(&endpoint(org, &["api_key.revoked"]), &ev()).await.unwrap();
    for _ in 0..20 {
        store.append_event(&event(org, "api_key.revoke")).await.unwrap();
    }
    // Concurrent claimers split the due deliveries, never sharing one.
    let claims = futures_join(&store, 4).await;
    let mut ids: Vec<String> = claims.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
    assert_eq!(ids.len(), 20, "{claims:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "a delivery was claimed twice");
    assert!(store.claim_deliveries(NOW + 1, 60_000, 100, "late").await.unwrap().is_empty(), "all leased");

    let (token, mine) = claims.iter().find(|(_, c)| !c.is_empty()).unwrap();
    let id = mine[0].clone();
    let outcome = |lease: &str, delivered: bool, next: Option<i64>| AttemptOutcome {
        delivery_id: id.clone().into(),
        lease_token: lease.to_owned(),
        attempt: DeliveryAttempt {
            n: 1,
            at: NOW + 5,
            status_code: Some(503),
            duration_ms: 3,
            error: Some("503".into()),
        },
        delivered,
        next_attempt_at: next,
        disable_if_failing_since: NOW - 1000,
        disable_event: event(org, "webhook.disabled"),
    };
    assert!(!store.record_attempt(&outcome("not-mine", true, None)).await.unwrap(), "no lease, nothing recorded");
    assert!(store.record_attempt(&outcome(token, false, Some(NOW + 100))).await.unwrap());
    assert!(!store.record_attempt(&outcome(token, true, None)).await.unwrap(), "a lease is used once");
    // Due again at NOW + 100, with its attempt listed.
    let again = store.claim_deliveries(NOW + 100, 60_000, 100, "again").await.unwrap();
    assert_eq!(again.iter().map(|c| c.id.to_string()).collect::<Vec<_>>(), std::slice::from_ref(&id));
    assert_eq!(again[0].attempts, 1);
    let list = store.list_deliveries(&w.org.id, &hook.id, &page(100)).await.unwrap();
    let d = list.iter().find(|d| d.id.as_str() == id).unwrap();
    assert_eq!((d.attempts.len(), d.attempts[0].status_code), (1, Some(503)));
    let hook = store.get_webhook(&w.org.id, &hook.id).await.unwrap().unwrap();
    assert_eq!((hook.failing_since, hook.disabled_at), (Some(NOW + 5), None), "failing, not long enough");
    // A failure once failing since before disable_if_failing_since disables it.
    let late =
        AttemptOutcome { disable_if_failing_since: NOW + 5, next_attempt_at: None, ..outcome("again", false, None) };
    assert!(store.record_attempt(&late).await.unwrap());
    let hook = store.get_webhook(&w.org.id, &hook.id).await.unwrap().unwrap();
    assert!(hook.disabled_at.is_some());
    let trail = store
        .list_events(
            &w.org.id,
            &latchkey_store::AuditFilter { action: Some("webhook.disabled".into()), ..Default::default() },
            &page(10),
        )
        .await
        .unwrap();
    assert_eq!(trail.len(), 1, "disabling is audited with the change");
}

/// `n` concurrent claims of up to 10 each: (token, claimed delivery ids).
async fn futures_join(store: &Arc<dyn Store>, n: usize) -> Vec<(String, Vec<String>)> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let store = Arc::clone(store);
        tasks.spawn(async move {
            let token = format!("claimer-{i}");
            let claimed = store.claim_deliveries(NOW + 1, 60_000, 10, &token).await.unwrap();
            (token, claimed.into_iter().map(|c| c.id.to_string()).collect::<Vec<_>>())
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.unwrap());
    }
    out
}

async fn scheduled_and_test_events_are_written_once(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = w.org.id.as_str();
    let hook = store.create_webhook(&endpoint(org, &["api_key.expiring", "api_key.expired"]), &ev()).await.unwrap();
    let now = latchkey_core::time_fmt::now_ms();
    let day = 86_400_000;
    for (name, expires) in
        [("soon", now + day / 2), ("week", now + 3 * day), ("gone", now - 1000), ("far", now + 30 * day)]
    {
        let key = NewApiKey { expires_at: Some(expires), ..w.key(name) };
        store.insert_key(&key, &ev()).await.unwrap();
    }
    assert_eq!(store.enqueue_scheduled_events(now).await.unwrap(), 3, "1 day, 7 days, expired");
    assert_eq!(store.enqueue_scheduled_events(now).await.unwrap(), 0, "written once");
    assert_eq!(store.enqueue_scheduled_events(now + 1000).await.unwrap(), 0);
    let test = WebhookEvent {
        id: "evt_test_once".into(),
        org_id: w.org.id.clone(),
        event_type: "webhook.test".into(),
        created_at: now,
        data: "{}".into(),
    };
    assert!(store.enqueue_webhook_event(&test, Some(&hook.id)).await.unwrap());
    assert!(!store.enqueue_webhook_event(&test, Some(&hook.id)).await.unwrap());
    assert_eq!(store.list_deliveries(&w.org.id, &hook.id, &page(100)).await.unwrap().len(), 4);
}

/// The delivery worker records a failed attempt (which marks its endpoint
/// failing) while an admin deletes that endpoint: both succeed, in either
/// order, however they interleave (on PostgreSQL they once deadlocked: the
/// attempt locked the delivery then the endpoint, the delete's cascade the
/// endpoint then its deliveries).
async fn an_attempt_recorded_while_its_endpoint_is_deleted_does_not_fail_either(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let org = w.org.id.as_str();
    for round in 0..40 {
        let hook = store.create_webhook(&endpoint(org, &["api_key.revoked"]), &ev()).await.unwrap();
        store.append_event(&event(org, "api_key.revoke")).await.unwrap();
        let token = format!("race-{round}");
        let claimed = store.claim_deliveries(NOW + 1, 60_000, 10, &token).await.unwrap();
        assert_eq!(claimed.len(), 1, "round {round}");
        let outcome = AttemptOutcome {
            delivery_id: claimed[0].id.clone(),
            lease_token: token,
            attempt: DeliveryAttempt {
                n: 1,
                at: NOW + 5,
                status_code: None,
                duration_ms: 3,
                error: Some("refused".into()),
            },
            delivered: false,
            next_attempt_at: Some(NOW + 100),
            disable_if_failing_since: NOW - 1000,
            disable_event: event(org, "webhook.disabled"),
        };
        let deletion = ev();
        let (recorded, deleted) =
            tokio::join!(store.record_attempt(&outcome), store.delete_webhook(&w.org.id, &hook.id, &deletion));
        // Recorded (true) when it went first; after the delete its
        // delivery is gone (false). Either is right; an error is not.
        if let Err(e) = recorded {
            panic!("round {round}: recording the attempt failed: {e:?}");
        }
        assert!(deleted.unwrap_or_else(|e| panic!("round {round}: the delete failed: {e:?}")), "round {round}");
        assert!(store.get_webhook(&w.org.id, &hook.id).await.unwrap().is_none(), "round {round}");
    }
}

/// The scheduler's expiry statement ([`EXPIRY_DUE`], three times a minute)
/// seeks on `api_keys_by_expiry` to the expiry window (SQLite for each
/// subscribed organization, PostgreSQL across them, then keeps the
/// subscribed), never reading every key, on both backends.
/// An organization's keys mostly never expire: with the table's statistics
/// read, PostgreSQL weighs its plans as it would on a real table, where
/// reading all of an organization's keys is what the index avoids.
async fn the_scheduler_seeks_expiring_keys_by_organization_and_expiry(store: Arc<dyn Store>, db: Db) {
    let w = world(&*store).await;
    for i in 0..200 {
        let key = NewApiKey { expires_at: (i < 3).then_some(NOW + i), ..w.key(&format!("k{i}")) };
        store.insert_key(&key, &ev()).await.unwrap();
    }
    if let Db::Postgres(pg) = &db {
        sqlx::query("ANALYZE api_keys").execute(&mut pg.conn().await).await.unwrap();
    }
    let day = 86_400_000;
    let args = [Arg::Text("api_key.expiring"), Arg::Int(NOW), Arg::Int(NOW + day), Arg::Text("expiring_1d")];
    let plan = plan(&db, EXPIRY_DUE, &args).await;
    match db {
        Db::Sqlite(_) => {
            let step = sqlite_step_on_keys(&plan);
            let seek = "SEARCH k USING INDEX api_keys_by_expiry (org_id=? AND expires_at>? AND expires_at<?)";
            assert!(step.starts_with(seek), "{plan:#?}");
        }
        Db::Postgres(_) => {
            let (scan, details) = postgres_scan_of_keys(&plan);
            assert!(scan.contains("using api_keys_by_expiry"), "{plan:#?}");
            assert!(details.iter().any(|l| l.contains("Index Cond:") && l.contains("expires_at > $2")), "{plan:#?}");
        }
    }
}
