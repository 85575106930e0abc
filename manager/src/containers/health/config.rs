//! docker's `HealthConfig`: the settings of a container's health check,
//! the user's over the image's, and the daemon-side checks of them.

use super::super::config::ContainerConfig;
use super::super::spec::ImageRuntimeConfig;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Probe every 30 s unless told otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// A probe may take 30 s unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Unhealthy after 3 consecutive failures unless told otherwise.
pub const DEFAULT_RETRIES: u32 = 3;
/// The shortest interval, timeout and start period docker accepts.
pub const MINIMUM_DURATION: Duration = Duration::from_millis(1);

/// What a bad health check setting was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    /// A daemon-side check of the config (docker's messages).
    #[error("{0} in Healthcheck cannot be less than 1ms")]
    TooShort(&'static str),
    #[error("Retries in Healthcheck cannot be negative")]
    NegativeRetries,
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

/// docker's `HealthConfig`, as in image configs and `Config.Healthcheck`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// Empty: inherit the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Nanoseconds; 0: inherit (else the default).
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub start_period: i64,
    /// 0: inherit (else the default).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub retries: i32,
}

impl HealthConfig {
    /// docker's daemon-side checks (`verifyContainerSettings`).
    pub fn validate(&self) -> Result<(), HealthError> {
        let min = MINIMUM_DURATION.as_nanos() as i64;
        for (value, what) in [
            (self.interval, "Interval"),
            (self.timeout, "Timeout"),
            (self.start_period, "StartPeriod"),
        ] {
            if value != 0 && value < min {
                return Err(HealthError::TooShort(what));
            }
        }
        if self.retries < 0 {
            return Err(HealthError::NegativeRetries);
        }
        Ok(())
    }

    /// The user's settings as the API carries them (durations in ns: interval,
    /// timeout, start period); none when every one is unset. Checked as
    /// docker's daemon checks them.
    pub fn from_request(
        test: Vec<String>,
        [interval, timeout, start_period]: [i64; 3],
        retries: i32,
    ) -> Result<Option<HealthConfig>, HealthError> {
        let config = HealthConfig {
            test,
            interval,
            timeout,
            start_period,
            retries,
        };
        if config == HealthConfig::default() {
            return Ok(None);
        }
        config.validate()?;
        Ok(Some(config))
    }

    /// The command a probe runs; none for `NONE`, an empty or unknown test.
    pub fn probe_command(&self) -> Option<Vec<String>> {
        let (kind, rest) = self.test.split_first()?;
        match kind.as_str() {
            "CMD" if !rest.is_empty() => Some(rest.to_vec()),
            "CMD-SHELL" if !rest.is_empty() => {
                let mut cmd = vec!["/bin/sh".to_string(), "-c".to_string()];
                cmd.extend(rest.iter().cloned());
                Some(cmd)
            }
            _ => None,
        }
    }

    fn duration_or(ns: i64, default: Duration) -> Duration {
        if ns > 0 {
            Duration::from_nanos(ns as u64)
        } else {
            default
        }
    }

    /// Time between probes.
    pub fn interval(&self) -> Duration {
        Self::duration_or(self.interval, DEFAULT_INTERVAL)
    }

    /// Time a probe may take.
    pub fn timeout(&self) -> Duration {
        Self::duration_or(self.timeout, DEFAULT_TIMEOUT)
    }

    /// Failures in this time after the start do not count while starting.
    pub fn start_period(&self) -> Duration {
        Self::duration_or(self.start_period, Duration::ZERO)
    }

    /// Consecutive failures that make the container unhealthy.
    pub fn retries(&self) -> u32 {
        if self.retries > 0 {
            self.retries as u32
        } else {
            DEFAULT_RETRIES
        }
    }
}

/// The container's health check: the user's settings over the image's
/// `Healthcheck`, field by field (moby `daemon/commit.go` `merge`). None
/// when neither has one.
pub fn merge(
    user: Option<HealthConfig>,
    image: Option<&serde_json::Value>,
) -> Option<HealthConfig> {
    let image: Option<HealthConfig> = image.and_then(|v| serde_json::from_value(v.clone()).ok());
    match (user, image) {
        (None, image) => image,
        (Some(user), None) => Some(user),
        (Some(mut user), Some(image)) => {
            if user.test.is_empty() {
                user.test = image.test;
            }
            if user.interval == 0 {
                user.interval = image.interval;
            }
            if user.timeout == 0 {
                user.timeout = image.timeout;
            }
            if user.start_period == 0 {
                user.start_period = image.start_period;
            }
            if user.retries == 0 {
                user.retries = image.retries;
            }
            Some(user)
        }
    }
}

/// `config` with its health check merged with the image's (at create).
pub fn with_image_healthcheck(
    config: &ContainerConfig,
    image: &ImageRuntimeConfig,
) -> ContainerConfig {
    let mut config = config.clone();
    config.options.healthcheck = merge(
        config.options.healthcheck.take(),
        image.healthcheck.as_ref(),
    );
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_settings_override_the_images_field_by_field() {
        let image = json!({"Test": ["CMD", "true"], "Interval": 5_000_000_000i64, "Retries": 4});
        let user = HealthConfig {
            timeout: 1_000_000_000,
            retries: 1,
            ..Default::default()
        };
        let m = merge(Some(user), Some(&image)).unwrap();
        assert_eq!(m.test, ["CMD", "true"]);
        assert_eq!(
            (m.interval, m.timeout, m.retries),
            (5_000_000_000, 1_000_000_000, 1)
        );
        assert_eq!(merge(None, None), None);
        assert_eq!(merge(None, Some(&image)).unwrap().retries, 4);
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        let m = merge(Some(none), Some(&image)).unwrap();
        assert_eq!(m.probe_command(), None);
    }

    #[test]
    fn probe_commands_follow_the_test_kind() {
        let t = |test: &[&str]| HealthConfig {
            test: test.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(t(&["CMD", "ls", "/"]).probe_command().unwrap(), ["ls", "/"]);
        assert_eq!(
            t(&["CMD-SHELL", "exit 1"]).probe_command().unwrap(),
            ["/bin/sh", "-c", "exit 1"]
        );
        assert_eq!(t(&["NONE"]).probe_command(), None);
        assert_eq!(t(&[]).probe_command(), None);
        assert_eq!(t(&["WHAT", "x"]).probe_command(), None);
    }

    #[test]
    fn daemon_checks_reject_tiny_durations_and_negative_retries() {
        let c = HealthConfig {
            interval: 1000,
            ..Default::default()
        };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        let c = HealthConfig {
            retries: -1,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(HealthError::NegativeRetries));
        assert_eq!(HealthConfig::default().validate(), Ok(()));
    }
}
