//! The delivery worker: every node runs one. It claims due deliveries
//! with a lease ([`latchkey_store::WebhookStore::claim_deliveries`]; on
//! PostgreSQL `FOR UPDATE SKIP LOCKED`, so one node attempts each), POSTs
//! each event signed as Standard Webhooks says, and records the outcome
//! under the lease: delivered on a 2xx answer; otherwise due again after
//! the next delay of the retry schedule (with up to 10 % jitter), failed
//! after the last, and the endpoint disabled (with an audit event) when
//! every attempt has failed for `disable_after`.
//!
//! At least once: a node that dies mid-attempt leaves its lease to expire
//! and another attempt follows, with the same `webhook-id` (the event's).
//! A crash between a change's commit and its delivery only delays it: the
//! delivery is a row written with the change.
//!
//! No request goes to an address a delivery may not reach (unless
//! `allow_private_targets`): an address in the URL is checked before the
//! request, a name by the client's resolver, which hands the connector only
//! the resolved addresses that pass ([`latchkey_core::webhook::is_public`]),
//! so what is checked is what is connected to. Redirects are not followed
//! (a 3xx is a failure); every attempt has a 10 s timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_core::id::EventId;
use latchkey_core::time_fmt::{Millis, now_ms, to_rfc3339};
use latchkey_core::webhook::{SigningSecret, is_public, signature_header};
use latchkey_store::{AttemptOutcome, AuditEvent, ClaimedDelivery, DeliveryAttempt};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::state::AppState;

/// How long a claim is held: longer than an attempt can take.
const LEASE_MS: i64 = 60_000;
/// Deliveries claimed at once by a node.
const CLAIM_BATCH: u32 = 64;
/// Attempts a node makes at once.
const CONCURRENCY: usize = 16;
/// The time an endpoint gets to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A resolver that keeps only the addresses a delivery may reach, and
/// fails (naming the name, never connecting) when none is left.
#[derive(Debug)]
struct PublicOnly;

/// A name that resolves to no address a delivery may reach.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves to no public address (loopback, private, link-local and metadata addresses are refused)")]
struct RefusedName(String);

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| is_public(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(RefusedName(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The client deliveries are sent with.
fn client(allow_private: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .user_agent(concat!("latchkey-webhooks/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build().unwrap_or_default()
}

/// Starts this node's worker.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = client(state.settings.webhooks.allow_private_targets);
        loop {
            let claimed = match run_once(&state, &client).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim webhook deliveries");
                    0
                }
            };
            // A full batch: more may be due at once.
            if claimed < CLAIM_BATCH as usize {
                tokio::time::sleep(state.settings.webhooks.poll_interval).await;
            }
        }
    })
}

/// Claims the due deliveries and attempts them; how many were claimed.
pub async fn run_once(state: &AppState, client: &reqwest::Client) -> Result<usize, latchkey_store::StoreError> {
    let token = lease_token();
    let batch = state.store.claim_deliveries(now_ms(), LEASE_MS, CLAIM_BATCH, &token).await?;
    let n = batch.len();
    let mut running = tokio::task::JoinSet::new();
    for d in batch {
        if running.len() >= CONCURRENCY {
            running.join_next().await;
        }
        let (state, client, token) = (state.clone(), client.clone(), token.clone());
        running.spawn(async move { attempt(&state, &client, d, token).await });
    }
    while running.join_next().await.is_some() {}
    Ok(n)
}

fn lease_token() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness the token is still unique enough per node and
    // moment: leases are also bounded in time.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>() + &now_ms().to_string()
}

/// The body of an event: `{id, type, createdAt, orgId, data}`, the same
/// bytes at every attempt.
pub(crate) fn body(event: &latchkey_store::WebhookEvent) -> Vec<u8> {
    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "id": event.id,
        "type": event.event_type,
        "createdAt": to_rfc3339(event.created_at),
        "orgId": event.org_id,
        "data": data,
    })
    .to_string()
    .into_bytes()
}

/// `delay` stretched by a random 0–10 %.
fn jittered(delay: Duration) -> Duration {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    delay + delay.mul_f64(f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) / 10.0)
}

async fn attempt(state: &AppState, client: &reqwest::Client, d: ClaimedDelivery, token: String) {
    let settings = &state.settings.webhooks;
    let at = now_ms();
    let started = Instant::now();
    let result = send(state, client, &d, at).await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status_code, error) = match result {
        Ok(status) if (200..300).contains(&status) => (Some(i64::from(status)), None),
        Ok(status) => (Some(i64::from(status)), Some(format!("the endpoint answered {status}"))),
        Err(e) => (None, Some(e)),
    };
    let delivered = error.is_none();
    let done = at + duration_ms;
    let next_attempt_at = usize::try_from(d.attempts)
        .ok()
        .and_then(|n| settings.retry_schedule.get(n))
        .map(|delay| done + i64::try_from(jittered(*delay).as_millis()).unwrap_or(i64::MAX / 2));
    if let Some(e) = &error {
        tracing::info!(webhook = %d.webhook.id, delivery = %d.id, event = %d.event.id, attempt = d.attempts + 1,
                       error = %e, "webhook delivery attempt failed");
    }
    let disable_after = i64::try_from(settings.disable_after.as_millis()).unwrap_or(i64::MAX / 2);
    let outcome = AttemptOutcome {
        delivery_id: d.id.clone(),
        lease_token: token,
        attempt: DeliveryAttempt { n: d.attempts + 1, at, status_code, duration_ms, error },
        delivered,
        next_attempt_at,
        disable_if_failing_since: done - disable_after,
        disable_event: disabled_event(&d, done),
    };
    match state.store.record_attempt(&outcome).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(delivery = %d.id, "a webhook delivery's lease expired before its outcome was recorded");
        }
        Err(e) => tracing::warn!(delivery = %d.id, error = %e, "could not record a webhook delivery attempt"),
    }
}

/// The audit event of disabling the endpoint after this attempt.
fn disabled_event(d: &ClaimedDelivery, at: Millis) -> AuditEvent {
    AuditEvent {
        id: EventId::new(),
        org_id: Some(d.webhook.org_id.clone()),
        at,
        actor_type: "system".to_owned(),
        actor_id: None,
        action: "webhook.disabled".to_owned(),
        target_type: Some("webhook".to_owned()),
        target_id: Some(d.webhook.id.to_string()),
        ip: None,
        request_id: None,
        details: serde_json::json!({"url": d.webhook.url, "failingSince": d.webhook.failing_since.unwrap_or(at),
                                    "reason": "every delivery attempt failed for too long"})
        .to_string(),
    }
}

/// One POST; the status, or why there was none.
async fn send(state: &AppState, client: &reqwest::Client, d: &ClaimedDelivery, at: Millis) -> Result<u16, String> {
    let allow_private = state.settings.webhooks.allow_private_targets;
    let url = url::Url::parse(&d.webhook.url).map_err(|_| "the endpoint's URL does not parse".to_owned())?;
    let literal_refused = match url.host() {
        Some(url::Host::Ipv4(ip)) => !is_public(ip.into()),
        Some(url::Host::Ipv6(ip)) => !is_public(ip.into()),
        _ => false,
    };
    if literal_refused && !allow_private {
        return Err("the endpoint's address is loopback, private, link-local or metadata: refused".to_owned());
    }
    let secrets: Vec<SigningSecret> = crate::webhooks::signing_secrets(state, &d.webhook, at)
        .await
        .map_err(|_| "the signing secret could not be opened (the server log says why)".to_owned())?;
    let body = body(&d.event);
    let timestamp = at / 1000;
    let signature = signature_header(&secrets.iter().collect::<Vec<_>>(), &d.event.id, timestamp, &body);
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(res.status().as_u16())
}

/// A request error with its causes (the refused name's reason is one).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() { "timed out".to_owned() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
