//! Prefixes and object keys: what latchkey may sign a URL for.
//!
//! A workspace's files are the objects whose keys start with its prefix
//! (`orgs/{orgId}/workspaces/{wspId}/`); a caller names a file by its path
//! relative to that prefix (`notes/today.md`). A path is signed only when
//! it stays under the prefix once a URL is made of it: URLs resolve `.` and
//! `..` segments (`a/../../wsp_2/x` would name another workspace's object),
//! an empty path names the bucket itself (a DELETE of it is a DeleteBucket),
//! and a leading `/`, an empty segment or a backslash are read differently
//! by different stores (SeaweedFS keeps objects as files of a file system).
//! Control characters and keys over S3's 1024 bytes are refused too.

/// S3's limit on a whole object key, prefix included, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a prefix or a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing named.
    #[error("the path is empty")]
    Empty,
    /// A leading `/`.
    #[error("the path must be relative to the workspace (no leading `/`)")]
    Absolute,
    /// `a//b`, or a trailing `/` where an object is named.
    #[error("the path has an empty segment (`//`, or a trailing `/`)")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("the path has a `.` or `..` segment")]
    DotSegment,
    /// A control character (`\0`, newline, DEL, …) or a backslash.
    #[error("the path has a control character or a backslash")]
    Character,
    /// Over [`MAX_KEY_BYTES`] with the prefix.
    #[error("the path is too long (the whole key is at most 1024 bytes)")]
    TooLong,
}

/// A workspace's storage prefix: relative segments, each checked as a
/// path's are, ending with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix(String);

impl Prefix {
    /// A workspace's stored prefix (`Workspace::storage_prefix`, made by
    /// `latchkey_store::storage_prefix`); refused when it is not relative
    /// segments ending with `/`.
    pub fn new(prefix: &str) -> Result<Self, KeyError> {
        let segments = prefix.strip_suffix('/').ok_or(KeyError::EmptySegment)?;
        check_segments(segments)?;
        if prefix.len() >= MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        Ok(Self(prefix.to_owned()))
    }

    /// The prefix (`orgs/…/workspaces/…/`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The whole key of the object at `path` under this prefix, when `path`
    /// names one object that stays under it.
    pub fn object_key(&self, path: &str) -> Result<String, KeyError> {
        check_segments(path)?;
        self.joined(path)
    }

    /// The key prefix to list `under` (relative, empty for everything; a
    /// trailing `/` lists a folder, without one it matches the start of
    /// names, as S3's prefixes do).
    pub fn list_prefix(&self, under: &str) -> Result<String, KeyError> {
        if !under.is_empty() {
            check_segments(under.strip_suffix('/').unwrap_or(under))?;
        }
        self.joined(under)
    }

    /// The path, relative to this prefix, of a key the store listed; `None`
    /// for a key that is not under it.
    pub fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.0.as_str()).filter(|rest| !rest.is_empty())
    }

    /// `prefix + path`, refused over [`MAX_KEY_BYTES`].
    fn joined(&self, path: &str) -> Result<String, KeyError> {
        if self.0.len() + path.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        Ok(format!("{}{path}", self.0))
    }
}

/// Checks a relative path of one or more `/`-separated segments: not empty,
/// no leading `/`, no empty, `.` or `..` segment, no control character or
/// backslash, and no longer than a whole key may be.
pub fn check_segments(path: &str) -> Result<(), KeyError> {
    if path.is_empty() {
        return Err(KeyError::Empty);
    }
    if path.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong);
    }
    if path.starts_with('/') {
        return Err(KeyError::Absolute);
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err(KeyError::Character);
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(KeyError::EmptySegment),
            "." | ".." => return Err(KeyError::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wsp() -> Prefix {
        Prefix::new("orgs/org_1/workspaces/wsp_1/").unwrap()
    }

    #[test]
    fn a_path_becomes_a_key_under_the_prefix() {
        assert_eq!(wsp().as_str(), "orgs/org_1/workspaces/wsp_1/");
        assert_eq!(wsp().object_key("a.txt").unwrap(), "orgs/org_1/workspaces/wsp_1/a.txt");
        assert_eq!(wsp().object_key("dir/sub/b c+d%20.md").unwrap(), "orgs/org_1/workspaces/wsp_1/dir/sub/b c+d%20.md");
        assert_eq!(wsp().object_key("..hidden/x..y/...").unwrap(), "orgs/org_1/workspaces/wsp_1/..hidden/x..y/...");
        assert_eq!(wsp().object_key("ünï/日本.txt").unwrap(), "orgs/org_1/workspaces/wsp_1/ünï/日本.txt");
    }

    #[test]
    fn paths_that_escape_or_are_malformed_are_refused() {
        let cases = [
            ("", KeyError::Empty),
            ("/a.txt", KeyError::Absolute),
            ("//host/a", KeyError::Absolute),
            ("a//b", KeyError::EmptySegment),
            ("a/", KeyError::EmptySegment),
            ("..", KeyError::DotSegment),
            ("../wsp_2/a.txt", KeyError::DotSegment),
            ("a/../../wsp_2/x", KeyError::DotSegment),
            ("a/./b", KeyError::DotSegment),
            (".", KeyError::DotSegment),
            ("a/..", KeyError::DotSegment),
            ("a\0b", KeyError::Character),
            ("a\nb", KeyError::Character),
            ("a\rb", KeyError::Character),
            ("a\tb", KeyError::Character),
            ("a\u{7f}", KeyError::Character),
            ("a\u{85}", KeyError::Character),
            ("..\\wsp_2\\a", KeyError::Character),
        ];
        for (path, want) in cases {
            assert_eq!(wsp().object_key(path), Err(want), "{path:?}");
        }
    }

    #[test]
    fn a_key_is_at_most_1024_bytes_with_its_prefix() {
        let room = MAX_KEY_BYTES - wsp().as_str().len();
        assert_eq!(wsp().object_key(&"a".repeat(room)).unwrap().len(), MAX_KEY_BYTES);
        assert_eq!(wsp().object_key(&"a".repeat(room + 1)), Err(KeyError::TooLong));
        // Counted in bytes, not characters.
        assert_eq!(wsp().object_key(&"é".repeat(room / 2 + 1)), Err(KeyError::TooLong));
        assert_eq!(wsp().object_key(&"a".repeat(100_000)), Err(KeyError::TooLong));
        assert_eq!(Prefix::new(&format!("{}/", "a".repeat(MAX_KEY_BYTES))), Err(KeyError::TooLong));
    }

    #[test]
    fn a_prefix_is_relative_segments_ending_with_a_slash() {
        assert!(Prefix::new("orgs/org_1/workspaces/wsp_1/").is_ok());
        for bad in ["", "/", "orgs/org_1", "/orgs/x/", "orgs//x/", "orgs/../x/", "orgs/x\n/", "orgs/x//"] {
            assert!(Prefix::new(bad).is_err(), "{bad:?}");
        }
        assert!(Prefix::new("orgs/org_1/workspaces/../").is_err());
        assert!(Prefix::new("orgs//workspaces/wsp_1/").is_err());
    }

    #[test]
    fn a_listing_prefix_may_be_empty_a_folder_or_the_start_of_a_name() {
        assert_eq!(wsp().list_prefix("").unwrap(), "orgs/org_1/workspaces/wsp_1/");
        assert_eq!(wsp().list_prefix("docs/").unwrap(), "orgs/org_1/workspaces/wsp_1/docs/");
        assert_eq!(wsp().list_prefix("docs/re").unwrap(), "orgs/org_1/workspaces/wsp_1/docs/re");
        for bad in ["/", "/docs", "../", "docs//", "../wsp_10", "a/../", "x\0"] {
            assert!(wsp().list_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_listed_key_is_shown_relative_to_the_prefix_it_is_under() {
        assert_eq!(wsp().relative("orgs/org_1/workspaces/wsp_1/a/b.txt"), Some("a/b.txt"));
        assert_eq!(wsp().relative("orgs/org_1/workspaces/wsp_10/a.txt"), None);
        assert_eq!(wsp().relative("orgs/org_1/workspaces/wsp_1/"), None);
        assert_eq!(wsp().relative("other"), None);
    }
}
