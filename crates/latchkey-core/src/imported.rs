//! Keys issued by another system and imported into latchkey by their hash
//! (`POST /v1/api-keys/import`): how such a hash is written, and how the
//! verification path tells a presented string of another format from
//! latchkey's own before any lookup ([`classify`]).
//!
//! latchkey stores the SHA-256 of the whole presented key ([`KeyHash::of`]),
//! which is what a home-grown table (hex), Unkey (base64) and better-auth's
//! API-key plugin (base64url) store too: an imported key verifies by the
//! same lookup as an issued one, without its checksum.

use base64ct::Encoding as _;

use crate::key::{KeyFormatError, KeyHash, PlainKey};

/// Shortest presented string looked up as another system's key.
pub const MIN_FOREIGN_KEY_LEN: usize = 16;
/// Longest presented string looked up as another system's key.
pub const MAX_FOREIGN_KEY_LEN: usize = 256;

/// How a SHA-256 is written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashEncoding {
    /// 64 hexadecimal digits (either case; written lowercase).
    Hex,
    /// Standard base64 (RFC 4648 §4), with or without its `=` padding
    /// (written with it).
    Base64,
    /// URL-safe base64 (RFC 4648 §5), with or without padding (written
    /// without, as better-auth writes it).
    Base64Url,
}

impl HashEncoding {
    /// The wire form (`hex`, `base64`, `base64url`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::Base64 => "base64",
            Self::Base64Url => "base64url",
        }
    }
}

impl KeyHash {
    /// A SHA-256 written as `encoding`; `None` unless `text` is exactly 32
    /// bytes so written.
    pub fn decode(encoding: HashEncoding, text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        let n = match encoding {
            HashEncoding::Hex => {
                if text.len() != 64 {
                    return None;
                }
                hex::decode_to_slice(text, &mut out).ok()?;
                32
            }
            HashEncoding::Base64 if text.ends_with('=') => base64ct::Base64::decode(text, &mut out).ok()?.len(),
            HashEncoding::Base64 => base64ct::Base64Unpadded::decode(text, &mut out).ok()?.len(),
            HashEncoding::Base64Url if text.ends_with('=') => base64ct::Base64Url::decode(text, &mut out).ok()?.len(),
            HashEncoding::Base64Url => base64ct::Base64UrlUnpadded::decode(text, &mut out).ok()?.len(),
        };
        (n == 32).then(|| Self::from_bytes(&out)).flatten()
    }

    /// The hash written as `encoding`.
    pub fn encode(&self, encoding: HashEncoding) -> String {
        match encoding {
            HashEncoding::Hex => hex::encode(self.as_bytes()),
            HashEncoding::Base64 => base64ct::Base64::encode_string(self.as_bytes()),
            HashEncoding::Base64Url => base64ct::Base64UrlUnpadded::encode_string(self.as_bytes()),
        }
    }
}

/// What a presented string is, decided from its text alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// latchkey's format with a matching checksum: look it up by this hash.
    Issued(KeyHash),
    /// Refused without a lookup: latchkey's format under a prefix latchkey
    /// issues, with a wrong checksum (a typo), or text no system's key
    /// could be (too short or long, spaces, control characters).
    Refused(KeyFormatError),
    /// Another format: a key imported by its hash may be it
    /// ([`KeyHash::of`] the whole string, when the caller looks it up).
    Foreign,
}

/// Classifies a presented string before any lookup. `issued` says whether
/// a prefix (`lk_live_`) is one latchkey issues keys under: a string of
/// latchkey's shape with a wrong checksum under such a prefix is a typo,
/// refused as [`PlainKey::hash_presented`] refuses it; under another
/// prefix it may be another system's key. Anything else of
/// [`MIN_FOREIGN_KEY_LEN`] to [`MAX_FOREIGN_KEY_LEN`] visible ASCII
/// characters is [`Presented::Foreign`].
pub fn classify(presented: &str, issued: impl FnOnce(&str) -> bool) -> Presented {
    match PlainKey::hash_presented(presented) {
        Ok(hash) => Presented::Issued(hash),
        Err(KeyFormatError::Checksum) if issued(PlainKey::prefix_of_shaped(presented)) => {
            Presented::Refused(KeyFormatError::Checksum)
        }
        Err(e) => {
            let foreign = (MIN_FOREIGN_KEY_LEN..=MAX_FOREIGN_KEY_LEN).contains(&presented.len())
                && presented.bytes().all(|b| b.is_ascii_graphic());
            if foreign { Presented::Foreign } else { Presented::Refused(e) }
        }
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::key::{Environment, KeyPrefix};

    /// The three encodings other systems store, as they write them, decode
    /// to [`KeyHash::of`] the key; latchkey writes them back the same way.
    #[test]
    fn hashes_decode_in_every_encoding_and_round_trip() {
        let key = "prod_3ZdHXcXzvqHxY7mBUNkgXdoV";
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let hex_text = hex::encode(digest);
        let b64 = base64ct::Base64::encode_string(&digest);
        let b64url = base64ct::Base64UrlUnpadded::encode_string(&digest);
        let want = KeyHash::of(key);
        for (enc, text) in [
            (HashEncoding::Hex, hex_text.clone()),
            (HashEncoding::Hex, hex_text.to_uppercase()),
            (HashEncoding::Base64, b64.clone()),
            (HashEncoding::Base64, b64.trim_end_matches('=').to_owned()),
            (HashEncoding::Base64Url, b64url.clone()),
            (HashEncoding::Base64Url, format!("{b64url}=")),
        ] {
            assert_eq!(KeyHash::decode(enc, &text), Some(want), "{enc:?} {text}");
        }
        assert_eq!(want.encode(HashEncoding::Hex), hex_text);
        assert_eq!(want.encode(HashEncoding::Base64), b64);
        assert_eq!(want.encode(HashEncoding::Base64Url), b64url);
    }

    #[test]
    fn anything_but_32_bytes_in_the_named_encoding_is_refused() {
        let hash = KeyHash::of("x");
        let (hex_text, b64) = (hash.encode(HashEncoding::Hex), hash.encode(HashEncoding::Base64));
        for (enc, text) in [
            (HashEncoding::Hex, ""),
            (HashEncoding::Hex, &hex_text[2..]),
            (HashEncoding::Hex, &format!("{hex_text}00")),
            (HashEncoding::Hex, &format!("zz{}", &hex_text[2..])),
            (HashEncoding::Hex, &b64),
            (HashEncoding::Base64, &b64[4..]),
            (HashEncoding::Base64, &base64ct::Base64::encode_string(&[7u8; 31])),
            (HashEncoding::Base64, &base64ct::Base64::encode_string(&[7u8; 33])),
            (HashEncoding::Base64Url, &hex_text),
        ] {
            assert_eq!(KeyHash::decode(enc, text), None, "{enc:?} {text}");
        }
        // The alphabets are not mixed up: `+`/`/` is base64, `-`/`_` base64url.
        let digest = (0u8..32).map(|i| 0xfb ^ i).collect::<Vec<_>>();
        let std_text = base64ct::Base64::encode_string(&digest);
        let url_text = base64ct::Base64UrlUnpadded::encode_string(&digest);
        assert!(std_text.contains(['+', '/']) && url_text.contains(['-', '_']), "{std_text} {url_text}");
        assert!(KeyHash::decode(HashEncoding::Base64Url, &std_text).is_none());
        assert!(KeyHash::decode(HashEncoding::Base64, &url_text).is_none());
    }

    #[test]
    fn presented_strings_are_classified_before_any_lookup() {
        let live = KeyPrefix::branded("lk", Environment::Live).unwrap();
        let issued = |p: &str| p == "lk_live_" || p == "lk_test_";
        let key = PlainKey::generate(&live);
        assert_eq!(classify(key.expose(), issued), Presented::Issued(key.hash()));
        // A typo in a key of an issued prefix: refused, never looked up.
        let text = key.expose();
        let last = if text.ends_with('A') { 'B' } else { 'A' };
        let typo = format!("{}{last}", &text[..text.len() - 1]);
        assert_eq!(classify(&typo, issued), Presented::Refused(KeyFormatError::Checksum));
        // The same shape under a prefix latchkey does not issue may be
        // another system's key.
        let theirs = format!("zz_live_{}", &typo["lk_live_".len()..]);
        assert_eq!(classify(&theirs, issued), Presented::Foreign);
        for foreign in [
            "prod_3ZdHXcXzvqHxY7mBUNkgXdoV",
            "ba_fTwZqGzFBKcYxLmtzsXkRqvpNwoyEMdgyzfCXhnzkMtNldSRIjZmLdHQCtCMNxoT",
            "0123456789abcdef",
            "sk-proj.abc+def/ghi=",
        ] {
            assert_eq!(classify(foreign, issued), Presented::Foreign, "{foreign}");
        }
        let long = "a".repeat(MAX_FOREIGN_KEY_LEN + 1);
        for refused in [
            "",
            "short",
            "0123456789abcde",
            "with a space in it",
            "tab\there-0123456789",
            &long,
            "é".repeat(20).as_str(),
        ] {
            assert_eq!(classify(refused, issued), Presented::Refused(KeyFormatError::Malformed), "{refused}");
        }
        assert_eq!(classify(&"a".repeat(MAX_FOREIGN_KEY_LEN), issued), Presented::Foreign);
    }
}
