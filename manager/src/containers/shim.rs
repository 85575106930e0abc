//! Starting a container's berth-shim and talking to it.
//!
//! berthd runs `berth-shim --id ID --bundle B --state-dir S --runtime R
//! --runtime-root RR --socket-dir D`; the shim prints its socket path once
//! it listens and goes on in its own session (it outlives berthd: DESIGN.md
//! "Process model"). berthd then speaks `berth.shim.v1` to that socket, and
//! after a restart reconnects to the address kept in the record.

use berth_proto::shim::v1::shim_client::ShimClient;
use std::path::{Path, PathBuf};
use tonic::transport::Channel;

/// A shim client.
pub type Client = ShimClient<Channel>;

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

/// Where the programs berthd runs are.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub shim: PathBuf,
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

/// What a new shim is started with.
pub struct ShimLaunch<'a> {
    pub binary: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub state_dir: &'a Path,
    pub runtime: &'a Path,
    pub runtime_root: &'a Path,
    pub socket_dir: &'a Path,
}

/// Starts a shim and returns its socket address.
pub async fn spawn(launch: &ShimLaunch<'_>) -> Result<PathBuf, ShimError> {
    let output = tokio::process::Command::new(launch.binary)
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
        .arg(launch.socket_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| ShimError::Spawn {
            binary: launch.binary.to_path_buf(),
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
pub async fn connect(address: &Path) -> Result<Client, ShimError> {
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
