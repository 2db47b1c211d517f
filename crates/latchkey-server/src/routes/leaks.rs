//! `POST /v1/leaks`: secret scanners' reports of keys found in public
//! places, in the format GitHub's secret scanning partner program sends to
//! token issuers ([`crate::leaks`] checks the signature and says what a
//! report does to a key).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{FromRequest as _, Request, State};
use axum::response::{IntoResponse as _, Response};
use latchkey_api_types::{ErrorEnvelope, LeakLabel, LeakReportItem, LeakVerdict, MAX_LEAK_REPORT_TOKENS};
use latchkey_core::id::OrgId;
use latchkey_core::time_fmt::{Millis, now_ms};
use latchkey_core::{KeyHash, KeyState};
use latchkey_store::LeakAction;

use crate::audit::{Actor, Audit};
use crate::auth::{client_ip, failed_auth};
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::extract::BatchRawBody;
use crate::leaks::{KEY_ID_HEADER, LeakSigner, SIGNATURE_HEADER, Sighting, check_signature, leak_action, report};
use crate::state::AppState;

/// Who may call [`report_leaks`]: anyone; the body's signature by a
/// configured signer is the authentication.
const REPORT: AuthCheck = AuthCheck::public();

/// `POST /v1/leaks`: a secret scanner's report, a JSON array of `{token,
/// type, url, source}` (1–1,000 items, at most 1 MiB) signed with ECDSA
/// P-256/SHA-256 by a key of `[[leaks.signers]]` (`Github-Public-Key-
/// Identifier` names it, `Github-Public-Key-Signature` holds the base64 DER
/// signature of the raw body). An unsigned or badly signed report is 401
/// and changes nothing. Each token is checked as verify checks a key
/// (format, checksum, lookup by hash): a key of this service is reported
/// leaked (revoked at once, or only flagged when its organization's
/// `leakAction` is `flag`; audited `api_key.leaked` with the URL) and
/// answered `true_positive`, even when it was revoked already (then nothing
/// is revoked again); anything else is `false_positive`. The answer, one
/// label per item in order, is the feedback format GitHub accepts.
#[utoipa::path(
    post,
    path = "/v1/leaks",
    operation_id = "reportLeakedTokens",
    tag = "leaks",
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "The `key_id` of the `[[leaks.signers]]` entry that signed the body"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 DER ECDSA P-256/SHA-256 signature of the raw body")
    ),
    request_body(content = Vec<LeakReportItem>, description = "The tokens found (1–1,000)", content_type = "application/json"),
    responses(
        (status = 200, description = "One label per reported token, in order (`token_hash`: SHA-256 of the token, lowercase hex)", body = Vec<LeakLabel>),
        (status = 400, description = "`invalid_request`: not a JSON array of `{token, type, url?, source?}`, or no tokens or more than 1,000", body = ErrorEnvelope),
        (status = 401, description = "`unauthorized`: no signature, an unknown key id, or a signature that does not match the body; nothing is done", body = ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: a body over 1 MiB", body = ErrorEnvelope),
        (status = 429, description = "`rate_limited`: too many refused reports from this address (`Retry-After`)", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(REPORT)))
)]
pub async fn report_leaks(State(state): State<AppState>, audit: Audit, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ip = client_ip(&parts, &state.settings);
    let header = |name: &str| parts.headers.get(name).map(|v| v.as_bytes().to_vec());
    let (key_id, signature) = (header(KEY_ID_HEADER), header(SIGNATURE_HEADER));
    let body = match BatchRawBody::from_request(Request::from_parts(parts, body), &state).await {
        Ok(BatchRawBody(body)) => body,
        Err(e) => return e.into_response(),
    };
    let signer = match check_signature(&state.settings.leak_signers, key_id.as_deref(), signature.as_deref(), &body) {
        Ok(signer) => signer,
        Err(refusal) => {
            tracing::info!(reason = refusal.reason(), "leak report refused");
            return failed_auth(&state, ip).unwrap_or_else(|| ApiError::unauthorized().into_response());
        }
    };
    match labels(&state, &audit, signer, &body).await {
        Ok(labels) => Json(labels).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The answer to a signed report `body` by `signer`, after acting on it.
async fn labels(state: &AppState, audit: &Audit, signer: &LeakSigner, body: &[u8]) -> Result<Vec<LeakLabel>, ApiError> {
    let items: Vec<LeakReportItem> = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the report must be a JSON array of {{token, type, url, source}}: {e}"))
    })?;
    if !(1..=MAX_LEAK_REPORT_TOKENS).contains(&items.len()) {
        return Err(ApiError::bad_request(format!(
            "a report holds 1 to {MAX_LEAK_REPORT_TOKENS} tokens, not {}",
            items.len()
        )));
    }
    let now = now_ms();
    let actor = Actor { kind: "scanner", id: Some(signer.key_id()) };
    let mut judged: HashMap<String, LeakVerdict> = HashMap::new();
    let mut actions: HashMap<OrgId, LeakAction> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    let (mut found, mut revoked) = (0_usize, 0_usize);
    for item in &items {
        let token_hash = hex::encode(KeyHash::of(&item.token).as_bytes());
        let label = match judged.get(&token_hash) {
            Some(label) => *label,
            None => {
                let label = match judge(state, audit, actor, item, &mut actions, now).await? {
                    Some(now_revoked) => {
                        found += 1;
                        revoked += usize::from(now_revoked);
                        LeakVerdict::TruePositive
                    }
                    None => LeakVerdict::FalsePositive,
                };
                judged.insert(token_hash.clone(), label);
                label
            }
        };
        out.push(LeakLabel { token_hash, token_type: item.token_type.clone(), label });
    }
    tracing::info!(signer = signer.key_id(), tokens = items.len(), found, revoked, "leak report taken");
    Ok(out)
}

/// Acts on one reported token: `None` if it is no key of this service (a
/// false positive), else whether the key is revoked after the report.
async fn judge(
    state: &AppState,
    audit: &Audit,
    actor: Actor<'_>,
    item: &LeakReportItem,
    actions: &mut HashMap<OrgId, LeakAction>,
    now: Millis,
) -> Result<Option<bool>, ApiError> {
    let identified = state.verifier.verify(&item.token, now).await?;
    let Some(key) = identified.key else {
        return Ok(None);
    };
    let org_id = key.org_id().clone();
    let action = match actions.get(&org_id) {
        Some(action) => *action,
        None => {
            let action = leak_action(state, &org_id).await?;
            actions.insert(org_id.clone(), action);
            action
        }
    };
    let seen = Sighting { url: &item.url, source: &item.source };
    let already = identified.code == KeyState::Revoked;
    // `None` when deleted since it was looked up: no longer a key of this
    // service.
    let reported = report(state, audit, actor, &org_id, &key.key_id(), seen, action, already, now).await?;
    Ok(reported.map(|k| k.revoked_at.is_some_and(|at| at <= now)))
}
