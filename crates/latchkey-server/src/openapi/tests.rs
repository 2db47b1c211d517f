//! The document: complete, declared, true to the vendors' shapes, equal to
//! the committed copy and to the README's table.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;

/// The one command that regenerates the committed copy.
const REGENERATE: &str = "cargo run -p latchkey -- openapi > docs/openapi.json";

fn doc() -> Value {
    serde_json::from_str(&json()).unwrap()
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// `(METHOD, path, operation)` for every operation.
fn operations_of(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let committed = repo_file("docs/openapi.json");
    assert!(committed == json(), "docs/openapi.json differs from the document the code generates; run `{REGENERATE}`");
}

#[test]
fn every_operation_is_declared_named_and_answers_errors_with_the_envelope() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(undeclared(&document()).is_empty(), "operations without an AuthCheck: {:?}", undeclared(&document()));
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations_of(&doc) {
        let what = format!("{method} {path}");
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{what}: no operationId"));
        assert!(ids.insert(id.to_owned()), "{what}: operationId {id} is used twice");
        let callers = op[CALLERS].as_array().unwrap_or_else(|| panic!("{what}: no {CALLERS}"));
        assert!(!callers.is_empty(), "{what}");
        assert!(op.get(SCOPE).is_some(), "{what}: no {SCOPE}");
        assert!(op.get(AUTH_EXTENSION).is_none(), "{what}: {AUTH_EXTENSION} left in the document");
        let public = callers == &vec![json!("anonymous")];
        assert_eq!(
            op.get("security").is_none(),
            public,
            "{what}: security schemes on exactly the credentialed operations"
        );
        let responses = op["responses"].as_object().unwrap();
        // A browser's routes (single sign-on) succeed with a redirect.
        let success = |s: &str| s.starts_with('2') || s.starts_with('3');
        assert!(responses.keys().any(|s| success(s)), "{what}: no success answer");
        assert!(!responses.contains_key("500"), "{what}: 500 is never an expected answer");
        for (status, response) in responses {
            if success(status) {
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/ErrorEnvelope", "{what} {status}: the error envelope");
        }
        if !public {
            for status in ["401", "403", "429"] {
                assert!(responses.contains_key(status), "{what}: a credentialed operation can answer {status}");
            }
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413"] {
                assert!(responses.contains_key(status), "{what}: an operation with a body can answer {status}");
            }
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes[API_KEY],
        json!({"type": "apiKey", "in": "header", "name": "x-api-key", "description": "An API key, or a session token (`lks_…`)."})
    );
    assert_eq!(schemes[BEARER]["scheme"], "bearer");
    assert_eq!(
        doc["components"]["schemas"]["ErrorBody"]["required"],
        json!(["code", "message"]),
        "{{\"error\": {{\"code\", \"message\"}}}}"
    );
}

/// A few declarations, as the routes' checks make them.
#[test]
fn the_extensions_come_from_the_checks() {
    let doc = doc();
    let op = |method: &str, path: &str| doc["paths"][path][method].clone();
    let cases = [
        ("post", "/v1/projects", json!(["key", "session"]), json!("org:write"), true),
        ("post", "/v1/api-keys", json!(["key", "session"]), json!("org:write"), false),
        ("post", "/v1/invitations", json!(["admin"]), json!("org:members"), true),
        ("get", "/v1/orgs", json!(["key", "session"]), json!("org:read"), true),
        ("get", "/v1/orgs/{id}", json!(["key", "session"]), json!("org:read"), true),
        ("post", "/v1/orgs", json!(["session"]), Value::Null, false),
        ("get", "/v1/auth/check", json!(["key"]), Value::Null, false),
        ("post", "/v1/auth/login", json!(["anonymous"]), Value::Null, false),
        ("post", "/v1/keys/verify", json!(["key", "session"]), json!("keys:verify"), true),
    ];
    for (method, path, callers, scope, binds) in cases {
        let o = op(method, path);
        assert_eq!(
            (&o[CALLERS], &o[SCOPE], &o[crate::authz::SCOPE_BINDS_SESSIONS]),
            (&callers, &scope, &json!(binds)),
            "{method} {path}"
        );
    }
}

/// Runloop (`reference/003_…`): its operation ids, optional bodies and
/// schemas property for property (the reference's 3.0 `nullable: true` is
/// 3.1's `["integer", "null"]`).
#[test]
fn the_runloop_profile_is_the_reference() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let shape = |name: &str| {
        let mut s = schemas[name].clone();
        let object = s.as_object_mut().unwrap();
        object.remove("description");
        for property in object.get_mut("properties").into_iter().flat_map(|p| p.as_object_mut().unwrap().values_mut()) {
            property.as_object_mut().unwrap().remove("description");
        }
        s
    };
    let expires = json!({"type": ["integer", "null"], "format": "int64"});
    let entry = json!({"type": "array", "items": {"$ref": "#/components/schemas/ScopeEntryView"}});
    let expected = [
        ("ApiKeyCreateParameters", json!({"name": {"type": "string"}, "expires_at_ms": expires})),
        (
            "ApiKeyCreatedView",
            json!({"id": {"type": "string"}, "name": {"type": "string"}, "key_secret": {"type": "string"}, "expires_at_ms": expires}),
        ),
        (
            "RestrictedKeyCreateParameters",
            json!({"name": {"type": "string"}, "scopes": entry, "expires_at_ms": expires}),
        ),
        (
            "RestrictedKeyCreatedView",
            json!({"id": {"type": "string"}, "name": {"type": "string"}, "key_secret": {"type": "string"}, "scopes": entry, "expires_at_ms": expires}),
        ),
        (
            "ScopeEntryView",
            json!({"resource_type": {"$ref": "#/components/schemas/ApiResourceType"}, "access_level": {"$ref": "#/components/schemas/ApiAccessLevel"}}),
        ),
    ];
    for (name, properties) in expected {
        assert_eq!(
            shape(name),
            json!({"type": "object", "additionalProperties": false, "properties": properties}),
            "{name}"
        );
    }
    let resource_types = [
        "DEVBOXES",
        "BLUEPRINTS",
        "SNAPSHOTS",
        "BENCHMARKS",
        "SCENARIOS",
        "REPO_CONNECTIONS",
        "AGENTS",
        "OBJECTS",
        "ACCOUNT",
    ];
    assert_eq!(schemas["ApiResourceType"]["enum"], json!(resource_types.map(|t| format!("RESOURCE_TYPE_{t}"))));
    assert_eq!(
        schemas["ApiAccessLevel"]["enum"],
        json!(["ACCESS_LEVEL_NONE", "ACCESS_LEVEL_READ", "ACCESS_LEVEL_WRITE"])
    );
    for (path, id, params, view) in [
        ("/v1/apikeys", "createAPIKey", "ApiKeyCreateParameters", "ApiKeyCreatedView"),
        ("/v1/restricted_keys", "createRestrictedKey", "RestrictedKeyCreateParameters", "RestrictedKeyCreatedView"),
    ] {
        let op = &doc["paths"][path]["post"];
        assert_eq!(op["operationId"], id);
        assert_eq!(op["requestBody"]["required"], false, "{path}: the body is optional");
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{params}")
        );
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{view}")
        );
    }
    assert!(doc["paths"]["/v1/restricted_keys"]["post"]["responses"]["400"].is_object(), "400 on invalid scopes");
}

/// Every value the document's Runloop enums offer is one the server maps.
#[test]
fn every_documented_runloop_scope_is_understood() {
    use latchkey_api_types::runloop::{ApiAccessLevel, ApiResourceType};
    let text = |v: &dyn erased::Text| v.text();
    for resource in ApiResourceType::ALL {
        for level in [ApiAccessLevel::None, ApiAccessLevel::Read, ApiAccessLevel::Write] {
            let pair = [(text(&resource), text(&level))];
            assert!(latchkey_core::profiles::runloop_scopes(&pair).is_ok(), "{pair:?}");
        }
    }
}

mod erased {
    /// A value's JSON string.
    pub trait Text {
        fn text(&self) -> String;
    }
    impl<T: serde::Serialize> Text for T {
        fn text(&self) -> String {
            serde_json::to_value(self).unwrap().as_str().unwrap().to_owned()
        }
    }
}

/// Runtype (`reference/004_…`): the surface key's 13 fields, exactly, with
/// the documented types; the request's bounds.
#[test]
fn the_runtype_surface_key_is_the_reference() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let view = &schemas["SurfaceKeyView"];
    let types: Vec<(String, Value)> =
        view["properties"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v["type"].clone())).collect();
    let s = || json!("string");
    let ns = || json!(["string", "null"]);
    let ni = || json!(["integer", "null"]);
    let expected = vec![
        ("createdAt", s()),
        ("environment", s()),
        ("expiresAt", ns()),
        ("id", s()),
        ("isActive", json!("boolean")),
        ("key", s()),
        ("keyHint", ns()),
        ("keyPrefix", s()),
        ("name", ns()),
        ("rateLimitPerDay", ni()),
        ("rateLimitPerMinute", ni()),
        ("scopes", json!("array")),
        ("surfaceId", s()),
    ];
    let expected: Vec<(String, Value)> = expected.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(types, expected);
    assert_eq!(view["additionalProperties"], false);
    let request = &schemas["CreateSurfaceKey"]["properties"];
    assert_eq!(request["name"]["maxLength"], 255);
    assert_eq!(request["rateLimitPerMinute"]["minimum"], 1);
    assert_eq!(request["rateLimitPerDay"]["minimum"], 1);
    assert_eq!(request["expiresAt"]["format"], "date-time");
    assert_eq!(request["environment"]["default"], "test");
    let op = &doc["paths"]["/v1/products/{id}/surfaces/{surfaceId}/keys"]["post"];
    for status in ["201", "400", "401", "403", "404"] {
        assert!(op["responses"][status].is_object(), "surface key {status}");
    }
}

/// The README's API table and the document list the same operations: the
/// table's first column, `METHOD path` items (`GET/PATCH path` for two).
#[test]
fn the_readme_table_and_the_document_list_the_same_routes() {
    let readme = repo_file("README.md");
    let section = &readme[readme.find("## The API").unwrap()..];
    let table =
        section.lines().skip_while(|l| !l.starts_with("| method and path")).skip(2).take_while(|l| l.starts_with('|'));
    let mut listed = BTreeSet::new();
    for row in table {
        let cell = row.split('|').nth(1).unwrap();
        for item in cell.split(',').map(|i| i.trim().trim_matches('`')) {
            let (methods, path) = item.split_once(' ').unwrap_or_else(|| panic!("README row: {row}"));
            for method in methods.split('/') {
                listed.insert(format!("{method} {path}"));
            }
        }
    }
    let documented: BTreeSet<String> = operations_of(&doc()).into_iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    let only_readme: Vec<_> = listed.difference(&documented).collect();
    let only_doc: Vec<_> = documented.difference(&listed).collect();
    assert!(
        only_readme.is_empty() && only_doc.is_empty(),
        "in the README only: {only_readme:?}; in the document only: {only_doc:?}"
    );
}
