//! Who is calling, and what they may do.
//!
//! [`authenticate`] is a middleware on every authenticated route: it reads
//! `X-API-Key: <key>` or `Authorization: Bearer <key>`, runs the key through
//! the verification pipeline (which also applies the key's own rate limits
//! and counts its usage), puts the [`Caller`] in the request, and adds the
//! `RateLimit-*` headers to the response of a limited key. Any failure is
//! the same 401 for the client; the reason is logged on the request span.
//! Repeated failures from one client address turn into 429s (valid callers
//! from that address are never affected: they are checked first).
//!
//! Each handler states its requirement in one line, e.g.
//! `caller.require(ORG_WRITE)?` or `caller.require_admin()?`; the matching
//! itself is the pure, table-tested [`latchkey_core::ScopeSet::allows`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latchkey_core::time_fmt::now_ms;
use latchkey_core::{Role, Scope, ScopeSet};
use latchkey_store::ApiKeyRecord;
use latchkey_verify::ratelimit::{Limits, RateDecision};
use latchkey_verify::{Checks, Code, Outcome};

use crate::error::ApiError;
use crate::state::AppState;

/// A static scope requirement (`resource`, `action`).
pub type Requirement = (&'static str, &'static str);

/// Read the organization: settings, keys, members, projects.
pub const ORG_READ: Requirement = ("org", "read");
/// Change the organization: manage keys and projects.
pub const ORG_WRITE: Requirement = ("org", "write");
/// Verify the organization's keys.
pub const KEYS_VERIFY: Requirement = ("keys", "verify");

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The organization every lookup is scoped to.
    pub org_id: String,
    /// The person behind the credential.
    pub user_id: Option<String>,
    /// Their role in the organization.
    pub role: Option<Role>,
    /// The key used.
    pub key: Arc<ApiKeyRecord>,
}

impl Caller {
    /// The scopes in force.
    pub fn scopes(&self) -> &ScopeSet {
        &self.key.scopes
    }

    /// Fails with 403 `insufficient_scope` unless the caller holds `req`.
    pub fn require(&self, (resource, action): Requirement) -> Result<(), ApiError> {
        if self.key.scopes.allows(&Scope::action(resource, action)) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(format!("this credential lacks the `{resource}:{action}` scope")))
        }
    }

    /// Fails with 403 `forbidden` unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() { Ok(()) } else { Err(ApiError::forbidden("this action needs the admin role")) }
    }

    /// Whether the caller is an admin of the organization.
    pub fn is_admin(&self) -> bool {
        self.role == Some(Role::Admin)
    }

    /// Whether the caller may see and manage `key` (admins: every key of
    /// the org; members: their own).
    pub fn can_manage(&self, key: &ApiKeyRecord) -> bool {
        self.is_admin() || (key.owner_user_id.is_some() && key.owner_user_id == self.user_id)
    }
}

/// The credential presented, from `X-API-Key` or `Authorization: Bearer`.
pub fn presented_credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key") {
        return v.to_str().ok().map(str::trim);
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Adds `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (and
/// `Retry-After` when refused).
pub fn ratelimit_headers(headers: &mut HeaderMap, d: &RateDecision) {
    headers.insert("ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(d.reset_secs()));
    if !d.allowed {
        headers.insert("retry-after", HeaderValue::from(d.retry_after_secs().max(1)));
    }
}

/// The error for a refused outcome: 401, 403, or 429 with headers.
pub fn refusal(outcome: &Outcome) -> Response {
    let mut res = match outcome.code {
        Code::InsufficientScope => ApiError::insufficient_scope("this key lacks a required scope").into_response(),
        Code::RateLimited => {
            let retry = outcome.ratelimit.map_or(1, |d| d.retry_after_secs());
            ApiError::rate_limited("rate limit exceeded for this key", retry).into_response()
        }
        Code::UsageExceeded => ApiError::rate_limited("this key has no usage credits left", 60).into_response(),
        _ => ApiError::unauthorized().into_response(),
    };
    if let Some(d) = &outcome.ratelimit {
        ratelimit_headers(res.headers_mut(), d);
    }
    res
}

/// The client address of a request (the TCP peer).
pub fn client_ip(req: &Request) -> Option<String> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip().to_string())
}

/// Charges a failed authentication to the client's address; `Some(429)` once
/// the address is over its budget.
pub fn failed_auth(state: &AppState, ip: Option<&str>) -> Option<Response> {
    let per_minute = state.settings.failed_auth_per_minute;
    let ip = ip?;
    let decision = state.failed_auth.check(ip, Limits { per_minute: Some(per_minute), per_day: None }, now_ms())?;
    if decision.allowed {
        return None;
    }
    tracing::warn!(client = ip, "too many failed authentications");
    Some(ApiError::rate_limited("too many failed authentication attempts", decision.retry_after_secs()).into_response())
}

/// Middleware: authenticates the request's key or answers 401/403/429.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let now = now_ms();
    let presented = presented_credential(req.headers()).unwrap_or_default();
    let outcome = match state.verifier.check(presented, &Checks::default(), now).await {
        Ok(o) => o,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match (outcome.code, &outcome.key) {
        (Code::Valid, Some(key)) => {
            let caller = Caller {
                org_id: key.org_id.clone(),
                user_id: key.owner_user_id.clone(),
                role: key.owner_role,
                key: Arc::clone(key),
            };
            req.extensions_mut().insert(caller);
            let mut res = next.run(req).await;
            if let Some(d) = &outcome.ratelimit {
                ratelimit_headers(res.headers_mut(), d);
            }
            res
        }
        (Code::RateLimited | Code::UsageExceeded, _) => refusal(&outcome),
        (code, _) => {
            tracing::info!(reason = code.as_str(), "unauthorized");
            failed_auth(&state, client_ip(&req).as_deref()).unwrap_or_else(|| ApiError::unauthorized().into_response())
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or_else(ApiError::unauthorized)
    }
}
