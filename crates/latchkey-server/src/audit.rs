//! Appending to the audit trail.
//!
//! A handler builds the event of a change with [`Audit::event_by`] (or
//! [`Audit::event`]) before making it, and hands it to the store method
//! that makes the change, which appends it in the same transaction: a change
//! is never stored without its event, even if the process is killed between
//! two statements. [`Audit::record`] appends an event on its own, for what
//! changes nothing else (a refused login, a revealed secret). The event
//! carries who acted (user or key), what, on what, from where, and the
//! request id; `details` hold non-secret facts only (names, scopes, roles),
//! never a key, token or password.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use latchkey_core::id::{EventId, OrgId};
use latchkey_core::time_fmt::now_ms;
use latchkey_store::AuditEvent;
use serde_json::Value;

use crate::auth::Caller;
use crate::state::AppState;

/// Where a request came from: its client address and request id.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// The client's address ([`crate::auth::client_ip`]).
    pub ip: Option<String>,
    /// The `x-request-id` of the request: the client's when it is sane,
    /// else one the server made (`app.rs`).
    pub request_id: Option<String>,
}

impl FromRequestParts<AppState> for Audit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self {
            ip: crate::auth::client_ip(parts, &state.settings).map(|ip| ip.to_string()),
            request_id: parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
        })
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// `user`, `key` or `anonymous`.
    pub kind: &'static str,
    /// Their id.
    pub id: Option<&'a str>,
}

impl<'a> From<&'a Caller> for Actor<'a> {
    fn from(c: &'a Caller) -> Self {
        let (kind, id) = c.actor();
        Self { kind, id: Some(id) }
    }
}

impl Audit {
    /// The event describing a change, built before the change is stored:
    /// handlers hand it to the store method that makes the change, which
    /// appends it in the same transaction (see `latchkey_store::KeyStore`).
    pub fn event(
        &self,
        org_id: Option<&OrgId>,
        actor: Actor<'_>,
        action: &str,
        target: Option<(&str, &str)>,
        details: &Value,
    ) -> AuditEvent {
        AuditEvent {
            id: EventId::new(),
            org_id: org_id.cloned(),
            at: now_ms(),
            actor_type: actor.kind.to_owned(),
            actor_id: actor.id.map(str::to_owned),
            action: action.to_owned(),
            target_type: target.map(|(kind, _)| kind.to_owned()),
            target_id: target.map(|(_, id)| id.to_owned()),
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
            details: details.to_string(),
        }
    }

    /// [`Audit::event`] for a caller acting in its organization.
    pub fn event_by(&self, caller: &Caller, action: &str, target: Option<(&str, &str)>, details: &Value) -> AuditEvent {
        self.event(Some(&caller.org_id), caller.into(), action, target, details)
    }

    /// Appends an event to `org_id`'s trail on its own, for what changes
    /// nothing else (a refused login, a revealed secret) and for changes
    /// whose store method does not take their event yet. A failure to write
    /// is logged, not returned: the mutation it describes has already
    /// happened.
    pub async fn record(
        &self,
        state: &AppState,
        org_id: Option<&OrgId>,
        actor: Actor<'_>,
        action: &str,
        target: Option<(&str, &str)>,
        details: Value,
    ) {
        let event = self.event(org_id, actor, action, target, &details);
        if let Err(e) = state.store.append_event(&event).await {
            tracing::error!(error = %e, action, "could not append an audit event");
        }
    }

    /// [`Audit::record`] for a caller acting in its organization.
    pub async fn by(
        &self,
        state: &AppState,
        caller: &Caller,
        action: &str,
        target: Option<(&str, &str)>,
        details: Value,
    ) {
        self.record(state, Some(&caller.org_id), caller.into(), action, target, details).await;
    }
}
