//! The contract, served: `GET /openapi.json` is the committed document,
//! `/docs` renders it from files the binary serves itself, and real answers
//! match the schemas the document gives them.

use serde_json::{Value, json};

use crate::common::{TestServer, signup};

fn committed() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json")).unwrap()
}

fn content_type(r: &crate::common::Resp) -> &str {
    r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn the_served_document_is_the_committed_one() {
    let server = TestServer::start().await;
    let r = server.anonymous().get("/openapi.json").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(content_type(&r), "application/json");
    assert!(
        r.text == committed(),
        "GET /openapi.json differs from docs/openapi.json (`cargo run -p latchkey -- openapi > docs/openapi.json`)"
    );
}

/// The page and everything it loads come from this server, with their
/// content types; neither the page, nor the viewer's configuration, nor its
/// styles name another host.
#[tokio::test]
async fn the_reference_page_is_served_from_the_binary() {
    let server = TestServer::start().await;
    let anon = server.anonymous();
    let page = anon.get("/docs").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(content_type(&page), "text/html; charset=utf-8");
    assert!(!page.text.contains("http://") && !page.text.contains("https://"), "{}", page.text);
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in page.text.split(attr).skip(1) {
            assets.push(part.split('"').next().unwrap().to_owned());
        }
    }
    assert!(assets.len() >= 5, "{assets:?}");
    for asset in &assets {
        assert!(asset.starts_with("/docs/"), "{asset}: served by this server");
        let r = anon.get(asset).await;
        assert_eq!(r.status, 200, "{asset}");
        let expected = match asset.rsplit_once('.').unwrap().1 {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "png" => "image/png",
            other => panic!("{asset}: unexpected .{other}"),
        };
        assert_eq!(content_type(&r), expected, "{asset}");
        if asset.ends_with(".css") {
            assert!(
                !r.text.contains("url(http") && !r.text.contains("@import"),
                "{asset} loads nothing from elsewhere"
            );
        }
    }
    let init = anon.get("/docs/swagger-initializer.js").await;
    assert!(init.text.contains("\"/openapi.json\""), "the viewer reads this server's document: {}", init.text);
    assert!(!init.text.contains("http://") && !init.text.contains("https://"), "{}", init.text);
    assert!(init.text.contains("\"validatorUrl\": \"none\""), "no online validator: {}", init.text);
    let missing = anon.get("/docs/nothing.js").await;
    assert_eq!((missing.status, missing.error_code()), (404, "not_found"));
}

/// Checks `value` against `schema` (the subset the document uses: `$ref`,
/// `type`, `properties`, `required`, `additionalProperties: false`,
/// `items`, `oneOf`, `enum`); returns what does not match.
fn mismatches(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return mismatches(doc, &doc["components"]["schemas"][name], value, at, out);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options.iter().any(|o| {
            let mut inner = Vec::new();
            mismatches(doc, o, value, at, &mut inner);
            inner.is_empty()
        });
        if !fits {
            out.push(format!("{at}: {value} fits none of {schema}"));
        }
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} not in {allowed:?}"));
    }
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let fits = types.is_empty() || types.contains(&kind) || (kind == "integer" && types.contains(&"number"));
    if !fits {
        out.push(format!("{at}: a {kind}, the schema says {types:?}"));
        return;
    }
    match value {
        Value::Object(fields) => {
            let properties = schema["properties"].as_object();
            for required in schema["required"].as_array().into_iter().flatten() {
                if !fields.contains_key(required.as_str().unwrap()) {
                    out.push(format!("{at}: `{required}` is required"));
                }
            }
            for (name, v) in fields {
                match properties.and_then(|p| p.get(name)) {
                    Some(s) => mismatches(doc, s, v, &format!("{at}.{name}"), out),
                    None if schema["additionalProperties"] == false => {
                        out.push(format!("{at}: `{name}` is not in the schema"));
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                mismatches(doc, &schema["items"], v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Real answers of the running server, each checked against the schema the
/// document gives its operation and status.
#[tokio::test]
async fn real_answers_match_their_schemas() {
    let server = TestServer::start().await;
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    let admin = server.admin();
    let person = signup(&server, "schema@example.com", "Schema Co").await;
    let session = server.with_bearer(&person.token);
    let (key_id, key) = TestServer::create_key(&admin, json!({"name": "checked", "scopes": ["sandbox:*"]})).await;
    let product = admin.post("/v1/products", json!({"name": "p"})).await.body["id"].as_str().unwrap().to_owned();
    let surface = admin.post(&format!("/v1/products/{product}/surfaces"), json!({"name": "s"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hook =
        admin.post("/v1/webhooks", json!({"url": "https://hooks.example.com/c", "events": ["api_key.created"]})).await;
    let hook_id = hook.body["data"]["id"].as_str().unwrap().to_owned();
    let tested = admin.post(&format!("/v1/webhooks/{hook_id}/test"), json!({})).await;
    let calls: Vec<(&str, &str, String, crate::common::Resp)> = vec![
        ("post", "/v1/webhooks", "/v1/webhooks".into(), hook),
        ("post", "/v1/webhooks/{id}/test", "test event".into(), tested),
        ("get", "/v1/webhooks", "/v1/webhooks".into(), admin.get("/v1/webhooks").await),
        (
            "get",
            "/v1/webhooks/{id}/deliveries",
            "deliveries".into(),
            admin.get(&format!("/v1/webhooks/{hook_id}/deliveries")).await,
        ),
        ("get", "/v1/me", "/v1/me".into(), admin.get("/v1/me").await),
        ("get", "/v1/me", "/v1/me".into(), session.get("/v1/me").await),
        ("get", "/v1/scopes", "/v1/scopes".into(), admin.get("/v1/scopes").await),
        ("get", "/v1/api-keys", "/v1/api-keys".into(), admin.get("/v1/api-keys?allOrg=true").await),
        ("get", "/v1/api-keys/{id}", format!("/v1/api-keys/{key_id}"), admin.get(&format!("/v1/api-keys/{key_id}")).await),
        ("post", "/v1/api-keys", "/v1/api-keys".into(), admin.post("/v1/api-keys", json!({"name": "more", "expiresIn": "30d"})).await),
        ("post", "/v1/keys/verify", "/v1/keys/verify".into(), admin.post("/v1/keys/verify", json!({"key": key})).await),
        ("post", "/v1/keys/verify", "/v1/keys/verify".into(), admin.post("/v1/keys/verify", json!({"key": "lk_live_nope"})).await),
        ("get", "/v1/orgs", "/v1/orgs".into(), session.get("/v1/orgs").await),
        ("get", "/v1/members", "/v1/members".into(), admin.get("/v1/members").await),
        ("get", "/v1/audit-events", "/v1/audit-events".into(), admin.get("/v1/audit-events").await),
        ("get", "/v1/sessions", "/v1/sessions".into(), session.get("/v1/sessions").await),
        ("post", "/v1/projects", "/v1/projects".into(), admin.post("/v1/projects", json!({"name": "x"})).await),
        ("post", "/v1/apikeys", "/v1/apikeys".into(), admin.post("/v1/apikeys", json!({"name": "rl"})).await),
        (
            "post",
            "/v1/restricted_keys",
            "/v1/restricted_keys".into(),
            admin
                .post(
                    "/v1/restricted_keys",
                    json!({"scopes": [{"resource_type": "RESOURCE_TYPE_DEVBOXES", "access_level": "ACCESS_LEVEL_READ"}]}),
                )
                .await,
        ),
        (
            "post",
            "/v1/products/{id}/surfaces/{surfaceId}/keys",
            "surface key".into(),
            admin
                .post(
                    &format!("/v1/products/{product}/surfaces/{surface}/keys"),
                    json!({"name": "sk", "scopes": ["read:products"], "environment": "production"}),
                )
                .await,
        ),
        ("get", "/v1/products", "/v1/products".into(), admin.get("/v1/products").await),
        // Errors: the envelope.
        ("get", "/v1/api-keys/{id}", "unknown key".into(), admin.get("/v1/api-keys/key_01aaaaaaaaaaaaaaaaaaaaaaaa").await),
        ("get", "/v1/me", "no credential".into(), server.anonymous().get("/v1/me").await),
        ("post", "/v1/orgs", "a key".into(), admin.post("/v1/orgs", json!({"name": "x"})).await),
        ("post", "/v1/apikeys", "unknown field".into(), admin.post("/v1/apikeys", json!({"scopes": []})).await),
    ];
    // The checker itself finds a wrong type, a missing and an unknown field.
    let mut found = Vec::new();
    let envelope = json!({"$ref": "#/components/schemas/ErrorEnvelope"});
    mismatches(&doc, &envelope, &json!({"error": {"code": 1}}), "probe", &mut found);
    let runloop = json!({"$ref": "#/components/schemas/ApiKeyCreatedView"});
    mismatches(&doc, &runloop, &json!({"bogus": true}), "probe", &mut found);
    assert_eq!(found.len(), 3, "{found:?}");
    let mut wrong = Vec::new();
    for (method, path, what, r) in &calls {
        let op = &doc["paths"][path][method];
        let response = &op["responses"][r.status.to_string()];
        assert!(response.is_object(), "{method} {path} ({what}): {} is not a documented answer: {}", r.status, r.text);
        let schema = &response["content"]["application/json"]["schema"];
        mismatches(&doc, schema, &r.body, &format!("{method} {path} ({what}) {}", r.status), &mut wrong);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
