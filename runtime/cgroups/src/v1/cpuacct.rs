//! v1 `cpuacct` controller: CPU usage accounting (cgroup-v1 `cpuacct.rst`).
//! Nothing to apply; usage is read in nanoseconds from `cpuacct.usage*`.

use crate::interface_file;
use crate::stats::Stats;
use crate::CgroupError;
use std::path::Path;

/// Fills `stats.cpu.usage`.
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    let usage = &mut stats.cpu.usage;
    usage.total = interface_file::read_u64(dir, "cpuacct.usage")?;
    usage.percpu = per_cpu(dir, "cpuacct.usage_percpu")?;
    usage.percpu_kernel = per_cpu(dir, "cpuacct.usage_percpu_sys")?;
    usage.percpu_user = per_cpu(dir, "cpuacct.usage_percpu_user")?;
    match (
        interface_file::read_u64_optional(dir, "cpuacct.usage_sys")?,
        interface_file::read_u64_optional(dir, "cpuacct.usage_user")?,
    ) {
        (Some(sys), Some(user)) => {
            usage.kernel = sys;
            usage.user = user;
        }
        _ => {
            // Older kernels: cpuacct.stat in USER_HZ ticks.
            // SAFETY: sysconf has no preconditions.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
            let content = interface_file::read_in(dir, "cpuacct.stat")?;
            for (key, ticks) in interface_file::parse_flat_keyed(&content) {
                match key {
                    "user" => usage.user = ticks * 1_000_000_000 / hz,
                    "system" => usage.kernel = ticks * 1_000_000_000 / hz,
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

fn per_cpu(dir: &Path, name: &str) -> Result<Vec<u64>, CgroupError> {
    Ok(interface_file::read_optional(dir, name)?
        .map(|c| {
            c.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default())
}
