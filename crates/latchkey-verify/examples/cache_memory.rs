//! What cached keys cost in memory: stores `N` keys (default 200,000) in a
//! SQLite database, marks them used a minute ago, warms a verifier with a
//! budget of `MIB` MiB (default 64) and prints the keys loaded, the bytes
//! the cache accounts for them, and how much the process's resident memory
//! grew during the warm-up; then counts a verification of every key as
//! pending usage (not written: no flusher runs) and prints how much the
//! resident memory grew per pending key ([`latchkey_verify::PENDING_KEY_BYTES`]
//! is what the pending target assumes).
//!
//! `cargo run --release -p latchkey-verify --example cache_memory -- [N] [MIB]`
//!
//! The resident growth includes what the warm-up's pages of full records
//! left behind in the allocator (freed, not returned to the system); the
//! accounted bytes are what the budget counts.

#![expect(clippy::unwrap_used, clippy::print_stdout, reason = "a measuring tool")]

use std::sync::Arc;

use latchkey_core::id::{KeyId, OrgId, UserId};
use latchkey_core::time_fmt::{Millis, now_ms};
use latchkey_core::{Environment, KeyPrefix, PlainKey, Scope, ScopeSet};
use latchkey_store::sqlite::SqliteStore;
use latchkey_store::{AuditEvent, KeyStore, NewApiKey, NewOrg, NewUser, OrgStore, Store};
use latchkey_verify::{KeyVerifier, VerifierConfig};

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let now: Millis = now_ms();
    let org = NewOrg {
        id: OrgId::new(),
        name: "acme".into(),
        slug: "acme".into(),
        members_see_all_keys: false,
        leak_action: latchkey_store::LeakAction::default(),
        created_at: now,
    };
    let user = NewUser { id: UserId::new(), email: "a@example.com".into(), display_name: "A".into(), created_at: now };
    let prefix = KeyPrefix::branded("lk", Environment::Live).unwrap();
    let scopes = ScopeSet::from_scopes(["keys:read", "keys:verify", "projects:*"].map(|s| Scope::parse(s).unwrap()));
    let key = |name: &str| NewApiKey {
        scopes: scopes.clone(),
        ..NewApiKey::admin(&PlainKey::generate(&prefix), &org.id, &user.id, name, now)
    };
    store.bootstrap(&org, &user, &key("admin"), &[]).await.unwrap();
    let mut ids: Vec<KeyId> = Vec::with_capacity(n);
    while ids.len() < n {
        let batch: Vec<NewApiKey> = (0..(n - ids.len()).min(1_000)).map(|_| key("k")).collect();
        // One event per batch (each has its own id).
        let event = AuditEvent::operator(&org.id, "bench", ("api_key", "key_bench"), &serde_json::json!({}), now);
        store.insert_keys(&batch, &[event]).await.unwrap();
        ids.extend(batch.into_iter().map(|k| k.id));
    }
    for chunk in ids.chunks(1_000) {
        let used: Vec<(KeyId, Millis)> = chunk.iter().map(|id| (id.clone(), now - 60_000)).collect();
        store.record_last_used(&used).await.unwrap();
    }
    let store: Arc<dyn Store> = store;
    let verifier = KeyVerifier::new(store, &VerifierConfig { cache_bytes: mib << 20, ..VerifierConfig::default() });
    let before = rss();
    let loaded = verifier.warm(now, 0).await.unwrap();
    let grown = rss().saturating_sub(before);
    let accounted = verifier.cached_bytes();
    println!(
        "{n} keys stored, budget {mib} MiB: {loaded} loaded, {} cached, {} shared grants",
        verifier.cached(),
        verifier.shared_grants()
    );
    println!("accounted: {accounted} bytes ({} per key)", accounted / loaded.max(1));
    println!("resident growth during the warm-up: {grown} bytes ({} per key)", grown / loaded.max(1));
    let before = rss();
    for id in &ids {
        verifier.count(
            latchkey_core::KeyHash::of(id.as_str()),
            id.as_str(),
            latchkey_core::KeyState::Valid,
            now,
            false,
        );
    }
    let grown = rss().saturating_sub(before);
    println!(
        "pending usage of {} keys: resident growth {grown} bytes ({} per key; the target assumes {})",
        verifier.pending_usage(),
        grown / n.max(1) as u64,
        latchkey_verify::PENDING_KEY_BYTES
    );
}
