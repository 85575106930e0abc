//! berth-shim, the one [`Task`] implementation: starting a container's
//! shim and talking to it. The only module of berthd that speaks
//! `berth.shim.v1`.
//!
//! berthd runs `berth-shim --id ID --bundle B --state-dir S --runtime R
//! --runtime-root RR --socket-dir D`; the shim prints its socket path once
//! it listens and goes on in its own session (it outlives berthd: DESIGN.md
//! "Process model"). berthd then speaks `berth.shim.v1` to that socket, and
//! after a restart reconnects to the address kept in the record.

use super::{
    EventStream, OutputChunk, OutputStream, StdStream, StdinMessage, StdinSource, Task, TaskError,
    TaskEvent, TaskExit, TaskFuture, TaskLaunch, TaskLauncher, TaskLog, TaskState, TaskStats,
    TaskStatus,
};
use berth_proto::shim::v1 as shimpb;
use berth_proto::shim::v1::shim_client::ShimClient;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
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
/// process that reused the pid.
///
/// berthd is not a shim's parent (the shim double-forks into its own
/// session and is reparented to init), so it cannot `waitpid` it: it polls
/// the pidfd, which turns readable the moment the process exits (pidfd_open(2)),
/// even while it waits as a zombie for init to reap it.
pub struct ShimProcess {
    pub pid: i32,
    pidfd: std::os::fd::OwnedFd,
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
        if pid <= 0 {
            return None;
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the syscall returned a new fd that nothing else owns.
        let pidfd =
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
        // Checked after the pidfd is held: a pid reused from here on
        // cannot be mistaken, the pidfd names the process that was checked.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let want = state_dir.as_os_str().as_encoded_bytes();
        let ours = cmdline.split(|b| *b == 0).any(|arg| arg == want);
        ours.then_some(ShimProcess { pid, pidfd })
    }

    /// SIGKILL.
    pub fn kill(&self) {
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal on our own pidfd, no siginfo.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }

    /// Waits up to `timeout` for the process to exit; true once it has.
    pub async fn wait_gone(&self, timeout: std::time::Duration) -> bool {
        // SAFETY: the AsyncFd borrows the pidfd, which stays open (and the
        // same) for as long as the AsyncFd lives.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                std::os::fd::AsRawFd::as_raw_fd(&self.pidfd),
                tokio::io::Interest::READABLE,
            )
        };
        let Ok(fd) = registered else {
            return false;
        };
        matches!(
            tokio::time::timeout(timeout, fd.readable()).await,
            Ok(Ok(_))
        )
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

    fn connect<'a>(&'a self, id: &'a str, address: &'a Path) -> TaskFuture<'a, Arc<dyn Task>> {
        Box::pin(async move {
            let client = connect(address).await?;
            Ok(Arc::new(ShimTask {
                id: id.to_string(),
                address: address.to_path_buf(),
                client,
            }) as Arc<dyn Task>)
        })
    }
}

/// One container's shim, over its `berth.shim.v1` connection.
#[derive(Clone)]
pub struct ShimTask {
    id: String,
    /// Where the shim listens (attach streams get connections of their own).
    address: PathBuf,
    client: Client,
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
    fn client(&self) -> Client {
        self.client.clone()
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
            let created = self.client().create(request).await.map_err(task_error)?;
            Ok(created.into_inner().pid)
        })
    }

    fn start<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, u32> {
        Box::pin(async move {
            let started = self
                .client()
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
            let waited = self
                .client()
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
            })
        })
    }

    fn delete<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, ()> {
        Box::pin(async move {
            self.client()
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
            let mut client = connect(&self.address).await?;
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
                .update(shimpb::UpdateRequest {
                    id: self.id.clone(),
                    resources,
                })
                .await
                .map_err(task_error)?;
            Ok(())
        })
    }

    fn events(&self) -> TaskFuture<'_, EventStream> {
        Box::pin(async move {
            let events = self
                .client()
                .events(shimpb::EventsRequest {})
                .await
                .map_err(task_error)?
                .into_inner();
            // A broken stream ends it; only the events the domain acts on
            // pass.
            let events = events.map_while(Result::ok).filter_map(|ev| {
                match shimpb::EventType::try_from(ev.r#type) {
                    Ok(shimpb::EventType::Oom) => Some(TaskEvent::Oom {
                        exec_id: ev.exec_id,
                    }),
                    _ => None,
                }
            });
            Ok(Box::pin(events) as EventStream)
        })
    }

    fn shutdown(&self, now: bool) -> TaskFuture<'_, ()> {
        Box::pin(async move {
            self.client()
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
