//! The Task seam: how the containers domain reaches a container's running
//! processes, without knowing what supervises them.
//!
//! ```text
//!  containers domain (lifecycle, exits, restart, health, exec, stats)
//!        |  Arc<dyn Task>: create / start / kill / wait / attach / ...
//!        v
//!  task::shim::ShimTask  --berth.shim.v1 over a unix socket-->  berth-shim
//! ```
//!
//! Everything the domain asks of a task goes through [`Task`] (one
//! container's supervisor) and [`TaskLauncher`] (starting or reconnecting to
//! one), in the domain's own types: exits, states, output chunks, events.
//! The shim client in [`shim`] is the one implementation and the only module
//! of berthd that speaks `berth.shim.v1`, so no shim wire type reaches the
//! lifecycle code or the API adapters, and the domain's decisions can be
//! tested with a fake task (as youki's `Syscall` seam does for the runtime).
//!
//! `exec_id` is empty for the container's main process, as in the shim's
//! API (and containerd's).

pub mod pidfd;
pub mod shim;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;
use tokio_stream::Stream;

/// What a [`Task`] call returns.
pub type TaskFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, TaskError>> + Send + 'a>>;

/// A process's output, chunk by chunk, in order; it ends when the process's
/// stdio closes. A slow reader slows the process (back-pressure), never
/// loses output.
pub type OutputStream = Pin<Box<dyn Stream<Item = Result<OutputChunk, TaskError>> + Send>>;

/// The task's events (OOM kills), for as long as its supervisor lives.
pub type EventStream = Pin<Box<dyn Stream<Item = TaskEvent> + Send>>;

/// What a client sends to a process's stdin.
#[derive(Debug)]
pub enum StdinMessage {
    Data(Vec<u8>),
    Close,
}

/// A client's stdin, shared between the attach that feeds it and the API
/// call that receives it.
pub type StdinSource = Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<StdinMessage>>>;

/// Which of a process's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdout,
    Stderr,
}

/// Some bytes a process wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: StdStream,
    pub data: Vec<u8>,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskExit {
    pub code: i32,
    /// When, as the supervisor saw it (none: it did not say).
    pub exited_at: Option<SystemTime>,
    /// The main process only: whether the OOM killer struck in the
    /// container during its life (docker's `State.OOMKilled`).
    pub oom_killed: bool,
}

/// Where a task's process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Unknown,
    Created,
    Running,
    Stopped,
    Paused,
    Deleted,
}

/// A process as its supervisor knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskState {
    pub pid: u32,
    pub status: TaskStatus,
    /// Log messages of the main process lost so far (mode=non-blocking's
    /// drops, and lines the driver's sink did not take).
    pub log_lost: u64,
}

/// Something that happened to a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEvent {
    /// The kernel's OOM killer killed a process of the container's cgroup
    /// (`exec_id` empty: the main process's).
    Oom { exec_id: String },
}

/// The container's resource usage, from its cgroup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskStats {
    /// The runtime's `events --stats` data, as JSON.
    pub json: String,
    pub memory_usage_bytes: u64,
    pub memory_limit_bytes: u64,
    pub cpu_usage_total_ns: u64,
    pub pids_current: u64,
}

/// Where the main process's output is logged (see
/// [`super::log_driver::task_log`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLog {
    /// `json-file`, `local`, `syslog` or `none`.
    pub driver: String,
    /// The json-file or local log (empty for other drivers).
    pub path: PathBuf,
    pub max_size: u64,
    pub max_file: u32,
    /// The options as given; the driver reads its own.
    pub options: std::collections::BTreeMap<String, String>,
    /// The rendered `tag`.
    pub tag: String,
    /// docker's extra attributes (json-file's `attrs`).
    pub attrs: std::collections::BTreeMap<String, String>,
    pub non_blocking: bool,
    pub max_buffer_size: u64,
}

/// Why a task call failed. The messages are the supervisor's (and the
/// runtime's) own, as the user sees them.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The supervisor could not be started or reached.
    #[error(transparent)]
    Launch(#[from] shim::ShimError),
    /// The connection to a supervisor broke (it died, or is going).
    #[error("{0}")]
    Unavailable(String),
    /// The supervisor, or the runtime under it, refused or failed the call.
    #[error("{0}")]
    Failed(String),
}

/// One container's supervisor: its main process and its execs.
pub trait Task: Send + Sync {
    /// Creates the main process (the runtime's `create`); its pid.
    fn create(&self, stdin: bool, log: &TaskLog) -> TaskFuture<'_, u32>;
    /// Starts a created process; its pid.
    fn start<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, u32>;
    /// Where a process is in its life.
    fn state<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, TaskState>;
    /// Signals a process (`all`: every process of the container).
    fn kill<'a>(&'a self, exec_id: &'a str, signal: i32, all: bool) -> TaskFuture<'a, ()>;
    /// Waits for a process to exit.
    fn wait<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, TaskExit>;
    /// Forgets an exited process (the main one: the runtime's `delete`).
    fn delete<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, ()>;
    /// Adds a process (`process`: an OCI process as JSON), not started.
    fn exec<'a>(&'a self, exec_id: &'a str, process: Vec<u8>, stdin: bool) -> TaskFuture<'a, ()>;
    /// Resizes a process's tty.
    fn resize_pty<'a>(&'a self, exec_id: &'a str, width: u32, height: u32) -> TaskFuture<'a, ()>;
    /// A process's output from now on, fed with `stdin` when given.
    fn attach<'a>(
        &'a self,
        exec_id: &'a str,
        stdin: Option<StdinSource>,
    ) -> TaskFuture<'a, OutputStream>;
    /// The pids of the container's processes.
    fn pids(&self) -> TaskFuture<'_, Vec<u32>>;
    /// The container's resource usage.
    fn stats(&self) -> TaskFuture<'_, TaskStats>;
    /// Freezes the container.
    fn pause(&self) -> TaskFuture<'_, ()>;
    /// Thaws the container.
    fn resume(&self) -> TaskFuture<'_, ()>;
    /// Changes its resources (`resources`: OCI `LinuxResources` as JSON).
    fn update(&self, resources: Vec<u8>) -> TaskFuture<'_, ()>;
    /// The task's events.
    fn events(&self) -> TaskFuture<'_, EventStream>;
    /// Tells the supervisor to go: with `now`, it kills and deletes the
    /// container first.
    fn shutdown(&self, now: bool) -> TaskFuture<'_, ()>;
}

/// What a container's supervisor is started with.
pub struct TaskLaunch<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    /// The supervisor's own state (pid, exit file).
    pub state_dir: &'a Path,
    /// The OCI runtime binary and its `--root`.
    pub runtime: &'a Path,
    pub runtime_root: &'a Path,
}

/// Starts container supervisors and reconnects to running ones (after a
/// restart of berthd, or a broken connection).
pub trait TaskLauncher: Send + Sync {
    /// Starts the supervisor of `launch.id`; the address it listens on.
    fn spawn<'a>(&'a self, launch: &'a TaskLaunch<'a>) -> TaskFuture<'a, PathBuf>;
    /// Connects to the supervisor of container `id` at `address`, whose
    /// own state is in `state_dir`.
    fn connect<'a>(
        &'a self,
        id: &'a str,
        address: &'a Path,
        state_dir: &'a Path,
    ) -> TaskFuture<'a, Arc<dyn Task>>;
}
