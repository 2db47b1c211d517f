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
    // Straight from the system clock: `OffsetDateTime::now_utc` would
    // compute a calendar date first, on every verification.
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_the_calendar_clock() {
        let before = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let now = i128::from(now_ms());
        let after = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
    }

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

/// Days since the Unix epoch of an instant (UTC).
pub fn epoch_day(ms: Millis) -> i64 {
    ms.div_euclid(86_400_000)
}

/// `YYYY-MM-DD` of an epoch day.
pub fn day_string(epoch_day: i64) -> String {
    let date = time::Date::from_julian_day(i32::try_from(epoch_day + 2_440_588).unwrap_or(2_440_588))
        .unwrap_or(time::Date::MIN);
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// 00:00 UTC of the day of `ms`.
pub fn start_of_day(ms: Millis) -> Millis {
    epoch_day(ms) * 86_400_000
}

/// 00:00 UTC of the first day of the month of `ms`.
pub fn start_of_month(ms: Millis) -> Millis {
    let day = epoch_day(ms);
    let date =
        time::Date::from_julian_day(i32::try_from(day + 2_440_588).unwrap_or(2_440_588)).unwrap_or(time::Date::MIN);
    let day_of_month = i64::from(date.day());
    (day - (day_of_month - 1)) * 86_400_000
}

#[cfg(test)]
mod calendar_tests {
    use super::*;

    #[test]
    fn days_and_months() {
        let ms = parse_rfc3339("2026-03-17T13:45:00Z").unwrap();
        assert_eq!(day_string(epoch_day(ms)), "2026-03-17");
        assert_eq!(to_rfc3339(start_of_day(ms)), "2026-03-17T00:00:00Z");
        assert_eq!(to_rfc3339(start_of_month(ms)), "2026-03-01T00:00:00Z");
        assert_eq!(day_string(0), "1970-01-01");
        let jan1 = parse_rfc3339("2027-01-01T00:00:00Z").unwrap();
        assert_eq!(start_of_month(jan1), jan1);
        assert_eq!(start_of_month(jan1 - 1), parse_rfc3339("2026-12-01T00:00:00Z").unwrap());
    }
}
