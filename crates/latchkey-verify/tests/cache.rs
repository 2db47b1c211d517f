//! The verifier's cache against a real SQLite store: warming at start-up,
//! invalidation, and background re-reads that bound staleness for changes
//! made by another process.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_core::Role;
use latchkey_core::id::{InvitationId, KeyId, OrgId, UserId};
use latchkey_core::time_fmt::{Millis, now_ms};
use latchkey_core::time_fmt::{day_string, epoch_day};
use latchkey_core::{DisplayPrefix, Environment, KeyHash, KeyPrefix, KeyState, PlainKey};
use latchkey_store::sqlite::SqliteStore;
use latchkey_store::{Invalidation, Invitation, KeyStore, NewApiKey, NewOrg, NewUser, OrgStore, PeopleStore, Store};
use latchkey_verify::{Checks, KeyVerifier, VerifierConfig};

struct Fixture {
    store: Arc<SqliteStore>,
    org_id: OrgId,
    user_id: UserId,
    _dir: tempfile::TempDir,
}

fn new_key(plain: &PlainKey, f: &Fixture, expires_at: Option<Millis>) -> NewApiKey {
    NewApiKey { expires_at, ..NewApiKey::admin(plain, &f.org_id, &f.user_id, "k", now_ms()) }
}

async fn fixture() -> (Fixture, PlainKey) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let now = now_ms();
    let (org, user) = (new_org("acme", now), new_user("a@example.com", now));
    let f = Fixture { store, org_id: org.id.clone(), user_id: user.id.clone(), _dir: dir };
    let admin = PlainKey::generate(&prefix());
    f.store.bootstrap(&org, &user, &new_key(&admin, &f, None), &[]).await.unwrap();
    (f, admin)
}

/// `n` new keys of the fixture's admin, stored: their plaintexts and rows.
async fn stored_keys(f: &Fixture, n: usize) -> (Vec<PlainKey>, Vec<NewApiKey>) {
    let plains: Vec<PlainKey> = (0..n).map(|_| PlainKey::generate(&prefix())).collect();
    let keys: Vec<NewApiKey> = plains.iter().map(|p| new_key(p, f, None)).collect();
    for k in &keys {
        f.store.insert_key(k, &ev()).await.unwrap();
    }
    (plains, keys)
}

/// An organization named and slugged `slug`.
fn new_org(slug: &str, now: Millis) -> NewOrg {
    NewOrg {
        id: OrgId::new(),
        name: slug.to_owned(),
        slug: slug.to_owned(),
        members_see_all_keys: false,
        leak_action: latchkey_store::LeakAction::default(),
        created_at: now,
    }
}

/// A user with `email`, shown as it.
fn new_user(email: &str, now: Millis) -> NewUser {
    NewUser { id: UserId::new(), email: email.to_owned(), display_name: email.to_owned(), created_at: now }
}

fn prefix() -> KeyPrefix {
    KeyPrefix::branded("lk", Environment::Live).unwrap()
}

/// The warm-up loads the keys used in the last hour that are still usable,
/// and stops short of the budget; never-used keys, keys last used earlier,
/// expired and revoked ones load on first use.
#[tokio::test]
async fn warm_loads_recently_used_usable_keys_only() {
    let (f, _admin) = fixture().await;
    let now = now_ms();
    let (_, recent) = stored_keys(&f, 2_500).await;
    let (_, earlier) = stored_keys(&f, 10).await;
    let (never_plain, _) = stored_keys(&f, 10).await;
    let expired = new_key(&PlainKey::generate(&prefix()), &f, Some(now - 1_000));
    f.store.insert_key(&expired, &ev()).await.unwrap();
    let revoked = new_key(&PlainKey::generate(&prefix()), &f, None);
    f.store.insert_key(&revoked, &ev()).await.unwrap();
    f.store.revoke_key(&f.org_id, &revoked.id, now, &ev()).await.unwrap();
    let mut uses: Vec<(KeyId, Millis)> = recent.iter().zip(0..).map(|(k, i)| (k.id.clone(), now - 1_000 * i)).collect();
    uses.extend(earlier.iter().map(|k| (k.id.clone(), now - 2 * 3_600_000)));
    uses.extend([(expired.id.clone(), now - 60_000), (revoked.id.clone(), now - 60_000)]);
    f.store.record_last_used(&uses).await.unwrap();

    let store: Arc<dyn Store> = f.store.clone();
    let verifier = KeyVerifier::new(store, &VerifierConfig::default());
    // Over three pages; not the earlier, never-used, expired or revoked ones.
    assert_eq!(verifier.warm(now, 0).await.unwrap(), 2_500);
    assert_eq!(verifier.cached(), 2_500);
    // A never-used key loads on first use.
    assert_eq!(verifier.verify(never_plain[0].expose(), now_ms()).await.unwrap().code, KeyState::Valid);
    assert_eq!(verifier.cached(), 2_501);

    let small = KeyVerifier::new(f.store.clone(), &VerifierConfig { cache_bytes: 128 << 10, ..Default::default() });
    let loaded = small.warm(now, 0).await.unwrap();
    assert!(loaded > 100 && loaded < 2_500, "warming stops at the budget: {loaded} loaded");
    assert!(small.cached_bytes() <= small.cache_budget());
}

#[tokio::test]
async fn invalidation_takes_effect_on_the_next_verify() {
    let (f, admin) = fixture().await;
    let plain = PlainKey::generate(&prefix());
    let key = new_key(&plain, &f, None);
    f.store.insert_key(&key, &ev()).await.unwrap();
    let verifier = KeyVerifier::new(f.store.clone(), &VerifierConfig::default());
    verifier.warm(now_ms(), 0).await.unwrap();
    assert_eq!(verifier.verify(plain.expose(), now_ms()).await.unwrap().code, KeyState::Valid);

    f.store.revoke_key(&f.org_id, &key.id, now_ms(), &ev()).await.unwrap();
    verifier.invalidate(&plain.hash());
    assert_eq!(verifier.verify(plain.expose(), now_ms()).await.unwrap().code, KeyState::Revoked);
    // Other keys are untouched.
    assert_eq!(verifier.verify(admin.expose(), now_ms()).await.unwrap().code, KeyState::Valid);
}

/// Changes made elsewhere (no invalidation here) show through the change log
/// within a poll or two, long before the TTL: a revoke, a delete, a new key
/// whose hash was cached as unknown, and the owner leaving the organization.
/// What verification writes itself (usage, `lastUsedAt`, credits) is not
/// logged, so busy keys are not evicted by their own use.
#[tokio::test]
async fn changes_made_elsewhere_show_through_the_change_log() {
    let (f, _admin) = fixture().await;
    let (plains, keys) = stored_keys(&f, 2).await;
    // A second organization, which the fixture's user joins as a member
    // and holds a key in.
    let (org2, admin2) = (new_org("other", now_ms()), new_user("b@example.com", now_ms()));
    let admin2_key = NewApiKey::admin(&PlainKey::generate(&prefix()), &org2.id, &admin2.id, "k", now_ms());
    f.store.create_org_with_admin(&org2, &admin2, &admin2_key, &[]).await.unwrap();
    let token = PlainKey::generate(&prefix());
    let invitation = Invitation {
        id: InvitationId::new(),
        org_id: org2.id.clone(),
        email: "a@example.com".to_owned(),
        role: Role::Member,
        token_hash: token.hash(),
        invited_by: Some(admin2.id.clone()),
        created_at: now_ms(),
        expires_at: now_ms() + 60_000,
        accepted_at: None,
        revoked_at: None,
    };
    f.store.insert_invitation(&invitation, &ev()).await.unwrap();
    let me = f.store.get_user(&f.user_id).await.unwrap().unwrap();
    f.store.accept_invitation(&token.hash(), &me, now_ms(), &|_| ev()).await.unwrap().unwrap();
    let owned = PlainKey::generate(&prefix());
    f.store.insert_key(&NewApiKey::admin(&owned, &org2.id, &f.user_id, "k", now_ms()), &ev()).await.unwrap();
    let later = PlainKey::generate(&prefix());

    // A TTL far beyond the test: only the change log can bring news.
    let config = VerifierConfig { cache_ttl: Duration::from_secs(3600), ..Default::default() };
    let verifier = Arc::new(KeyVerifier::new(f.store.clone(), &config));
    let cursor = verifier.change_cursor().await;
    assert!(cursor.is_some());
    let all = [&plains[0], &plains[1], &owned, &later];
    let codes = |v: Arc<KeyVerifier>| async move {
        let mut out = Vec::new();
        for p in all {
            out.push(v.verify(p.expose(), now_ms()).await.unwrap().code);
        }
        out
    };
    assert_eq!(codes(verifier.clone()).await, [KeyState::Valid, KeyState::Valid, KeyState::Valid, KeyState::NotFound]);
    let follower = tokio::spawn(verifier.clone().follow_changes(cursor, Duration::from_millis(50)));

    // Verification's own writes are not changes.
    verifier.check(plains[0].expose(), &Checks::default(), now_ms()).await.unwrap();
    verifier.flush().await.unwrap();
    let quiet = f.store.key_changes(f.store.key_changes_cursor().await.unwrap()).await.unwrap();
    assert_eq!(quiet.0, Invalidation::Keys(Vec::new()));

    // "Another process" changes things; this verifier is not told.
    f.store.revoke_key(&f.org_id, &keys[0].id, now_ms(), &ev()).await.unwrap();
    f.store.delete_key(&f.org_id, &keys[1].id, &ev()).await.unwrap();
    assert!(f.store.remove_member(&org2.id, &f.user_id, &ev()).await.unwrap());
    f.store.insert_key(&new_key(&later, &f, None), &ev()).await.unwrap();

    let started = Instant::now();
    let want = [KeyState::Revoked, KeyState::NotFound, KeyState::Disabled, KeyState::Valid];
    let mut seen = codes(verifier.clone()).await;
    while seen != want && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = codes(verifier.clone()).await;
    }
    assert_eq!(seen, want);
    follower.abort();
}

/// A change made by another process (no invalidation here) shows after at
/// most the TTL; a key in use is re-read in the background after half to
/// nine tenths of it, so it shows sooner and no request waits for storage.
#[tokio::test]
async fn busy_keys_are_re_read_in_the_background() {
    let (f, _admin) = fixture().await;
    let plain = PlainKey::generate(&prefix());
    let key = new_key(&plain, &f, None);
    f.store.insert_key(&key, &ev()).await.unwrap();
    let ttl = Duration::from_secs(4);
    let verifier = KeyVerifier::new(f.store.clone(), &VerifierConfig { cache_ttl: ttl, ..Default::default() });
    let loaded = Instant::now();
    assert_eq!(verifier.verify(plain.expose(), now_ms()).await.unwrap().code, KeyState::Valid);

    // "Another node" revokes the key: this verifier is not told.
    f.store.revoke_key(&f.org_id, &key.id, now_ms(), &ev()).await.unwrap();
    assert_eq!(verifier.verify(plain.expose(), now_ms()).await.unwrap().code, KeyState::Valid, "cached");

    tokio::time::sleep(ttl / 2 + Duration::from_millis(100)).await;
    // Past half the TTL: answered from the cache; a re-read starts by 0.9 TTL.
    assert_eq!(verifier.verify(plain.expose(), now_ms()).await.unwrap().code, KeyState::Valid);
    let mut code = KeyState::Valid;
    while code == KeyState::Valid && loaded.elapsed() < ttl {
        tokio::time::sleep(Duration::from_millis(20)).await;
        code = verifier.verify(plain.expose(), now_ms()).await.unwrap().code;
    }
    assert_eq!(code, KeyState::Revoked);
    assert!(loaded.elapsed() < ttl, "the background re-read replaced the entry before it expired");
}

/// Keys due for a re-read are read together: a revoke and a delete made
/// by another process both show, the deleted key as unknown, and a key
/// nobody changed stays valid.
#[tokio::test]
async fn due_keys_are_re_read_together() {
    let (f, _admin) = fixture().await;
    let (plains, keys) = stored_keys(&f, 3).await;
    let ttl = Duration::from_secs(4);
    let verifier = KeyVerifier::new(f.store.clone(), &VerifierConfig { cache_ttl: ttl, ..Default::default() });
    let loaded = Instant::now();
    for p in &plains {
        assert_eq!(verifier.verify(p.expose(), now_ms()).await.unwrap().code, KeyState::Valid);
    }
    // "Another node" revokes one key and deletes another: this verifier is not told.
    f.store.revoke_key(&f.org_id, &keys[0].id, now_ms(), &ev()).await.unwrap();
    f.store.delete_key(&f.org_id, &keys[1].id, &ev()).await.unwrap();

    let mut seen = codes_of(&verifier, &plains).await;
    assert_eq!(seen, [KeyState::Valid, KeyState::Valid, KeyState::Valid], "cached");
    while seen != [KeyState::Revoked, KeyState::NotFound, KeyState::Valid] && loaded.elapsed() < ttl {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = codes_of(&verifier, &plains).await;
    }
    assert_eq!(seen, [KeyState::Revoked, KeyState::NotFound, KeyState::Valid]);
    assert!(loaded.elapsed() < ttl, "the re-read replaced the entries before they expired");
}

/// The verdicts of three keys, in order.
async fn codes_of(verifier: &KeyVerifier, plains: &[PlainKey]) -> [KeyState; 3] {
    let mut out = [KeyState::Valid; 3];
    for (slot, p) in out.iter_mut().zip(plains) {
        *slot = verifier.verify(p.expose(), now_ms()).await.unwrap().code;
    }
    out
}

/// Usage of more keys than one flush statement takes is written chunk by
/// chunk, every count exactly once, with days kept apart.
#[tokio::test]
async fn usage_of_many_keys_is_written_exactly_in_chunks() {
    let (f, _admin) = fixture().await;
    let chunk = f.store.usage_batching().chunk;
    let n = chunk * 2 + 17;
    let mut keys = Vec::new();
    for _ in 0..n {
        let plain = PlainKey::generate(&prefix());
        let key = new_key(&plain, &f, None);
        f.store.insert_key(&key, &ev()).await.unwrap();
        keys.push((plain, key.id));
    }
    let verifier = KeyVerifier::new(f.store.clone(), &VerifierConfig::default());
    let now = now_ms();
    let yesterday = now - 86_400_000;
    for (i, (plain, _)) in keys.iter().enumerate() {
        for _ in 0..=i % 3 {
            assert_eq!(verifier.check(plain.expose(), &Checks::default(), now).await.unwrap().code, KeyState::Valid);
        }
        if i % 2 == 0 {
            assert_eq!(
                verifier.check(plain.expose(), &Checks::default(), yesterday).await.unwrap().code,
                KeyState::Valid
            );
        }
    }
    assert_eq!(verifier.flush().await.unwrap(), n);
    assert_eq!(verifier.flush().await.unwrap(), 0, "nothing is written twice");

    let today = day_string(epoch_day(now));
    let before = day_string(epoch_day(yesterday));
    for (i, (_, id)) in keys.iter().enumerate() {
        let mut got: Vec<(String, String, i64)> = f
            .store
            .key_usage(&f.org_id, id, "2000-01-01")
            .await
            .unwrap()
            .into_iter()
            .map(|u| (u.day, u.outcome, u.count))
            .collect();
        got.sort();
        let mut want = vec![(today.clone(), "VALID".to_owned(), i64::try_from(i % 3 + 1).unwrap())];
        if i % 2 == 0 {
            want.insert(0, (before.clone(), "VALID".to_owned(), 1));
        }
        assert_eq!(got, want, "key {i}");
    }
}

/// A flush with a budget writes the first keys in id order, and the next
/// one goes on where it stopped: with more keys in use than one flush
/// writes, every key still gets its turn.
#[tokio::test]
async fn budgeted_flushes_sweep_keys_in_id_order() {
    let (f, _admin) = fixture().await;
    let verifier = KeyVerifier::new(f.store.clone(), &VerifierConfig::default());
    let mut ids = Vec::new();
    for _ in 0..5 {
        let plain = PlainKey::generate(&prefix());
        let key = new_key(&plain, &f, None);
        f.store.insert_key(&key, &ev()).await.unwrap();
        verifier.check(plain.expose(), &Checks::default(), now_ms()).await.unwrap();
        ids.push(key.id);
    }
    let written = |id: &KeyId| {
        let (store, org, id) = (f.store.clone(), f.org_id.clone(), id.clone());
        async move { !store.key_usage(&org, &id, "2000-01-01").await.unwrap().is_empty() }
    };
    assert_eq!(verifier.flush_next(2, Duration::ZERO).await.unwrap(), 2);
    let mut seen = Vec::new();
    for id in &ids {
        seen.push(written(id).await);
    }
    assert_eq!(seen, [true, true, false, false, false]);
    assert_eq!(verifier.flush_next(2, Duration::from_millis(1)).await.unwrap(), 2);
    assert!(written(&ids[3]).await && !written(&ids[4]).await);
    assert_eq!(verifier.flush().await.unwrap(), 1);
    assert!(written(&ids[4]).await);
}

/// A key in a rotation's grace period has its `lastUsedAt` written by
/// every flush that has a newer one (others once a minute), and
/// `flush_keys` writes the usage of the keys it names at once, leaving the
/// rest pending: what the rotation sweeper decides on.
#[tokio::test]
async fn keys_in_grace_have_precise_last_uses_and_are_flushed_on_demand() {
    let (f, _admin) = fixture().await;
    let verifier = KeyVerifier::new(f.store.clone(), &VerifierConfig::default());
    let (plains, keys) = stored_keys(&f, 3).await;
    let t0 = now_ms();
    // keys[1] is rotated with a grace period; keys[0] and keys[2] are not.
    let successor = new_key(&PlainKey::generate(&prefix()), &f, None);
    let successor = NewApiKey { rotated_from: Some(keys[1].id.clone()), ..successor };
    let grace = latchkey_store::GraceEnd::At(t0 + 3_600_000);
    f.store.rotate_key(&f.org_id, &keys[1].id, &successor, grace, &ev()).await.unwrap().unwrap();
    let last_used = |id: &KeyId| {
        let (store, org, id) = (f.store.clone(), f.org_id.clone(), id.clone());
        async move { store.get_key(&org, &id).await.unwrap().unwrap().last_used_at }
    };
    for plain in &plains[..2] {
        assert_eq!(verifier.check(plain.expose(), &Checks::default(), t0).await.unwrap().code, KeyState::Valid);
    }
    assert_eq!(verifier.flush().await.unwrap(), 2);
    for plain in &plains {
        let at = t0 + 1_000;
        assert_eq!(verifier.check(plain.expose(), &Checks::default(), at).await.unwrap().code, KeyState::Valid);
    }
    let hashes = [keys[0].hash, keys[1].hash, KeyHash::of("no such key")];
    assert_eq!(verifier.flush_keys(&hashes).await.unwrap(), 2, "the two keys named that have usage");
    assert_eq!(last_used(&keys[0].id).await, Some(t0), "written once a minute");
    assert_eq!(last_used(&keys[1].id).await, Some(t0 + 1_000), "written as soon as it is newer");
    assert_eq!((last_used(&keys[2].id).await, verifier.pending_usage()), (None, 1), "the others wait their turn");
    assert_eq!(verifier.flush_keys(&hashes).await.unwrap(), 0, "nothing is written twice");
    assert_eq!(verifier.flush().await.unwrap(), 1);
    assert_eq!(last_used(&keys[2].id).await, Some(t0 + 1_000));
    let counts = f.store.key_usage(&f.org_id, &keys[1].id, "2000-01-01").await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<i64>(), 2, "every count written once");
}

/// Every key's counts as stored: by key, (day, outcome, count) sorted.
async fn stored_usage(f: &Fixture, ids: &[KeyId]) -> Vec<Vec<(String, String, i64)>> {
    let mut all = Vec::new();
    for id in ids {
        let mut got: Vec<_> = f
            .store
            .key_usage(&f.org_id, id, "2000-01-01")
            .await
            .unwrap()
            .into_iter()
            .map(|u| (u.day, u.outcome, u.count))
            .collect();
        got.sort();
        all.push(got);
    }
    all
}

/// The spill files in `dir`.
fn spills(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("usage-spill-"))
        .collect();
    files.sort();
    files
}

/// A shutdown with no time left spills what is pending; the next start
/// writes the spill chunk by chunk, and a replay cut short and repeated
/// (twice, at different points) leaves every count exact: nothing lost,
/// nothing counted twice. The spill is removed once written.
#[tokio::test]
async fn usage_spilled_at_shutdown_is_written_exactly_once_at_the_next_start() {
    let (f, _admin) = fixture().await;
    let chunk = f.store.usage_batching().chunk;
    let n = chunk * 2 + 100;
    let (plains, keys) = stored_keys(&f, n).await;
    let ids: Vec<KeyId> = keys.iter().map(|k| k.id.clone()).collect();
    let verifier = Arc::new(KeyVerifier::new(f.store.clone(), &VerifierConfig::default()));
    let now = now_ms();
    let yesterday = now - 86_400_000;
    for (i, plain) in plains.iter().enumerate() {
        for _ in 0..=i % 3 {
            assert_eq!(verifier.check(plain.expose(), &Checks::default(), now).await.unwrap().code, KeyState::Valid);
        }
        if i % 2 == 0 {
            verifier.check(plain.expose(), &Checks::default(), yesterday).await.unwrap();
        }
    }
    let spill_dir = tempfile::tempdir().unwrap();
    // A flusher that would not flush for an hour, and a zero deadline.
    let flusher = verifier.spawn_flusher(Duration::from_secs(3600), None);
    let done = verifier.flush_at_shutdown(flusher, Duration::ZERO, Some(spill_dir.path())).await.unwrap();
    assert!(done.spilled > 0, "{done:?}");
    assert_eq!(done.flushed, 0);
    assert_eq!(verifier.pending_usage(), 0);
    assert_eq!(spills(spill_dir.path()), [done.spill.clone().unwrap()]);

    let (today, before) = (day_string(epoch_day(now)), day_string(epoch_day(yesterday)));
    let want: Vec<Vec<(String, String, i64)>> = (0..n)
        .map(|i| {
            let mut w = vec![(today.clone(), "VALID".to_owned(), i64::try_from(i % 3 + 1).unwrap())];
            if i % 2 == 0 {
                w.insert(0, (before.clone(), "VALID".to_owned(), 1));
            }
            w
        })
        .collect();

    // The next start: stopped after one chunk, then after two, then to the end.
    let next = KeyVerifier::new(f.store.clone(), &VerifierConfig::default());
    for allowed in [1, 2] {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let go_on = || calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < allowed;
        next.replay_spills(spill_dir.path(), Duration::ZERO, go_on).await.unwrap();
        assert_eq!(spills(spill_dir.path()).len(), 1, "a replay cut short keeps the spill");
    }
    let written = next.replay_spills(spill_dir.path(), Duration::ZERO, || true).await.unwrap();
    assert_eq!(written, n - chunk * 2, "the chunks written before are skipped");
    assert!(spills(spill_dir.path()).is_empty());
    assert_eq!(stored_usage(&f, &ids).await, want);
    for id in &ids {
        let key = f.store.get_key(&f.org_id, id).await.unwrap().unwrap();
        assert_eq!(key.last_used_at, Some(now), "{id}");
    }
    // Nothing left to replay: nothing changes.
    assert_eq!(next.replay_spills(spill_dir.path(), Duration::ZERO, || true).await.unwrap(), 0);
    assert_eq!(stored_usage(&f, &ids).await, want);
}

/// When the writes fall behind (over twice the pending target), the
/// flusher spills the excess to the data directory, but not the usage of
/// keys in a rotation's grace period (a sweeper waits for their last use),
/// and writes the spill to storage once the backlog is small again: every
/// count arrives exactly once, and the spill is removed.
#[tokio::test]
async fn a_backlog_past_twice_the_target_is_spilled_then_written_exactly_once() {
    let (f, _admin) = fixture().await;
    let (plains, keys) = stored_keys(&f, 60).await;
    let config = VerifierConfig { pending_keys: Some(10), ..VerifierConfig::default() };
    let verifier = Arc::new(KeyVerifier::new(f.store.clone(), &config));
    let now = now_ms();
    for (i, (plain, key)) in plains.iter().zip(&keys).enumerate() {
        // The first five are in a grace period (precise).
        for _ in 0..=i % 2 {
            verifier.count(KeyHash::of(plain.expose()), key.id.as_str(), KeyState::Valid, now, i < 5);
        }
    }
    assert_eq!(verifier.pending_usage(), 60);
    let spill_dir = tempfile::tempdir().unwrap();
    // The flusher spills before its first flush (an interval from now).
    let flusher = verifier.spawn_flusher(Duration::from_millis(1500), Some(spill_dir.path().to_owned()));
    let until = Instant::now() + Duration::from_secs(1);
    while spills(spill_dir.path()).is_empty() {
        assert!(Instant::now() < until, "no spill");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // 50 taken (the first in id order), the five precise ones put back.
    assert_eq!(verifier.pending_usage(), 15);
    let ids: Vec<KeyId> = keys.iter().map(|k| k.id.clone()).collect();
    let day = day_string(epoch_day(now));
    let want: Vec<Vec<(String, String, i64)>> =
        (0..60).map(|i| vec![(day.clone(), "VALID".to_owned(), i64::from(i % 2 + 1))]).collect();
    let until = Instant::now() + Duration::from_secs(20);
    while !spills(spill_dir.path()).is_empty() || stored_usage(&f, &ids).await != want {
        assert!(Instant::now() < until, "the spill was not written: {:?}", spills(spill_dir.path()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(verifier.pending_usage(), 0);
    flusher.stop().await;
    assert_eq!(stored_usage(&f, &ids).await, want);
    for id in &ids {
        assert_eq!(f.store.get_key(&f.org_id, id).await.unwrap().unwrap().last_used_at, Some(now), "{id}");
    }
}

/// Strings of another format than latchkey's are looked up (keys imported
/// by their hash) only once some key is imported, and for a named
/// organization only if it imported some; a typo in a key of latchkey's
/// own format is refused without a lookup whatever was imported. A lookup
/// leaves an entry in the cache (a negative one when nothing is found):
/// what shows here that none was made.
#[tokio::test]
async fn strings_of_another_format_are_looked_up_only_for_organizations_that_imported_keys() {
    let (f, admin) = fixture().await;
    let issued = vec![prefix(), KeyPrefix::branded("lk", Environment::Test).unwrap()];
    let verifier = KeyVerifier::new(f.store.clone(), &VerifierConfig::default()).with_issued_prefixes(issued);
    let theirs = "prod_3ZdHXcXzvqHxY7mBUNkgXdoV";
    let text = admin.expose();
    let typo = format!("{}{}", &text[..text.len() - 1], if text.ends_with('A') { 'B' } else { 'A' });
    let acme = f.org_id.to_string();
    let acme = Some(acme.as_str());

    // Nothing imported: refused, and nothing looked up.
    for s in [theirs, typo.as_str()] {
        assert_eq!(verifier.verify(s, now_ms()).await.unwrap().code, KeyState::Malformed, "{s}");
        assert_eq!(code_for(&verifier, s, acme).await, KeyState::Malformed, "{s}");
    }
    assert_eq!(verifier.cached(), 0);

    // Acme imports a key (through another process: this verifier is told
    // by a refresh, as the change log would make it).
    let mut imported = new_key(&PlainKey::generate(&prefix()), &f, None);
    imported.hash = KeyHash::of(theirs);
    imported.key_prefix = DisplayPrefix::imported("prod_3Zd").unwrap();
    imported.key_hint = String::new();
    f.store.insert_key(&imported, &ev()).await.unwrap();
    assert_eq!(code_for(&verifier, theirs, acme).await, KeyState::Malformed, "not known here yet");
    assert!(verifier.refresh_imported().await.unwrap());
    assert_eq!(verifier.verify(theirs, now_ms()).await.unwrap().code, KeyState::Valid);
    assert_eq!(code_for(&verifier, theirs, acme).await, KeyState::Valid);
    assert_eq!(verifier.cached(), 1);
    // Another organization imported nothing: no lookup for it.
    assert_eq!(code_for(&verifier, "prod_NotAnyKeyOfAnyoneAtAll", Some("org_other")).await, KeyState::Malformed);
    assert_eq!(code_for(&verifier, theirs, Some("org_other")).await, KeyState::Malformed);
    assert_eq!(verifier.cached(), 1);
    // For Acme, an unknown string of another format is looked up (and
    // cached as unknown); a typo in latchkey's format still is not.
    assert_eq!(code_for(&verifier, "prod_NotAnyKeyOfAnyoneAtAll", acme).await, KeyState::NotFound);
    assert_eq!(verifier.cached(), 2);
    assert_eq!(code_for(&verifier, &typo, acme).await, KeyState::Malformed);
    assert_eq!(verifier.verify(&typo, now_ms()).await.unwrap().code, KeyState::Malformed);
    assert_eq!(verifier.cached(), 2);
    assert_eq!(code_for(&verifier, text, acme).await, KeyState::Valid);

    // A node that imported keys itself knows at once.
    let other = KeyVerifier::new(f.store.clone(), &VerifierConfig::default());
    other.note_imported("org_other");
    assert_eq!(other.verify("prod_NotAnyKeyOfAnyoneAtAll", now_ms()).await.unwrap().code, KeyState::NotFound);
}

/// The code of `key` checked for `org` (`None`: any organization's key).
async fn code_for(verifier: &KeyVerifier, key: &str, org: Option<&str>) -> KeyState {
    let checks = Checks { org_id: org, ..Checks::default() };
    verifier.check(key, &checks, now_ms()).await.unwrap().code
}

/// An audit event to hand to the store's mutating methods.
fn ev() -> latchkey_store::AuditEvent {
    latchkey_store::AuditEvent::operator(
        &OrgId::from("org_test"),
        "test",
        ("api_key", "key_test"),
        &serde_json::json!({}),
        0,
    )
}
