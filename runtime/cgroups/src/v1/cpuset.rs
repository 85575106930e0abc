//! v1 `cpuset` controller (cgroup-v1 `cpusets.rst`).

use crate::interface_file;
use crate::stats::{parse_cpuset_list, Stats};
use crate::CgroupError;
use berth_oci::LinuxCpu;
use std::path::Path;

/// Gives a newly made cpuset cgroup its parent's `cpuset.cpus` and
/// `cpuset.mems`: a v1 cpuset starts empty and no task can join it until
/// both are set.
pub fn inherit_parent(dir: &Path) -> Result<(), CgroupError> {
    fill_from_ancestors(dir)
}

/// Sets whichever of `cpuset.cpus` and `cpuset.mems` is empty in `dir`
/// from its parent, filling the parent first the same way (runc's
/// `ensureParent`): a cgroup made under a parent that itself was made
/// empty, or joined as it was, would otherwise refuse tasks with ENOSPC.
/// The root cpuset always has both, which ends the climb.
pub fn fill_from_ancestors(dir: &Path) -> Result<(), CgroupError> {
    let mut missing = Vec::new();
    for name in ["cpuset.cpus", "cpuset.mems"] {
        if interface_file::read_in(dir, name)?.trim().is_empty() {
            missing.push(name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    fill_from_ancestors(parent)?;
    for name in missing {
        let value = interface_file::read_in(parent, name)?;
        let value = value.trim();
        if !value.is_empty() {
            interface_file::write_in(dir, name, value)?;
        }
    }
    Ok(())
}

/// Applies `linux.resources.cpu.cpus` and `.mems`.
pub fn apply(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(cpus) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
        interface_file::write_in(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems.as_deref().filter(|s| !s.is_empty()) {
        interface_file::write_in(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// Fills `stats.cpuset`; flag files this kernel lacks read as 0.
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    let c = &mut stats.cpuset;
    c.cpus = parse_cpuset_list(&interface_file::read_in(dir, "cpuset.cpus")?);
    c.mems = parse_cpuset_list(&interface_file::read_in(dir, "cpuset.mems")?);
    let flag = |name: &str| -> Result<u64, CgroupError> {
        Ok(interface_file::read_u64_optional(dir, name)?.unwrap_or(0))
    };
    c.cpu_exclusive = flag("cpuset.cpu_exclusive")?;
    c.mem_hardwall = flag("cpuset.mem_hardwall")?;
    c.mem_exclusive = flag("cpuset.mem_exclusive")?;
    c.memory_migrate = flag("cpuset.memory_migrate")?;
    c.memory_spread_page = flag("cpuset.memory_spread_page")?;
    c.memory_spread_slab = flag("cpuset.memory_spread_slab")?;
    c.memory_pressure = flag("cpuset.memory_pressure")?;
    c.sched_load_balance = flag("cpuset.sched_load_balance")?;
    if let Some(level) = interface_file::read_optional(dir, "cpuset.sched_relax_domain_level")? {
        c.sched_relax_domain_level = level.trim().parse().unwrap_or(0);
    }
    Ok(())
}
