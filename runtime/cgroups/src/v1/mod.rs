//! The cgroup v1 driver (also used on hybrid hosts): one directory per
//! mounted hierarchy, one module per controller
//! (kernel `Documentation/admin-guide/cgroup-v1/`).
//!
//! `create` makes `<mount>/<cgroupsPath>` in every hierarchy the host has
//! mounted. A new `cpuset` cgroup starts with empty `cpuset.cpus` and
//! `cpuset.mems`, and no task can join it until they are set, so each
//! cpuset directory made is given its parent's values (runc does the same).
//!
//! `apply` writes each resource to the controller that owns it; a value
//! whose controller is not mounted is an error naming the field, never
//! dropped. On a hybrid host, `linux.resources.unified` is written to the
//! directory in the cgroup2 mount.
//!
//! `kill_all`, `pids` and the freezer use the `freezer` hierarchy; OOM
//! notifications use `memory.oom_control` with an eventfd registered in
//! `cgroup.event_control` (cgroup-v1 `memory.rst`, "OOM Control").

pub mod blkio;
pub mod cpu;
pub mod cpuacct;
pub mod cpuset;
pub mod devices;
pub mod freezer;
pub mod hugetlb;
pub mod memory;
pub mod net_cls;
pub mod net_prio;
pub mod pids;
pub mod rdma;

use crate::cgroup_dir::CgroupDir;
use crate::interface_file;
use crate::layout::{Controller, ControllerSet, Hierarchy};
use crate::stats::Stats;
use crate::{CgroupError, CgroupsPath, FreezerState, OomNotifier};
use berth_oci::{LinuxCpu, LinuxMemory, LinuxResources};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A container's cgroup on a v1 or hybrid host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Cgroup {
    /// The cgroupsPath it was made from.
    pub path: CgroupsPath,
    /// One directory per hierarchy.
    pub hierarchies: Vec<V1Dir>,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Dir {
    /// The controllers of that hierarchy.
    pub controllers: ControllerSet,
    /// The directory, and how much of it we made.
    #[serde(flatten)]
    pub dir: CgroupDir,
}

impl V1Cgroup {
    /// Makes the cgroup in every hierarchy; on error, removes what it made.
    pub fn create(hierarchies: &[Hierarchy], path: &CgroupsPath) -> Result<V1Cgroup, CgroupError> {
        let mut cgroup = V1Cgroup {
            path: path.clone(),
            hierarchies: Vec::with_capacity(hierarchies.len()),
        };
        for h in hierarchies {
            let full = h.dir_of(path.as_relative());
            let depth = full
                .strip_prefix(&h.mount)
                .map(|rel| rel.components().count())
                .unwrap_or(0);
            let is_cpuset = h.controllers.has(Controller::Cpuset);
            let made = CgroupDir::make(full, depth, |dir| {
                if is_cpuset {
                    cpuset::inherit_parent(dir)
                } else {
                    Ok(())
                }
            });
            // A cgroup that existed (a pod's, say) may have empty cpus or
            // mems, and no task could join it.
            let made = made.and_then(|dir| {
                if is_cpuset && dir.created == 0 {
                    cpuset::fill_from_ancestors(&dir.path)?;
                }
                Ok(dir)
            });
            match made {
                Ok(dir) => cgroup.hierarchies.push(V1Dir {
                    controllers: h.controllers,
                    dir,
                }),
                Err(e) => {
                    let _ = cgroup.destroy();
                    return Err(e);
                }
            }
        }
        Ok(cgroup)
    }

    /// The directory of the hierarchy carrying `c`.
    pub fn dir_of(&self, c: Controller) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.has(c))
            .map(|h| h.dir.path.as_path())
    }

    fn require(&self, c: Controller, field: &'static str) -> Result<&Path, CgroupError> {
        self.dir_of(c).ok_or_else(|| CgroupError::Unsupported {
            field,
            why: format!("here: the {} cgroup controller is not mounted", c.name()),
        })
    }

    /// Applies `linux.resources`; see the crate docs for the semantics.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        self.apply_with(r, false)
    }

    /// [`apply`](V1Cgroup::apply), knowing whether the cgroup was just made
    /// (no tasks yet: device rules can be reset rather than diffed).
    pub(crate) fn apply_with(&self, r: &LinuxResources, fresh: bool) -> Result<(), CgroupError> {
        if let Some(m) = &r.memory {
            if *m != LinuxMemory::default() {
                memory::apply(self.require(Controller::Memory, "memory")?, m)?;
            }
        }
        if let Some(c) = &r.cpu {
            let needs_cpu = LinuxCpu {
                cpus: None,
                mems: None,
                ..c.clone()
            } != LinuxCpu::default();
            if needs_cpu {
                cpu::apply(self.require(Controller::Cpu, "cpu")?, c)?;
            }
            if c.cpus.is_some() || c.mems.is_some() {
                cpuset::apply(self.require(Controller::Cpuset, "cpu.cpus")?, c)?;
            }
        }
        if let Some(p) = &r.pids {
            pids::apply(self.require(Controller::Pids, "pids")?, p)?;
        }
        if let Some(b) = &r.block_io {
            if *b != Default::default() {
                blkio::apply(self.require(Controller::Blkio, "blockIO")?, b)?;
            }
        }
        if !r.hugepage_limits.is_empty() {
            hugetlb::apply(
                self.require(Controller::Hugetlb, "hugepageLimits")?,
                &r.hugepage_limits,
            )?;
        }
        if !r.devices.is_empty() {
            let dir = self.require(Controller::Devices, "devices")?;
            let made_here = self
                .hierarchies
                .iter()
                .any(|h| h.controllers.has(Controller::Devices) && h.dir.created > 0);
            devices::apply(dir, &r.devices, fresh && made_here)?;
        }
        if let Some(n) = &r.network {
            if let Some(class_id) = n.class_id {
                net_cls::apply(
                    self.require(Controller::NetCls, "network.classID")?,
                    class_id,
                )?;
            }
            if !n.priorities.is_empty() {
                net_prio::apply(
                    self.require(Controller::NetPrio, "network.priorities")?,
                    &n.priorities,
                )?;
            }
        }
        if !r.rdma.is_empty() {
            rdma::apply(self.require(Controller::Rdma, "rdma")?, &r.rdma)?;
        }
        if !r.unified.is_empty() {
            let dir = self
                .dir_of(Controller::Unified)
                .ok_or_else(|| CgroupError::Unsupported {
                    field: "unified",
                    why: "on a cgroup v1 host without a cgroup2 mount".to_string(),
                })?;
            crate::v2::unified::apply(dir, &r.unified)?;
        }
        Ok(())
    }

    /// Writes `pid` to `cgroup.procs` in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        let value = pid.to_string();
        for h in &self.hierarchies {
            interface_file::write_in(&h.dir.path, "cgroup.procs", &value)?;
        }
        Ok(())
    }

    /// See [`Cgroup::add_process_sub`](crate::Cgroup::add_process_sub).
    pub fn add_process_sub(&self, pid: i32, sub: &crate::SubCgroups) -> Result<(), CgroupError> {
        for c in sub.controllers() {
            if self.dir_of(c).is_none() {
                return Err(crate::SubCgroupError::UnknownController(c.name().into()).into());
            }
        }
        let value = pid.to_string();
        for h in &self.hierarchies {
            let rel = sub.relative_for(h.controllers);
            let dir = h.dir.path.join(rel);
            if !rel.is_empty() && h.controllers.has(Controller::Cpuset) && dir.is_dir() {
                cpuset::fill_from_ancestors(&dir)?;
            }
            interface_file::write_in(&dir, "cgroup.procs", &value)?;
        }
        Ok(())
    }

    /// The hierarchy used for listing and signalling: freezer if mounted
    /// (kill_all freezes there), else pids, else the first.
    fn tracking_dir(&self) -> &Path {
        self.dir_of(Controller::Freezer)
            .or_else(|| self.dir_of(Controller::Pids))
            .unwrap_or_else(|| self.hierarchies[0].dir.path.as_path())
    }

    /// The pids in the cgroup and its sub-cgroups.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        crate::collect_pids(self.tracking_dir())
    }

    /// Freezes the cgroup and waits for `FROZEN`.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        freezer::freeze(self.require(Controller::Freezer, "freezer")?)
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        freezer::thaw(self.require(Controller::Freezer, "freezer")?)
    }

    /// The freezer state.
    pub fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        freezer::state(self.require(Controller::Freezer, "freezer")?)
    }

    /// See [`Cgroup::frozen_for_joining`](crate::Cgroup::frozen_for_joining).
    pub fn frozen_for_joining(&self) -> Result<bool, CgroupError> {
        if let Some(dir) = self.dir_of(Controller::Freezer) {
            // freezer.state shows an ancestor's freeze too (cgroup-v1
            // freezer-subsystem.rst), unlike freezer.self_freezing.
            if freezer::state(dir)? != FreezerState::Thawed {
                return Ok(true);
            }
        }
        match self.dir_of(Controller::Unified) {
            Some(dir) => crate::v2::freezer::frozen_for_joining(dir),
            None => Ok(false),
        }
    }

    /// Signals every process; frozen while listing and signalling when the
    /// freezer is mounted.
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        let dir = self.tracking_dir();
        let Some(freezer_dir) = self.dir_of(Controller::Freezer) else {
            return self
                .pids()
                .and_then(|pids| crate::signal_all(&pids, signal, dir));
        };
        let was_frozen = freezer::state(freezer_dir)? == FreezerState::Frozen;
        freezer::freeze(freezer_dir)?;
        let result = self
            .pids()
            .and_then(|pids| crate::signal_all(&pids, signal, dir));
        // A paused container stays paused, except that SIGKILL only takes
        // effect on thawed tasks.
        if was_frozen && signal != libc::SIGKILL {
            return result;
        }
        let thawed = freezer::thaw(freezer_dir);
        result?;
        thawed
    }

    /// Resource usage from every mounted controller.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let mut stats = Stats::default();
        for h in &self.hierarchies {
            let dir = &h.dir.path;
            for c in h.controllers.iter() {
                match c {
                    Controller::Cpu => cpu::stats(dir, &mut stats)?,
                    Controller::Cpuacct => cpuacct::stats(dir, &mut stats)?,
                    Controller::Cpuset => cpuset::stats(dir, &mut stats)?,
                    Controller::Memory => memory::stats(dir, &mut stats)?,
                    Controller::Pids => pids::stats(dir, &mut stats)?,
                    Controller::Blkio => blkio::stats(dir, &mut stats)?,
                    Controller::Hugetlb => hugetlb::stats(dir, &mut stats)?,
                    _ => {}
                }
            }
        }
        Ok(stats)
    }

    /// OOM notifications from the memory controller.
    pub fn oom_notifier(&self) -> Result<OomNotifier, CgroupError> {
        OomNotifier::v1(self.require(Controller::Memory, "memory")?)
    }

    /// Removes what was created in every hierarchy; reports the first
    /// failure after trying them all.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_error = None;
        for h in &self.hierarchies {
            if let Err(e) = h.dir.remove() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Writes `value` to the first of `names` (in `dir`) that exists: kernels
/// rename files between versions (`blkio.weight` became `blkio.bfq.weight`
/// when CFQ was removed in 5.0).
pub(crate) fn write_first_existing(
    dir: &Path,
    names: &[&str],
    value: &str,
) -> Result<(), CgroupError> {
    let mut last = None;
    for name in names {
        match interface_file::write_in(dir, name, value) {
            Ok(()) => return Ok(()),
            Err(e) if e.errno().is_some_and(|n| n.0 == libc::ENOENT) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.expect("names is not empty").into())
}

/// Renders a v1 byte limit: `-1` is unlimited; other negatives are refused.
pub(crate) fn limit_value(field: &'static str, v: i64) -> Result<String, CgroupError> {
    if v < -1 {
        return Err(CgroupError::Invalid {
            field,
            value: v.to_string(),
            reason: "want a byte count or -1 for no limit",
        });
    }
    Ok(v.to_string())
}
