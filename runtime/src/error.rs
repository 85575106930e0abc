//! The runtime's error type. Every message is one lower-case line that says
//! what failed and on which path or container id, because engines show it to
//! users verbatim (containerd and podman read it from `--log`).

use std::io;

/// Everything that can fail in a runtime command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line.
    #[error("{0}")]
    Usage(String),
    /// config.json could not be read or is invalid.
    #[error(transparent)]
    Spec(#[from] berth_oci::SpecError),
    /// The bundle or spec asks for something wrong (missing rootfs, bad value...).
    #[error("{0}")]
    Invalid(String),
    /// No container with this id.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// A container with this id exists already.
    #[error("container {0:?} already exists")]
    Exists(String),
    /// The container is in the wrong state for the command.
    #[error("container {id:?} is {status}: {why}")]
    State {
        id: String,
        status: &'static str,
        why: &'static str,
    },
    /// A kernel call failed: `what` says which call on which path.
    #[error("{what}: {}", crate::sys::errno_name(source))]
    Sys {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A file operation failed where runc's message is Go's `*os.PathError`
    /// (`open /run/x.pid: no such file or directory`), kept word for word
    /// because scripts match it.
    #[error("{op} {}: {}", path.display(), crate::sys::errno_text(source))]
    Path {
        op: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    /// The container's init (or an exec'd process) failed during set-up and
    /// reported this message over the sync socket.
    #[error("{0}")]
    Container(String),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::CgroupError),
    /// `exec` could not put its process in the container's cgroup (or the
    /// `--cgroup` sub-cgroup): runc's words, which scripts match (runc's
    /// exec.bats: ` adding pid ... /cgroup.procs: no such file `).
    #[error(
        "error adding pid {pid} to cgroups: failed to write {pid}: open {}: {}",
        path.display(),
        crate::sys::errno_text(source)
    )]
    JoinCgroup {
        pid: i32,
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    /// A seccomp profile could not be compiled.
    #[error(transparent)]
    Seccomp(#[from] berth_seccomp::SeccompError),
    /// A seccomp filter could not be installed.
    #[error(transparent)]
    SeccompInstall(#[from] berth_seccomp::InstallError),
    /// CRIU failed a checkpoint or restore; `reason` is CRIU's own (the
    /// `Error` lines of its log), the log's path says where the rest is.
    #[error("criu {action} failed: {reason} (log file: {log})")]
    Criu {
        action: &'static str,
        log: String,
        reason: String,
    },
    /// A feature the spec allows that Berth does not have yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds "what failed on which path" to an `io::Error`.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sys {
            what: what(),
            source,
        })
    }
}
