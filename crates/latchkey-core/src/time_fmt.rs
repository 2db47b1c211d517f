//! Timestamps: stored as milliseconds since the Unix epoch, shown as RFC 3339
//! in UTC (`2023-11-07T05:31:56.123Z`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Formats epoch milliseconds as RFC 3339 UTC.
pub fn to_rfc3339(ms: Millis) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// Parses an RFC 3339 timestamp into epoch milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> Millis {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ms = 1_699_335_116_123;
        let s = to_rfc3339(ms);
        assert_eq!(s, "2023-11-07T05:31:56.123Z");
        assert_eq!(parse_rfc3339(&s), Some(ms));
        assert_eq!(parse_rfc3339("2025-06-01T00:00:00Z"), Some(1_748_736_000_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
