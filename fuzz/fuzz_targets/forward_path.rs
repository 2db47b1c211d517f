//! Forward-auth path normalization (`X-Forwarded-Uri`, `X-Original-URI`): no
//! panic, in either reading; a path the strict reading admits starts with
//! `/`, is what was sent (without its query) and holds no ambiguous spelling;
//! and a router that decodes and resolves it (the lenient reading) lands
//! under every plain prefix the strict match saw.
#![no_main]

use latchkey_core::forward_path::{is_route_prefix, normalize, normalize_lenient, prefix_matches};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lenient = normalize_lenient(text);
    let Ok(path) = normalize(text) else { return };
    assert!(path.starts_with('/') && text.starts_with(path), "{text:?} → {path:?}");
    let lower = path.to_ascii_lowercase();
    for bad in ["%2f", "%5c", "%25", "%00", "%2e", "%3b", "\\", ";", "#", "//", "/./", "/../"] {
        assert!(!lower.contains(bad), "{text:?} admitted with {bad}");
    }
    assert!(!lower.ends_with("/.") && !lower.ends_with("/.."), "{text:?}");
    let mut prefix = String::new();
    for segment in path.split('/').skip(1).filter(|s| !s.is_empty()) {
        prefix.push('/');
        prefix.push_str(segment);
        if !is_route_prefix(&prefix) {
            break;
        }
        assert!(prefix_matches(&prefix, path), "{prefix:?} vs {path:?}");
        assert!(prefix_matches(&prefix, &lenient), "{text:?}: strict under {prefix:?}, lenient {lenient:?}");
    }
});
