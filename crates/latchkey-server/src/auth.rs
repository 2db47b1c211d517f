//! Who is calling, and what they may do.
//!
//! [`authenticate`] is a middleware on every authenticated route: it reads
//! `X-API-Key: <key>` or `Authorization: Bearer <key or session token>`.
//! A key goes through the verification pipeline (which also applies the
//! key's own rate limits and counts its usage); a session token (`lks_…`) is
//! looked up by hash, and its organization is the one named by
//! `X-Latchkey-Org` or the session's current one. The middleware puts the
//! [`Caller`] in the request and adds the `RateLimit-*` headers to the
//! response of a limited key. Any failure is the same 401 for the client;
//! the reason is logged on the request span.
//!
//! What a caller may do is its credential's scopes (`*` for a session)
//! bounded by its role at the time of the request
//! ([`latchkey_core::Role::allows`]).
//! Repeated failures from one client address turn into 429s (valid callers
//! from that address are never affected: they are checked first).
//!
//! What each operation requires is declared once per handler, as an
//! [`crate::authz::AuthCheck`] (see there).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latchkey_core::id::{OrgId, UserId};
use latchkey_core::time_fmt::{Millis, now_ms};
use latchkey_core::{KeyState, PlainKey, Role, Scope, ScopeRef, ScopeSet};
use latchkey_store::{ApiKeyRecord, Session};
use latchkey_verify::ratelimit::{Limits, RateDecision, RateLimiter};
use latchkey_verify::{CachedKey, Checks, Outcome};

use crate::error::ApiError;
use crate::state::{AppState, Settings};

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An API key, as the verifier's cache holds it.
    Key(Arc<CachedKey>),
    /// A person's login session.
    Session(Arc<Session>),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The organization every lookup is scoped to.
    pub org_id: OrgId,
    /// The person behind the credential (`None` for organization-owned
    /// keys).
    pub user_id: Option<UserId>,
    /// The role in force: the session user's, or the key owner's at the
    /// time of use (organization-owned keys act as admin, within their
    /// scopes).
    pub role: Role,
    /// The credential used.
    pub credential: Credential,
}

/// `*`, what a session holds (bounded by the role).
static ALL: std::sync::LazyLock<ScopeSet> = std::sync::LazyLock::new(ScopeSet::all);

impl Caller {
    /// The scopes the credential carries (`*` for a session); what it may
    /// actually do is also bounded by the role, see [`Caller::allows`].
    pub fn scopes(&self) -> &ScopeSet {
        match &self.credential {
            Credential::Key(k) => &k.grant().scopes,
            Credential::Session(_) => &ALL,
        }
    }

    /// Whether the caller may do `scope`: the credential carries it and the
    /// role allows it.
    pub fn allows(&self, scope: &Scope) -> bool {
        self.allows_ref(scope.borrowed())
    }

    /// [`Caller::allows`] for a borrowed scope.
    pub fn allows_ref(&self, scope: ScopeRef<'_>) -> bool {
        self.scopes().allows_ref(scope) && self.role.allows_ref(scope)
    }

    /// The member the caller acts for (a session's user, a user-owned key's
    /// owner), or 403 for an organization-owned key, which has no user and
    /// so no user-private resources.
    pub fn acting_user(&self) -> Result<&UserId, ApiError> {
        self.user_id.as_ref().ok_or_else(|| {
            ApiError::forbidden(
                "an organization-owned key acts for no member: it can use organization-wide resources only",
            )
        })
    }

    /// Whether the caller is an admin of the organization.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The key used, if any, as the verifier's cache holds it (its id,
    /// grant and times; its display fields are in storage).
    pub fn key(&self) -> Option<&CachedKey> {
        match &self.credential {
            Credential::Key(k) => Some(k),
            Credential::Session(_) => None,
        }
    }

    /// Who acts, for the audit trail: (`user`, user id) for a session,
    /// (`key`, key id) for a key.
    pub fn actor(&self) -> (&'static str, &str) {
        match &self.credential {
            Credential::Key(k) => ("key", k.id()),
            Credential::Session(s) => ("user", &s.user_id),
        }
    }

    /// Whether the caller may see and manage `key` (admins: every key of
    /// the org; members: their own).
    pub fn can_manage(&self, key: &ApiKeyRecord) -> bool {
        self.can_manage_owned_by(key.owner_user_id.as_deref())
    }

    /// [`Caller::can_manage`] for a key owned by `owner_user_id` (`None`:
    /// the organization).
    pub fn can_manage_owned_by(&self, owner_user_id: Option<&str>) -> bool {
        self.is_admin() || owner_user_id.is_some_and(|o| self.user_id.as_deref() == Some(o))
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
        KeyState::InsufficientScope => ApiError::insufficient_scope("this key lacks a required scope").into_response(),
        KeyState::RateLimited => {
            let retry = outcome.ratelimit.map_or(1, |d| d.retry_after_secs());
            ApiError::rate_limited("rate limit exceeded for this key", retry).into_response()
        }
        KeyState::UsageExceeded => ApiError::rate_limited("this key has no usage credits left", 60).into_response(),
        KeyState::IpNotAllowed => ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "ip_not_allowed",
            "this key may not be used from this address",
        )
        .into_response(),
        _ => ApiError::unauthorized().into_response(),
    };
    if let Some(d) = &outcome.ratelimit {
        ratelimit_headers(res.headers_mut(), d);
    }
    res
}

/// The client's address: the TCP peer, or behind a trusted proxy the
/// right-most `X-Forwarded-For` entry that is not one
/// ([`crate::forwarded`]). The one answer to "who is the client" for
/// failed-authentication budgets, login and sign-up limits and the audit
/// trail. `None` only for a request that did not come over TCP (tests).
pub fn client_ip(parts: &Parts, settings: &Settings) -> Option<IpAddr> {
    let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
    Some(crate::forwarded::client_address(peer.ip(), &parts.headers, &settings.trusted_proxies))
}

/// Charges a failed authentication to the client's address (an IPv6
/// client by its /64, what one host usually holds); `Some(429)` once the
/// address is over its budget.
pub fn failed_auth(state: &AppState, ip: Option<IpAddr>) -> Option<Response> {
    let ip = ip?;
    let decision = charge_failure(&state.failed_auth, state.settings.failed_auth_per_minute, ip, now_ms())?;
    if decision.allowed {
        return None;
    }
    tracing::warn!(client = %ip, "too many failed authentications");
    Some(ApiError::rate_limited("too many failed authentication attempts", decision.retry_after_secs()).into_response())
}

/// Charges one failure of `ip` to `budgets` at `now`.
fn charge_failure(budgets: &RateLimiter, per_minute: u32, ip: IpAddr, now: Millis) -> Option<RateDecision> {
    budgets.check(&budget_subject(ip), Limits { per_minute: Some(per_minute), per_day: None }, now)
}

/// The client's address as the per-address limits count it (sign-ups,
/// failed logins): [`client_ip`] as [`budget_subject`] names it.
pub fn client_subject(parts: &Parts, settings: &Settings) -> Option<String> {
    client_ip(parts, settings).map(budget_subject)
}

/// The failed-authentication budget an address draws on: an IPv4 address,
/// or an IPv6 address's /64 network.
fn budget_subject(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Prefix of session tokens (`lks_…`).
pub const SESSION_PREFIX: &str = "lks_";

/// Middleware: authenticates the request's key or session token, or answers
/// 401/403/404/429.
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    match resolve(&state, &parts, now_ms()).await {
        Ok((caller, limit)) => {
            parts.extensions.insert(caller);
            let mut res = next.run(Request::from_parts(parts, body)).await;
            if let Some(d) = &limit {
                ratelimit_headers(res.headers_mut(), d);
            }
            res
        }
        Err(refused) => refused,
    }
}

/// Who is calling: the [`Caller`] behind the request's key or session token,
/// with the key's rate-limit window for the response headers; or the answer
/// that refuses it (401/403/404/429). What [`authenticate`] runs, and what
/// `POST /v1/keys/verify` runs in its handler, without the middleware's
/// per-request service clone and boxing. `now` is the request's time.
pub async fn resolve(state: &AppState, req: &Parts, now: Millis) -> Result<(Caller, Option<RateDecision>), Response> {
    let presented = presented_credential(&req.headers).unwrap_or_default();
    if presented.starts_with(SESSION_PREFIX) {
        let named = req.headers.get("x-latchkey-org").map(|v| v.to_str().unwrap_or_default().trim());
        return match session_caller(state, named, presented, now).await {
            Ok(caller) => Ok((caller, None)),
            Err(SessionRefusal::Invalid) => {
                tracing::info!(reason = "session", "unauthorized");
                Err(failed_auth(state, client_ip(req, &state.settings))
                    .unwrap_or_else(|| ApiError::unauthorized().into_response()))
            }
            Err(SessionRefusal::Error(e)) => Err(e.into_response()),
        };
    }
    let checks = Checks { ip: client_ip(req, &state.settings), ..Checks::default() };
    let outcome = match state.verifier.check(presented, &checks, now).await {
        Ok(o) => o,
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    match (outcome.code, &outcome.key) {
        (KeyState::Valid, Some(key)) => Ok((
            Caller {
                org_id: key.org_id().clone(),
                user_id: key.owner_user_id().cloned(),
                // An organization-owned key has no owner ceiling.
                role: key.grant().owner_role.unwrap_or(Role::Admin),
                credential: Credential::Key(Arc::clone(key)),
            },
            outcome.ratelimit,
        )),
        (KeyState::RateLimited | KeyState::UsageExceeded | KeyState::IpNotAllowed, _) => Err(refusal(&outcome)),
        (code, _) => {
            tracing::info!(reason = code.as_str(), "unauthorized");
            Err(failed_auth(state, client_ip(req, &state.settings))
                .unwrap_or_else(|| ApiError::unauthorized().into_response()))
        }
    }
}

pub(crate) enum SessionRefusal {
    /// Unknown, malformed, revoked or expired: 401.
    Invalid,
    /// Anything else, answered as is.
    Error(ApiError),
}

impl From<latchkey_store::StoreError> for SessionRefusal {
    fn from(e: latchkey_store::StoreError) -> Self {
        Self::Error(e.into())
    }
}

/// `lastUsedAt` of a session is written at most this often.
const SESSION_TOUCH_MS: i64 = 60_000;

/// The caller behind a session token, in the organization the request
/// names (`X-Latchkey-Org`) or the session's current one.
pub(crate) async fn session_caller(
    state: &AppState,
    named: Option<&str>,
    token: &str,
    now: i64,
) -> Result<Caller, SessionRefusal> {
    let Ok(plain) = PlainKey::parse(token) else {
        return Err(SessionRefusal::Invalid);
    };
    let Some(session) = state.store.session_by_hash(&plain.hash()).await? else {
        return Err(SessionRefusal::Invalid);
    };
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Err(SessionRefusal::Invalid);
    }
    let (org_id, role) = match named {
        Some(org) => {
            let org = OrgId::from(org);
            match state.store.role_of(&org, &session.user_id).await? {
                Some(role) => (org, role),
                None => return Err(SessionRefusal::Error(ApiError::not_found("organization"))),
            }
        }
        None => {
            let current = match &session.current_org_id {
                Some(org) => state.store.role_of(org, &session.user_id).await?.map(|r| (org.clone(), r)),
                None => None,
            };
            match current {
                Some(found) => found,
                // The current organization is gone (the user left it): fall
                // back to their newest membership.
                None => {
                    let page = latchkey_store::Page { limit: 1, before: None };
                    match state.store.user_orgs(&session.user_id, &page).await?.into_iter().next() {
                        Some((org, role)) => (org.id, role),
                        None => {
                            return Err(SessionRefusal::Error(ApiError::forbidden(
                                "you are not a member of any organization",
                            )));
                        }
                    }
                }
            }
        }
    };
    if session.last_used_at.is_none_or(|t| now - t >= SESSION_TOUCH_MS) {
        state.store.touch_session(&session.id, now).await?;
    }
    Ok(Caller {
        org_id,
        user_id: Some(session.user_id.clone()),
        role,
        credential: Credential::Session(Arc::new(session)),
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::forwarded::TrustedProxies;

    fn parts(peer: &str, xff: &str) -> Parts {
        let mut req = axum::http::Request::new(());
        req.extensions_mut().insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 40_000)));
        req.headers_mut().insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        req.into_parts().0
    }

    /// 2,500 different 20 KB `X-Forwarded-For` values, from a client and
    /// through a trusted proxy, cost one budget each: an address, never the
    /// header's text.
    #[test]
    fn d03_forwarded_values_do_not_grow_the_failed_auth_table() {
        let budgets = RateLimiter::new();
        let untrusted = Settings::default();
        let behind_proxy =
            Settings { trusted_proxies: TrustedProxies::parse(&["127.0.0.1"]).unwrap(), ..Settings::default() };
        for i in 0..2_500 {
            let xff = format!("{i}{}", "7".repeat(20_000));
            for (peer, settings) in [("203.0.113.1", &untrusted), ("127.0.0.1", &behind_proxy)] {
                let ip = client_ip(&parts(peer, &xff), settings).unwrap();
                charge_failure(&budgets, 1_000_000, ip, 0);
            }
        }
        assert_eq!(budgets.len(), 2, "one budget for the client, one for the proxy");
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64() {
        assert_eq!(budget_subject("2001:db8:1:2:aaaa::1".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(budget_subject("2001:db8:1:2:bbbb::9".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(budget_subject("192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
