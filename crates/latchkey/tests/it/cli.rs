//! The CLI end to end: the real binary, as a person or a script runs it,
//! against a real server; each test user has a config directory of their own.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{BIN, PASSWORD, TestServer, signup};

/// Someone using the CLI: their own `$XDG_CONFIG_HOME`, talking to `url`
/// through `LATCHKEY_API_URL`.
pub(crate) struct User {
    home: tempfile::TempDir,
    url: String,
}

/// What a command did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    fn from(out: &Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts exit 0 and returns stdout.
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        &self.stdout
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl User {
    pub(crate) fn new(url: &str) -> Self {
        Self { home: tempfile::tempdir().unwrap(), url: url.to_owned() }
    }

    fn config_dir(&self) -> PathBuf {
        self.home.path().join("config").join("latchkey")
    }

    fn credentials(&self) -> PathBuf {
        self.config_dir().join("credentials.toml")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("LATCHKEY_API_URL", &self.url)
            .env_remove("LATCHKEY_API_KEY")
            .env_remove("NO_COLOR");
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run::from(&self.cmd(args).stdin(Stdio::null()).output().unwrap())
    }

    pub(crate) fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
        let mut cmd = self.cmd(args);
        cmd.envs(env.iter().copied()).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        Run::from(&child.wait_with_output().unwrap())
    }

    pub(crate) fn login(&self, email: &str) -> Run {
        self.run_with(&["login", "--email", email, "--password-stdin"], &[], &format!("{PASSWORD}\n"))
    }
}

fn verdict(u: &User, key: &str, scope: &str) -> (i32, String) {
    let r = u.run(&["verify", key, "--scope", scope, "--json"]);
    let code = serde_json::from_str::<Value>(&r.stdout).map(|v| v["code"].as_str().unwrap_or("").to_owned());
    (r.code, code.unwrap_or_else(|_| panic!("verify --json: {r:?}")))
}

#[tokio::test]
async fn login_create_list_rotate_revoke_logout() {
    let server = TestServer::start().await;
    signup(&server, "ana@example.com", "Acme").await;
    let u = User::new(&server.url);

    let r = u.login("ana@example.com");
    assert!(r.ok().contains("Logged in to") && r.stdout.contains("ana@example.com"), "{r:?}");

    // The stored login: 0600 in a 0700 directory, holding a session token.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&u.credentials()), 0o600);
    assert_eq!(mode(&u.config_dir()), 0o700);
    let stored = std::fs::read_to_string(u.credentials()).unwrap();
    assert!(stored.contains("token = \"lks_"), "{stored}");

    let status = u.run(&["auth", "status"]);
    for want in ["ana@example.com", "Acme", "admin", "session", &server.url] {
        assert!(status.ok().contains(want), "{want}: {status:?}");
    }
    let status = u.run(&["auth", "status", "--json"]).json();
    assert_eq!(status["authType"], "session");
    assert_eq!(status["user"]["email"], "ana@example.com");

    // Create with scopes given both ways; the plaintext appears in this answer only.
    let created = u
        .run(&[
            "auth",
            "keys",
            "create",
            "ci",
            "--scopes",
            "sandbox:*,agent:run",
            "--scope",
            "sandbox:create",
            "--expires-in",
            "90d",
            "--json",
        ])
        .json();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("lk_live_"), "{created}");
    let scopes: Vec<&str> = created["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    for s in ["sandbox:*", "agent:run", "sandbox:create"] {
        assert!(scopes.contains(&s), "{s} in {scopes:?}");
    }
    assert!(created["expiresAt"].is_string());

    let human = u.run(&["auth", "keys", "create", "human", "--test"]);
    assert!(human.ok().contains("lk_test_"), "{human:?}");
    assert!(human.stdout.contains("shown once"), "{human:?}");
    assert!(!human.stdout.contains('\x1b'), "no colour when stdout is not a terminal: {human:?}");

    // List, for people and for scripts; never a plaintext.
    let table = u.run(&["auth", "keys", "list"]);
    for want in ["NAME", "STATUS", "ci", "human", &key_id, "active", "in 3 months"] {
        assert!(table.ok().contains(want), "{want}: {table:?}");
    }
    assert!(!table.stdout.contains(&key), "the list shows no plaintext");
    let listed = u.run(&["auth", "keys", "list", "--json"]).json();
    let listed = listed.as_array().unwrap();
    assert!(listed.iter().any(|k| k["id"] == key_id.as_str()), "{listed:?}");
    assert!(listed.iter().all(|k| k.get("key").is_none()), "{listed:?}");

    let got = u.run(&["auth", "keys", "get", &key_id, "--json"]).json();
    assert_eq!(got["name"], "ci");
    assert!(got.get("key").is_none());

    assert_eq!(verdict(&u, &key, "sandbox:create"), (0, "VALID".to_owned()));
    assert_eq!(verdict(&u, &key, "agent:read"), (1, "INSUFFICIENT_SCOPE".to_owned()));

    // Rotate with grace: both work; rotate again without grace: the middle one stops.
    let rotated = u.run(&["auth", "keys", "rotate", &key_id, "--grace", "1h", "--json"]).json();
    let key2 = rotated["key"].as_str().unwrap().to_owned();
    let key2_id = rotated["id"].as_str().unwrap().to_owned();
    assert_ne!(key2, key);
    assert_eq!(rotated["scopes"], created["scopes"]);
    assert_eq!(verdict(&u, &key, "sandbox:create").1, "VALID", "old key in its grace period");
    assert_eq!(verdict(&u, &key2, "sandbox:create").1, "VALID");
    let human = u.run(&["auth", "keys", "rotate", &key2_id, "--name", "ci-3"]);
    assert!(human.ok().contains("shown once") && human.stdout.contains("ci-3"), "{human:?}");
    assert!(human.stdout.contains("is revoked"), "{human:?}");
    assert_eq!(verdict(&u, &key2, "sandbox:create"), (1, "REVOKED".to_owned()));

    // Revoke: refused on the next verify; the human verdict goes to stderr with exit 1.
    let revoked = u.run(&["auth", "keys", "revoke", &key_id]);
    assert!(revoked.ok().contains("Revoked"), "{revoked:?}");
    let v = u.run(&["verify", &key, "--scope", "sandbox:create"]);
    assert_eq!(v.code, 1, "{v:?}");
    assert!(v.stdout.contains("REVOKED") && v.stderr.contains("not valid: REVOKED"), "{v:?}");

    let usage = u.run(&["auth", "keys", "usage", &key_id, "--json"]).json();
    assert!(usage.is_array(), "{usage}");

    // The config file never held a key.
    let stored = std::fs::read_to_string(u.credentials()).unwrap();
    for k in [&key, &key2] {
        assert!(!stored.contains(k.as_str()), "the credentials file holds a key");
    }
    let token = stored.lines().find_map(|l| l.strip_prefix("token = \"")).unwrap().trim_end_matches('"').to_owned();

    // Logout ends the session on the server too, and forgets it.
    let out = u.run(&["logout"]);
    assert!(out.ok().contains("revoked"), "{out:?}");
    assert!(!u.credentials().exists());
    assert_eq!(server.with_bearer(&token).get("/v1/me").await.status, 401, "the session token is dead");
    let after = u.run(&["auth", "keys", "list"]);
    assert_eq!(after.code, 1, "{after:?}");
    assert!(after.stderr.contains("not logged in"), "{after:?}");
}

#[tokio::test]
async fn exit_codes_and_errors_a_person_understands() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = User::new(&format!("http://127.0.0.1:{port}"));
    for env in [&[][..], &[("LATCHKEY_API_KEY", "lk_live_whatever")][..]] {
        let r = down.run_with(&["auth", "keys", "list"], env, "");
        assert_eq!(r.code, 3, "{r:?}");
        let want = format!("cannot reach latchkey at http://127.0.0.1:{port} — is `latchkey serve` running?");
        assert!(r.stderr.contains(&want), "{r:?}");
    }

    let server = TestServer::start().await;
    let ana = signup(&server, "ana@example.com", "Acme").await;
    let u = User::new(&server.url);

    // Usage errors: 2.
    for args in [
        &["auth", "keys", "create"][..],
        &["auth", "keys", "frobnicate"],
        &["login", "--password-stdin"],
        &["--api-url", "localhost:7420", "auth", "status"],
        &["audit", "--limit", "0"],
        &["completions", "tcsh"],
    ] {
        let r = u.run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
    }
    // No terminal to ask for the password: a usage error, not a hang.
    let r = u.run(&["login", "--email", "ana@example.com"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--password-stdin"), "{r:?}");

    // Not logged in, wrong password: 1.
    let r = u.run(&["auth", "status"]);
    assert_eq!((r.code, r.stderr.contains("not logged in")), (1, true), "{r:?}");
    let r = u.run_with(&["login", "--email", "ana@example.com", "--password-stdin"], &[], "wrong password\n");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("(unauthorized)"), "{r:?}");
    assert!(!u.credentials().exists());

    // The server's refusal: its message and code on stderr, exit 1.
    u.login("ana@example.com").ok();
    let r = u.run(&["auth", "keys", "get", "key_nope"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.starts_with("error: ") && r.stderr.contains("(not_found)"), "{r:?}");
    let r = u.run(&["auth", "keys", "create", "x", "--scope", "nope:nope"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("(invalid_scopes)"), "{r:?}");

    // A session ended on the server (here: revoked from another session).
    let stored = std::fs::read_to_string(u.credentials()).unwrap();
    let session_id =
        stored.lines().find_map(|l| l.strip_prefix("session_id = \"")).unwrap().trim_end_matches('"').to_owned();
    let r = server.with_bearer(&ana.token).delete(&format!("/v1/sessions/{session_id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = u.run(&["auth", "keys", "list"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("session expired, run `latchkey login`"), "{r:?}");

    // A stored session past its expiry is reported without asking the server.
    u.login("ana@example.com").ok();
    let stored = std::fs::read_to_string(u.credentials()).unwrap();
    let expired: String = stored
        .lines()
        .map(|l| {
            if l.starts_with("expires_at") { "expires_at = \"2001-01-01T00:00:00Z\"".to_owned() } else { l.to_owned() }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(u.credentials(), expired).unwrap();
    let r = u.run(&["project", "list"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("session expired, run `latchkey login`"), "{r:?}");
}

#[tokio::test]
async fn env_key_and_api_url_take_precedence_over_the_stored_login() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    signup(&a, "ana@example.com", "Acme").await;
    let u = User::new(&a.url);
    u.login("ana@example.com").ok();

    // LATCHKEY_API_KEY beats the stored session.
    let (scoped_id, scoped) =
        TestServer::create_key(&a.admin(), json!({"name": "scoped", "scopes": ["sandbox:create"]})).await;
    let s = u.run_with(&["auth", "status", "--json"], &[("LATCHKEY_API_KEY", &scoped)], "");
    let s: Value = serde_json::from_str(s.ok()).unwrap();
    assert_eq!(s["authType"], "api_key");
    assert_eq!(s["keyId"], scoped_id.as_str());
    assert_eq!(s["org"]["id"], a.admin.org_id.as_str(), "the key's org, not the login's");
    // …and carries only its own powers: no escalation from the CLI either.
    let r = u.run_with(&["auth", "keys", "create", "wider", "--scope", "*"], &[("LATCHKEY_API_KEY", &scoped)], "");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("(insufficient_scope)") || r.stderr.contains("(forbidden)"), "{r:?}");
    // A refused key is named as such.
    let r = u.run_with(&["auth", "status"], &[("LATCHKEY_API_KEY", "lk_live_notakeyatall")], "");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("LATCHKEY_API_KEY was refused"), "{r:?}");

    // The stored session token only goes to the server that issued it.
    let r = u.run(&["--api-url", &b.url, "auth", "status"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&format!("not logged in to {}", b.url)), "{r:?}");
    // --api-url beats LATCHKEY_API_URL.
    let r = u.run_with(&["--api-url", &a.url, "auth", "status", "--json"], &[("LATCHKEY_API_URL", &b.url)], "");
    let s: Value = serde_json::from_str(r.ok()).unwrap();
    assert_eq!(s["user"]["email"], "ana@example.com");
}

#[tokio::test]
async fn invite_accept_roles_projects_and_orgs_from_the_cli() {
    let server = TestServer::start().await;
    signup(&server, "ana@example.com", "Acme").await;
    signup(&server, "ben@example.com", "Ben home").await;
    let ana = User::new(&server.url);
    let ben = User::new(&server.url);
    ana.login("ana@example.com").ok();
    ben.login("ben@example.com").ok();

    let inv = ana.run(&["member", "invite", "ben@example.com", "--json"]).json();
    let token = inv["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("lki_"), "{inv}");
    let human = ana.run(&["member", "invite", "cy@example.com", "--role", "admin"]);
    assert!(human.ok().contains("shown once") && human.stdout.contains("lki_"), "{human:?}");

    let joined = ben.run(&["member", "accept", &token]);
    assert!(joined.ok().contains("Joined Acme"), "{joined:?}");
    let orgs = ben.run(&["org", "list", "--json"]).json();
    assert_eq!(orgs.as_array().unwrap().len(), 2, "{orgs}");
    let r = ben.run(&["org", "switch", "Acme"]);
    assert!(r.ok().contains("Now acting in Acme"), "{r:?}");
    let s = ben.run(&["auth", "status", "--json"]).json();
    assert_eq!((s["org"]["name"].as_str(), s["role"].as_str()), (Some("Acme"), Some("member")));
    let table = ben.run(&["org", "list"]);
    assert!(table.ok().lines().any(|l| l.starts_with('*') && l.contains("Acme")), "{table:?}");

    // A member cannot promote themself.
    let r = ben.run(&["member", "role", "ben@example.com", "admin"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("(forbidden)"), "{r:?}");

    let members = ana.run(&["member", "list", "--json"]).json();
    let role_of = |m: &Value, email: &str| {
        m.as_array().unwrap().iter().find(|x| x["email"] == email).map(|x| x["role"].as_str().unwrap().to_owned())
    };
    assert_eq!(role_of(&members, "ben@example.com").as_deref(), Some("member"));
    assert!(ana.run(&["member", "list"]).ok().contains("ben@example.com"));
    ana.run(&["member", "role", "ben@example.com", "admin"]).ok();
    let members = ana.run(&["member", "list", "--json"]).json();
    assert_eq!(role_of(&members, "ben@example.com").as_deref(), Some("admin"));
    ana.run(&["member", "remove", "ben@example.com"]).ok();
    let members = ana.run(&["member", "list", "--json"]).json();
    assert_eq!(role_of(&members, "ben@example.com"), None);
    let r = ana.run(&["member", "remove", "nobody@example.com"]);
    assert_eq!(r.code, 1, "{r:?}");

    // Projects.
    let p = ana.run(&["project", "create", "Payments", "--description", "the money", "--json"]).json();
    let pid = p["id"].as_str().unwrap().to_owned();
    assert!(ana.run(&["project", "list"]).ok().contains("Payments"));
    let k = ana.run(&["auth", "keys", "create", "p-key", "--project", &pid, "--json"]).json();
    assert_eq!(k["projectId"], pid.as_str());
    let only = ana.run(&["auth", "keys", "list", "--project", &pid, "--json"]).json();
    assert_eq!(only.as_array().unwrap().len(), 1, "{only}");
    let r = ana.run(&["project", "delete", &pid]);
    assert_eq!(r.code, 1, "a project with live keys stays: {r:?}");
    assert!(r.stderr.contains("(conflict)"), "{r:?}");
    ana.run(&["auth", "keys", "revoke", k["id"].as_str().unwrap()]).ok();
    ana.run(&["project", "delete", &pid]).ok();
    assert!(!ana.run(&["project", "list"]).ok().contains("Payments"));

    // Another organization.
    let o = ana.run(&["org", "create", "Side", "--json"]).json();
    assert_eq!(o["role"], "admin");
    let r = ana.run(&["org", "switch", o["slug"].as_str().unwrap()]);
    assert!(r.ok().contains("Now acting in Side"), "{r:?}");

    // The trail records it all (admins).
    let events = ana.run(&["org", "switch", "Acme"]).ok().to_owned();
    assert!(events.contains("Acme"));
    let trail = ana.run(&["audit", "--limit", "50", "--json"]).json();
    let actions: Vec<&str> = trail.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["invitation.create", "invitation.accept", "member.update", "member.remove", "project.create"] {
        assert!(actions.iter().any(|x| x == &a), "{a} in {actions:?}");
    }
    assert!(ana.run(&["audit"]).ok().contains("ACTION"));
}

#[tokio::test]
async fn audit_follow_prints_new_events_as_they_happen() {
    let server = TestServer::start().await;
    let ana = signup(&server, "ana@example.com", "Acme").await;
    let u = User::new(&server.url);
    u.login("ana@example.com").ok();
    let mut child = u
        .cmd(&["audit", "--follow", "--interval", "1", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The past first (the login), then what happens while it runs, once each.
    let (key_id, _) = TestServer::create_key(
        &server.with_bearer(&ana.token),
        json!({"name": "followed", "scopes": ["sandbox:create"]}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen: Vec<Value> = Vec::new();
    while Instant::now() < deadline && !seen.iter().any(|e| e["target"]["id"] == key_id.as_str()) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
    // One more poll round: nothing is printed twice.
    std::thread::sleep(Duration::from_millis(2500));
    while let Ok(line) = rx.try_recv() {
        seen.push(serde_json::from_str(&line).unwrap());
    }
    child.kill().ok();
    child.wait().ok();
    assert!(seen.iter().any(|e| e["action"] == "session.create"), "{seen:?}");
    let created: Vec<&Value> = seen.iter().filter(|e| e["target"]["id"] == key_id.as_str()).collect();
    assert_eq!(created.len(), 1, "the new event, exactly once: {seen:?}");
    assert_eq!(created[0]["action"], "api_key.create");
    let mut ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "no duplicates");
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for word in ["latchkey", "login", "keys", "rotate", "--all-org"] {
            assert!(text.contains(word), "{shell} completion mentions {word}");
        }
    }
}

/// tmux with a private socket, killed on drop.
struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        let sock = self.dir.path().join("tmux.sock");
        Command::new("tmux").arg("-S").arg(&sock).args(args).output().expect("run tmux")
    }

    /// The pane's text (with colour escapes when `escapes`).
    /// A new window `name` of session `t` running `command`. `-t t:` is the
    /// session, a window at its next free index; `-t t` is a window target,
    /// which tmux may resolve to the first window by its name ("create
    /// window failed: index 0 in use", about one run in 15 under load).
    fn new_window(&self, name: &str, command: &str) {
        let r = self.cmd(&["new-window", "-t", "t:", "-n", name, command]);
        assert!(r.status.success(), "new-window {name}: {}", String::from_utf8_lossy(&r.stderr));
    }

    fn pane(&self, target: &str, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-J", "-t", target];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.cmd(&args).stdout).into_owned()
    }

    fn wait_for(&self, target: &str, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pane = self.pane(target, false);
            if pane.contains(text) {
                return pane;
            }
            if Instant::now() >= deadline {
                let windows = String::from_utf8_lossy(&self.cmd(&["list-windows", "-a"]).stdout).into_owned();
                panic!("waited for {text:?}; the pane shows:\n{pane}\nwindows:\n{windows}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}

/// The interactive login in a real terminal: the password prompt does not
/// echo; colour appears on a terminal and not with `NO_COLOR`.
#[tokio::test]
async fn login_prompts_for_the_password_without_echo_in_a_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is needed for the terminal test (.ci/run installs it)");
    }
    let server = TestServer::start().await;
    signup(&server, "ana@example.com", "Acme").await;
    let u = User::new(&server.url);
    let tmux = Tmux { dir: tempfile::tempdir().unwrap() };
    let env = format!(
        "env -u NO_COLOR -u LATCHKEY_API_KEY TERM=xterm-256color HOME={home} XDG_CONFIG_HOME={home}/config LATCHKEY_API_URL={url}",
        home = u.home.path().display(),
        url = server.url
    );
    let login = format!("{env} {BIN} login; echo EXIT=$?; sleep 60");
    let r = tmux.cmd(&["new-session", "-d", "-s", "t", "-x", "200", "-y", "50", &login]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    tmux.wait_for("t", "Email:");
    tmux.cmd(&["send-keys", "-t", "t", "-l", "ana@example.com"]);
    tmux.cmd(&["send-keys", "-t", "t", "Enter"]);
    tmux.wait_for("t", "Password:");
    // The prompt is printed just before echo is switched off: wait for the
    // terminal itself to say so, rather than racing it.
    let tty = String::from_utf8_lossy(&tmux.cmd(&["display-message", "-p", "-t", "t", "#{pane_tty}"]).stdout)
        .trim()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stty = Command::new("stty").args(["-F", &tty, "-a"]).output().unwrap();
        if String::from_utf8_lossy(&stty.stdout).split_whitespace().any(|w| w == "-echo") {
            break;
        }
        assert!(Instant::now() < deadline, "echo never went off on {tty}");
        std::thread::sleep(Duration::from_millis(20));
    }
    tmux.cmd(&["send-keys", "-t", "t", "-l", PASSWORD]);
    tmux.cmd(&["send-keys", "-t", "t", "Enter"]);
    let pane = tmux.wait_for("t", "EXIT=");
    assert!(pane.contains("EXIT=0") && pane.contains("Logged in"), "{pane}");
    assert!(pane.contains("ana@example.com"), "the email is echoed: {pane}");
    assert!(!pane.contains(PASSWORD), "the password was echoed:\n{pane}");
    assert!(u.credentials().exists());

    // Colour on a terminal, none with NO_COLOR.
    let list = format!(
        "{env} {BIN} auth keys create k >/dev/null; {env} {BIN} project list; {env} {BIN} org list; echo DONE; sleep 60"
    );
    tmux.new_window("colour", &list);
    tmux.wait_for("t:colour", "DONE");
    assert!(tmux.pane("t:colour", true).contains("\x1b["), "colour on a terminal");
    let plain = format!("{env} NO_COLOR=1 {BIN} org list; echo DONE; sleep 60");
    tmux.new_window("plain", &plain);
    tmux.wait_for("t:plain", "DONE");
    let pane = tmux.pane("t:plain", true);
    assert!(pane.contains("Acme") && !pane.contains("\x1b[3"), "NO_COLOR: {pane:?}");
}

#[tokio::test]
async fn secrets_and_ssh_keys_from_the_cli() {
    let server = TestServer::start().await;
    let ana_p = signup(&server, "ana@example.com", "Acme").await;
    let admin = server.with_bearer(&ana_p.token);
    crate::common::join_org(&server, &admin, &ana_p.org_id, "ben@example.com", "member").await;
    let (ana, ben) = (User::new(&server.url), User::new(&server.url));
    ana.login("ana@example.com").ok();
    ben.login("ben@example.com").ok();
    ben.run(&["org", "switch", "Acme"]).ok();

    // Secrets: the value from stdin, or as an argument.
    let set = ana.run_with(
        &["secret", "set", "ANTHROPIC_API_KEY", "--value-stdin", "--category", "provider"],
        &[],
        "sk-ant-xxx\n",
    );
    assert!(set.ok().contains("Saved ANTHROPIC_API_KEY (user, provider, version 1)"), "{set:?}");
    let set = ana.run(&["secret", "set", "SHARED_CRM_KEY", "crm_xxx", "--category", "tool", "--org-wide"]);
    assert!(set.ok().contains("(org, tool"), "{set:?}");
    let list = ana.run(&["secret", "list"]);
    for want in ["NAME", "ANTHROPIC_API_KEY", "SHARED_CRM_KEY", "provider", "org"] {
        assert!(list.ok().contains(want), "{want}: {list:?}");
    }
    assert!(!list.stdout.contains("sk-ant-xxx") && !list.stdout.contains("crm_xxx"), "lists carry no values");
    let org_only = ana.run(&["secret", "list", "--org-only", "--json"]).json();
    let names: Vec<&str> = org_only.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["SHARED_CRM_KEY"]);
    assert_eq!(ana.run(&["secret", "reveal", "ANTHROPIC_API_KEY"]).ok(), "sk-ant-xxx\n");

    // Ben (a member) reads the organization's, not Ana's, and cannot write org-wide.
    assert_eq!(ben.run(&["secret", "reveal", "SHARED_CRM_KEY"]).ok(), "crm_xxx\n");
    let r = ben.run(&["secret", "reveal", "ANTHROPIC_API_KEY"]);
    assert_eq!((r.code, r.stderr.contains("(not_found)")), (1, true), "{r:?}");
    let r = ben.run(&["secret", "set", "TEAM_KEY", "v", "--org-wide"]);
    assert_eq!((r.code, r.stderr.contains("(forbidden)")), (1, true), "{r:?}");
    let r = ben.run(&["secret", "set", "TEAM_KEY"]);
    assert_eq!(r.code, 2, "a value or --value-stdin is needed: {r:?}");
    let r = ben.run(&["secret", "set", "bad-name", "v"]);
    assert_eq!(r.code, 1, "{r:?}");

    ana.run(&["secret", "delete", "ANTHROPIC_API_KEY"]).ok();
    assert_eq!(ana.run(&["secret", "reveal", "ANTHROPIC_API_KEY"]).code, 1);

    // SSH keys.
    let dir = tempfile::tempdir().unwrap();
    let laptop = crate::ssh_keys::keygen(dir.path(), "laptop", "ed25519", None);
    let desktop = crate::ssh_keys::keygen(dir.path(), "desktop", "ecdsa", None);
    let pub_file = |k: &crate::ssh_keys::KeyPair| k.private.with_extension("pub").display().to_string();
    let added = ana.run(&["ssh-key", "add", "personal-laptop", "--file", &pub_file(&laptop)]);
    assert!(added.ok().contains(&laptop.fingerprint), "the fingerprint ssh-keygen prints: {added:?}");
    let second = ana.run(&["ssh-key", "add", "desktop", "--file", &pub_file(&desktop), "--json"]).json();
    let second_id = second["id"].as_str().unwrap().to_owned();
    let r = ana.run(&["ssh-key", "add", "oops", "--file", laptop.private.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.to_lowercase().contains("private"), "a private key is refused as such: {r:?}");
    let r = ana.run(&["ssh-key", "add", "missing", "--file", "/nonexistent/id.pub"]);
    assert_eq!(r.code, 2, "{r:?}");

    let default_name = |u: &User| {
        let list = u.run(&["ssh-key", "list", "--json"]).json();
        list.as_array().unwrap().iter().find(|k| k["isDefault"] == true).map(|k| k["name"].as_str().unwrap().to_owned())
    };
    assert_eq!(default_name(&ana).as_deref(), Some("personal-laptop"), "the first key is the default");
    assert!(ana.run(&["ssh-key", "set-default", &second_id]).ok().contains("default"));
    assert_eq!(default_name(&ana).as_deref(), Some("desktop"));
    assert!(ana.run(&["ssh-key", "list"]).ok().contains("FINGERPRINT"));

    let body = |k: &crate::ssh_keys::KeyPair| k.public.split_whitespace().nth(1).unwrap().to_owned();
    let file = ana.run(&["ssh-key", "authorized-keys", "ana@example.com"]);
    assert!(file.ok().contains(&body(&laptop)) && file.stdout.contains(&body(&desktop)), "{file:?}");
    ana.run(&["ssh-key", "remove", &second_id]).ok();
    let file = ana.run(&["ssh-key", "authorized-keys", "ana@example.com"]);
    assert!(!file.ok().contains(&body(&desktop)), "removed keys leave the file: {file:?}");
    // A member may not read another member's file.
    let r = ben.run(&["ssh-key", "authorized-keys", "ana@example.com"]);
    assert_eq!(r.code, 1, "{r:?}");

    for value in ["sk-ant-xxx", "crm_xxx"] {
        assert!(!server.logs().contains(value), "a secret value reached the log");
    }
}
