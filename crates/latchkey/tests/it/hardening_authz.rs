//! Issue 17 (hardening), authorization, people and secrets: a regression
//! test per defect, named after it (4, 5, 6, 7, 9, 15, 18).

use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Api, BIN, PASSWORD, Person, Resp, TestServer, ids, join_org, run_cli, signup};
use crate::db::Db;

/// Asserts an error answer: status, envelope and code.
#[track_caller]
fn refused(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.error_code(), code, "{what}: {}", r.text);
}

/// `email` joins the first organization with `role`; returns the person
/// and their session acting in it.
async fn member_in(server: &TestServer, email: &str, role: &str) -> (Person, Api) {
    let org = server.admin.org_id.clone();
    let person = join_org(server, &server.admin(), &org, email, role).await;
    let api = server.with_session_in_org(&person.token, &org);
    (person, api)
}

/// The scopes a key holds, as verify reports them.
async fn scopes_of(server: &TestServer, key: &str) -> Vec<String> {
    let r = server.admin().post("/v1/keys/verify", json!({"key": key})).await;
    assert_eq!(r.body["data"]["code"], "VALID", "{}", r.text);
    r.body["data"]["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
}

async fn transfer(api: &Api, id: &str) -> Resp {
    api.post(&format!("/v1/api-keys/{id}/transfer"), json!({"to": "org"})).await
}

/// `latchkey <args>` as a CLI user with `token` in `LATCHKEY_API_KEY`,
/// talking to `server`.
fn cli_as(server: &TestServer, token: &str, args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .args(args)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("LATCHKEY_API_URL", &server.url)
        .env("LATCHKEY_API_KEY", token)
        .output()
        .unwrap()
}

// ------------------------------------------------------------ defect 4

#[tokio::test]
async fn d04_narrow_key_cannot_remove_its_owner() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (mia, mia_api) = member_in(&server, "mia@example.com", "member").await;
    let (_, key) = TestServer::create_key(&mia_api, json!({"name": "narrow", "scopes": ["sandbox:read"]})).await;
    let narrow = server.with_key(&key);
    refused(&narrow.get("/v1/members").await, 403, "insufficient_scope", "listing members");
    let r = narrow.delete(&format!("/v1/members/{}", mia.user_id)).await;
    refused(&r, 403, "insufficient_scope", "a sandbox:read key removing its owner");
    assert!(ids(&admin.get("/v1/members").await, "userId").contains(&mia.user_id), "Mia is still a member");

    // An admin's narrow key cannot either; their key holding org:members can.
    let (ivo, ivo_api) = member_in(&server, "ivo@example.com", "admin").await;
    let (_, narrow_admin) = TestServer::create_key(&ivo_api, json!({"name": "n", "scopes": ["sandbox:*"]})).await;
    let r = server.with_key(&narrow_admin).delete(&format!("/v1/members/{}", ivo.user_id)).await;
    refused(&r, 403, "insufficient_scope", "an admin's sandbox:* key removing its owner");
    let (_, members_key) = TestServer::create_key(&ivo_api, json!({"name": "m", "scopes": ["org:members"]})).await;
    let r = server.with_key(&members_key).delete(&format!("/v1/members/{}", ivo.user_id)).await;
    assert_eq!(r.status, 204, "leaving with org:members: {}", r.text);

    // A person leaves with their session.
    let r = mia_api.delete(&format!("/v1/members/{}", mia.user_id)).await;
    assert_eq!(r.status, 204, "leaving with a session: {}", r.text);
    let left = ids(&admin.get("/v1/members").await, "userId");
    assert!(!left.contains(&mia.user_id) && !left.contains(&ivo.user_id), "{left:?}");
}

// ------------------------------------------------------------ defect 5

#[tokio::test]
async fn d05_member_runloop_key_never_holds_star_even_after_transfer() {
    let server = TestServer::start().await;
    let (_, mia_api) = member_in(&server, "mia@example.com", "member").await;
    let r = mia_api.post("/v1/apikeys", json!({"name": "mine"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (ak, ak_id) = (r.body["key_secret"].as_str().unwrap().to_owned(), r.body["id"].as_str().unwrap().to_owned());
    let scopes = scopes_of(&server, &ak).await;
    for never in ["*", "org:*", "org:write", "org:members", "admin:*", "admin:resources", "secret:resolve"] {
        assert!(!scopes.iter().any(|s| s == never), "a member's ak_ key holds {never}: {scopes:?}");
    }
    for held in ["sandbox:*", "secret:*", "org:read", "keys:*", "devboxes:*"] {
        assert!(scopes.iter().any(|s| s == held), "the member's full access includes {held}: {scopes:?}");
    }

    // The organization takes it over: it holds what it held, not admin power.
    let r = transfer(&server.admin(), &ak_id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["owner"], "org");
    let ak_api = server.with_key(&ak);
    let r = ak_api.post("/v1/invitations", json!({"email": "eve@example.com", "role": "admin"})).await;
    assert_eq!(r.status, 403, "the transferred key invites an admin: {}", r.text);
    let r = ak_api.post("/v1/api-keys", json!({"name": "wider", "scopes": ["org:write"]})).await;
    assert_eq!(r.status, 403, "the transferred key mints org:write: {}", r.text);
    assert_eq!(scopes_of(&server, &ak).await, scopes, "transfer changes no scope");
}

#[tokio::test]
async fn d05_member_cannot_mint_beyond_their_role_on_any_path() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org = server.admin.org_id.clone();
    let (mia, mia_api) = member_in(&server, "mia@example.com", "member").await;

    // Native.
    for body in [
        json!({"name": "all", "scopes": ["*"]}),
        json!({"name": "default", "scopes": []}),
        json!({"name": "write", "scopes": ["org:write"]}),
        json!({"name": "admin", "scopes": ["admin:*"]}),
        json!({"name": "org", "scopes": ["sandbox:read"], "owner": "org"}),
    ] {
        let r = mia_api.post("/v1/api-keys", body.clone()).await;
        assert_eq!(r.status, 403, "{body}: {}", r.text);
    }
    // The CLI (`latchkey auth keys create`), acting in the organization as a member.
    assert_eq!(server.with_bearer(&mia.token).post("/v1/me/org", json!({"orgId": org})).await.status, 200);
    let out = cli_as(&server, &mia.token, &["auth", "keys", "create", "wide", "--scope", "*"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("insufficient_scope"), "{stderr}");
    // Runloop restricted keys: ACCOUNT WRITE is org:write.
    let account_write = json!({"name": "rk", "scopes": [
        {"resource_type": "RESOURCE_TYPE_ACCOUNT", "access_level": "ACCESS_LEVEL_WRITE"}]});
    refused(&mia_api.post("/v1/restricted_keys", account_write).await, 403, "insufficient_scope", "ACCOUNT WRITE");
    // Runtype surface keys belong to the organization: admins only.
    let product = admin.post("/v1/products", json!({"name": "Store"})).await.body["id"].as_str().unwrap().to_owned();
    let r = admin.post(&format!("/v1/products/{product}/surfaces"), json!({"name": "API"})).await;
    let surface = r.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/products/{product}/surfaces/{surface}/keys");
    refused(&mia_api.post(&path, json!({"scopes": ["read:products"]})).await, 403, "insufficient_scope", "runtype");
    // What a member may hold, they get.
    let r = mia_api.post("/v1/api-keys", json!({"name": "fine", "scopes": ["sandbox:*", "org:read"]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn d05_rotate_and_transfer_recheck_the_scopes() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (_, mia_api) = member_in(&server, "mia@example.com", "member").await;
    let (ivo, ivo_api) = member_in(&server, "ivo@example.com", "admin").await;

    // Ivo's `*` key, made while he was an admin; he is demoted.
    let (star_id, star) = TestServer::create_key(&ivo_api, json!({"name": "star", "scopes": ["*"]})).await;
    let r = admin.patch(&format!("/v1/members/{}", ivo.user_id), json!({"role": "member"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    refused(
        &server.with_key(&star).post("/v1/invitations", json!({"email": "x@example.com", "role": "admin"})).await,
        403,
        "forbidden",
        "the demoted admin's key is bounded by the member role",
    );
    // Neither rotating nor transferring it brings the admin power back.
    let r = admin.post(&format!("/v1/api-keys/{star_id}/rotate"), json!({})).await;
    refused(&r, 403, "insufficient_scope", "rotating a demoted admin's `*` key");
    let r = transfer(&admin, &star_id).await;
    refused(&r, 403, "insufficient_scope", "transferring a demoted admin's `*` key");
    let r = server.with_key(&star).post("/v1/invitations", json!({"email": "x@example.com", "role": "admin"})).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Transfer is checked against the admin doing it.
    let (mia_key_id, _) = TestServer::create_key(&mia_api, json!({"name": "box", "scopes": ["sandbox:*"]})).await;
    let (_, write_only) = TestServer::create_key(&admin, json!({"name": "w", "scopes": ["org:write"]})).await;
    let r = transfer(&server.with_key(&write_only), &mia_key_id).await;
    refused(&r, 403, "insufficient_scope", "an org:write key transferring a sandbox:* key");
    let r = transfer(&admin, &mia_key_id).await;
    assert_eq!(r.status, 200, "an admin holding the scopes transfers it: {}", r.text);
}

#[tokio::test]
async fn d05_no_minting_path_grants_secret_resolve() {
    let server = TestServer::start().await;
    let admin = server.admin();
    for body in [
        json!({"name": "r", "scopes": ["secret:resolve"]}),
        json!({"name": "r", "scopes": ["secret:resolve"], "owner": "org"}),
        json!({"name": "r", "scopes": ["secret:read", "secret:resolve"], "owner": "org"}),
    ] {
        refused(&admin.post("/v1/api-keys", body.clone()).await, 403, "insufficient_scope", &body.to_string());
    }
    let product = admin.post("/v1/products", json!({"name": "Store"})).await.body["id"].as_str().unwrap().to_owned();
    let r = admin.post(&format!("/v1/products/{product}/surfaces"), json!({"name": "API"})).await;
    let surface = r.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/products/{product}/surfaces/{surface}/keys");
    refused(&admin.post(&path, json!({"scopes": ["resolve:secret"]})).await, 403, "insufficient_scope", "runtype");
    // Wildcards never include it.
    let r = admin.post(&path, json!({"scopes": ["*:secret"]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = admin.post("/v1/apikeys", json!({"name": "ak"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ak = r.body["key_secret"].as_str().unwrap().to_owned();
    assert_eq!(scopes_of(&server, &ak).await, ["*"]);
    let r = admin.post("/v1/keys/verify", json!({"key": ak, "scopes": ["secret:resolve"]})).await;
    assert_eq!(r.body["data"]["code"], "INSUFFICIENT_SCOPE", "`*` does not cover secret:resolve: {}", r.text);
}

// ------------------------------------------------------------ defect 6

#[tokio::test]
async fn d06_invitation_tokens_never_reach_the_log() {
    let server = TestServer::start_with_log("trace", &[]).await;
    let admin = server.admin();
    let db = Db::connect(&server).await;
    let mut secrets: Vec<String> = Vec::new();
    let invite = async |email: &str| {
        let r = admin.post("/v1/invitations", json!({"email": email, "role": "member"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["data"]["token"].as_str().unwrap().to_owned()
    };
    // Accepted: in the body, in the older path form, and with the CLI.
    let ann_token = invite("ann@example.com").await;
    let ann = signup(&server, "ann@example.com", "Ann Co").await;
    let r = server.with_bearer(&ann.token).post("/v1/invitations/accept", json!({"token": ann_token})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bea_token = invite("bea@example.com").await;
    let bea = signup(&server, "bea@example.com", "Bea Co").await;
    let r = server.with_bearer(&bea.token).post_empty(&format!("/v1/invitations/{bea_token}/accept")).await;
    assert_eq!(r.status, 200, "the path form still works: {}", r.text);
    let cy_token = invite("cy@example.com").await;
    let cy = signup(&server, "cy@example.com", "Cy Co").await;
    let out = cli_as(&server, &cy.token, &["member", "accept", &cy_token]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Refused: another person's, no session, a key, used twice, unknown.
    let dee_token = invite("dee@example.com").await;
    let body = json!({"token": dee_token});
    refused(&server.with_bearer(&ann.token).post("/v1/invitations/accept", body.clone()).await, 403, "forbidden", "a");
    let path = format!("/v1/invitations/{dee_token}/accept");
    refused(&server.with_bearer(&ann.token).post_empty(&path).await, 403, "forbidden", "another's, path");
    let bad_session = "lks_00000000000000000000000000000000000000";
    refused(&server.with_bearer(bad_session).post_empty(&path).await, 401, "unauthorized", "no session, path");
    refused(&server.with_bearer(bad_session).post("/v1/invitations/accept", body).await, 401, "unauthorized", "b");
    refused(&admin.post_empty(&path).await, 403, "forbidden", "a key, path");
    let again = json!({"token": ann_token});
    refused(&server.with_bearer(&ann.token).post("/v1/invitations/accept", again).await, 404, "not_found", "twice");
    refused(&server.with_bearer(&ann.token).post_empty("/v1/invitations/lki_x/accept").await, 404, "not_found", "?");

    // Expired.
    let eve_token = invite("eve@example.com").await;
    assert_eq!(db.exec("UPDATE invitations SET expires_at = 1 WHERE email = 'eve@example.com'").await, 1);
    let eve = signup(&server, "eve@example.com", "Eve Co").await;
    let body = json!({"token": eve_token});
    refused(&server.with_bearer(&eve.token).post("/v1/invitations/accept", body).await, 404, "not_found", "expired");
    let path = format!("/v1/invitations/{eve_token}/accept");
    refused(&server.with_bearer(&eve.token).post_empty(&path).await, 404, "not_found", "expired, path");

    secrets.extend([ann_token, bea_token, cy_token, dee_token, eve_token]);
    secrets.extend([&ann, &bea, &cy, &eve].map(|p| p.token.clone()));
    let logs = server.logs();
    assert!(logs.contains("DEBUG request{method=POST path=/v1/invitations/…/accept"), "paths are logged, redacted");
    for secret in &secrets {
        let body = &secret[4..];
        assert!(!logs.contains(body), "{}… is in the log", &secret[..8]);
    }
}

// ------------------------------------------------------------ defect 7

#[tokio::test]
async fn d07_only_an_operator_service_key_resolves_another_members_secrets() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org = server.admin.org_id.clone();
    let (mia, mia_api) = member_in(&server, "mia@example.com", "member").await;
    let (_, ivo_api) = member_in(&server, "ivo@example.com", "member").await;
    for (api, name, value, org_wide) in [
        (&mia_api, "MIA_TOKEN", "mia-private-value", false),
        (&admin, "SHARED", "shared-value", true),
        (&admin, "MIA_TOKEN", "admins-own-value", false),
    ] {
        let body = json!({"value": value, "category": "provider", "orgWide": org_wide});
        let r = api.send(reqwest::Method::PUT, &format!("/v1/secrets/{name}"), Some(body.to_string().into())).await;
        assert_eq!(r.status, 201, "{name}: {}", r.text);
    }
    let resolve = |user: &str| format!("/v1/secrets/resolve?names=MIA_TOKEN,SHARED&user={user}");
    let values = |r: &Resp| -> Vec<(String, String)> {
        r.body["data"]["secrets"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.text))
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_owned(), s["value"].as_str().unwrap().to_owned()))
            .collect()
    };

    // Every credential minted through the API: not for another member.
    let (_, org_read) =
        TestServer::create_key(&admin, json!({"name": "o", "scopes": ["secret:read"], "owner": "org"})).await;
    let (_, org_star) = TestServer::create_key(&admin, json!({"name": "s", "scopes": ["*"], "owner": "org"})).await;
    let (_, org_secrets) =
        TestServer::create_key(&admin, json!({"name": "w", "scopes": ["secret:*"], "owner": "org"})).await;
    let (_, ivo_key) = TestServer::create_key(&ivo_api, json!({"name": "i", "scopes": ["secret:read"]})).await;
    for (who, api) in [
        ("the admin's `*` key", admin.clone()),
        ("an org-owned secret:read key", server.with_key(&org_read)),
        ("an org-owned `*` key", server.with_key(&org_star)),
        ("an org-owned secret:* key", server.with_key(&org_secrets)),
        ("another member's key", server.with_key(&ivo_key)),
    ] {
        for user in [mia.user_id.as_str(), "mia@example.com"] {
            refused(&api.get(&resolve(user)).await, 403, "forbidden", who);
        }
    }
    // Organization-owned keys resolve the organization's secrets only.
    let r = server.with_key(&org_read).get("/v1/secrets/resolve?names=MIA_TOKEN,SHARED").await;
    assert_eq!(values(&r), [("SHARED".to_owned(), "shared-value".to_owned())], "{}", r.text);
    assert_eq!(r.body["data"]["missing"], json!(["MIA_TOKEN"]));
    // A member's own key resolves their own and the organization's.
    let (_, mia_key) = TestServer::create_key(&mia_api, json!({"name": "m", "scopes": ["secret:read"]})).await;
    let r = server.with_key(&mia_key).get(&resolve(&mia.user_id)).await;
    let own =
        [("MIA_TOKEN".to_owned(), "mia-private-value".to_owned()), ("SHARED".to_owned(), "shared-value".to_owned())];
    assert_eq!(values(&r), own, "{}", r.text);

    // The operator's service key, from the command line.
    let dir = server.data_dir();
    let dir = dir.to_str().unwrap();
    let create = |org: &str, scope: &str| {
        run_cli(&[
            "admin",
            "create-service-key",
            "--org",
            org,
            "--scope",
            scope,
            "--name",
            "platform",
            "--data-dir",
            dir,
            "--json",
        ])
    };
    let out = create(&org, "secret:resolve");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let service = created["apiKey"].as_str().unwrap().to_owned();
    assert_eq!(created["scopes"], json!(["secret:resolve"]));
    assert!(!create("org_01NOSUCHORG0000000000000000", "secret:resolve").status.success(), "unknown org");
    assert!(!create(&org, "secret:fly").status.success(), "unknown scope");
    let svc = server.with_key(&service);
    for user in [mia.user_id.as_str(), "mia@example.com"] {
        let r = svc.get(&resolve(user)).await;
        assert_eq!(values(&r), own, "the service key resolves for Mia: {}", r.text);
    }
    let r = svc.get("/v1/secrets/resolve?names=MIA_TOKEN,SHARED").await;
    assert_eq!(values(&r), [("SHARED".to_owned(), "shared-value".to_owned())], "no user: org-wide only");
    // Another organization's user is nobody here.
    let globex = server.second_org("Globex", "gus@example.com");
    refused(&svc.get(&resolve(&globex.user_id)).await, 404, "not_found", "another org's user");
    refused(&svc.get(&resolve("gus@example.com")).await, 404, "not_found", "another org's user by email");
    // It holds secret:resolve only: no reveal, no list, no minting, and the API cannot copy it.
    refused(&svc.get("/v1/secrets").await, 403, "insufficient_scope", "listing");
    let r = svc.post("/v1/api-keys", json!({"name": "copy", "scopes": ["secret:resolve"], "owner": "org"})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let listed = admin.get("/v1/api-keys?allOrg=true").await;
    let svc_id = created["keyId"].as_str().unwrap();
    let row = listed.body["data"].as_array().unwrap().iter().find(|k| k["id"] == svc_id).unwrap().clone();
    assert_eq!((row["owner"].clone(), row["scopes"].clone()), (json!("org"), json!(["secret:resolve"])));
    refused(&admin.post(&format!("/v1/api-keys/{svc_id}/rotate"), json!({})).await, 403, "insufficient_scope", "rot");
    // Its creation and its reveals are audited.
    let events = admin.get(&format!("/v1/audit-events?targetId={svc_id}")).await;
    let created_event = &events.body["data"][0];
    assert_eq!(created_event["action"], "api_key.create", "{}", events.text);
    assert_eq!(created_event["actor"]["type"], "operator", "{}", events.text);
    let reveals = admin.get(&format!("/v1/audit-events?action=secret.reveal&actorId={svc_id}")).await;
    assert!(ids(&reveals, "id").len() >= 4, "{}", reveals.text);
    assert_eq!(reveals.body["data"][0]["details"]["via"], "resolve");
    // The documented way to stop it: an admin revokes it.
    assert_eq!(admin.post_empty(&format!("/v1/api-keys/{svc_id}/revoke")).await.status, 200);
    refused(&svc.get(&resolve(&mia.user_id)).await, 401, "unauthorized", "revoked");
}

// ------------------------------------------------------------ defect 9

fn write_config(server: &mut TestServer, toml: &str) {
    std::fs::write(server.data_dir().join("latchkey.toml"), toml).unwrap();
    server.restart();
}

fn signup_body(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "displayName": "x", "orgName": format!("{email} org")})
}

#[tokio::test]
async fn d09_signups_are_limited_per_client_address() {
    let mut server = TestServer::start().await;
    write_config(&mut server, "signups_per_hour_per_ip = 3\n");
    let here = server.anonymous_from("127.0.0.1");
    for i in 0..3 {
        let r = here.post("/v1/auth/signup", signup_body(&format!("p{i}@example.com"))).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = here.post("/v1/auth/signup", signup_body("p3@example.com")).await;
    refused(&r, 429, "rate_limited", "the fourth sign-up from one address within the hour");
    let retry: u64 = r.headers.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    // Another address is not affected; duplicates get the answer they always got.
    let there = server.anonymous_from("127.0.0.2");
    let r = there.post("/v1/auth/signup", signup_body("p3@example.com")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let dup = there.post("/v1/auth/signup", signup_body("p0@example.com")).await;
    refused(&dup, 409, "conflict", "a duplicate");
    assert_eq!(dup.body["error"]["message"], "an account with this email exists; log in");
}

/// User and system CPU time of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    // utime and stime are fields 14 and 15; after the `(comm)` they are the 12th and 13th.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test]
async fn d09_duplicate_signups_hash_no_password() {
    let mut server = TestServer::start().await;
    write_config(&mut server, "signups_per_hour_per_ip = 1000\nlogin_failures_per_ip = 1000\n");
    let anon = server.anonymous();
    signup(&server, "taken@example.com", "Taken").await;
    // What a password hash costs here: failed logins for unknown emails hash once each.
    let before = cpu_ticks(server.pid());
    for i in 0..8 {
        let r = anon.post("/v1/auth/login", json!({"email": format!("ghost{i}@example.com"), "password": "x"})).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let per_hash = (cpu_ticks(server.pid()) - before) as f64 / 8.0;
    let before = cpu_ticks(server.pid());
    for _ in 0..40 {
        refused(&anon.post("/v1/auth/signup", signup_body("taken@example.com")).await, 409, "conflict", "duplicate");
    }
    let spent = (cpu_ticks(server.pid()) - before) as f64;
    assert!(spent < 10.0 * per_hash.max(1.0), "40 duplicate sign-ups cost {spent} ticks; one hash {per_hash}");
}

// ----------------------------------------------------------- defect 15

#[tokio::test]
async fn d15_list_limits_are_checked_before_the_work() {
    let server = TestServer::start().await;
    let admin = server.admin();
    // 15,000 names (two characters each, so that the request's head stays
    // under the server's 64 KiB), 1,369 of them distinct.
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    let names: Vec<String> =
        (0..15_000).map(|i| String::from_utf8(vec![CHARS[i % 37], CHARS[(i / 37) % 37]]).unwrap()).collect();
    let r = admin.get(&format!("/v1/secrets/resolve?names={}", names.join(","))).await;
    refused(&r, 400, "invalid_request", "15,000 names");
    assert!(r.text.contains("1–100"), "{}", r.text);
    refused(
        &admin.get(&format!("/v1/secrets/resolve?names={}", names[..101].join(","))).await,
        400,
        "invalid_request",
        "101",
    );
    let r = admin.get(&format!("/v1/secrets/resolve?names={}", names[..100].join(","))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"]["missing"].as_array().unwrap().len(), 100);

    // Scope lists: at most 100 on every path.
    let many = vec!["sandbox:read"; 101];
    let r = admin.post("/v1/api-keys", json!({"name": "many", "scopes": many})).await;
    refused(&r, 400, "invalid_scopes", "native, 101 scopes");
    let entries: Vec<Value> = (0..101)
        .map(|_| json!({"resource_type": "RESOURCE_TYPE_DEVBOXES", "access_level": "ACCESS_LEVEL_READ"}))
        .collect();
    refused(&admin.post("/v1/restricted_keys", json!({"scopes": entries})).await, 400, "invalid_scopes", "runloop");
    let product = admin.post("/v1/products", json!({"name": "Store"})).await.body["id"].as_str().unwrap().to_owned();
    let r = admin.post(&format!("/v1/products/{product}/surfaces"), json!({"name": "API"})).await;
    let surface = r.body["id"].as_str().unwrap().to_owned();
    let distinct: Vec<String> = (0..101).map(|i| format!("read:r{i}")).collect();
    let r = admin.post(&format!("/v1/products/{product}/surfaces/{surface}/keys"), json!({"scopes": distinct})).await;
    refused(&r, 400, "invalid_scopes", "runtype, 101 scopes");
    let required: Vec<String> = (0..101).map(|i| format!("r{i}:read")).collect();
    let key = server.admin.api_key.clone();
    refused(
        &admin.post("/v1/keys/verify", json!({"key": key, "scopes": required})).await,
        400,
        "invalid_scopes",
        "verify",
    );
    let r = admin.post("/v1/keys/verify", json!({"key": key, "scopes": &required[..100]})).await;
    assert_eq!(r.body["data"]["code"], "VALID", "{}", r.text);
}

// ----------------------------------------------------------- defect 18

#[tokio::test]
async fn d18_wrong_passwords_from_one_address_do_not_lock_the_owner_out() {
    let mut server = TestServer::start().await;
    write_config(&mut server, "login_failures_per_account = 10\n");
    signup(&server, "mo@example.com", "Mo Co").await;
    let login = |api: Api, password: &'static str| async move {
        api.post("/v1/auth/login", json!({"email": "mo@example.com", "password": password})).await
    };
    let attacker = server.anonymous_from("127.0.0.2");
    for i in 0..5 {
        refused(&login(attacker.clone(), "wrong-guess").await, 401, "unauthorized", &format!("guess {i}"));
    }
    for i in 5..8 {
        refused(&login(attacker.clone(), "wrong-guess").await, 429, "rate_limited", &format!("guess {i}"));
    }
    refused(&login(attacker.clone(), PASSWORD).await, 429, "rate_limited", "the right password from the attacker");
    // The owner, from another address, logs in.
    let r = login(server.anonymous_from("127.0.0.1"), PASSWORD).await;
    assert_eq!(r.status, 200, "the owner is locked out by someone else's guesses: {}", r.text);
    // The per-account ceiling (here 10 a minute, from all addresses) still holds.
    let second = server.anonymous_from("127.0.0.3");
    for i in 0..5 {
        refused(&login(second.clone(), "wrong-guess").await, 401, "unauthorized", &format!("second {i}"));
    }
    refused(&login(server.anonymous_from("127.0.0.4"), PASSWORD).await, 429, "rate_limited", "over the ceiling");
}
