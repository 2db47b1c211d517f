//! Issue 8: SSH keys over HTTP. Key types and refusals (private keys, short
//! RSA), fingerprints as `ssh-keygen -l` prints them, duplicates, the one
//! default per member, who may add, list and delete what, other
//! organizations, and the `authorized_keys` endpoint.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Api, Person, Resp, TestServer, join_org, signup};

/// A key pair made by `ssh-keygen` in `dir`.
pub struct KeyPair {
    /// The private key file.
    pub private: std::path::PathBuf,
    /// The `.pub` line.
    pub public: String,
    /// `SHA256:…` from `ssh-keygen -l`.
    pub fingerprint: String,
}

/// `ssh-keygen -t <kind> [-b bits]` into `dir/<name>`.
pub fn keygen(dir: &Path, name: &str, kind: &str, bits: Option<u32>) -> KeyPair {
    let private = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", "", "-C", &format!("{name}@test"), "-f", private.to_str().unwrap()]);
    if let Some(b) = bits {
        cmd.args(["-b", &b.to_string()]);
    }
    let out = cmd.output().expect("ssh-keygen (package openssh-client) is needed");
    assert!(out.status.success(), "ssh-keygen {kind}: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(private.with_extension("pub")).unwrap().trim().to_owned();
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(private.with_extension("pub"))
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let fingerprint = listed.split_whitespace().nth(1).unwrap().to_owned();
    KeyPair { private, public, fingerprint }
}

pub async fn add(api: &Api, name: &str, public_key: &str, org_wide: bool) -> Resp {
    api.post("/v1/ssh-keys", json!({"name": name, "publicKey": public_key, "orgWide": org_wide})).await
}

fn expect(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    assert_eq!(r.error_code(), code, "{what}");
}

fn names(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap().to_owned()).collect()
}

fn id(r: &Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn public_keys_of_every_accepted_type_with_openssh_fingerprints() {
    let server = TestServer::start().await;
    let ada = server.admin();
    let dir = tempfile::tempdir().unwrap();
    for (kind, bits, algorithm, size) in [
        ("ed25519", None, "ssh-ed25519", 256),
        ("ecdsa", Some(256), "ecdsa-sha2-nistp256", 256),
        ("ecdsa", Some(384), "ecdsa-sha2-nistp384", 384),
        ("ecdsa", Some(521), "ecdsa-sha2-nistp521", 521),
        ("rsa", Some(2048), "ssh-rsa", 2048),
        ("rsa", Some(3072), "ssh-rsa", 3072),
    ] {
        let name = format!("{kind}-{}", bits.unwrap_or(0));
        let pair = keygen(dir.path(), &name, kind, bits);
        let r = add(&ada, &name, &pair.public, false).await;
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        let d = &r.body["data"];
        assert!(d["id"].as_str().unwrap().starts_with("ssh_"), "{}", r.text);
        assert_eq!(d["fingerprint"], pair.fingerprint.as_str(), "{name}: as ssh-keygen -l prints it");
        assert_eq!((d["algorithm"].as_str(), d["bits"].as_i64()), (Some(algorithm), Some(size)), "{name}");
        assert_eq!(d["comment"], format!("{name}@test"));
        assert_eq!(format!("{} {name}@test", d["publicKey"].as_str().unwrap()), pair.public);
        assert_eq!(
            (d["scope"].as_str(), d["ownerUserId"].as_str()),
            (Some("user"), Some(server.admin.user_id.as_str()))
        );
    }

    // Refusals, each with a message that says what is wrong.
    let short = keygen(dir.path(), "short", "rsa", Some(1024));
    let r = add(&ada, "short", &short.public, false).await;
    expect(&r, 400, "invalid_request", "RSA 1024");
    assert!(r.text.contains("at least 2048 bits") && r.text.contains("1024"), "{}", r.text);
    let private = std::fs::read_to_string(&short.private).unwrap();
    let ed = keygen(dir.path(), "ed", "ed25519", None);
    for (what, text) in
        [("RSA private key", private), ("ed25519 private key", std::fs::read_to_string(&ed.private).unwrap())]
    {
        let r = add(&ada, "oops", &text, false).await;
        expect(&r, 400, "invalid_request", what);
        assert!(r.text.contains("private key") && r.text.contains("public key"), "{what}: {}", r.text);
        assert!(!r.text.contains("BEGIN"), "the key is not echoed: {}", r.text);
    }
    for (what, text, says) in [
        ("garbage", "hello world".to_owned(), "unsupported key type"),
        ("empty", String::new(), "empty"),
        ("two keys", format!("{}\n{}", ed.public, short.public), "exactly one"),
        ("options", format!("command=\"/bin/true\" {}", ed.public), "options"),
        ("broken base64", "ssh-ed25519 AAAA!!!! x".to_owned(), "not a valid"),
        ("dsa", "ssh-dss AAAAB3NzaC1kc3MAAACBAP== x".to_owned(), "unsupported"),
    ] {
        let r = add(&ada, "bad", &text, false).await;
        expect(&r, 400, "invalid_request", what);
        assert!(r.text.contains(says), "{what}: {}", r.text);
    }
    for (what, body) in [
        ("unknown field", json!({"name": "x", "publicKey": ed.public, "extra": 1})),
        ("empty name", json!({"name": " ", "publicKey": ed.public})),
        ("control character", json!({"name": "a\nb", "publicKey": ed.public})),
        ("no key", json!({"name": "x"})),
    ] {
        expect(&ada.post("/v1/ssh-keys", body).await, 400, "invalid_request", what);
    }
    assert_eq!(names(&ada.get("/v1/ssh-keys").await).len(), 6, "nothing stored by the refusals");
}

/// Org A (ada admin, members bob and cy), org B (dee).
struct World {
    server: TestServer,
    org: String,
    bob: Person,
    cy: Person,
    dee: Person,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let server = TestServer::start().await;
        let org = server.admin.org_id.clone();
        let ada = server.admin();
        let bob = join_org(&server, &ada, &org, "bob@a.example.com", "member").await;
        let cy = join_org(&server, &ada, &org, "cy@a.example.com", "member").await;
        let dee = signup(&server, "dee@b.example.com", "Org B").await;
        Self { server, org, bob, cy, dee, dir: tempfile::tempdir().unwrap() }
    }
    fn bob(&self) -> Api {
        self.server.with_session_in_org(&self.bob.token, &self.org)
    }
    fn cy(&self) -> Api {
        self.server.with_session_in_org(&self.cy.token, &self.org)
    }
    fn key(&self, name: &str) -> KeyPair {
        keygen(self.dir.path(), name, "ed25519", None)
    }
}

#[tokio::test]
async fn duplicates_defaults_listing_and_deleting() {
    let w = World::new().await;
    let (ada, bob, cy) = (w.server.admin(), w.bob(), w.cy());
    let laptop = w.key("laptop");
    let desktop = w.key("desktop");
    let shared = w.key("deploy");

    // A member's first key is their default.
    let r = add(&bob, "personal-laptop", &laptop.public, false).await;
    let laptop_id = id(&r);
    assert_eq!(r.body["data"]["isDefault"], true, "{}", r.text);
    let r = add(&bob, "desktop", &desktop.public, false).await;
    let desktop_id = id(&r);
    assert_eq!(r.body["data"]["isDefault"], false, "{}", r.text);
    // The same key twice in one scope: 409 naming the fingerprint.
    let r = add(&bob, "laptop again", &format!("{}\n", laptop.public), false).await;
    expect(&r, 409, "conflict", "duplicate for bob");
    assert!(r.text.contains(&laptop.fingerprint), "{}", r.text);
    // Another member, or organization-wide, is another scope.
    assert_eq!(add(&cy, "cy's copy", &laptop.public, false).await.status, 201);
    expect(&add(&bob, "org", &shared.public, true).await, 403, "forbidden", "member adds org-wide");
    let shared_id = id(&add(&ada, "deploy", &shared.public, true).await);
    expect(&add(&ada, "deploy again", &shared.public, true).await, 409, "conflict", "duplicate org-wide");
    assert_eq!(add(&ada, "bob's laptop, org-wide", &laptop.public, true).await.status, 201);

    // Lists: own + org-wide; orgOnly; admins' allOrg.
    assert_eq!(
        names(&bob.get("/v1/ssh-keys").await),
        ["bob's laptop, org-wide", "deploy", "desktop", "personal-laptop"]
    );
    assert_eq!(names(&bob.get("/v1/ssh-keys?orgOnly=true").await), ["bob's laptop, org-wide", "deploy"]);
    assert_eq!(names(&cy.get("/v1/ssh-keys").await), ["bob's laptop, org-wide", "deploy", "cy's copy"]);
    expect(&bob.get("/v1/ssh-keys?allOrg=true").await, 403, "forbidden", "member allOrg");
    assert_eq!(names(&ada.get("/v1/ssh-keys?allOrg=true").await).len(), 5);
    assert_eq!(names(&ada.get("/v1/ssh-keys?limit=2").await).len(), 2);

    // One default per member.
    let r = bob.post_empty(&format!("/v1/ssh-keys/{desktop_id}/default")).await;
    assert_eq!((r.status, r.body["data"]["isDefault"].as_bool()), (200, Some(true)), "{}", r.text);
    let listed = bob.get("/v1/ssh-keys").await;
    let defaults: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["isDefault"] == true)
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(defaults, [desktop_id.as_str()], "{}", listed.text);
    expect(
        &bob.post_empty(&format!("/v1/ssh-keys/{shared_id}/default")).await,
        400,
        "invalid_request",
        "org-wide default",
    );
    expect(&cy.post_empty(&format!("/v1/ssh-keys/{laptop_id}/default")).await, 404, "not_found", "another's key");
    expect(&ada.post_empty(&format!("/v1/ssh-keys/{laptop_id}/default")).await, 404, "not_found", "admin, bob's key");

    // Deleting: not another member's (404), not org-wide for members (403);
    // admins may delete a member's key.
    expect(&cy.delete(&format!("/v1/ssh-keys/{laptop_id}")).await, 404, "not_found", "cy deletes bob's");
    expect(&bob.delete(&format!("/v1/ssh-keys/{shared_id}")).await, 403, "forbidden", "member deletes org-wide");
    assert_eq!(bob.delete(&format!("/v1/ssh-keys/{desktop_id}")).await.status, 204);
    assert_eq!(ada.delete(&format!("/v1/ssh-keys/{laptop_id}")).await.status, 204);
    expect(&bob.delete(&format!("/v1/ssh-keys/{laptop_id}")).await, 404, "not_found", "deleted");
    expect(&bob.delete("/v1/ssh-keys/ssh_nope").await, 404, "not_found", "garbage id");
    assert_eq!(names(&bob.get("/v1/ssh-keys").await), ["bob's laptop, org-wide", "deploy"]);
    // Re-adding after deletion works and is the default again.
    let r = add(&bob, "laptop", &laptop.public, false).await;
    assert_eq!((r.status, r.body["data"]["isDefault"].as_bool()), (201, Some(true)), "{}", r.text);

    // Audited with names and fingerprints.
    let events = ada.get("/v1/audit-events?limit=100").await;
    let actions: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("ssh_key."))
        .collect();
    assert_eq!(
        actions,
        [
            "ssh_key.add",
            "ssh_key.delete",
            "ssh_key.delete",
            "ssh_key.set_default",
            "ssh_key.add",
            "ssh_key.add",
            "ssh_key.add",
            "ssh_key.add",
            "ssh_key.add"
        ],
        "{}",
        events.text
    );
    assert!(events.text.contains(&laptop.fingerprint), "{}", events.text);
}

#[tokio::test]
async fn keys_need_ssh_key_scopes_and_other_orgs_see_nothing() {
    let w = World::new().await;
    let (ada, bob) = (w.server.admin(), w.bob());
    let own = w.key("own");
    let own_id = id(&add(&bob, "own", &own.public, false).await);
    let org_key = w.key("org");
    let org_key_id = id(&add(&ada, "org", &org_key.public, true).await);

    let server = &w.server;
    let mint = |api: Api, body: Value| async move { server.with_key(&TestServer::create_key(&api, body).await.1) };
    let none = mint(bob.clone(), json!({"name": "n", "scopes": ["sandbox:*"]})).await;
    let reader = mint(bob.clone(), json!({"name": "r", "scopes": ["ssh-key:read"]})).await;
    let writer = mint(bob.clone(), json!({"name": "w", "scopes": ["ssh-key:write"]})).await;
    let fresh = w.key("fresh");
    for (what, r) in [
        ("list", none.get("/v1/ssh-keys").await),
        ("add", add(&none, "x", &fresh.public, false).await),
        ("delete", none.delete(&format!("/v1/ssh-keys/{own_id}")).await),
        ("default", none.post_empty(&format!("/v1/ssh-keys/{own_id}/default")).await),
        ("authorized keys", none.get("/v1/ssh-keys/authorized-keys").await),
        ("reader adds", add(&reader, "x", &fresh.public, false).await),
        ("writer lists", writer.get("/v1/ssh-keys").await),
    ] {
        expect(&r, 403, "insufficient_scope", what);
    }
    assert_eq!(names(&reader.get("/v1/ssh-keys").await), ["org", "own"]);
    let r = add(&writer, "fresh", &fresh.public, false).await;
    assert_eq!((r.status, r.body["data"]["ownerUserId"].as_str()), (201, Some(w.bob.user_id.as_str())), "{}", r.text);
    // An organization-owned key: organization-wide keys only.
    let service = mint(ada.clone(), json!({"name": "s", "owner": "org", "scopes": ["ssh-key:*"]})).await;
    expect(&add(&service, "svc", &w.key("svc").public, false).await, 403, "forbidden", "org key, user-private");
    assert_eq!(add(&service, "svc", &w.key("svc2").public, true).await.status, 201);

    // Org B: every id of A is not found; lists show nothing of A.
    let dee = w.server.with_bearer(&w.dee.token);
    for id in [&own_id, &org_key_id] {
        expect(&dee.delete(&format!("/v1/ssh-keys/{id}")).await, 404, "not_found", "B deletes A's");
        expect(&dee.post_empty(&format!("/v1/ssh-keys/{id}/default")).await, 404, "not_found", "B defaults A's");
    }
    for path in ["/v1/ssh-keys", "/v1/ssh-keys?allOrg=true"] {
        assert_eq!(names(&dee.get(path).await), Vec::<String>::new(), "{path}");
    }
    expect(
        &dee.get("/v1/ssh-keys/authorized-keys?user=bob@a.example.com").await,
        404,
        "not_found",
        "B asks for A's member",
    );
    // The same key may be registered in org B too (another org, another scope).
    assert_eq!(add(&dee, "mine", &own.public, false).await.status, 201);
    assert_eq!(names(&bob.get("/v1/ssh-keys").await), ["svc", "fresh", "org", "own"]);
}

#[tokio::test]
async fn authorized_keys_for_a_member() {
    let w = World::new().await;
    let (ada, bob, cy) = (w.server.admin(), w.bob(), w.cy());
    let b1 = w.key("b1");
    let b2 = w.key("b2");
    let c1 = w.key("c1");
    let everyone = w.key("everyone");
    add(&bob, "b1", &b1.public, false).await;
    add(&bob, "b 2", &b2.public, false).await;
    add(&cy, "c1", &c1.public, false).await;
    add(&ada, "everyone", &everyone.public, true).await;
    let (_, svc) =
        TestServer::create_key(&ada, json!({"name": "sshd", "owner": "org", "scopes": ["ssh-key:read"]})).await;
    let service = w.server.with_key(&svc);

    let bare = |k: &KeyPair| k.public.rsplit_once(' ').unwrap().0.to_owned();
    for who in [w.bob.user_id.as_str(), "bob@a.example.com", "Bob@A.Example.com"] {
        let r = service.get(&format!("/v1/ssh-keys/authorized-keys?user={who}")).await;
        assert_eq!(r.status, 200, "{who}: {}", r.text);
        assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
        let lines: Vec<&str> = r.text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 3, "{}", r.text);
        for k in [&b1, &b2, &everyone] {
            assert!(lines.iter().any(|l| l.starts_with(&format!("{} latchkey:ssh_", bare(k)))), "{}", r.text);
        }
        assert!(!r.text.contains(&bare(&c1)), "{}", r.text);
        assert!(lines.iter().all(|l| l.split(' ').count() == 3), "one comment word: {}", r.text);
    }
    // A member: their own only.
    let own = bob.get("/v1/ssh-keys/authorized-keys").await;
    assert_eq!(own.text.lines().filter(|l| !l.starts_with('#')).count(), 3, "{}", own.text);
    expect(&bob.get("/v1/ssh-keys/authorized-keys?user=cy@a.example.com").await, 403, "forbidden", "member, other");
    assert_eq!(ada.get("/v1/ssh-keys/authorized-keys?user=cy@a.example.com").await.status, 200, "admin");
    for unknown in ["nobody@example.com", "usr_01aaaaaaaaaaaaaaaaaaaaaaaa", "root", &w.dee.user_id] {
        expect(&service.get(&format!("/v1/ssh-keys/authorized-keys?user={unknown}")).await, 404, "not_found", unknown);
    }
    // A member who leaves loses their keys' access at once.
    assert_eq!(ada.delete(&format!("/v1/members/{}", w.bob.user_id)).await.status, 204);
    expect(&service.get("/v1/ssh-keys/authorized-keys?user=bob@a.example.com").await, 404, "not_found", "left");
}
