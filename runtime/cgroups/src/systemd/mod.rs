//! The systemd cgroup driver (`--systemd-cgroup`).
//!
//! Status: the D-Bus calls are checked against a real dbus-daemon
//! (independent marshalling check, see `tests/systemd_dbus.rs`); the whole
//! flow has not run against a real systemd, which the project's machines
//! do not have.
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

pub mod dbus;
pub mod path;
pub mod unit;

pub use dbus::DbusError;
pub use path::{expand_slice, SystemdPath};

use crate::{Cgroup, CgroupError, CgroupsPath, Layout};
use berth_oci::LinuxResources;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// systemd's private manager socket (root only, no bus daemon needed).
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The system bus socket, used when the private one cannot be reached.
pub const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";
/// How long systemd may take to move the pid into the new unit.
const UNIT_START_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Talking to systemd failed.
    #[error("systemd cgroup driver: {0}")]
    Dbus(#[from] DbusError),
    /// systemd accepted the unit but the pid did not show up in it.
    #[error("systemd cgroup driver: pid {pid} did not appear in unit {unit} within {seconds} s")]
    UnitTimeout {
        unit: String,
        pid: i32,
        seconds: u64,
    },
}

/// A container's cgroup owned by a systemd unit: the unit to stop on
/// delete, and the cgroupfs view of the unit's cgroup used for everything
/// else (directories systemd made are recorded as not ours; the ones we had
/// to make in hierarchies systemd does not manage, such as v1 `freezer`,
/// are removed by us).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemdCgroup {
    /// The unit name (`berth-c1.scope`).
    pub unit: String,
    /// The unit's cgroup, through the cgroupfs driver.
    pub cgroup: Box<Cgroup>,
}

impl SystemdCgroup {
    /// `update`: tells systemd the new limits it manages (so a reload does
    /// not put the old ones back), then applies everything through cgroupfs.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let props = unit::limit_properties(matches!(*self.cgroup, Cgroup::V2(_)), resources);
        if !props.is_empty() {
            let mut conn = connect()?;
            unit::set_unit_properties(&mut conn, &self.unit, &props).map_err(SystemdError::from)?;
        }
        self.cgroup.apply(resources)
    }

    /// Stops the unit (ignoring a unit already gone), then removes the
    /// directories we made ourselves.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut conn = connect()?;
        match unit::stop_unit(&mut conn, &self.unit) {
            Ok(()) => {}
            Err(DbusError::Remote { name, .. })
                if name == "org.freedesktop.systemd1.NoSuchUnit" => {}
            Err(e) => return Err(SystemdError::from(e).into()),
        }
        self.cgroup.destroy()
    }
}

/// Connects to systemd: its private socket, else the system bus.
pub fn connect() -> Result<dbus::Connection, SystemdError> {
    match dbus::Connection::open(Path::new(PRIVATE_SOCKET), false) {
        Ok(conn) => Ok(conn),
        Err(private_err) => {
            let bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
                .ok()
                .and_then(|a| {
                    a.strip_prefix("unix:path=")
                        .map(|p| p.split(',').next().unwrap_or(p).to_string())
                })
                .unwrap_or_else(|| SYSTEM_BUS_SOCKET.to_string());
            if !Path::new(&bus).exists() {
                return Err(private_err.into());
            }
            Ok(dbus::Connection::open(Path::new(&bus), true)?)
        }
    }
}

/// The systemd driver's create: checks the path and that systemd runs,
/// starts the transient unit holding `pid` (which must exist: a scope
/// cannot be empty), waits until systemd has moved it, then applies
/// `resources` through cgroupfs. On error, the unit is stopped and what we
/// made is removed.
pub fn create(
    layout: &Layout,
    cgroups_path: &str,
    pid: i32,
    resources: &LinuxResources,
) -> Result<Cgroup, CgroupError> {
    let path = check(cgroups_path)?;
    let mut conn = connect()?;
    create_with(&mut conn, layout, &path, pid, resources)
}

/// [`create`] over an open connection.
pub fn create_with(
    conn: &mut dbus::Connection,
    layout: &Layout,
    path: &SystemdPath,
    pid: i32,
    resources: &LinuxResources,
) -> Result<Cgroup, CgroupError> {
    let unit_name = path.unit_name();
    let slice = (!path.name.ends_with(".slice")).then_some(path.slice.as_str());
    let props = unit::unit_properties(
        &format!("berth container {}", path.name),
        slice,
        pid as u32,
        layout.is_v2(),
        resources,
    );
    unit::start_transient_unit(conn, &unit_name, &props).map_err(SystemdError::from)?;
    let stop = |conn: &mut dbus::Connection| {
        let _ = unit::stop_unit(conn, &unit_name);
    };
    if let Err(e) = wait_for_unit(pid, &unit_name) {
        stop(conn);
        return Err(e.into());
    }
    let cgroups_path = CgroupsPath::parse(&path.cgroup_path())?;
    let inner = match Cgroup::create(layout, &cgroups_path) {
        Ok(c) => c,
        Err(e) => {
            stop(conn);
            return Err(e);
        }
    };
    if let Err(e) = inner.add_process(pid).and_then(|_| inner.apply(resources)) {
        stop(conn);
        let _ = inner.destroy();
        return Err(e);
    }
    Ok(Cgroup::Systemd(SystemdCgroup {
        unit: unit_name,
        cgroup: Box::new(inner),
    }))
}

/// Waits until `/proc/<pid>/cgroup` shows the pid in the unit.
fn wait_for_unit(pid: i32, unit: &str) -> Result<(), SystemdError> {
    let start = Instant::now();
    let proc_cgroup = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let suffix = format!("/{unit}");
    loop {
        if let Ok(content) = crate::interface_file::read(&proc_cgroup) {
            if content.lines().any(|l| l.ends_with(&suffix)) {
                return Ok(());
            }
        }
        if start.elapsed() > UNIT_START_TIMEOUT {
            return Err(SystemdError::UnitTimeout {
                unit: unit.to_string(),
                pid,
                seconds: UNIT_START_TIMEOUT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
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
