//! Text that people read: the names they give things, shown back in tables,
//! terminals and pages.
//!
//! Names refuse, and printers escape, the characters that change how the
//! text around them is displayed: C0 and C1 controls and DEL (ESC starts a
//! terminal escape sequence, CR and LF forge lines, NUL truncates), the
//! Unicode bidirectional controls (which reorder what is shown: "Trojan
//! Source") and the line and paragraph separators.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty or only whitespace.
    #[error("name must not be empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("name must be at most {MAX_NAME_CHARS} characters")]
    TooLong,
    /// Holds a character that [`is_display_control`].
    #[error("name must not contain control characters (found {})", escape_char(*.0))]
    Control(char),
}

/// Whether `c` changes how the text around it is displayed (see the module
/// doc).
pub fn is_display_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// A name as stored: trimmed, 1–255 characters, no display controls.
pub fn check_name(name: &str) -> Result<&str, NameError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = trimmed.chars().find(|&c| is_display_control(c)) {
        return Err(NameError::Control(c));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(trimmed)
}

/// An email address as stored: trimmed, lowercased, at most 254 bytes, one
/// `@` with a non-empty local part and a dotted domain, no whitespace or
/// display controls. `None` if it is not plausibly an address.
pub fn check_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || is_display_control(c))
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    valid.then_some(e)
}

/// The first `max` characters of `text` (cut on a character boundary),
/// for the audit trail's copies of what a caller sent.
pub fn clip(text: &str, max: usize) -> &str {
    text.char_indices().nth(max).map_or(text, |(at, _)| &text[..at])
}

/// `text` with every display control written as `\u{…}`, for printing what
/// a server or a database holds (which may predate [`check_name`]) to a
/// terminal. Borrowed when there is nothing to escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_display_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_display_control(c) {
            out.push_str(&escape_char(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape_char(c: char) -> String {
    let mut s = String::with_capacity(10);
    let _ = write!(s, "\\u{{{:x}}}", u32::from(c));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_every_display_control() {
        for bad in [
            "a\0b",
            "\u{1b}[31mred",
            "line\nforged",
            "cr\rlf",
            "tab\there",
            "del\u{7f}",
            "c1\u{85}x",
            "c1\u{9b}31m",
            "rlo\u{202e}gnp.exe",
            "lri\u{2066}x",
            "pdi\u{2069}",
            "alm\u{61c}",
            "lrm\u{200e}",
            "ls\u{2028}x",
            "ps\u{2029}x",
        ] {
            assert!(matches!(check_name(bad), Err(NameError::Control(_))), "{bad:?} was accepted");
        }
    }

    #[test]
    fn names_keep_ordinary_text_and_are_trimmed() {
        for good in ["ci", "Déploiement — prod", "日本語のキー", "👩‍💻 team", "a b"] {
            assert_eq!(check_name(good), Ok(good));
        }
        assert_eq!(check_name("  padded  "), Ok("padded"));
        assert_eq!(check_name(" \t "), Err(NameError::Empty));
        assert_eq!(check_name(&"x".repeat(255)).map(str::len), Ok(255));
        assert_eq!(check_name(&"x".repeat(256)), Err(NameError::TooLong));
    }

    #[test]
    fn emails_are_lowercased_and_plausible() {
        assert_eq!(check_email(" Ada@Example.COM ").as_deref(), Some("ada@example.com"));
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@example",
            "ada@.com",
            "ada@com.",
            "a@b@c.com",
            "a da@x.com",
            "a\u{202e}@x.com",
        ] {
            assert_eq!(check_email(bad), None, "{bad:?}");
        }
        assert_eq!(check_email(&format!("{}@x.com", "a".repeat(250))), None);
    }

    #[test]
    fn the_refusal_names_the_character_escaped() {
        let msg = check_name("a\u{1b}b").unwrap_err().to_string();
        assert!(msg.contains("\\u{1b}") && !msg.contains('\u{1b}'), "{msg}");
    }

    #[test]
    fn escaping_leaves_nothing_a_terminal_would_act_on() {
        assert!(matches!(escape_controls("plain"), Cow::Borrowed("plain")));
        assert_eq!(escape_controls("\u{1b}[2Jx\r\n\u{202e}"), "\\u{1b}[2Jx\\u{d}\\u{a}\\u{202e}");
    }

    proptest::proptest! {
        #[test]
        fn escaped_text_has_no_display_control(s in ".*") {
            proptest::prop_assert!(!escape_controls(&s).chars().any(is_display_control));
        }
    }
}
