//! The container one shim supervises, and the lifecycle operations the gRPC
//! service exposes (the service only maps types and errors). Semantics follow
//! containerd's task API:
//!
//! * `create` runs `runtime create`; the init waits on the runtime's exec
//!   FIFO until `start` runs `runtime start`.
//! * `exec` registers a process (its stdio is ready at once, so a client can
//!   attach before it starts); `start` with its exec id runs `runtime exec
//!   --detach`.
//! * Every exit comes from the reaper. The init's exit is recorded in the
//!   state dir's exit file, then waiters are woken, then the event is sent,
//!   always in that order, and only after the execs' exits (the init's exit
//!   is published last) and after its output was read to the end.
//! * `delete` of the init removes the container; the shim then exits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use berth_proto::shim::v1::EventType;
use tokio::sync::{oneshot, watch};

use crate::console::{ConsoleError, ConsoleSocket};
use crate::events::EventBus;
use crate::logging::{self, LogError, LogSettings};
use crate::oom::{drain, OomCounter};
use crate::process::{Exit, ExitState, Process, ProcessStatus};
use crate::reaper::{ChildExit, Reaper};
use crate::record::{read_pid, ExitRecord, RecordError, INIT_PID_FILE};
use crate::runtime::{CallStdio, Runtime, RuntimeError};
use crate::stdio::{pipes, ProcessIo, StdioError};

/// How long an exit waits for the process's output to be read to its end
/// (a process left in the container may hold the pipe open).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// How long the init's exit waits for the execs' exits to be published.
const EXEC_DRAIN: Duration = Duration::from_secs(2);
/// After an OOM notification, how often and how long apart the kill count
/// is read until it moves.
const OOM_COUNT_TRIES: u32 = 40;
const OOM_COUNT_PAUSE: Duration = Duration::from_millis(25);
/// How long a delete or a forced shutdown waits for the init to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long a forced shutdown waits for a create in flight to end.
const CREATE_WAIT: Duration = Duration::from_secs(30);

/// Failures of task operations; `service` maps each kind to a gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Stdio(#[from] StdioError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, TaskError>;

/// What the shim was started with.
#[derive(Clone, Debug)]
pub struct TaskConfig {
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    /// Console sockets are made here as `<stem>.<n>.con` (short paths:
    /// sun_path holds 108 bytes).
    pub socket_dir: PathBuf,
    pub socket_stem: String,
}

/// A view of one process for State.
pub struct ProcessView {
    pub pid: u32,
    pub status: ProcessStatus,
    pub terminal: bool,
    pub stdin: bool,
    pub exit: Option<Exit>,
    /// Log messages lost so far.
    pub log_lost: u64,
}

/// Stats figures for the Stats call.
pub struct TaskStats {
    pub json: serde_json::Value,
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub cpu_total: u64,
    pub pids: u64,
}

#[derive(Default)]
struct TaskInner {
    init: Option<Arc<Process>>,
    creating: bool,
    deleted: bool,
    execs: HashMap<String, Arc<Process>>,
    /// The init's memory cgroup OOM kill counter.
    oom_counter: Option<Arc<OomCounter>>,
}

/// The supervised container.
pub struct Task {
    pub config: TaskConfig,
    runtime: Runtime,
    reaper: Arc<Reaper>,
    pub events: EventBus,
    inner: Mutex<TaskInner>,
    console_seq: AtomicU64,
    /// Set (with the reason) when the shim should exit.
    shutdown: watch::Sender<Option<String>>,
    /// Whether the OOM killer struck in the container's cgroup: told with
    /// the init's exit (Wait), so berthd's record of the exit never depends
    /// on having received the event first.
    oom_killed: std::sync::atomic::AtomicBool,
}

impl Task {
    pub fn new(config: TaskConfig, runtime: Runtime, reaper: Arc<Reaper>) -> Arc<Task> {
        Arc::new(Task {
            config,
            runtime,
            reaper,
            events: EventBus::new(),
            inner: Mutex::new(TaskInner::default()),
            console_seq: AtomicU64::new(0),
            shutdown: watch::channel(None).0,
            oom_killed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Resolves with the reason once the shim should exit.
    pub fn shutdown_requested(&self) -> watch::Receiver<Option<String>> {
        self.shutdown.subscribe()
    }

    /// Asks the shim to exit, recording `reason` (the first reason wins).
    pub fn request_shutdown(&self, reason: &str) {
        self.shutdown.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason.to_string());
                true
            } else {
                false
            }
        });
    }

    fn id(&self) -> &str {
        &self.config.id
    }

    /// Calls name the container; this shim has exactly one.
    pub fn check_id(&self, id: &str) -> Result<()> {
        if id == self.config.id {
            Ok(())
        } else {
            Err(TaskError::NotFound(format!(
                "container {id:?} not found: this shim supervises {:?}",
                self.config.id
            )))
        }
    }

    fn init(&self) -> Result<Arc<Process>> {
        let inner = self.inner.lock().unwrap();
        if inner.deleted {
            return Err(TaskError::NotFound(format!(
                "container {} was deleted",
                self.id()
            )));
        }
        inner.init.clone().ok_or_else(|| {
            TaskError::FailedPrecondition(format!("container {} is not created", self.id()))
        })
    }

    /// Waits (at most `limit` in all) until the output of the init and of
    /// every exec still known has been read to its end and written to the
    /// log. The log driver writes on a worker thread, so the last pieces of
    /// output an attached client got may still be queued for the log when
    /// the shim is asked to exit; the shim calls this before it does.
    pub async fn wait_logs_written(&self, limit: Duration) {
        let processes: Vec<Arc<Process>> = {
            let inner = self.inner.lock().unwrap();
            inner
                .init
                .iter()
                .chain(inner.execs.values())
                .cloned()
                .collect()
        };
        let _ = tokio::time::timeout(limit, async {
            for p in processes {
                p.io.wait_output_end(limit).await;
            }
        })
        .await;
    }

    /// The init ("") or an exec'd process.
    pub fn process(&self, exec_id: &str) -> Result<Arc<Process>> {
        if exec_id.is_empty() {
            return self.init();
        }
        let inner = self.inner.lock().unwrap();
        inner.execs.get(exec_id).cloned().ok_or_else(|| {
            TaskError::NotFound(format!(
                "exec {exec_id:?} not found in container {}",
                self.id()
            ))
        })
    }

    fn console_socket(&self) -> Result<ConsoleSocket> {
        let n = self.console_seq.fetch_add(1, Ordering::Relaxed);
        let path = self
            .config
            .socket_dir
            .join(format!("{}.{n}.con", self.config.socket_stem));
        Ok(ConsoleSocket::bind(path)?)
    }

    /// Runs a runtime call that sends a pty master to `console`, and
    /// returns the master.
    async fn run_with_console(
        &self,
        args: &[std::ffi::OsString],
        console: &ConsoleSocket,
    ) -> Result<std::os::fd::OwnedFd> {
        let mut call = self.runtime.spawn(args, None)?;
        let receive = console.receive_master();
        tokio::pin!(receive);
        let mut master = None;
        let exit = tokio::select! {
            m = &mut receive => {
                master = Some(m);
                (&mut call.exit).await.ok()
            }
            e = &mut call.exit => e.ok(),
        };
        if master.is_none() && exit == Some(ChildExit::Exited(0)) {
            // The runtime exited right after sending: the connection waits.
            master = tokio::time::timeout(Duration::from_secs(1), &mut receive)
                .await
                .ok();
        }
        call.finish(exit)?;
        match master {
            Some(m) => Ok(m?),
            None => Err(ConsoleError::NoFd {
                path: console.path().to_path_buf(),
            }
            .into()),
        }
    }

    /// Create: `runtime create`, stdio set up, the init watched.
    pub async fn create(self: &Arc<Self>, stdin: bool, log: LogSettings) -> Result<u32> {
        {
            let mut inner = self.inner.lock().unwrap();
            if inner.deleted {
                return Err(TaskError::FailedPrecondition(format!(
                    "container {} was deleted",
                    self.id()
                )));
            }
            if inner.init.is_some() || inner.creating {
                return Err(TaskError::AlreadyExists(format!(
                    "container {} already exists",
                    self.id()
                )));
            }
            inner.creating = true;
        }
        let result = self.create_init(stdin, log).await;
        let mut inner = self.inner.lock().unwrap();
        inner.creating = false;
        let (process, oom_counter) = result?;
        let pid = process.pid();
        inner.init = Some(process.clone());
        inner.oom_counter = oom_counter.clone();
        drop(inner);
        if let Some(counter) = oom_counter {
            tokio::spawn(self.clone().watch_oom(counter, process));
        }
        self.events.publish(EventType::Created, self.id(), "", pid);
        Ok(pid)
    }

    async fn create_init(
        self: &Arc<Self>,
        stdin: bool,
        log: LogSettings,
    ) -> Result<(Arc<Process>, Option<Arc<OomCounter>>)> {
        let config_path = self.config.bundle.join("config.json");
        let text = std::fs::read(&config_path).map_err(|source| TaskError::Io {
            what: "read bundle config",
            path: config_path.clone(),
            source,
        })?;
        let spec: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
            TaskError::FailedPrecondition(format!(
                "parse bundle config {}: {e}",
                config_path.display()
            ))
        })?;
        let terminal = spec["process"]["terminal"].as_bool().unwrap_or(false);
        let log = logging::open(&log)?;
        let label = format!("container {}", self.id());
        let io = ProcessIo::new(label.clone(), terminal, log);
        let pid_file = self.config.state_dir.join(INIT_PID_FILE);
        let _ = std::fs::remove_file(&pid_file);
        if terminal {
            let console = self.console_socket()?;
            let args = Runtime::create_args(
                self.id(),
                &self.config.bundle,
                &pid_file,
                Some(console.path()),
            );
            let master = self.run_with_console(&args, &console).await?;
            io.start_console(master, stdin)?;
        } else {
            let (child, parent) = pipes(&label, stdin)?;
            io.start_pipes(parent)?;
            let args = Runtime::create_args(self.id(), &self.config.bundle, &pid_file, None);
            if let Err(e) = self.runtime.run(&args, Some(child)).await {
                return Err(e.into());
            }
        }
        let pid = read_pid(&pid_file)?.ok_or_else(|| {
            TaskError::Runtime(RuntimeError::Failed(format!(
                "{} create wrote no pid file {}",
                self.runtime.binary().display(),
                pid_file.display()
            )))
        })?;
        let exit = self.reaper.watch(pid as i32);
        let process = Process::new(String::new(), label, terminal, stdin, io, None);
        process.set_pid(pid);
        let oom_counter = OomCounter::for_pid(pid).map(Arc::new);
        tokio::spawn(self.clone().monitor_init(process.clone(), exit));
        Ok((process, oom_counter))
    }

    async fn monitor_init(
        self: Arc<Self>,
        process: Arc<Process>,
        exit: oneshot::Receiver<ChildExit>,
    ) {
        let Ok(child_exit) = exit.await else { return };
        let at = SystemTime::now();
        process.io.wait_output_end(OUTPUT_DRAIN).await;
        let oom_counter = self.inner.lock().unwrap().oom_counter.clone();
        // The init's exit is published last: let the execs' exits go first.
        let execs: Vec<Arc<Process>> = self.inner.lock().unwrap().execs.values().cloned().collect();
        let _ = tokio::time::timeout(EXEC_DRAIN, async {
            for e in execs {
                if e.pid() != 0 {
                    e.wait().await;
                }
            }
        })
        .await;
        let exit = Exit {
            status: child_exit.status_code(),
            at,
        };
        let pid = process.pid();
        let record = ExitRecord {
            pid,
            exit_status: exit.status,
            exited_at: at,
        };
        if let Err(e) = record.write(&self.config.state_dir) {
            eprintln!("berth-shim: container {}: {e}", self.id());
        }
        process.start_settled().await;
        // OOM kills the watcher has not reported yet (just before the exit).
        if oom_counter.is_some_and(|c| c.take_new() > 0) {
            self.note_oom(pid);
        }
        process.set_exited(exit);
        self.events
            .publish_exit(self.id(), "", pid, exit.status, at, process.io.log_lost());
    }

    /// An OOM kill in the container: remembered for the init's exit, and
    /// published.
    fn note_oom(&self, pid: u32) {
        self.oom_killed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.events.publish(EventType::Oom, self.id(), "", pid);
    }

    /// Whether the OOM killer struck in the container's cgroup so far.
    pub fn oom_killed(&self) -> bool {
        self.oom_killed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Publishes an OOM event each time the kernel's OOM killer strikes in
    /// the container, until the init exits.
    async fn watch_oom(self: Arc<Self>, counter: Arc<OomCounter>, init: Arc<Process>) {
        let notifier = match counter.notifier() {
            Ok(n) => n,
            Err(e) => {
                eprintln!("berth-shim: container {}: watch OOM kills: {e}", self.id());
                return;
            }
        };
        loop {
            tokio::select! {
                ready = notifier.readable() => {
                    let Ok(mut ready) = ready else { return };
                    drain(&notifier);
                    ready.clear_ready();
                }
                _ = init.wait() => return,
            }
            // cgroup v1 notifies when the cgroup goes under OOM, before the
            // OOM killer picks its victim: give the count a moment to move.
            for _ in 0..OOM_COUNT_TRIES {
                if counter.take_new() > 0 {
                    self.note_oom(init.pid());
                    break;
                }
                tokio::time::sleep(OOM_COUNT_PAUSE).await;
            }
        }
    }

    async fn monitor_exec(
        self: Arc<Self>,
        process: Arc<Process>,
        exit: oneshot::Receiver<ChildExit>,
    ) {
        let Ok(child_exit) = exit.await else { return };
        let at = SystemTime::now();
        process.io.wait_output_end(OUTPUT_DRAIN).await;
        let exit = Exit {
            status: child_exit.status_code(),
            at,
        };
        process.start_settled().await;
        process.set_exited(exit);
        self.events.publish_exit(
            self.id(),
            &process.exec_id,
            process.pid(),
            exit.status,
            at,
            0,
        );
    }

    /// Start the init or an exec'd process.
    pub async fn start(self: &Arc<Self>, exec_id: &str) -> Result<u32> {
        let process = self.process(exec_id)?;
        if !exec_id.is_empty() {
            let init = self.init()?;
            if init.status() != ProcessStatus::Running {
                return Err(TaskError::FailedPrecondition(format!(
                    "container {} is not running: cannot start exec {exec_id:?}",
                    self.id()
                )));
            }
        }
        if let Err((status, starting)) = process.begin_start() {
            let why = match (status, starting) {
                (_, true) => "is being started",
                (ProcessStatus::Running | ProcessStatus::Paused, _) => "was already started",
                (ProcessStatus::Stopped, _) => "already ran and exited",
                _ => "was deleted",
            };
            return Err(TaskError::FailedPrecondition(format!(
                "{} {why}",
                process.label
            )));
        }
        let result = if exec_id.is_empty() {
            self.runtime
                .run(&["start", self.id()], None)
                .await
                .map(|_| process.pid())
                .map_err(TaskError::from)
        } else {
            self.start_exec(&process).await
        };
        process.end_start(result.is_ok());
        match &result {
            Ok(pid) if exec_id.is_empty() => {
                self.events.publish(EventType::Started, self.id(), "", *pid)
            }
            Ok(pid) => self
                .events
                .publish(EventType::ExecStarted, self.id(), exec_id, *pid),
            Err(_) if !exec_id.is_empty() => {
                // Its stdio went to the failed call: it can never run.
                self.inner.lock().unwrap().execs.remove(exec_id);
                process.set_deleted();
                process.io.close_unstarted();
            }
            Err(_) => {}
        }
        result
    }

    async fn start_exec(self: &Arc<Self>, process: &Arc<Process>) -> Result<u32> {
        let exec_id = &process.exec_id;
        let spec_file = self.exec_file(exec_id, "json");
        let pid_file = self.exec_file(exec_id, "pid");
        let _ = std::fs::remove_file(&pid_file);
        if process.terminal {
            let console = self.console_socket()?;
            let args = Runtime::exec_args(self.id(), &spec_file, &pid_file, Some(console.path()));
            let master = self.run_with_console(&args, &console).await?;
            process.io.start_console(master, process.stdin)?;
        } else {
            let child: Option<CallStdio> = process.take_child_stdio();
            let args = Runtime::exec_args(self.id(), &spec_file, &pid_file, None);
            self.runtime.run(&args, child).await?;
        }
        let pid = read_pid(&pid_file)?.ok_or_else(|| {
            TaskError::Runtime(RuntimeError::Failed(format!(
                "{} exec wrote no pid file {}",
                self.runtime.binary().display(),
                pid_file.display()
            )))
        })?;
        let exit = self.reaper.watch(pid as i32);
        process.set_pid(pid);
        tokio::spawn(self.clone().monitor_exec(process.clone(), exit));
        Ok(pid)
    }

    fn exec_file(&self, exec_id: &str, ext: &str) -> PathBuf {
        self.config.state_dir.join(format!("exec-{exec_id}.{ext}"))
    }

    /// Registers an exec'd process (started by `start`).
    pub fn exec(&self, exec_id: &str, process_json: &[u8], stdin: bool) -> Result<()> {
        validate_exec_id(exec_id)?;
        let spec: serde_json::Value = serde_json::from_slice(process_json).map_err(|e| {
            TaskError::InvalidArgument(format!("process spec of exec {exec_id:?}: {e}"))
        })?;
        let args_ok = spec["args"]
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|s| s.is_string()));
        if !args_ok {
            return Err(TaskError::InvalidArgument(format!(
                "process spec of exec {exec_id:?}: \"args\" must be a non-empty array of strings"
            )));
        }
        let terminal = spec["terminal"].as_bool().unwrap_or(false);
        let init = self.init()?;
        if self.inner.lock().unwrap().execs.contains_key(exec_id) {
            return Err(TaskError::AlreadyExists(format!(
                "exec {exec_id:?} already exists in container {}",
                self.id()
            )));
        }
        if init.status() != ProcessStatus::Running {
            return Err(TaskError::FailedPrecondition(format!(
                "container {} is not running: cannot exec {exec_id:?}",
                self.id()
            )));
        }
        let spec_file = self.exec_file(exec_id, "json");
        std::fs::write(&spec_file, process_json).map_err(|source| TaskError::Io {
            what: "write exec process spec",
            path: spec_file.clone(),
            source,
        })?;
        let label = format!("exec {exec_id} of container {}", self.id());
        let io = ProcessIo::new(label.clone(), terminal, None);
        let child = if terminal {
            None
        } else {
            let (child, parent) = pipes(&label, stdin)?;
            io.start_pipes(parent)?;
            Some(child)
        };
        let process = Process::new(exec_id.to_string(), label, terminal, stdin, io, child);
        {
            let mut inner = self.inner.lock().unwrap();
            if inner.execs.contains_key(exec_id) {
                return Err(TaskError::AlreadyExists(format!(
                    "exec {exec_id:?} already exists in container {}",
                    self.id()
                )));
            }
            inner.execs.insert(exec_id.to_string(), process);
        }
        self.events
            .publish(EventType::ExecAdded, self.id(), exec_id, 0);
        Ok(())
    }

    /// State of the init or an exec'd process.
    pub fn state(&self, exec_id: &str) -> Result<ProcessView> {
        let p = self.process(exec_id)?;
        Ok(ProcessView {
            pid: p.pid(),
            status: p.status(),
            terminal: p.terminal,
            stdin: p.stdin,
            exit: p.exit(),
            log_lost: p.io.log_lost(),
        })
    }

    /// Kill: a signal to the init (through the runtime) or an exec'd
    /// process (directly, as containerd does).
    pub async fn kill(&self, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        if !(1..=64).contains(&signal) {
            return Err(TaskError::InvalidArgument(format!(
                "signal {signal} out of range: signals are 1 to 64"
            )));
        }
        let process = self.process(exec_id)?;
        let status = process.status();
        if exec_id.is_empty() {
            if matches!(status, ProcessStatus::Stopped | ProcessStatus::Deleted) {
                return Err(TaskError::FailedPrecondition(format!(
                    "container {} is not running",
                    self.id()
                )));
            }
            let sig = signal.to_string();
            let mut args = vec!["kill"];
            if all {
                args.push("--all");
            }
            args.push(self.id());
            args.push(&sig);
            self.runtime.run(&args, None).await?;
            return Ok(());
        }
        if all {
            return Err(TaskError::InvalidArgument(format!(
                "kill all applies to the container, not to exec {exec_id:?}"
            )));
        }
        match status {
            ProcessStatus::Running | ProcessStatus::Paused => {
                // SAFETY: plain syscall; the pid is our child, not reaped
                // yet (status is not Stopped), so it cannot have been reused.
                let rc = unsafe { libc::kill(process.pid() as i32, signal as i32) };
                if rc == 0 {
                    Ok(())
                } else {
                    Err(TaskError::FailedPrecondition(format!(
                        "signal {} (pid {}): {}",
                        process.label,
                        process.pid(),
                        std::io::Error::last_os_error()
                    )))
                }
            }
            ProcessStatus::Created => Err(TaskError::FailedPrecondition(format!(
                "{} has not started",
                process.label
            ))),
            _ => Err(TaskError::FailedPrecondition(format!(
                "{} is not running",
                process.label
            ))),
        }
    }

    /// Delete an exited exec'd process, or the container.
    pub async fn delete(&self, exec_id: &str) -> Result<(u32, Option<Exit>)> {
        let process = self.process(exec_id)?;
        if !exec_id.is_empty() {
            if process.is_running() {
                return Err(TaskError::FailedPrecondition(format!(
                    "{} is running: kill it before deleting it",
                    process.label
                )));
            }
            self.inner.lock().unwrap().execs.remove(exec_id);
            process.set_deleted();
            process.io.close_unstarted();
            for ext in ["json", "pid"] {
                let _ = std::fs::remove_file(self.exec_file(exec_id, ext));
            }
            return Ok((process.pid(), process.exit()));
        }
        match process.status() {
            ProcessStatus::Running | ProcessStatus::Paused => {
                return Err(TaskError::FailedPrecondition(format!(
                    "container {} is running: kill it before deleting it",
                    self.id()
                )))
            }
            _ if process.is_running() => {
                return Err(TaskError::FailedPrecondition(format!(
                    "container {} is being started",
                    self.id()
                )))
            }
            _ => {}
        }
        let running_execs: Vec<String> = {
            let inner = self.inner.lock().unwrap();
            inner
                .execs
                .values()
                .filter(|e| e.is_running())
                .map(|e| e.exec_id.clone())
                .collect()
        };
        if !running_execs.is_empty() {
            return Err(TaskError::FailedPrecondition(format!(
                "container {} still runs exec {:?}",
                self.id(),
                running_execs
            )));
        }
        // A created, never started init is killed by `runtime delete`.
        self.runtime.run(&["delete", self.id()], None).await?;
        let _ = tokio::time::timeout(KILL_WAIT, process.wait()).await;
        self.mark_deleted(&process, "deleted");
        Ok((process.pid(), process.exit()))
    }

    fn mark_deleted(&self, init: &Arc<Process>, reason: &str) {
        let mut inner = self.inner.lock().unwrap();
        if inner.deleted {
            return;
        }
        inner.deleted = true;
        let execs: Vec<Arc<Process>> = inner.execs.drain().map(|(_, p)| p).collect();
        drop(inner);
        for e in execs {
            e.set_deleted();
            e.io.close_unstarted();
        }
        init.set_deleted();
        self.events
            .publish(EventType::Deleted, self.id(), "", init.pid());
        self.request_shutdown(reason);
    }

    /// Kills the container (if it exists and was not deleted), records its
    /// exit, and deletes it, then asks the shim to exit with `reason`: for
    /// Shutdown with `now` and for SIGTERM.
    pub async fn terminate(&self, reason: &str) {
        // A create in flight (its caller may have gone) ends first: the
        // container it makes is then deleted with the rest, never left to
        // a runtime call that outlives the shim.
        let deadline = tokio::time::Instant::now() + CREATE_WAIT;
        while self.inner.lock().unwrap().creating && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let init = {
            let inner = self.inner.lock().unwrap();
            if inner.deleted {
                None
            } else {
                inner.init.clone()
            }
        };
        let Some(init) = init else {
            self.request_shutdown(reason);
            return;
        };
        if let Err(e) = self
            .runtime
            .run(&["delete", "--force", self.id()], None)
            .await
        {
            eprintln!("berth-shim: container {}: forced delete: {e}", self.id());
            if init.exit().is_none() && init.pid() != 0 {
                // SAFETY: plain syscall on our own (unreaped) child.
                unsafe { libc::kill(init.pid() as i32, libc::SIGKILL) };
            }
        }
        let _ = tokio::time::timeout(KILL_WAIT, init.wait()).await;
        self.mark_deleted(&init, reason);
    }

    /// Shutdown: exit the shim (refused while the container exists, unless
    /// `now`).
    pub async fn shutdown(&self, now: bool) -> Result<()> {
        let exists = {
            let inner = self.inner.lock().unwrap();
            (inner.init.is_some() || inner.creating) && !inner.deleted
        };
        if exists && !now {
            return Err(TaskError::FailedPrecondition(format!(
                "container {} still exists: delete it first, or shut down now",
                self.id()
            )));
        }
        self.terminate("shutdown").await;
        Ok(())
    }

    /// Wait for the init's or an exec'd process's exit.
    pub async fn wait(&self, exec_id: &str) -> Result<Exit> {
        let process = self.process(exec_id)?;
        match process.wait().await {
            ExitState::Exited(e) => Ok(e),
            _ => Err(TaskError::FailedPrecondition(format!(
                "{} was deleted before it ran",
                process.label
            ))),
        }
    }

    /// The container's pids, each with its exec id when the shim started it.
    pub async fn pids(&self) -> Result<Vec<(u32, String)>> {
        self.init()?;
        let pids = self.runtime.ps(self.id()).await?;
        let inner = self.inner.lock().unwrap();
        Ok(pids
            .into_iter()
            .map(|pid| {
                let exec_id = inner
                    .execs
                    .values()
                    .find(|e| e.pid() == pid)
                    .map(|e| e.exec_id.clone())
                    .unwrap_or_default();
                (pid, exec_id)
            })
            .collect())
    }

    /// The runtime's stats.
    pub async fn stats(&self) -> Result<TaskStats> {
        self.require_live("read stats of")?;
        let json = self.runtime.stats(self.id()).await?;
        let num = |ptr: &str| json.pointer(ptr).and_then(|v| v.as_u64()).unwrap_or(0);
        Ok(TaskStats {
            memory_usage: num("/memory/usage/usage"),
            memory_limit: num("/memory/usage/limit"),
            cpu_total: num("/cpu/usage/total"),
            pids: num("/pids/current"),
            json,
        })
    }

    fn require_live(&self, what: &str) -> Result<Arc<Process>> {
        let init = self.init()?;
        if matches!(
            init.status(),
            ProcessStatus::Stopped | ProcessStatus::Deleted
        ) {
            return Err(TaskError::FailedPrecondition(format!(
                "cannot {what} container {}: it is not running",
                self.id()
            )));
        }
        Ok(init)
    }

    /// Pause: freeze every process of the container (`runtime pause`).
    pub async fn pause(&self) -> Result<()> {
        self.freeze(true).await
    }

    /// Resume: thaw a paused container (`runtime resume`).
    pub async fn resume(&self) -> Result<()> {
        self.freeze(false).await
    }

    async fn freeze(&self, pause: bool) -> Result<()> {
        let (from, verb, event, refusal) = if pause {
            (
                ProcessStatus::Running,
                "pause",
                EventType::Paused,
                "not running: cannot pause it",
            )
        } else {
            (
                ProcessStatus::Paused,
                "resume",
                EventType::Resumed,
                "not paused: cannot resume it",
            )
        };
        let init = self.init()?;
        if init.status() != from {
            return Err(TaskError::FailedPrecondition(format!(
                "container {} is {refusal}",
                self.id()
            )));
        }
        self.runtime.run(&[verb, self.id()], None).await?;
        init.set_paused(pause);
        self.events.publish(event, self.id(), "", init.pid());
        Ok(())
    }

    /// Update: new `linux.resources` (`runtime update --resources F`).
    pub async fn update(&self, resources: &[u8]) -> Result<()> {
        let v: serde_json::Value = serde_json::from_slice(resources)
            .map_err(|e| TaskError::InvalidArgument(format!("resources JSON: {e}")))?;
        if !v.is_object() {
            return Err(TaskError::InvalidArgument(
                "resources JSON must be an object (OCI linux.resources)".to_string(),
            ));
        }
        self.require_live("update")?;
        let file = self.config.state_dir.join("resources.json");
        std::fs::write(&file, resources).map_err(|source| TaskError::Io {
            what: "write resources",
            path: file.clone(),
            source,
        })?;
        let result = self
            .runtime
            .run(
                &[
                    std::ffi::OsStr::new("update"),
                    "--resources".as_ref(),
                    file.as_os_str(),
                    self.id().as_ref(),
                ],
                None,
            )
            .await;
        let _ = std::fs::remove_file(&file);
        Ok(result.map(|_| ())?)
    }
}

/// Exec ids name files in the state dir: letters, digits, `_ . -`.
fn validate_exec_id(exec_id: &str) -> Result<()> {
    if exec_id.is_empty() {
        return Err(TaskError::InvalidArgument(
            "exec id is empty (the empty id is the container's init)".to_string(),
        ));
    }
    let ok = exec_id.len() <= 64
        && !exec_id.starts_with('.')
        && exec_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(TaskError::InvalidArgument(format!(
            "exec id {exec_id:?} is invalid: use up to 64 letters, digits, '_', '.', '-'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ids() {
        assert!(validate_exec_id("exec-1.a_b").is_ok());
        for bad in ["", ".x", "a/b", "a b", &"x".repeat(65)] {
            assert!(
                matches!(validate_exec_id(bad), Err(TaskError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }
}
