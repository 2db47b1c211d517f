//! `POST /v1/auth/cli/token`: the CLI's browser sign-in (OAuth 2.0 for
//! native apps, RFC 8252, with PKCE, RFC 7636).
//!
//! The CLI listens on a loopback port and opens the dashboard's
//! authorization page (`/dashboard/cli/authorize`, [`crate::dashboard`])
//! with its `redirect_uri`, `state` and the S256 `code_challenge` of a
//! verifier it keeps. The signed-in person authorizes it; the page stores a
//! one-time code ([`issue_code`]: only its SHA-256, bound to that person and
//! their current organization, 2 minutes) and redirects the browser to the
//! loopback address with it. The CLI exchanges the code and its verifier
//! here for an ordinary session. Taking the code deletes it, whatever
//! follows: a code is tried once.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_api_types::{CliToken, Data, ErrorEnvelope, SessionGrant};
use latchkey_core::time_fmt::now_ms;
use latchkey_core::{KeyPrefix, PlainKey};
use latchkey_store::{AuthRequest, AuthRequestKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::routes::people::open_session;
use crate::state::AppState;

/// The prefix of a CLI's one-time code. Never change it: codes in flight
/// carry it.
pub(crate) const CODE_PREFIX: &str = "lkc_";

/// How long a code may wait for its exchange.
pub(crate) const CODE_TTL_MS: i64 = 2 * 60 * 1000;

/// `invalid_grant` (400), what every refused exchange answers.
pub(crate) fn invalid_grant(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_grant", message)
}

/// A loopback redirect URI as RFC 8252 §7.3 has it, and nothing looser:
/// `http://127.0.0.1:{port}/callback` or `http://[::1]:{port}/callback`,
/// any port 1–65535 (digits only, no leading zero), no other path, no query,
/// fragment or userinfo, and no `localhost` (which may resolve elsewhere).
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "redirect_uri must be http://127.0.0.1:PORT/callback or http://[::1]:PORT/callback (a loopback address \
             with a port, nothing else)",
        )
    };
    let rest = uri.strip_prefix("http://127.0.0.1:").or_else(|| uri.strip_prefix("http://[::1]:")).ok_or_else(bad)?;
    let port = rest.strip_suffix("/callback").ok_or_else(bad)?;
    let digits_ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u32>() {
        Ok(p) if digits_ok && !port.starts_with('0') && (1..=65535).contains(&p) => Ok(()),
        _ => Err(bad()),
    }
}

/// Whether `s` is 43–128 characters of `[A-Za-z0-9-._~]` (a PKCE code
/// verifier's or S256 challenge's alphabet).
fn pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The PKCE challenge of the authorization request: S256 only.
pub(crate) fn check_challenge(challenge: &str, method: &str) -> Result<(), ApiError> {
    if method != "S256" {
        return Err(ApiError::bad_request("code_challenge_method must be S256"));
    }
    if !pkce_text(challenge) {
        return Err(ApiError::bad_request("code_challenge must be 43–128 characters of A-Z a-z 0-9 - . _ ~"));
    }
    Ok(())
}

/// The client's `state`: 1–512 visible ASCII characters.
pub(crate) fn check_state(state: &str) -> Result<(), ApiError> {
    if state.is_empty() || state.len() > 512 || !state.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request("state must be 1–512 visible ASCII characters"));
    }
    Ok(())
}

/// What a CLI code keeps besides its owner: where it was sent, and the
/// challenge its verifier must meet.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CodePayload {
    redirect_uri: String,
    code_challenge: String,
}

/// Stores a one-time code for the person behind `caller` (a dashboard
/// session), acting in the caller's organization, for the checked
/// `redirect_uri` and `code_challenge`, and audits `cli.authorize` (without
/// the code). Returns the code, for the redirect.
pub(crate) async fn issue_code(
    state: &AppState,
    caller: &Caller,
    audit: &Audit,
    redirect_uri: &str,
    code_challenge: &str,
) -> Result<String, ApiError> {
    let user_id = caller.acting_user()?;
    let prefix = KeyPrefix::new(CODE_PREFIX).map_err(|e| ApiError::internal(&e))?;
    let code = PlainKey::generate(&prefix);
    let payload = CodePayload { redirect_uri: redirect_uri.to_owned(), code_challenge: code_challenge.to_owned() };
    let now = now_ms();
    let request = AuthRequest {
        hash: code.hash(),
        kind: AuthRequestKind::CliCode,
        user_code_hash: None,
        payload: serde_json::to_string(&payload).map_err(|e| ApiError::internal(&e))?,
        user_id: Some(user_id.clone()),
        org_id: Some(caller.org_id.clone()),
        decision: None,
        polled_at: None,
        prev_polled_at: None,
        created_at: now,
        expires_at: now + CODE_TTL_MS,
    };
    state.store.insert_auth_request(&request).await?;
    audit.by(state, caller, "cli.authorize", Some(("user", user_id)), json!({"redirectUri": redirect_uri})).await;
    Ok(code.expose().to_owned())
}

/// `BASE64URL(SHA256(verifier))`, RFC 7636's S256.
fn s256(verifier: &str) -> String {
    Base64UrlUnpadded::encode_string(&Sha256::digest(verifier.as_bytes()))
}

/// Who may call [`token`]: anyone holding a code (the code is the
/// credential; whatever else the request carries is ignored).
const TOKEN: AuthCheck = AuthCheck::public();

/// `POST /v1/auth/cli/token` `{code, codeVerifier, redirectUri}`: the
/// session of the person who authorized the CLI.
#[utoipa::path(
    post,
    path = "/v1/auth/cli/token",
    operation_id = "exchangeCliCode",
    tag = "people",
    request_body = CliToken,
    responses((status = 200, description = "A session token (shown once) for the person who authorized the CLI, acting in the organization they were in", body = Data<SessionGrant>), (status = 400, description = "`invalid_grant`: the code is unknown, used or expired, or the verifier or redirect URI does not match it (the code is spent either way)", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(TOKEN)))
)]
pub async fn token(
    State(state): State<AppState>,
    audit: Audit,
    parts: Parts,
    JsonBody(req): JsonBody<CliToken>,
) -> Result<Json<Data<SessionGrant>>, ApiError> {
    let grant = exchange(&state, &audit, &parts.headers, &req).await.inspect_err(|e| {
        tracing::info!(reason = e.message(), "CLI code refused");
    })?;
    Ok(Json(Data { data: grant }))
}

async fn exchange(
    state: &AppState,
    audit: &Audit,
    headers: &HeaderMap,
    req: &CliToken,
) -> Result<SessionGrant, ApiError> {
    const UNKNOWN: &str = "the code is unknown, used or expired; sign in again";
    let hash = match PlainKey::hash_presented(&req.code) {
        Ok(h) if req.code.starts_with(CODE_PREFIX) => h,
        _ => return Err(invalid_grant(UNKNOWN)),
    };
    // Taken first: a wrong verifier or redirect URI spends the code too.
    let taken = state.store.take_auth_request(AuthRequestKind::CliCode, &hash, now_ms()).await?;
    let request = taken.ok_or_else(|| invalid_grant(UNKNOWN))?;
    let payload: CodePayload = serde_json::from_str(&request.payload).map_err(|e| ApiError::internal(&e))?;
    if !bool::from(req.redirect_uri.as_bytes().ct_eq(payload.redirect_uri.as_bytes())) {
        return Err(invalid_grant("redirectUri is not the one the code was issued for; sign in again"));
    }
    if !pkce_text(&req.code_verifier) {
        return Err(invalid_grant("codeVerifier must be 43–128 characters of A-Z a-z 0-9 - . _ ~; sign in again"));
    }
    if !bool::from(s256(&req.code_verifier).as_bytes().ct_eq(payload.code_challenge.as_bytes())) {
        return Err(invalid_grant("codeVerifier does not match the code's challenge; sign in again"));
    }
    let user_id = request.user_id.ok_or_else(|| invalid_grant(UNKNOWN))?;
    let user = state.store.get_user(&user_id).await?.ok_or_else(|| invalid_grant(UNKNOWN))?;
    open_session(state, audit, headers, &user, request.org_id, "cli").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_callbacks_with_a_port_are_redirect_uris() {
        for ok in ["http://127.0.0.1:1/callback", "http://127.0.0.1:65535/callback", "http://[::1]:8080/callback"] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://localhost:8080/callback",
            "https://127.0.0.1:8080/callback",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:08080/callback",
            "http://127.0.0.1:+80/callback",
            "http://127.0.0.1:8080/callback/",
            "http://127.0.0.1:8080/other",
            "http://127.0.0.1:8080/callback?x=1",
            "http://127.0.0.1:8080/callback#x",
            "http://user@127.0.0.1:8080/callback",
            "http://127.0.0.1:8080@evil.example/callback",
            "http://127.0.0.2:8080/callback",
            "http://[::2]:8080/callback",
            "http://evil.example/http://127.0.0.1:8080/callback",
            "",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn challenges_are_s256_of_the_pkce_alphabet() {
        let ok = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(check_challenge(ok, "S256").is_ok());
        assert!(check_challenge(ok, "plain").is_err());
        assert!(check_challenge(&ok[..42], "S256").is_err());
        assert!(check_challenge(&"a".repeat(129), "S256").is_err());
        assert!(check_challenge(&format!("{}+", &ok[..42]), "S256").is_err());
        // RFC 7636 appendix B.
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), ok);
    }

    #[test]
    fn states_are_short_visible_ascii() {
        assert!(check_state("abc-._~!").is_ok());
        assert!(check_state(&"x".repeat(512)).is_ok());
        for bad in [String::new(), "x".repeat(513), "a b".to_owned(), "é".to_owned(), "a\nb".to_owned()] {
            assert!(check_state(&bad).is_err(), "{bad:?}");
        }
    }
}
