//! A real OpenSSH `sshd` whose `AuthorizedKeysCommand` asks latchkey for the
//! `authorized_keys` of the person logging in: a key registered in latchkey
//! logs in, the same key after its deletion is refused.
//!
//! `sshd` is the Debian package `openssh-server` (`/usr/sbin/sshd`,
//! installed by `.ci/run` when missing); `ssh` and `ssh-keygen` come with
//! `openssh-client`. Each test runs its own `sshd -D -e` on a free loopback
//! port with every file (config, host key, pid, the command) in a directory
//! of its own. OpenSSH runs the command only if it and every directory
//! above it are owned by root and writable by nobody else, so that
//! directory is under `CARGO_TARGET_TMPDIR`, or `/run` when the checkout
//! is below a directory such as `/tmp` (1777).
//! The unix user is `root`; the command maps it to the latchkey member
//! `root@example.com`.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{TestServer, join_org};
use crate::ssh_keys::{KeyPair, add, keygen};

const SSHD: &str = "/usr/sbin/sshd";

/// The body of the `AuthorizedKeysCommand` script. `$1` is the unix user
/// (`%u`); the script prints that member's `authorized_keys`, and fails
/// (no keys) when latchkey says no.
fn authorized_keys_command(latchkey_url: &str, service_key: &str) -> String {
    // sshd runs the command with an almost empty environment (no HOME).
    format!(
        "export LATCHKEY_API_URL='{latchkey_url}' LATCHKEY_API_KEY='{service_key}'\n\
         exec {bin} ssh-key authorized-keys \"$1@example.com\"",
        bin = crate::common::BIN
    )
}

/// A running sshd; killed on drop.
struct Sshd {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Sshd {
    fn start(dir: &Path, command_body: &str) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} not found: this test runs a real OpenSSH server. Install it with \
             `apt-get install openssh-server openssh-client`; .ci/run installs it when missing."
        );
        // Privilege separation directory (Debian's sshd insists on it).
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::set_permissions("/run/sshd", std::fs::Permissions::from_mode(0o755)).unwrap();

        let host_key = dir.join("host_ed25519");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f", host_key.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // Root-owned, writable by nobody else, as OpenSSH requires.
        let script = dir.join("authorized-keys-command");
        std::fs::write(&script, format!("#!/bin/sh\n{command_body}\n")).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();

        for attempt in 1..=3 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let config = dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\n\
                     ListenAddress 127.0.0.1\n\
                     HostKey {host}\n\
                     PidFile {dir}/sshd.pid\n\
                     AuthorizedKeysFile none\n\
                     AuthorizedKeysCommand {script} %u\n\
                     AuthorizedKeysCommandUser root\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     UsePAM no\n\
                     PermitRootLogin prohibit-password\n\
                     LogLevel VERBOSE\n",
                    host = host_key.display(),
                    dir = dir.display(),
                    script = script.display(),
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
            let child = Command::new(SSHD)
                .args(["-D", "-e", "-f", config.to_str().unwrap()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {SSHD}: {e}"));
            let mut sshd = Self { port, dir: dir.to_owned(), child };
            match sshd.wait_ready() {
                Ok(()) => return sshd,
                Err(log) if attempt < 3 && log.contains("Address already in use") => {}
                Err(log) => panic!("sshd did not start:\n{log}"),
            }
        }
        unreachable!()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("sshd exited with {status}\n{}", self.log()));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() && self.log().contains("Server listening")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("sshd not listening after 10 s\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// `ssh -i key root@127.0.0.1 true`: whether it logged in.
    fn login(&self, key: &KeyPair) -> bool {
        let out = Command::new("ssh")
            .args(["-F", "/dev/null", "-i", key.private.to_str().unwrap(), "-p", &self.port.to_string()])
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "ConnectTimeout=10"])
            .args(["-o", "LogLevel=ERROR", "root@127.0.0.1", "true"])
            .stdin(Stdio::null())
            .output()
            .expect("ssh (package openssh-client) is needed");
        out.status.success()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A directory for sshd's files that OpenSSH accepts for the command: it
/// and every directory above it owned by root and writable by nobody else.
/// The target directory qualifies unless the checkout lives somewhere like
/// `/tmp` (1777); then `/run` (root's, 0755) is used.
fn private_dir() -> tempfile::TempDir {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(target).unwrap();
    let base = if safe_path(target) { target.to_path_buf() } else { PathBuf::from("/run/latchkey-tests") };
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(safe_path(&base), "no directory sshd accepts for the AuthorizedKeysCommand ({})", base.display());
    let dir = tempfile::Builder::new().prefix("sshd-").tempdir_in(&base).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// OpenSSH's `safe_path`: `dir` and each of its parents owned by root and not
/// writable by group or others.
fn safe_path(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(dir) = dir.canonicalize() else { return false };
    dir.ancestors().all(|d| std::fs::metadata(d).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0))
}

#[tokio::test]
async fn sshd_lets_in_a_registered_key_and_refuses_it_after_deletion() {
    let server = TestServer::start().await;
    let ada = server.admin();
    let org = server.admin.org_id.clone();
    let root = join_org(&server, &ada, &org, "root@example.com", "member").await;
    let member = server.with_session_in_org(&root.token, &org);
    let (_, service_key) =
        TestServer::create_key(&ada, json!({"name": "sshd", "owner": "org", "scopes": ["ssh-key:read"]})).await;

    let dir = private_dir();
    let laptop = keygen(dir.path(), "laptop", "ed25519", None);
    let team = keygen(dir.path(), "team", "ecdsa", Some(256));
    let sshd = Sshd::start(dir.path(), &authorized_keys_command(&server.url, &service_key));
    let ctx = || format!("--- sshd log:\n{}", sshd.log());

    // Unknown to latchkey: refused.
    assert!(!sshd.login(&laptop), "a key latchkey does not know logged in\n{}", ctx());

    // Registered by the member: logs in, under the fingerprint latchkey shows.
    let r = add(&member, "personal-laptop", &laptop.public, false).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let laptop_id = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert!(sshd.login(&laptop), "the registered key was refused\n{}", ctx());
    assert!(sshd.log().contains("Accepted publickey for root from 127.0.0.1"), "{}", ctx());
    assert!(sshd.log().contains(&laptop.fingerprint), "{}", ctx());
    assert!(!sshd.login(&team), "another key logged in\n{}", ctx());

    // An organization-wide key lets every member in.
    let r = add(&ada, "team", &team.public, true).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let team_id = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert!(sshd.login(&team), "the organization-wide key was refused\n{}", ctx());

    // Deleted: refused on the very next login.
    assert_eq!(member.delete(&format!("/v1/ssh-keys/{laptop_id}")).await.status, 204);
    assert!(!sshd.login(&laptop), "the deleted key still logged in\n{}", ctx());
    assert!(sshd.login(&team), "{}", ctx());
    assert_eq!(ada.delete(&format!("/v1/ssh-keys/{team_id}")).await.status, 204);
    assert!(!sshd.login(&team), "the deleted organization-wide key still logged in\n{}", ctx());

    // Re-registered: in again; and when the member leaves the organization,
    // out again.
    assert_eq!(add(&member, "laptop", &laptop.public, false).await.status, 201);
    assert!(sshd.login(&laptop), "{}", ctx());
    assert_eq!(ada.delete(&format!("/v1/members/{}", root.user_id)).await.status, 204);
    assert!(!sshd.login(&laptop), "a departed member's key still logged in\n{}", ctx());
}
