//! berth-shim, the one [`Task`] implementation: starting a container's
//! shim and talking to it. The only module of berthd that speaks
//! `berth.shim.v1`.
//!
//! berthd runs `berth-shim --id ID --bundle B --state-dir S --runtime R
//! --runtime-root RR --socket-dir D`; the shim prints its socket path once
//! it listens and goes on in its own session (it outlives berthd: DESIGN.md
//! "Process model"). berthd then speaks `berth.shim.v1` to that socket, and
//! after a restart reconnects to the address kept in the record.

use super::pidfd::PidFd;
use super::{
    EventStream, OutputChunk, OutputStream, StdStream, StdinMessage, StdinSource, Task, TaskError,
    TaskEvent, TaskExit, TaskFuture, TaskLaunch, TaskLauncher, TaskLog, TaskState, TaskStats,
    TaskStatus,
};
use berth_cgroups::{Layout, OomNotifier};
use berth_proto::shim::v1 as shimpb;
use berth_proto::shim::v1::shim_client::ShimClient;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

/// A shim client.
type Client = ShimClient<Channel>;

/// Why a shim could not be started or reached.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("start shim {binary} for container {id}: {source}")]
    Spawn {
        binary: PathBuf,
        id: String,
        source: std::io::Error,
    },
    #[error("shim for container {id} failed: {message}")]
    Failed { id: String, message: String },
    #[error("connect to shim at {address}: {message}")]
    Connect { address: PathBuf, message: String },
}

/// Finds `name` next to the running executable, else on PATH, else returns
/// the bare name (so the error names it).
pub fn find_binary(name: &str) -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from(name)
}

/// Starts `binary` as the shim of `launch.id`, listening in `socket_dir`;
/// returns its socket address.
async fn spawn(
    binary: &Path,
    socket_dir: &Path,
    launch: &TaskLaunch<'_>,
) -> Result<PathBuf, ShimError> {
    let output = tokio::process::Command::new(binary)
        .arg("--id")
        .arg(launch.id)
        .arg("--bundle")
        .arg(launch.bundle)
        .arg("--state-dir")
        .arg(launch.state_dir)
        .arg("--runtime")
        .arg(launch.runtime)
        .arg("--runtime-root")
        .arg(launch.runtime_root)
        .arg("--socket-dir")
        .arg(socket_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| ShimError::Spawn {
            binary: binary.to_path_buf(),
            id: launch.id.to_string(),
            source,
        })?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(ShimError::Failed {
            id: launch.id.to_string(),
            message: if message.is_empty() {
                format!("exited with {}", output.status)
            } else {
                message
            },
        });
    }
    let address = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if address.is_empty() {
        return Err(ShimError::Failed {
            id: launch.id.to_string(),
            message: "printed no socket address".into(),
        });
    }
    Ok(PathBuf::from(address))
}

/// Connects to the shim listening at `address`.
async fn connect(address: &Path) -> Result<Client, ShimError> {
    let channel = berth_proto::dial_unix(address).await.map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message = s.to_string();
            source = s.source();
        }
        ShimError::Connect {
            address: address.to_path_buf(),
            message,
        }
    })?;
    Ok(ShimClient::new(channel)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20))
}

/// A shim process, found through the `shim.pid` its state dir records, and
/// held by a pidfd so that a later signal or wait can never reach another
/// process that reused the pid (see [`PidFd`]).
pub struct ShimProcess {
    pub pid: i32,
    process: PidFd,
}

impl ShimProcess {
    /// The live shim whose state dir is `state_dir`: `shim.pid` names a
    /// process that runs (not a zombie) and whose command line carries that
    /// state dir (a recycled pid is not taken for the shim). None otherwise.
    pub fn find(state_dir: &Path) -> Option<ShimProcess> {
        let pid: i32 = std::fs::read_to_string(state_dir.join("shim.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let process = PidFd::open(pid)?;
        // Checked after the pidfd is held: a pid reused from here on
        // cannot be mistaken, the pidfd names the process that was checked.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let want = state_dir.as_os_str().as_encoded_bytes();
        let ours = cmdline.split(|b| *b == 0).any(|arg| arg == want);
        ours.then_some(ShimProcess { pid, process })
    }

    /// SIGKILL.
    pub fn kill(&self) {
        self.process.kill();
    }

    /// Resolves once the shim has exited.
    pub async fn gone(&self) {
        self.process.exited().await
    }

    /// Waits up to `timeout` for the process to exit; true once it has.
    pub async fn wait_gone(&self, timeout: std::time::Duration) -> bool {
        self.process.exited_within(timeout).await
    }

    /// Waits up to `grace` for the shim to exit on its own, then kills it
    /// and waits for that; true once it is gone.
    pub async fn end(&self, grace: std::time::Duration) -> bool {
        if self.wait_gone(grace).await {
            return true;
        }
        tracing::warn!(pid = self.pid, "shim did not exit: SIGKILL");
        self.kill();
        self.wait_gone(std::time::Duration::from_secs(5)).await
    }
}

/// Starts berth-shim processes and connects to them: the [`TaskLauncher`]
/// of berthd.
pub struct ShimLauncher {
    /// The berth-shim binary.
    pub binary: PathBuf,
    /// Where shims put their sockets (short paths: `sun_path` is 108 bytes).
    pub socket_dir: PathBuf,
}

impl TaskLauncher for ShimLauncher {
    fn spawn<'a>(&'a self, launch: &'a TaskLaunch<'a>) -> TaskFuture<'a, PathBuf> {
        Box::pin(async move { Ok(spawn(&self.binary, &self.socket_dir, launch).await?) })
    }

    fn connect<'a>(
        &'a self,
        id: &'a str,
        address: &'a Path,
        state_dir: &'a Path,
    ) -> TaskFuture<'a, Arc<dyn Task>> {
        Box::pin(async move {
            // Connected now, so that a shim that cannot be reached fails
            // the connect; the connection then closes when idle.
            let client = connect(address).await?;
            Ok(Arc::new(ShimTask {
                id: id.to_string(),
                state_dir: state_dir.to_path_buf(),
                connection: Connection::new(address, client),
                init: tokio::sync::OnceCell::new(),
            }) as Arc<dyn Task>)
        })
    }
}

/// How long a shim's connection stays open after its last call.
///
/// berthd used to hold one HTTP/2 connection per running container, with a
/// Wait and an event stream open on it, for the container's whole life:
/// about 90 KiB of berthd's memory per container (issue 21's target is 25
/// KiB). A container that runs needs none of it: its exit is awaited on
/// pidfds ([`ShimTask::until_init_exits`]), its OOM kills on its memory
/// cgroup's notifier ([`ShimTask::events`]), and a later call (stats, exec,
/// stop...) connects again, in about 0.1 ms over the unix socket. The delay
/// keeps one connection for the calls of one command (`run`: create,
/// start, state).
const IDLE_CONNECTION: Duration = Duration::from_secs(2);

/// A shim's `berth.shim.v1` connection, made when a call needs it and
/// closed after [`IDLE_CONNECTION`] without one. Calls in flight hold
/// their own handle on it, so closing never cuts one short.
struct Connection {
    address: PathBuf,
    open: std::sync::Mutex<OpenConnection>,
}

#[derive(Default)]
struct OpenConnection {
    client: Option<Client>,
    last_use: Option<Instant>,
    /// Whether a task is waiting to close the connection when it idles.
    closer: bool,
}

impl Connection {
    fn new(address: &Path, client: Client) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            address: address.to_path_buf(),
            open: std::sync::Mutex::new(OpenConnection::default()),
        });
        connection.keep(client);
        connection
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OpenConnection> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The open connection, or a new one.
    async fn client(self: &Arc<Self>) -> Result<Client, TaskError> {
        {
            let mut open = self.lock();
            open.last_use = Some(Instant::now());
            if let Some(client) = &open.client {
                return Ok(client.clone());
            }
        }
        let client = connect(&self.address)
            .await
            .map_err(|e| TaskError::Unavailable(e.to_string()))?;
        Ok(self.keep(client))
    }

    /// Keeps `client` as the open connection (or returns the one another
    /// call opened meanwhile), with a task that closes it when idle.
    fn keep(self: &Arc<Self>, client: Client) -> Client {
        let mut open = self.lock();
        open.last_use = Some(Instant::now());
        if let Some(existing) = &open.client {
            return existing.clone();
        }
        open.client = Some(client.clone());
        if !open.closer {
            open.closer = true;
            tokio::spawn(self.clone().close_when_idle());
        }
        client
    }

    async fn close_when_idle(self: Arc<Self>) {
        loop {
            let last_use = self.lock().last_use.unwrap_or_else(Instant::now);
            tokio::time::sleep_until((last_use + IDLE_CONNECTION).into()).await;
            let mut open = self.lock();
            if open.last_use.is_none_or(|t| t.elapsed() >= IDLE_CONNECTION) {
                open.client = None;
                open.closer = false;
                return;
            }
        }
    }
}

/// One container's shim, reached over `berth.shim.v1`.
pub struct ShimTask {
    id: String,
    /// The shim's state dir (its pid file).
    state_dir: PathBuf,
    connection: Arc<Connection>,
    /// The init, once [`ShimTask::running_init`] has found it running: a
    /// shim runs one init for its life, so the exit watch and the OOM
    /// watch share one pidfd and one check with the shim.
    init: tokio::sync::OnceCell<Arc<PidFd>>,
}

/// What a task's OOM event stream watches.
struct OomWatch {
    fd: tokio::io::unix::AsyncFd<OomNotifier>,
    init: Arc<PidFd>,
    /// Kills counted but not yet yielded.
    pending: u64,
    /// The init exited: what is pending is the last.
    ended: bool,
}

/// The host's cgroup layout, read once (berthd's mountinfo grows with every
/// container's overlay); None where cgroupfs is not mounted.
fn host_cgroup_layout() -> Option<&'static Layout> {
    static LAYOUT: std::sync::OnceLock<Option<Layout>> = std::sync::OnceLock::new();
    LAYOUT.get_or_init(|| Layout::detect().ok()).as_ref()
}

/// A shim's refusal or a broken connection, as the domain's error: the
/// status message is the shim's (or the runtime's) own text.
fn task_error(status: tonic::Status) -> TaskError {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled => {
            TaskError::Unavailable(transport_message(&status))
        }
        _ => TaskError::Failed(status.message().to_string()),
    }
}

/// The innermost cause of a transport failure (the status's own message is
/// often just "transport error").
fn transport_message(status: &tonic::Status) -> String {
    let mut message = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(s) = source {
        message = s.to_string();
        source = s.source();
    }
    message
}

/// A protobuf timestamp's seconds and nanoseconds as a time.
fn system_time(seconds: i64, nanos: i32) -> Option<SystemTime> {
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(
        u64::try_from(seconds).ok()?,
        u32::try_from(nanos).ok()?,
    ))
}

impl ShimTask {
    async fn client(&self) -> Result<Client, TaskError> {
        self.connection.client().await
    }

    /// The container's main process by pidfd, if it was running when first
    /// asked for (it may have exited since: the pidfd then says so at
    /// once); None when it was not (or the shim cannot be asked), and the
    /// next call asks again.
    ///
    /// The pid comes from the shim, and is taken for the init only if the
    /// shim still reports it running after the pidfd is held: the shim is
    /// its parent, so until the shim reaps it the pid cannot be reused, and
    /// the pidfd names the init.
    async fn running_init(&self) -> Option<Arc<PidFd>> {
        let running = |s: &TaskState| {
            s.pid > 0
                && matches!(
                    s.status,
                    TaskStatus::Created | TaskStatus::Running | TaskStatus::Paused
                )
        };
        self.init
            .get_or_try_init(|| async {
                let before = self.state("").await.ok().filter(running).ok_or(())?;
                let init = PidFd::open(before.pid as i32).ok_or(())?;
                let now = self.state("").await.ok().filter(running).ok_or(())?;
                (now.pid == before.pid).then(|| Arc::new(init)).ok_or(())
            })
            .await
            .ok()
            .cloned()
    }

    /// The shim's Wait.
    async fn wait_call(&self, exec_id: &str) -> Result<TaskExit, TaskError> {
        let waited = self
            .client()
            .await?
            .wait(shimpb::WaitRequest {
                id: self.id.clone(),
                exec_id: exec_id.to_string(),
            })
            .await
            .map_err(task_error)?
            .into_inner();
        Ok(TaskExit {
            code: waited.exit_status as i32,
            exited_at: waited
                .exited_at
                .and_then(|t| system_time(t.seconds, t.nanos)),
            oom_killed: waited.oom_killed,
        })
    }

    /// Waits, holding no connection, until the container's main process
    /// has exited or its shim is gone; returns at once when it cannot tell
    /// (the shim's Wait then answers, or fails for a dead shim).
    async fn until_init_exits(&self) {
        // Boxed: its calls' state is not kept while the exit is awaited.
        let Some(init) = Box::pin(self.running_init()).await else {
            return;
        };
        let Some(shim) = ShimProcess::find(&self.state_dir) else {
            return;
        };
        tokio::select! {
            _ = init.exited() => {}
            _ = shim.gone() => {}
        }
    }
}

impl Task for ShimTask {
    fn create(&self, stdin: bool, log: &TaskLog) -> TaskFuture<'_, u32> {
        let request = shimpb::CreateRequest {
            id: self.id.clone(),
            stdin,
            log: Some(shimpb::LogConfig {
                driver: log.driver.clone(),
                path: log.path.to_string_lossy().into_owned(),
                max_size: log.max_size,
                max_file: log.max_file,
                options: log
                    .options
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                tag: log.tag.clone(),
                attrs: log.attrs.clone().into_iter().collect(),
                non_blocking: log.non_blocking,
                max_buffer_size: log.max_buffer_size,
            }),
        };
        Box::pin(async move {
            let created = self
                .client()
                .await?
                .create(request)
                .await
                .map_err(task_error)?;
            Ok(created.into_inner().pid)
        })
    }

    fn start<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, u32> {
        Box::pin(async move {
            let started = self
                .client()
                .await?
                .start(shimpb::StartRequest {
                    id: self.id.clone(),
                    exec_id: exec_id.to_string(),
                })
                .await
                .map_err(task_error)?;
            Ok(started.into_inner().pid)
        })
    }

    fn state<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, TaskState> {
        Box::pin(async move {
            let state = self
                .client()
                .await?
                .state(shimpb::StateRequest {
                    id: self.id.clone(),
                    exec_id: exec_id.to_string(),
                })
                .await
                .map_err(task_error)?
                .into_inner();
            let status = match shimpb::Status::try_from(state.status).unwrap_or_default() {
                shimpb::Status::Unknown => TaskStatus::Unknown,
                shimpb::Status::Created => TaskStatus::Created,
                shimpb::Status::Running => TaskStatus::Running,
                shimpb::Status::Stopped => TaskStatus::Stopped,
                shimpb::Status::Paused => TaskStatus::Paused,
                shimpb::Status::Deleted => TaskStatus::Deleted,
            };
            Ok(TaskState {
                pid: state.pid,
                status,
                log_lost: state.log_lost,
            })
        })
    }

    fn kill<'a>(&'a self, exec_id: &'a str, signal: i32, all: bool) -> TaskFuture<'a, ()> {
        Box::pin(async move {
            self.client()
                .await?
                .kill(shimpb::KillRequest {
                    id: self.id.clone(),
                    exec_id: exec_id.to_string(),
                    signal: signal as u32,
                    all,
                })
                .await
                .map_err(task_error)?;
            Ok(())
        })
    }

    fn wait<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, TaskExit> {
        Box::pin(async move {
            if exec_id.is_empty() {
                self.until_init_exits().await;
            }
            // Boxed, made once the exit is there: the call's state is not
            // part of what waits (one per running container).
            Box::pin(self.wait_call(exec_id)).await
        })
    }

    fn delete<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, ()> {
        Box::pin(async move {
            self.client()
                .await?
                .delete(shimpb::DeleteRequest {
                    id: self.id.clone(),
                    exec_id: exec_id.to_string(),
                })
                .await
                .map_err(task_error)?;
            Ok(())
        })
    }

    fn exec<'a>(&'a self, exec_id: &'a str, process: Vec<u8>, stdin: bool) -> TaskFuture<'a, ()> {
        Box::pin(async move {
            self.client()
                .await?
                .exec(shimpb::ExecRequest {
                    id: self.id.clone(),
                    exec_id: exec_id.to_string(),
                    process,
                    stdin,
                })
                .await
                .map_err(task_error)?;
            Ok(())
        })
    }

    fn resize_pty<'a>(&'a self, exec_id: &'a str, width: u32, height: u32) -> TaskFuture<'a, ()> {
        Box::pin(async move {
            self.client()
                .await?
                .resize_pty(shimpb::ResizePtyRequest {
                    id: self.id.clone(),
                    exec_id: exec_id.to_string(),
                    width,
                    height,
                })
                .await
                .map_err(task_error)?;
            Ok(())
        })
    }

    fn attach<'a>(
        &'a self,
        exec_id: &'a str,
        stdin: Option<StdinSource>,
    ) -> TaskFuture<'a, OutputStream> {
        Box::pin(async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<shimpb::AttachRequest>(16);
            // The first message names the process.
            tx.send(shimpb::AttachRequest {
                id: self.id.clone(),
                exec_id: exec_id.to_string(),
                stdin: Vec::new(),
                close_stdin: false,
            })
            .await
            .map_err(|_| TaskError::Unavailable("attach: request channel closed".into()))?;
            if let Some(stdin) = stdin {
                let (id, exec_id) = (self.id.clone(), exec_id.to_string());
                tokio::spawn(async move {
                    let mut stdin = stdin.lock().await;
                    while let Some(msg) = stdin.recv().await {
                        let (data, close) = match msg {
                            StdinMessage::Data(d) => (d, false),
                            StdinMessage::Close => (Vec::new(), true),
                        };
                        let req = shimpb::AttachRequest {
                            id: id.clone(),
                            exec_id: exec_id.clone(),
                            stdin: data,
                            close_stdin: close,
                        };
                        if tx.send(req).await.is_err() || close {
                            break;
                        }
                    }
                });
            } else {
                // No stdin: the request side ends after its first message.
                // Held open, it would keep the HTTP/2 stream alive after
                // the output was dropped (a client gone): no reset would
                // reach the shim, and the shim would wait forever for room
                // in that client's queue.
                drop(tx);
            }
            // A connection of its own: HTTP/2 flow control is per
            // connection too, and a client that reads slowly (or not at
            // all) fills its stream's window; on the shared connection a
            // few such streams would exhaust the connection's window and
            // stall every other call on it (the Wait that learns of the
            // exit).
            let mut client = connect(&self.connection.address).await?;
            let output = client
                .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .map_err(|s| TaskError::Failed(format!("attach to {}: {}", self.id, s.message())))?
                .into_inner();
            let chunks = output.map(|message| {
                message.map_err(task_error).map(|r| OutputChunk {
                    stream: if r.stream == shimpb::StdStream::Stderr as i32 {
                        StdStream::Stderr
                    } else {
                        StdStream::Stdout
                    },
                    data: r.data,
                })
            });
            Ok(Box::pin(chunks) as OutputStream)
        })
    }

    fn pids(&self) -> TaskFuture<'_, Vec<u32>> {
        Box::pin(async move {
            let pids = self
                .client()
                .await?
                .pids(shimpb::PidsRequest {
                    id: self.id.clone(),
                })
                .await
                .map_err(task_error)?
                .into_inner();
            Ok(pids.processes.iter().map(|p| p.pid).collect())
        })
    }

    fn stats(&self) -> TaskFuture<'_, TaskStats> {
        Box::pin(async move {
            let s = self
                .client()
                .await?
                .stats(shimpb::StatsRequest {
                    id: self.id.clone(),
                })
                .await
                .map_err(task_error)?
                .into_inner();
            Ok(TaskStats {
                json: s.json,
                memory_usage_bytes: s.memory_usage_bytes,
                memory_limit_bytes: s.memory_limit_bytes,
                cpu_usage_total_ns: s.cpu_usage_total_ns,
                pids_current: s.pids_current,
            })
        })
    }

    fn pause(&self) -> TaskFuture<'_, ()> {
        Box::pin(async move {
            self.client()
                .await?
                .pause(shimpb::PauseRequest {
                    id: self.id.clone(),
                })
                .await
                .map_err(task_error)?;
            Ok(())
        })
    }

    fn resume(&self) -> TaskFuture<'_, ()> {
        Box::pin(async move {
            self.client()
                .await?
                .resume(shimpb::ResumeRequest {
                    id: self.id.clone(),
                })
                .await
                .map_err(task_error)?;
            Ok(())
        })
    }

    fn update(&self, resources: Vec<u8>) -> TaskFuture<'_, ()> {
        Box::pin(async move {
            self.client()
                .await?
                .update(shimpb::UpdateRequest {
                    id: self.id.clone(),
                    resources,
                })
                .await
                .map_err(task_error)?;
            Ok(())
        })
    }

    /// OOM kills, from the container's memory cgroup (not from the
    /// shim: that would hold a connection open for the container's life,
    /// see [`IDLE_CONNECTION`]). The stream ends when the cgroup goes.
    fn events(&self) -> TaskFuture<'_, EventStream> {
        Box::pin(async move {
            let failed = |e: &dyn std::fmt::Display| {
                TaskError::Failed(format!("watch OOM kills of container {}: {e}", self.id))
            };
            let Some(init) = self.running_init().await else {
                return Ok(Box::pin(tokio_stream::empty()) as EventStream);
            };
            let notifier = host_cgroup_layout()
                .map(|layout| OomNotifier::for_process(layout, init.pid))
                .transpose()
                .map_err(|e| failed(&e))?
                .flatten();
            let Some(notifier) = notifier else {
                return Ok(Box::pin(tokio_stream::empty()) as EventStream);
            };
            let interest = if notifier.poll_events() == libc::POLLPRI {
                tokio::io::Interest::PRIORITY
            } else {
                tokio::io::Interest::READABLE
            };
            // SAFETY: the notifier owns its fd, open and the same for as
            // long as the AsyncFd (which owns the notifier) lives.
            let fd =
                unsafe { tokio::io::unix::AsyncFd::register_with_interest(notifier, interest) }
                    .map_err(|e| failed(&std::io::Error::from(e)))?;
            // Until the init exits (then what the counter still holds): the
            // cgroup goes after it, and a restarted container's new cgroup
            // has the same path, so a later wakeup is not this run's.
            let watch = OomWatch {
                fd,
                init,
                pending: 0,
                ended: false,
            };
            let events = futures_util::stream::unfold(watch, move |mut w| async move {
                while w.pending == 0 {
                    if w.ended {
                        return None;
                    }
                    let mut exited = false;
                    tokio::select! {
                        ready = w.fd.ready_mut(interest) => {
                            let mut ready = ready.ok()?;
                            let taken = ready.get_inner_mut().take();
                            ready.clear_ready();
                            w.pending = taken.ok()?;
                        }
                        _ = w.init.exited() => exited = true,
                    }
                    if exited {
                        w.ended = true;
                        w.pending = w.fd.get_mut().take().unwrap_or(0);
                    }
                }
                w.pending -= 1;
                let event = TaskEvent::Oom {
                    exec_id: String::new(),
                };
                Some((event, w))
            });
            Ok(Box::pin(events) as EventStream)
        })
    }

    fn shutdown(&self, now: bool) -> TaskFuture<'_, ()> {
        Box::pin(async move {
            self.client()
                .await?
                .shutdown(shimpb::ShutdownRequest {
                    id: self.id.clone(),
                    now,
                })
                .await
                .map_err(task_error)?;
            Ok(())
        })
    }
}
