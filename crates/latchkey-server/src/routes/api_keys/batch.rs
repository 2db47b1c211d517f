//! `POST /v1/api-keys/batch`: many keys in one request, all or nothing.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_api_types::{ApiKeyView, CreateApiKeys, ErrorEnvelope, MAX_BATCH_KEYS, SHOWN_ONCE, Shown};
use latchkey_core::time_fmt::now_ms;

use super::{CREATE, Minted, prepare, shown};
use crate::audit::Audit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::BatchJsonBody;
use crate::keys::{key_policy, store_all_minted};
use crate::state::AppState;

/// `POST /v1/api-keys/batch` `{keys: [CreateApiKey, …]}`: 1–1,000 keys, each
/// checked as `POST /v1/api-keys` checks one; one refused item refuses the
/// whole batch (its `index` in the error) and nothing is stored. The keys
/// are stored in one transaction, each with its `api_key.create` audit
/// event, and answered in order, each plaintext shown this once.
#[utoipa::path(
    post,
    path = "/v1/api-keys/batch",
    operation_id = "createApiKeys",
    tag = "api-keys",
    request_body = CreateApiKeys,
    responses((status = 201, description = "The keys in the order asked, each plaintext shown this once", body = Shown<Vec<ApiKeyView>>), (status = 400, description = "`invalid_request` or `invalid_scopes`: no keys or more than 1,000, or an item's field is invalid (`index` names the item)", body = ErrorEnvelope), (status = 403, description = "`insufficient_scope` or `forbidden`: an item grants what the caller may not, or is `owner: org` by a member (`index` names the item)", body = ErrorEnvelope), (status = 404, description = "`not_found`: an item's `projectId` names no project of the caller's organization (`index` names the item)", body = ErrorEnvelope), (status = 413, description = "`payload_too_large`: a body over 1 MiB", body = ErrorEnvelope)),
    extensions(("x-latchkey-auth" = json!(CREATE)))
)]
pub async fn create_batch(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    BatchJsonBody(req): BatchJsonBody<CreateApiKeys>,
) -> Result<(StatusCode, Json<Shown<Vec<ApiKeyView>>>), ApiError> {
    CREATE.check(&caller)?;
    let n = req.keys.len();
    if !(1..=MAX_BATCH_KEYS).contains(&n) {
        return Err(ApiError::bad_request(format!("keys must hold 1 to {MAX_BATCH_KEYS} keys, not {n}")));
    }
    let now = now_ms();
    let mut projects = HashMap::new();
    let policy = key_policy(&state, &caller.org_id).await?;
    let mut minted: Vec<Minted> = Vec::with_capacity(n);
    let mut details = Vec::with_capacity(n);
    for (i, item) in req.keys.iter().enumerate() {
        let (m, d) = prepare(&state, &caller, item, now, &policy, &mut projects).await.map_err(|e| e.at_index(i))?;
        minted.push(m);
        details.push(d);
    }
    let stored = store_all_minted(&state, &caller, &audit, &minted, details).await?;
    let data = stored.iter().zip(&minted).map(|(k, m)| shown(k, &m.plain, now).data).collect();
    Ok((StatusCode::CREATED, Json(Shown { data, message: SHOWN_ONCE.to_owned() })))
}
