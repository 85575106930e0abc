//! The systemd cgroup driver (`--systemd-cgroup`).
//!
//! With this driver systemd owns the cgroup tree: the runtime asks systemd
//! over D-Bus to start a transient scope unit (`StartTransientUnit`,
//! org.freedesktop.systemd1(5)) holding the container's init pid, with
//! `Delegate=yes` and the resource limits as unit properties, and stops the
//! unit on delete. The cgroupsPath takes the form `slice:prefix:name`
//! ([`SystemdPath`]).
//!
//! Where systemd is not the init system (no `/run/systemd/system`, the
//! sd_booted(3) test), the driver fails with a clear error rather than
//! falling back to cgroupfs behind the user's back: an engine that asked
//! for systemd expects systemd to know about the container.

pub mod path;

pub use path::{expand_slice, SystemdPath};

use std::path::Path;

/// The directory whose presence means systemd is PID 1 (sd_booted(3)).
pub const SYSTEMD_RUNTIME_DIR: &str = "/run/systemd/system";

/// What went wrong in the systemd driver.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// The cgroupsPath is not a valid `slice:prefix:name`.
    #[error("invalid systemd cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// systemd is not the init system here.
    #[error("systemd cgroup driver: systemd is not running (no {SYSTEMD_RUNTIME_DIR}): use the cgroupfs driver")]
    NotRunning,
    /// A part of the driver that does not exist yet.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

/// Whether systemd is the init system (sd_booted(3)).
pub fn systemd_running() -> bool {
    Path::new(SYSTEMD_RUNTIME_DIR).is_dir()
}

/// Checks that the systemd driver can be used for `path`: the path parses
/// and systemd is running.
pub fn check(path: &str) -> Result<SystemdPath, SystemdError> {
    let parsed = SystemdPath::parse(path)?;
    if !systemd_running() {
        return Err(SystemdError::NotRunning);
    }
    Ok(parsed)
}
