//! `POST /v1/api-keys/{id}/report-leak`: an admin reports a key leaked by
//! hand, with the effect of a secret scanner's report ([`crate::leaks`]).

use axum::Json;
use axum::extract::{Path, State};
use latchkey_api_types::{ApiKeyView, Data, ErrorEnvelope, ReportLeak};
use latchkey_core::id::KeyId;
use latchkey_core::time_fmt::now_ms;

use super::{find, view};
use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::extract::OptionalJson;
use crate::leaks::{MAX_URL, Sighting, leak_action, report};
use crate::state::AppState;

/// Who may call [`report_leak`]: admins (a member's key is theirs to revoke,
/// but what a leak does is the organization's decision).
pub(crate) const REPORT_LEAK: AuthCheck =
    AuthCheck::key_managers().admin_because("reporting a key leaked needs the admin role");

/// `POST /v1/api-keys/{id}/report-leak` `{url?}`: the key was found where
/// it should not be. As a secret scanner's report does: `leakedAt` is set
/// (the first report's time) and the key is revoked at once, unless the
/// organization's `leakAction` is `flag`; audited `api_key.leaked` with the
/// URL. Reporting a revoked key again revokes nothing more.
#[utoipa::path(
    post,
    path = "/v1/api-keys/{id}/report-leak",
    operation_id = "reportApiKeyLeak",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key (`key_…`)")),
    request_body = Option<ReportLeak>,
    responses((status = 200, description = "The key after the report (`leakedAt`, and `revokedAt` unless the organization only flags leaks)", body = Data<ApiKeyView>), (status = 400, description = "`invalid_request`: `url` is not an http(s) URL of at most 2,048 characters", body = ErrorEnvelope), (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope), (status = 404, description = "`not_found`: no such key in the caller's organization", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(REPORT_LEAK)))
)]
pub async fn report_leak(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Path(id): Path<KeyId>,
    OptionalJson(req): OptionalJson<ReportLeak>,
) -> Result<Json<Data<ApiKeyView>>, ApiError> {
    REPORT_LEAK.check(&caller)?;
    let url = req.url.as_deref().map(check_url).transpose()?.unwrap_or_default();
    let key = find(&state, &caller, &id).await?;
    let now = now_ms();
    let action = leak_action(&state, &caller.org_id).await?;
    let already = key.revoked_at.is_some_and(|at| at <= now);
    let seen = Sighting { url, source: "manual" };
    let reported = report(&state, &audit, (&caller).into(), &caller.org_id, &key.id, seen, action, already, now)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    Ok(Json(Data { data: view(&reported, now) }))
}

/// A reported URL: `http(s)://…`, at most [`MAX_URL`] characters.
fn check_url(url: &str) -> Result<&str, ApiError> {
    let ok = url.chars().count() <= MAX_URL
        && url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if ok { Ok(url) } else { Err(ApiError::bad_request("url must be an http(s) URL of at most 2048 characters")) }
}
