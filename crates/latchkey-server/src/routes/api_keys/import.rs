//! `POST /v1/api-keys/import`: keys issued by another system, brought in by
//! the SHA-256 of their plaintext, all or nothing.
//!
//! latchkey stores the SHA-256 of the whole presented key, as a home-grown
//! table, Unkey and better-auth's API-key plugin do: an imported hash lands
//! in the same column and the key verifies by the same lookup, although it
//! lacks latchkey's checksum (the verifier looks strings of another format
//! up while some key is imported: `latchkey_verify`'s stage 1). Each key
//! goes through the checks of `POST /v1/api-keys` ([`crate::keys::admit`]:
//! what the caller may grant, the owner's role, the organization's key
//! policy), one refused key refuses the import (its `index` named), and
//! nothing is stored half-way.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_api_types::{
    Data, ErrorEnvelope, HashAlgorithm, HashEncodingView, ImportApiKey, ImportedKeys, KeyEnvironment, KeyHashView,
    MAX_IMPORT_KEYS,
};
use latchkey_core::id::UserId;
use latchkey_core::policy::KeyPolicy;
use latchkey_core::time_fmt::{Millis, now_ms};
use latchkey_core::{DisplayPrefix, Environment, HashEncoding, KeyHash, Role};
use latchkey_store::{KeyKind, NewApiKey};
use serde_json::json;

use crate::audit::Audit;
use crate::auth::Caller;
use crate::authz::AuthCheck;
use crate::error::ApiError;
use crate::extract::{ImportRawBody, check_name};
use crate::keys::{KeySpec, admit, check_external_id, check_scope_count, expiry, key_policy, new_key};
use crate::state::AppState;

/// Who may call [`import`]: admins, with a session or a key that may manage
/// keys.
pub(crate) const IMPORT: AuthCheck = AuthCheck::key_managers().admin();

/// Hashes asked of storage at once when looking for ones already stored.
const LOOKUP_CHUNK: usize = 200;

/// `POST /v1/api-keys/import`: 1 to 10,000 keys issued by another system,
/// by the SHA-256 of their plaintext, as JSON lines
/// (`application/x-ndjson`, one key per line) or a JSON array; all or
/// nothing, each key checked as `POST /v1/api-keys` checks one. The keys
/// verify by their hash from then on. Audited (`api_key.import`, per key).
#[utoipa::path(
    post,
    path = "/v1/api-keys/import",
    operation_id = "importApiKeys",
    tag = "api-keys",
    request_body(content = Vec<ImportApiKey>, description = "1–10,000 keys: a JSON array, or JSON lines (`Content-Type: application/x-ndjson`, one key per line, blank lines skipped); at most 16 MiB", content_type = "application/json"),
    responses(
        (status = 201, description = "Every key was imported; their ids in the order given", body = Data<ImportedKeys>),
        (status = 400, description = "`invalid_request`, `invalid_scopes` or `policy_violation`: no keys or more than 10,000, a line that is not a key, or a key's field is invalid (a hash that is not 32 bytes in its encoding, the same hash as an earlier key, an expiry not in the future, an owner who is not a member of the organization); `index` names the key (from 0), and nothing is stored", body = ErrorEnvelope),
        (status = 403, description = "`forbidden` (not an admin) or `insufficient_scope` (a key grants what the caller or its owner's role may not; `index` names it)", body = ErrorEnvelope),
        (status = 409, description = "`conflict`: a key with that hash is stored already (`index` names it); nothing is stored", body = ErrorEnvelope),
        (status = 413, description = "`payload_too_large`: a body over 16 MiB", body = ErrorEnvelope)
    ),
    extensions(("x-latchkey-auth" = json!(IMPORT)))
)]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    audit: Audit,
    ImportRawBody(body): ImportRawBody,
) -> Result<(StatusCode, Json<Data<ImportedKeys>>), ApiError> {
    IMPORT.check(&caller)?;
    let items = parse(&body)?;
    drop(body);
    let now = now_ms();
    let policy = key_policy(&state, &caller.org_id).await?;
    let mut roles = HashMap::new();
    let mut indexes: HashMap<KeyHash, usize> = HashMap::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = prepare(&state, &caller, item, now, &policy, &mut roles).await.map_err(|e| e.at_index(i))?;
        if let Some(first) = indexes.insert(key.hash, i) {
            return Err(ApiError::bad_request(format!("the same hash as keys[{first}]")).at_index(i));
        }
        let details = json!({
            "name": key.name,
            "scopes": key.scopes,
            "owner": if key.owner_user_id.is_some() { "user" } else { "org" },
            "prefix": key.key_prefix.to_string(),
            "externalId": key.external_id,
        });
        events.push(audit.event_by(&caller, "api_key.import", Some(("api_key", &key.id)), &details));
        keys.push(key);
    }
    for chunk in keys.chunks(LOOKUP_CHUNK) {
        let hashes: Vec<KeyHash> = chunk.iter().map(|k| k.hash).collect();
        // Any organization's key: a hash is one key's. The answer says only
        // that the hash is taken, not by whom.
        if let Some(i) =
            state.store.find_keys_by_hashes(&hashes).await?.iter().filter_map(|k| indexes.get(&k.hash)).min()
        {
            return Err(ApiError::conflict("a key with this hash exists already").at_index(*i));
        }
    }
    let hashes: Vec<KeyHash> = keys.iter().map(|k| k.hash).collect();
    let stored = state.key_writer.insert(keys, events).await?;
    // From now on strings of another format are looked up here; other
    // nodes learn it from the change log. A hash looked up (and missed)
    // before the import is evicted everywhere.
    state.verifier.note_imported(caller.org_id.as_str());
    state.invalidate_keys(&hashes).await;
    tracing::info!(org_id = %caller.org_id, keys = stored.len(), "api keys imported");
    let ids = stored.iter().map(|k| k.id.to_string()).collect();
    Ok((StatusCode::CREATED, Json(Data { data: ImportedKeys { imported: stored.len(), ids } })))
}

/// The keys of an import body: a JSON array, else JSON lines (blank lines
/// skipped; a line that is not a key is named by its number, from 1, and
/// its key's index). 1 to [`MAX_IMPORT_KEYS`] keys.
fn parse(body: &[u8]) -> Result<Vec<ImportApiKey>, ApiError> {
    let too_many = || ApiError::bad_request(format!("an import holds 1 to {MAX_IMPORT_KEYS} keys"));
    let keys = if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let values: Vec<serde_json::Value> =
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON array: {e}")))?;
        if values.len() > MAX_IMPORT_KEYS {
            return Err(too_many());
        }
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("not a key: {e}")).at_index(i))
            })
            .collect::<Result<_, _>>()?
    } else {
        let mut keys = Vec::new();
        for (n, line) in body.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if keys.len() == MAX_IMPORT_KEYS {
                return Err(too_many());
            }
            let key = serde_json::from_slice(line)
                .map_err(|e| ApiError::bad_request(format!("line {} is not a key: {e}", n + 1)).at_index(keys.len()))?;
            keys.push(key);
        }
        keys
    };
    if keys.is_empty() {
        return Err(too_many());
    }
    Ok(keys)
}

/// The row of one imported key, after every check of single creation.
/// `roles` remembers the owners already looked up.
async fn prepare(
    state: &AppState,
    caller: &Caller,
    item: &ImportApiKey,
    now: Millis,
    policy: &KeyPolicy,
    roles: &mut HashMap<String, Role>,
) -> Result<NewApiKey, ApiError> {
    let hash = decode(&item.hash)?;
    let prefix = DisplayPrefix::imported(item.prefix.as_deref().unwrap_or_default())
        .map_err(|_| ApiError::bad_request("prefix must be at most 32 ASCII letters, digits, `_`, `-` and `.`"))?;
    let name = check_name(&item.name)?;
    check_scope_count(item.scopes.len())?;
    let scopes = state.settings.catalog.parse_scopes(&item.scopes).map_err(|e| ApiError::invalid_scopes(&e.0))?;
    let expires_at = expiry(None, item.expires_at.as_deref(), now)?;
    let external_id = item.external_id.as_deref().map(check_external_id).transpose()?.map(str::to_owned);
    let mut spec = KeySpec::new(caller, name, KeyKind::Standard, scopes).owned_by_org();
    if let Some(owner) = &item.owner_user_id {
        let role = match roles.get(owner) {
            Some(role) => *role,
            None => {
                let role = state
                    .store
                    .role_of(&caller.org_id, &UserId::from(owner.as_str()))
                    .await?
                    .ok_or_else(|| ApiError::bad_request("ownerUserId names no member of this organization"))?;
                roles.insert(owner.clone(), role);
                role
            }
        };
        spec = KeySpec { owner_user_id: Some(UserId::from(owner.as_str())), owner_role: role, ..spec };
    }
    spec.environment = match item.environment {
        Some(KeyEnvironment::Test) => Environment::Test,
        Some(KeyEnvironment::Live) | None => Environment::Live,
    };
    spec.expires_at = expires_at;
    let spec = admit(spec, caller, now, policy)?;
    Ok(NewApiKey { external_id, ..new_key(spec, caller, now, hash, prefix, String::new()) })
}

/// The hash of an imported key, as its encoding says.
fn decode(hash: &KeyHashView) -> Result<KeyHash, ApiError> {
    let HashAlgorithm::Sha256 = hash.algorithm;
    let encoding = match hash.encoding {
        HashEncodingView::Hex => HashEncoding::Hex,
        HashEncodingView::Base64 => HashEncoding::Base64,
        HashEncodingView::Base64url => HashEncoding::Base64Url,
    };
    KeyHash::decode(encoding, &hash.value).ok_or_else(|| {
        ApiError::bad_request(format!("hash.value is not a SHA-256 (32 bytes) written as {}", encoding.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str) -> String {
        format!(
            r#"{{"hash":{{"algorithm":"sha256","encoding":"hex","value":"{}"}},"name":"{name}","scopes":[]}}"#,
            "ab".repeat(32)
        )
    }

    fn names(keys: &[ImportApiKey]) -> Vec<&str> {
        keys.iter().map(|k| k.name.as_str()).collect()
    }

    #[test]
    fn lines_and_arrays_name_a_bad_key_by_its_index() {
        let body = format!("{}\n\n{}\r\n", line("a"), line("b"));
        assert_eq!(names(&parse(body.as_bytes()).unwrap()), ["a", "b"]);
        let array = format!("  [{}, {}]", line("a"), line("b"));
        assert_eq!(names(&parse(array.as_bytes()).unwrap()), ["a", "b"]);
        // A blank line counts for the line's number, not for the index.
        let bad = format!("{}\n\n{{\"name\":\"x\"}}\n", line("a"));
        let e = parse(bad.as_bytes()).unwrap_err();
        assert_eq!(e.index(), Some(1));
        assert!(e.message().starts_with("keys[1]: line 3 is not a key: missing field `hash`"), "{}", e.message());
        let extra = format!("[{}, {}]", line("a"), line("b").replace("\"scopes\"", "\"colour\":1,\"scopes\""));
        let e = parse(extra.as_bytes()).unwrap_err();
        assert_eq!(e.index(), Some(1));
        assert!(e.message().starts_with("keys[1]: not a key: unknown field `colour`"), "{}", e.message());
        for empty in ["", "\n \n", "[]"] {
            assert!(parse(empty.as_bytes()).unwrap_err().message().contains("1 to 10000"), "{empty:?}");
        }
    }

    #[test]
    fn more_than_ten_thousand_keys_are_refused() {
        let one = line("k");
        let lines = vec![one.as_str(); MAX_IMPORT_KEYS + 1].join("\n");
        assert!(parse(lines.as_bytes()).unwrap_err().message().contains("1 to 10000"));
        assert_eq!(parse(&lines.as_bytes()[..lines.len() - one.len() - 1]).unwrap().len(), MAX_IMPORT_KEYS);
        let array = format!("[{}]", vec![one.as_str(); MAX_IMPORT_KEYS + 1].join(","));
        assert!(parse(array.as_bytes()).unwrap_err().message().contains("1 to 10000"));
    }
}
