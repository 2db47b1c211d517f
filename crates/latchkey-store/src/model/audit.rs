//! The audit trail.

use latchkey_core::id::{EventId, OrgId};
use latchkey_core::time_fmt::Millis;

/// One audit event. Never updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// `evt_…` (time-ordered).
    pub id: EventId,
    /// The organization it belongs to (`None`: no organization, e.g. a
    /// failed login for an unknown email).
    pub org_id: Option<OrgId>,
    /// When.
    pub at: Millis,
    /// `user` or `key` (or `anonymous`, or `operator` at the command line).
    pub actor_type: String,
    /// The user or key id.
    pub actor_id: Option<String>,
    /// What happened, e.g. `api_key.create`.
    pub action: String,
    /// Kind of the target (`api_key`, `member`, …).
    pub target_type: Option<String>,
    /// Its id.
    pub target_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// A JSON object of non-secret details.
    pub details: String,
}

impl AuditEvent {
    /// An event of the operator at the command line (`latchkey init`,
    /// `latchkey admin …`): actor type `operator`, no client address or
    /// request id.
    pub fn operator(
        org_id: &OrgId,
        action: &str,
        target: (&str, &str),
        details: &serde_json::Value,
        at: Millis,
    ) -> Self {
        Self {
            id: EventId::new(),
            org_id: Some(org_id.clone()),
            at,
            actor_type: "operator".to_owned(),
            actor_id: None,
            action: action.to_owned(),
            target_type: Some(target.0.to_owned()),
            target_id: Some(target.1.to_owned()),
            ip: None,
            request_id: None,
            details: details.to_string(),
        }
    }
}

/// Filters for listing audit events.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action.
    pub action: Option<String>,
    /// Exact actor id.
    pub actor_id: Option<String>,
    /// Exact target id.
    pub target_id: Option<String>,
    /// At or after.
    pub since: Option<Millis>,
    /// Before.
    pub until: Option<Millis>,
}
