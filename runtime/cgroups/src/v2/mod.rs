//! The cgroup v2 driver: one directory in the unified hierarchy (kernel
//! `Documentation/admin-guide/cgroup-v2.rst`), one module per controller.
//!
//! `create` makes `<mount>/<cgroupsPath>` and enables the controllers the
//! container needs in each ancestor's `cgroup.subtree_control` ("Top-down
//! constraint": a cgroup only has the interface files of controllers its
//! parent enables). Each ancestor's `cgroup.subtree_control` is read first
//! and written only when something is missing, so the common case (parents
//! already set up) costs reads only. A pre-existing ancestor that has
//! processes of its own cannot enable controllers ("no internal process"
//! rule): the write fails with `EBUSY`, named in the error.
//!
//! Devices are controlled by an eBPF program ([`crate::ebpf`]) attached to
//! the directory; there is no `devices.allow` on v2.

pub mod cpu;
pub mod devices;
pub mod freezer;
pub mod hugetlb;
pub mod io;
pub mod memory;
pub mod unified;

use crate::cgroup_dir::CgroupDir;
use crate::interface_file;
use crate::stats::Stats;
use crate::v1::{cpuset, pids, rdma};
use crate::{CgroupError, CgroupsPath, Errno, FreezerState};
use berth_oci::{LinuxCpu, LinuxResources};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The controllers `create` enables for the container, in the order the
/// kernel lists them.
pub const CONTROLLERS: [&str; 8] = [
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

/// A container's cgroup on a v2 host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Cgroup {
    /// The cgroupsPath it was made from.
    pub path: CgroupsPath,
    /// Where the unified hierarchy is mounted.
    pub mount: PathBuf,
    /// The directory, and how much of it we made.
    #[serde(flatten)]
    pub dir: CgroupDir,
}

impl V2Cgroup {
    /// Makes the cgroup and enables controllers down to it; on error,
    /// removes what it made.
    pub fn create(mount: &Path, path: &CgroupsPath) -> Result<V2Cgroup, CgroupError> {
        let dir = CgroupDir::make(mount.join(path.as_relative()), path.depth(), |_| Ok(()))?;
        let cgroup = V2Cgroup {
            path: path.clone(),
            mount: mount.to_path_buf(),
            dir,
        };
        if let Err(e) = enable_controllers(mount, path) {
            let _ = cgroup.dir.remove();
            return Err(e);
        }
        Ok(cgroup)
    }

    fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// Applies `linux.resources`; see the crate docs for the semantics.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let dir = self.dir();
        if let Some(m) = &r.memory {
            memory::apply(dir, m)?;
        }
        if let Some(c) = &r.cpu {
            cpu::apply(dir, c)?;
            if c.cpus.is_some() || c.mems.is_some() {
                cpuset::apply(
                    dir,
                    &LinuxCpu {
                        cpus: c.cpus.clone(),
                        mems: c.mems.clone(),
                        ..Default::default()
                    },
                )?;
            }
        }
        if let Some(p) = &r.pids {
            pids::apply(dir, p)?;
        }
        if let Some(b) = &r.block_io {
            io::apply(dir, b)?;
        }
        if !r.hugepage_limits.is_empty() {
            hugetlb::apply(dir, &r.hugepage_limits)?;
        }
        if !r.devices.is_empty() {
            devices::apply(dir, &r.devices)?;
        }
        if let Some(n) = &r.network {
            if n.class_id.is_some() || !n.priorities.is_empty() {
                return Err(CgroupError::Unsupported {
                    field: "network",
                    why: "on cgroup v2 (net_cls and net_prio are v1-only controllers)".to_string(),
                });
            }
        }
        if !r.rdma.is_empty() {
            rdma::apply(dir, &r.rdma)?;
        }
        if !r.unified.is_empty() {
            unified::apply(dir, &r.unified)?;
        }
        Ok(())
    }

    /// Writes `pid` to `cgroup.procs`.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        Ok(interface_file::write_in(
            self.dir(),
            "cgroup.procs",
            &pid.to_string(),
        )?)
    }

    /// Opens the directory for `CLONE_INTO_CGROUP` or bpf(2).
    pub fn open_dir(&self) -> Result<OwnedFd, CgroupError> {
        open_dir(self.dir())
    }

    /// The pids in the cgroup and its sub-cgroups.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        crate::collect_pids(self.dir())
    }

    /// Freezes and waits for `frozen 1` in `cgroup.events`.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        freezer::freeze(self.dir())
    }

    /// Thaws.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        freezer::thaw(self.dir())
    }

    /// The freezer state.
    pub fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        freezer::state(self.dir())
    }

    /// `cgroup.kill` for SIGKILL where the kernel has it (5.14+), else
    /// freeze, signal each pid, thaw.
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        let dir = self.dir();
        if signal == libc::SIGKILL {
            match interface_file::write_in(dir, "cgroup.kill", "1") {
                Ok(()) => return Ok(()),
                Err(e) if e.errno().is_some_and(|n| n.0 == libc::ENOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let was_frozen = freezer::state(dir)? == FreezerState::Frozen;
        freezer::freeze(dir)?;
        let result = self
            .pids()
            .and_then(|pids| crate::signal_all(&pids, signal, dir));
        // A paused container stays paused, except that SIGKILL only takes
        // effect on thawed tasks.
        if was_frozen && signal != libc::SIGKILL {
            return result;
        }
        let thawed = freezer::thaw(dir);
        result?;
        thawed
    }

    /// Resource usage from every enabled controller.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let dir = self.dir();
        let mut stats = Stats::default();
        cpu::stats(dir, &mut stats)?;
        memory::stats(dir, &mut stats)?;
        if interface_file::read_optional(dir, "pids.current")?.is_some() {
            pids::stats(dir, &mut stats)?;
        }
        io::stats(dir, &mut stats)?;
        hugetlb::stats(dir, &mut stats)?;
        if let Some(cpus) = interface_file::read_optional(dir, "cpuset.cpus.effective")? {
            stats.cpuset.cpus = crate::stats::parse_cpuset_list(&cpus);
        }
        if let Some(mems) = interface_file::read_optional(dir, "cpuset.mems.effective")? {
            stats.cpuset.mems = crate::stats::parse_cpuset_list(&mems);
        }
        Ok(stats)
    }
}

/// Enables [`CONTROLLERS`] (those the hierarchy has) in the
/// `cgroup.subtree_control` of the mount root and of each ancestor of the
/// container's cgroup, writing only where some are missing.
fn enable_controllers(mount: &Path, path: &CgroupsPath) -> Result<(), CgroupError> {
    let root_controllers = interface_file::read_in(mount, "cgroup.controllers")?;
    let mut available: Vec<&str> = CONTROLLERS
        .into_iter()
        .filter(|c| root_controllers.split_whitespace().any(|a| a == *c))
        .collect();
    let mut level = mount.to_path_buf();
    let mut components = path.components();
    for _ in 0..path.depth() {
        if available.is_empty() {
            break;
        }
        let enabled = interface_file::read_in(&level, "cgroup.subtree_control")?;
        let missing: Vec<&str> = available
            .iter()
            .copied()
            .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
            .collect();
        if !missing.is_empty() {
            let value = missing
                .iter()
                .map(|c| format!("+{c}"))
                .collect::<Vec<_>>()
                .join(" ");
            interface_file::write_in(&level, "cgroup.subtree_control", &value)?;
        }
        // Children can use exactly what this level enables.
        available.retain(|c| enabled.split_whitespace().any(|e| e == *c) || missing.contains(c));
        match components.next() {
            Some(c) => level.push(c),
            None => break,
        }
    }
    Ok(())
}

/// Opens a cgroup directory `O_RDONLY|O_DIRECTORY|O_CLOEXEC` (an `O_PATH`
/// fd is refused by clone3 and bpf(2) on kernels before 6.x).
pub fn open_dir(dir: &Path) -> Result<OwnedFd, CgroupError> {
    let cpath = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| CgroupError::Sys {
        op: "open",
        path: dir.to_path_buf(),
        errno: Errno(libc::EINVAL),
    })?;
    // SAFETY: a NUL-terminated path; the returned fd is owned below.
    let fd = unsafe {
        libc::open(
            cpath.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(CgroupError::Sys {
            op: "open",
            path: dir.to_path_buf(),
            errno: Errno::last(),
        });
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
