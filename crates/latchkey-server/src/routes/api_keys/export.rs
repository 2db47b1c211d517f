//! `GET /v1/api-keys/export`: every key of the organization, its metadata
//! and hash (never a plaintext, which latchkey never has), as JSON lines.
//!
//! The lines are streamed: the store is read a page at a time
//! ([`PAGE`] keys, newest first) by a task that hands each page's lines to
//! the response body through a channel of [`IN_FLIGHT`] pages, so memory
//! stays flat whatever the number of keys, and a client that stops reading
//! stops the reads. The first page is read before the answer starts, so
//! that a database that cannot answer is a 503, not a `200` cut short; a
//! failure later ends the body without its last chunk, which HTTP clients
//! report as an error (an export is never silently truncated).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Frame;
use latchkey_api_types::{ErrorEnvelope, ExportedApiKey, HashEncodingView, KeyEnvironment, KeyHashView};
use latchkey_core::HashEncoding;
use latchkey_core::id::OrgId;
use latchkey_core::time_fmt::{Millis, now_ms, to_rfc3339};
use latchkey_core::{Environment, IssuedKey};
use latchkey_store::{ApiKeyRecord, KeyFilter, Page};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// Who may call [`export`]: admins (the hashes of imported keys may be of
/// weak plaintexts), with a session or a key that may manage keys.
pub(crate) const EXPORT: AuthCheck = AuthCheck::key_managers().admin();

/// Keys read from the store at once.
const PAGE: u32 = 500;

/// Pages of lines waiting for the client at most.
const IN_FLIGHT: usize = 2;

/// The media type of JSON lines.
const NDJSON: &str = "application/x-ndjson";

/// `GET /v1/api-keys/export` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// How the hashes are written: `base64url` (default), `base64` or
    /// `hex`.
    #[param(inline)]
    pub encoding: Option<HashEncodingView>,
}

/// `GET /v1/api-keys/export`: every key of the organization (any status),
/// newest first, one JSON object per line: what `POST /v1/api-keys/import`
/// takes (`hash`, `prefix`, `name`, `scopes`, `expiresAt`, `ownerUserId`,
/// `externalId`, `environment`) and this installation's record (`id`,
/// `status`, `imported`, `createdAt`, `revokedAt`, `lastUsedAt`, `projectId`).
/// Audited (`api_key.export`).
#[utoipa::path(
    get,
    path = "/v1/api-keys/export",
    operation_id = "exportApiKeys",
    tag = "api-keys",
    params(ExportQuery),
    responses(
        (status = 200, description = "Every key, one per line, newest first (`application/x-ndjson`, streamed)", body = ExportedApiKey, content_type = "application/x-ndjson"),
        (status = 400, description = "`invalid_request`: an unknown parameter, or an encoding not listed", body = ErrorEnvelope),
        (status = 403, description = "`forbidden`: not an admin", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(EXPORT)))
)]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    EXPORT.check(&caller)?;
    let encoding = match q.encoding.unwrap_or(HashEncodingView::Base64url) {
        HashEncodingView::Hex => HashEncoding::Hex,
        HashEncodingView::Base64 => HashEncoding::Base64,
        HashEncodingView::Base64url => HashEncoding::Base64Url,
    };
    let now = now_ms();
    let first = page(&state, &caller.org_id, None).await?;
    audit.by(&state, &caller, "api_key.export", None, json!({"encoding": encoding.as_str()})).await;
    let (lines, body) = mpsc::channel(IN_FLIGHT);
    tokio::spawn(pages(state, caller.org_id.clone(), first, encoding, now, lines));
    let mut res = Body::new(Lines(body)).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    Ok(res)
}

/// One page of the organization's keys below `before`, and whether more
/// follow.
async fn page(state: &AppState, org_id: &OrgId, before: Option<String>) -> Result<(Vec<ApiKeyRecord>, bool), ApiError> {
    let mut rows = state.store.list_keys(org_id, &KeyFilter::default(), &Page { limit: PAGE, before }).await?;
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    Ok((rows, more))
}

/// Sends the lines of `first` and of every page after it to `out`, until
/// the last page, a failure (sent as the body's error) or a client that
/// stopped reading.
async fn pages(
    state: AppState,
    org_id: OrgId,
    first: (Vec<ApiKeyRecord>, bool),
    encoding: HashEncoding,
    now: Millis,
    out: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let (mut rows, mut more) = first;
    let mut sent = 0usize;
    loop {
        let mut chunk = Vec::with_capacity(rows.len() * 400);
        for k in &rows {
            // A line is plain data: it always serializes.
            if serde_json::to_writer(&mut chunk, &line(k, encoding, now)).is_ok() {
                chunk.push(b'\n');
            }
        }
        sent += rows.len();
        let before = rows.last().map(|k| k.id.to_string());
        if !chunk.is_empty() && out.send(Ok(Bytes::from(chunk))).await.is_err() {
            tracing::info!(%org_id, keys = sent, "key export ended by the client");
            return;
        }
        if !more {
            tracing::info!(%org_id, keys = sent, "keys exported");
            return;
        }
        match page(&state, &org_id, before).await {
            Ok(next) => (rows, more) = next,
            Err(e) => {
                tracing::warn!(%org_id, keys = sent, error = e.message(), "key export failed");
                let _ = out.send(Err(std::io::Error::other("the key export failed"))).await;
                return;
            }
        }
    }
}

/// The export line of `k` at `now`.
fn line(k: &ApiKeyRecord, encoding: HashEncoding, now: Millis) -> ExportedApiKey {
    ExportedApiKey {
        id: k.id.to_string(),
        hash: KeyHashView {
            algorithm: latchkey_api_types::HashAlgorithm::Sha256,
            encoding: match encoding {
                HashEncoding::Hex => HashEncodingView::Hex,
                HashEncoding::Base64 => HashEncodingView::Base64,
                HashEncoding::Base64Url => HashEncodingView::Base64url,
            },
            value: k.hash.encode(encoding),
        },
        prefix: k.key_prefix.to_string(),
        name: k.name.clone(),
        scopes: k.scopes.to_strings(),
        expires_at: k.expires_at.map(to_rfc3339),
        owner_user_id: k.owner_user_id.clone().map(String::from),
        external_id: k.external_id.clone(),
        environment: match k.environment {
            Environment::Live => KeyEnvironment::Live,
            Environment::Test => KeyEnvironment::Test,
        },
        project_id: k.project_id.clone().map(String::from),
        // A status is always a lifecycle state, which has a wire form.
        status: k.status(now).status_str().unwrap_or_default().to_owned(),
        imported: k.is_imported(),
        created_at: to_rfc3339(k.created_at),
        revoked_at: k.revoked_at.map(to_rfc3339),
        last_used_at: k.last_used_at.map(to_rfc3339),
    }
}

/// The response body: the lines the page task sends, as they come.
struct Lines(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for Lines {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|next| next.map(|chunk| chunk.map(Frame::data)))
    }
}
