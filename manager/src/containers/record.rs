//! A container's record: what berthd persists about it in the metadata
//! database (`containers` table, key = container id, value = this record as
//! JSON), so that a restart of berthd (even after `kill -9`) knows every
//! container, its configuration, its last state and where its shim listens.
//!
//! ```text
//! containers: <id> -> ContainerRecord
//!   ├── id, name, created                     name without docker's leading '/'
//!   ├── image, image_ref, image_id            as given, resolved record name, config digest
//!   ├── snapshotter, snapshot_key             the active snapshot that is its rootfs
//!   ├── config                                ContainerConfig: what the user asked for
//!   ├── path, args                            the process the image + options make
//!   ├── state                                 ContainerState (docker's State object)
//!   ├── ports                                 -p/-P/--expose; published host ports while running
//!   ├── volumes                               [VolumeMount]: volume name -> destination (crate::volumes)
//!   ├── shim                                  ShimInfo while a shim runs the task
//!   └── starting                              StartIntent while a start is under way
//!         ├── step                            spawning -> created (the step reached)
//!         ├── shim                            where the shim being started lives
//!         └── pid                             the init's pid once created
//! ```
//!
//! A start writes its intent before it acts: `starting` (step `spawning`)
//! is committed before the shim is spawned, moved to `created` once the
//! runtime made the container, and cleared in the same write that says
//! `running`. So a berthd killed in the middle of a start finds, at its next
//! start, a record that names the shim and the step reached, and
//! reconciles it with what is on disk (`service::recover`): the shim and its
//! container adopted when the process was started, else torn down.
//!
//! The record is written at every state change (create, start, exit, pause,
//! rename ...); between writes the truth is the shim's (its exit file is
//! written before berthd hears of an exit, so nothing is lost while berthd
//! is down).

use super::config::ContainerConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// docker's container statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// docker's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// A task (shim + init) exists: running, paused or restarting.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// docker's `State` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Status,
    /// The init's pid while live.
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub exit_code: i32,
    /// An error starting or running it (docker's State.Error).
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds; empty: never.
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
    #[serde(default)]
    pub restart_count: u32,
    /// Stopped by the user (stop, kill): restart policies leave it alone.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// docker's `SandboxID`: new at each start of a container with a
    /// network namespace of its own (or the host's); shown while it runs.
    #[serde(default)]
    pub sandbox_id: String,
}

/// The shim running the container's task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimInfo {
    /// Its gRPC socket.
    pub address: PathBuf,
    /// Its state dir (pid, exit file).
    pub state_dir: PathBuf,
    /// The runtime binary it drives and that runtime's --root.
    pub runtime: PathBuf,
    pub runtime_root: PathBuf,
}

/// A container as berthd persists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// Unique among containers, without the leading '/'.
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// The image as the user named it ("busybox").
    pub image: String,
    /// The image record it resolved to ("docker.io/library/busybox:latest").
    pub image_ref: String,
    /// The image ID (config digest).
    pub image_id: String,
    pub snapshotter: String,
    pub snapshot_key: String,
    pub config: ContainerConfig,
    /// The process: args[0] and the rest (docker's Path and Args).
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    #[serde(default)]
    pub shim: Option<ShimInfo>,
    /// The runtime name chosen at create ("berth", "runc").
    pub runtime: String,
    /// The container's hostname.
    #[serde(default)]
    pub hostname: String,
    /// The signal `stop` sends (the user's, else the image's, else SIGTERM).
    pub stop_signal: i32,
    /// Its published and exposed ports (networks::ports).
    #[serde(default)]
    pub ports: crate::networks::ports::ContainerPorts,
    /// The volumes mounted into it, resolved at create (`crate::volumes`).
    #[serde(default)]
    pub volumes: Vec<crate::volumes::VolumeMount>,
    /// A start under way (written before the shim is spawned): what a
    /// berthd restart reconciles when the start never finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting: Option<StartIntent>,
}

/// How far a start got: written before each step acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartStep {
    /// The shim is being spawned (it may or may not run yet).
    Spawning,
    /// The runtime created the container (its init waits to be started);
    /// the network, ports and the start itself may or may not have followed.
    Created,
}

/// A start in progress (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartIntent {
    pub step: StartStep,
    /// The shim being started: its state dir, runtime, and (once it
    /// listens) its socket.
    pub shim: ShimInfo,
    /// The init's pid once the step is `created`.
    #[serde(default)]
    pub pid: u32,
}

impl ContainerRecord {
    /// Seconds `stop` waits before SIGKILL.
    pub fn stop_timeout(&self) -> i32 {
        self.config.stop_timeout.unwrap_or(10)
    }
}
