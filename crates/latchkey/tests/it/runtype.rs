//! The Runtype profile (reference document 004): products, their surfaces,
//! and surface API keys (`POST /v1/products/{id}/surfaces/{surfaceId}/keys`)
//! with `action:resource` scopes, environments, rate limits and expiry.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::{Api, Resp, TestServer, ids, join_org, ms, now_ms, signup};

/// The exact field set of a product.
const PRODUCT_FIELDS: &[&str] = &["id", "name", "createdAt"];
/// The exact field set of a surface.
const SURFACE_FIELDS: &[&str] = &["id", "productId", "name", "createdAt"];
/// The exact field set of a created surface key.
const SURFACE_KEY_FIELDS: &[&str] = &[
    "id",
    "surfaceId",
    "name",
    "key",
    "keyPrefix",
    "keyHint",
    "scopes",
    "rateLimitPerMinute",
    "rateLimitPerDay",
    "expiresAt",
    "isActive",
    "environment",
    "createdAt",
];

/// Asserts that `v` is an object with exactly the keys `expected`.
fn assert_fields(v: &Value, expected: &[&str], what: &str) {
    let got: BTreeSet<&str> =
        v.as_object().unwrap_or_else(|| panic!("{what}: not an object: {v}")).keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = expected.iter().copied().collect();
    assert_eq!(got, want, "{what}: fields of {v}");
}

/// Asserts a list response: `data` is an array, and the only other top-level
/// field allowed is the project's usual `nextCursor` (null: no second page).
fn assert_list(r: &Resp, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.text);
    assert!(r.body["data"].is_array(), "{what}: {}", r.text);
    let obj = r.body.as_object().unwrap();
    assert!(obj.keys().all(|k| k == "data" || k == "nextCursor"), "{what}: extra top-level fields: {}", r.text);
    assert!(r.body["nextCursor"].is_null(), "{what}: {}", r.text);
}

fn assert_error(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.error_code(), code, "{what}: {}", r.text);
}

/// Asserts a 400 with a well-formed error envelope.
fn assert_bad_request(r: &Resp, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.text);
    r.error_code();
}

/// Asserts `ts` is an RFC 3339 timestamp within a minute of now.
fn assert_recent(ts: &Value) {
    let t = ms(ts);
    assert!((now_ms() - t).abs() < 60_000, "{ts} is not now");
}

/// A well-formed id that was never issued.
fn unknown_id(prefix: &str) -> String {
    format!("{prefix}_{}", "0".repeat(26))
}

/// Creates a product as `api`; returns its id after checking the shape.
async fn product(api: &Api, name: &str) -> String {
    let r = api.post("/v1/products", json!({"name": name})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_fields(&r.body, PRODUCT_FIELDS, "product");
    assert_eq!(r.body["name"], name);
    assert_recent(&r.body["createdAt"]);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("prd_"), "{}", r.text);
    id
}

/// Creates a surface of `product_id` as `api`; returns its id after checking
/// the shape.
async fn surface(api: &Api, product_id: &str, name: &str) -> String {
    let r = api.post(&format!("/v1/products/{product_id}/surfaces"), json!({"name": name})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_fields(&r.body, SURFACE_FIELDS, "surface");
    assert_eq!(r.body["productId"], product_id);
    assert_eq!(r.body["name"], name);
    assert_recent(&r.body["createdAt"]);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("srf_"), "{}", r.text);
    id
}

fn keys_path(product_id: &str, surface_id: &str) -> String {
    format!("/v1/products/{product_id}/surfaces/{surface_id}/keys")
}

/// Creates a surface key with `body`; returns the response body after
/// checking the field set, the key format and the derived fields.
async fn surface_key(api: &Api, product_id: &str, surface_id: &str, body: Value) -> Value {
    let r = api.post(&keys_path(product_id, surface_id), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = r.body;
    assert_fields(&d, SURFACE_KEY_FIELDS, "surface key");
    assert!(d["id"].as_str().unwrap().starts_with("key_"), "{d}");
    assert_eq!(d["surfaceId"], surface_id, "{d}");
    let env = d["environment"].as_str().unwrap();
    let prefix = match env {
        "production" => "sk_live_",
        "test" => "sk_test_",
        other => panic!("environment {other}: {d}"),
    };
    let key = d["key"].as_str().unwrap();
    let body = key.strip_prefix(prefix).unwrap_or_else(|| panic!("{key} does not start with {prefix}"));
    assert_eq!(body.len(), 38, "{key}");
    assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
    assert_eq!(d["keyPrefix"], &key[..12], "{d}");
    assert_eq!(d["keyHint"], &key[key.len() - 4..], "{d}");
    assert_eq!(d["isActive"], true, "{d}");
    assert!(d["scopes"].is_array(), "{d}");
    assert_recent(&d["createdAt"]);
    d
}

/// The number of keys in the admin's organization.
async fn key_count(server: &TestServer) -> usize {
    let r = server.admin().get("/v1/api-keys?allOrg=true&limit=100").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().len()
}

/// The verify code of `body` as `api`.
async fn verify_code(api: &Api, body: Value) -> String {
    let r = api.post("/v1/keys/verify", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn products_are_created_listed_and_read_per_org() {
    let server = TestServer::start().await;
    let admin = server.with_bearer(&server.admin.api_key);
    let first = product(&admin, "Storefront").await;
    let second = product(&admin, "Back office").await;
    assert_ne!(first, second);

    let list = admin.get("/v1/products").await;
    assert_list(&list, "product list");
    assert_eq!(ids(&list, "id"), vec![second.clone(), first.clone()], "newest first");
    for p in list.body["data"].as_array().unwrap() {
        assert_fields(p, PRODUCT_FIELDS, "listed product");
    }

    let one = admin.get(&format!("/v1/products/{first}")).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_fields(&one.body, PRODUCT_FIELDS, "product");
    assert_eq!(one.body, list.body["data"][1], "the same product");
    assert_eq!(one.body["name"], "Storefront");

    // Names: 1..=255 characters, required, nothing else accepted.
    let longest = "n".repeat(255);
    product(&admin, &longest).await;
    for (what, body) in [
        ("empty name", json!({"name": ""})),
        ("256 characters", json!({"name": "n".repeat(256)})),
        ("missing name", json!({})),
        ("unknown field", json!({"name": "x", "owner": "me"})),
        ("name not a string", json!({"name": 7})),
    ] {
        assert_bad_request(&admin.post("/v1/products", body).await, what);
    }
    assert_eq!(ids(&admin.get("/v1/products").await, "id").len(), 3, "refused creates store nothing");

    // Another org sees none of them, and has its own.
    let other = server.second_org("Globex", "gus@example.com");
    let globex = server.with_key(&other.api_key);
    let r = globex.get("/v1/products").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"], json!([]), "{}", r.text);
    let theirs = product(&globex, "Globex shop").await;
    assert_eq!(ids(&admin.get("/v1/products").await, "id").len(), 3);

    for (what, path) in [
        ("another org's product", format!("/v1/products/{first}")),
        ("unknown product", format!("/v1/products/{}", unknown_id("prd"))),
        ("malformed id", "/v1/products/not-an-id".to_owned()),
    ] {
        assert_error(&globex.get(&path).await, 404, "not_found", what);
    }
    assert_error(&admin.get(&format!("/v1/products/{theirs}")).await, 404, "not_found", "Globex's product");
}

#[tokio::test]
async fn surfaces_belong_to_one_product_of_one_org() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let shop = product(&admin, "Shop").await;
    let blog = product(&admin, "Blog").await;
    let web = surface(&admin, &shop, "Web").await;
    let mobile = surface(&admin, &shop, "Mobile").await;

    let list = admin.get(&format!("/v1/products/{shop}/surfaces")).await;
    assert_list(&list, "surface list");
    let listed: BTreeSet<String> = ids(&list, "id").into_iter().collect();
    assert_eq!(listed, BTreeSet::from([web.clone(), mobile.clone()]));
    for s in list.body["data"].as_array().unwrap() {
        assert_fields(s, SURFACE_FIELDS, "listed surface");
        assert_eq!(s["productId"], shop.as_str());
    }
    let r = admin.get(&format!("/v1/products/{blog}/surfaces")).await;
    assert_eq!((r.status, r.body["data"].clone()), (200, json!([])), "{}", r.text);

    let one = admin.get(&format!("/v1/products/{shop}/surfaces/{web}")).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_fields(&one.body, SURFACE_FIELDS, "surface");
    assert_eq!((one.body["id"].as_str(), one.body["name"].as_str()), (Some(web.as_str()), Some("Web")));
    assert_eq!(one.body["productId"], shop.as_str());

    for (what, body) in [("missing name", json!({})), ("unknown field", json!({"name": "x", "productId": blog}))] {
        assert_bad_request(&admin.post(&format!("/v1/products/{shop}/surfaces"), body).await, what);
    }
    assert_eq!(ids(&admin.get(&format!("/v1/products/{shop}/surfaces")).await, "id").len(), 2);

    let other = server.second_org("Globex", "gus@example.com");
    let globex = server.with_key(&other.api_key);
    let their_product = product(&globex, "Globex shop").await;
    let their_surface = surface(&globex, &their_product, "Kiosk").await;
    let unknown_product = unknown_id("prd");
    let unknown_surface = unknown_id("srf");
    for (what, path) in [
        ("surface of another product", format!("/v1/products/{blog}/surfaces/{web}")),
        ("unknown surface", format!("/v1/products/{shop}/surfaces/{unknown_surface}")),
        ("unknown product", format!("/v1/products/{unknown_product}/surfaces/{web}")),
        ("unknown product's list", format!("/v1/products/{unknown_product}/surfaces")),
        ("another org's product", format!("/v1/products/{their_product}/surfaces")),
        ("another org's surface", format!("/v1/products/{their_product}/surfaces/{their_surface}")),
    ] {
        assert_error(&admin.get(&path).await, 404, "not_found", what);
    }
    for (what, p) in [("unknown product", &unknown_product), ("another org's product", &their_product)] {
        let r = admin.post(&format!("/v1/products/{p}/surfaces"), json!({"name": "x"})).await;
        assert_error(&r, 404, "not_found", what);
    }
    // Globex sees its own surface only.
    let r = globex.get(&format!("/v1/products/{shop}/surfaces/{web}")).await;
    assert_error(&r, 404, "not_found", "Acme's surface from Globex");
}

#[tokio::test]
async fn writing_needs_org_write_and_reading_org_read() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let shop = product(&admin, "Shop").await;
    let web = surface(&admin, &shop, "Web").await;
    let products = "/v1/products".to_owned();
    let surfaces = format!("/v1/products/{shop}/surfaces");
    let one_surface = format!("/v1/products/{shop}/surfaces/{web}");
    let keys = keys_path(&shop, &web);
    let writes = [(&products, json!({"name": "p"})), (&surfaces, json!({"name": "s"})), (&keys, json!({}))];
    let reads = [products.clone(), format!("/v1/products/{shop}"), surfaces.clone(), one_surface.clone()];

    let before = key_count(&server).await;
    for (what, api) in [("no credential", server.anonymous()), ("garbage", server.with_bearer("garbage"))] {
        for (path, body) in &writes {
            assert_error(&api.post(path, body.clone()).await, 401, "unauthorized", &format!("{what} POST {path}"));
        }
        for path in &reads {
            assert_error(&api.get(path).await, 401, "unauthorized", &format!("{what} GET {path}"));
        }
    }

    let (_, sandbox) = TestServer::create_key(&admin, json!({"name": "s", "scopes": ["sandbox:*"]})).await;
    let sandbox = server.with_bearer(&sandbox);
    for (path, body) in &writes {
        let r = sandbox.post(path, body.clone()).await;
        assert_error(&r, 403, "insufficient_scope", &format!("sandbox:* POST {path}"));
    }
    for path in &reads {
        assert_error(&sandbox.get(path).await, 403, "insufficient_scope", &format!("sandbox:* GET {path}"));
    }

    let (_, reader) = TestServer::create_key(&admin, json!({"name": "r", "scopes": ["org:read"]})).await;
    let reader = server.with_key(&reader);
    for (path, body) in &writes {
        let r = reader.post(path, body.clone()).await;
        assert_error(&r, 403, "insufficient_scope", &format!("org:read POST {path}"));
    }
    for path in &reads {
        assert_eq!(reader.get(path).await.status, 200, "org:read GET {path}");
    }

    let member = join_org(&server, &admin, &server.admin.org_id, "mia@example.com", "member").await;
    let member = server.with_session_in_org(&member.token, &server.admin.org_id);
    for (path, body) in &writes {
        let r = member.post(path, body.clone()).await;
        assert_eq!(r.status, 403, "member POST {path}: {}", r.text);
        r.error_code();
    }
    for path in &reads {
        assert_eq!(member.get(path).await.status, 200, "member GET {path}");
    }
    assert_eq!(ids(&admin.get(&products).await, "id"), vec![shop.clone()], "refused writes stored nothing");
    assert_eq!(ids(&admin.get(&surfaces).await, "id"), vec![web.clone()]);
    assert_eq!(key_count(&server).await, before + 2, "only the two native keys made here");

    // An admin's session may write (in its own org).
    let founder = signup(&server, "founder@example.com", "Founder Inc").await;
    let session = server.with_bearer(&founder.token);
    let p = product(&session, "Founder product").await;
    let s = surface(&session, &p, "Founder surface").await;
    surface_key(&session, &p, &s, json!({})).await;
    assert_eq!(ids(&session.get("/v1/products").await, "id"), vec![p]);
}

#[tokio::test]
async fn surface_keys_answer_with_the_documented_object() {
    let server = TestServer::start().await;
    let admin = server.with_bearer(&server.admin.api_key);
    let shop = product(&admin, "Shop").await;
    let web = surface(&admin, &shop, "Web").await;

    // The document's own example values.
    let d = surface_key(
        &admin,
        &shop,
        &web,
        json!({
            "name": "Primary API Key",
            "scopes": ["read:products", "write:orders"],
            "rateLimitPerMinute": 100,
            "rateLimitPerDay": 10000,
            "expiresAt": "2099-06-01T00:00:00Z",
            "environment": "production",
        }),
    )
    .await;
    assert_eq!(d["name"], "Primary API Key");
    assert_eq!(d["scopes"], json!(["read:products", "write:orders"]));
    assert_eq!(d["rateLimitPerMinute"].as_i64(), Some(100), "{d}");
    assert_eq!(d["rateLimitPerDay"].as_i64(), Some(10000), "{d}");
    assert_eq!(ms(&d["expiresAt"]), ms(&json!("2099-06-01T00:00:00Z")), "{d}");
    assert_eq!(d["environment"], "production");
    assert!(d["key"].as_str().unwrap().starts_with("sk_live_"), "{d}");
    let sk = d["key"].as_str().unwrap().to_owned();
    let id = d["id"].as_str().unwrap().to_owned();

    // Stored natively as `resource:action`, owned by the organization.
    let n = admin.get(&format!("/v1/api-keys/{id}")).await;
    assert_eq!(n.status, 200, "{}", n.text);
    assert_eq!(n.body["data"]["scopes"], json!(["products:read", "orders:write"]), "{}", n.text);
    assert_eq!(n.body["data"]["owner"], "org", "{}", n.text);
    assert_eq!(n.body["data"]["rateLimitPerMinute"], 100, "{}", n.text);
    assert_eq!(n.body["data"]["rateLimitPerDay"], 10000, "{}", n.text);
    assert_eq!(n.body["data"]["keyPrefix"], d["keyPrefix"], "{}", n.text);
    let all = admin.get("/v1/api-keys?allOrg=true").await;
    assert!(ids(&all, "id").contains(&id), "listed with the org's keys: {}", all.text);

    assert_eq!(verify_code(&admin, json!({"key": sk, "scopes": ["products:read"]})).await, "VALID");
    assert_eq!(verify_code(&admin, json!({"key": sk, "scopes": ["orders:write"]})).await, "VALID");
    assert_eq!(verify_code(&admin, json!({"key": sk, "scopes": ["orders:read"]})).await, "INSUFFICIENT_SCOPE");
    assert_eq!(verify_code(&admin, json!({"key": sk, "scopes": ["products:write"]})).await, "INSUFFICIENT_SCOPE");

    // `{}` as in the document's curl example: the defaults.
    let d = surface_key(&admin, &shop, &web, json!({})).await;
    assert!(d["name"].is_null(), "{d}");
    assert_eq!(d["scopes"], json!([]), "{d}");
    assert!(d["rateLimitPerMinute"].is_null() && d["rateLimitPerDay"].is_null(), "{d}");
    assert!(d["expiresAt"].is_null(), "{d}");
    assert_eq!(d["environment"], "test", "{d}");
    assert!(d["key"].as_str().unwrap().starts_with("sk_test_"), "{d}");
    let bare = d["key"].as_str().unwrap().to_owned();
    assert_eq!(verify_code(&admin, json!({"key": bare})).await, "VALID");
    assert_eq!(verify_code(&admin, json!({"key": bare, "scopes": ["products:read"]})).await, "INSUFFICIENT_SCOPE");

    // `live` is production; `test` is test.
    let live = surface_key(&admin, &shop, &web, json!({"environment": "live", "name": "l"})).await;
    assert_eq!(live["environment"], "production", "{live}");
    assert!(live["key"].as_str().unwrap().starts_with("sk_live_"), "{live}");
    let test = surface_key(&admin, &shop, &web, json!({"environment": "test", "scopes": ["read:orders"]})).await;
    assert_eq!(test["environment"], "test", "{test}");
    assert!(test["key"].as_str().unwrap().starts_with("sk_test_"), "{test}");
    assert_eq!(test["scopes"], json!(["read:orders"]), "{test}");
    let test_key = test["key"].as_str().unwrap().to_owned();
    assert_eq!(verify_code(&admin, json!({"key": test_key, "scopes": ["orders:read"]})).await, "VALID");

    // Keys are distinct, and the surface key is a working credential only
    // for what it holds (not for managing the org).
    assert_ne!(sk, bare);
    let r = server.with_bearer(&sk).post("/v1/products", json!({"name": "nope"})).await;
    assert_error(&r, 403, "insufficient_scope", "surface key creating a product");
}

#[tokio::test]
async fn surface_key_input_is_validated_and_nothing_is_stored_on_refusal() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let shop = product(&admin, "Shop").await;
    let web = surface(&admin, &shop, "Web").await;
    let path = keys_path(&shop, &web);
    let before = key_count(&server).await;

    for bad in ["products", "read:", "Read:products", "read:products:x", ":products", ""] {
        let r = admin.post(&path, json!({"scopes": ["read:products", bad]})).await;
        assert_error(&r, 400, "invalid_scopes", bad);
    }
    for (what, body) in [
        ("256-character name", json!({"name": "n".repeat(256)})),
        ("rateLimitPerMinute 0", json!({"rateLimitPerMinute": 0})),
        ("rateLimitPerMinute negative", json!({"rateLimitPerMinute": -3})),
        ("rateLimitPerDay 0", json!({"rateLimitPerDay": 0})),
        ("rateLimitPerMinute not an integer", json!({"rateLimitPerMinute": 1.5})),
        ("expiresAt in the past", json!({"expiresAt": "2001-01-01T00:00:00Z"})),
        ("expiresAt garbage", json!({"expiresAt": "next tuesday"})),
        ("unknown environment", json!({"environment": "staging"})),
        ("environment in capitals", json!({"environment": "PRODUCTION"})),
        ("unknown field", json!({"name": "x", "owner": "org"})),
        ("scopes not a list", json!({"scopes": "read:products"})),
    ] {
        assert_bad_request(&admin.post(&path, body).await, what);
    }
    assert_bad_request(&admin.post_raw(&path, "{\"name\": ").await, "malformed JSON");
    assert_eq!(key_count(&server).await, before, "refused creates store nothing");

    // The boundaries are accepted.
    let d = surface_key(
        &admin,
        &shop,
        &web,
        json!({"name": "n".repeat(255), "rateLimitPerMinute": 1, "rateLimitPerDay": 1, "expiresAt": null}),
    )
    .await;
    assert_eq!(d["name"].as_str().map(str::len), Some(255), "{d}");
    assert_eq!((d["rateLimitPerMinute"].as_i64(), d["rateLimitPerDay"].as_i64()), (Some(1), Some(1)), "{d}");
    assert_eq!(key_count(&server).await, before + 1);
}

#[tokio::test]
async fn surface_key_paths_are_scoped_to_their_product_and_org() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let shop = product(&admin, "Shop").await;
    let blog = product(&admin, "Blog").await;
    let web = surface(&admin, &shop, "Web").await;
    let other = server.second_org("Globex", "gus@example.com");
    let globex = server.with_key(&other.api_key);
    let their_product = product(&globex, "Globex shop").await;
    let their_surface = surface(&globex, &their_product, "Kiosk").await;
    let before = key_count(&server).await;

    let body = json!({"name": "k", "scopes": ["read:products"]});
    for (what, p, s) in [
        ("unknown product", unknown_id("prd"), web.clone()),
        ("unknown surface", shop.clone(), unknown_id("srf")),
        ("surface of another product", blog.clone(), web.clone()),
        ("another org's product and surface", their_product.clone(), their_surface.clone()),
        ("another org's surface under our product", shop.clone(), their_surface.clone()),
        ("malformed ids", "x".to_owned(), "y".to_owned()),
    ] {
        assert_error(&admin.post(&keys_path(&p, &s), body.clone()).await, 404, "not_found", what);
    }
    // And the other way round.
    let r = globex.post(&keys_path(&shop, &web), body.clone()).await;
    assert_error(&r, 404, "not_found", "Acme's surface from Globex");
    let r = server.anonymous().post(&keys_path(&shop, &web), body.clone()).await;
    assert_error(&r, 401, "unauthorized", "no credential");
    assert_eq!(key_count(&server).await, before, "nothing stored");

    // The same request on the right path works, in the right org.
    let d = surface_key(&admin, &shop, &web, body).await;
    assert_eq!(key_count(&server).await, before + 1);
    let v = admin.post("/v1/keys/verify", json!({"key": d["key"]})).await;
    assert_eq!(v.body["data"]["orgId"], server.admin.org_id.as_str(), "{}", v.text);
    assert_eq!(verify_code(&globex, json!({"key": d["key"]})).await, "NOT_FOUND");
}

#[tokio::test]
async fn surface_key_rate_limits_are_enforced() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let shop = product(&admin, "Shop").await;
    let web = surface(&admin, &shop, "Web").await;

    let two = surface_key(&admin, &shop, &web, json!({"name": "two", "rateLimitPerMinute": 2})).await;
    let two = two["key"].clone();
    let codes = [
        verify_code(&admin, json!({"key": two})).await,
        verify_code(&admin, json!({"key": two})).await,
        verify_code(&admin, json!({"key": two})).await,
    ];
    assert_eq!(codes, ["VALID", "VALID", "RATE_LIMITED"]);

    // Forward auth refuses the second request of a one-per-minute key.
    let one = surface_key(&admin, &shop, &web, json!({"name": "one", "rateLimitPerMinute": 1})).await;
    let checker = server.with_key(one["key"].as_str().unwrap());
    let first = checker.get("/v1/auth/check").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second = checker.get("/v1/auth/check").await;
    assert_error(&second, 429, "rate_limited", "second forward-auth check");
    let retry: u64 = second
        .headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no retry-after: {:?}", second.headers))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "retry-after {retry}");

    // A per-day limit alone refuses too.
    let daily = surface_key(&admin, &shop, &web, json!({"name": "daily", "rateLimitPerDay": 1})).await;
    assert!(daily["rateLimitPerMinute"].is_null(), "{daily}");
    assert_eq!(verify_code(&admin, json!({"key": daily["key"]})).await, "VALID");
    assert_eq!(verify_code(&admin, json!({"key": daily["key"]})).await, "RATE_LIMITED");

    // A key without limits is not limited.
    let free = surface_key(&admin, &shop, &web, json!({"name": "free"})).await;
    for _ in 0..5 {
        assert_eq!(verify_code(&admin, json!({"key": free["key"]})).await, "VALID");
    }
}
