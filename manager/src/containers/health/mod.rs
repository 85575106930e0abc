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
//!
//! [`config`] holds the settings, [`state`] the status rules, [`monitor`]
//! the probes berthd runs.

pub mod config;
pub mod monitor;
pub mod state;

pub use config::*;
pub use monitor::HealthMonitor;
pub use state::*;
