//! The API key format.
//!
//! A key is `<prefix><body><check>`, for example `lk_live_` + 32 body
//! characters + 6 check characters:
//!
//! * `prefix` names the brand and, for live/test keys, the environment
//!   (`lk_live_`, `lk_test_`), or a compatibility profile (`ak_`, `rk_`,
//!   `sk_live_`). It always ends with `_` and contains no other `_`-free tail,
//!   so the last `_` of a key separates prefix from body.
//! * `body` is 32 base62 characters drawn uniformly from the OS CSPRNG:
//!   32 × log2(62) ≈ 190 bits of entropy.
//! * `check` is the CRC32 of `prefix + body`, written as 6 base62 digits. It
//!   lets latchkey (and secret scanners) reject typos and random strings
//!   without touching storage; it adds no secrecy.
//!
//! Only the SHA-256 of the whole key is ever stored ([`KeyHash`]). The
//! plaintext lives in a [`PlainKey`], whose `Debug` never prints it.
//!
//! The format constants below must never change for issued keys: changing
//! them would invalidate every key in the field.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Number of random base62 characters in a key body. Never change.
pub const BODY_LEN: usize = 32;
/// Number of base62 characters of the checksum. Never change.
pub const CHECK_LEN: usize = 6;
/// Longest key accepted by [`PlainKey::parse`]; longer input is rejected
/// before any work.
pub const MAX_KEY_LEN: usize = 96;
/// Longest accepted prefix (including its trailing `_`).
const MAX_PREFIX_LEN: usize = MAX_KEY_LEN - BODY_LEN - CHECK_LEN;

/// The base62 alphabet. Never change.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A key's environment, carried in its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// Production traffic.
    Live,
    /// Test traffic.
    Test,
}

impl Environment {
    /// The stored and wire form (`live` / `test`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// Why a presented string is not a well-formed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Wrong length or characters, or no prefix.
    #[error("malformed key")]
    Malformed,
    /// Well-formed, but the checksum does not match.
    #[error("key checksum mismatch")]
    Checksum,
}

/// A key prefix such as `lk_live_` or `ak_`: lowercase ASCII letters, digits
/// and underscores, starting with a letter and ending with `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// The live/test prefix for a brand: `lk` → `lk_live_` / `lk_test_`.
    pub fn branded(brand: &str, env: Environment) -> Result<Self, KeyFormatError> {
        Self::new(&format!("{brand}_{}_", env.as_str()))
    }

    /// Validates a full prefix (must end with `_`).
    pub fn new(prefix: &str) -> Result<Self, KeyFormatError> {
        if Self::is_valid(prefix) { Ok(Self(prefix.to_owned())) } else { Err(KeyFormatError::Malformed) }
    }

    /// Whether `prefix` is a well-formed prefix (no allocation).
    fn is_valid(prefix: &str) -> bool {
        prefix.len() >= 2
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix.ends_with('_')
            && prefix.as_bytes()[0].is_ascii_lowercase()
            && !prefix.contains("__")
            && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    /// The prefix text, with its trailing `_`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Body characters a [`DisplayPrefix`] shows. Never change: stored display
/// prefixes hold this many.
const DISPLAY_BODY_LEN: usize = 4;

/// What may be shown to identify a key without revealing it: its prefix and
/// the first 4 body characters (`lk_live_AbCd`), stored beside the hash;
/// or, for a key imported from another system by its hash, whatever that
/// system showed (`prod_3Zd`, possibly nothing), as the import gave it.
/// An issued key's [`KeyPrefix`] is a part of it ([`DisplayPrefix::prefix`]),
/// so a rotation mints the successor under the same prefix without
/// cutting strings. `Display` writes the stored text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayPrefix(Shown);

/// The two kinds of [`DisplayPrefix`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shown {
    /// A key latchkey minted.
    Issued {
        prefix: KeyPrefix,
        /// The first body characters (base62, so ASCII).
        head: [u8; DISPLAY_BODY_LEN],
    },
    /// A key imported by its hash: the text the import gave
    /// ([`DisplayPrefix::imported`]).
    Imported(String),
}

/// Longest display prefix of an imported key ([`DisplayPrefix::imported`]).
pub const MAX_IMPORTED_PREFIX_LEN: usize = 32;

impl DisplayPrefix {
    /// Reads a stored display prefix of an issued key: a well-formed key
    /// prefix followed by 4 base62 characters.
    pub fn parse(stored: &str) -> Result<Self, KeyFormatError> {
        let split = stored.len().checked_sub(DISPLAY_BODY_LEN).ok_or(KeyFormatError::Malformed)?;
        if !stored.is_char_boundary(split) {
            return Err(KeyFormatError::Malformed);
        }
        let (prefix, head) = stored.split_at(split);
        let head: [u8; DISPLAY_BODY_LEN] = head.as_bytes().try_into().map_err(|_| KeyFormatError::Malformed)?;
        if !head.iter().all(u8::is_ascii_alphanumeric) {
            return Err(KeyFormatError::Malformed);
        }
        Ok(Self(Shown::Issued { prefix: KeyPrefix::new(prefix)?, head }))
    }

    /// The display prefix of a key imported from another system (given
    /// with the import, or stored): at most [`MAX_IMPORTED_PREFIX_LEN`]
    /// ASCII letters, digits, `_`, `-` and `.`; empty when the import gave
    /// none.
    pub fn imported(text: &str) -> Result<Self, KeyFormatError> {
        if text.len() > MAX_IMPORTED_PREFIX_LEN
            || !text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(KeyFormatError::Malformed);
        }
        Ok(Self(Shown::Imported(text.to_owned())))
    }

    /// The prefix of the key shown (`lk_live_`); `None` for an imported key.
    pub fn prefix(&self) -> Option<&KeyPrefix> {
        match &self.0 {
            Shown::Issued { prefix, .. } => Some(prefix),
            Shown::Imported(_) => None,
        }
    }
}

impl fmt::Display for DisplayPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Shown::Issued { prefix, head } => {
                f.write_str(prefix.as_str())?;
                head.iter().try_for_each(|&b| fmt::Write::write_char(f, char::from(b)))
            }
            Shown::Imported(text) => f.write_str(text),
        }
    }
}

/// A plaintext API key. It exists only between minting and the one response
/// that shows it, or between receiving it and hashing it. `Debug` and
/// `Display` are redacted.
#[derive(Clone)]
pub struct PlainKey {
    text: String,
    prefix_len: usize,
}

impl PlainKey {
    /// Mints a new key with `prefix`, 32 random base62 characters from the OS
    /// CSPRNG, and the checksum.
    pub fn generate(prefix: &KeyPrefix) -> Self {
        let mut text = String::with_capacity(prefix.0.len() + BODY_LEN + CHECK_LEN);
        text.push_str(&prefix.0);
        let mut filled = 0;
        let mut buf = [0u8; 64];
        while filled < BODY_LEN {
            // If the OS CSPRNG fails there is no safe way to go on.
            #[expect(clippy::expect_used, reason = "no key can be minted without the OS CSPRNG")]
            getrandom::fill(&mut buf).expect("OS random number generator unavailable");
            for &b in &buf {
                // Rejection sampling: 248 = 4 × 62, so `b % 62` is uniform.
                if b < 248 && filled < BODY_LEN {
                    text.push(char::from(BASE62[usize::from(b % 62)]));
                    filled += 1;
                }
            }
        }
        let check = checksum(text.as_bytes());
        text.extend(check.iter().map(|&b| char::from(b)));
        Self { text, prefix_len: prefix.0.len() }
    }

    /// Checks structure and checksum of a presented key. This is pure CPU work
    /// on at most [`MAX_KEY_LEN`] bytes and is done before any lookup.
    pub fn parse(s: &str) -> Result<Self, KeyFormatError> {
        let prefix_len = Self::check_format(s)?;
        Ok(Self { text: s.to_owned(), prefix_len })
    }

    /// The hash of a presented key, after the same checks as
    /// [`PlainKey::parse`], without copying the plaintext: what the
    /// verification path needs.
    pub fn hash_presented(s: &str) -> Result<KeyHash, KeyFormatError> {
        Self::check_format(s)?;
        Ok(KeyHash::of(s))
    }

    /// The prefix of a string of a key's shape (one that
    /// [`PlainKey::hash_presented`] refused for its checksum only).
    pub(crate) fn prefix_of_shaped(s: &str) -> &str {
        s.get(..s.len().saturating_sub(BODY_LEN + CHECK_LEN)).unwrap_or_default()
    }

    /// Format and checksum; returns the prefix length.
    fn check_format(s: &str) -> Result<usize, KeyFormatError> {
        if s.len() > MAX_KEY_LEN || s.len() < 2 + BODY_LEN + CHECK_LEN {
            return Err(KeyFormatError::Malformed);
        }
        let prefix_len = s.len() - BODY_LEN - CHECK_LEN;
        // Presented text may be any UTF-8 (a verify body's `key`): a split
        // inside a character would panic. Found by fuzzing (fuzz/key_parse).
        if !s.is_char_boundary(prefix_len) {
            return Err(KeyFormatError::Malformed);
        }
        let (prefix, tail) = s.split_at(prefix_len);
        // A fold without early exit, which the compiler vectorizes: every
        // presented key is checked, twice per verify request.
        if !KeyPrefix::is_valid(prefix) || !tail.bytes().fold(true, |ok, b| ok & b.is_ascii_alphanumeric()) {
            return Err(KeyFormatError::Malformed);
        }
        let (signed, check) = s.split_at(s.len() - CHECK_LEN);
        if checksum(signed.as_bytes()) != check.as_bytes() {
            return Err(KeyFormatError::Checksum);
        }
        Ok(prefix_len)
    }

    /// The plaintext, for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The key's prefix (`lk_live_`).
    pub fn prefix(&self) -> &str {
        &self.text[..self.prefix_len]
    }

    /// The environment named by the prefix (`…_live_` / `…_test_`), if any.
    pub fn environment(&self) -> Option<Environment> {
        let p = self.prefix().trim_end_matches('_');
        if p.ends_with("_test") {
            Some(Environment::Test)
        } else if p.ends_with("_live") {
            Some(Environment::Live)
        } else {
            None
        }
    }

    /// What may be shown to identify the key: prefix plus the first 4 body
    /// characters (`lk_live_AbCd`).
    pub fn display_prefix(&self) -> DisplayPrefix {
        let bytes = self.text.as_bytes();
        let mut head = [0; DISPLAY_BODY_LEN];
        head.copy_from_slice(&bytes[self.prefix_len..self.prefix_len + DISPLAY_BODY_LEN]);
        DisplayPrefix(Shown::Issued { prefix: KeyPrefix(self.prefix().to_owned()), head })
    }

    /// The last 4 characters, to tell keys apart in lists.
    pub fn hint(&self) -> String {
        self.text[self.text.len() - 4..].to_owned()
    }

    /// The SHA-256 of the whole key: the only form that is stored.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.text)
    }
}

impl fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainKey({}…[redacted])", self.prefix())
    }
}

/// SHA-256 of a whole key or token. Equality is constant-time.
#[derive(Clone, Copy, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Hashes any secret string (API key or session token).
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Rebuilds a hash read from storage.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw 32 bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as four words, for the comparisons and hashing below.
    /// Inlined: the cache hashes and compares a hash on every lookup.
    #[inline]
    fn words(&self) -> [u64; 4] {
        let mut words = [0; 4];
        for (w, chunk) in words.iter_mut().zip(self.0.chunks_exact(8)) {
            let mut b = [0; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_ne_bytes(b);
        }
        words
    }
}

impl PartialEq for KeyHash {
    /// Constant-time: every word is compared, with no early exit (four
    /// word comparisons instead of 32 byte ones; the cache compares on every
    /// lookup).
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.words(), other.words());
        let same = a[0].ct_eq(&b[0]) & a[1].ct_eq(&b[1]) & a[2].ct_eq(&b[2]) & a[3].ct_eq(&b[3]);
        same.into()
    }
}

impl std::hash::Hash for KeyHash {
    /// Feeds only the first word to the (keyed) hasher: the bytes of a
    /// SHA-256 are uniform, so eight of them spread keys as well as 32 do.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.words()[0]);
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({:02x}{:02x}{:02x}{:02x}…)", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

/// CRC32 of `data` as exactly [`CHECK_LEN`] base62 digits, most significant
/// first (62^6 > 2^32, so every value fits).
fn checksum(data: &[u8]) -> [u8; CHECK_LEN] {
    let mut n = crc32fast::hash(data);
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn live() -> KeyPrefix {
        KeyPrefix::branded("lk", Environment::Live).unwrap()
    }

    #[test]
    fn non_ascii_text_is_malformed_not_a_panic() {
        // Multi-byte characters across the prefix/body boundary (fuzz
        // finds from fuzz/key_parse).
        for text in
            [format!("lk_live_\u{95}{}", "a".repeat(37)), format!("{}ҟ{}", "ab_", "A".repeat(37)), "é".repeat(30)]
        {
            assert_eq!(PlainKey::parse(&text).err(), Some(KeyFormatError::Malformed), "{text:?}");
            assert_eq!(PlainKey::hash_presented(&text).err(), Some(KeyFormatError::Malformed), "{text:?}");
        }
    }

    #[test]
    fn format_is_as_documented() {
        let k = PlainKey::generate(&live());
        let s = k.expose();
        assert!(s.starts_with("lk_live_"));
        assert_eq!(s.len(), "lk_live_".len() + BODY_LEN + CHECK_LEN);
        assert_eq!(k.environment(), Some(Environment::Live));
        assert_eq!(k.display_prefix().to_string(), &s[.."lk_live_".len() + 4]);
        assert_eq!(k.display_prefix().prefix().map(KeyPrefix::as_str), Some("lk_live_"));
        assert_eq!(k.hint(), &s[s.len() - 4..]);
        let t = PlainKey::generate(&KeyPrefix::branded("lk", Environment::Test).unwrap());
        assert_eq!(t.environment(), Some(Environment::Test));
        let ak = PlainKey::generate(&KeyPrefix::new("ak_").unwrap());
        assert_eq!(ak.environment(), None);
        assert_eq!(PlainKey::parse(ak.expose()).unwrap().prefix(), "ak_");
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let k = PlainKey::generate(&live());
        let body = &k.expose()["lk_live_".len()..];
        let dbg = format!("{k:?} {:?}", k.hash());
        assert!(!dbg.contains(body), "{dbg}");
        assert!(!dbg.contains(&body[..8]), "{dbg}");
    }

    #[test]
    fn rejects_garbage_before_lookup() {
        for bad in [
            "",
            "lk_live_",
            "hello",
            "lk_live_short1234",
            &"a".repeat(500),
            "LK_LIVE_0123456789012345678901234567890123456",
        ] {
            assert!(PlainKey::parse(bad).is_err(), "{bad}");
            assert!(PlainKey::hash_presented(bad).is_err(), "{bad}");
        }
        let k = PlainKey::generate(&live());
        let with_space = format!("{} ", k.expose());
        assert!(PlainKey::parse(&with_space).is_err());
        assert!(PlainKey::hash_presented(&with_space).is_err());
        // A body character outside base62 is malformed even under a correct checksum.
        for (i, bad) in [(0, b'-'), (BODY_LEN / 2, b'_'), (BODY_LEN - 1, 0xff)] {
            let mut body = k.expose().as_bytes()[..k.expose().len() - CHECK_LEN].to_vec();
            body["lk_live_".len() + i] = bad;
            let mut text = body.clone();
            text.extend_from_slice(&checksum(&body));
            let text = String::from_utf8_lossy(&text).into_owned();
            assert_eq!(PlainKey::hash_presented(&text).err(), Some(KeyFormatError::Malformed), "{text}");
        }
    }

    #[test]
    fn display_prefixes_round_trip_through_storage() {
        for prefix in [live(), KeyPrefix::new("ak_").unwrap(), KeyPrefix::branded("rt", Environment::Test).unwrap()] {
            let shown = PlainKey::generate(&prefix).display_prefix();
            let stored = shown.to_string();
            assert_eq!(stored.len(), prefix.as_str().len() + DISPLAY_BODY_LEN);
            let read = DisplayPrefix::parse(&stored).unwrap();
            assert_eq!(read, shown);
            assert_eq!(read.prefix(), Some(&prefix));
        }
        for bad in ["", "abcd", "lk_live_", "lk_live_AbC", "lk_live_Ab-d", "LK_live_AbCd", "lk_live_Abcé", "_AbCd"] {
            assert!(DisplayPrefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn imported_display_prefixes_are_shown_as_given() {
        for text in ["", "prod_3Zd", "sk-live.AbC_9", &"a".repeat(MAX_IMPORTED_PREFIX_LEN)] {
            let shown = DisplayPrefix::imported(text).unwrap();
            assert_eq!(shown.to_string(), text);
            assert_eq!(shown.prefix(), None);
        }
        // Text that reads like an issued key's stays what the import said.
        assert_ne!(DisplayPrefix::imported("lk_live_AbCd").unwrap(), DisplayPrefix::parse("lk_live_AbCd").unwrap());
        for bad in [&"a".repeat(MAX_IMPORTED_PREFIX_LEN + 1), "with space", "é", "a/b", "a\n"] {
            assert!(DisplayPrefix::imported(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in ["", "_", "lk", "Lk_", "1k_", "lk__live_", "lk-live_"] {
            assert!(KeyPrefix::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn body_is_uniformish() {
        // 2,000 keys × 32 chars: every base62 symbol must appear.
        let mut seen = [false; 62];
        for _ in 0..2000 {
            let k = PlainKey::generate(&live());
            for b in k.expose()["lk_live_".len()..][..BODY_LEN].bytes() {
                let i = BASE62.iter().position(|&c| c == b).unwrap();
                seen[i] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    proptest! {
        #[test]
        fn generate_parse_round_trip(brand in "[a-z][a-z0-9]{0,7}", test in any::<bool>()) {
            let env = if test { Environment::Test } else { Environment::Live };
            let k = PlainKey::generate(&KeyPrefix::branded(&brand, env).unwrap());
            let parsed = PlainKey::parse(k.expose()).unwrap();
            prop_assert_eq!(parsed.expose(), k.expose());
            prop_assert_eq!(parsed.hash(), k.hash());
            prop_assert_eq!(PlainKey::hash_presented(k.expose()), Ok(k.hash()));
            prop_assert_eq!(parsed.environment(), Some(env));
        }

        #[test]
        fn any_one_character_change_fails(pos in 0usize..(8 + BODY_LEN + CHECK_LEN), repl in 0usize..62) {
            let k = PlainKey::generate(&live());
            let mut bytes = k.expose().as_bytes().to_vec();
            let pos = pos % bytes.len();
            let new = BASE62[repl];
            prop_assume!(bytes[pos] != new);
            bytes[pos] = new;
            let tampered = String::from_utf8(bytes).unwrap();
            prop_assert!(PlainKey::parse(&tampered).is_err(), "{} accepted", tampered);
            prop_assert_eq!(PlainKey::hash_presented(&tampered).err(), PlainKey::parse(&tampered).err());
        }
    }
}
