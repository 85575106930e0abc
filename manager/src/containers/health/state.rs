//! docker's `State.Health` and its rules (moby `daemon/health.go`
//! `handleProbeResult`).

use super::super::record::{ContainerRecord, Status};
use super::config::HealthConfig;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;

/// Results kept in `State.Health.Log`.
pub const MAX_LOG_ENTRIES: usize = 5;
/// Bytes of a probe's output kept (moby `maxOutputLen`).
pub const MAX_OUTPUT: usize = 4096;

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
    pub(super) fn new() -> HealthState {
        HealthState {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: VecDeque::new(),
        }
    }

    /// A (re)start of the monitor: starting again, streak 0, log kept.
    pub(super) fn restart(&mut self) {
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

/// What `ps` shows as a container's status with its health ("Up 3 seconds
/// (healthy)"); only running containers show it.
pub fn decorate_status(
    status: String,
    record: &ContainerRecord,
    health: Option<&HealthState>,
) -> String {
    match health {
        Some(h) if record.state.status == Status::Running => {
            format!("{status} {}", h.status.ps_suffix())
        }
        _ => status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> ProbeResult {
        ProbeResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
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
    fn filter_values_are_dockers() {
        for v in ["starting", "healthy", "unhealthy", "none"] {
            assert!(valid_filter_value(v));
        }
        assert!(!valid_filter_value("bogus"));
    }
}
