//! `[webhooks]` in `latchkey.toml`:
//!
//! ```toml
//! [webhooks]
//! # Endpoints on loopback, private, link-local or metadata addresses
//! # (refused by default, at creation and at each delivery).
//! allow_private_targets = false
//! # Delays before the 2nd, 3rd, … attempt (each gets up to 10 % jitter);
//! # the default is below. Units: ms, s, m, h, d.
//! retry_schedule = ["5s", "5m", "30m", "2h", "5h", "10h", "1d", "1d", "1d"]
//! # An endpoint whose attempts all failed for this long is disabled.
//! disable_after = "5d"
//! # How often an idle node looks for due deliveries, and how often the
//! # scheduler looks for expiring keys and spent credits.
//! poll_interval = "500ms"
//! schedule_interval = "1m"
//! ```

use std::time::Duration;

use anyhow::Context;
use latchkey_server::webhooks::WebhookSettings;
use serde::Deserialize;

/// `[webhooks]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Whether endpoints may be on private addresses.
    pub allow_private_targets: Option<bool>,
    /// Delays between attempts.
    pub retry_schedule: Option<Vec<String>>,
    /// Failing for this long disables an endpoint.
    pub disable_after: Option<String>,
    /// Idle poll for due deliveries.
    pub poll_interval: Option<String>,
    /// The scheduler's period.
    pub schedule_interval: Option<String>,
}

/// `250ms`, or a duration of whole seconds (`5s`, `5m`, `1d`, …); more than
/// nothing, at most 30 days.
pub(super) fn duration(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let d = match t.strip_suffix("ms") {
        Some(ms) if !ms.is_empty() && ms.bytes().all(|b| b.is_ascii_digit()) => {
            Duration::from_millis(ms.parse().context("milliseconds")?)
        }
        _ => Duration::from_secs(latchkey_core::parse_duration(t).map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    anyhow::ensure!(!d.is_zero() && d <= Duration::from_secs(30 * 86_400), "`{t}` must be between 1ms and 30d");
    Ok(d)
}

/// Applies the table to `settings`.
pub fn apply(c: WebhooksConfig, settings: &mut WebhookSettings) -> anyhow::Result<()> {
    if let Some(allow) = c.allow_private_targets {
        settings.allow_private_targets = allow;
    }
    if let Some(schedule) = c.retry_schedule {
        anyhow::ensure!(schedule.len() <= 50, "webhooks.retry_schedule: at most 50 delays");
        settings.retry_schedule =
            schedule.iter().map(|s| duration(s)).collect::<anyhow::Result<_>>().context("webhooks.retry_schedule")?;
    }
    if let Some(t) = c.disable_after {
        settings.disable_after = duration(&t).context("webhooks.disable_after")?;
    }
    if let Some(t) = c.poll_interval {
        settings.poll_interval = duration(&t).context("webhooks.poll_interval")?;
    }
    if let Some(t) = c.schedule_interval {
        settings.schedule_interval = duration(&t).context("webhooks.schedule_interval")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_read_and_checked() {
        let c: WebhooksConfig = toml::from_str(
            "allow_private_targets = true\nretry_schedule = [\"200ms\", \"1s\", \"5m\"]\ndisable_after = \"2s\"\n\
             poll_interval = \"50ms\"",
        )
        .unwrap();
        let mut s = WebhookSettings::default();
        apply(c, &mut s).unwrap();
        assert!(s.allow_private_targets);
        assert_eq!(s.retry_schedule, [Duration::from_millis(200), Duration::from_secs(1), Duration::from_secs(300)]);
        assert_eq!((s.disable_after, s.poll_interval), (Duration::from_secs(2), Duration::from_millis(50)));
        assert_eq!(WebhookSettings::default().retry_schedule.len(), 9, "5s … 10h, then daily for 3 days");
        for bad in ["0ms", "0s", "soon", "31d", "-1s"] {
            let c = WebhooksConfig { poll_interval: Some(bad.to_owned()), ..WebhooksConfig::default() };
            assert!(apply(c, &mut WebhookSettings::default()).is_err(), "{bad}");
        }
    }
}
