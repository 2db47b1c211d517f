//! Usage not yet written, as the request path counts it and the flusher
//! takes it: in [`SHARDS`] shards by key hash, each a small map behind its
//! own mutex, so that counting a verification locks one shard for one map
//! update and never rehashes a large table. One map of every key in use
//! doubled inside the request that crossed its load limit: 89 ms at
//! 458,752 keys, ~180 ms at 917,504. A shard holds 1/256 of them (about
//! 4,000 at a million keys in use), so its growth costs well under a
//! millisecond, and a shard's map keeps its capacity when drained, so the
//! next round of counting grows nothing.
//!
//! The flusher takes keys in id order across every shard (a sweep from
//! where the last take stopped), as when there was one map: keys made one
//! after another sit side by side in storage, so a chunk of neighbours
//! rewrites a few pages where a chunk of keys taken in any order rewrites
//! a page per key.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use latchkey_core::time_fmt::{Millis, epoch_day};
use latchkey_core::{KeyHash, KeyId, KeyState};

/// Counts of one day by outcome.
pub(crate) type Counts = [u32; KeyState::ALL.len()];

/// How many shards pending usage is split into (a power of two: a key's
/// shard is a byte of its hash).
pub(crate) const SHARDS: usize = 256;

/// Usage not yet written, sharded by key hash (hashing the inline hash of a
/// cached record touches no other memory).
#[derive(Debug)]
pub(crate) struct Pending {
    shards: Box<[Mutex<Shard>]>,
    /// The id taken last: the sweep goes on after it. Held for a whole
    /// take, so that two takes never pick the same keys.
    cursor: Mutex<Option<KeyId>>,
}

/// One shard: its keys' usage by hash, and the same keys by id (for the
/// sweep in id order).
#[derive(Debug, Default)]
struct Shard {
    map: HashMap<KeyHash, KeyPending>,
    by_id: BTreeMap<KeyId, KeyHash>,
}

impl Default for Pending {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), cursor: Mutex::new(None) }
    }
}

/// `mutex` locked, also after a panic elsewhere (counts stay consistent:
/// every update is one map operation).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pending {
    /// The shard of `hash`.
    #[inline]
    fn shard(&self, hash: &KeyHash) -> &Mutex<Shard> {
        &self.shards[usize::from(hash.as_bytes()[0]) % SHARDS]
    }

    /// How many keys have usage pending.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    /// Counts one verification of the key `id` (hash `hash`) with outcome
    /// `code` at `now`: its day's count, and its last use if valid. A
    /// `precise` last use (a key in a rotation's grace period, whose last
    /// use may decide when it is revoked) is written whenever it changes,
    /// not once a minute (`usage.rs`).
    #[inline]
    pub(crate) fn count(&self, hash: KeyHash, id: &str, code: KeyState, now: Millis, precise: bool) {
        let day = epoch_day(now);
        let mut one = [0; KeyState::ALL.len()];
        one[code.index()] = 1;
        self.update(
            hash,
            || KeyPending::new(&KeyId::from(id), day),
            |entry| {
                if code == KeyState::Valid {
                    entry.last_used = Some(entry.last_used.map_or(now, |t| t.max(now)));
                    entry.precise |= precise;
                }
                entry.add(day, &one);
            },
        );
    }

    /// Returns usage taken but not written to where it is counted: added
    /// to whatever was counted for the same keys meanwhile.
    pub(crate) fn put_back(&self, taken: Vec<(KeyHash, KeyPending)>) {
        for (hash, p) in taken {
            self.update(
                hash,
                || KeyPending::new(&p.id, p.day),
                |mine| {
                    mine.last_used = mine.last_used.max(p.last_used);
                    mine.precise |= p.precise;
                    for (day, c) in p.days() {
                        mine.add(day, c);
                    }
                },
            );
        }
    }

    /// Applies `change` to the entry of `hash` in its shard, created (and
    /// queued by id) with `make` if absent.
    #[inline]
    fn update(&self, hash: KeyHash, make: impl FnOnce() -> KeyPending, change: impl FnOnce(&mut KeyPending)) {
        let mut shard = lock(self.shard(&hash));
        let Shard { map, by_id } = &mut *shard;
        let entry = map.entry(hash).or_insert_with(|| {
            let p = make();
            by_id.insert(p.id.clone(), hash);
            p
        });
        change(entry);
    }

    /// Takes up to `n` keys' usage, the next ones in id order after the
    /// last taken (starting again from the first id at the end).
    pub(crate) fn take(&self, n: usize) -> Vec<(KeyHash, KeyPending)> {
        let mut cursor = lock(&self.cursor);
        let mut picked = match cursor.as_deref() {
            Some(after) => {
                let mut picked = self.first_ids(Bound::Excluded(after), Bound::Unbounded, n);
                // Past the last id: on from the first, up to the cursor.
                if picked.len() < n {
                    picked.extend(self.first_ids(Bound::Unbounded, Bound::Included(after), n - picked.len()));
                }
                picked
            }
            None => self.first_ids(Bound::Unbounded, Bound::Unbounded, n),
        };
        let Some((last, _)) = picked.last() else { return Vec::new() };
        *cursor = Some(last.clone());
        drop(cursor);
        picked
            .drain(..)
            .filter_map(|(id, hash)| {
                let mut shard = lock(self.shard(&hash));
                shard.by_id.remove(&id);
                shard.map.remove(&hash).map(|p| (hash, p))
            })
            .collect()
    }

    /// Takes the usage of the keys `hashes` that have some pending.
    pub(crate) fn take_keys(&self, hashes: &[KeyHash]) -> Vec<(KeyHash, KeyPending)> {
        hashes
            .iter()
            .filter_map(|hash| {
                let mut shard = lock(self.shard(hash));
                let p = shard.map.remove(hash)?;
                shard.by_id.remove(&p.id);
                Some((*hash, p))
            })
            .collect()
    }

    /// Takes every key's usage, in no order.
    pub(crate) fn take_all(&self) -> Vec<(KeyHash, KeyPending)> {
        let mut all = Vec::with_capacity(self.len());
        for shard in &*self.shards {
            let mut shard = lock(shard);
            shard.by_id.clear();
            all.extend(shard.map.drain());
        }
        all
    }

    /// The first `n` ids (with their hashes) between `from` and `to`, in id
    /// order, over every shard: each shard's first ones in that range below
    /// the `n`th smallest seen so far, collected, then sorted and cut to
    /// `n` whenever twice as many are held (so a take costs about
    /// `n log n` whatever `n`, where inserting each in order cost `n²`).
    fn first_ids(&self, from: Bound<&str>, to: Bound<&str>, n: usize) -> Vec<(KeyId, KeyHash)> {
        let mut first: Vec<(KeyId, KeyHash)> = Vec::with_capacity(2 * n.min(4096) + 1);
        let mut below: Option<KeyId> = None;
        let cut = |first: &mut Vec<(KeyId, KeyHash)>| {
            first.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
            first.truncate(n);
        };
        for shard in &*self.shards {
            let shard = lock(shard);
            for (id, hash) in shard.by_id.range::<str, _>((from, to)).take(n) {
                if below.as_ref().is_some_and(|b| id >= b) {
                    break;
                }
                first.push((id.clone(), *hash));
            }
            drop(shard);
            if first.len() >= 2 * n.max(1) {
                cut(&mut first);
                below = first.last().map(|(id, _)| id.clone());
            }
        }
        cut(&mut first);
        first
    }
}

/// Pending writes of one key: last use and counts per day and outcome. The
/// current day's counts sit inline, so counting a verification touches one
/// map slot and no other allocation.
#[derive(Debug)]
pub(crate) struct KeyPending {
    pub(crate) id: KeyId,
    pub(crate) last_used: Option<Millis>,
    /// Whether `last_used` is written whatever this node wrote last (a key
    /// in a rotation's grace period, [`Pending::count`]).
    pub(crate) precise: bool,
    /// The newest day counted and its counts.
    day: i64,
    counts: Counts,
    /// Other days not yet written (a flush that spans midnight, or one put
    /// back after a failed write).
    other_days: Vec<(i64, Counts)>,
}

impl KeyPending {
    fn new(id: &KeyId, day: i64) -> Self {
        Self {
            id: id.clone(),
            last_used: None,
            precise: false,
            day,
            counts: [0; KeyState::ALL.len()],
            other_days: Vec::new(),
        }
    }

    /// Adds `counts` for `day`.
    #[inline]
    fn add(&mut self, day: i64, counts: &Counts) {
        let slot = if day == self.day {
            &mut self.counts
        } else if day > self.day {
            let older = std::mem::replace(&mut self.counts, [0; KeyState::ALL.len()]);
            self.other_days.push((std::mem::replace(&mut self.day, day), older));
            &mut self.counts
        } else {
            // An older day (rare: a count put back after a failed write).
            let i = match self.other_days.iter().position(|(d, _)| *d == day) {
                Some(i) => i,
                None => {
                    self.other_days.push((day, [0; KeyState::ALL.len()]));
                    self.other_days.len() - 1
                }
            };
            &mut self.other_days[i].1
        };
        slot.iter_mut().zip(counts).for_each(|(a, b)| *a = a.saturating_add(*b));
    }

    /// Every day with its counts.
    pub(crate) fn days(&self) -> impl Iterator<Item = (i64, &Counts)> {
        std::iter::once((self.day, &self.counts)).chain(self.other_days.iter().map(|(d, c)| (*d, c)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;

    /// A day in milliseconds.
    const DAY_MS: Millis = 86_400_000;

    /// The ids of what was taken, in order.
    fn ids(taken: &[(KeyHash, KeyPending)]) -> Vec<&str> {
        taken.iter().map(|(_, p)| p.id.as_str()).collect()
    }

    /// Counts a verification of the key `id` (hashed from its id).
    fn count(pending: &Pending, id: &str, code: KeyState, now: Millis) {
        pending.count(KeyHash::of(id), id, code, now, false);
    }

    /// Everything pending, taken in chunks of `chunk` until nothing is
    /// left: by id, the last use and the counts by day.
    fn drain(pending: &Pending, chunk: usize) -> BTreeMap<String, (Option<Millis>, BTreeMap<i64, Counts>)> {
        let mut all = BTreeMap::new();
        loop {
            let taken = pending.take(chunk);
            if taken.is_empty() {
                return all;
            }
            for (hash, p) in taken {
                assert_eq!(hash, KeyHash::of(p.id.as_str()));
                let days = p.days().map(|(d, c)| (d, *c)).collect();
                assert!(all.insert(p.id.to_string(), (p.last_used, days)).is_none(), "{} taken twice", p.id);
            }
        }
    }

    /// Flushes sweep pending keys in id order from where the last one
    /// stopped, across shards, wrapping around; a key counted again after
    /// its turn waits for the next sweep, so every key is written once per
    /// sweep.
    #[test]
    fn flushes_sweep_keys_in_id_order() {
        let pending = Pending::default();
        for id in ["k5", "k1", "k4", "k2", "k3"] {
            count(&pending, id, KeyState::Valid, 0);
        }
        // The five keys sit in different shards: the order is global.
        let shards: std::collections::HashSet<_> =
            ["k1", "k2", "k3", "k4", "k5"].map(|id| KeyHash::of(id).as_bytes()[0]).into();
        assert!(shards.len() > 1);
        assert_eq!(ids(&pending.take(2)), ["k1", "k2"]);
        // k1 is counted again: it is behind the sweep now.
        count(&pending, "k1", KeyState::Valid, 0);
        assert_eq!(ids(&pending.take(2)), ["k3", "k4"]);
        assert_eq!(ids(&pending.take(5)), ["k5", "k1"]);
        assert!(pending.take(5).is_empty());
        assert_eq!(pending.len(), 0);
        assert!(pending.shards.iter().all(|s| lock(s).by_id.is_empty()));
    }

    /// Several threads counting the same keys at once: every count is
    /// there, exactly, and the last use is the latest.
    #[test]
    fn concurrent_counts_sum_exactly() {
        const THREADS: u32 = 4;
        const KEYS: u32 = 2_000;
        const ROUNDS: u32 = 3;
        let pending = Arc::new(Pending::default());
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let pending = Arc::clone(&pending);
                std::thread::spawn(move || {
                    for round in 0..ROUNDS {
                        for k in 0..KEYS {
                            let code = if k % 3 == 0 { KeyState::Revoked } else { KeyState::Valid };
                            let now = Millis::from(round * THREADS + t) + 1;
                            count(&pending, &format!("key_{k:05}"), code, now);
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().for_each(|w| w.join().unwrap());

        assert_eq!(pending.len(), KEYS as usize);
        let all = drain(&pending, 50);
        assert_eq!(all.len(), KEYS as usize);
        for (k, (id, (last_used, days))) in all.iter().enumerate() {
            assert_eq!(id, &format!("key_{k:05}"));
            let code = if k % 3 == 0 { KeyState::Revoked } else { KeyState::Valid };
            let mut expected = [0; KeyState::ALL.len()];
            expected[code.index()] = THREADS * ROUNDS;
            assert_eq!(days, &BTreeMap::from([(0, expected)]), "{id}");
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
        let pending = Pending::default();
        for k in 0..1_000 {
            let id = format!("key_{k:04}");
            count(&pending, &id, KeyState::Valid, 5);
            count(&pending, &id, KeyState::NotFound, DAY_MS + 7);
        }
        // A chunk taken, not written, put back; counted again meanwhile.
        let failed = pending.take(50);
        assert_eq!(failed.len(), 50);
        count(&pending, "key_0000", KeyState::Valid, DAY_MS + 9);
        pending.put_back(failed);

        let all = drain(&pending, 64);
        assert_eq!(pending.len(), 0);
        assert!(pending.shards.iter().all(|s| lock(s).by_id.is_empty()));
        assert_eq!(all.len(), 1_000);
        let (mut valid, mut not_found) = ([0; KeyState::ALL.len()], [0; KeyState::ALL.len()]);
        valid[KeyState::Valid.index()] = 1;
        not_found[KeyState::NotFound.index()] = 1;
        for (k, (id, (last_used, days))) in all.iter().enumerate() {
            assert_eq!(id, &format!("key_{k:04}"));
            let mut today = not_found;
            if k == 0 {
                today[KeyState::Valid.index()] = 1;
            }
            assert_eq!(days, &BTreeMap::from([(0, valid), (1, today)]), "{id}");
            assert_eq!(*last_used, Some(if k == 0 { DAY_MS + 9 } else { 5 }), "{id}");
        }
    }
}
