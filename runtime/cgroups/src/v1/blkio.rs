//! v1 `blkio` controller (cgroup-v1 `blkio-controller.rst`).
//!
//! Since Linux 5.0 removed CFQ, proportional weights live in BFQ's
//! `blkio.bfq.weight` and `blkio.bfq.weight_device`; the CFQ names are
//! tried first for older kernels. `leafWeight` only ever existed in CFQ.

use super::write_first_existing;
use crate::interface_file::{self, InterfaceFile};
use crate::stats::{BlkioEntry, Stats};
use crate::CgroupError;
use berth_oci::{LinuxBlockIo, LinuxThrottleDevice};
use std::path::Path;

/// Applies `linux.resources.blockIO`.
pub fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    if let Some(w) = b.weight.filter(|w| *w != 0) {
        write_first_existing(dir, &["blkio.weight", "blkio.bfq.weight"], &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight.filter(|w| *w != 0) {
        interface_file::write_in(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in &b.weight_device {
        if let Some(w) = d.weight {
            let line = format!("{}:{} {}", d.major, d.minor, w);
            write_first_existing(
                dir,
                &["blkio.weight_device", "blkio.bfq.weight_device"],
                &line,
            )?;
        }
        if let Some(w) = d.leaf_weight {
            let line = format!("{}:{} {}", d.major, d.minor, w);
            interface_file::write_in(dir, "blkio.leaf_weight_device", &line)?;
        }
    }
    throttle(
        dir,
        "blkio.throttle.read_bps_device",
        &b.throttle_read_bps_device,
    )?;
    throttle(
        dir,
        "blkio.throttle.write_bps_device",
        &b.throttle_write_bps_device,
    )?;
    throttle(
        dir,
        "blkio.throttle.read_iops_device",
        &b.throttle_read_iops_device,
    )?;
    throttle(
        dir,
        "blkio.throttle.write_iops_device",
        &b.throttle_write_iops_device,
    )?;
    Ok(())
}

fn throttle(dir: &Path, name: &str, devices: &[LinuxThrottleDevice]) -> Result<(), CgroupError> {
    let Some(first) = devices.first() else {
        return Ok(());
    };
    let line = |d: &LinuxThrottleDevice| format!("{}:{} {}", d.major, d.minor, d.rate);
    let mut file = InterfaceFile::open(&dir.join(name), &line(first))?;
    for d in devices {
        file.write(&line(d))?;
    }
    Ok(())
}

/// Fills `stats.blkio` from the throttle layer's recursive counters (present
/// whatever the IO scheduler).
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    stats.blkio.io_service_bytes_recursive = entries(&interface_file::read_in(
        dir,
        "blkio.throttle.io_service_bytes_recursive",
    )?);
    stats.blkio.io_serviced_recursive = entries(&interface_file::read_in(
        dir,
        "blkio.throttle.io_serviced_recursive",
    )?);
    Ok(())
}

/// Parses `8:0 Read 4096` lines (the trailing `Total N` line is skipped).
pub fn entries(content: &str) -> Vec<BlkioEntry> {
    content
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_recursive_counters() {
        let e = entries("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].major, e[0].minor, e[0].op.as_str(), e[0].value),
            (8, 0, "Read", 4096)
        );
    }
}
