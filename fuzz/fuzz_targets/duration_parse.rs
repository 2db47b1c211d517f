//! Duration strings (`expiresIn`, grace periods): no panic or overflow; an
//! accepted duration is 1 s to 100 years, and its canonical form (days and
//! seconds) reads back the same.
#![no_main]

use latchkey_core::parse_duration;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(secs) = parse_duration(text) {
        assert!((1..=100 * 365 * 86_400).contains(&secs), "{text:?} → {secs}");
        let canonical = format!("{}d{}s", secs / 86_400, secs % 86_400);
        assert_eq!(parse_duration(&canonical), Ok(secs), "{text:?} → {canonical}");
    }
});
