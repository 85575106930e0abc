//! The health monitor: one task per running container with a probe, which
//! runs it as an exec through the container's task every interval.

use super::super::exec::ExecOptions;
use super::super::service::{ContainerService, Entry};
use super::config::HealthConfig;
use super::state::{HealthState, ProbeResult, MAX_OUTPUT};
use berth_docker::duration::go_duration_string;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_at_4_kib() {
        let mut buf = Vec::new();
        append_limited(&mut buf, &[b'a'; 3000]);
        append_limited(&mut buf, &[b'b'; 3000]);
        assert_eq!(buf.len(), MAX_OUTPUT);
    }
}
