//! Secret names, categories and values: what may be stored.

/// Longest secret name.
pub const MAX_NAME_LEN: usize = 128;
/// Longest category.
pub const MAX_CATEGORY_LEN: usize = 64;
/// Largest secret value, in bytes.
pub const MAX_VALUE_LEN: usize = 32 * 1024;

/// Whether `name` is a secret name: 1–128 of `A-Z`, `0-9`, `_`
/// (`ANTHROPIC_API_KEY`).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `category` is a category: 1–64 of `a-z`, `0-9`, `-`, `_`
/// (`provider`, `tool`, …).
pub fn is_valid_category(category: &str) -> bool {
    !category.is_empty()
        && category.len() <= MAX_CATEGORY_LEN
        && category.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_categories() {
        for good in ["A", "ANTHROPIC_API_KEY", "X1_2", &"A".repeat(128)] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "lower", "A-B", "A B", "É", &"A".repeat(129), "A\n"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        for good in ["provider", "tool", "ci-cd", "x_1"] {
            assert!(is_valid_category(good), "{good}");
        }
        for bad in ["", "Provider", "a b", &"a".repeat(65)] {
            assert!(!is_valid_category(bad), "{bad}");
        }
    }
}
