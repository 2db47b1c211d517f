//! The verification endpoints: `POST /v1/keys/verify` for the platform's
//! services, `GET /v1/auth/check` for reverse proxies.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey_api_types::{Data, ErrorEnvelope, RateLimitView, VerifyKey, VerifyView};
use latchkey_core::forward_path::AmbiguousPath;
use latchkey_core::time_fmt::{Millis, now_ms, to_rfc3339};
use latchkey_core::{IssuedKey, KeyState, Scope, ScopeSet};
use latchkey_verify::{CachedKey, Checks, Grant, Outcome};
use serde::Serialize;

use crate::auth::{Caller, client_ip, failed_auth, presented_credential, ratelimit_headers, refusal};
use crate::authz::{AuthCheck, KEYS_VERIFY};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::keys::{client_address, required_scopes};
use crate::state::AppState;

/// A key's grant in a verify answer: the fields from `orgId` to
/// `ownerUserId` of [`latchkey_api_types::VerifyView`] (a test holds the
/// answer equal to the view). They depend only on the grant, which the
/// keys of one owner share, so each grant renders them once
/// ([`Grant::identity_json`]).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GrantIdentity<'a> {
    org_id: &'a str,
    project_id: Option<&'a str>,
    environment: &'static str,
    scopes: &'a ScopeSet,
    owner_user_id: Option<&'a str>,
}

/// The identity fields of an answer without a key (malformed or unknown).
const NO_IDENTITY: &str = r#""keyId":null,"orgId":null,"projectId":null,"environment":null,"scopes":null,"ownerUserId":null,"expiresAt":null"#;

/// `grant`'s identity fields, rendered once per grant.
fn grant_identity(grant: &Grant) -> &str {
    grant.identity_json(|g| {
        let fields = GrantIdentity {
            org_id: &g.org_id,
            project_id: g.project_id.as_deref(),
            environment: g.environment.as_str(),
            scopes: &g.scopes,
            owner_user_id: g.owner_user_id.as_deref(),
        };
        // Strings and options into a String: serde_json has no error to
        // report here. Should it ever, the answer stays valid JSON.
        let object = serde_json::to_string(&fields).unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not render a key's identity");
            r#"{"orgId":null,"projectId":null,"environment":null,"scopes":null,"ownerUserId":null}"#.to_owned()
        });
        object.strip_prefix('{').and_then(|o| o.strip_suffix('}')).unwrap_or_default().into()
    })
}

/// Writes `key`'s identity fields (`"keyId":…` to `"expiresAt":…`): its
/// id, its grant's fields ([`grant_identity`]) and its expiry.
fn write_identity(body: &mut Vec<u8>, key: &CachedKey) -> Result<(), ApiError> {
    body.extend_from_slice(br#""keyId":"#);
    serde_json::to_writer(&mut *body, key.id()).map_err(|e| ApiError::internal(&e))?;
    body.push(b',');
    body.extend_from_slice(grant_identity(key.grant()).as_bytes());
    body.extend_from_slice(br#","expiresAt":"#);
    serde_json::to_writer(&mut *body, &key.expires_at().map(to_rfc3339)).map_err(|e| ApiError::internal(&e))?;
    Ok(())
}

/// The verify answer `{"data": VerifyView}` for `o`: the static parts
/// copied, the key's identity from its compact record ([`write_identity`]),
/// the rest serialized.
fn answer(o: &Outcome) -> Result<Response, ApiError> {
    let mut body = Vec::with_capacity(384);
    body.extend_from_slice(br#"{"data":{"valid":"#);
    body.extend_from_slice(if o.code == KeyState::Valid { b"true" } else { b"false" });
    body.extend_from_slice(br#","code":""#);
    body.extend_from_slice(o.code.as_str().as_bytes());
    body.extend_from_slice(b"\",");
    match o.key.as_deref() {
        Some(key) => write_identity(&mut body, key)?,
        None => body.extend_from_slice(NO_IDENTITY.as_bytes()),
    }
    body.extend_from_slice(br#","ratelimit":"#);
    let ratelimit =
        o.ratelimit.map(|d| RateLimitView { limit: d.limit, remaining: d.remaining, reset: d.reset_secs() });
    serde_json::to_writer(&mut body, &ratelimit).map_err(|e| ApiError::internal(&e))?;
    body.extend_from_slice(br#","remaining":"#);
    serde_json::to_writer(&mut body, &o.remaining).map_err(|e| ApiError::internal(&e))?;
    body.extend_from_slice(b"}}");
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// Who may call [`auth_check`]: a key, the forwarded request's; checked by
/// the verifier itself, with the scope the request or the route map names.
const AUTH_CHECK: AuthCheck = AuthCheck::key_only();

/// Who may call [`verify`].
const VERIFY: AuthCheck = AuthCheck::any().scope(KEYS_VERIFY);

/// `POST /v1/keys/verify` `{key, scopes?, projectId?, cost?, ip?}`: always 200
/// with a verdict. `ip` is the client's address as the platform saw it; a
/// key bound to networks (its own or its organization policy's) is
/// `IP_NOT_ALLOWED` outside them, and without `ip`. The caller needs `keys:verify` and only finds keys of its
/// own organization.
///
/// The hottest route, so it authenticates its caller itself
/// ([`crate::auth::resolve`], what the middleware of the other routes runs)
/// and writes its answer without an intermediate view.
#[utoipa::path(
    post,
    path = "/v1/keys/verify",
    operation_id = "verifyKey",
    tag = "verify",
    request_body = VerifyKey,
    responses((status = 200, description = "The verdict (always 200 for a caller allowed to verify: `valid` and `code` say whether the key may be used)", body = Data<VerifyView>), (status = 400, description = "`invalid_request` or `invalid_scopes`: the body, a required scope or `cost` is invalid", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(VERIFY)))
)]
pub async fn verify(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // One clock reading for the caller's key and the verified one.
    let now = now_ms();
    let (caller, caller_limit) = match crate::auth::resolve(&state, &parts, now).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let mut res = match verify_for(&state, &caller, Request::from_parts(parts, body), now).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    };
    // The caller's own window wins the headers, as on every other route.
    if let Some(d) = &caller_limit {
        ratelimit_headers(res.headers_mut(), d);
    }
    res
}

async fn verify_for(state: &AppState, caller: &Caller, req: Request, now: Millis) -> Result<Response, ApiError> {
    VERIFY.check(caller)?;
    let JsonBody(req) = JsonBody::<VerifyKey>::from_request(req, state).await?;
    let scopes = required_scopes(&req.scopes)?;
    let cost = req.cost.unwrap_or(1);
    if !(0..=1_000_000).contains(&cost) {
        return Err(ApiError::bad_request("cost must be between 0 and 1000000"));
    }
    let ip = client_address(req.ip.as_deref())?;
    let checks =
        Checks { org_id: Some(&caller.org_id), scopes: &scopes, project_id: req.project_id.as_deref(), cost, ip };
    let outcome = state.verifier.check(&req.key, &checks, now).await?;
    let mut res = answer(&outcome)?;
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

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The headers forward auth reads (documentation of both methods of
/// `/v1/auth/check`; [`auth_check`] reads them from the request itself).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(dead_code, reason = "a documentation type: the handler reads the request itself")]
struct ForwardedRequest {
    /// A scope the forwarded key must hold
    #[param(rename = "x-latchkey-scope")]
    scope: Option<String>,
    /// The forwarded request's method (Traefik, Caddy), for the route map
    #[param(rename = "x-forwarded-method")]
    forwarded_method: Option<String>,
    /// The forwarded request's path and query
    #[param(rename = "x-forwarded-uri")]
    forwarded_uri: Option<String>,
    /// nginx `auth_request`: the original method
    #[param(rename = "x-original-method")]
    original_method: Option<String>,
    /// nginx `auth_request`: the original URI
    #[param(rename = "x-original-uri")]
    original_uri: Option<String>,
}

/// What forward auth answers (both methods of `/v1/auth/check`).
#[derive(utoipa::IntoResponses)]
#[expect(dead_code, reason = "a documentation type: the handler reads the request itself")]
enum ForwardAuthAnswers {
    /// The key may pass: identity in `X-Latchkey-Org-Id`, `X-Latchkey-Key-Id`, `X-Latchkey-Environment`, `X-Latchkey-Project-Id`, `X-Latchkey-User-Id`
    #[response(status = 200)]
    Pass,
    /// `invalid_scopes`: `X-Latchkey-Scope` is not a scope
    #[response(status = 400)]
    InvalidScopes(ErrorEnvelope),
    /// `insufficient_scope` (the key lacks the required scope), `ip_not_allowed` (the client is outside the key's networks) or `ambiguous_path` (the forwarded path reads two ways)
    #[response(status = 403)]
    Refused(ErrorEnvelope),
}

/// `GET /v1/auth/check`: forward auth for nginx `auth_request`, Traefik
/// ForwardAuth, Caddy `forward_auth` and Envoy ext_authz (HTTP). The key
/// comes from the forwarded request's `X-API-Key` or `Authorization:
/// Bearer`; the required scope from `X-Latchkey-Scope`, or from the route map
/// matched against `X-Forwarded-Method`/`X-Forwarded-Uri` (or nginx's
/// `X-Original-Method`/`X-Original-URI`). 200 with identity headers, or
/// 401/403/429 with the error envelope.
#[utoipa::path(
    get,
    path = "/v1/auth/check",
    operation_id = "checkForwardedRequest",
    tag = "verify",
    params(ForwardedRequest),
    responses(ForwardAuthAnswers),
    extensions(("x-latchkey-auth" = json!(AUTH_CHECK)))
)]
pub async fn auth_check(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let headers = &parts.headers;
    // Every source of a requirement adds to it, none replaces another: a
    // client that smuggles its own header past the proxy can only ask for
    // more.
    let mut scopes: Vec<Scope> = Vec::new();
    if let Some(s) = header(headers, "x-latchkey-scope") {
        scopes.push(Scope::parse(s.trim()).ok_or_else(|| ApiError::invalid_scopes(&[s.to_owned()]))?);
    }
    for (m, u) in [("x-forwarded-method", "x-forwarded-uri"), ("x-original-method", "x-original-uri")] {
        let (Some(method), Some(uri)) = (headers.get(m), headers.get(u)) else { continue };
        // A URI that is not visible ASCII is as ambiguous as any (routers
        // decode it their own way): refused, not skipped.
        let (Ok(method), Ok(uri)) = (method.to_str(), uri.to_str()) else {
            return Ok(ambiguous(AmbiguousPath::InvalidCharacter));
        };
        match state.settings.route_scope(method, uri) {
            Ok(Some(scope)) => scopes.push(scope.clone()),
            Ok(None) => {}
            Err(why) => return Ok(ambiguous(why)),
        }
    }
    let presented = presented_credential(headers).unwrap_or_default();
    // The client as the proxy saw it: `X-Forwarded-For` / `X-Real-IP` only
    // from a trusted proxy, else the peer ([`client_ip`]).
    let checks =
        Checks { org_id: None, scopes: &scopes, project_id: None, cost: 1, ip: client_ip(&parts, &state.settings) };
    let outcome = state.verifier.check(presented, &checks, now_ms()).await?;
    let Some(key) = outcome.key.as_deref().filter(|_| outcome.code == KeyState::Valid) else {
        if matches!(
            outcome.code,
            KeyState::Malformed | KeyState::NotFound | KeyState::Expired | KeyState::Revoked | KeyState::Disabled
        ) && let Some(slow) = failed_auth(&state, client_ip(&parts, &state.settings))
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
    set("x-latchkey-org-id", key.org_id());
    set("x-latchkey-key-id", key.id());
    set("x-latchkey-environment", key.environment().as_str());
    if let Some(p) = key.project_id() {
        set("x-latchkey-project-id", p);
    }
    if let Some(u) = key.owner_user_id() {
        set("x-latchkey-user-id", u);
    }
    if let Some(d) = &outcome.ratelimit {
        ratelimit_headers(h, d);
    }
    Ok(res)
}

#[utoipa::path(
    post,
    path = "/v1/auth/check",
    operation_id = "checkForwardedRequestPost",
    tag = "verify",
    params(ForwardedRequest),
    responses(ForwardAuthAnswers),
    extensions(("x-latchkey-auth" = json!(AUTH_CHECK)))
)]
/// `POST /v1/auth/check`: [`auth_check`], for proxies that forward the
/// request's own method.
pub async fn auth_check_post(state: State<AppState>, req: Request) -> Result<Response, ApiError> {
    auth_check(state, req).await
}

/// 403 `ambiguous_path` for a forwarded path the route map refuses to read.
fn ambiguous(why: AmbiguousPath) -> Response {
    tracing::info!(reason = why.describe(), "forward auth refused an ambiguous path");
    ApiError::new(axum::http::StatusCode::FORBIDDEN, "ambiguous_path", format!("forwarded path refused: {why}"))
        .into_response()
}

#[cfg(test)]
mod tests {
    use latchkey_store::ApiKeyRecord;

    use super::*;

    fn record(project: Option<&str>, expires_at: Option<i64>) -> ApiKeyRecord {
        ApiKeyRecord {
            id: "key_01".into(),
            org_id: "org_01".into(),
            project_id: project.map(Into::into),
            name: "n".into(),
            hash: latchkey_core::KeyHash::of("lk_test_x"),
            key_prefix: latchkey_core::DisplayPrefix::parse("lk_test_abcd").unwrap(),
            key_hint: "wxyz".into(),
            environment: latchkey_core::Environment::Test,
            kind: latchkey_store::KeyKind::Standard,
            scopes: ScopeSet::from_scopes(["sandbox:*", "keys:verify"].map(|t| Scope::parse(t).unwrap())),
            owner_user_id: Some("usr_\"quoted\"".into()),
            owner_email: None,
            owner_display_name: None,
            owner_role: None,
            created_by_user_id: None,
            created_by_key_id: None,
            rate_limit_per_minute: None,
            rate_limit_per_day: None,
            expires_at,
            remaining: None,
            refill: None,
            created_at: 0,
            updated_at: 0,
            last_used_at: None,
            revoked_at: None,
            leaked_at: None,
            rotated_from: None,
            rotated_to: None,
            surface_id: None,
            allowed_cidrs: None,
            policy_cidrs: None,
            external_id: None,
            until_unused: None,
        }
    }

    /// The answer's bytes are exactly `{"data": VerifyView}` serialized, for
    /// a key with every field set, one with none, no key, a rate-limit
    /// window and a credit balance; and a grant renders its identity once.
    #[test]
    fn answers_are_verify_views() {
        let decision = latchkey_verify::ratelimit::RateDecision {
            allowed: false,
            limit: 10,
            remaining: 0,
            reset_ms: 4_500,
            retry_after_ms: 1_000,
        };
        let records = [record(Some("prj_01"), Some(1_700_000_000_123)), record(None, None)];
        let full = std::sync::Arc::new(CachedKey::standalone(&records[0]));
        let bare = std::sync::Arc::new(CachedKey::standalone(&records[1]));
        let outcomes = [
            (Outcome { code: KeyState::Valid, key: Some(full.clone()), ratelimit: None, remaining: Some(7) }, Some(0)),
            (
                Outcome { code: KeyState::RateLimited, key: Some(bare), ratelimit: Some(decision), remaining: None },
                Some(1),
            ),
            (Outcome { code: KeyState::NotFound, key: None, ratelimit: None, remaining: None }, None),
            (Outcome { code: KeyState::Valid, key: Some(full.clone()), ratelimit: None, remaining: None }, Some(0)),
        ];
        for (o, source) in &outcomes {
            let k = source.map(|i| &records[i]);
            let view = VerifyView {
                valid: o.code == KeyState::Valid,
                code: o.code.as_str().to_owned(),
                key_id: k.map(|k| k.id.to_string()),
                org_id: k.map(|k| k.org_id.to_string()),
                project_id: k.and_then(|k| k.project_id.as_ref()).map(ToString::to_string),
                environment: k.map(|k| k.environment.as_str().to_owned()),
                scopes: k.map(|k| k.scopes.to_strings()),
                owner_user_id: k.and_then(|k| k.owner_user_id.as_ref()).map(ToString::to_string),
                expires_at: k.and_then(|k| k.expires_at).map(to_rfc3339),
                ratelimit: o.ratelimit.map(|d| RateLimitView {
                    limit: d.limit,
                    remaining: d.remaining,
                    reset: d.reset_secs(),
                }),
                remaining: o.remaining,
            };
            let res = answer(o).unwrap();
            let body = body_text(res);
            assert_eq!(body, serde_json::to_string(&Data { data: view }).unwrap());
        }
        let rendered = full.grant().identity_json(|_| panic!("rendered again"));
        assert!(rendered.starts_with(r#""orgId":"org_01""#), "{rendered}");
    }

    fn body_text(res: Response) -> String {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(res.into_body(), usize::MAX))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
