//! Duration strings such as `12h`, `30d`, `90d`, `1y` (RunTools `expiresIn`,
//! rotation grace periods). The units are pinned here: a day is 86,400 s, a
//! week 7 days and a year 365 days, whatever other libraries think.

/// A duration string that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{0}`: expected a positive number and a unit s, m, h, d, w or y (e.g. 12h, 30d, 1y)")]
pub struct DurationError(pub String);

/// Longest accepted duration: 100 years.
const MAX_SECS: u64 = 100 * 365 * 86_400;

/// Parses a duration string into whole seconds. Several segments may be
/// combined (`1d12h`).
pub fn parse_duration(input: &str) -> Result<u64, DurationError> {
    let err = || DurationError(input.to_owned());
    let s = input.trim();
    if s.is_empty() {
        return Err(err());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        let unit = rest[digits..].chars().next().ok_or_else(err)?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            'y' => 365 * 86_400,
            _ => return Err(err()),
        };
        total = total.checked_add(n.checked_mul(secs).ok_or_else(err)?).ok_or_else(err)?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    if total == 0 || total > MAX_SECS {
        return Err(err());
    }
    Ok(total)
}

/// `secs` as the shortest duration string [`parse_duration`] reads back
/// to the same value, in days, hours, minutes and seconds (`3600` → `1h`,
/// `90` → `1m30s`, `0` → `0s`), for messages and views.
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
        if rest >= size {
            out.push_str(&(rest / size).to_string());
            out.push(unit);
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples() {
        assert_eq!(parse_duration("12h"), Ok(12 * 3600));
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("1y"), Ok(365 * 86_400));
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("1d12h"), Ok(86_400 + 12 * 3600));
    }

    #[test]
    fn formatted_durations_read_back_to_the_same_value() {
        let cases = [(1, "1s"), (90, "1m30s"), (300, "5m"), (3600, "1h"), (7 * 86_400, "7d"), (90_061, "1d1h1m1s")];
        for (secs, text) in cases {
            assert_eq!(format_duration(secs), text);
            assert_eq!(parse_duration(text), Ok(secs));
        }
        assert_eq!(format_duration(0), "0s");
        for secs in (1..200_000).step_by(997) {
            assert_eq!(parse_duration(&format_duration(secs)), Ok(secs), "{secs}");
        }
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "d", "30", "30x", "-1d", "0d", "1.5d", "101y", "99999999999d", "30 d"] {
            assert!(parse_duration(bad).is_err(), "{bad} should fail");
        }
    }
}
