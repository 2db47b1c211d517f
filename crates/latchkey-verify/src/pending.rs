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
//! Compact, so that the keys a busy node has in use fit its memory budget
//! (`PENDING_KEY_BYTES`): a key's pending usage is one 56-byte [`Entry`]
//! in its shard's map, keyed by a word of its hash (a second word checked,
//! [`Tag`]): its id packed (latchkey's key ids are `key_` and a ULID,
//! whose 128 bits order as its text does), its last use, the day and that
//! day's count of valid checks inline; other outcomes and other days in a
//! box that only keys with such counts carry. The general form,
//! [`KeyPending`], is what a flush takes; keys whose id does not pack, or
//! whose map slot another key's hash already holds, wait in it, in a side
//! map of their shard (rare: never, for ids latchkey mints).
//!
//! The flusher takes keys in id order across every shard (a sweep from
//! where the last take stopped): keys made one after another sit side by
//! side in storage, so a chunk of neighbours rewrites a few pages where a
//! chunk of keys taken in any order rewrites a page per key. The next ids
//! are found by a scan of the shards (one comparison per pending key, a
//! few milliseconds at a million), for [`SCAN_AHEAD`] takes at once, up
//! to [`AHEAD_MAX`] ids.

use std::collections::HashMap;
use std::collections::hash_map::Entry as Slot;
use std::ops::{Bound, RangeBounds};
use std::sync::{Mutex, MutexGuard, PoisonError};

use latchkey_core::time_fmt::{Millis, epoch_day};
use latchkey_core::{KeyHash, KeyId, KeyState};

/// Counts of one day by outcome.
pub(crate) type Counts = [u32; KeyState::ALL.len()];

/// How many shards pending usage is split into (a power of two: a key's
/// shard is a byte of its hash).
pub(crate) const SHARDS: usize = 256;

/// What a packed id's text starts with.
const KEY_ID_PREFIX: &str = "key_";

/// The ULID alphabet (Crockford's base 32), as latchkey writes ids.
const ULID_DIGITS: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// An id packed: a ULID's 128 bits, high word first (so arrays compare as
/// the ids' text does).
type Packed = [u64; 2];

/// Where a key's usage waits: its shard, its slot in the shard's map and a
/// check word (three parts of its hash; two keys sharing all 136 bits is
/// not a thing SHA-256 produces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Tag {
    shard: u8,
    slot: u64,
    check: u64,
}

impl Tag {
    /// The tag of the key hashed `hash`.
    #[inline]
    pub(crate) fn of(hash: &KeyHash) -> Self {
        let b = hash.as_bytes();
        let word = |i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        Self { shard: b[0], slot: word(8), check: word(16) }
    }
}

/// Usage not yet written, sharded by key hash.
#[derive(Debug)]
pub(crate) struct Pending {
    shards: Box<[Mutex<Shard>]>,
    /// Where the sweep is. Held for a whole take, so that two takes never
    /// pick the same keys.
    sweep: Mutex<Sweep>,
}

/// The sweep's place: the last id picked, and the next ones already
/// found (a scan finds [`SCAN_AHEAD`] takes' worth at once, at most
/// [`AHEAD_MAX`]).
#[derive(Debug, Default)]
struct Sweep {
    cursor: Option<Packed>,
    /// The next keys of the sweep, in id order, each still to be checked
    /// for being pending (taken by its hash meanwhile, it is skipped). A
    /// key counted after the scan that found these waits for the next
    /// sweep if its id falls among them.
    ahead: std::collections::VecDeque<(Packed, Tag)>,
}

/// How many takes' worth of keys a scan of the shards finds: a scan costs
/// a comparison per pending key, so it is paid once per this many takes.
const SCAN_AHEAD: usize = 16;

/// The most ids one scan finds (about 1.3 MB found, twice that while
/// scanning). Without a bound, a take of 165,000 keys (a spill) found
/// every pending key, and the sweep kept room for all of them: 13 MB per
/// 330,000 pending, held from then on.
const AHEAD_MAX: usize = 32_768;

/// One shard: its keys' usage, compact by slot, and in the general form
/// for the few that do not fit one (module docs). A key is in one of the
/// two, never both.
#[derive(Debug, Default)]
struct Shard {
    map: HashMap<u64, Entry>,
    odd: HashMap<Tag, KeyPending>,
}

impl Default for Pending {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), sweep: Mutex::default() }
    }
}

/// `mutex` locked, also after a panic elsewhere (counts stay consistent:
/// every update is one map operation).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `id` packed, if it is `key_` and a ULID as latchkey writes them (lower
/// case), so that [`unpack`] gives back exactly `id`.
fn pack(id: &str) -> Option<Packed> {
    let ulid = id.strip_prefix(KEY_ID_PREFIX)?.as_bytes();
    // 26 digits of 5 bits hold 130: the first may use only 3.
    if ulid.len() != 26 || ulid[0] > b'7' {
        return None;
    }
    let mut n: u128 = 0;
    for &c in ulid {
        let digit = ULID_DIGITS.iter().position(|&d| d == c)?;
        n = (n << 5) | digit as u128;
    }
    Some([(n >> 64) as u64, n as u64])
}

/// The id `packed` was made from.
fn unpack(packed: Packed) -> KeyId {
    let mut n = (u128::from(packed[0]) << 64) | u128::from(packed[1]);
    let mut ulid = [0; 26];
    for c in ulid.iter_mut().rev() {
        *c = ULID_DIGITS[(n & 31) as usize];
        n >>= 5;
    }
    let mut id = String::with_capacity(KEY_ID_PREFIX.len() + ulid.len());
    id.push_str(KEY_ID_PREFIX);
    id.extend(ulid.iter().map(|&c| char::from(c)));
    KeyId::from(id.as_str())
}

impl Pending {
    /// The shard of `tag`.
    #[inline]
    fn shard(&self, tag: &Tag) -> &Mutex<Shard> {
        &self.shards[usize::from(tag.shard) % SHARDS]
    }

    /// How many keys have usage pending.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = lock(s);
                s.map.len() + s.odd.len()
            })
            .sum()
    }

    /// Counts one verification of the key `id` (hash `hash`) with outcome
    /// `code` at `now`: its day's count, and its last use if valid. A
    /// `precise` last use (a key in a rotation's grace period, whose last
    /// use may decide when it is revoked) is written whenever it changes,
    /// not once a minute (`usage.rs`).
    #[inline]
    pub(crate) fn count(&self, hash: KeyHash, id: &str, code: KeyState, now: Millis, precise: bool) {
        let day = epoch_day(now);
        let last_used = (code == KeyState::Valid).then_some(now);
        let tag = Tag::of(&hash);
        let mut shard = lock(self.shard(&tag));
        let Shard { map, odd } = &mut *shard;
        if odd.is_empty()
            && let Slot::Occupied(mut slot) = map.entry(tag.slot)
            && slot.get().check == tag.check
        {
            slot.get_mut().count(day, code, last_used, precise);
            return;
        }
        let mut one = [0; KeyState::ALL.len()];
        one[code.index()] = 1;
        shard.add(tag, || KeyId::from(id), last_used, precise, day, &one);
    }

    /// Returns usage taken but not written to where it is counted: added
    /// to whatever was counted for the same keys meanwhile.
    pub(crate) fn put_back(&self, taken: Vec<(Tag, KeyPending)>) {
        for (tag, p) in taken {
            let mut shard = lock(self.shard(&tag));
            let mut days = p.days();
            let Some((day, counts)) = days.next() else { continue };
            shard.add(tag, || p.id.clone(), p.last_used, p.precise, day, counts);
            for (day, counts) in days {
                shard.add(tag, || p.id.clone(), None, false, day, counts);
            }
        }
    }

    /// Takes up to `n` keys' usage, the next ones in id order after the
    /// last taken (starting again from the first id at the end); keys in
    /// the general form first. Fewer only when fewer are pending.
    pub(crate) fn take(&self, n: usize) -> Vec<(Tag, KeyPending)> {
        let mut sweep = lock(&self.sweep);
        let mut taken = self.take_odd(n);
        while taken.len() < n {
            if sweep.ahead.is_empty() {
                let want = (n - taken.len()).saturating_mul(SCAN_AHEAD).min(AHEAD_MAX);
                let mut found = match sweep.cursor {
                    Some(after) => {
                        let mut found = self.first_ids((Bound::Excluded(after), Bound::Unbounded), want);
                        // Past the last id: on from the first, up to the cursor.
                        if found.len() < want {
                            found
                                .extend(self.first_ids((Bound::Unbounded, Bound::Included(after)), want - found.len()));
                        }
                        found
                    }
                    None => self.first_ids((Bound::Unbounded, Bound::Unbounded), want),
                };
                if found.is_empty() {
                    break;
                }
                sweep.ahead.extend(found.drain(..));
            }
            let Some((id, tag)) = sweep.ahead.pop_front() else { break };
            sweep.cursor = Some(id);
            let mut shard = lock(self.shard(&tag));
            if let Slot::Occupied(slot) = shard.map.entry(tag.slot)
                && slot.get().id == id
            {
                taken.push((tag, slot.remove().into_pending()));
            }
        }
        taken
    }

    /// Takes up to `n` keys in the general form, in no order.
    fn take_odd(&self, n: usize) -> Vec<(Tag, KeyPending)> {
        let mut taken = Vec::new();
        for shard in &*self.shards {
            if taken.len() == n {
                break;
            }
            let mut shard = lock(shard);
            if shard.odd.is_empty() {
                continue;
            }
            let tags: Vec<Tag> = shard.odd.keys().take(n - taken.len()).copied().collect();
            taken.extend(tags.into_iter().filter_map(|t| shard.odd.remove(&t).map(|p| (t, p))));
        }
        taken
    }

    /// Takes the usage of the keys `hashes` that have some pending.
    pub(crate) fn take_keys(&self, hashes: &[KeyHash]) -> Vec<(Tag, KeyPending)> {
        hashes
            .iter()
            .filter_map(|hash| {
                let tag = Tag::of(hash);
                let mut shard = lock(self.shard(&tag));
                if let Some(p) = shard.odd.remove(&tag) {
                    return Some((tag, p));
                }
                match shard.map.entry(tag.slot) {
                    Slot::Occupied(slot) if slot.get().check == tag.check => Some((tag, slot.remove().into_pending())),
                    _ => None,
                }
            })
            .collect()
    }

    /// Takes every key's usage, in no order.
    pub(crate) fn take_all(&self) -> Vec<(Tag, KeyPending)> {
        let mut all = Vec::with_capacity(self.len());
        for (i, shard) in self.shards.iter().enumerate() {
            let mut shard = lock(shard);
            let shard_byte = u8::try_from(i).unwrap_or(u8::MAX);
            all.extend(shard.odd.drain());
            all.extend(
                shard.map.drain().map(|(slot, e)| (Tag { shard: shard_byte, slot, check: e.check }, e.into_pending())),
            );
        }
        all
    }

    /// The first `n` packed ids (with their tags) in `range`, in id order,
    /// over every shard: those below the `n`th smallest seen so far,
    /// collected, then sorted and cut to `n` whenever twice as many are
    /// held (so a take costs about `n log n` whatever `n`, plus one
    /// comparison per pending key).
    fn first_ids(&self, range: (Bound<Packed>, Bound<Packed>), n: usize) -> Vec<(Packed, Tag)> {
        let mut first: Vec<(Packed, Tag)> = Vec::with_capacity(2 * n.min(4096) + 1);
        let mut below: Option<Packed> = None;
        let cut = |first: &mut Vec<(Packed, Tag)>| {
            first.sort_unstable_by_key(|(id, _)| *id);
            first.truncate(n);
        };
        for (i, shard) in self.shards.iter().enumerate() {
            let shard_byte = u8::try_from(i).unwrap_or(u8::MAX);
            let shard = lock(shard);
            for (&slot, e) in &shard.map {
                if range.contains(&e.id) && below.is_none_or(|b| e.id < b) {
                    first.push((e.id, Tag { shard: shard_byte, slot, check: e.check }));
                    if first.len() >= 2 * n.max(1) {
                        cut(&mut first);
                        below = first.last().map(|(id, _)| *id);
                    }
                }
            }
        }
        cut(&mut first);
        first
    }
}

impl Shard {
    /// Adds `counts` of `day` and a last use to the key of `tag`: to its
    /// compact entry if it has one or can (its id packs, its slot is
    /// free), else to its general form (`id` makes the id if needed).
    fn add(
        &mut self,
        tag: Tag,
        id: impl FnOnce() -> KeyId,
        last_used: Option<Millis>,
        precise: bool,
        day: i64,
        counts: &Counts,
    ) {
        if let Some(p) = self.odd.get_mut(&tag) {
            p.merge(last_used, precise, day, counts);
            return;
        }
        match self.map.entry(tag.slot) {
            Slot::Occupied(mut slot) if slot.get().check == tag.check => {
                slot.get_mut().merge(last_used, precise, day, counts);
                return;
            }
            Slot::Vacant(slot) => {
                let id = id();
                if let Some(packed) = pack(id.as_str()) {
                    slot.insert(Entry::new(packed, tag.check, day)).merge(last_used, precise, day, counts);
                    return;
                }
                self.odd.entry(tag).or_insert_with(|| KeyPending::new(id, day)).merge(last_used, precise, day, counts);
                return;
            }
            Slot::Occupied(_) => {}
        }
        self.odd.entry(tag).or_insert_with(|| KeyPending::new(id(), day)).merge(last_used, precise, day, counts);
    }
}

/// A key's pending usage, compact (module docs): 56 bytes.
#[derive(Debug)]
struct Entry {
    id: Packed,
    /// [`Tag::check`]: the key this entry is for.
    check: u64,
    /// The last valid use, or [`NO_USE`].
    last_used: Millis,
    /// The newest day counted.
    day: i64,
    /// That day's valid checks.
    valid: u32,
    /// Whether `last_used` is written whatever this node wrote last (a key
    /// in a rotation's grace period, [`Pending::count`]).
    precise: bool,
    /// The day's other outcomes and other days, for the keys that have them.
    rest: Option<Box<Rest>>,
}

/// [`Entry::last_used`] of a key with no valid use pending.
const NO_USE: Millis = Millis::MIN;

/// What few keys have pending besides the day's valid checks.
#[derive(Debug, Default)]
struct Rest {
    /// The day's counts of other outcomes (its `VALID` count stays 0).
    today: Counts,
    /// Other days not yet written (a flush that spans midnight, or one put
    /// back after a failed write).
    other_days: Vec<(i64, Counts)>,
}

impl Entry {
    fn new(id: Packed, check: u64, day: i64) -> Self {
        Self { id, check, last_used: NO_USE, day, valid: 0, precise: false, rest: None }
    }

    /// One check with outcome `code` on `day` (the hot path: a valid check
    /// of today adds to one inline count).
    #[inline]
    fn count(&mut self, day: i64, code: KeyState, last_used: Option<Millis>, precise: bool) {
        if day == self.day && code == KeyState::Valid {
            self.valid = self.valid.saturating_add(1);
            self.used(last_used, precise);
            return;
        }
        let mut one = [0; KeyState::ALL.len()];
        one[code.index()] = 1;
        self.merge(last_used, precise, day, &one);
    }

    /// Notes a valid use at `last_used`, if any.
    #[inline]
    fn used(&mut self, last_used: Option<Millis>, precise: bool) {
        if let Some(t) = last_used {
            self.last_used = self.last_used.max(t);
            self.precise |= precise;
        }
    }

    /// Adds `counts` of `day` and a last use.
    fn merge(&mut self, last_used: Option<Millis>, precise: bool, day: i64, counts: &Counts) {
        self.used(last_used, precise);
        let valid = KeyState::Valid.index();
        if day > self.day {
            // A new day: the current one joins the other days.
            let mut old = self.rest.as_ref().map_or([0; KeyState::ALL.len()], |r| r.today);
            old[valid] = self.valid;
            let rest = self.rest.get_or_insert_with(Box::default);
            rest.today = [0; KeyState::ALL.len()];
            if old.iter().any(|&c| c > 0) {
                rest.other_days.push((self.day, old));
            }
            (self.day, self.valid) = (day, 0);
        }
        let others = counts.iter().enumerate().any(|(i, &c)| i != valid && c > 0);
        if day == self.day {
            self.valid = self.valid.saturating_add(counts[valid]);
            if others {
                let rest = self.rest.get_or_insert_with(Box::default);
                for (i, (a, b)) in rest.today.iter_mut().zip(counts).enumerate() {
                    if i != valid {
                        *a = a.saturating_add(*b);
                    }
                }
            }
        } else {
            // An older day (rare: a count put back after a failed write).
            let rest = self.rest.get_or_insert_with(Box::default);
            add_day(&mut rest.other_days, day, counts);
        }
    }

    /// The general form, for a flush.
    fn into_pending(self) -> KeyPending {
        let (mut counts, other_days) = match self.rest {
            Some(rest) => (rest.today, rest.other_days),
            None => ([0; KeyState::ALL.len()], Vec::new()),
        };
        counts[KeyState::Valid.index()] = self.valid;
        KeyPending {
            id: unpack(self.id),
            last_used: (self.last_used != NO_USE).then_some(self.last_used),
            precise: self.precise,
            day: self.day,
            counts,
            other_days,
        }
    }
}

/// Adds `counts` to `day`'s in `days`.
fn add_day(days: &mut Vec<(i64, Counts)>, day: i64, counts: &Counts) {
    let i = match days.iter().position(|(d, _)| *d == day) {
        Some(i) => i,
        None => {
            days.push((day, [0; KeyState::ALL.len()]));
            days.len() - 1
        }
    };
    days[i].1.iter_mut().zip(counts).for_each(|(a, b)| *a = a.saturating_add(*b));
}

/// Pending writes of one key, as a flush takes them: last use and counts
/// per day and outcome.
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
    /// Other days not yet written.
    other_days: Vec<(i64, Counts)>,
}

impl KeyPending {
    fn new(id: KeyId, day: i64) -> Self {
        Self { id, last_used: None, precise: false, day, counts: [0; KeyState::ALL.len()], other_days: Vec::new() }
    }

    /// Adds `counts` of `day` and a last use.
    fn merge(&mut self, last_used: Option<Millis>, precise: bool, day: i64, counts: &Counts) {
        if let Some(t) = last_used {
            self.last_used = Some(self.last_used.map_or(t, |l| l.max(t)));
            self.precise |= precise;
        }
        if day > self.day {
            let older = std::mem::replace(&mut self.counts, [0; KeyState::ALL.len()]);
            self.other_days.push((std::mem::replace(&mut self.day, day), older));
        }
        if day == self.day {
            self.counts.iter_mut().zip(counts).for_each(|(a, b)| *a = a.saturating_add(*b));
        } else {
            add_day(&mut self.other_days, day, counts);
        }
    }

    /// Every day with its counts.
    pub(crate) fn days(&self) -> impl Iterator<Item = (i64, &Counts)> {
        std::iter::once((self.day, &self.counts)).chain(self.other_days.iter().map(|(d, c)| (*d, c)))
    }
}

#[cfg(test)]
mod tests;
