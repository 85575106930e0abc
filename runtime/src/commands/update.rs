//! `update [--resources FILE|-] [--memory ...] ID`: change a container's
//! resource limits. The new values are merged into its recorded config and
//! applied to its cgroup.

use berth_oci::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::Parsed;
use crate::container::ContainerRecord;
use crate::error::{Context, Error, Result};
use crate::{cgroups, Runtime};

/// `update`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("update", flags)?;
    let mut record = ContainerRecord::load(&rt.root, id)?;
    let cg = cgroups::require(&record)?;
    let linux = record.config.linux.get_or_insert_with(Default::default);
    let mut res = linux.resources.clone().unwrap_or_default();
    if let Some(path) = flags.value("resources") {
        let bytes = if path == "-" {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
                .context(|| "read resources from stdin".into())?;
            v
        } else {
            std::fs::read(path).context(|| format!("read resources file {path}"))?
        };
        let new: LinuxResources = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("parse resources {path}: {e}")))?;
        merge(&mut res, new);
    }
    apply_flags(&mut res, flags)?;
    cg.apply(&res)?;
    linux.resources = Some(res);
    record.save(&rt.root)?;
    Ok(0)
}

/// Overwrites every field `new` sets.
fn merge(res: &mut LinuxResources, new: LinuxResources) {
    if let Some(m) = new.memory {
        res.memory = Some(m);
    }
    if let Some(c) = new.cpu {
        res.cpu = Some(c);
    }
    if let Some(p) = new.pids {
        res.pids = Some(p);
    }
    if let Some(b) = new.block_io {
        res.block_io = Some(b);
    }
    if !new.hugepage_limits.is_empty() {
        res.hugepage_limits = new.hugepage_limits;
    }
    if let Some(n) = new.network {
        res.network = Some(n);
    }
    if !new.unified.is_empty() {
        res.unified = new.unified;
    }
    if !new.devices.is_empty() {
        res.devices = new.devices;
    }
}

/// runc's update flags.
fn apply_flags(res: &mut LinuxResources, flags: &Parsed) -> Result<()> {
    for (flag, field) in [
        ("memory", 0),
        ("memory-reservation", 1),
        ("memory-swap", 2),
        ("kernel-memory", 3),
        ("kernel-memory-tcp", 4),
    ] {
        let Some(v) = flags.value(flag) else { continue };
        let size = Some(parse_size(flag, v)?);
        let m = res.memory.get_or_insert_with(LinuxMemory::default);
        match field {
            0 => m.limit = size,
            1 => m.reservation = size,
            2 => m.swap = size,
            3 => m.kernel = size,
            _ => m.kernel_tcp = size,
        }
    }
    let cpu = res.cpu.get_or_insert_with(LinuxCpu::default);
    if let Some(v) = flags.number("cpu-period")? {
        cpu.period = Some(v);
    }
    if let Some(v) = flags.number("cpu-quota")? {
        cpu.quota = Some(v);
    }
    if let Some(v) = flags.number("cpu-burst")? {
        cpu.burst = Some(v);
    }
    if let Some(v) = flags.number("cpu-share")? {
        cpu.shares = Some(v);
    }
    if let Some(v) = flags.number("cpu-rt-period")? {
        cpu.realtime_period = Some(v);
    }
    if let Some(v) = flags.number("cpu-rt-runtime")? {
        cpu.realtime_runtime = Some(v);
    }
    if let Some(v) = flags.value("cpuset-cpus") {
        cpu.cpus = Some(v.to_string());
    }
    if let Some(v) = flags.value("cpuset-mems") {
        cpu.mems = Some(v.to_string());
    }
    if res.cpu.as_ref() == Some(&LinuxCpu::default()) {
        res.cpu = None;
    }
    if let Some(v) = flags.number("pids-limit")? {
        res.pids = Some(LinuxPids { limit: v });
    }
    if let Some(v) = flags.number::<u16>("blkio-weight")? {
        res.block_io.get_or_insert_with(Default::default).weight = Some(v);
    }
    for f in ["l3-cache-schema", "mem-bw-schema"] {
        if flags.value(f).is_some() {
            return Err(Error::NotImplemented(format!("update --{f} (Intel RDT)")));
        }
    }
    Ok(())
}

/// A size in bytes with an optional unit (`512m`, `1g`, `100k`, `-1`), as
/// runc's flags accept.
pub fn parse_size(flag: &str, text: &str) -> Result<i64> {
    let bad = || Error::Usage(format!("--{flag}: invalid size {text:?}"));
    if text == "-1" {
        return Ok(-1);
    }
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        Some('t') => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
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
    }
}
