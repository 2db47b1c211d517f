//! The device page (`/dashboard/device`): the person's half of
//! `latchkey login --device` (RFC 8628; the device's half is
//! `crate::routes::device`).
//!
//! The signed-in viewer types the user code their terminal shows (or
//! follows the complete URI, which fills it in), sees the pending request
//! (the device's name, the address it asked from and when) and approves or
//! denies it; the device is signed in as the viewer, in the organization
//! they act in. A code that is unknown, expired or already decided is
//! answered 404 and counted against the viewer: past a few a minute, the
//! page refuses to look codes up (429).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_core::time_fmt::{now_ms, to_rfc3339};
use latchkey_store::Decision;
use serde::Deserialize;
use serde_json::json;

use super::cli::through_provider;
use super::page::{Chrome, Problem, render, short_time};
use super::session::{PageQuery, Submitted, Viewer};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::routes::device::{DevicePayload, VERIFICATION_PATH, normalize_user_code, user_code_hash};
use crate::state::AppState;

/// The device page and its forms.
pub fn routes() -> Router<AppState> {
    Router::new().route(VERIFICATION_PATH, get(show).post(look_up)).route("/dashboard/device/decide", post(decide))
}

/// What the page shows.
#[derive(Debug)]
enum DeviceStep {
    /// The form to enter a code (prefilled with `code`).
    Enter { code: String },
    /// A pending request and its Approve / Deny.
    Confirm { code: String, client_name: String, ip: String, requested_at: String },
    /// The decision taken.
    Done { approved: bool },
}

#[derive(Template)]
#[template(path = "dashboard/device.html")]
struct DevicePage {
    chrome: Chrome,
    step: DeviceStep,
    problem: Option<Problem>,
}

async fn page(
    state: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    step: DeviceStep,
    problem: Option<&ApiError>,
) -> Result<Response, ApiError> {
    let chrome = Chrome::load(state, viewer, "").await?;
    let problem = problem.map(|e| Problem::new(e, viewer.request_id.as_deref()));
    Ok(render(status, &DevicePage { chrome, step, problem }))
}

/// The page's query string.
#[derive(Debug, Default, Deserialize)]
struct DeviceParams {
    /// The code, from the complete verification URI.
    user_code: Option<String>,
    /// The identity provider to sign in with first.
    provider: Option<String>,
}

/// `GET /dashboard/device[?user_code=]`: the form to enter a code.
async fn show(
    State(state): State<AppState>,
    parts: Parts,
    viewer: Result<Viewer, Response>,
    PageQuery(q): PageQuery<DeviceParams>,
) -> Result<Response, ApiError> {
    let viewer = match viewer {
        Ok(v) => v,
        Err(refusal) => return through_provider(refusal, q.provider.as_deref(), &parts),
    };
    // Shown as typed, at most a code's worth (never echoed whole).
    let code = q.user_code.unwrap_or_default().chars().filter(char::is_ascii_alphanumeric).take(8).collect::<String>();
    let code = if code.len() == 8 { format!("{}-{}", &code[..4], &code[4..]) } else { code };
    page(&state, &viewer, StatusCode::OK, DeviceStep::Enter { code }, None).await
}

/// The code form's field.
#[derive(Debug, Deserialize)]
struct CodeForm {
    #[serde(default)]
    user_code: String,
}

/// The refusal of a code that names no pending request.
fn no_such_code() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "No pending sign-in has this code: it is mistyped, expired (codes last 10 minutes) or already approved or \
         denied. Check your terminal, or start again there.",
    )
}

/// The wrong-code budget of the viewer, or 429 when it is spent.
fn code_budget(state: &AppState, viewer: &Viewer) -> Result<String, ApiError> {
    let subject = format!("device-code user:{}", viewer.caller.acting_user()?);
    if let Some(wait) = state.login_failures.blocked(&subject, state.settings.login_failures_per_account_and_ip) {
        tracing::warn!("device code refused: too many wrong codes");
        return Err(ApiError::rate_limited("too many wrong codes; wait a minute and try again", wait));
    }
    Ok(subject)
}

/// The pending request with the typed `code`, as the confirmation shows
/// it; a miss is counted against `subject`.
async fn pending(state: &AppState, subject: &str, typed: &str) -> Result<(String, DeviceStep), ApiError> {
    let found = match normalize_user_code(typed) {
        Some(code) => state.store.pending_device(&user_code_hash(&code), now_ms()).await?.map(|r| (code, r)),
        None => None,
    };
    let Some((code, request)) = found else {
        state.login_failures.record(subject);
        return Err(no_such_code());
    };
    let payload: DevicePayload = serde_json::from_str(&request.payload).unwrap_or_default();
    let shown = format!("{}-{}", &code[..4], &code[4..]);
    let step = DeviceStep::Confirm {
        code: shown,
        client_name: payload.client_name.unwrap_or_else(|| "(unnamed)".to_owned()),
        ip: payload.ip.unwrap_or_else(|| "-".to_owned()),
        requested_at: short_time(&to_rfc3339(request.created_at)),
    };
    Ok((code, step))
}

/// `POST /dashboard/device`: the pending request with the typed code.
async fn look_up(State(state): State<AppState>, s: Submitted<CodeForm>) -> Result<Response, ApiError> {
    let subject = code_budget(&state, &s.viewer)?;
    match pending(&state, &subject, &s.form.user_code).await {
        Ok((_, step)) => page(&state, &s.viewer, StatusCode::OK, step, None).await,
        Err(e) if e.status() == StatusCode::NOT_FOUND => refused(&state, &s.viewer, &e).await,
        Err(e) => Err(e),
    }
}

/// The code form again, saying why the code was refused.
async fn refused(state: &AppState, viewer: &Viewer, e: &ApiError) -> Result<Response, ApiError> {
    page(state, viewer, e.status(), DeviceStep::Enter { code: String::new() }, Some(e)).await
}

/// The decision form's fields.
#[derive(Debug, Deserialize)]
struct DecideForm {
    #[serde(default)]
    user_code: String,
    /// `approve` or `deny`.
    #[serde(default)]
    decision: String,
}

/// `POST /dashboard/device/decide`: approves or denies the request,
/// audited as `device.approve` / `device.deny`.
async fn decide(State(state): State<AppState>, audit: Audit, s: Submitted<DecideForm>) -> Result<Response, ApiError> {
    let decision = match s.form.decision.as_str() {
        "approve" => Decision::Approved,
        "deny" => Decision::Denied,
        _ => return Err(ApiError::bad_request("decision must be approve or deny")),
    };
    let subject = code_budget(&state, &s.viewer)?;
    let (code, step) = match pending(&state, &subject, &s.form.user_code).await {
        Ok(found) => found,
        Err(e) if e.status() == StatusCode::NOT_FOUND => return refused(&state, &s.viewer, &e).await,
        Err(e) => return Err(e),
    };
    let caller = &s.viewer.caller;
    let user_id = caller.acting_user()?;
    let (action, approved) = match decision {
        Decision::Approved => ("device.approve", true),
        Decision::Denied => ("device.deny", false),
    };
    let client_name = match &step {
        DeviceStep::Confirm { client_name, .. } => client_name.clone(),
        _ => String::new(),
    };
    let event = audit.event_by(caller, action, Some(("user", user_id)), &json!({"clientName": client_name}));
    let now = now_ms();
    let done =
        state.store.decide_device(&user_code_hash(&code), decision, user_id, Some(&caller.org_id), now, &event).await?;
    if !done {
        // Decided or expired since it was looked up.
        return refused(&state, &s.viewer, &no_such_code()).await;
    }
    tracing::info!(user_id = %user_id, approved, "device sign-in decided");
    page(&state, &s.viewer, StatusCode::OK, DeviceStep::Done { approved }, None).await
}
