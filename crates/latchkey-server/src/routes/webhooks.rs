//! `/v1/webhooks`: an organization's webhook endpoints (admins), their
//! signing secrets (shown once, rotated with a 24 h overlap), test events,
//! deliveries and retries. What is delivered, and how, is
//! `crate::webhooks`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api_types::webhooks::{
    CreateWebhook, DeliveryAttemptView, DeliveryView, UpdateWebhook, WebhookTestView, WebhookView, WebhookWithSecret,
};
use latchkey_api_types::{Data, ErrorEnvelope, Paged, Shown};
use latchkey_core::id::{EventId, IdKind, WebhookDeliveryId, WebhookId, is_valid};
use latchkey_core::time_fmt::{Millis, now_ms, to_rfc3339};
use latchkey_core::webhook::{EVENT_TYPES, SigningSecret, TEST_EVENT_TYPE, is_event_type};
use latchkey_store::{Delivery, NewWebhook, SecretRotation, Webhook, WebhookEvent, WebhookPatch};
use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::{AuthCheck, ORG_READ, ORG_WRITE};
use crate::error::ApiError;
use crate::extract::{JsonBody, PageQuery, Query, paginate};
use crate::state::AppState;
use crate::webhooks::{check_url, seal_secret};

/// How long the secret a rotation replaces keeps signing.
const PREVIOUS_SECRET_TTL_MS: i64 = 24 * 3_600_000;
/// The longest description.
const MAX_DESCRIPTION: usize = 255;
/// What goes with a shown-once signing secret.
const SECRET_SHOWN_ONCE: &str = "Store this signing secret securely. You will not be able to see it again.";

/// Reading endpoints and deliveries.
pub(crate) const READ: AuthCheck =
    AuthCheck::any().admin_because("webhooks are managed by the organization's admins").scope(ORG_READ);
/// Changing endpoints, testing and retrying.
pub(crate) const WRITE: AuthCheck =
    AuthCheck::any().admin_because("webhooks are managed by the organization's admins").scope(ORG_WRITE);

fn view(w: &Webhook, now: Millis) -> WebhookView {
    WebhookView {
        id: w.id.to_string(),
        url: w.url.clone(),
        events: w.events.clone(),
        description: w.description.clone(),
        enabled: w.disabled_at.is_none(),
        disabled_at: w.disabled_at.map(to_rfc3339),
        failing_since: w.failing_since.map(to_rfc3339),
        previous_secret_expires_at: w.previous_until.filter(|until| *until > now).map(to_rfc3339),
        created_at: to_rfc3339(w.created_at),
        updated_at: to_rfc3339(w.updated_at),
    }
}

fn shown(w: &Webhook, secret: &SigningSecret, now: Millis) -> Shown<WebhookWithSecret> {
    Shown {
        data: WebhookWithSecret { webhook: view(w, now), secret: secret.to_text().to_string() },
        message: SECRET_SHOWN_ONCE.to_owned(),
    }
}

fn delivery_view(d: Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        event_id: d.event_id,
        event_type: d.event_type,
        state: d.state.as_str().to_owned(),
        next_attempt_at: d.next_attempt_at.map(to_rfc3339),
        created_at: to_rfc3339(d.created_at),
        attempts: d
            .attempts
            .into_iter()
            .map(|a| DeliveryAttemptView {
                at: to_rfc3339(a.at),
                status_code: a.status_code.and_then(|s| u16::try_from(s).ok()),
                duration_ms: a.duration_ms,
                error: a.error,
            })
            .collect(),
    }
}

/// Known event types, each once, at least one.
fn check_events(events: &[String]) -> Result<Vec<String>, ApiError> {
    if events.is_empty() {
        return Err(ApiError::bad_request("events: name at least one event type"));
    }
    let unknown: Vec<&str> = events.iter().map(String::as_str).filter(|e| !is_event_type(e)).collect();
    if !unknown.is_empty() {
        let shown: Vec<String> =
            unknown.iter().take(5).map(|e| format!("{:?}", e.chars().take(64).collect::<String>())).collect();
        return Err(ApiError::bad_request(format!(
            "events: unknown event types {}; known: {}",
            shown.join(", "),
            EVENT_TYPES.join(", ")
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        if out.contains(e) {
            return Err(ApiError::bad_request(format!("events: {e} is named twice")));
        }
        out.push(e.clone());
    }
    Ok(out)
}

fn check_description(d: Option<String>) -> Result<Option<String>, ApiError> {
    match d {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => {
            Err(ApiError::bad_request(format!("description: at most {MAX_DESCRIPTION} characters")))
        }
        other => Ok(other),
    }
}

/// The host of an endpoint's URL, for audit details (a URL's path or
/// query may carry a token of the receiver's).
fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned))
}

/// An endpoint of the caller's organization, or 404.
async fn find(state: &AppState, caller: &Caller, id: &WebhookId) -> Result<Webhook, ApiError> {
    if !is_valid(IdKind::Webhook, id.as_str()) {
        return Err(ApiError::not_found("webhook"));
    }
    state.store.get_webhook(&caller.org_id, id).await?.ok_or_else(|| ApiError::not_found("webhook"))
}

fn disabled() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "webhook_disabled",
        "the webhook is disabled; enable it first (PATCH enabled: true)",
    )
}

/// `POST /v1/webhooks`: a new endpoint and its signing secret, shown once.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "createWebhook",
    tag = "webhooks",
    request_body = CreateWebhook,
    responses((status = 201, description = "The endpoint, with its signing secret shown once", body = Shown<WebhookWithSecret>), (status = 400, description = "`invalid_request`: a bad URL (not http(s), too long, credentials, a refused address), unknown or repeated event types, a long description", body = ErrorEnvelope), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 503, description = "`unavailable`: the server has no master key to seal the secret with", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(WRITE)))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    JsonBody(req): JsonBody<CreateWebhook>,
) -> Result<(StatusCode, Json<Shown<WebhookWithSecret>>), ApiError> {
    WRITE.check(&caller)?;
    let url = check_url(&req.url, state.settings.webhooks.allow_private_targets)?;
    let events = check_events(&req.events)?;
    let description = check_description(req.description)?;
    let id = WebhookId::new();
    let secret = SigningSecret::generate().map_err(|e| ApiError::internal(&e))?;
    let sealed = seal_secret(&state, &caller.org_id, id.as_str(), 1, &secret).await?;
    let now = now_ms();
    let new = NewWebhook {
        id,
        org_id: caller.org_id.clone(),
        url,
        description,
        events,
        secret: sealed,
        created_by_user_id: caller.user_id.clone(),
        created_by_key_id: caller.key().map(latchkey_verify::CachedKey::key_id),
        at: now,
    };
    let details = json!({"host": host_of(&new.url), "events": new.events});
    let event = audit.event_by(&caller, "webhook.create", Some(("webhook", new.id.as_str())), &details);
    let stored = state.store.create_webhook(&new, &event).await?;
    Ok((StatusCode::CREATED, Json(shown(&stored, &secret, now))))
}

/// `GET /v1/webhooks`: the organization's endpoints, newest first.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "listWebhooks",
    tag = "webhooks",
    params(PageQuery),
    responses((status = 200, description = "A page of endpoints, newest first", body = Paged<WebhookView>), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(READ)))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<WebhookView>>, ApiError> {
    READ.check(&caller)?;
    let page = q.page()?;
    let rows = state.store.list_webhooks(&caller.org_id, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |w| w.id.as_str());
    let now = now_ms();
    Ok(Json(Paged { data: rows.iter().map(|w| view(w, now)).collect(), next_cursor }))
}

/// `GET /v1/webhooks/{id}`
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    operation_id = "getWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint (`whk_…`)")),
    responses((status = 200, description = "The endpoint", body = Data<WebhookView>), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such endpoint in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(READ)))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WebhookId>,
) -> Result<Json<Data<WebhookView>>, ApiError> {
    READ.check(&caller)?;
    let w = find(&state, &caller, &id).await?;
    Ok(Json(Data { data: view(&w, now_ms()) }))
}

/// `PATCH /v1/webhooks/{id}`: URL, events, description, enabled.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    operation_id = "updateWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint (`whk_…`)")),
    request_body = UpdateWebhook,
    responses((status = 200, description = "The endpoint", body = Data<WebhookView>), (status = 400, description = "`invalid_request`: as on create", body = ErrorEnvelope), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such endpoint in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(WRITE)))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<WebhookId>,
    JsonBody(req): JsonBody<UpdateWebhook>,
) -> Result<Json<Data<WebhookView>>, ApiError> {
    WRITE.check(&caller)?;
    let allow_private = state.settings.webhooks.allow_private_targets;
    let patch = WebhookPatch {
        url: req.url.as_deref().map(|u| check_url(u, allow_private)).transpose()?,
        description: req.description.map(check_description).transpose()?,
        events: req.events.as_deref().map(check_events).transpose()?,
        enabled: req.enabled,
    };
    let w = find(&state, &caller, &id).await?;
    let details = json!({"host": patch.url.as_deref().and_then(host_of), "events": patch.events,
                         "enabled": patch.enabled});
    let event = audit.event_by(&caller, "webhook.update", Some(("webhook", w.id.as_str())), &details);
    let now = now_ms();
    let updated = state
        .store
        .update_webhook(&caller.org_id, &w.id, &patch, now, &event)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(Data { data: view(&updated, now) }))
}

/// `DELETE /v1/webhooks/{id}`: the endpoint and its deliveries.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    operation_id = "deleteWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint (`whk_…`)")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such endpoint in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(WRITE)))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<WebhookId>,
) -> Result<StatusCode, ApiError> {
    WRITE.check(&caller)?;
    let w = find(&state, &caller, &id).await?;
    let event =
        audit.event_by(&caller, "webhook.delete", Some(("webhook", w.id.as_str())), &json!({"host": host_of(&w.url)}));
    if state.store.delete_webhook(&caller.org_id, &w.id, &event).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook"))
    }
}

/// `POST /v1/webhooks/{id}/rotate-secret`: a new signing secret, shown
/// once; the replaced one keeps signing alongside it for 24 hours.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    operation_id = "rotateWebhookSecret",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint (`whk_…`)")),
    responses((status = 200, description = "The endpoint, with its new signing secret shown once", body = Shown<WebhookWithSecret>), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such endpoint in the caller's organization", body = ErrorEnvelope), (status = 409, description = "`conflict`: another rotation came first", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(WRITE)))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<WebhookId>,
) -> Result<Json<Shown<WebhookWithSecret>>, ApiError> {
    WRITE.check(&caller)?;
    let w = find(&state, &caller, &id).await?;
    let secret = SigningSecret::generate().map_err(|e| ApiError::internal(&e))?;
    let sealed = seal_secret(&state, &caller.org_id, w.id.as_str(), w.secret_version + 1, &secret).await?;
    let now = now_ms();
    let rotation =
        SecretRotation { from_version: w.secret_version, secret: sealed, previous_until: now + PREVIOUS_SECRET_TTL_MS };
    let event = audit.event_by(
        &caller,
        "webhook.rotate_secret",
        Some(("webhook", w.id.as_str())),
        &json!({"previousSecretExpiresAt": to_rfc3339(rotation.previous_until)}),
    );
    let rotated = state
        .store
        .rotate_webhook_secret(&caller.org_id, &w.id, &rotation, now, &event)
        .await?
        .ok_or_else(|| ApiError::conflict("another rotation of this webhook's secret came first; try again"))?;
    Ok(Json(shown(&rotated, &secret, now)))
}

/// `POST /v1/webhooks/{id}/test`: queues a `webhook.test` event for this
/// endpoint alone, delivered (and retried) like any other.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    operation_id = "testWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint (`whk_…`)")),
    responses((status = 202, description = "The test event is queued", body = Data<WebhookTestView>), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such endpoint in the caller's organization", body = ErrorEnvelope), (status = 409, description = "`webhook_disabled`: the endpoint is disabled", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(WRITE)))
)]
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<WebhookId>,
) -> Result<(StatusCode, Json<Data<WebhookTestView>>), ApiError> {
    WRITE.check(&caller)?;
    let w = find(&state, &caller, &id).await?;
    if w.disabled_at.is_some() {
        return Err(disabled());
    }
    let (actor_type, actor_id) = caller.actor();
    let event = WebhookEvent {
        id: EventId::new().into_string(),
        org_id: caller.org_id.clone(),
        event_type: TEST_EVENT_TYPE.to_owned(),
        created_at: now_ms(),
        data: json!({"object": {"type": "webhook", "id": w.id}, "actor": {"type": actor_type, "id": actor_id},
                     "details": {"test": true}})
        .to_string(),
    };
    state.store.enqueue_webhook_event(&event, Some(&w.id)).await?;
    audit.by(&state, &caller, "webhook.test", Some(("webhook", w.id.as_str())), json!({"eventId": event.id})).await;
    Ok((StatusCode::ACCEPTED, Json(Data { data: WebhookTestView { event_id: event.id } })))
}

/// `GET /v1/webhooks/{id}/deliveries`: newest first, each with its
/// attempts (time, status code, duration, error).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint (`whk_…`)"), PageQuery),
    responses((status = 200, description = "A page of deliveries, newest first", body = Paged<DeliveryView>), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such endpoint in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(READ)))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<WebhookId>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<DeliveryView>>, ApiError> {
    READ.check(&caller)?;
    let page = q.page()?;
    let w = find(&state, &caller, &id).await?;
    let rows = state.store.list_deliveries(&caller.org_id, &w.id, &page).await?;
    let (rows, next_cursor) = paginate(rows, page.limit, |d| d.id.as_str());
    Ok(Json(Paged { data: rows.into_iter().map(delivery_view).collect(), next_cursor }))
}

/// `POST /v1/webhooks/{id}/deliveries/{deliveryId}/retry`: attempts a
/// delivery again now, whatever its state (same event, same `webhook-id`).
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/deliveries/{deliveryId}/retry",
    operation_id = "retryWebhookDelivery",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint (`whk_…`)"), ("deliveryId" = String, Path, description = "The delivery (`whd_…`)")),
    responses((status = 202, description = "The delivery, due now", body = Data<DeliveryView>), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such endpoint in the caller's organization, or no such delivery of it", body = ErrorEnvelope), (status = 409, description = "`webhook_disabled`: the endpoint is disabled", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(WRITE)))
)]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path((id, delivery_id)): Path<(WebhookId, WebhookDeliveryId)>,
) -> Result<(StatusCode, Json<Data<DeliveryView>>), ApiError> {
    WRITE.check(&caller)?;
    let w = find(&state, &caller, &id).await?;
    if w.disabled_at.is_some() {
        return Err(disabled());
    }
    let event =
        audit.event_by(&caller, "webhook.retry", Some(("webhook", w.id.as_str())), &json!({"deliveryId": delivery_id}));
    let d = state
        .store
        .retry_delivery(&caller.org_id, &w.id, &delivery_id, now_ms(), &event)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok((StatusCode::ACCEPTED, Json(Data { data: delivery_view(d) })))
}
