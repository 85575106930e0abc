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
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for name in ["cpuset.cpus", "cpuset.mems"] {
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

/// Fills `stats.cpuset`.
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    stats.cpuset.cpus = parse_cpuset_list(&interface_file::read_in(dir, "cpuset.cpus")?);
    stats.cpuset.mems = parse_cpuset_list(&interface_file::read_in(dir, "cpuset.mems")?);
    Ok(())
}
