//! v2 `memory` controller (cgroup-v2.rst, "Memory").
//!
//! The spec's `swap` is v1's memory+swap; v2's `memory.swap.max` is swap
//! alone, so it is converted to `swap - limit` ([`swap_max`]). Values with
//! no v2 equivalent (`kernel`, `kernelTCP`, `swappiness`,
//! `disableOOMKiller: true`, `useHierarchy: false`) are refused rather than
//! dropped; 0, `false` and absent are the defaults and pass.

use crate::interface_file::{self, parse_flat_keyed};
use crate::stats::Stats;
use crate::CgroupError;
use berth_oci::LinuxMemory;
use std::path::Path;

/// Renders a byte limit: `-1` is `max`.
pub fn limit_value(field: &'static str, v: i64) -> Result<String, CgroupError> {
    match v {
        -1 => Ok("max".to_string()),
        v if v >= 0 => Ok(v.to_string()),
        v => Err(CgroupError::Invalid {
            field,
            value: v.to_string(),
            reason: "want a byte count or -1 for no limit",
        }),
    }
}

/// The `memory.swap.max` value for the spec's memory+swap `swap` and
/// memory `limit` (0 meaning unset): `None` leaves the file alone.
pub fn swap_max(swap: Option<i64>, limit: Option<i64>) -> Result<Option<String>, CgroupError> {
    let swap = swap.filter(|s| *s != 0);
    let limit = limit.filter(|l| *l != 0);
    match (swap, limit) {
        // Unlimited memory and no swap given: unlimited swap too (v1 parity).
        (None, Some(-1)) => Ok(Some("max".to_string())),
        (None, _) => Ok(None),
        (Some(-1), _) => Ok(Some("max".to_string())),
        (Some(s), None | Some(-1)) => Err(CgroupError::Invalid {
            field: "memory.swap",
            value: s.to_string(),
            reason: "a swap limit needs a memory limit on cgroup v2",
        }),
        (Some(s), Some(l)) if s < l => Err(CgroupError::Invalid {
            field: "memory.swap",
            value: s.to_string(),
            reason: "memory+swap must be at least the memory limit",
        }),
        (Some(s), Some(l)) => Ok(Some((s - l).to_string())),
    }
}

/// Applies `linux.resources.memory`.
pub fn apply(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let unsupported = |field: &'static str| CgroupError::Unsupported {
        field,
        why: "on cgroup v2".to_string(),
    };
    if m.kernel.is_some_and(|k| k != 0) {
        return Err(unsupported("memory.kernel"));
    }
    if m.kernel_tcp.is_some_and(|k| k != 0) {
        return Err(unsupported("memory.kernelTCP"));
    }
    if m.swappiness.is_some() {
        return Err(unsupported("memory.swappiness"));
    }
    if m.disable_oom_killer == Some(true) {
        return Err(unsupported("memory.disableOOMKiller"));
    }
    if m.use_hierarchy == Some(false) {
        return Err(unsupported("memory.useHierarchy false"));
    }
    let limit = m.limit.filter(|l| *l != 0);
    let swap = swap_max(m.swap, m.limit)?;
    if m.check_before_update == Some(true) {
        if let Some(l) = limit.filter(|l| *l > 0) {
            if (l as u64) < interface_file::read_u64(dir, "memory.current")? {
                return Err(CgroupError::Invalid {
                    field: "memory.limit",
                    value: l.to_string(),
                    reason: "below the cgroup's current usage (checkBeforeUpdate)",
                });
            }
        }
    }
    if let Some(r) = m.reservation.filter(|r| *r != 0) {
        interface_file::write_in(dir, "memory.low", &limit_value("memory.reservation", r)?)?;
    }
    if let Some(l) = limit {
        interface_file::write_in(dir, "memory.max", &limit_value("memory.limit", l)?)?;
    }
    if let Some(s) = swap {
        interface_file::write_in(dir, "memory.swap.max", &s)?;
    }
    Ok(())
}

/// Fills `stats.memory` (when the controller is enabled here).
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    let Some(usage) = interface_file::read_u64_optional(dir, "memory.current")? else {
        return Ok(());
    };
    let mem = &mut stats.memory;
    mem.usage.usage = usage;
    mem.usage.limit = interface_file::read_u64(dir, "memory.max")?;
    mem.usage.max = interface_file::read_u64_optional(dir, "memory.peak")?.unwrap_or(0);
    if let Some(events) = interface_file::read_optional(dir, "memory.events")? {
        mem.usage.failcnt = parse_flat_keyed(&events)
            .find(|(k, _)| *k == "max")
            .map_or(0, |(_, v)| v);
    }
    if let Some(swap) = interface_file::read_u64_optional(dir, "memory.swap.current")? {
        mem.swap.usage = swap;
        mem.swap.limit = interface_file::read_u64(dir, "memory.swap.max")?;
        mem.swap.max = interface_file::read_u64_optional(dir, "memory.swap.peak")?.unwrap_or(0);
    }
    let raw = interface_file::read_in(dir, "memory.stat")?;
    for (k, v) in parse_flat_keyed(&raw) {
        mem.raw.insert(k.to_string(), v);
    }
    mem.cache = mem.raw.get("file").copied().unwrap_or(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_converts_from_memsw() {
        assert_eq!(
            swap_max(Some(300), Some(100)).unwrap().as_deref(),
            Some("200")
        );
        assert_eq!(
            swap_max(Some(100), Some(100)).unwrap().as_deref(),
            Some("0")
        );
        assert_eq!(
            swap_max(Some(-1), Some(100)).unwrap().as_deref(),
            Some("max")
        );
        assert_eq!(swap_max(None, Some(-1)).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_max(None, Some(100)).unwrap(), None);
        assert_eq!(swap_max(Some(0), None).unwrap(), None);
        assert!(swap_max(Some(50), Some(100)).is_err());
        assert!(swap_max(Some(50), None).is_err());
    }

    #[test]
    fn limits_render_max() {
        assert_eq!(limit_value("memory.limit", -1).unwrap(), "max");
        assert_eq!(limit_value("memory.limit", 4096).unwrap(), "4096");
        assert!(limit_value("memory.limit", -5).is_err());
    }
}
