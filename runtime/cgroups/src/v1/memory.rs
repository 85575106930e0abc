//! v1 `memory` controller (cgroup-v1 `memory.rst`).
//!
//! `linux.resources.memory.swap` is memory+swap (`memory.memsw.limit_in_bytes`),
//! which the kernel requires to stay at or above `memory.limit_in_bytes`:
//! the limit is written first, and if the kernel refuses it (EINVAL: the
//! new limit is above the current memsw), memsw is written first instead.
//! A value of 0 means "not set", as in runc; -1 means no limit.

use crate::interface_file::{self, parse_flat_keyed, FileError};
use crate::stats::{MemoryEntry, Stats};
use crate::v1::limit_value;
use crate::CgroupError;
use berth_oci::LinuxMemory;
use std::path::Path;

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

/// Applies `linux.resources.memory`.
pub fn apply(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = nonzero(m.limit);
    if m.check_before_update == Some(true) {
        if let Some(limit) = limit.filter(|l| *l > 0) {
            let usage = interface_file::read_u64(dir, "memory.usage_in_bytes")?;
            if (limit as u64) < usage {
                return Err(CgroupError::Invalid {
                    field: "memory.limit",
                    value: limit.to_string(),
                    reason: "below the cgroup's current usage (checkBeforeUpdate)",
                });
            }
        }
    }
    if let Some(r) = nonzero(m.reservation) {
        write(
            dir,
            "memory.soft_limit_in_bytes",
            &limit_value("memory.reservation", r)?,
        )?;
    }
    // An unlimited memory with no swap given means unlimited swap too
    // (otherwise memsw would cap it), as runc does.
    let swap = match (limit, nonzero(m.swap)) {
        (Some(-1), None) => Some(-1),
        (_, s) => s,
    };
    let swap_given = nonzero(m.swap).is_some();
    match (limit, swap) {
        (Some(l), Some(s)) => {
            let l = limit_value("memory.limit", l)?;
            let s = limit_value("memory.swap", s)?;
            match interface_file::write_in(dir, LIMIT, &l) {
                Ok(()) => write_swap(dir, &s, swap_given)?,
                Err(e) if e.errno().is_some_and(|n| n.0 == libc::EINVAL) => {
                    write_swap(dir, &s, swap_given)?;
                    write(dir, LIMIT, &l)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        (Some(l), None) => write(dir, LIMIT, &limit_value("memory.limit", l)?)?,
        (None, Some(s)) => write_swap(dir, &limit_value("memory.swap", s)?, true)?,
        (None, None) => {}
    }
    if let Some(k) = nonzero(m.kernel) {
        write(
            dir,
            "memory.kmem.limit_in_bytes",
            &limit_value("memory.kernel", k)?,
        )?;
    }
    if let Some(k) = nonzero(m.kernel_tcp) {
        write(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            &limit_value("memory.kernelTCP", k)?,
        )?;
    }
    if let Some(s) = m.swappiness {
        if s > 100 {
            return Err(CgroupError::Invalid {
                field: "memory.swappiness",
                value: s.to_string(),
                reason: "want 0 to 100",
            });
        }
        write(dir, "memory.swappiness", &s.to_string())?;
    }
    if let Some(disable) = m.disable_oom_killer {
        write(dir, "memory.oom_control", if disable { "1" } else { "0" })?;
    }
    if let Some(h) = m.use_hierarchy {
        write(dir, "memory.use_hierarchy", if h { "1" } else { "0" })?;
    }
    Ok(())
}

fn nonzero(v: Option<i64>) -> Option<i64> {
    v.filter(|v| *v != 0)
}

fn write(dir: &Path, name: &str, value: &str) -> Result<(), FileError> {
    interface_file::write_in(dir, name, value)
}

/// Writes memsw; a host without swap accounting has no memsw file, which
/// is only an error when the spec asked for a swap limit.
fn write_swap(dir: &Path, value: &str, given: bool) -> Result<(), CgroupError> {
    match interface_file::write_in(dir, MEMSW, value) {
        Err(e) if !given && e.errno().is_some_and(|n| n.0 == libc::ENOENT) => Ok(()),
        other => Ok(other?),
    }
}

/// Fills `stats.memory`.
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    let raw = interface_file::read_in(dir, "memory.stat")?;
    for (k, v) in parse_flat_keyed(&raw) {
        stats.memory.raw.insert(k.to_string(), v);
    }
    stats.memory.cache = stats.memory.raw.get("cache").copied().unwrap_or(0);
    stats.memory.usage = entry(dir, "memory")?.unwrap_or_default();
    stats.memory.swap = entry(dir, "memory.memsw")?.unwrap_or_default();
    stats.memory.kernel = entry(dir, "memory.kmem")?.unwrap_or_default();
    stats.memory.kernel_tcp = entry(dir, "memory.kmem.tcp")?.unwrap_or_default();
    Ok(())
}

fn entry(dir: &Path, prefix: &str) -> Result<Option<MemoryEntry>, CgroupError> {
    let Some(usage) = interface_file::read_u64_optional(dir, &format!("{prefix}.usage_in_bytes"))?
    else {
        return Ok(None);
    };
    Ok(Some(MemoryEntry {
        usage,
        max: interface_file::read_u64_optional(dir, &format!("{prefix}.max_usage_in_bytes"))?
            .unwrap_or(0),
        failcnt: interface_file::read_u64_optional(dir, &format!("{prefix}.failcnt"))?.unwrap_or(0),
        limit: interface_file::read_u64_optional(dir, &format!("{prefix}.limit_in_bytes"))?
            .unwrap_or(0),
    }))
}
