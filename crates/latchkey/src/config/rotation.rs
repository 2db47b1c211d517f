//! `[rotation]` in `latchkey.toml`, and its environment variables (which
//! win over the file):
//!
//! ```toml
//! [rotation]
//! # How often each node looks for old keys rotated `until-unused` that
//! # have gone unused (LATCHKEY_ROTATION_SWEEP_INTERVAL).
//! sweep_interval = "15s"
//! # The shortest `quietFor` a rotation may ask for
//! # (LATCHKEY_ROTATION_MIN_QUIET_FOR). Below a few minutes, a use on
//! # another node not yet written may be missed (README, "Rotation until
//! # unused"); tests lower it.
//! min_quiet_for = "5m"
//! ```

use std::time::Duration;

use anyhow::Context;
use latchkey_server::rotation::RotationSettings;
use serde::Deserialize;

use super::webhooks::duration;

/// `[rotation]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationConfig {
    /// The sweeper's period.
    pub sweep_interval: Option<String>,
    /// The shortest `quietFor`.
    pub min_quiet_for: Option<String>,
}

/// Applies the table, then the environment as `env` reads it, to
/// `settings`.
pub fn apply(
    c: RotationConfig,
    env: impl Fn(&str) -> Option<String>,
    settings: &mut RotationSettings,
) -> anyhow::Result<()> {
    let sweep = env("LATCHKEY_ROTATION_SWEEP_INTERVAL").or(c.sweep_interval);
    if let Some(t) = sweep {
        settings.sweep_interval = duration(&t).context("rotation.sweep_interval")?;
    }
    let min = env("LATCHKEY_ROTATION_MIN_QUIET_FOR").or(c.min_quiet_for);
    if let Some(t) = min {
        let secs =
            latchkey_core::parse_duration(&t).map_err(|e| anyhow::anyhow!("{e}")).context("rotation.min_quiet_for")?;
        anyhow::ensure!(secs <= 30 * 86_400, "rotation.min_quiet_for must be at most 30d");
        settings.min_quiet_for = Duration::from_secs(secs);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_environment_are_read_and_checked() {
        let c: RotationConfig = toml::from_str("sweep_interval = \"200ms\"\nmin_quiet_for = \"1s\"").unwrap();
        let mut s = RotationSettings::default();
        apply(c, |_| None, &mut s).unwrap();
        assert_eq!((s.sweep_interval, s.min_quiet_for), (Duration::from_millis(200), Duration::from_secs(1)));
        let defaults = RotationSettings::default();
        assert_eq!(
            (defaults.sweep_interval, defaults.min_quiet_for),
            (Duration::from_secs(15), Duration::from_secs(300))
        );

        // The environment wins over the file.
        let c = RotationConfig { sweep_interval: Some("1m".into()), min_quiet_for: Some("10m".into()) };
        let env = |name: &str| match name {
            "LATCHKEY_ROTATION_SWEEP_INTERVAL" => Some("5s".to_owned()),
            "LATCHKEY_ROTATION_MIN_QUIET_FOR" => Some("2m".to_owned()),
            _ => None,
        };
        apply(c, env, &mut s).unwrap();
        assert_eq!((s.sweep_interval, s.min_quiet_for), (Duration::from_secs(5), Duration::from_secs(120)));

        for (sweep, min) in
            [(Some("0s"), None), (Some("soon"), None), (None, Some("0s")), (None, Some("31d")), (None, Some("1ms"))]
        {
            let c = RotationConfig { sweep_interval: sweep.map(Into::into), min_quiet_for: min.map(Into::into) };
            assert!(apply(c, |_| None, &mut RotationSettings::default()).is_err(), "{sweep:?} {min:?}");
        }
        assert!(toml::from_str::<RotationConfig>("sweep = \"1s\"").is_err(), "unknown fields are refused");
    }
}
