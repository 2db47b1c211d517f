//! The API contract: the OpenAPI 3.1 document generated from the code.
//!
//! Every route is registered through `utoipa_axum::routes!` from its
//! handler's `#[utoipa::path]` attribute (path, operationId, parameters,
//! request and response schemas, the errors it answers itself, and the
//! `x-latchkey-callers` / `x-latchkey-scope` extensions taken from its
//! [`crate::authz::AuthCheck`]), so the router and the document are one
//! list. [`Contract`] then adds what every operation shares, derived from
//! what the operation declares:
//!
//! * the security schemes (`X-API-Key`, `Authorization: Bearer`) on every
//!   operation that takes a credential, and its answers 401 (no valid
//!   credential), 403 (a session naming an organization it has none in),
//!   404 (`X-Latchkey-Org` naming one it is not a member of) and 429 (the
//!   key's rate limit, or too many failed authentications);
//! * 400 on an operation with a body or query parameters, 413 on one with
//!   a body;
//! * 503 (the database is unavailable) on every operation but `/healthz`
//!   and the reference pages, which touch no storage.
//!
//! Every error answer is the `{"error": {"code", "message"}}` envelope
//! ([`ErrorEnvelope`]); a 500 is never an expected answer.
//!
//! The document is the same whatever the configuration (a route that a
//! setting turns off, `/metrics` on its own listener, stays documented);
//! `docs/openapi.json` holds a copy, which a test keeps equal to it.

use std::sync::LazyLock;

use latchkey_api_types::ErrorEnvelope;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi as _};

use crate::authz::{AUTH_EXTENSION, CALLERS, SCOPE};

/// The document's fixed parts: description, tags, the schemas no operation
/// names directly.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "latchkey",
        description = "API keys, sessions, organizations, secrets and SSH keys for a developer platform. \
            Native API in camelCase with `{\"data\": …}` envelopes; the Runloop (`/v1/apikeys`, \
            `/v1/restricted_keys`) and Runtype (`/v1/products/…`) profiles in their vendors' own shapes. \
            Each operation says who may call it (`x-latchkey-callers`: `anonymous`, `key`, `session`, \
            `admin`) and the scope a key needs (`x-latchkey-scope`; a session holds every scope its \
            role allows; `x-latchkey-scope-binds-sessions: false` when only keys need it).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorEnvelope)),
    tags(
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "people", description = "Sign-up, login, sessions, who the caller is"),
        (name = "orgs", description = "Organizations, members, invitations, the audit trail"),
        (name = "api-keys", description = "The RunTools-shaped key API"),
        (name = "verify", description = "Verifying keys: for services and for reverse proxies"),
        (name = "leaks", description = "Leaked keys: secret scanners' signed reports"),
        (name = "projects", description = "Projects: a grouping layer inside an organization"),
        (name = "secrets", description = "Encrypted secrets"),
        (name = "ssh-keys", description = "SSH public keys and authorized_keys"),
        (name = "workspaces", description = "Workspaces: storage spaces, mount decisions and presigned URLs for their files"),
        (name = "oauth", description = "Connected apps: OAuth providers, connecting accounts, connections"),
        (name = "runloop", description = "The Runloop profile (reference 003)"),
        (name = "runtype", description = "The Runtype profile (reference 004)"),
        (name = "reference", description = "This document and its viewer"),
    )
)]
struct ApiDoc;

/// The security scheme of `X-API-Key: <key or session token>`.
pub const API_KEY: &str = "apiKey";
/// The security scheme of `Authorization: Bearer <key or session token>`.
pub const BEARER: &str = "bearer";

/// The fixed parts of the document, before any route is added.
pub(crate) fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// The whole document: every documented route of [`crate::routes`] with
/// [`Contract`] applied.
pub fn document() -> OpenApi {
    let (_, mut doc) = crate::routes::api().split_for_parts();
    Contract.modify(&mut doc);
    doc
}

/// [`document`] as served and committed: pretty JSON with its object keys
/// sorted (utoipa keeps extensions in a hash map), and a final newline.
pub fn json() -> String {
    let value = serde_json::to_value(document()).unwrap_or_default();
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// [`json`], rendered once per process.
pub(crate) static JSON: LazyLock<String> = LazyLock::new(json);

/// The extensions and answers every operation shares (see the module doc).
pub struct Contract;

impl Modify for Contract {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "An API key, or a session token (`lks_…`).",
            ))),
        );
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key, or a session token (`lks_…`)."))
                    .build(),
            ),
        );
        for (path, item) in &mut doc.paths.paths {
            for op in operations(item) {
                complete(path, op);
            }
        }
    }
}

/// Every operation of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head]
        .into_iter()
        .filter_map(Option::as_mut)
}

/// The operation's `x-latchkey-callers` (empty without a declaration,
/// which [`undeclared`] reports).
fn callers(op: &Operation) -> Vec<&str> {
    op.extensions
        .as_ref()
        .and_then(|e| e.get(CALLERS))
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether an operation takes a credential: it declares callers other than
/// `anonymous`.
fn authenticated(op: &Operation) -> bool {
    callers(op).iter().any(|c| *c != "anonymous")
}

/// Whether an operation takes a session (which may name its organization).
fn sessions_accepted(op: &Operation) -> bool {
    callers(op).iter().any(|c| matches!(*c, "session" | "admin" | "admin-session"))
}

/// The operations (`METHOD path`) without an `x-latchkey-callers`
/// declaration.
pub fn undeclared(doc: &OpenApi) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let mut item = item.clone();
        for op in operations(&mut item) {
            let declared = op.extensions.as_ref().is_some_and(|e| e.contains_key(CALLERS) && e.contains_key(SCOPE));
            if !declared {
                out.push(format!("{} {path}", op.operation_id.as_deref().unwrap_or("?")));
            }
        }
    }
    out
}

/// Paths that touch no storage (no 503).
const STORAGE_FREE: [&str; 4] = ["/healthz", "/openapi.json", "/docs", "/docs/{file}"];

/// Replaces the handler's [`AUTH_EXTENSION`] with the three extensions it
/// holds.
fn spread_auth(op: &mut Operation) {
    let Some(ext) = op.extensions.as_mut() else { return };
    if let Some(serde_json::Value::Object(parts)) = ext.remove(AUTH_EXTENSION) {
        ext.extend(parts);
    }
}

/// An optional body (`OptionalJson`: absent or empty is the defaults) is
/// `required: false` with the object's schema; utoipa would write the
/// schema as "null or the object", but a `null` body is refused.
fn optional_body(op: &mut Operation) {
    let Some(body) = op.request_body.as_mut() else { return };
    if body.required == Some(Required::True) {
        return;
    }
    body.required = Some(Required::False);
    for content in body.content.values_mut() {
        if let Some(RefOr::T(Schema::OneOf(one))) = &content.schema
            && let Some(object) = one.items.iter().find(|s| matches!(s, RefOr::Ref(_)))
        {
            content.schema = Some(object.clone());
        }
    }
}

fn complete(path: &str, op: &mut Operation) {
    spread_auth(op);
    optional_body(op);
    let authenticated = authenticated(op);
    let sessions = sessions_accepted(op);
    let has_query = op.parameters.iter().flatten().any(|p| p.parameter_in == ParameterIn::Query);
    let has_body = op.request_body.is_some();
    let responses = &mut op.responses.responses;
    let mut add = |status: &str, why: &str| {
        responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(error(why)));
    };
    if authenticated {
        add("401", "`unauthorized`: no credential, or one that is malformed, unknown, revoked or expired");
        add(
            "403",
            "`forbidden` or `insufficient_scope`: the caller may not do this (`x-latchkey-callers`, \
             `x-latchkey-scope`), or a session's user belongs to no organization",
        );
        add(
            "429",
            "`rate_limited`: the key's rate limit or credits, or too many failed authentications (`Retry-After`)",
        );
    }
    if sessions {
        add("404", "`not_found`: `X-Latchkey-Org` names an organization the session's user is not a member of");
    }
    if has_body || has_query {
        add(
            "400",
            "`invalid_request`: malformed JSON, unknown fields, wrong types, invalid values or query parameters",
        );
    }
    if has_body {
        add("413", "`payload_too_large`: a body over 64 KiB");
    }
    if !STORAGE_FREE.contains(&path) {
        add("503", "`unavailable`: the database cannot be reached; retry");
    }
    if authenticated {
        op.security = Some(vec![
            SecurityRequirement::new::<_, _, &str>(API_KEY, []),
            SecurityRequirement::new::<_, _, &str>(BEARER, []),
        ]);
    }
}

/// An error answer: the envelope, described.
fn error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build())
        .build()
}

#[cfg(test)]
mod tests;
