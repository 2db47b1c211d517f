//! Issue 17, the storage layer: revocation wins over a concurrent rotation
//! (defect 1), a rotated key shares its credits with its successor (10),
//! no change without its audit event across `kill -9` (11, the crash
//! proof), private database files (13). Each runs on the suite's backend.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::common::{Api, TestServer};
use crate::db::Db;

/// The verify code of `key`.
async fn code(api: &Api, key: &str) -> String {
    let r = api.post("/v1/keys/verify", json!({"key": key})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"]["code"].as_str().unwrap().to_owned()
}

/// Creates `n` keys with `body`, `parallel` at a time: (id, plaintext).
async fn create_keys(api: &Api, n: usize, body: Value, parallel: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        if tasks.len() >= parallel {
            out.push(tasks.join_next().await.unwrap().unwrap());
        }
        let (api, body) = (api.clone(), body.clone());
        tasks.spawn(async move { TestServer::create_key(&api, body).await });
    }
    while let Some(done) = tasks.join_next().await {
        out.push(done.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn d01_revoke_wins_over_a_concurrent_rotation() {
    const RACES: usize = 200;
    let started = Instant::now();
    let server = TestServer::start().await;
    let admin = server.admin();
    let keys = create_keys(&admin, RACES, json!({"name": "raced"}), 8).await;

    // Each key: its revoke and a rotation with a grace period sent at once,
    // eight keys at a time.
    let mut races = JoinSet::new();
    let mut outcomes = Vec::new();
    for (id, key) in keys {
        if races.len() >= 8 {
            outcomes.push(races.join_next().await.unwrap().unwrap());
        }
        let admin = admin.clone();
        races.spawn(async move {
            let rotate_path = format!("/v1/api-keys/{id}/rotate");
            let revoke_path = format!("/v1/api-keys/{id}/revoke");
            let (rotated, revoked) =
                tokio::join!(admin.post(&rotate_path, json!({"gracePeriod": "1h"})), admin.post_empty(&revoke_path));
            (key, rotated.status, revoked.status)
        });
    }
    while let Some(done) = races.join_next().await {
        outcomes.push(done.unwrap());
    }

    let mut still_valid = 0;
    let mut both = 0;
    for (key, rotated, revoked) in &outcomes {
        assert_eq!(*revoked, 200, "a revoke of an active or rotated key succeeds");
        assert!([201, 409].contains(rotated), "rotation answered {rotated}");
        both += usize::from(*rotated == 201);
        if code(&admin, key).await == "VALID" {
            still_valid += 1;
        }
    }
    eprintln!(
        "d01: {RACES} races, {both} rotations succeeded too, {still_valid} revoked keys still valid ({:?})",
        started.elapsed()
    );
    assert_eq!(still_valid, 0, "a key whose revoke was answered 200 must never verify");
}

#[tokio::test]
async fn d10_rotation_with_a_grace_period_shares_credits_with_the_successor() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, old) = TestServer::create_key(&admin, json!({"name": "metered", "remaining": 10})).await;
    for _ in 0..4 {
        assert_eq!(code(&admin, &old).await, "VALID");
    }
    let r = admin.post(&format!("/v1/api-keys/{id}/rotate"), json!({"gracePeriod": "1h"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"]["remaining"], 6, "the successor starts with what the old key had left");
    let new = r.body["data"]["key"].as_str().unwrap().to_owned();

    let mut spent = 0;
    for i in 0..20 {
        let key = if i % 2 == 0 { &old } else { &new };
        match code(&admin, key).await.as_str() {
            "VALID" => spent += 1,
            "USAGE_EXCEEDED" => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(spent, 6, "the two keys together spend the 6 credits left, once");
    // The balance went to 0 on both sides.
    assert_eq!(code(&admin, &old).await, "USAGE_EXCEEDED");
    assert_eq!(code(&admin, &new).await, "USAGE_EXCEEDED");

    // Rotating the successor again (with grace): all three share it.
    let new_id = r.body["data"]["id"].as_str().unwrap().to_owned();
    admin.patch(&format!("/v1/api-keys/{new_id}"), json!({"remaining": 3})).await;
    let r = admin.post(&format!("/v1/api-keys/{new_id}/rotate"), json!({"gracePeriod": "1h"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let newest = r.body["data"]["key"].as_str().unwrap().to_owned();
    let mut spent = 0;
    for key in [&old, &new, &newest, &old, &new, &newest] {
        spent += usize::from(code(&admin, key).await == "VALID");
    }
    assert_eq!(spent, 3, "a chain of rotations shares one balance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn d10_credits_stay_exact_when_a_key_is_rotated_while_it_spends() {
    const CREDITS: usize = 60;
    let server = TestServer::start().await;
    let admin = server.admin();
    let (id, old) = TestServer::create_key(&admin, json!({"name": "busy", "remaining": CREDITS})).await;
    let old = Arc::new(old);
    let new: Arc<Mutex<Option<String>>> = Arc::default();
    // Eight clients spend on the old key (and, once it exists, alternately
    // on the successor) while the key is rotated under them.
    let mut clients = JoinSet::new();
    for c in 0..8 {
        let (admin, old, new) = (admin.clone(), Arc::clone(&old), Arc::clone(&new));
        clients.spawn(async move {
            let mut valid = 0;
            for i in 0..12 {
                let successor = new.lock().unwrap().clone();
                let key = match successor {
                    Some(k) if (c + i) % 2 == 0 => k,
                    _ => old.as_str().to_owned(),
                };
                valid += usize::from(code(&admin, &key).await == "VALID");
                // Paced, so that the rotation lands half-way.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            valid
        });
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let r = admin.post(&format!("/v1/api-keys/{id}/rotate"), json!({"gracePeriod": "1h"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    *new.lock().unwrap() = Some(r.body["data"]["key"].as_str().unwrap().to_owned());
    let mut spent = 0;
    while let Some(done) = clients.join_next().await {
        spent += done.unwrap();
    }
    let successor = new.lock().unwrap().clone().unwrap();
    for key in [old.as_str(), &successor].iter().cycle().take(2 * CREDITS) {
        spent += usize::from(code(&admin, key).await == "VALID");
    }
    assert_eq!(spent, CREDITS, "every credit spent once, whichever key spent it");
}

/// The mode bits of `path`.
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn d13_database_files_are_private() {
    if crate::common::pg_base().is_some() {
        eprintln!("d13 is about the SQLite files: skipped on PostgreSQL");
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let mut server = TestServer::start().await;
    TestServer::create_key(&server.admin(), json!({"name": "written"})).await;
    let dir = server.data_dir();
    let files = ["latchkey.db", "latchkey.db-wal", "latchkey.db-shm"];
    let check = |dir: &std::path::Path| {
        assert_eq!(mode(dir), 0o700, "the data directory");
        for f in files {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
    };
    check(&dir);

    // A data directory left readable (an older version, a umask of 022, a
    // copy) is tightened at start, with a warning.
    server.kill9();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in files {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    server.restart();
    check(&dir);
    assert!(server.logs().contains("its mode was tightened"), "{}", server.logs());
}

/// What the crash run's client was told, and what it sent without an answer.
#[derive(Default)]
struct Ledger {
    /// Keys created with a 201: id → plaintext.
    created: HashMap<String, String>,
    /// Of those, keys revoked with a 200.
    revoked: HashSet<String>,
    /// Created keys not yet sent a revoke.
    revocable: Vec<String>,
    /// Keys whose revoke got no answer (killed meanwhile): either state is
    /// right.
    uncertain: HashSet<String>,
    /// Keys created or revoked since the last check.
    touched: Vec<String>,
}

/// One operation: revoke every third (when a key is left), else create.
async fn crash_op(http: &reqwest::Client, url: &str, admin_key: &str, n: usize, ledger: &Mutex<Ledger>) -> bool {
    let victim = if n % 3 == 2 { ledger.lock().unwrap().revocable.pop() } else { None };
    let sent = match &victim {
        Some(id) => http.post(format!("{url}/v1/api-keys/{id}/revoke")).header("X-API-Key", admin_key).send().await,
        None => {
            let body = json!({"name": format!("crash {n}")});
            http.post(format!("{url}/v1/api-keys")).header("X-API-Key", admin_key).json(&body).send().await
        }
    };
    let answered = match sent {
        Ok(r) => match (r.status().as_u16(), r.json::<Value>().await) {
            (status, Ok(body)) => Some((status, body)),
            (_, Err(_)) => None,
        },
        Err(_) => None,
    };
    let was_answered = answered.is_some();
    let mut l = ledger.lock().unwrap();
    match (victim, answered) {
        (Some(id), Some((200, _))) => {
            l.revoked.insert(id.clone());
            l.touched.push(id);
        }
        (Some(id), _) => {
            l.uncertain.insert(id);
        }
        (None, Some((201, body))) => {
            let id = body["data"]["id"].as_str().unwrap().to_owned();
            l.created.insert(id.clone(), body["data"]["key"].as_str().unwrap().to_owned());
            l.revocable.push(id.clone());
            l.touched.push(id);
        }
        (None, _) => {}
    }
    was_answered
}

/// The ids of every row of `sql` (column `id`), as a set.
async fn id_set(db: &Db, sql: &str) -> HashSet<String> {
    db.strings(sql, "id").await.into_iter().collect()
}

/// What a check after a restart found, each as `kind id`.
#[derive(Default)]
struct Found {
    /// Acknowledged changes missing (or not in force through the API).
    lost: HashSet<String>,
    /// Changes without their audit event.
    unaudited: HashSet<String>,
    /// Audit events without their change.
    orphans: HashSet<String>,
}

/// `kind id` for each of `ids`.
fn tagged<'a>(kind: &'a str, ids: impl Iterator<Item = &'a String> + 'a) -> impl Iterator<Item = String> + 'a {
    ids.map(move |id| format!("{kind} {id}"))
}

/// After a restart: adds what is wrong to `found`.
async fn crash_check(server: &TestServer, ledger: &Mutex<Ledger>, found: &mut Found) {
    let db = Db::connect(server).await;
    let keys = id_set(&db, "SELECT id FROM api_keys").await;
    let revoked = id_set(&db, "SELECT id FROM api_keys WHERE revoked_at IS NOT NULL").await;
    let created_events = id_set(&db, "SELECT target_id AS id FROM audit_events WHERE action = 'api_key.create'").await;
    let revoke_events = id_set(&db, "SELECT target_id AS id FROM audit_events WHERE action = 'api_key.revoke'").await;
    db.close().await;
    let expect: Vec<(String, String, bool)> = {
        let mut l = ledger.lock().unwrap();
        let touched = std::mem::take(&mut l.touched);
        touched
            .iter()
            .filter(|id| !l.uncertain.contains(*id))
            .map(|id| (id.clone(), l.created[id].clone(), l.revoked.contains(id)))
            .collect()
    };
    {
        let l = ledger.lock().unwrap();
        found.lost.extend(tagged("created", l.created.keys().filter(|id| !keys.contains(*id))));
        found.lost.extend(tagged("revoked", l.revoked.iter().filter(|id| !revoked.contains(*id))));
    }
    // What the client was told since the last check, through the API: created
    // keys verify, revoked ones are refused.
    let admin = server.admin();
    for (id, key, is_revoked) in expect {
        let c = code(&admin, &key).await;
        if (c == "VALID") == is_revoked {
            found.lost.insert(format!("verify {id} {c}"));
        }
    }
    found.unaudited.extend(tagged("created", keys.difference(&created_events)));
    found.unaudited.extend(tagged("revoked", revoked.difference(&revoke_events)));
    found.orphans.extend(tagged("create event", created_events.difference(&keys)));
    found.orphans.extend(tagged("revoke event", revoke_events.difference(&revoked)));
}

/// A whole number from the environment, or `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The crash proof. `LATCHKEY_CRASH_OPS` key creations and revocations
/// (default 1,000; `scripts/crash.sh` runs 10,000) by 8 concurrent clients,
/// with a `kill -9` at `LATCHKEY_CRASH_KILLS` points spread over them
/// (default 5; the script 20), each while requests are in flight. After
/// each restart: every change answered with success is there (created keys
/// exist and verify, revoked keys exist revoked and are refused), and no
/// key or revocation lacks its audit event (nor an event its change).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn d11_crash_loses_no_acknowledged_change_and_no_audit_event() {
    let ops = env_count("LATCHKEY_CRASH_OPS", 1_000);
    let kills = env_count("LATCHKEY_CRASH_KILLS", 5).max(1);
    let started = Instant::now();
    let mut server = TestServer::start().await;
    let admin_key = server.admin.api_key.clone();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let issued = Arc::new(AtomicUsize::new(0));
    let mut found = Found::default();
    for kill in 1..=kills {
        let kill_at = ops * kill / kills;
        let mut workers = JoinSet::new();
        for _ in 0..8 {
            let (http, url, admin_key) = (http.clone(), server.url.clone(), admin_key.clone());
            let (ledger, issued) = (Arc::clone(&ledger), Arc::clone(&issued));
            workers.spawn(async move {
                loop {
                    let n = issued.fetch_add(1, Ordering::SeqCst);
                    if n >= kill_at {
                        issued.fetch_sub(1, Ordering::SeqCst);
                        break;
                    }
                    if !crash_op(&http, &url, &admin_key, n, &ledger).await {
                        break;
                    }
                }
            });
        }
        // Kill the moment the last operation of this stretch is sent: the
        // requests still in flight die with the process.
        while issued.load(Ordering::SeqCst) < kill_at && !workers.is_empty() {
            if workers.try_join_next().is_some() {
                continue;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.kill9();
        while workers.join_next().await.is_some() {}
        server.restart();
        crash_check(&server, &ledger, &mut found).await;
    }
    let (acked, revoked, uncertain) = {
        let l = ledger.lock().unwrap();
        (l.created.len(), l.revoked.len(), l.uncertain.len())
    };
    let (lost, unaudited, orphans) = (found.lost.len(), found.unaudited.len(), found.orphans.len());
    let backend = if crate::common::pg_base().is_some() { "postgres" } else { "sqlite" };
    println!(
        "crash run ({backend}): operations {ops}, kills {kills}, acknowledged creations {acked}, acknowledged \
         revocations {revoked}, unanswered revocations {uncertain}, lost {lost}, unaudited {unaudited}, events \
         without their change {orphans} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    assert!(acked > ops / 2, "most operations were answered ({acked} of {ops})");
    assert!(
        (lost, unaudited, orphans) == (0, 0, 0),
        "lost {:?}, unaudited {:?}, events without their change {:?}",
        found.lost,
        found.unaudited,
        found.orphans
    );
}
