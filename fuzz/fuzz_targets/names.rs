//! Names and emails people give: an accepted name has no display control
//! and is trimmed; escaping leaves nothing a terminal acts on and changes
//! nothing in a clean text.
#![no_main]

use latchkey_core::text::{check_email, check_name, escape_controls, is_display_control};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(name) = check_name(text) {
        assert!(!name.chars().any(is_display_control));
        assert_eq!(name, name.trim());
        assert!(!name.is_empty() && name.chars().count() <= 255);
        assert_eq!(escape_controls(name), name);
    }
    if let Some(email) = check_email(text) {
        assert!(!email.chars().any(|c| c.is_whitespace() || is_display_control(c)));
        assert_eq!(check_email(&email).as_deref(), Some(email.as_str()));
    }
    let escaped = escape_controls(text);
    assert!(!escaped.chars().any(is_display_control));
});
