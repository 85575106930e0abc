//! cgroup drivers for berth-runtime: put a container in its cgroup, apply
//! `linux.resources`, and later pause, inspect, update, kill and remove it.
//!
//! # Layouts and drivers
//!
//! [`Layout::detect`] finds the host's cgroup mounts once per runtime call
//! (one statfs(2), plus one read of `/proc/self/mountinfo` on v1 hosts):
//!
//! * **v1 / hybrid** ([`v1`]): a directory per mounted hierarchy (`cpu`,
//!   `cpuacct`, `cpuset`, `memory`, `devices`, `freezer`, `blkio`, `pids`,
//!   `name=systemd`, `net_cls`, `net_prio`, `perf_event`, `hugetlb`, `rdma`,
//!   `misc`, and on hybrid hosts the cgroup2 mount too). Controllers are
//!   used through v1, as runc does.
//! * **v2** ([`v2`]): one directory in the unified hierarchy; controllers
//!   enabled in the ancestors' `cgroup.subtree_control`; devices through an
//!   eBPF program we assemble ([`ebpf`]).
//! * **systemd** ([`systemd`], `--systemd-cgroup`, `slice:prefix:name`):
//!   [`systemd::create`] asks systemd over D-Bus for a transient scope
//!   holding the container's init (so it needs the pid: call it after the
//!   clone, not before), then applies the rest through cgroupfs; `destroy`
//!   stops the unit. Where systemd is not running it fails with
//!   `systemd cgroup driver: systemd is not running (no /run/systemd/system):
//!   use the cgroupfs driver` (never a silent fallback to cgroupfs).
//!
//! # How the runtime uses it
//!
//! ```no_run
//! use berth_cgroups::{Cgroup, CgroupsPath, Layout};
//! # fn main() -> Result<(), berth_cgroups::CgroupError> {
//! # let resources = berth_oci::LinuxResources::default();
//! # let pid = 1;
//! let layout = Layout::detect()?;
//! let path = CgroupsPath::parse("/berth/c1")?;               // or CgroupsPath::default_for(id)
//! // create: make the directories and apply linux.resources; on any error
//! // nothing is left behind.
//! let cgroup = Cgroup::create_with_resources(&layout, &path, &resources)?;
//! cgroup.add_process(pid)?;                                  // or clone3(CLONE_INTO_CGROUP, cgroup.open_dir()?) on v2
//! let saved = serde_json::to_string(&cgroup).unwrap();      // keep it in state.json
//! // ... later, in another runtime call:
//! let cgroup: Cgroup = serde_json::from_str(&saved).unwrap();
//! cgroup.freeze()?;                                          // pause
//! cgroup.thaw()?;                                            // resume
//! let pids = cgroup.pids()?;                                 // ps
//! let stats = cgroup.stats()?;                               // events --stats
//! cgroup.apply(&resources)?;                                 // update
//! cgroup.kill_all(libc::SIGKILL)?;                           // kill --all
//! cgroup.destroy()?;                                         // delete
//! # Ok(()) }
//! ```
//!
//! The runtime appends [`default_allowed_devices`] to the spec's device
//! rules, as runc does, before calling `create_with_resources`.
//!
//! # State JSON
//!
//! What the runtime keeps in `state.json` (the serde form of [`Cgroup`]):
//!
//! ```json
//! {"version": "v1", "path": "/berth/c1", "hierarchies": [
//!   {"controllers": "cpu", "dir": "/sys/fs/cgroup/cpu/berth/c1", "created": 1},
//!   {"controllers": "memory", "dir": "/sys/fs/cgroup/memory/berth/c1", "created": 1}]}
//! {"version": "v2", "path": "/berth/c1", "mount": "/sys/fs/cgroup",
//!  "dir": "/sys/fs/cgroup/berth/c1", "created": 1}
//! {"version": "systemd", "unit": "berth-c1.scope", "cgroup": {"version": "v2", ...}}
//! ```
//!
//! `created` counts the trailing path components this container made and
//! will remove (0: joined an existing cgroup). The format is covered by a
//! test so saved states keep loading.
//!
//! # Semantics of `apply`
//!
//! Only what `linux.resources` sets is written: an absent value leaves the
//! file alone, so `update` with a partial document changes only that part.
//! An empty `devices` list leaves device rules alone; a non-empty one
//! replaces them, starting from deny-all (a device no rule matches is denied,
//! on v1 as on v2, as in runc). A value that the
//! layout cannot honour is an error naming the field (`realtime` on v2,
//! `unified` on a pure v1 host, `disableOOMKiller: true` on v2, ...), never
//! silently dropped. Each failed write names the value, the file and the
//! errno: `write 12345 to /sys/fs/cgroup/memory/berth/x/memory.limit_in_bytes: EINVAL`.
//!
//! # Cost
//!
//! All calls are synchronous, single-threaded and allocate little: the
//! start path is `detect` (1-2 syscalls), `create` (one mkdir per
//! hierarchy when the parents exist), one open+write+close per resource
//! value set, and one per hierarchy in `add_process`.

pub mod cgroup_dir;
pub mod device_rules;
pub mod ebpf;
pub mod errno;
pub mod interface_file;
pub mod layout;
pub mod oom;
pub mod path;
pub mod stats;
pub mod sub;
pub mod systemd;
pub mod v1;
pub mod v2;

pub use device_rules::{default_allowed, default_allowed_oci, DeviceRule, DeviceRuleError};
pub use errno::Errno;
pub use interface_file::FileError;
pub use layout::{Controller, ControllerSet, Layout, LayoutError};
pub use oom::OomNotifier;
pub use path::{CgroupsPath, PathError};
pub use stats::Stats;
pub use sub::{SubCgroupError, SubCgroups};
pub use systemd::{SystemdError, SystemdPath};

use berth_oci::{LinuxDeviceCgroup, LinuxResources};
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Finding the cgroup mounts failed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The cgroupsPath was refused.
    #[error(transparent)]
    Path(#[from] PathError),
    /// Reading or writing an interface file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// A device rule was refused.
    #[error("linux.resources.devices: {0}")]
    DeviceRule(#[from] DeviceRuleError),
    /// Loading or attaching the v2 device program failed.
    #[error(transparent)]
    Bpf(#[from] ebpf::BpfError),
    /// The systemd driver failed.
    #[error(transparent)]
    Systemd(#[from] SystemdError),
    /// mkdir(2) of a cgroup failed.
    #[error("create cgroup {path}: {errno}")]
    Mkdir { path: PathBuf, errno: Errno },
    /// rmdir(2) of a cgroup failed.
    #[error("remove cgroup {path}: {errno}")]
    Rmdir { path: PathBuf, errno: Errno },
    /// Another system call on a cgroup failed (`open`, `eventfd`, `kill`).
    #[error("{op} {path}: {errno}")]
    Sys {
        op: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    /// A `linux.resources` value is out of range or malformed.
    #[error("invalid linux.resources.{field} {value}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    /// A `linux.resources` value this layout cannot honour.
    #[error("linux.resources.{field} is not supported {why}")]
    Unsupported { field: &'static str, why: String },
    /// The cgroup to join exists and is frozen: the container's init would
    /// stop in it before it could report (runc's words).
    #[error("container's cgroup unexpectedly frozen: {path}")]
    Frozen { path: PathBuf },
    /// An `exec --cgroup` argument was refused.
    #[error(transparent)]
    SubCgroup(#[from] SubCgroupError),
    /// Freezing did not finish in time (a task stuck in the kernel).
    #[error("freeze {path}: still freezing after {seconds} s")]
    FreezeTimeout { path: PathBuf, seconds: u64 },
}

/// Whether a container's tasks run or are frozen (`pause`/`resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezerState {
    /// Running normally (v1 `THAWED`, v2 `frozen 0`).
    Thawed,
    /// Being frozen (v1 `FREEZING`; v2 `cgroup.freeze` is 1 but
    /// `cgroup.events` does not say `frozen 1` yet).
    Freezing,
    /// All tasks frozen.
    Frozen,
}

/// A container's cgroup: what was created, on which layout. Serialize it
/// into the runtime's state and deserialize it to operate on it later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum Cgroup {
    /// A directory per v1 hierarchy.
    V1(v1::V1Cgroup),
    /// One directory in the v2 hierarchy.
    V2(v2::V2Cgroup),
    /// A systemd unit's cgroup (`--systemd-cgroup`).
    Systemd(systemd::SystemdCgroup),
}

impl Cgroup {
    /// Makes the container's cgroup (the cgroupfs driver). An existing
    /// cgroup is joined, not recreated, and is never removed by
    /// [`destroy`](Cgroup::destroy).
    pub fn create(layout: &Layout, path: &CgroupsPath) -> Result<Cgroup, CgroupError> {
        match layout {
            Layout::V1 { hierarchies } => Ok(Cgroup::V1(v1::V1Cgroup::create(hierarchies, path)?)),
            Layout::V2 { mount } => Ok(Cgroup::V2(v2::V2Cgroup::create(mount, path)?)),
        }
    }

    /// [`create`](Cgroup::create) then [`apply`](Cgroup::apply); if applying
    /// fails, the directories just made are removed again. A cgroup that
    /// existed and is frozen is refused ([`CgroupError::Frozen`]) before
    /// anything is written to it.
    pub fn create_with_resources(
        layout: &Layout,
        path: &CgroupsPath,
        resources: &LinuxResources,
    ) -> Result<Cgroup, CgroupError> {
        let cgroup = Cgroup::create(layout, path)?;
        let frozen = match cgroup.existed() {
            true => cgroup.frozen_for_joining(),
            false => Ok(false),
        };
        match frozen {
            Ok(false) => {}
            Ok(true) => {
                let _ = cgroup.destroy();
                return Err(CgroupError::Frozen {
                    path: PathBuf::from(path.to_string()),
                });
            }
            Err(e) => {
                let _ = cgroup.destroy();
                return Err(e);
            }
        }
        let applied = match &cgroup {
            Cgroup::V1(c) => c.apply_with(resources, true),
            other => other.apply(resources),
        };
        if let Err(e) = applied {
            let _ = cgroup.destroy();
            return Err(e);
        }
        Ok(cgroup)
    }

    /// Applies `linux.resources` (at create and on `update`).
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.apply(resources),
            Cgroup::V2(c) => c.apply(resources),
            Cgroup::Systemd(s) => s.apply(resources),
        }
    }

    /// Moves the process `pid` (and, on v1, only that thread group) into the
    /// cgroup, in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.add_process(pid),
            Cgroup::V2(c) => c.add_process(pid),
            Cgroup::Systemd(s) => s.cgroup.add_process(pid),
        }
    }

    /// Moves `pid` into the sub-cgroups `sub` names (`exec --cgroup`), in
    /// every hierarchy: on a hybrid host the cgroup2 mount's too. A v1
    /// cpuset sub-cgroup made inside the container starts empty; its
    /// `cpuset.cpus`/`mems` are copied down from the nearest ancestor that
    /// has them first, or the write fails with ENOSPC.
    pub fn add_process_sub(&self, pid: i32, sub: &SubCgroups) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.add_process_sub(pid, sub),
            Cgroup::V2(c) => {
                if let Some(ctrl) = sub.controllers().next() {
                    return Err(SubCgroupError::UnknownController(ctrl.name().into()).into());
                }
                let dir = c.dir.path.join(sub.relative_for(ControllerSet::EMPTY));
                Ok(interface_file::write_in(
                    &dir,
                    "cgroup.procs",
                    &pid.to_string(),
                )?)
            }
            Cgroup::Systemd(s) => s.cgroup.add_process_sub(pid, sub),
        }
    }

    /// [`open_dir`](Cgroup::open_dir) of the sub-cgroup `sub` names (v2).
    pub fn open_dir_sub(&self, sub: &SubCgroups) -> Result<Option<OwnedFd>, CgroupError> {
        match self {
            Cgroup::V1(_) => Ok(None),
            Cgroup::V2(c) => {
                if let Some(ctrl) = sub.controllers().next() {
                    return Err(SubCgroupError::UnknownController(ctrl.name().into()).into());
                }
                let dir = c.dir.path.join(sub.relative_for(ControllerSet::EMPTY));
                v2::open_dir(&dir).map(Some)
            }
            Cgroup::Systemd(s) => s.cgroup.open_dir_sub(sub),
        }
    }

    /// On v2, the cgroup directory opened `O_RDONLY|O_DIRECTORY|O_CLOEXEC`,
    /// for clone3(2) `CLONE_INTO_CGROUP` (the child starts in the cgroup:
    /// no window outside it, no write to `cgroup.procs`). On v1, `None`.
    pub fn open_dir(&self) -> Result<Option<OwnedFd>, CgroupError> {
        match self {
            Cgroup::V1(_) => Ok(None),
            Cgroup::V2(c) => c.open_dir().map(Some),
            Cgroup::Systemd(s) => s.cgroup.open_dir(),
        }
    }

    /// The pids in the cgroup and its sub-cgroups (`ps`).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match self {
            Cgroup::V1(c) => c.pids(),
            Cgroup::V2(c) => c.pids(),
            Cgroup::Systemd(s) => s.cgroup.pids(),
        }
    }

    /// Freezes every task and waits until the kernel reports them frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.freeze(),
            Cgroup::V2(c) => c.freeze(),
            Cgroup::Systemd(s) => s.cgroup.freeze(),
        }
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.thaw(),
            Cgroup::V2(c) => c.thaw(),
            Cgroup::Systemd(s) => s.cgroup.thaw(),
        }
    }

    /// Whether the cgroup is frozen.
    pub fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        match self {
            Cgroup::V1(c) => c.freezer_state(),
            Cgroup::V2(c) => c.freezer_state(),
            Cgroup::Systemd(s) => s.cgroup.freezer_state(),
        }
    }

    /// Whether the container's own cgroup existed before
    /// [`create`](Cgroup::create) in some hierarchy (it was joined, not
    /// made): the runtime then refuses it if frozen and warns if it holds
    /// processes, as runc 1.1 does.
    pub fn existed(&self) -> bool {
        match self {
            Cgroup::V1(c) => c.hierarchies.iter().any(|h| h.dir.created == 0),
            Cgroup::V2(c) => c.dir.created == 0,
            Cgroup::Systemd(_) => false,
        }
    }

    /// Whether a task joining the cgroup would stop at once: the v1
    /// freezer says FREEZING or FROZEN (by itself or an ancestor), or on
    /// v2, and in a hybrid host's cgroup2 mount, `cgroup.freeze` is set
    /// here or `cgroup.events` says frozen (an ancestor's freeze). A
    /// container's init put there would never report back to `create`.
    pub fn frozen_for_joining(&self) -> Result<bool, CgroupError> {
        match self {
            Cgroup::V1(c) => c.frozen_for_joining(),
            Cgroup::V2(c) => v2::freezer::frozen_for_joining(&c.dir.path),
            Cgroup::Systemd(s) => s.cgroup.frozen_for_joining(),
        }
    }

    /// Sends `signal` to every process in the cgroup (`kill --all`). With
    /// `SIGKILL` on v2 this is one write to `cgroup.kill`; otherwise the
    /// cgroup is frozen while its pids are listed and signalled, so no task
    /// can fork a new one in between (as runc does), then thawed, unless it
    /// was paused before and the signal is not SIGKILL (a paused container
    /// stays paused; SIGKILL needs thawed tasks to take effect).
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.kill_all(signal),
            Cgroup::V2(c) => c.kill_all(signal),
            Cgroup::Systemd(s) => s.cgroup.kill_all(signal),
        }
    }

    /// Resource usage, shaped like runc's `events --stats`.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match self {
            Cgroup::V1(c) => c.stats(),
            Cgroup::V2(c) => c.stats(),
            Cgroup::Systemd(s) => s.cgroup.stats(),
        }
    }

    /// A pollable source of OOM-kill notifications for `events`.
    pub fn oom_notifier(&self) -> Result<OomNotifier, CgroupError> {
        match self {
            Cgroup::V1(c) => c.oom_notifier(),
            Cgroup::V2(c) => OomNotifier::v2(&c.dir.path),
            Cgroup::Systemd(s) => s.cgroup.oom_notifier(),
        }
    }

    /// Removes the directories this container created (deepest first);
    /// pre-existing ones are left alone. Already-removed ones are fine.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.destroy(),
            Cgroup::V2(c) => c.dir.remove(),
            Cgroup::Systemd(s) => s.destroy(),
        }
    }

    /// The cgroup's directories (one per hierarchy on v1).
    pub fn dirs(&self) -> Vec<&Path> {
        match self {
            Cgroup::V1(c) => c.hierarchies.iter().map(|h| h.dir.path.as_path()).collect(),
            Cgroup::V2(c) => vec![c.dir.path.as_path()],
            Cgroup::Systemd(s) => s.cgroup.dirs(),
        }
    }

    /// The cgroupsPath it was made from.
    pub fn path(&self) -> &CgroupsPath {
        match self {
            Cgroup::V1(c) => &c.path,
            Cgroup::V2(c) => &c.path,
            Cgroup::Systemd(s) => s.cgroup.path(),
        }
    }
}

/// The device rules runc allows in every container (see
/// [`device_rules::default_allowed`]), as OCI rules to append to
/// `linux.resources.devices`.
pub fn default_allowed_devices() -> Vec<LinuxDeviceCgroup> {
    default_allowed_oci()
}

/// Sends `signal` to each pid, ignoring those already gone.
fn signal_all(pids: &[i32], signal: i32, cgroup: &Path) -> Result<(), CgroupError> {
    for &pid in pids {
        // SAFETY: kill(2) with plain integers.
        if unsafe { libc::kill(pid, signal) } != 0 {
            let errno = Errno::last();
            if errno.0 != libc::ESRCH {
                return Err(CgroupError::Sys {
                    op: "kill process in",
                    path: cgroup.to_path_buf(),
                    errno,
                });
            }
        }
    }
    Ok(())
}

/// The pids in the cgroup `dir` and every cgroup below it (`ps` and
/// `kill --all` must reach processes the container moved into its own
/// sub-cgroups). One read of `cgroup.procs` and one directory listing per
/// cgroup.
fn collect_pids(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut pids = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        match interface_file::read_in(&d, "cgroup.procs") {
            Ok(content) => {
                pids.extend(content.lines().filter_map(|l| l.trim().parse::<i32>().ok()))
            }
            // A sub-cgroup removed while we walked.
            Err(e) if d != dir && e.errno().is_some_and(|n| n.0 == libc::ENOENT) => continue,
            Err(e) => return Err(e.into()),
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            pending.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented state JSON keeps loading (runtimes keep it on disk).
    #[test]
    fn documented_state_json_loads() {
        let v1: Cgroup = serde_json::from_str(
            r#"{"version": "v1", "path": "/berth/c1", "hierarchies": [
              {"controllers": "cpu", "dir": "/sys/fs/cgroup/cpu/berth/c1", "created": 1},
              {"controllers": "memory", "dir": "/sys/fs/cgroup/memory/berth/c1", "created": 1}]}"#,
        )
        .unwrap();
        assert_eq!(v1.dirs().len(), 2);
        assert_eq!(v1.path().to_string(), "/berth/c1");
        let v2 = r#"{"version": "v2", "path": "/berth/c1", "mount": "/sys/fs/cgroup",
                     "dir": "/sys/fs/cgroup/berth/c1", "created": 1}"#;
        let v2: Cgroup = serde_json::from_str(v2).unwrap();
        assert_eq!(v2.dirs(), vec![Path::new("/sys/fs/cgroup/berth/c1")]);
        let sd = format!(
            r#"{{"version": "systemd", "unit": "berth-c1.scope", "cgroup": {}}}"#,
            serde_json::to_string(&v2).unwrap()
        );
        let sd: Cgroup = serde_json::from_str(&sd).unwrap();
        assert!(matches!(&sd, Cgroup::Systemd(s) if s.unit == "berth-c1.scope"));
        // A tampered path is refused on load.
        assert!(serde_json::from_str::<Cgroup>(
            r#"{"version": "v2", "path": "/../x", "mount": "/m", "dir": "/m/x", "created": 1}"#
        )
        .is_err());
    }
}
