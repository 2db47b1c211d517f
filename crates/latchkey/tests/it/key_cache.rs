//! The key cache's budget (`--key-cache-mib`): a server whose cache holds
//! fewer keys than exist still verifies every one (evicted keys load
//! again) and refuses a revoked key at once; the start-up warm-up loads the
//! recently used keys only; a bad budget is refused.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, TestServer, eventually, run_cli};

const BATCH: &str = "/v1/api-keys/batch";

/// A gauge of `GET /metrics`.
async fn gauge(server: &TestServer, name: &str) -> f64 {
    let page = server.anonymous().get("/metrics").await.text;
    let line = page.lines().find(|l| l.split_whitespace().next() == Some(name));
    line.and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {name}"))
}

/// Every scope an admin can grant (the catalog's, but the reserved
/// `secret:resolve` and `oauth:token`).
const ALL_SCOPES: &str = "sandbox:create sandbox:read sandbox:write agent:run agent:read agent:write \
    workflow:read workflow:write workflow:run tool:read tool:write tool:run ssh-key:read ssh-key:write files:read \
    files:write secret:read secret:write oauth:read oauth:write org:read org:write org:members admin:resources \
    keys:verify";

/// `n` new keys of the admin, made in batches: their ids and plaintexts.
/// With `heavy`, each holds every scope and a daily limit of its own, so
/// that no two share a grant and each weighs ~3 KB in the cache.
async fn made_keys(admin: &Api, n: usize, heavy: bool) -> Vec<(String, String)> {
    let scopes: Vec<&str> = ALL_SCOPES.split_whitespace().collect();
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let count = (n - keys.len()).min(1_000);
        let items: Vec<Value> = (keys.len()..keys.len() + count)
            .map(|i| {
                if heavy {
                    json!({"name": format!("k{i}"), "scopes": scopes, "rateLimitPerDay": 1_000_000 + i})
                } else {
                    json!({"name": format!("k{i}")})
                }
            })
            .collect();
        let r = admin.post(BATCH, json!({"keys": items})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        for k in r.body["data"].as_array().unwrap() {
            keys.push((k["id"].as_str().unwrap().to_owned(), k["key"].as_str().unwrap().to_owned()));
        }
    }
    keys
}

/// The verify answer's code for each of `keys`, asked 16 at a time.
async fn codes(admin: &Api, keys: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(16) {
        let mut asked = tokio::task::JoinSet::new();
        for (i, key) in chunk.iter().enumerate() {
            let (admin, key) = (admin.clone(), key.clone());
            asked.spawn(async move { (i, admin.post("/v1/keys/verify", json!({"key": key})).await) });
        }
        let mut answers = asked.join_all().await;
        answers.sort_by_key(|(i, _)| *i);
        for (_, r) in answers {
            assert_eq!(r.status, 200, "{}", r.text);
            out.push(r.body["data"]["code"].as_str().unwrap().to_owned());
        }
    }
    out
}

/// 1 MiB holds a few hundred keys that share nothing (every scope, a limit
/// of their own: ~3 KB each, grant included): with 700, verifying them
/// all evicts some, and every one still verifies (an evicted key loads
/// again); the cache stays within its budget; a revoked key, evicted or
/// cached, is refused at once.
#[tokio::test]
async fn a_small_key_cache_verifies_every_key_and_refuses_a_revoked_one() {
    let server = TestServer::start_with(&["--key-cache-mib", "1"]).await;
    let admin = server.admin();
    let keys = made_keys(&admin, 700, true).await;
    // The server reads its key change log each second and, seeing 700 new
    // keys at once, drops its whole cache: let that happen before the pass
    // whose entries are counted (a drop in the middle of it left 77 cached
    // on a loaded machine).
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let plains: Vec<String> = keys.iter().map(|(_, k)| k.clone()).collect();
    let got = codes(&admin, &plains).await;
    let valid = got.iter().filter(|c| *c == "VALID").count();
    assert_eq!(valid, keys.len(), "{:?}", got.iter().find(|c| *c != "VALID"));
    let entries = gauge(&server, "latchkey_key_cache_entries").await;
    let bytes = gauge(&server, "latchkey_key_cache_bytes").await;
    assert!(entries < 700.0, "{entries} cached: nothing was evicted");
    assert!(entries > 100.0, "{entries} cached");
    assert!(bytes <= f64::from(1 << 20), "{bytes} bytes cached over a 1 MiB budget");

    // The first keys were evicted by the last ones; the last are cached.
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    for (id, _) in [first, last] {
        let r = admin.post_empty(&format!("/v1/api-keys/{id}/revoke")).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(codes(&admin, &[first.1.clone(), last.1.clone()]).await, ["REVOKED", "REVOKED"]);
    assert_eq!(codes(&admin, &[keys[1].1.clone()]).await, ["VALID"]);
}

/// After a restart the warm-up loads the keys used recently (their
/// `lastUsedAt` written at shutdown), not the keys never used.
#[tokio::test]
async fn the_warm_up_loads_recently_used_keys_only() {
    let mut server = TestServer::start().await;
    let admin = server.admin();
    let keys = made_keys(&admin, 20, false).await;
    for (_, key) in &keys[..5] {
        assert_eq!(server.with_key(key).get("/v1/me").await.status, 200);
    }
    assert!(server.terminate(), "server did not exit cleanly on SIGTERM");
    server.restart();
    // The first start's line, then the restart's.
    let warmed = eventually(Duration::from_secs(10), || {
        let logs = server.logs();
        async move { logs.matches("key cache warmed").count() == 2 }
    })
    .await;
    assert!(warmed, "{}", server.logs());
    // The five keys and the admin's (it made them); no request since the
    // restart has used a key (`/metrics` is public).
    let line = server.logs().lines().rfind(|l| l.contains("key cache warmed")).unwrap().to_owned();
    assert!(line.contains("keys=6"), "{line}");
    assert_eq!(gauge(&server, "latchkey_key_cache_entries").await, 6.0);
    // A key never used loads on its first use.
    assert_eq!(server.with_key(&keys[19].1).get("/v1/me").await.status, 200);
    assert_eq!(gauge(&server, "latchkey_key_cache_entries").await, 7.0);
}

/// `--key-cache-mib` (and `LATCHKEY_KEY_CACHE_MIB`) outside 1–65536 MiB or
/// not a number is refused before anything starts, naming the flag.
#[test]
fn a_bad_key_cache_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for bad in ["0", "65537", "ten", "-1", "1.5"] {
        let flag = format!("--key-cache-mib={bad}");
        let out = run_cli(&["serve", &flag, "--listen", "127.0.0.1:0", "--data-dir", data]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--key-cache-mib"), "{stderr}");
        assert!(stderr.contains("a whole number of MiB from 1 to 65536"), "{stderr}");
    }
    let out = crate::common::cli(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        .env("LATCHKEY_KEY_CACHE_MIB", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("from 1 to 65536"), "{out:?}");
}
