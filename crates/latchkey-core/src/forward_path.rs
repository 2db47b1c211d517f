//! The path of a forwarded request (`X-Forwarded-Uri`, `X-Original-URI`), as
//! forward auth matches it against the route map.
//!
//! A proxy forwards the request target as the client sent it, and the
//! service behind the proxy routes it with its own rules: some decode `%2F`
//! into `/`, resolve `..`, merge `//`, drop `;` parameters or read `\` as `/`,
//! many do none of it. If latchkey read a path one way and the service
//! another, a key could be checked against one route and run another
//! (`/v1/sandboxes/..%2fpublic`). So [`normalize`] admits only paths that
//! every router reads alike, and refuses the rest ([`AmbiguousPath`]):
//!
//! * not starting with `/` (absolute-form `http://host/…`, `*`);
//! * a character outside visible ASCII, or a raw `\`, `;` or `#`;
//! * an empty segment (`//`) other than a trailing `/`, or a `.` or `..`
//!   segment;
//! * a `%` not followed by two hex digits, or encoding an unreserved
//!   character (`%73` for `s`, `%2e` for `.`), `/`, `\`, `%`, `;` or a
//!   control character (`%00`).
//!
//! What is left is the path as sent, without its query. Such a path has one
//! reading: decoding it changes no segment boundary and no character a route
//! prefix can hold (route prefixes are restricted to [`is_route_prefix`]).
//! Matching is then ASCII case-insensitive and by whole segments
//! ([`prefix_matches`]): a case-insensitive router reaches no route a
//! case-sensitive match would have missed.
//!
//! [`normalize_lenient`] is the older reading, kept for deployments that
//! choose it: decode everything, resolve dot segments, lowercase.

use std::fmt;

/// Why a forwarded path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmbiguousPath {
    /// It does not start with `/`.
    NotAbsolutePath,
    /// A character outside visible ASCII (a space, a control character,
    /// non-ASCII).
    InvalidCharacter,
    /// A raw `\`.
    Backslash,
    /// A raw `;` (a path parameter for some routers).
    Parameter,
    /// A raw `#`.
    Fragment,
    /// `//` inside the path.
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
    /// An encoded `/` or `\`.
    EncodedSeparator,
    /// An encoded control character (`%00`, `%0a`, …).
    EncodedControl,
    /// An encoded `%` (double encoding) or `;`.
    EncodedDelimiter,
    /// An encoded unreserved character (`%73`, `%2e`): two spellings of one
    /// path.
    EncodedUnreserved,
}

impl AmbiguousPath {
    /// A short description for an error message.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotAbsolutePath => "the path does not start with `/`",
            Self::InvalidCharacter => "the path holds a character outside visible ASCII",
            Self::Backslash => "the path holds a `\\`",
            Self::Parameter => "the path holds a `;` parameter",
            Self::Fragment => "the path holds a `#`",
            Self::EmptySegment => "the path holds an empty segment (`//`)",
            Self::DotSegment => "the path holds a `.` or `..` segment",
            Self::BadPercentEncoding => "the path holds a `%` that is not followed by two hex digits",
            Self::EncodedSeparator => "the path holds an encoded `/` or `\\`",
            Self::EncodedControl => "the path holds an encoded control character",
            Self::EncodedDelimiter => "the path holds an encoded `%` or `;`",
            Self::EncodedUnreserved => "the path holds a percent-encoded letter, digit or `-._~`",
        }
    }
}

impl fmt::Display for AmbiguousPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl std::error::Error for AmbiguousPath {}

/// Whether `b` is an RFC 3986 unreserved character.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The path of a forwarded request target, without its query, if every
/// router reads it alike; see the [module documentation](self). Borrows
/// from `uri`: no allocation.
pub fn normalize(uri: &str) -> Result<&str, AmbiguousPath> {
    let path = uri.split_once('?').map_or(uri, |(path, _)| path);
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(AmbiguousPath::NotAbsolutePath);
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let (Some(hi), Some(lo)) =
                    (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
                else {
                    return Err(AmbiguousPath::BadPercentEncoding);
                };
                let decoded = hi * 16 + lo;
                match decoded {
                    b'/' | b'\\' => return Err(AmbiguousPath::EncodedSeparator),
                    b'%' | b';' => return Err(AmbiguousPath::EncodedDelimiter),
                    0..=0x1f | 0x7f => return Err(AmbiguousPath::EncodedControl),
                    b if is_unreserved(b) => return Err(AmbiguousPath::EncodedUnreserved),
                    _ => {}
                }
                i += 3;
                continue;
            }
            b'\\' => return Err(AmbiguousPath::Backslash),
            b';' => return Err(AmbiguousPath::Parameter),
            b'#' => return Err(AmbiguousPath::Fragment),
            b'!'..=b'~' => {}
            _ => return Err(AmbiguousPath::InvalidCharacter),
        }
        i += 1;
    }
    // Segments between the leading `/` and an optional trailing one.
    let inner = &path[1..];
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if path.len() > 1 {
        for segment in inner.split('/') {
            match segment {
                "" => return Err(AmbiguousPath::EmptySegment),
                "." | ".." => return Err(AmbiguousPath::DotSegment),
                _ => {}
            }
        }
    }
    Ok(path)
}

/// Whether `prefix` may be a route-map prefix: it starts with `/` and holds
/// only letters, digits, `-._~` and `/`, with no empty, `.` or `..` segment.
/// (So no spelling of a matching path that a router decodes can differ from
/// the one latchkey matched.)
pub fn is_route_prefix(prefix: &str) -> bool {
    prefix.bytes().all(|b| is_unreserved(b) || b == b'/') && normalize(prefix).is_ok()
}

/// Whether `path` lies under `prefix`: equal, or continuing with a `/`
/// (whole segments), ASCII case-insensitively, ignoring a trailing `/` of
/// either. `/` is under every path.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    let path = path.strip_suffix('/').unwrap_or(path);
    if prefix.is_empty() {
        return true;
    }
    path.len() >= prefix.len()
        && path.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        && path.as_bytes().get(prefix.len()).is_none_or(|b| *b == b'/')
}

/// The older, lenient reading: query dropped, everything percent-decoded
/// (`%2F` included), `\` read as `/`, empty and `.` segments removed, `..`
/// resolved, lowercased. Never refuses; only safe when the service behind
/// the proxy reads paths exactly this way.
pub fn normalize_lenient(uri: &str) -> String {
    let raw = uri.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy().to_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use AmbiguousPath as A;

    #[test]
    fn plain_paths_pass_as_sent_without_their_query() {
        for (uri, path) in [
            ("/", "/"),
            ("/v1/sandboxes", "/v1/sandboxes"),
            ("/v1/sandboxes/", "/v1/sandboxes/"),
            ("/v1/sandboxes?x=../a%2fb;c", "/v1/sandboxes"),
            ("/V1/Sandboxes/sbx_01", "/V1/Sandboxes/sbx_01"),
            ("/v1/files/a%20b", "/v1/files/a%20b"),
            ("/v1/files/%C3%A9t%C3%A9", "/v1/files/%C3%A9t%C3%A9"),
            ("/v1/files/a%3Fb", "/v1/files/a%3Fb"),
            ("/v1/a:b@c!$&'()*+,=", "/v1/a:b@c!$&'()*+,="),
            ("/v1/.well-known/x", "/v1/.well-known/x"),
            ("/v1/...", "/v1/..."),
        ] {
            assert_eq!(normalize(uri), Ok(path), "{uri}");
        }
    }

    #[test]
    fn d08_ambiguous_spellings_are_refused() {
        for (uri, why) in [
            ("", A::NotAbsolutePath),
            ("*", A::NotAbsolutePath),
            ("v1/sandboxes", A::NotAbsolutePath),
            ("http://evil/v1/sandboxes", A::NotAbsolutePath),
            ("/v1/sandboxes/..%2fpublic", A::EncodedSeparator),
            ("/v1/sandboxes%2f..%2fpublic", A::EncodedSeparator),
            ("/v1/sandboxes%2F", A::EncodedSeparator),
            ("/v1/sandboxes%5c..%5cpublic", A::EncodedSeparator),
            ("/v1/sandboxes\\..\\public", A::Backslash),
            ("/v1/sandboxes/../public", A::DotSegment),
            ("/v1/sandboxes/..", A::DotSegment),
            ("/v1/./sandboxes", A::DotSegment),
            ("/v1/sandboxes/.", A::DotSegment),
            ("/v1/sandboxes/%2e%2e/public", A::EncodedUnreserved),
            ("/v1/sandboxes/.%2E/public", A::EncodedUnreserved),
            ("/v1/%73andboxes", A::EncodedUnreserved),
            ("//v1/sandboxes", A::EmptySegment),
            ("/v1//sandboxes", A::EmptySegment),
            ("/v1/sandboxes;x=1/../public", A::Parameter),
            ("/v1/public;/../sandboxes", A::Parameter),
            ("/v1/public%3b", A::EncodedDelimiter),
            ("/v1/public%252f..", A::EncodedDelimiter),
            ("/v1/public%00.json", A::EncodedControl),
            ("/v1/public%0a", A::EncodedControl),
            ("/v1/public%7F", A::EncodedControl),
            ("/v1/public#/../sandboxes", A::Fragment),
            ("/v1/public%", A::BadPercentEncoding),
            ("/v1/public%2", A::BadPercentEncoding),
            ("/v1/public%zz", A::BadPercentEncoding),
            ("/v1/sand boxes", A::InvalidCharacter),
            ("/v1/sandboxes\t", A::InvalidCharacter),
            ("/v1/sandboxes\0", A::InvalidCharacter),
            ("/v1/étés", A::InvalidCharacter),
        ] {
            assert_eq!(normalize(uri), Err(why), "{uri:?}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments_case_insensitively() {
        for (prefix, path, matches) in [
            ("/v1/sandboxes", "/v1/sandboxes", true),
            ("/v1/sandboxes", "/v1/sandboxes/", true),
            ("/v1/sandboxes", "/v1/sandboxes/sbx_1", true),
            ("/v1/sandboxes/", "/v1/sandboxes", true),
            ("/v1/sandboxes", "/V1/SandBoxes/x", true),
            ("/v1/sandboxes", "/v1/sandboxes-old", false),
            ("/v1/sandboxes", "/v1/sandbox", false),
            ("/v1/sandboxes", "/v1", false),
            ("/", "/anything", true),
            ("/", "/", true),
        ] {
            assert_eq!(prefix_matches(prefix, path), matches, "{prefix} vs {path}");
        }
    }

    #[test]
    fn route_prefixes_are_plain() {
        assert!(is_route_prefix("/v1/sandboxes"));
        assert!(is_route_prefix("/"));
        assert!(is_route_prefix("/v1/sandboxes/"));
        for bad in ["v1", "/v1/%73", "/v1//x", "/v1/../x", "/v1/a:b", "/v1/a;b", "/v1/é"] {
            assert!(!is_route_prefix(bad), "{bad}");
        }
    }

    #[test]
    fn the_lenient_reading_decodes_and_resolves() {
        for (uri, path) in [
            ("/v1/%73andboxes", "/v1/sandboxes"),
            ("//v1/sandboxes", "/v1/sandboxes"),
            ("/v1/x/../sandboxes", "/v1/sandboxes"),
            ("/V1/Sandboxes?a=b", "/v1/sandboxes"),
            ("/v1/sandboxes/..%2fpublic", "/v1/public"),
        ] {
            assert_eq!(normalize_lenient(uri), path, "{uri}");
        }
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        /// Segments of plain characters, as route prefixes and ordinary
        /// paths are made of.
        fn segment() -> impl Strategy<Value = String> {
            "[A-Za-z0-9_~-]{1,8}(\\.[a-z]{1,3})?"
        }

        fn path() -> impl Strategy<Value = String> {
            (proptest::collection::vec(segment(), 1..6), any::<bool>())
                .prop_map(|(segs, slash)| format!("/{}{}", segs.join("/"), if slash { "/" } else { "" }))
        }

        proptest! {
            /// Whatever it is given, `normalize` answers, and what it admits
            /// holds nothing a router could read two ways.
            #[test]
            fn admitted_paths_have_one_reading(uri in "\\PC{0,40}") {
                if let Ok(p) = normalize(&uri) {
                    prop_assert!(p.starts_with('/'));
                    prop_assert!(uri.starts_with(p));
                    let lower = p.to_ascii_lowercase();
                    for bad in ["%2f", "%5c", "%25", "%00", "%2e", "\\", ";", "#", "//", "/./", "/../"] {
                        prop_assert!(!lower.contains(bad), "{} in {}", bad, p);
                    }
                    prop_assert!(!lower.ends_with("/.") && !lower.ends_with("/.."));
                }
            }

            /// On a path that `normalize` admits, the lenient reading lands
            /// on the same route: the two readings differ only in case and a
            /// trailing slash.
            #[test]
            fn strict_and_lenient_agree_on_plain_paths(p in path(), q in "[a-z=&%./]{0,12}") {
                let uri = format!("{p}?{q}");
                let strict = normalize(&uri).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let lenient = normalize_lenient(&uri);
                let trimmed = strict.strip_suffix('/').unwrap_or(strict).to_lowercase();
                prop_assert_eq!(lenient, trimmed);
            }

            /// Splicing an encoded separator, a dot segment or a parameter
            /// into a plain path is always refused.
            #[test]
            fn spliced_ambiguities_are_refused(
                p in path(),
                at in any::<prop::sample::Index>(),
                bad in prop::sample::select(vec!["%2f", "%2F", "%5c", "/..", "/.", ";", "%00", "\\", "%2e", "/", "%252f"]),
            ) {
                let cut = at.index(p.len() - 1) + 1;
                let uri = format!("{}{}{}", &p[..cut], bad, &p[cut..]);
                let lower = uri.to_ascii_lowercase();
                // A spliced `/` or `/.` can land as a plain separator or inside
                // a name (`a/.b`); only count those that made an ambiguity.
                let made = lower.contains("//") || lower.contains("/./") || lower.contains("/../")
                    || lower.ends_with("/.") || lower.ends_with("/..") || !matches!(bad, "/" | "/." | "/..");
                prop_assume!(made);
                prop_assert!(normalize(&uri).is_err(), "{} admitted", uri);
            }

            /// Matching never panics and `/` matches every admitted path.
            #[test]
            fn the_root_prefix_matches_everything(p in path(), prefix in path()) {
                prop_assert!(prefix_matches("/", &p));
                let _ = prefix_matches(&prefix, &p);
            }
        }
    }
}
