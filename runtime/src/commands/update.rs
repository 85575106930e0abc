//! `update [--resources FILE|-] [--memory ...] ID`: change a running
//! container's resource limits, as runc's `update` does. The new values are
//! merged field by field into its recorded config (a field not given keeps
//! its value) and applied to its cgroup.
//!
//! runc's rules kept here: with `-r`, the other resource flags are ignored;
//! kernel memory settings are ignored with a warning (the kernel dropped
//! them); device rules are never re-applied (runc sets `SkipDevices`): the
//! recorded config holds the spec's rules without the defaults `create`
//! adds, so re-applying them would take /dev/null and friends away from the
//! running container. `unified` on a v1 or hybrid host is refused before
//! anything changes, as at `create` (runc's v1 manager refuses it in `Set`).

use berth_oci::{ContainerStatus, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::Parsed;
use crate::container::ContainerRecord;
use crate::error::{Context, Error, Result};
use crate::{cgroups, Runtime};

/// `update`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("update", flags)?;
    let mut record = ContainerRecord::load(&rt.root, id)?;
    if record.status(&rt.root) == ContainerStatus::Stopped {
        return Err(Error::State {
            id: id.clone(),
            status: "stopped",
            why: "container not running",
        });
    }
    let cg = cgroups::require(&record)?;
    let linux = record.config.linux.get_or_insert_with(Default::default);
    let old = linux.resources.clone().unwrap_or_default();
    let mut new = match flags.value("resources") {
        Some(path) => read_resources(path)?,
        None => from_flags(flags)?,
    };
    if let Some(m) = new.memory.as_mut() {
        if m.kernel.take().is_some() | m.kernel_tcp.take().is_some() {
            rt.log
                .warn("Kernel memory settings are ignored and will be removed");
        }
    }
    // Not applied, not recorded: see the module doc.
    new.devices.clear();
    // The host's layout is read only when it matters (`update` with flags
    // cannot set `unified`).
    if !new.unified.is_empty() {
        let layout = berth_cgroups::Layout::detect().map_err(berth_cgroups::CgroupError::from)?;
        cgroups::refuse_unified_on_v1(&new, &layout)?;
    }
    rt.log.debug(|| format!("update: container {id}: {new:?}"));
    cg.apply(&new)?;
    linux.resources = Some(merge(old, &new)?);
    record.save(&rt.root)?;
    Ok(0)
}

/// `-r FILE` or `-r -` (stdin): OCI `linux.resources` JSON.
fn read_resources(path: &str) -> Result<LinuxResources> {
    let bytes = if path == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
            .context(|| "read resources from stdin".into())?;
        v
    } else {
        std::fs::read(path).context(|| format!("read resources file {path}"))?
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Invalid(format!("parse resources {path}: {e}")))
}

/// `old` with every field `new` sets overwritten, at any depth (so
/// `{"memory": {"limit": N}}` keeps the recorded reservation and swap).
fn merge(old: LinuxResources, new: &LinuxResources) -> Result<LinuxResources> {
    fn deep(old: &mut serde_json::Value, new: serde_json::Value) {
        match (old, new) {
            (serde_json::Value::Object(o), serde_json::Value::Object(n)) => {
                for (k, v) in n {
                    if !v.is_null() {
                        deep(o.entry(k).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
            (o, n) => *o = n,
        }
    }
    let to_value = |r: &LinuxResources| {
        serde_json::to_value(r).map_err(|e| Error::Invalid(format!("resources: {e}")))
    };
    let mut merged = to_value(&old)?;
    deep(&mut merged, to_value(new)?);
    serde_json::from_value(merged).map_err(|e| Error::Invalid(format!("resources: {e}")))
}

/// runc's update flags. As in runc, a flag given as 0 (or not at all)
/// leaves the value alone, and `-1` means unlimited for the memory sizes.
fn from_flags(flags: &Parsed) -> Result<LinuxResources> {
    let mut res = LinuxResources::default();
    let mut memory = LinuxMemory::default();
    for (flag, field) in [
        ("memory", &mut memory.limit),
        ("memory-reservation", &mut memory.reservation),
        ("memory-swap", &mut memory.swap),
        ("kernel-memory", &mut memory.kernel),
        ("kernel-memory-tcp", &mut memory.kernel_tcp),
    ] {
        if let Some(v) = flags.value(flag) {
            *field = Some(parse_size(flag, v)?);
        }
    }
    if memory != LinuxMemory::default() {
        res.memory = Some(memory);
    }
    let cpu = LinuxCpu {
        period: flags.number("cpu-period")?.filter(|v| *v != 0),
        quota: flags.number("cpu-quota")?.filter(|v| *v != 0),
        burst: flags.number("cpu-burst")?.filter(|v| *v != 0),
        shares: flags.number("cpu-share")?.filter(|v| *v != 0),
        realtime_period: flags.number("cpu-rt-period")?.filter(|v| *v != 0),
        realtime_runtime: flags.number("cpu-rt-runtime")?.filter(|v| *v != 0),
        cpus: flags.value("cpuset-cpus").map(str::to_string),
        mems: flags.value("cpuset-mems").map(str::to_string),
        ..LinuxCpu::default()
    };
    if cpu != LinuxCpu::default() {
        res.cpu = Some(cpu);
    }
    if let Some(v) = flags.number::<i64>("pids-limit")?.filter(|v| *v != 0) {
        res.pids = Some(LinuxPids { limit: v });
    }
    if let Some(v) = flags.number::<u16>("blkio-weight")?.filter(|v| *v != 0) {
        res.block_io.get_or_insert_with(Default::default).weight = Some(v);
    }
    for f in ["l3-cache-schema", "mem-bw-schema"] {
        if flags.value(f).is_some() {
            return Err(Error::NotImplemented(format!("update --{f} (Intel RDT)")));
        }
    }
    Ok(res)
}

/// A size in bytes as runc's flags take it (docker's `RAMInBytes`: binary
/// units, `512m`, `1g`, `1.5k`, `2 MiB`, `100kb`), or `-1` for unlimited.
pub fn parse_size(flag: &str, text: &str) -> Result<i64> {
    let bad = || Error::Usage(format!("invalid value for {flag}: invalid size: {text:?}"));
    if text == "-1" {
        return Ok(-1);
    }
    let lower = text.to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let lower = lower.strip_suffix('i').unwrap_or(lower);
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        Some('t') => (&lower[..lower.len() - 1], 1 << 40),
        Some('p') => (&lower[..lower.len() - 1], 1 << 50),
        _ => (lower, 1),
    };
    let num = num.strip_suffix(' ').unwrap_or(num);
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    if n < 0.0 || !n.is_finite() {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("m", "1024").unwrap(), 1024);
        assert_eq!(parse_size("m", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("m", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("m", "1.5k").unwrap(), 1536);
        assert_eq!(parse_size("m", "-1").unwrap(), -1);
        assert!(parse_size("m", "lots").is_err());
        assert!(parse_size("m", "-5").is_err());
        assert_eq!(parse_size("m", "2 MiB").unwrap(), 2 << 20);
        assert_eq!(parse_size("m", "100kb").unwrap(), 100 << 10);
        assert!(parse_size("m", "m").is_err());
        assert!(parse_size("m", " 5").is_err());
    }
}
