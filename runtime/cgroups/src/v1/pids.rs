//! `pids` controller, the same files on v1 and v2 (cgroup-v1 `pids.rst`).

use crate::interface_file;
use crate::stats::Stats;
use crate::CgroupError;
use berth_oci::LinuxPids;
use std::path::Path;

/// Applies `linux.resources.pids`: a positive limit, or `max` for 0 or -1.
pub fn apply(dir: &Path, p: &LinuxPids) -> Result<(), CgroupError> {
    let value = match p.limit {
        n if n > 0 => n.to_string(),
        0 | -1 => "max".to_string(),
        n => {
            return Err(CgroupError::Invalid {
                field: "pids.limit",
                value: n.to_string(),
                reason: "want a positive count, or 0 or -1 for no limit",
            })
        }
    };
    Ok(interface_file::write_in(dir, "pids.max", &value)?)
}

/// Fills `stats.pids`; a limit of `max` reads as 0, as runc reports it.
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    stats.pids.current = interface_file::read_u64(dir, "pids.current")?;
    let limit = interface_file::read_u64(dir, "pids.max")?;
    stats.pids.limit = if limit == u64::MAX { 0 } else { limit };
    Ok(())
}
