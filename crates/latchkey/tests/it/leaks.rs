//! Leaked keys (issue 26, points 7–8): secret scanners' signed reports
//! (`POST /v1/leaks`, in GitHub's secret scanning partner format, signed by
//! a P-256 key made here and named in the server's `[[leaks.signers]]`) and
//! admins' reports by hand (`POST /v1/api-keys/{id}/report-leak`).

use base64ct::{Base64, Encoding as _};
use latchkey_core::{Environment, KeyPrefix, PlainKey};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::canary::remember_secret;
use crate::common::{Api, TestServer, join_org};

/// A secret scanner: a P-256 key pair made for the test, known to the
/// server as `key_id` (the authorization matrix signs with one too).
pub struct Scanner {
    key_id: String,
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Scanner {
    pub fn new(key_id: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        Self { key_id: key_id.to_owned(), pair, rng }
    }

    /// The `[[leaks.signers]]` entry of its public key (a PEM
    /// SubjectPublicKeyInfo: the fixed DER head of a P-256 key, then the
    /// point).
    pub fn toml(&self) -> String {
        let mut der = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
            0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        der.extend_from_slice(self.pair.public_key().as_ref());
        let b64 = Base64::encode_string(&der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!(
            "[[leaks.signers]]\nkey_id = \"{}\"\npublic_key_pem = \"\"\"\n-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n\"\"\"\n",
            self.key_id,
            lines.join("\n")
        )
    }

    /// The base64 DER signature of `body`.
    fn sign(&self, body: &[u8]) -> String {
        Base64::encode_string(self.pair.sign(&self.rng, body).unwrap().as_ref())
    }

    /// The headers of a report of `body` signed by this scanner.
    pub fn headers(&self, body: &[u8]) -> Vec<(String, String)> {
        vec![
            ("Github-Public-Key-Identifier".to_owned(), self.key_id.clone()),
            ("Github-Public-Key-Signature".to_owned(), self.sign(body)),
        ]
    }
}

/// `POST /v1/leaks` with `body` and the headers given.
async fn post_report(
    server: &TestServer,
    key_id: Option<&str>,
    signature: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(format!("{}/v1/leaks", server.url)).body(body);
    if let Some(id) = key_id {
        req = req.header("Github-Public-Key-Identifier", id);
    }
    if let Some(sig) = signature {
        req = req.header("Github-Public-Key-Signature", sig);
    }
    let res = req.header("content-type", "application/json").send().await.unwrap();
    let status = res.status().as_u16();
    (status, serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null))
}

/// A report signed by `scanner`.
async fn signed(server: &TestServer, scanner: &Scanner, body: &[u8]) -> (u16, Value) {
    post_report(server, Some(&scanner.key_id), Some(&scanner.sign(body)), body.to_vec()).await
}

/// GitHub's form of one match.
fn item(token: &str, url: &str) -> Value {
    json!({"token": token, "type": "latchkey_api_key", "url": url, "source": "content"})
}

/// SHA-256 of `token`, lowercase hex: the `token_hash` GitHub takes.
fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The verify code of `key` as `verifier` (a key with `keys:verify`) sees it.
async fn code(verifier: &Api, key: &str) -> String {
    let r = verifier.post("/v1/keys/verify", json!({"key": key})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"]["code"].as_str().unwrap().to_owned()
}

/// The organization's `api_key.leaked` events.
async fn leak_events(admin: &Api) -> Vec<Value> {
    let r = admin.get("/v1/audit-events?action=api_key.leaked&limit=100").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn signed_reports_revoke_or_flag_and_anything_unsigned_does_nothing() {
    let scanner = Scanner::new("scanner-key-1");
    let stranger = Scanner::new("scanner-key-1");
    let config = tempfile::tempdir().unwrap();
    let file = config.path().join("latchkey.toml");
    std::fs::write(&file, scanner.toml()).unwrap();
    let server = TestServer::start_with(&["--config", file.to_str().unwrap()]).await;
    let admin = server.admin();
    let (live_id, live) = TestServer::create_key(&admin, json!({"name": "live"})).await;
    let (revoked_id, revoked) = TestServer::create_key(&admin, json!({"name": "revoked before"})).await;
    let r = admin.post_empty(&format!("/v1/api-keys/{revoked_id}/revoke")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let revoked_at = r.body["data"]["revokedAt"].clone();
    // An organization that only flags leaks.
    let flagging = server.second_org("Flagco", "flo@example.com");
    let flag_admin = server.with_key(&flagging.api_key);
    let r = flag_admin.patch(&format!("/v1/orgs/{}", flagging.org_id), json!({"leakAction": "flag"})).await;
    assert_eq!((r.status, &r.body["data"]["leakAction"]), (200, &json!("flag")), "{}", r.text);
    let (flagged_id, flagged) = TestServer::create_key(&flag_admin, json!({"name": "flagged"})).await;
    // Well-formed and checksummed, but never issued; and not a key at all.
    let unknown = PlainKey::generate(&KeyPrefix::branded("lk", Environment::Live).unwrap()).expose().to_owned();
    remember_secret(&unknown);
    // The key is verified (and cached) before the report: the revocation
    // must reach the cache at once.
    assert_eq!(code(&admin, &live).await, "VALID");

    let url = "https://github.com/octo/demo/blob/abc123/config.env";
    let report = json!([
        item(&live, url),
        item(&flagged, "https://github.com/octo/demo/blob/abc123/other.env"),
        item(&revoked, ""),
        item(&unknown, url),
        item("NMIfyYncKcRALEXAMPLE", url),
        item(&live, url),
    ])
    .to_string()
    .into_bytes();

    // Refused reports: 401 with the envelope, nothing done.
    let good_signature = scanner.sign(&report);
    let mut tampered = report.clone();
    let at = tampered.len() - 10;
    tampered[at] ^= 0x01;
    let mut bad_signature = Base64::decode_vec(&good_signature).unwrap();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 0x01;
    let refused = [
        ("unsigned", None, None, report.clone()),
        ("no signature", Some(scanner.key_id.as_str()), None, report.clone()),
        ("no key id", None, Some(good_signature.clone()), report.clone()),
        ("tampered body", Some(scanner.key_id.as_str()), Some(good_signature.clone()), tampered),
        ("tampered signature", Some(&scanner.key_id), Some(Base64::encode_string(&bad_signature)), report.clone()),
        ("unknown key id", Some("scanner-key-2"), Some(good_signature.clone()), report.clone()),
        ("another key's signature", Some(&scanner.key_id), Some(stranger.sign(&report)), report.clone()),
        ("not base64", Some(&scanner.key_id), Some("%%%".to_owned()), report.clone()),
    ];
    for (what, key_id, signature, body) in refused {
        let (status, body) = post_report(&server, key_id, signature.as_deref(), body).await;
        assert_eq!((status, &body["error"]["code"]), (401, &json!("unauthorized")), "{what}: {body}");
    }
    assert_eq!(code(&admin, &live).await, "VALID", "a refused report revokes nothing");
    assert!(leak_events(&admin).await.is_empty(), "a refused report is not audited");
    assert_eq!(admin.get(&format!("/v1/api-keys/{live_id}")).await.body["data"]["leakedAt"], Value::Null);

    // Bounds, checked once signed: 1,001 tokens, a body over 1 MiB.
    let many = serde_json::to_vec(&vec![item("x", ""); 1_001]).unwrap();
    let (status, body) = signed(&server, &scanner, &many).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("invalid_request")), "{body}");
    let huge = serde_json::to_vec(&vec![item(&"y".repeat(1_100), ""); 1_000]).unwrap();
    assert!(huge.len() > 1 << 20);
    let (status, body) = signed(&server, &scanner, &huge).await;
    assert_eq!((status, &body["error"]["code"]), (413, &json!("payload_too_large")), "{body}");
    let (status, body) = signed(&server, &scanner, br#"{"token": "x"}"#).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("invalid_request")), "{body}");
    assert_eq!(code(&admin, &live).await, "VALID");

    // The signed report: labels in order, the live key revoked at once.
    let (status, labels) = post_report(&server, Some(&scanner.key_id), Some(&good_signature), report.clone()).await;
    assert_eq!(status, 200, "{labels}");
    let tokens = [&live, &flagged, &revoked, &unknown, "NMIfyYncKcRALEXAMPLE", &live];
    let expected =
        ["true_positive", "true_positive", "true_positive", "false_positive", "false_positive", "true_positive"];
    let labels = labels.as_array().unwrap();
    assert_eq!(labels.len(), tokens.len());
    for ((label, token), verdict) in labels.iter().zip(tokens).zip(expected) {
        let want = json!({"token_hash": sha256_hex(token), "token_type": "latchkey_api_key", "label": verdict});
        assert_eq!(label, &want);
    }
    assert_eq!(code(&admin, &live).await, "REVOKED");
    let live_view = admin.get(&format!("/v1/api-keys/{live_id}")).await;
    assert_eq!(live_view.body["data"]["status"], "revoked", "{}", live_view.text);
    assert!(live_view.body["data"]["leakedAt"].is_string(), "{}", live_view.text);
    // Flag-only: still valid, flagged.
    assert_eq!(code(&flag_admin, &flagged).await, "VALID");
    let flagged_view = flag_admin.get(&format!("/v1/api-keys/{flagged_id}")).await;
    assert_eq!(flagged_view.body["data"]["status"], "active", "{}", flagged_view.text);
    assert_eq!(flagged_view.body["data"]["revokedAt"], Value::Null);
    assert!(flagged_view.body["data"]["leakedAt"].is_string(), "{}", flagged_view.text);
    // Revoked before: revoked when it was, flagged now.
    let revoked_view = admin.get(&format!("/v1/api-keys/{revoked_id}")).await;
    assert_eq!(revoked_view.body["data"]["revokedAt"], revoked_at);
    assert!(revoked_view.body["data"]["leakedAt"].is_string());

    // Audited once per key (the repeated token acts once), with the URL,
    // in the key's own organization, never with the token.
    let events = leak_events(&admin).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let on = |id: &str| events.iter().find(|e| e["target"]["id"] == id).unwrap_or_else(|| panic!("{id}: {events:?}"));
    let live_event = on(&live_id);
    assert_eq!(live_event["actor"], json!({"type": "scanner", "id": "scanner-key-1"}), "{live_event}");
    assert_eq!(live_event["target"]["type"], "api_key");
    let details = &live_event["details"];
    assert_eq!(
        (&details["url"], &details["source"], &details["revoked"]),
        (&json!(url), &json!("content"), &json!(true))
    );
    assert_eq!(on(&revoked_id)["details"]["revoked"], true);
    let flag_events = leak_events(&flag_admin).await;
    assert_eq!(flag_events.len(), 1, "{flag_events:?}");
    assert_eq!(flag_events[0]["target"]["id"], flagged_id.as_str());
    assert_eq!(
        (&flag_events[0]["details"]["revoked"], &flag_events[0]["details"]["action"]),
        (&json!(false), &json!("flag"))
    );
    let trail = format!("{events:?}{flag_events:?}");
    for token in [&live, &flagged, &revoked, &unknown] {
        assert!(!trail.contains(token.as_str()), "a token in the audit trail");
    }
}

#[tokio::test]
async fn admins_report_leaks_by_hand_and_choose_what_a_leak_does() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org = server.admin.org_id.clone();
    let member_person = join_org(&server, &admin, &org, "leak-member@example.com", "member").await;
    let member = server.with_session_in_org(&member_person.token, &org);
    let (member_key_id, member_key) =
        TestServer::create_key(&member, json!({"name": "member's", "scopes": ["sandbox:read"]})).await;
    let (key_id, key) = TestServer::create_key(&admin, json!({"name": "found in a gist"})).await;
    let other = server.second_org("Elsewhere", "else@example.com");
    let other_admin = server.with_key(&other.api_key);
    let path = |id: &str| format!("/v1/api-keys/{id}/report-leak");

    // Members may not (not even their own key), another organization finds
    // nothing, a bad URL is refused: nothing changes.
    let r = member.post(&path(&member_key_id), json!({})).await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);
    let r = other_admin.post(&path(&key_id), json!({"url": "https://example.com/x"})).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"), "{}", r.text);
    for url in ["ftp://example.com/x", "not a url", &format!("https://example.com/{}", "a".repeat(2_100))] {
        let r = admin.post(&path(&key_id), json!({"url": url})).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{url}: {}", r.text);
    }
    assert_eq!(code(&admin, &key).await, "VALID");
    assert_eq!(code(&admin, &member_key).await, "VALID");
    assert!(leak_events(&admin).await.is_empty());

    // The default: revoked at once.
    let url = "https://gist.github.com/someone/0123abcd";
    let r = admin.post(&path(&key_id), json!({"url": url})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["status"], "revoked");
    assert!(r.body["data"]["leakedAt"].is_string() && r.body["data"]["revokedAt"].is_string(), "{}", r.text);
    assert_eq!(code(&admin, &key).await, "REVOKED");
    let events = leak_events(&admin).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"]["type"], "key");
    assert_eq!((&events[0]["details"]["url"], &events[0]["details"]["source"]), (&json!(url), &json!("manual")));

    // Only admins choose what a leak does; `flag` leaves the key working.
    let org_path = format!("/v1/orgs/{org}");
    let r = member.patch(&org_path, json!({"leakAction": "flag"})).await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);
    let r = admin.patch(&org_path, json!({"leakAction": "ignore"})).await;
    assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{}", r.text);
    assert_eq!(admin.get(&org_path).await.body["data"]["leakAction"], "revoke", "the default");
    let r = admin.patch(&org_path, json!({"leakAction": "flag"})).await;
    assert_eq!((r.status, &r.body["data"]["leakAction"]), (200, &json!("flag")), "{}", r.text);
    let r = admin.post_empty(&path(&member_key_id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((&r.body["data"]["status"], &r.body["data"]["revokedAt"]), (&json!("active"), &Value::Null));
    assert!(r.body["data"]["leakedAt"].is_string(), "{}", r.text);
    assert_eq!(code(&admin, &member_key).await, "VALID");
    let events = leak_events(&admin).await;
    assert_eq!(events.len(), 2);
    assert!(!format!("{events:?}").contains(&key) && !format!("{events:?}").contains(&member_key));
}
