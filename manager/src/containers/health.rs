//! Health checks (docker's `HEALTHCHECK` and `--health-*` flags), run by
//! berthd as probes inside running containers.
//!
//! * [`HealthConfig`]: docker's `HealthConfig` (Test, Interval, Timeout,
//!   StartPeriod, Retries; durations in nanoseconds), stored in the
//!   container's config after [`merge`]: the user's fields over the image's,
//!   field by field, as moby's `merge` does at create. `Test` is
//!   `["CMD", arg...]`, `["CMD-SHELL", "command"]` (run by `/bin/sh -c`) or
//!   `["NONE"]` (`--no-healthcheck`: no probe at all).
//! * [`HealthState`]: docker's `State.Health` and its rules (moby
//!   `daemon/health.go` `handleProbeResult`): a zero exit is healthy and
//!   resets FailingStreak; any other result (including a timeout, exit code
//!   -1) increments it, except while the container is still `starting` and
//!   within its start period; `Retries` consecutive failures make it
//!   unhealthy. The last 5 results are kept, each with at most 4 KiB of
//!   output.
//! * The monitor: one task per running container with a probe; every
//!   Interval it runs the probe as an exec through the container's shim
//!   (so, as with docker, `exec_create`/`exec_start`/`exec_die` events come
//!   with each probe), kills it when Timeout passes, records the result and
//!   publishes `health_status: <status>` when the status changes. It stops
//!   when the container's process exits and is started again at every start
//!   and when berthd re-adopts a running container after a restart (the
//!   status then starts over from `starting`, as docker's does; the state
//!   lives in berthd's memory).
//!
//! Defaults (moby `daemon/health.go`): interval 30 s, timeout 30 s, start
//! period 0, retries 3.

use super::config::ContainerConfig;
use super::exec::ExecOptions;
use super::record::ContainerRecord;
use super::service::{ContainerService, Entry};
use super::spec::ImageRuntimeConfig;
use berth_docker::duration::go_duration_string;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Probe every 30 s unless told otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// A probe may take 30 s unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Unhealthy after 3 consecutive failures unless told otherwise.
pub const DEFAULT_RETRIES: u32 = 3;
/// Results kept in `State.Health.Log`.
pub const MAX_LOG_ENTRIES: usize = 5;
/// Bytes of a probe's output kept (moby `maxOutputLen`).
pub const MAX_OUTPUT: usize = 4096;
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

/// One probe's result (docker's `HealthcheckResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeResult {
    /// RFC 3339 with nanoseconds.
    pub start: String,
    pub end: String,
    /// 0 healthy, else unhealthy; -1 when the probe could not run or timed
    /// out.
    pub exit_code: i64,
    pub output: String,
}

/// docker's health statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    /// docker's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// What ps adds to "Up N seconds": "health: starting", "healthy".
    pub fn ps_suffix(self) -> String {
        match self {
            HealthStatus::Starting => "(health: starting)".into(),
            other => format!("({})", other.as_str()),
        }
    }
}

/// The word for "no health check" in `ps --filter health=`.
pub const NO_HEALTHCHECK: &str = "none";

/// Whether `value` is a health filter value docker knows.
pub fn valid_filter_value(value: &str) -> bool {
    matches!(value, "starting" | "healthy" | "unhealthy" | NO_HEALTHCHECK)
}

/// docker's `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: VecDeque<ProbeResult>,
}

impl HealthState {
    fn new() -> HealthState {
        HealthState {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: VecDeque::new(),
        }
    }

    /// A (re)start of the monitor: starting again, streak 0, log kept.
    fn restart(&mut self) {
        self.status = HealthStatus::Starting;
        self.failing_streak = 0;
    }

    /// Records a probe's result (moby `handleProbeResult`). `since_start` is
    /// the time from the container's start to the probe's start. Answers
    /// the new status when it changed.
    pub fn record(
        &mut self,
        result: ProbeResult,
        since_start: Duration,
        config: &HealthConfig,
    ) -> Option<HealthStatus> {
        let old = self.status;
        let healthy = result.exit_code == 0;
        if self.log.len() >= MAX_LOG_ENTRIES {
            self.log.pop_front();
        }
        self.log.push_back(result);
        if healthy {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else {
            let in_start_period =
                self.status == HealthStatus::Starting && since_start < config.start_period();
            if !in_start_period {
                self.failing_streak += 1;
                if self.failing_streak >= config.retries() {
                    self.status = HealthStatus::Unhealthy;
                }
            }
        }
        (self.status != old).then_some(self.status)
    }
}

/// Per-container health state and monitor task, in berthd's memory (its
/// `Entry`).
#[derive(Debug, Default)]
pub struct HealthMonitor {
    /// None: the container has no probe (or never ran with one).
    pub state: Option<HealthState>,
    task: Option<tokio::task::AbortHandle>,
}

fn monitor_of(entry: &Entry) -> std::sync::MutexGuard<'_, HealthMonitor> {
    entry.health.lock().unwrap_or_else(|e| e.into_inner())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Keeps the first [`MAX_OUTPUT`] bytes of a probe's output.
fn append_limited(buf: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_OUTPUT.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

impl ContainerService {
    /// Starts the health monitor of a container that now runs (after a
    /// start, or when berthd re-adopts it); nothing when it has no probe.
    pub(crate) fn start_health_monitor(self: &Arc<Self>, id: &str) {
        let Ok(record) = self.get(id) else {
            return;
        };
        let Some(config) = record.config.options.healthcheck.clone() else {
            return;
        };
        let Some(cmd) = config.probe_command() else {
            return;
        };
        let entry = self.entry(id);
        let started_at = humantime::parse_rfc3339(&record.state.started_at)
            .unwrap_or_else(|_| SystemTime::now());
        let service = self.clone();
        let task_entry = entry.clone();
        let task_id = id.to_string();
        let mut monitor = monitor_of(&entry);
        if let Some(task) = monitor.task.take() {
            task.abort();
        }
        match &mut monitor.state {
            Some(state) => state.restart(),
            None => monitor.state = Some(HealthState::new()),
        }
        let task = tokio::spawn(async move {
            service
                .run_health_monitor(&task_id, &task_entry, cmd, config, started_at)
                .await
        });
        monitor.task = Some(task.abort_handle());
    }

    /// Stops a container's probes (its process exited).
    pub(crate) fn stop_health_monitor(&self, entry: &Entry) {
        if let Some(task) = monitor_of(entry).task.take() {
            task.abort();
        }
    }

    /// The container's health status for ps and its filter: none without a
    /// health state.
    pub(crate) fn health_state(&self, id: &str) -> Option<HealthState> {
        monitor_of(&self.entry(id)).state.clone()
    }

    async fn run_health_monitor(
        self: Arc<Self>,
        id: &str,
        entry: &Arc<Entry>,
        cmd: Vec<String>,
        config: HealthConfig,
        started_at: SystemTime,
    ) {
        loop {
            tokio::time::sleep(config.interval()).await;
            let start = SystemTime::now();
            let result = self.run_probe(id, entry, &cmd, config.timeout()).await;
            let since_start = start.duration_since(started_at).unwrap_or(Duration::ZERO);
            let changed = {
                let mut monitor = monitor_of(entry);
                let Some(state) = monitor.state.as_mut() else {
                    return;
                };
                state.record(result, since_start, &config)
            };
            if let Some(status) = changed {
                if let Ok(record) = self.get(id) {
                    self.publish(&record, &format!("health_status: {}", status.as_str()), &[]);
                }
            }
        }
    }

    /// Runs one probe as an exec; its output (at most 4 KiB of stdout and
    /// stderr together) and exit code; -1 when it could not run or timed
    /// out (it is then killed).
    async fn run_probe(
        &self,
        id: &str,
        entry: &Entry,
        cmd: &[String],
        timeout: Duration,
    ) -> ProbeResult {
        let start = SystemTime::now();
        let failed = |output: String| ProbeResult {
            start: rfc3339(start),
            end: rfc3339(SystemTime::now()),
            exit_code: -1,
            output,
        };
        let opts = ExecOptions {
            cmd: cmd.to_vec(),
            env: Vec::new(),
            working_dir: String::new(),
            user: String::new(),
            tty: false,
            privileged: false,
            stdin: None,
            width: 0,
            height: 0,
        };
        let mut started = match self.exec(id, opts).await {
            Ok(s) => s,
            Err(e) => return failed(e.to_string()),
        };
        let exec_id = started.exec_id.clone();
        let mut buf = Vec::new();
        let output = started.output.take();
        let drained = tokio::time::timeout(timeout, async {
            if let Some(mut output) = output {
                use tokio_stream::StreamExt;
                while let Some(Ok(chunk)) = output.next().await {
                    append_limited(&mut buf, &chunk.data);
                }
            }
        })
        .await;
        let mut timed_out = drained.is_err();
        let code = if timed_out {
            None
        } else {
            let left = timeout.saturating_sub(start.elapsed().unwrap_or(Duration::ZERO));
            match tokio::time::timeout(left.max(Duration::from_millis(100)), started.wait()).await {
                Ok(Ok(code)) => Some(Ok(code)),
                Ok(Err(e)) => Some(Err(e.to_string())),
                Err(_) => {
                    timed_out = true;
                    None
                }
            }
        };
        if timed_out {
            // moby kills the probe and records a failure.
            if let Some(task) = entry.task() {
                let _ = task.kill(&exec_id, libc::SIGKILL, false).await;
                let _ = task.wait(&exec_id).await;
                let _ = task.delete(&exec_id).await;
            }
            return failed(format!(
                "Health check exceeded timeout ({})",
                go_duration_string(timeout)
            ));
        }
        match code {
            Some(Ok(code)) => ProbeResult {
                start: rfc3339(start),
                end: rfc3339(SystemTime::now()),
                exit_code: code as i64,
                output: String::from_utf8_lossy(&buf).into_owned(),
            },
            Some(Err(e)) => failed(e),
            None => failed("probe ended without an exit code".into()),
        }
    }
}

/// What `ps` shows as a container's status with its health ("Up 3 seconds
/// (healthy)"); only running containers show it.
pub fn decorate_status(
    status: String,
    record: &ContainerRecord,
    health: Option<&HealthState>,
) -> String {
    match health {
        Some(h) if record.state.status == super::record::Status::Running => {
            format!("{status} {}", h.status.ps_suffix())
        }
        _ => status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(code: i64) -> ProbeResult {
        ProbeResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

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

    #[test]
    fn failing_streak_makes_unhealthy_after_retries_and_success_resets() {
        let config = HealthConfig {
            retries: 2,
            ..Default::default()
        };
        let mut s = HealthState::new();
        let t = Duration::from_secs(1);
        assert_eq!(s.record(result(1), t, &config), None);
        assert_eq!((s.status, s.failing_streak), (HealthStatus::Starting, 1));
        assert_eq!(
            s.record(result(1), t, &config),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(s.record(result(-1), t, &config), None);
        assert_eq!(s.failing_streak, 3);
        assert_eq!(s.record(result(0), t, &config), Some(HealthStatus::Healthy));
        assert_eq!(s.failing_streak, 0);
        // One failure while healthy keeps it healthy (retries 2).
        assert_eq!(s.record(result(1), t, &config), None);
        assert_eq!(s.status, HealthStatus::Healthy);
        // The log keeps the last five.
        assert_eq!(s.log.len(), 5);
        s.record(result(7), t, &config);
        assert_eq!(s.log.len(), 5);
        assert_eq!(s.log.back().unwrap().exit_code, 7);
        assert_eq!(s.log.front().unwrap().exit_code, 1);
    }

    #[test]
    fn start_period_failures_do_not_count_while_starting() {
        let config = HealthConfig {
            retries: 1,
            start_period: 10_000_000_000,
            ..Default::default()
        };
        let mut s = HealthState::new();
        assert_eq!(s.record(result(1), Duration::from_secs(2), &config), None);
        assert_eq!((s.status, s.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(
            s.record(result(1), Duration::from_secs(11), &config),
            Some(HealthStatus::Unhealthy)
        );
        // Once healthy, the start period no longer shields failures.
        let mut s = HealthState::new();
        s.record(result(0), Duration::from_secs(1), &config);
        assert_eq!(
            s.record(result(1), Duration::from_secs(2), &config),
            Some(HealthStatus::Unhealthy)
        );
    }

    #[test]
    fn output_is_cut_at_4_kib() {
        let mut buf = Vec::new();
        append_limited(&mut buf, &[b'a'; 3000]);
        append_limited(&mut buf, &[b'b'; 3000]);
        assert_eq!(buf.len(), MAX_OUTPUT);
    }

    #[test]
    fn filter_values_are_dockers() {
        for v in ["starting", "healthy", "unhealthy", "none"] {
            assert!(valid_filter_value(v));
        }
        assert!(!valid_filter_value("bogus"));
    }
}
