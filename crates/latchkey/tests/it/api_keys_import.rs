//! `POST /v1/api-keys/import` (keys of another system by their SHA-256, in
//! hex, base64 or base64url; all or nothing, with the checks of single
//! creation) and `GET /v1/api-keys/export` (every key's metadata and hash
//! as JSON lines, never a plaintext), through to verification: imported
//! keys verify by their hash although they lack latchkey's checksum, and an
//! export imported into a fresh server verifies the same keys there.

use std::collections::BTreeSet;
use std::time::Duration;

use base64ct::Encoding as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::User;
use crate::common::{Api, Resp, TestServer, eventually, join_org, pg_base};

const IMPORT: &str = "/v1/api-keys/import";
const EXPORT: &str = "/v1/api-keys/export";

/// A fresh random secret of another system's making: `prefix` and `n`
/// random base64url characters.
fn foreign(prefix: &str, n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).unwrap();
    let body = base64ct::Base64UrlUnpadded::encode_string(&bytes);
    format!("{prefix}{}", &body[..n])
}

/// The SHA-256 of `key` written as `encoding`, as an import takes it.
fn hash(key: &str, encoding: &str) -> Value {
    let digest = Sha256::digest(key.as_bytes());
    let value = match encoding {
        "hex" => digest.iter().map(|b| format!("{b:02x}")).collect(),
        "base64" => base64ct::Base64::encode_string(&digest),
        _ => base64ct::Base64UrlUnpadded::encode_string(&digest),
    };
    json!({"algorithm": "sha256", "encoding": encoding, "value": value})
}

/// An import line for `key`.
fn line(key: &str, encoding: &str, name: &str, scopes: &[&str]) -> Value {
    json!({"hash": hash(key, encoding), "name": name, "scopes": scopes})
}

/// `lines` as JSON lines.
fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `POST /v1/keys/verify` of `key` by `api`: its code and key id.
async fn verify(api: &Api, key: &str) -> (String, Option<String>) {
    let r = api.post("/v1/keys/verify", json!({"key": key})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    (r.body["data"]["code"].as_str().unwrap().to_owned(), r.body["data"]["keyId"].as_str().map(str::to_owned))
}

/// The organization's keys (ids) and `api_key.import` events, at most 100
/// of each: what a refused import must leave unchanged.
async fn stored(admin: &Api) -> (BTreeSet<String>, usize) {
    let keys = admin.get("/v1/api-keys?allOrg=true&limit=100").await;
    assert_eq!(keys.status, 200, "{}", keys.text);
    let events = admin.get("/v1/audit-events?action=api_key.import&limit=100").await;
    assert_eq!(events.status, 200, "{}", events.text);
    let ids = keys.body["data"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect();
    (ids, events.body["data"].as_array().unwrap().len())
}

/// Asserts `r` refuses the key of `index` (from 0) with `status` and
/// `code`.
fn refused_at(r: &Resp, status: u16, code: &str, index: usize) {
    assert_eq!((r.status, r.error_code()), (status, code), "{}", r.text);
    assert_eq!(r.body["error"]["index"], index, "{}", r.text);
    let prefix = format!("keys[{index}]: ");
    assert!(r.body["error"]["message"].as_str().unwrap().starts_with(&prefix), "{}", r.text);
}

/// The lines of an export.
fn export_lines(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    r.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn imported_keys_verify_by_their_hash_in_every_encoding() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let unkey = foreign("prod_", 22);
    let better_auth = foreign("", 64);
    let home_grown = foreign("sk-home.", 40);
    // Nothing imported yet: another system's format is refused at once.
    assert_eq!(verify(&admin, &home_grown).await, ("MALFORMED".to_owned(), None));
    // A second node of a cluster (PostgreSQL) knows of no import either.
    let node = pg_base().map(|_| server.node(2, &[]));
    let on_node = node.as_ref().map(|n| n.with_key(&server.admin.api_key));
    if let Some(other) = &on_node {
        assert_eq!(verify(other, &home_grown).await.0, "MALFORMED");
    }

    let body = ndjson(&[
        json!({"hash": hash(&unkey, "base64"), "prefix": "prod_3Zd", "name": "from unkey", "scopes": ["sandbox:read", "org:read"], "externalId": "key_2cGKbMxRyIzhCxo1I"}),
        json!({"hash": hash(&better_auth, "base64url"), "name": "from better-auth", "scopes": ["agent:run"], "expiresAt": "2999-01-01T00:00:00Z", "ownerUserId": server.admin.user_id}),
        json!({"hash": hash(&home_grown, "hex"), "prefix": "sk-home", "name": "home-grown", "scopes": ["sandbox:*"], "environment": "test"}),
    ]);
    let r = admin.post_raw(IMPORT, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"]["imported"], 3);
    let ids: Vec<String> =
        r.body["data"]["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
    assert_eq!(ids.len(), 3);
    for (key, id) in [&unkey, &better_auth, &home_grown].into_iter().zip(&ids) {
        assert_eq!(verify(&admin, key).await, ("VALID".to_owned(), Some(id.clone())), "{key}");
    }
    // The other node learns of the import from the key change log.
    if let Some(other) = &on_node {
        let learnt =
            eventually(Duration::from_secs(10), || async { verify(other, &home_grown).await.0 == "VALID" }).await;
        assert!(learnt, "the second node never looked the imported key up");
    }
    // They are keys like any other: on latchkey's own API too.
    let me = server.with_key(&unkey).get("/v1/me").await;
    assert_eq!((me.status, me.body["data"]["keyId"].as_str()), (200, Some(ids[0].as_str())), "{}", me.text);
    // Shown as imported, with what the import gave.
    let got = admin.get(&format!("/v1/api-keys/{}", ids[0])).await;
    let k = &got.body["data"];
    assert_eq!(
        (k["imported"].as_bool(), k["keyPrefix"].as_str(), k["keyHint"].as_str()),
        (Some(true), Some("prod_3Zd"), Some(""))
    );
    assert_eq!((k["externalId"].as_str(), k["owner"].as_str()), (Some("key_2cGKbMxRyIzhCxo1I"), Some("org")));
    let k = &admin.get(&format!("/v1/api-keys/{}", ids[1])).await.body["data"];
    assert_eq!((k["ownerUserId"].as_str(), k["keyPrefix"].as_str()), (Some(server.admin.user_id.as_str()), Some("")));
    assert_eq!(k["expiresAt"], "2999-01-01T00:00:00Z");
    assert_eq!(admin.get(&format!("/v1/api-keys/{}", ids[2])).await.body["data"]["environment"], "test");
    let listed = admin.get("/v1/api-keys?allOrg=true&externalId=key_2cGKbMxRyIzhCxo1I").await;
    assert_eq!(listed.body["data"].as_array().unwrap().iter().map(|k| &k["id"]).collect::<Vec<_>>(), [&ids[0]]);
    let events = admin.get("/v1/audit-events?action=api_key.import&limit=10").await;
    assert_eq!(events.body["data"].as_array().unwrap().len(), 3, "{}", events.text);

    // Now that keys are imported, another format is looked up (and not
    // found); latchkey's own format still fails on its checksum first.
    assert_eq!(verify(&admin, &foreign("prod_", 22)).await.0, "NOT_FOUND");
    let own = &server.admin.api_key;
    let last = if own.ends_with('A') { 'B' } else { 'A' };
    let typo = format!("{}{last}", &own[..own.len() - 1]);
    assert_eq!(verify(&admin, &typo).await.0, "MALFORMED");

    // Another organization neither verifies them as its own, nor sees them,
    // nor exports them, nor imports the same hash. It imported nothing:
    // strings of another format are refused for it without a lookup
    // (`MALFORMED`, where a lookup would answer `NOT_FOUND`), its own keys
    // verify as ever.
    let other = server.second_org("Globex", "gina@example.com");
    let theirs = server.with_key(&other.api_key);
    assert_eq!(verify(&theirs, &unkey).await, ("MALFORMED".to_owned(), None));
    assert_eq!(verify(&theirs, &foreign("prod_", 22)).await.0, "MALFORMED");
    assert_eq!(verify(&theirs, &other.api_key).await.0, "VALID");
    assert_eq!(theirs.get(&format!("/v1/api-keys/{}", ids[0])).await.status, 404);
    let exported = export_lines(&theirs.get(EXPORT).await);
    let exported_ids: Vec<&str> = exported.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(exported_ids.len(), 1, "only Globex's own admin key: {exported_ids:?}");
    assert!(ids.iter().all(|id| !exported_ids.contains(&id.as_str())));
    let again = theirs.post_raw(IMPORT, ndjson(&[line(&unkey, "hex", "mine now", &["sandbox:read"])])).await;
    refused_at(&again, 409, "conflict", 0);
    assert_eq!(verify(&theirs, &foreign("prod_", 22)).await.0, "MALFORMED", "a refused import imports nothing");
    assert_eq!(verify(&admin, &unkey).await.1.as_deref(), Some(ids[0].as_str()));

    // Revoking an imported key stops it at once, and on the other node.
    let r = admin.post_empty(&format!("/v1/api-keys/{}/revoke", ids[2])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(verify(&admin, &home_grown).await.0, "REVOKED");
    if let Some(other) = &on_node {
        let stopped =
            eventually(Duration::from_secs(10), || async { verify(other, &home_grown).await.0 == "REVOKED" }).await;
        assert!(stopped, "the second node still takes the revoked imported key");
    }
    // Rotating one gives a key of latchkey's own format.
    let r = admin.post_empty(&format!("/v1/api-keys/{}/rotate", ids[0])).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["data"]["key"].as_str().unwrap().starts_with("lk_live_"), "{}", r.text);
    assert_eq!(r.body["data"]["imported"], false);
    assert_eq!(verify(&admin, &unkey).await.0, "REVOKED");
}

#[tokio::test]
async fn an_import_is_all_or_nothing_and_checked_like_creation() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org = server.admin.org_id.clone();
    let bob = join_org(&server, &admin, &org, "bob@example.com", "member").await;
    let taken = foreign("taken_", 30);
    let r = admin.post_raw(IMPORT, ndjson(&[line(&taken, "hex", "taken", &["sandbox:read"])])).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let globex = server.second_org("Globex", "gina@example.com");
    let before = stored(&admin).await;
    let ok = || line(&foreign("ok_", 30), "base64url", "fine", &["sandbox:read"]);
    let twin = foreign("twin_", 30);
    let cases = [
        (
            json!({"hash": {"algorithm": "sha256", "encoding": "hex", "value": "abcd"}, "name": "x", "scopes": []}),
            400,
            "invalid_request",
        ),
        (
            json!({"hash": {"algorithm": "sha256", "encoding": "base64url", "value": "AAECAwQFBgcICQoLDA0ODw"}, "name": "x", "scopes": []}),
            400,
            "invalid_request",
        ),
        (
            json!({"hash": {"algorithm": "sha256", "encoding": "base32", "value": "abcd"}, "name": "x", "scopes": []}),
            400,
            "invalid_request",
        ),
        (
            json!({"hash": {"algorithm": "md5", "encoding": "hex", "value": "ab".repeat(16)}, "name": "x", "scopes": []}),
            400,
            "invalid_request",
        ),
        (
            json!({"hash": {"algorithm": "sha256", "encoding": "base64", "value": hash("x", "hex")["value"]}, "name": "x", "scopes": []}),
            400,
            "invalid_request",
        ),
        (
            json!({"hash": hash(&foreign("a_", 30), "base64"), "name": "x", "scopes": ["nope:nope"]}),
            400,
            "invalid_scopes",
        ),
        (
            json!({"hash": hash(&foreign("a_", 30), "hex"), "name": "x", "scopes": [], "expiresAt": "2001-01-01T00:00:00Z"}),
            400,
            "invalid_request",
        ),
        (
            json!({"hash": hash(&foreign("a_", 30), "hex"), "name": "x", "scopes": [], "ownerUserId": "usr_nobody"}),
            400,
            "invalid_request",
        ),
        (
            json!({"hash": hash(&foreign("a_", 30), "hex"), "name": "x", "scopes": [], "ownerUserId": globex.user_id}),
            400,
            "invalid_request",
        ),
        (
            json!({"hash": hash(&foreign("a_", 30), "hex"), "name": "x", "scopes": [], "prefix": "no spaces"}),
            400,
            "invalid_request",
        ),
        (
            json!({"hash": hash(&foreign("a_", 30), "hex"), "name": "x", "scopes": ["secret:resolve"]}),
            403,
            "insufficient_scope",
        ),
        (
            json!({"hash": hash(&foreign("a_", 30), "hex"), "name": "x", "scopes": ["org:write"], "ownerUserId": bob.user_id}),
            403,
            "insufficient_scope",
        ),
        (json!({"hash": hash(&taken, "base64"), "name": "x", "scopes": []}), 409, "conflict"),
        (json!({"hash": hash(&twin, "hex"), "name": "x", "scopes": [], "colour": "red"}), 400, "invalid_request"),
    ];
    for (bad, status, code) in cases {
        let mut lines = vec![ok(), ok(), bad.clone(), ok()];
        let r = admin.post_raw(IMPORT, ndjson(&lines)).await;
        refused_at(&r, status, code, 2);
        // The same as a JSON array: the third key.
        lines[3] = ok();
        let r = admin.post(IMPORT, Value::Array(lines)).await;
        refused_at(&r, status, code, 2);
        assert_eq!(stored(&admin).await, before, "nothing stored after {bad}");
    }
    // The same hash twice in one import, in two encodings.
    let r = admin
        .post_raw(IMPORT, ndjson(&[ok(), line(&twin, "hex", "a", &[]), ok(), line(&twin, "base64", "b", &[])]))
        .await;
    refused_at(&r, 400, "invalid_request", 3);
    assert!(r.text.contains("the same hash as keys[1]"), "{}", r.text);
    // A line that is not JSON, after a blank one: its key's index, its
    // line's number.
    let r = admin.post_raw(IMPORT, format!("{}\n\n{{nope\n", ok())).await;
    refused_at(&r, 400, "invalid_request", 1);
    assert!(r.text.contains("line 3 is not a key"), "{}", r.text);
    assert_eq!(stored(&admin).await, before);
    // The organization's key policy applies to every key.
    let p = admin.put(&format!("/v1/orgs/{org}/key-policy"), json!({"requireExpiry": true})).await;
    assert_eq!(p.status, 200, "{}", p.text);
    let r = admin.post_raw(IMPORT, ndjson(&[ok()])).await;
    refused_at(&r, 400, "policy_violation", 0);
    assert_eq!(r.body["error"]["rule"], "requireExpiry");
    let p = admin.put(&format!("/v1/orgs/{org}/key-policy"), json!({})).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(stored(&admin).await, before);

    // Admins only; and a key grants no more than it holds.
    let member = server.with_session_in_org(&bob.token, &org);
    let r = member.post_raw(IMPORT, ndjson(&[ok()])).await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);
    let (_, narrow) =
        TestServer::create_key(&admin, json!({"name": "narrow", "scopes": ["org:write", "sandbox:read"]})).await;
    let r = server
        .with_key(&narrow)
        .post_raw(IMPORT, ndjson(&[ok(), line(&foreign("w_", 30), "hex", "wide", &["agent:run"])]))
        .await;
    refused_at(&r, 403, "insufficient_scope", 1);
    assert_eq!(server.with_key(&narrow).post_raw(IMPORT, ndjson(&[ok()])).await.status, 201);

    // 1 to 10,000 keys, in at most 16 MiB.
    for body in [String::new(), "\n\n".to_owned(), "[]".to_owned()] {
        let r = admin.post_raw(IMPORT, body).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{}", r.text);
    }
    let one = line(&taken, "hex", "k", &[]).to_string();
    let r = admin.post_raw(IMPORT, format!("{one}\n").repeat(10_001)).await;
    assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{}", r.text);
    assert!(r.text.contains("1 to 10000"), "{}", r.text);
    let huge = format!("{}\n", json!({"hash": hash("x", "hex"), "name": "x".repeat(17 << 20), "scopes": []}));
    let r = admin.post_raw(IMPORT, huge).await;
    assert_eq!((r.status, r.error_code()), (413, "payload_too_large"), "{}", r.text);
}

#[tokio::test]
async fn an_export_holds_every_key_but_no_plaintext_and_imports_into_a_fresh_server() {
    let server = TestServer::start().await;
    let admin = server.admin();
    // Keys of latchkey's own making, and more imported ones than one page
    // of the export holds.
    let (native_id, native) =
        TestServer::create_key(&admin, json!({"name": "native", "scopes": ["sandbox:read"], "expiresIn": "30d"})).await;
    let (revoked_id, revoked) = TestServer::create_key(&admin, json!({"name": "revoked"})).await;
    assert_eq!(admin.post_empty(&format!("/v1/api-keys/{revoked_id}/revoke")).await.status, 200);
    let foreign_keys: Vec<String> = (0..620).map(|_| foreign("ext_", 32)).collect();
    let lines: Vec<Value> = foreign_keys
        .iter()
        .enumerate()
        .map(|(i, k)| json!({"hash": hash(k, "hex"), "prefix": "ext_", "name": format!("imported {i}"), "scopes": ["agent:run"], "externalId": format!("ext-{i}")}))
        .collect();
    let r = admin.post_raw(IMPORT, ndjson(&lines)).await;
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(300)]);

    let out = export_lines(&admin.get(EXPORT).await);
    let plaintexts: Vec<&str> = foreign_keys
        .iter()
        .map(String::as_str)
        .chain([native.as_str(), revoked.as_str(), server.admin.api_key.as_str()])
        .collect();
    assert_eq!(out.len(), plaintexts.len(), "every key, over two pages");
    let text = out.iter().map(Value::to_string).collect::<String>();
    for p in &plaintexts {
        assert!(!text.contains(&p[4..]), "the export holds a plaintext");
    }
    let ids: BTreeSet<&str> = out.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), out.len());
    let by_id = |id: &str| out.iter().find(|l| l["id"] == id).unwrap().clone();
    let n = by_id(&native_id);
    assert_eq!(n["hash"], hash(&native, "base64url"));
    assert_eq!(
        (n["status"].as_str(), n["imported"].as_bool(), n["scopes"].clone()),
        (Some("active"), Some(false), json!(["sandbox:read"]))
    );
    assert_eq!(by_id(&revoked_id)["status"], "revoked");
    let hex_out = export_lines(&admin.get(&format!("{EXPORT}?encoding=hex")).await);
    let first = hex_out.iter().find(|l| l["externalId"] == "ext-0").unwrap();
    assert_eq!(
        (first["hash"].clone(), first["imported"].as_bool(), first["prefix"].as_str()),
        (hash(&foreign_keys[0], "hex"), Some(true), Some("ext_"))
    );
    assert_eq!(admin.get(&format!("{EXPORT}?encoding=rot13")).await.status, 400);
    let org = server.admin.org_id.clone();
    let bob = join_org(&server, &admin, &org, "bob@example.com", "member").await;
    let r = server.with_session_in_org(&bob.token, &org).get(EXPORT).await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);

    // Through the CLI: export here, import into a fresh server; the active
    // keys verify there, by their hash, with their names, scopes, expiry
    // and external ids.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.jsonl");
    let file = file.to_str().unwrap();
    let here = User::new(&server.url);
    here.run_with(&["auth", "keys", "export", "--output", file], &[("LATCHKEY_API_KEY", &server.admin.api_key)], "")
        .ok();
    let fresh = TestServer::start().await;
    let there = User::new(&fresh.url);
    let done = there
        .run_with(
            &["auth", "keys", "import", file, "--from-export", "--json"],
            &[("LATCHKEY_API_KEY", &fresh.admin.api_key)],
            "",
        )
        .json();
    assert_eq!(
        done["imported"],
        foreign_keys.len() + 2,
        "the active keys: the imported ones, the native one and the first admin's"
    );
    let fresh_admin = fresh.admin();
    for key in [&foreign_keys[0], &foreign_keys[619], &native, &server.admin.api_key] {
        let (code, id) = verify(&fresh_admin, key).await;
        assert_eq!(code, "VALID", "{key}");
        let k = &fresh_admin.get(&format!("/v1/api-keys/{}", id.unwrap())).await.body["data"];
        assert_eq!(k["imported"], true);
        if key == &native {
            let was = by_id(&native_id);
            assert_eq!(
                (&k["name"], &k["scopes"], &k["expiresAt"], &k["keyPrefix"]),
                (&was["name"], &was["scopes"], &was["expiresAt"], &was["prefix"])
            );
            assert_eq!(k["owner"], "org");
        }
    }
    assert_eq!(verify(&fresh_admin, &revoked).await.0, "NOT_FOUND", "a revoked key is not brought back");
    let k = &fresh_admin.get("/v1/api-keys?allOrg=true&externalId=ext-619").await.body["data"][0];
    assert_eq!((k["name"].as_str(), k["scopes"].clone()), (Some("imported 619"), json!(["agent:run"])));
}
