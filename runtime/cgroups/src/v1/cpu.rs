//! v1 `cpu` controller: CFS shares and bandwidth, realtime budget, idle
//! (kernel `Documentation/scheduler/sched-bwc.rst`, `sched-rt-group.rst`).
//!
//! The period is written before the quota (and again after it when the
//! kernel refused it first, as runc) and the realtime period before the
//! realtime runtime, as the kernel checks each against the other. A
//! quota or period of 0 means "not set", as in runc.

use crate::interface_file::{self, parse_flat_keyed};
use crate::stats::Stats;
use crate::CgroupError;
use berth_oci::LinuxCpu;
use std::path::Path;

/// Smallest and largest `cpu.shares` the kernel accepts
/// (`MIN_SHARES`/`MAX_SHARES` in `kernel/sched/sched.h`); it clamps others
/// silently, which would hide a mistake, so they are refused here.
pub const SHARES_RANGE: std::ops::RangeInclusive<u64> = 2..=262_144;

/// Applies the `cpu` controller's part of `linux.resources.cpu`.
pub fn apply(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(shares) = c.shares.filter(|s| *s != 0) {
        if !SHARES_RANGE.contains(&shares) {
            return Err(CgroupError::Invalid {
                field: "cpu.shares",
                value: shares.to_string(),
                reason: "want 2 to 262144",
            });
        }
        interface_file::write_in(dir, "cpu.shares", &shares.to_string())?;
    }
    let quota_set = c.quota.is_some_and(|q| q != 0);
    // A period the kernel refuses (EINVAL: the old quota over the new period
    // exceeds the parent's limit) is written again after the quota, as runc
    // 1.1 does (runc's update.bats "cpu period in a pod cgroup").
    let mut period_after_quota = None;
    if let Some(period) = c.period.filter(|p| *p != 0) {
        match interface_file::write_in(dir, "cpu.cfs_period_us", &period.to_string()) {
            Err(e) if quota_set && e.errno() == Some(crate::Errno(libc::EINVAL)) => {
                period_after_quota = Some(period);
            }
            other => other?,
        }
    }
    if let Some(quota) = c.quota.filter(|q| *q != 0) {
        if quota < -1 {
            return Err(CgroupError::Invalid {
                field: "cpu.quota",
                value: quota.to_string(),
                reason: "want microseconds per period, or -1 for no limit",
            });
        }
        interface_file::write_in(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(period) = period_after_quota {
            interface_file::write_in(dir, "cpu.cfs_period_us", &period.to_string())?;
        }
    }
    if let Some(burst) = c.burst {
        interface_file::write_in(dir, "cpu.cfs_burst_us", &burst.to_string())?;
    }
    if let Some(period) = c.realtime_period.filter(|p| *p != 0) {
        interface_file::write_in(dir, "cpu.rt_period_us", &period.to_string())?;
    }
    if let Some(runtime) = c.realtime_runtime.filter(|r| *r != 0) {
        interface_file::write_in(dir, "cpu.rt_runtime_us", &runtime.to_string())?;
    }
    if let Some(idle) = c.idle {
        interface_file::write_in(dir, "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

/// Fills `stats.cpu.throttling` from `cpu.stat`.
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    let content = interface_file::read_in(dir, "cpu.stat")?;
    for (key, value) in parse_flat_keyed(&content) {
        match key {
            "nr_periods" => stats.cpu.throttling.periods = value,
            "nr_throttled" => stats.cpu.throttling.throttled_periods = value,
            "throttled_time" => stats.cpu.throttling.throttled_time = value,
            _ => {}
        }
    }
    Ok(())
}
