//! `PlainKey::parse` and the verification path's `hash_presented` on any
//! text: no panic, the same decision, and an accepted key is the input,
//! its prefix, environment, display prefix and hint all slices of it.
#![no_main]

use latchkey_core::key::MAX_KEY_LEN;
use latchkey_core::{DisplayPrefix, KeyHash, KeyPrefix, PlainKey};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = PlainKey::parse(text);
    let hashed = PlainKey::hash_presented(text);
    assert_eq!(parsed.as_ref().err(), hashed.as_ref().err(), "parse and hash_presented disagree on {text:?}");
    if let (Ok(key), Ok(hash)) = (parsed, hashed) {
        assert_eq!(key.expose(), text);
        assert!(text.len() <= MAX_KEY_LEN);
        assert_eq!(key.hash(), hash);
        assert_eq!(hash, KeyHash::of(text));
        assert!(text.starts_with(key.prefix()) && key.prefix().ends_with('_'));
        let shown = key.display_prefix();
        assert!(text.starts_with(&shown.to_string()) && shown.prefix().map(KeyPrefix::as_str) == Some(key.prefix()));
        assert_eq!(DisplayPrefix::parse(&shown.to_string()), Ok(shown), "the stored form reads back");
        assert!(text.ends_with(&key.hint()));
        let _ = key.environment();
        assert!(!format!("{key:?}").contains(&text[key.prefix().len()..]), "Debug shows the secret");
    }
});
