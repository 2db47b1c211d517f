//! `/v1/auth/device/code` and `/v1/auth/device/token`: the device
//! authorization grant (RFC 8628), for a CLI on a machine without a browser.
//!
//! The device asks for a pair of codes: a device code (its secret, `lkd_…`)
//! and a short user code (`BCDF-GHJK`, 8 letters without vowels) that the
//! person types on the dashboard's device page, signed in, and approves or
//! denies there. Both are stored as SHA-256 only (the user code normalized:
//! uppercase, without `-` and spaces). Meanwhile the device polls with its
//! device code: `authorization_pending`, `slow_down` (polled again within
//! [`INTERVAL_SECS`]), `access_denied`, `expired_token`, or once approved the
//! approver's session, handed out exactly once. Codes are handed out per
//! client address as sign-ups are (an hour's window).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use latchkey_api_types::{Data, DeviceCode, DeviceCodeRequest, DeviceToken, ErrorEnvelope, SessionGrant};
use latchkey_core::time_fmt::now_ms;
use latchkey_core::{KeyHash, KeyPrefix, PlainKey};
use latchkey_store::{AuthRequest, AuthRequestKind, Decision};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Actor, Audit};
use crate::auth::client_subject;
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJson, check_name, public_origin};
use crate::routes::cli_login::invalid_grant;
use crate::routes::people::{new_session, session_grant};
use crate::state::AppState;

/// The prefix of a device code. Never change it: codes in flight carry it.
const DEVICE_CODE_PREFIX: &str = "lkd_";

/// The letters of a user code: no vowels (no words), none that look alike.
pub(crate) const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Letters in a user code (20^8 ≈ 2.6 × 10^10 codes).
const USER_CODE_LEN: usize = 8;

/// How long a device authorization lasts.
pub(crate) const EXPIRES_IN_SECS: u64 = 600;

/// The least time between two polls.
pub(crate) const INTERVAL_SECS: u64 = 5;

/// The dashboard page where people enter a user code.
pub(crate) const VERIFICATION_PATH: &str = "/dashboard/device";

/// What a device authorization keeps for the person deciding on it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DevicePayload {
    /// The name the device gave.
    pub client_name: Option<String>,
    /// The address it asked from.
    pub ip: Option<String>,
}

/// A fresh user code, as shown: `XXXX-XXXX`.
fn new_user_code() -> Result<String, ApiError> {
    let mut letters = String::with_capacity(USER_CODE_LEN + 1);
    let mut buf = [0u8; 32];
    while letters.len() < USER_CODE_LEN + 1 {
        getrandom::fill(&mut buf).map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
        // Rejection sampling: 240 = 12 × 20, so `b % 20` is uniform.
        for &b in buf.iter().filter(|&&b| b < 240) {
            if letters.len() == USER_CODE_LEN / 2 {
                letters.push('-');
            }
            if letters.len() < USER_CODE_LEN + 1 {
                letters.push(char::from(USER_CODE_ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    Ok(letters)
}

/// A typed user code as stored: uppercase, without `-` and whitespace;
/// `None` unless that leaves 8 letters of [`USER_CODE_ALPHABET`].
pub(crate) fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    let ok = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    ok.then_some(code)
}

/// The stored hash of a normalized user code.
pub(crate) fn user_code_hash(normalized: &str) -> KeyHash {
    KeyHash::of(normalized)
}

/// Who may call [`code`].
const CODE: AuthCheck = AuthCheck::public();

/// `POST /v1/auth/device/code` `{clientName?}`: a device code and the user
/// code a person approves it with.
#[utoipa::path(
    post,
    path = "/v1/auth/device/code",
    operation_id = "startDeviceAuthorization",
    tag = "people",
    request_body(content = DeviceCodeRequest, description = "Optional: the device's name"),
    responses((status = 200, description = "The device code (poll `/v1/auth/device/token` with it) and the user code to enter on the verification page", body = Data<DeviceCode>), (status = 429, description = "`rate_limited`: too many device authorizations from this address (`Retry-After`)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CODE)))
)]
pub async fn code(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    OptionalJson(req): OptionalJson<DeviceCodeRequest>,
) -> Result<Json<Data<DeviceCode>>, ApiError> {
    let address = format!("device ip:{}", client_subject(&parts, &state.settings).as_deref().unwrap_or("-"));
    if let Some(wait) = state.signups.blocked(&address, state.settings.signups_per_hour_per_ip) {
        tracing::warn!("device authorization refused: too many from this address");
        return Err(ApiError::rate_limited("too many device sign-ins from this address; try again later", wait));
    }
    let client_name = req.client_name.as_deref().map(check_name).transpose().map_err(|e| e.prefixed("clientName"))?;
    state.signups.record(&address);
    let prefix = KeyPrefix::new(DEVICE_CODE_PREFIX).map_err(|e| ApiError::internal(&e))?;
    let device_code = PlainKey::generate(&prefix);
    let user_code = new_user_code()?;
    let normalized = normalize_user_code(&user_code).ok_or_else(|| ApiError::bad_request("user code"))?;
    let now = now_ms();
    let payload = DevicePayload { client_name, ip: audit.ip.clone() };
    let request = AuthRequest {
        hash: device_code.hash(),
        kind: AuthRequestKind::Device,
        user_code_hash: Some(user_code_hash(&normalized)),
        payload: serde_json::to_string(&payload).map_err(|e| ApiError::internal(&e))?,
        user_id: None,
        org_id: None,
        decision: None,
        polled_at: None,
        prev_polled_at: None,
        created_at: now,
        expires_at: now + i64::try_from(EXPIRES_IN_SECS * 1000).unwrap_or(i64::MAX),
    };
    state.store.insert_auth_request(&request).await?;
    let verification_uri = format!("{}{VERIFICATION_PATH}", public_origin(&parts, &state.settings));
    Ok(Json(Data {
        data: DeviceCode {
            device_code: device_code.expose().to_owned(),
            verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
            verification_uri,
            user_code,
            expires_in: EXPIRES_IN_SECS,
            interval: INTERVAL_SECS,
        },
    }))
}

fn poll_error(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// Who may call [`token`].
const TOKEN: AuthCheck = AuthCheck::public();

/// `POST /v1/auth/device/token` `{deviceCode}`: the device's poll.
#[utoipa::path(
    post,
    path = "/v1/auth/device/token",
    operation_id = "pollDeviceAuthorization",
    tag = "people",
    request_body = DeviceToken,
    responses((status = 200, description = "Approved: a session token (shown once) for the person who approved, acting in the organization they were in; handed out once", body = Data<SessionGrant>), (status = 400, description = "`authorization_pending` (no decision yet), `slow_down` (polled again within `interval` seconds: wait 5 s longer), `access_denied` (denied), `expired_token` (expired: start again) or `invalid_grant` (unknown or already used device code)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(TOKEN)))
)]
pub async fn token(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    JsonBody(req): JsonBody<DeviceToken>,
) -> Result<Json<Data<SessionGrant>>, ApiError> {
    const UNKNOWN: &str = "the device code is unknown or was used; start again";
    let hash = match PlainKey::hash_presented(&req.device_code) {
        Ok(h) if req.device_code.starts_with(DEVICE_CODE_PREFIX) => h,
        _ => return Err(invalid_grant(UNKNOWN)),
    };
    let now = now_ms();
    let request = state.store.poll_device(&hash, now).await?.ok_or_else(|| invalid_grant(UNKNOWN))?;
    if request.expires_at <= now {
        state.store.drop_auth_request(&hash).await?;
        return Err(poll_error("expired_token", "the device code expired before it was approved; start again"));
    }
    match request.decision {
        Some(Decision::Denied) => {
            state.store.drop_auth_request(&hash).await?;
            Err(poll_error("access_denied", "the sign-in was denied"))
        }
        Some(Decision::Approved) => {
            let user_id = request.user_id.ok_or_else(|| invalid_grant(UNKNOWN))?;
            let user = state.store.get_user(&user_id).await?.ok_or_else(|| invalid_grant(UNKNOWN))?;
            let (token, session) = new_session(&state, &user.id, request.org_id.clone(), &audit, &parts.headers, now)?;
            let actor = Actor { kind: "user", id: Some(&user.id) };
            let event = audit.event(
                request.org_id.as_ref(),
                actor,
                "session.create",
                Some(("session", &session.id)),
                &json!({"via": "device"}),
            );
            state.store.redeem_device(&hash, &session, &event).await?.ok_or_else(|| invalid_grant(UNKNOWN))?;
            tracing::info!(user_id = %user.id, via = "device", "signed in");
            Ok(Json(Data { data: session_grant(&token, &session, &user) }))
        }
        None => {
            let interval_ms = i64::try_from(INTERVAL_SECS * 1000).unwrap_or(i64::MAX);
            if request.prev_polled_at.is_some_and(|prev| now - prev < interval_ms) {
                Err(poll_error("slow_down", "polled too often; wait 5 seconds longer between polls"))
            } else {
                Err(poll_error("authorization_pending", "waiting for a person to approve the sign-in"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_two_groups_of_four_unambiguous_letters() {
        for _ in 0..200 {
            let code = new_user_code().unwrap();
            assert_eq!(code.len(), 9, "{code}");
            assert_eq!(&code[4..5], "-", "{code}");
            let normalized = normalize_user_code(&code).unwrap();
            assert_eq!(normalized, code.replace('-', ""));
        }
    }

    #[test]
    fn typed_codes_are_normalized_before_hashing() {
        assert_eq!(normalize_user_code("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize_user_code(" BCDF GHJK ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(user_code_hash("BCDFGHJK"), user_code_hash(&normalize_user_code("bc-df gh-jk").unwrap()));
        for bad in ["BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", ""] {
            assert_eq!(normalize_user_code(bad), None, "{bad}");
        }
    }
}
