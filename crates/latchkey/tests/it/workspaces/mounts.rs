//! Mount decisions: the grant, verified offline as the sandbox runtime
//! would; each refusal; every decision in the audit trail.

use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde_json::{Value, json};

use super::{Org, create, id, refused};
use crate::common::{Api, now_ms};

/// `grant`'s claims when its signature verifies with the key of its `kid`
/// in `jwks` (Ed25519, with ring), else why not.
fn verify(grant: &str, jwks: &Value) -> Result<Value, String> {
    let parts: Vec<&str> = grant.split('.').collect();
    let [header, claims, signature] = parts[..] else { return Err("not three parts".to_owned()) };
    let decode = |p: &str| Base64UrlUnpadded::decode_vec(p).map_err(|e| e.to_string());
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    if header["alg"] != "EdDSA" || header["typ"] != "latchkey-mount+jwt" {
        return Err(format!("header {header}"));
    }
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .ok_or_else(|| format!("no key {}", header["kid"]))?;
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"), &json!("sig"))
    );
    let public = decode(key["x"].as_str().unwrap())?;
    let signed = &grant[..grant.rfind('.').unwrap()];
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public)
        .verify(signed.as_bytes(), &decode(signature)?)
        .map_err(|_| "bad signature".to_owned())?;
    serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())
}

fn body(sandbox: &str, path: &str, mode: &str) -> Value {
    json!({"sandboxId": sandbox, "path": path, "mode": mode})
}

async fn mount(api: &Api, wsp: &str, body: Value) -> crate::common::Resp {
    api.post(&format!("/v1/workspaces/{wsp}/mounts"), body).await
}

#[tokio::test]
async fn an_allowed_mount_carries_a_grant_that_verifies_offline_with_the_published_keys() {
    let org = Org::start().await;
    let w = create(&org.admin, json!({"name": "memory", "kind": "org"})).await;
    let wsp = id(&w);
    let jwks = org.server.anonymous().get("/v1/workspaces/grant-keys").await;
    assert_eq!(jwks.status, 200, "{}", jwks.text);
    assert_eq!(jwks.headers["cache-control"], "public, max-age=300");
    let jwks = jwks.body;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");

    for (api, mode) in [(&org.member, "ro"), (&org.member, "rw"), (&org.admin, "rw")] {
        let before = now_ms() / 1000;
        let r = mount(api, &wsp, body("sbx_42", "/workspace", mode)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.headers["cache-control"], "no-store");
        let d = &r.body["data"];
        assert_eq!(
            (&d["allowed"], &d["workspaceId"], &d["sandboxId"], &d["path"], &d["mode"]),
            (&json!(true), &json!(wsp), &json!("sbx_42"), &json!("/workspace"), &json!(mode))
        );
        let claims = verify(d["grant"].as_str().unwrap(), &jwks).unwrap();
        assert_eq!(
            (
                &claims["aud"],
                &claims["sub"],
                &claims["org"],
                &claims["sandboxId"],
                &claims["path"],
                &claims["mode"],
                &claims["prefix"]
            ),
            (
                &json!("latchkey:mount"),
                &json!(wsp),
                &json!(org.server.admin.org_id),
                &json!("sbx_42"),
                &json!("/workspace"),
                &json!(mode),
                &w["storagePrefix"]
            )
        );
        let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
        assert!(iat >= before && iat <= now_ms() / 1000 + 1, "{claims}");
        assert_eq!(exp - iat, 300, "five minutes");
        assert_eq!(crate::common::ms(&d["expiresAt"]), exp * 1000);
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()) && claims["iss"].is_string(), "{claims}");
    }

    // Tampered: the claims changed (ro → rw, another workspace), or the
    // signature: refused by the verifier.
    let r = mount(&org.member, &wsp, body("sbx_42", "/workspace", "ro")).await;
    let grant = r.body["data"]["grant"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = grant.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[1]).unwrap()).unwrap();
    claims["mode"] = json!("rw");
    let forged =
        format!("{}.{}.{}", parts[0], Base64UrlUnpadded::encode_string(claims.to_string().as_bytes()), parts[2]);
    assert_eq!(verify(&forged, &jwks), Err("bad signature".to_owned()));
    let mut sig = Base64UrlUnpadded::decode_vec(parts[2]).unwrap();
    sig[0] ^= 0x80;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], Base64UrlUnpadded::encode_string(&sig));
    assert_eq!(verify(&flipped, &jwks), Err("bad signature".to_owned()));

    // Another node on the same database (and master key) publishes the
    // same key, so a grant from either verifies with either's keys.
    let node = org.server.node(1, &[]);
    let theirs = node.with_key(&org.server.admin.api_key).get("/v1/workspaces/grant-keys").await;
    assert_eq!(theirs.body, jwks);
}

#[tokio::test]
async fn every_refusal_has_its_code_and_every_decision_is_audited() {
    let org = Org::start().await;
    let wsp = id(&create(&org.admin, json!({"name": "shared", "kind": "org"})).await);
    let personal = id(&create(&org.member, json!({"name": "mine", "kind": "personal"})).await);
    let project = org.project("p").await;
    let bound = org.admin_key(&["files:read", "files:write"], Some(&project)).await;
    let read_only = org.admin_key(&["files:read"], None).await;
    let write_only = org.admin_key(&["files:write"], None).await;
    let neither = org.admin_key(&["sandbox:read"], None).await;

    // (caller, workspace, request, status, code)
    let mut cases: Vec<(&Api, &str, Value, u16, &str)> = vec![
        (&org.member, &personal, body("s1", "/workspace", "ro"), 403, "personal_workspace_not_mountable"),
        (&org.admin, &personal, body("s1", "/workspace", "rw"), 403, "personal_workspace_not_mountable"),
        (&org.other_member, &personal, body("s1", "/workspace", "ro"), 404, "not_found"),
        (&write_only, &wsp, body("s1", "/workspace", "ro"), 403, "insufficient_scope"),
        (&read_only, &wsp, body("s1", "/workspace", "rw"), 403, "insufficient_scope"),
        (&neither, &wsp, body("s1", "/workspace", "ro"), 403, "insufficient_scope"),
        (&bound, &wsp, body("s1", "/workspace", "ro"), 403, "project_mismatch"),
        (&org.member, &wsp, body("", "/workspace", "ro"), 400, "invalid_sandbox_id"),
        (&org.member, &wsp, body("s 1", "/workspace", "ro"), 400, "invalid_sandbox_id"),
        (&org.member, &wsp, body(&"s".repeat(129), "/workspace", "ro"), 400, "invalid_sandbox_id"),
    ];
    let long = format!("/{}", "a".repeat(1024));
    let bad_paths = [
        "workspace",
        "",
        "/",
        "/a/../b",
        "/..",
        "/a/./b",
        "//workspace",
        "/workspace/",
        "/proc",
        "/proc/self",
        "/sys/kernel",
        "/dev",
        "/dev/shm",
        "/etc",
        "/etc/cron.d",
        "/a\u{0}b",
        "/a\nb",
        long.as_str(),
    ];
    for path in bad_paths {
        cases.push((&org.member, &wsp, body("s1", path, "rw"), 400, "invalid_mount_path"));
    }
    // Allowed ones, between the refusals.
    cases.push((&read_only, &wsp, body("s2", "/workspace", "ro"), 200, "allowed"));
    cases.push((&write_only, &wsp, body("s2", "/data/w", "rw"), 200, "allowed"));
    for (api, target, request, status, code) in &cases {
        let r = mount(api, target, request.clone()).await;
        if *status == 200 {
            assert_eq!(r.status, 200, "{request}: {}", r.text);
        } else {
            refused(&r, *status, code);
        }
    }

    // Each decision on the organization's workspace, newest first.
    let events = org.events("workspace.mount", &wsp).await;
    let on_wsp: Vec<_> = cases.iter().filter(|c| c.1 == wsp).collect();
    assert_eq!(events.len(), on_wsp.len(), "{events:#?}");
    for (event, (_, _, request, status, code)) in events.iter().rev().zip(&on_wsp) {
        let d = &event["details"];
        assert_eq!((&d["allowed"], d["reason"].as_str()), (&json!(*status == 200), Some(*code)), "{event}");
        // Clipped to the longest valid value (these are all ASCII).
        let clipped = |field: &str, max: usize| {
            let v = request[field].as_str().unwrap();
            json!(&v[..v.len().min(max)])
        };
        assert_eq!(
            (&d["sandboxId"], &d["path"], &d["mode"]),
            (&clipped("sandboxId", 128), &clipped("path", 1024), &request["mode"]),
            "{event}"
        );
    }
    let personal_events = org.events("workspace.mount", &personal).await;
    assert_eq!(personal_events.len(), 3, "{personal_events:#?}");
    assert!(personal_events.iter().all(|e| e["details"]["allowed"] == json!(false)));
    assert!(events.iter().all(|e| !e.to_string().contains("eyJ")), "no grant in the trail");
}
