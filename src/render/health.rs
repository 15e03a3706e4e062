//! The health check a deployment declares: `healthCheck` of
//! `/exports/manifest.json`, else the image config's Docker `Healthcheck`
//! (as `docker build` records `HEALTHCHECK`). The tool runs it inside the
//! container; this module only reads and bounds it.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A health check, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HealthCheck {
    /// The command run inside the container (argv).
    pub command: Vec<String>,
    pub interval: f64,
    pub timeout: f64,
    pub retries: u32,
    pub start_period: f64,
}

/// `healthCheck` of the manifest, as the image writes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestHealth {
    pub command: Vec<String>,
    pub interval: Option<f64>,
    pub timeout: Option<f64>,
    pub retries: Option<u32>,
    pub start_period: Option<f64>,
}

/// Docker's defaults: a check every 30 s, 30 s to answer, 3 tries.
const INTERVAL: f64 = 30.0;
const TIMEOUT: f64 = 30.0;
const RETRIES: u32 = 3;

/// The longest interval, timeout or start period taken: a day.
const LONGEST: f64 = 86_400.0;

/// The wait for a deployment without a check, or the deadline when nothing
/// else gives one.
pub const DEFAULT_DEADLINE: f64 = 30.0;

impl HealthCheck {
    /// The deployment's check: the manifest's, else the image config's,
    /// else none. A check that cannot be run as written is refused,
    /// naming where it came from.
    pub fn of(
        manifest: Option<&ManifestHealth>,
        image_config: &Value,
    ) -> Result<Option<HealthCheck>> {
        if let Some(m) = manifest {
            let check = HealthCheck {
                command: m.command.clone(),
                interval: m.interval.unwrap_or(INTERVAL),
                timeout: m.timeout.unwrap_or(TIMEOUT),
                retries: m.retries.unwrap_or(RETRIES),
                start_period: m.start_period.unwrap_or(0.0),
            };
            return check
                .checked("healthCheck of /exports/manifest.json")
                .map(Some);
        }
        let h = &image_config["config"]["Healthcheck"];
        if h.is_null() {
            return Ok(None);
        }
        let what = "Healthcheck of the image config";
        let test: Vec<String> = match &h["Test"] {
            Value::Null => Vec::new(),
            Value::Array(t) => t
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| anyhow::anyhow!("{what}: Test {t:?} is not a list of strings"))?,
            other => bail!("{what}: Test {other} is not a list of strings"),
        };
        let command = match test.split_first() {
            // Inherited from a base image, or turned off.
            None => return Ok(None),
            Some((kind, _)) if kind == "NONE" => return Ok(None),
            Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
            Some((kind, rest)) if kind == "CMD-SHELL" && rest.len() == 1 => {
                vec!["/bin/sh".into(), "-c".into(), rest[0].clone()]
            }
            Some((kind, _)) if kind == "CMD-SHELL" => {
                bail!("{what}: Test {test:?}: CMD-SHELL takes one command line")
            }
            Some(_) => bail!("{what}: Test {test:?} is neither CMD, CMD-SHELL nor NONE"),
        };
        // Docker records durations in nanoseconds; absent or 0 means the
        // default.
        let secs = |key: &str, default: f64| -> Result<f64> {
            match &h[key] {
                Value::Null => Ok(default),
                v => match v.as_u64() {
                    Some(0) => Ok(default),
                    Some(ns) => Ok(ns as f64 / 1e9),
                    None => bail!("{what}: {key} {v} is not a number of nanoseconds"),
                },
            }
        };
        let retries = match &h["Retries"] {
            Value::Null => RETRIES,
            v => match v.as_u64() {
                Some(0) => RETRIES,
                Some(r) => u32::try_from(r).unwrap_or(u32::MAX),
                None => bail!("{what}: Retries {v} is not a count"),
            },
        };
        HealthCheck {
            command,
            interval: secs("Interval", INTERVAL)?,
            timeout: secs("Timeout", TIMEOUT)?,
            retries,
            start_period: secs("StartPeriod", 0.0)?,
        }
        .checked(what)
        .map(Some)
    }

    /// The check, if it can run as written; else an error naming `what`.
    pub fn checked(self, what: &str) -> Result<HealthCheck> {
        if self.command.is_empty() || self.command[0].is_empty() {
            bail!("{what}: the command is empty");
        }
        for (name, v) in [
            ("interval", self.interval),
            ("timeout", self.timeout),
            ("startPeriod", self.start_period),
        ] {
            if !(v.is_finite() && (0.0..=LONGEST).contains(&v)) {
                bail!("{what}: {name} {v} is not a number of seconds up to {LONGEST}");
            }
        }
        if self.interval < 0.1 || self.timeout < 0.1 {
            bail!("{what}: the interval and the timeout must be 0.1 s or more");
        }
        if self.retries > 100 {
            bail!("{what}: retries {} is more than 100", self.retries);
        }
        Ok(self)
    }

    /// How long an update waits for the deployment to be healthy by
    /// default: the start period and every retry.
    pub fn deadline(&self) -> f64 {
        self.start_period + self.interval * f64::from(self.retries.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_manifest_wins_over_the_image_config() {
        let config = json!({"config": {"Healthcheck": {"Test": ["CMD", "/x"], "Interval": 5_000_000_000u64}}});
        let m = ManifestHealth {
            command: vec!["/bin/check".into()],
            interval: Some(2.0),
            ..Default::default()
        };
        let c = HealthCheck::of(Some(&m), &config).unwrap().unwrap();
        assert_eq!(c.command, ["/bin/check"]);
        assert_eq!((c.interval, c.timeout, c.retries), (2.0, 30.0, 3));
        assert_eq!(c.deadline(), 6.0);
    }

    #[test]
    fn dockers_healthcheck_as_docker_build_records_it() {
        let config = json!({"config": {"Healthcheck": {
            "Test": ["CMD-SHELL", "wget -q -O- http://127.0.0.1/ || exit 1"],
            "Interval": 10_000_000_000u64, "Timeout": 3_000_000_000u64,
            "StartPeriod": 4_000_000_000u64, "Retries": 2}}});
        let c = HealthCheck::of(None, &config).unwrap().unwrap();
        assert_eq!(
            c.command,
            ["/bin/sh", "-c", "wget -q -O- http://127.0.0.1/ || exit 1"]
        );
        assert_eq!(
            (c.interval, c.timeout, c.retries, c.start_period),
            (10.0, 3.0, 2, 4.0)
        );
        assert_eq!(c.deadline(), 24.0);
        for off in [json!(["NONE"]), json!([])] {
            let config = json!({"config": {"Healthcheck": {"Test": off}}});
            assert_eq!(HealthCheck::of(None, &config).unwrap(), None);
        }
        assert_eq!(HealthCheck::of(None, &json!({"config": {}})).unwrap(), None);
    }

    #[test]
    fn checks_that_cannot_run_are_refused_naming_where_from() {
        let bad = json!({"config": {"Healthcheck": {"Test": ["SHELL", "x"]}}});
        let err = HealthCheck::of(None, &bad).unwrap_err().to_string();
        assert!(
            err.starts_with("Healthcheck of the image config: Test"),
            "{err}"
        );
        let m = ManifestHealth {
            command: vec!["/c".into()],
            interval: Some(-1.0),
            ..Default::default()
        };
        let err = HealthCheck::of(Some(&m), &json!({}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("healthCheck of /exports/manifest.json: interval -1"),
            "{err}"
        );
        let empty = ManifestHealth::default();
        assert!(HealthCheck::of(Some(&empty), &json!({})).is_err());
    }
}
