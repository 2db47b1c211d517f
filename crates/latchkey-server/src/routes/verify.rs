//! The verification endpoints: `POST /v1/keys/verify` for the platform's
//! services, `GET /v1/auth/check` for reverse proxies.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use latchkey_api_types::{Data, RateLimitView, VerifyKey, VerifyView};
use latchkey_core::Scope;
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_verify::{Checks, Code, Outcome};

use crate::auth::{Caller, KEYS_VERIFY, client_ip, failed_auth, presented_credential, ratelimit_headers, refusal};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::state::AppState;

/// Parses required scopes (syntax only: a key may hold scopes outside the
/// catalog through `*` or `resource:*`).
fn required_scopes(raw: &[String]) -> Result<Vec<Scope>, ApiError> {
    let mut bad = Vec::new();
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        match Scope::parse(s) {
            Some(scope) => out.push(scope),
            None => bad.push(s.clone()),
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(ApiError::invalid_scopes(&bad)) }
}

fn view(o: &Outcome) -> VerifyView {
    let k = o.key.as_deref();
    VerifyView {
        valid: o.code == Code::Valid,
        code: o.code.as_str().to_owned(),
        key_id: k.map(|k| k.id.clone()),
        org_id: k.map(|k| k.org_id.clone()),
        project_id: k.and_then(|k| k.project_id.clone()),
        environment: k.map(|k| k.environment.as_str().to_owned()),
        scopes: k.map(|k| k.scopes.to_strings()),
        owner_user_id: k.and_then(|k| k.owner_user_id.clone()),
        expires_at: k.and_then(|k| k.expires_at).map(to_rfc3339),
        ratelimit: o.ratelimit.map(|d| RateLimitView { limit: d.limit, remaining: d.remaining, reset: d.reset_secs() }),
        remaining: o.remaining,
    }
}

/// `POST /v1/keys/verify` `{key, scopes?, projectId?, cost?}`: always 200
/// with a verdict. The caller needs `keys:verify` and only finds keys of its
/// own organization.
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<VerifyKey>,
) -> Result<Response, ApiError> {
    caller.require(KEYS_VERIFY)?;
    let scopes = required_scopes(&req.scopes)?;
    let cost = req.cost.unwrap_or(1);
    if !(0..=1_000_000).contains(&cost) {
        return Err(ApiError::bad_request("cost must be between 0 and 1000000"));
    }
    let checks = Checks { org_id: Some(&caller.org_id), scopes: &scopes, project_id: req.project_id.as_deref(), cost };
    let outcome = state.verifier.check(&req.key, &checks, now_ms()).await?;
    let mut res = Json(Data { data: view(&outcome) }).into_response();
    if let Some(d) = &outcome.ratelimit {
        ratelimit_headers(res.headers_mut(), d);
    }
    Ok(res)
}

/// `POST /bench/echo` (only with `serve --bench-echo`): parses a verify body
/// like [`verify`] and answers its length, with no authentication or lookup.
/// The same binary's ceiling for the verify benchmark.
pub async fn echo(JsonBody(req): JsonBody<VerifyKey>) -> Json<Data<usize>> {
    Json(Data { data: req.key.len() })
}

/// The end client of a forwarded request: the first `X-Forwarded-For`
/// entry, else `X-Real-IP`, else the TCP peer (the proxy). Only failed
/// attempts are charged to it, so a spoofed value cannot lock out a valid
/// key.
fn forwarded_client(req: &Request) -> Option<String> {
    let headers = req.headers();
    header(headers, "x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .or_else(|| header(headers, "x-real-ip"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| client_ip(req))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `GET /v1/auth/check`: forward auth for nginx `auth_request`, Traefik
/// ForwardAuth, Caddy `forward_auth` and Envoy ext_authz (HTTP). The key
/// comes from the forwarded request's `X-API-Key` or `Authorization:
/// Bearer`; the required scope from `X-Latchkey-Scope`, or from the route map
/// matched against `X-Forwarded-Method`/`X-Forwarded-Uri` (or nginx's
/// `X-Original-Method`/`X-Original-URI`). 200 with identity headers, or
/// 401/403/429 with the error envelope.
pub async fn auth_check(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let headers = req.headers();
    // Every source of a requirement adds to it, none replaces another: a
    // client that smuggles its own header past the proxy can only ask for
    // more.
    let mut scopes: Vec<Scope> = Vec::new();
    if let Some(s) = header(headers, "x-latchkey-scope") {
        scopes.push(Scope::parse(s.trim()).ok_or_else(|| ApiError::invalid_scopes(&[s.to_owned()]))?);
    }
    for (m, u) in [("x-forwarded-method", "x-forwarded-uri"), ("x-original-method", "x-original-uri")] {
        if let (Some(method), Some(uri)) = (header(headers, m), header(headers, u))
            && let Some(scope) = state.settings.route_scope(method, uri)
        {
            scopes.push(scope.clone());
        }
    }
    let presented = presented_credential(headers).unwrap_or_default();
    let checks = Checks { org_id: None, scopes: &scopes, project_id: None, cost: 1 };
    let outcome = state.verifier.check(presented, &checks, now_ms()).await?;
    let Some(key) = outcome.key.as_deref().filter(|_| outcome.code == Code::Valid) else {
        if matches!(outcome.code, Code::Malformed | Code::NotFound | Code::Expired | Code::Revoked | Code::Disabled)
            && let Some(slow) = failed_auth(&state, forwarded_client(&req).as_deref())
        {
            return Ok(slow);
        }
        tracing::info!(reason = outcome.code.as_str(), "forward auth refused");
        return Ok(refusal(&outcome));
    };
    let mut res = axum::http::StatusCode::OK.into_response();
    let h = res.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set("x-latchkey-org-id", &key.org_id);
    set("x-latchkey-key-id", &key.id);
    set("x-latchkey-environment", key.environment.as_str());
    if let Some(p) = &key.project_id {
        set("x-latchkey-project-id", p);
    }
    if let Some(u) = &key.owner_user_id {
        set("x-latchkey-user-id", u);
    }
    if let Some(d) = &outcome.ratelimit {
        ratelimit_headers(h, d);
    }
    Ok(res)
}
