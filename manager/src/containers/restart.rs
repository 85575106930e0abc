//! Restart policies (docker's `--restart no|on-failure[:N]|always|
//! unless-stopped`), applied by berthd when a container's process exits and
//! when berthd itself starts.
//!
//! The rules are docker's (moby `restartmanager/restartmanager.go` and
//! `daemon/monitor.go`), kept here as pure functions so they are unit tested
//! without containers:
//!
//! * [`should_restart`]: whether an exit is followed by a restart. A
//!   container stopped by the user (`stop`, `kill`, `rm -f`) is never
//!   restarted while berthd runs; at berthd start `always` ignores that
//!   (docker's "restarted when the daemon restarts"), `unless-stopped` does
//!   not; `on-failure` restarts non-zero exits while RestartCount < N
//!   (N = 0: no limit).
//! * [`Backoff`]: the delay before a restart: 100 ms, doubled at every
//!   consecutive restart, at most 1 min, back to 100 ms once the container
//!   ran for 10 s or more.
//!
//! While the delay runs the container's status is `restarting` (ps shows
//! "Restarting (CODE) N seconds ago"); `stop`, `kill` and `rm -f` cancel
//! the pending restart ([`ContainerService::cancel_restart`]). A restart
//! publishes `start` after the `die` of the exit, as docker's events do (its
//! `restart` event is only for the `restart` command). `RestartCount` counts
//! the restarts since the user last started the container.

use super::config::RestartPolicy;
use super::record::{ContainerRecord, Status};
use super::service::{ContainerService, Entry};
use super::ContainerError;
use std::sync::Arc;
use std::time::Duration;

/// The first delay before a restart (moby `defaultTimeout`).
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest delay before a restart (moby `maxRestartTimeout`).
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off to [`FIRST_DELAY`].
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// What a bad `--restart` value was (docker's daemon-side checks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartError {
    #[error("invalid restart policy '{0}'")]
    UnknownPolicy(String),
    #[error("maximum retry count cannot be negative")]
    NegativeRetries,
    #[error("maximum retry count cannot be used with restart policy '{0}'")]
    RetriesNotAllowed(String),
    #[error("can't create 'AutoRemove' container with restart policy")]
    ConflictsWithAutoRemove,
    #[error("Restart policy cannot be updated because AutoRemove is enabled for the container")]
    UpdateWithAutoRemove,
}

/// The policy kinds docker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    No,
    Always,
    UnlessStopped,
    OnFailure,
}

impl RestartPolicy {
    /// The policy named `name` (empty: `no`) with `max_retries`, checked as
    /// docker's daemon checks it (`validateRestartPolicy`).
    pub fn checked(name: &str, max_retries: i32) -> Result<RestartPolicy, RestartError> {
        let name = if name.is_empty() { "no" } else { name };
        match name {
            "no" | "always" | "unless-stopped" if max_retries != 0 => {
                Err(RestartError::RetriesNotAllowed(name.to_string()))
            }
            "on-failure" if max_retries < 0 => Err(RestartError::NegativeRetries),
            "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
                name: name.to_string(),
                max_retries,
            }),
            other => Err(RestartError::UnknownPolicy(other.to_string())),
        }
    }

    /// Which policy this is (an unknown stored name acts as `no`).
    pub fn kind(&self) -> PolicyKind {
        match self.name.as_str() {
            "always" => PolicyKind::Always,
            "unless-stopped" => PolicyKind::UnlessStopped,
            "on-failure" => PolicyKind::OnFailure,
            _ => PolicyKind::No,
        }
    }
}

/// What the restart decision looks at in a container's last exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitFacts {
    pub exit_code: i32,
    /// Restarts so far (the record's RestartCount).
    pub restart_count: u32,
    /// Stopped by `stop`, `kill` or `rm -f`.
    pub stopped_by_user: bool,
}

/// When the decision is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// The container's process just exited while berthd runs.
    Exit,
    /// berthd is starting and finds the container not running.
    DaemonStart,
}

/// Whether the container is started again (moby `ShouldRestart`, with the
/// cancellation `stop`/`kill` do folded into `stopped_by_user`).
pub fn should_restart(policy: &RestartPolicy, exit: ExitFacts, moment: Moment) -> bool {
    let kind = policy.kind();
    if exit.stopped_by_user && (moment == Moment::Exit || kind == PolicyKind::UnlessStopped) {
        return false;
    }
    match kind {
        PolicyKind::No => false,
        PolicyKind::Always | PolicyKind::UnlessStopped => true,
        PolicyKind::OnFailure => {
            let max = policy.max_retries;
            exit.exit_code != 0 && (max <= 0 || (exit.restart_count as i64) < max as i64)
        }
    }
}

/// The delay before the next restart (moby's restart manager timeout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    /// The last delay used; zero: none yet.
    last: Duration,
}

impl Backoff {
    /// The delay before restarting a container whose last run lasted
    /// `ran_for`: 100 ms, doubling, at most 1 min; a run of 10 s or more
    /// starts again from 100 ms.
    pub fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RESET_AFTER {
            self.last = Duration::ZERO;
        }
        self.last = if self.last.is_zero() {
            FIRST_DELAY
        } else {
            (self.last * 2).min(MAX_DELAY)
        };
        self.last
    }

    /// Forgets the consecutive restarts (the user started the container).
    pub fn reset(&mut self) {
        self.last = Duration::ZERO;
    }
}

/// Per-container restart state kept in memory by berthd (in its `Entry`).
#[derive(Debug, Default)]
pub struct RestartTracker {
    pub backoff: Backoff,
    /// The task waiting out the delay of a pending restart.
    pending: Option<tokio::task::AbortHandle>,
}

impl RestartTracker {
    fn cancel_pending(&mut self) {
        if let Some(task) = self.pending.take() {
            task.abort();
        }
    }
}

/// How long a run lasted, from the record's RFC 3339 times (zero when
/// either is missing).
fn run_duration(started_at: &str, finished_at: &str) -> Duration {
    let parse = |s: &str| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok();
    let (Some(start), Some(end)) = (
        parse(started_at.split('.').next().unwrap_or("")),
        parse(finished_at.split('.').next().unwrap_or("")),
    ) else {
        return Duration::ZERO;
    };
    end.duration_since(start).unwrap_or(Duration::ZERO)
}

fn tracker(entry: &Entry) -> std::sync::MutexGuard<'_, RestartTracker> {
    entry.restart.lock().unwrap_or_else(|e| e.into_inner())
}

impl ContainerService {
    /// Called with the container's lock held, right after its exit was
    /// recorded: when the policy says so, marks it `restarting` (one more
    /// RestartCount) and schedules the start after the back-off delay.
    /// Answers the record as it now is.
    pub(crate) fn schedule_restart(
        self: &Arc<Self>,
        record: ContainerRecord,
        entry: &Arc<Entry>,
    ) -> ContainerRecord {
        let facts = ExitFacts {
            exit_code: record.state.exit_code,
            restart_count: record.state.restart_count,
            stopped_by_user: record.state.stopped_by_user,
        };
        if record.config.auto_remove || !should_restart(&record.config.restart, facts, Moment::Exit)
        {
            return record;
        }
        let ran_for = run_duration(&record.state.started_at, &record.state.finished_at);
        let delay = tracker(entry).backoff.next(ran_for);
        let updated = self.update(&record.id, |r| {
            r.state.status = Status::Restarting;
            r.state.restart_count += 1;
        });
        let record = match updated {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(id = %record.id, error = %e, "record restarting state");
                return record;
            }
        };
        tracing::info!(id = %record.id, delay_ms = delay.as_millis() as u64, count = record.state.restart_count, "restart scheduled");
        let service = self.clone();
        let id = record.id.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            service.restart_now(&id).await;
        });
        let mut t = tracker(entry);
        t.cancel_pending();
        t.pending = Some(task.abort_handle());
        record
    }

    /// The end of the back-off delay: starts the container if it is still
    /// waiting to restart.
    async fn restart_now(self: &Arc<Self>, id: &str) {
        let entry = self.entry(id);
        let _guard = entry.lock.lock().await;
        tracker(&entry).pending = None;
        let record = match self.get(id) {
            Ok(r) if r.state.status == Status::Restarting => r,
            _ => return,
        };
        if let Err(e) = self.start_locked(record, &entry, None).await {
            // start_failed recorded the error and set the status to exited,
            // as docker leaves a container whose restart failed.
            tracing::warn!(id, error = %e, "restart by policy failed");
        }
    }

    /// Cancels a pending restart (`stop`, `kill`, `rm -f` during the
    /// back-off delay): the container becomes `exited`, stopped by the user.
    /// True when there was one.
    pub(crate) async fn cancel_restart(&self, id: &str) -> Result<bool, ContainerError> {
        let entry = self.entry(id);
        let _guard = entry.lock.lock().await;
        tracker(&entry).cancel_pending();
        if self.get(id)?.state.status != Status::Restarting {
            return Ok(false);
        }
        self.update(id, |r| {
            r.state.status = Status::Exited;
            r.state.stopped_by_user = true;
        })?;
        Ok(true)
    }

    /// A start by the user: the restart count and back-off begin again
    /// (moby `ResetRestartManager`). Called with the container's lock held.
    pub(crate) fn reset_restarts(&self, id: &str, entry: &Entry) -> Result<(), ContainerError> {
        {
            let mut t = tracker(entry);
            t.cancel_pending();
            t.backoff.reset();
        }
        // Written only when there is something to reset: a start is on
        // every `run`'s path, and each write is a durable commit.
        if self.get(id)?.state.restart_count != 0 {
            self.update(id, |r| r.state.restart_count = 0)?;
        }
        Ok(())
    }

    /// At berthd start, for a container found not running: starts it again
    /// when its policy says so (docker restarts `always` containers, and
    /// `unless-stopped` ones the user did not stop, at daemon start). A
    /// container berthd left `restarting` (it died during the delay) is
    /// restarted too.
    pub(crate) fn restart_at_daemon_start(self: &Arc<Self>, record: &ContainerRecord) {
        if !matches!(record.state.status, Status::Exited | Status::Restarting) {
            return;
        }
        let pending = record.state.status == Status::Restarting;
        let facts = ExitFacts {
            exit_code: record.state.exit_code,
            restart_count: record.state.restart_count,
            stopped_by_user: record.state.stopped_by_user,
        };
        let restart = pending || should_restart(&record.config.restart, facts, Moment::DaemonStart);
        if pending {
            let _ = self.update(&record.id, |r| r.state.status = Status::Exited);
        }
        if !restart || record.config.auto_remove {
            return;
        }
        let service = self.clone();
        let id = record.id.clone();
        tokio::spawn(async move {
            if let Err(e) = service.start(&id, None).await {
                tracing::warn!(id, error = %e, "restart at daemon start failed");
            } else {
                tracing::info!(id, "restarted at daemon start by its restart policy");
            }
        });
    }

    /// `update --restart`: the container's new policy (docker keeps the
    /// restart count and any pending restart).
    pub async fn update_restart_policy(
        &self,
        input: &str,
        policy: RestartPolicy,
    ) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        let _guard = entry.lock.lock().await;
        let record = self.get(&record.id)?;
        if record.config.auto_remove && policy.kind() != PolicyKind::No {
            return Err(ContainerError::InvalidArgument(
                RestartError::UpdateWithAutoRemove.to_string(),
            ));
        }
        self.update(&record.id, |r| r.config.restart = policy)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i32) -> RestartPolicy {
        RestartPolicy::checked(name, max).unwrap()
    }

    fn exit(code: i32, count: u32, by_user: bool) -> ExitFacts {
        ExitFacts {
            exit_code: code,
            restart_count: count,
            stopped_by_user: by_user,
        }
    }

    #[test]
    fn policies_are_checked_like_dockers() {
        assert_eq!(policy("", 0).name, "no");
        assert_eq!(policy("on-failure", 3).max_retries, 3);
        assert_eq!(
            RestartPolicy::checked("bogus", 0),
            Err(RestartError::UnknownPolicy("bogus".into()))
        );
        assert_eq!(
            RestartPolicy::checked("always", 3),
            Err(RestartError::RetriesNotAllowed("always".into()))
        );
        assert_eq!(
            RestartPolicy::checked("on-failure", -1),
            Err(RestartError::NegativeRetries)
        );
    }

    #[test]
    fn no_never_restarts() {
        for code in [0, 1, 137] {
            assert!(!should_restart(
                &policy("no", 0),
                exit(code, 0, false),
                Moment::Exit
            ));
            assert!(!should_restart(
                &policy("no", 0),
                exit(code, 0, false),
                Moment::DaemonStart
            ));
        }
    }

    #[test]
    fn on_failure_counts_non_zero_exits() {
        let p = policy("on-failure", 2);
        assert!(!should_restart(&p, exit(0, 0, false), Moment::Exit));
        assert!(should_restart(&p, exit(3, 0, false), Moment::Exit));
        assert!(should_restart(&p, exit(3, 1, false), Moment::Exit));
        assert!(!should_restart(&p, exit(3, 2, false), Moment::Exit));
        // No maximum: restarts forever.
        assert!(should_restart(
            &policy("on-failure", 0),
            exit(1, 1000, false),
            Moment::Exit
        ));
    }

    #[test]
    fn always_restarts_any_exit_unless_the_user_stopped_it() {
        let p = policy("always", 0);
        assert!(should_restart(&p, exit(0, 5, false), Moment::Exit));
        assert!(should_restart(&p, exit(1, 5, false), Moment::Exit));
        assert!(!should_restart(&p, exit(137, 0, true), Moment::Exit));
        // ... but berthd's start brings it back.
        assert!(should_restart(&p, exit(137, 0, true), Moment::DaemonStart));
    }

    #[test]
    fn unless_stopped_stays_stopped_across_daemon_starts() {
        let p = policy("unless-stopped", 0);
        assert!(should_restart(&p, exit(0, 0, false), Moment::Exit));
        assert!(should_restart(&p, exit(0, 0, false), Moment::DaemonStart));
        assert!(!should_restart(&p, exit(143, 0, true), Moment::Exit));
        assert!(!should_restart(&p, exit(143, 0, true), Moment::DaemonStart));
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_resets_after_ten_seconds() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        let delays: Vec<u128> = (0..12).map(|_| b.next(short).as_millis()).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
        assert_eq!(b.next(Duration::from_secs(10)), FIRST_DELAY);
        assert_eq!(b.next(Duration::from_secs(9)), Duration::from_millis(200));
        b.reset();
        assert_eq!(b.next(short), FIRST_DELAY);
    }

    #[test]
    fn run_durations_come_from_the_records_times() {
        assert_eq!(
            run_duration(
                "2026-11-22T13:00:00.123456789Z",
                "2026-11-22T13:00:12.000000001Z"
            ),
            Duration::from_secs(12)
        );
        assert_eq!(run_duration("", "2026-11-22T13:00:12Z"), Duration::ZERO);
    }
}
