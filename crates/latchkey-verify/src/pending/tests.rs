use std::collections::BTreeMap;
use std::sync::Arc;

use latchkey_core::id::{IdKind, new_id};

use super::*;

/// A day in milliseconds.
const DAY_MS: Millis = 86_400_000;

/// `n` key ids as latchkey mints them, in minting (and so id) order.
fn key_ids(n: usize) -> Vec<String> {
    (0..n).map(|_| new_id(IdKind::Key)).collect()
}

/// The ids of what was taken, in order.
fn ids(taken: &[(Tag, KeyPending)]) -> Vec<&str> {
    taken.iter().map(|(_, p)| p.id.as_str()).collect()
}

/// Counts a verification of the key `id` (hashed from its id).
fn count(pending: &Pending, id: &str, code: KeyState, now: Millis) {
    pending.count(KeyHash::of(id), id, code, now, false);
}

/// Everything pending, taken in chunks of `chunk` until nothing is
/// left: by id, the last use and the counts by day (days with no count
/// left out).
fn drain(pending: &Pending, chunk: usize) -> BTreeMap<String, (Option<Millis>, BTreeMap<i64, Counts>)> {
    let mut all = BTreeMap::new();
    loop {
        let taken = pending.take(chunk);
        if taken.is_empty() {
            return all;
        }
        for (tag, p) in taken {
            assert_eq!(tag, Tag::of(&KeyHash::of(p.id.as_str())));
            let days = p.days().filter(|(_, c)| c.iter().any(|&n| n > 0)).map(|(d, c)| (d, *c)).collect();
            assert!(all.insert(p.id.to_string(), (p.last_used, days)).is_none(), "{} taken twice", p.id);
        }
    }
}

/// Counts with one outcome.
fn one(code: KeyState, n: u32) -> Counts {
    let mut c = [0; KeyState::ALL.len()];
    c[code.index()] = n;
    c
}

/// Flushes sweep pending keys in id order from where the last one
/// stopped, across shards, wrapping around; a key counted again after
/// its turn waits for the next sweep, so every key is written once per
/// sweep.
#[test]
fn flushes_sweep_keys_in_id_order() {
    let k = key_ids(5);
    let pending = Pending::default();
    for i in [4, 0, 3, 1, 2] {
        count(&pending, &k[i], KeyState::Valid, 0);
    }
    // The five keys sit in different shards: the order is global.
    let shards: std::collections::HashSet<_> = k.iter().map(|id| KeyHash::of(id).as_bytes()[0]).collect();
    assert!(shards.len() > 1);
    assert_eq!(ids(&pending.take(2)), [&k[0], &k[1]]);
    // k[0] is counted again: it is behind the sweep now.
    count(&pending, &k[0], KeyState::Valid, 0);
    assert_eq!(ids(&pending.take(2)), [&k[2], &k[3]]);
    assert_eq!(ids(&pending.take(5)), [&k[4], &k[0]]);
    assert!(pending.take(5).is_empty());
    assert_eq!(pending.len(), 0);
}

/// Several threads counting the same keys at once: every count is
/// there, exactly, and the last use is the latest.
#[test]
fn concurrent_counts_sum_exactly() {
    const THREADS: u32 = 4;
    const KEYS: usize = 2_000;
    const ROUNDS: u32 = 3;
    let keys = Arc::new(key_ids(KEYS));
    let pending = Arc::new(Pending::default());
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (pending, keys) = (Arc::clone(&pending), Arc::clone(&keys));
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    for (k, id) in keys.iter().enumerate() {
                        let code = if k % 3 == 0 { KeyState::Revoked } else { KeyState::Valid };
                        let now = Millis::from(round * THREADS + t) + 1;
                        count(&pending, id, code, now);
                    }
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());

    assert_eq!(pending.len(), KEYS);
    let all = drain(&pending, 50);
    assert_eq!(all.len(), KEYS);
    for (k, (id, (last_used, days))) in all.iter().enumerate() {
        assert_eq!(id, &keys[k]);
        let code = if k % 3 == 0 { KeyState::Revoked } else { KeyState::Valid };
        assert_eq!(days, &BTreeMap::from([(0, one(code, THREADS * ROUNDS))]), "{id}");
        let latest = (code == KeyState::Valid).then_some(Millis::from(ROUNDS * THREADS));
        assert_eq!(*last_used, latest, "{id}");
    }
    assert_eq!(pending.len(), 0);
}

/// Taking everything leaves nothing pending and hands over every
/// key's counts, of every day, and what was put back after a failed
/// write with them.
#[test]
fn a_drain_empties_and_keeps_every_count() {
    let keys = key_ids(1_000);
    let pending = Pending::default();
    for id in &keys {
        count(&pending, id, KeyState::Valid, 5);
        count(&pending, id, KeyState::NotFound, DAY_MS + 7);
    }
    // A chunk taken, not written, put back; counted again meanwhile.
    let failed = pending.take(50);
    assert_eq!(failed.len(), 50);
    count(&pending, &keys[0], KeyState::Valid, DAY_MS + 9);
    pending.put_back(failed);

    let all = drain(&pending, 64);
    assert_eq!(pending.len(), 0);
    assert_eq!(all.len(), 1_000);
    for (k, (id, (last_used, days))) in all.iter().enumerate() {
        assert_eq!(id, &keys[k]);
        let mut today = one(KeyState::NotFound, 1);
        if k == 0 {
            today[KeyState::Valid.index()] = 1;
        }
        assert_eq!(days, &BTreeMap::from([(0, one(KeyState::Valid, 1)), (1, today)]), "{id}");
        assert_eq!(*last_used, Some(if k == 0 { DAY_MS + 9 } else { 5 }), "{id}");
    }
    // Everything at once gives the same.
    for id in &keys {
        count(&pending, id, KeyState::Valid, 5);
    }
    let all = pending.take_all();
    assert_eq!(all.len(), 1_000);
    assert_eq!(pending.len(), 0);
    assert!(all.iter().all(|(tag, p)| *tag == Tag::of(&KeyHash::of(p.id.as_str())) && p.last_used == Some(5)));
}

/// Ids as latchkey mints them pack into 128 bits and back exactly, in
/// the same order as their text; anything else does not pack.
#[test]
fn minted_ids_pack_exactly_and_keep_their_order() {
    let mut minted = key_ids(2_000);
    minted.push(format!("key_{}", "0".repeat(26)));
    minted.push(format!("key_7{}", "z".repeat(25)));
    for id in &minted {
        let packed = pack(id).unwrap_or_else(|| panic!("{id} does not pack"));
        assert_eq!(unpack(packed).as_str(), id);
    }
    let mut by_text = minted.clone();
    by_text.sort();
    let mut by_packed = minted.clone();
    by_packed.sort_by_key(|id| pack(id).unwrap());
    assert_eq!(by_text, by_packed);
    let id = &minted[0];
    for odd in [
        id.to_uppercase(),
        id.replacen("key_", "evt_", 1),
        id[..id.len() - 1].to_owned(),
        format!("{id}0"),
        format!("key_8{}", &id[5..]),
        format!("{}i", &id[..id.len() - 1]),
        format!("{}u", &id[..id.len() - 1]),
        "k1".to_owned(),
        String::new(),
    ] {
        assert_eq!(pack(&odd), None, "{odd}");
    }
}

/// Keys whose id does not pack, and a key whose slot another key's hash
/// holds, wait in the general form: their counts are as exact as the
/// others', each key is taken once, also after its slot is freed, and
/// they are taken before the sweep's keys.
#[test]
fn ids_that_do_not_pack_and_slot_collisions_count_exactly() {
    let pending = Pending::default();
    let minted = key_ids(3);
    count(&pending, "imported-key-1", KeyState::Valid, 10);
    count(&pending, "imported-key-1", KeyState::Revoked, 11);
    // Two keys that share a shard and a slot, not the check word.
    let a = KeyHash::of(&minted[0]);
    let mut bytes = *a.as_bytes();
    bytes[16] ^= 1;
    let b = KeyHash::from_bytes(&bytes).unwrap();
    pending.count(a, &minted[0], KeyState::Valid, 20, false);
    pending.count(b, &minted[1], KeyState::Valid, 21, true);
    pending.count(b, &minted[1], KeyState::Valid, 22, false);
    assert_eq!(pending.len(), 3);
    // The general form first: the unpackable id and the collision.
    let mut first = ids(&pending.take(2)).into_iter().map(str::to_owned).collect::<Vec<_>>();
    first.sort();
    let mut want = vec!["imported-key-1".to_owned(), minted[1].clone()];
    want.sort();
    assert_eq!(first, want);
    // `b` counted again (its slot still `a`'s: the general form again);
    // both taken by their hashes.
    pending.count(b, &minted[1], KeyState::Valid, 23, false);
    let taken = pending.take_keys(&[a, b]);
    assert_eq!(taken.len(), 2);
    let precise: Vec<bool> = taken.iter().map(|(_, p)| p.precise).collect();
    assert_eq!(precise, [false, false]);
    assert_eq!(pending.len(), 0);
    // `b` counted again, now in the free slot; both put back: `a` waits
    // in the general form, `b` adds to its entry; each is taken once.
    pending.count(b, &minted[1], KeyState::Valid, 24, false);
    pending.put_back(taken);
    assert_eq!(pending.len(), 2);
    let all: BTreeMap<_, _> = std::iter::from_fn(|| Some(pending.take(1)))
        .take_while(|t| !t.is_empty())
        .flatten()
        .map(|(_, p)| (p.id.to_string(), (p.last_used, p.days().map(|(d, c)| (d, *c)).collect::<Vec<_>>())))
        .collect();
    assert_eq!(all[&minted[0]], (Some(20), vec![(0, one(KeyState::Valid, 1))]));
    assert_eq!(all[&minted[1]], (Some(24), vec![(0, one(KeyState::Valid, 2))]));
}

/// A compact entry is the 56 bytes the memory budget assumes (with the
/// map's slot key, 64).
#[test]
fn a_compact_entry_takes_56_bytes() {
    assert_eq!(size_of::<Entry>(), 56);
}
