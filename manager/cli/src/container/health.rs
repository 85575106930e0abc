//! The `--health-*` flags of `run`/`create` and `--no-healthcheck`, checked
//! as docker's CLI checks them (`opts.go` `parse`) before anything reaches
//! berthd, which then merges the result with the image's `HEALTHCHECK` and
//! checks it again as docker's daemon does.

use berth_docker::duration::parse_go_duration;

/// The user's health settings as the API carries them (docker's
/// `HealthConfig`: durations in nanoseconds, 0 meaning "inherit").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthConfig {
    /// Empty: inherit the image's; `["NONE"]`: no probe.
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub retries: i32,
}

/// The `--health-*` flags as given (durations as text, retries as text) and
/// `--no-healthcheck`, checked as docker's CLI checks them.
#[derive(Debug, Clone, Default)]
pub struct HealthFlags<'a> {
    pub cmd: Option<&'a str>,
    pub interval: Option<&'a str>,
    pub timeout: Option<&'a str>,
    pub start_period: Option<&'a str>,
    pub retries: Option<&'a str>,
    pub no_healthcheck: bool,
}

/// A flag value that did not parse: (flag, value, why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError(pub String);

impl std::fmt::Display for FlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl HealthFlags<'_> {
    /// The user's health config (none: no health flag given), with
    /// docker's CLI errors (`opts.go` `parse`).
    pub fn to_config(&self) -> Result<Option<HealthConfig>, FlagError> {
        let duration = |flag: &str, v: Option<&str>| -> Result<i64, FlagError> {
            match v {
                None => Ok(0),
                Some(v) => parse_go_duration(v).map_err(|e| {
                    FlagError(format!(
                        "invalid argument \"{v}\" for \"--{flag}\" flag: {e}"
                    ))
                }),
            }
        };
        let interval = duration("health-interval", self.interval)?;
        let timeout = duration("health-timeout", self.timeout)?;
        let start_period = duration("health-start-period", self.start_period)?;
        let retries = match self.retries {
            None => 0,
            Some(v) => v.parse::<i32>().map_err(|_| {
                FlagError(format!(
                    "invalid argument \"{v}\" for \"--health-retries\" flag: strconv.ParseInt: parsing \"{v}\": invalid syntax"
                ))
            })?,
        };
        let cmd = self.cmd.unwrap_or("");
        let any =
            !cmd.is_empty() || interval != 0 || timeout != 0 || start_period != 0 || retries != 0;
        if self.no_healthcheck {
            if any {
                return Err(FlagError(
                    "--no-healthcheck conflicts with --health-* options".to_string(),
                ));
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..HealthConfig::default()
            }));
        }
        if !any {
            return Ok(None);
        }
        for (value, flag) in [
            (interval, "health-interval"),
            (timeout, "health-timeout"),
            (retries as i64, "health-retries"),
            (start_period, "health-start-period"),
        ] {
            if value < 0 {
                return Err(FlagError(format!("--{flag} cannot be negative")));
            }
        }
        Ok(Some(HealthConfig {
            test: if cmd.is_empty() {
                Vec::new()
            } else {
                vec!["CMD-SHELL".into(), cmd.to_string()]
            },
            interval,
            timeout,
            start_period,
            retries,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_make_dockers_config() {
        let flags = HealthFlags {
            cmd: Some("test -f /tmp/ok"),
            interval: Some("200ms"),
            retries: Some("2"),
            ..Default::default()
        };
        let c = flags.to_config().unwrap().unwrap();
        assert_eq!(c.test, ["CMD-SHELL", "test -f /tmp/ok"]);
        assert_eq!((c.interval, c.retries, c.timeout), (200_000_000, 2, 0));
        assert_eq!(HealthFlags::default().to_config(), Ok(None));
        let none = HealthFlags {
            no_healthcheck: true,
            ..Default::default()
        };
        assert_eq!(none.to_config().unwrap().unwrap().test, ["NONE"]);
        let conflict = HealthFlags {
            no_healthcheck: true,
            cmd: Some("true"),
            ..Default::default()
        };
        assert_eq!(
            conflict.to_config().unwrap_err().0,
            "--no-healthcheck conflicts with --health-* options"
        );
        let bad = HealthFlags {
            interval: Some("1x"),
            ..Default::default()
        };
        assert_eq!(
            bad.to_config().unwrap_err().0,
            "invalid argument \"1x\" for \"--health-interval\" flag: time: unknown unit \"x\" in duration \"1x\""
        );
        let negative = HealthFlags {
            timeout: Some("-1s"),
            ..Default::default()
        };
        assert_eq!(
            negative.to_config().unwrap_err().0,
            "--health-timeout cannot be negative"
        );
    }
}
