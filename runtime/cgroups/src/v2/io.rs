//! v2 `io` controller (cgroup-v2.rst, "IO").
//!
//! Weights: BFQ's `io.bfq.weight` takes the v1 range (1..1000) as is;
//! otherwise `io.weight` (1..10000) gets [`blkio_weight_to_io_weight`].
//! Throttles go to `io.max` as `MAJ:MIN rbps=N` (one key per write).
//! `leafWeight` only existed in v1's CFQ and is refused.

use crate::interface_file;
use crate::stats::{BlkioEntry, Stats};
use crate::CgroupError;
use berth_oci::{LinuxBlockIo, LinuxThrottleDevice};
use std::path::Path;

/// Maps v1 blkio weight (10..1000) linearly onto v2 io.weight (1..10000).
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = weight.clamp(10, 1000) as u64;
    1 + (w - 10) * 9999 / 990
}

/// Writes a weight: BFQ's file with the v1 value, else `io.weight`
/// converted. `device` is `Some("8:0")` for a per-device weight.
fn write_weight(dir: &Path, device: Option<&str>, weight: u16) -> Result<(), CgroupError> {
    let render = |w: u64| match device {
        Some(dev) => format!("{dev} {w}"),
        None => w.to_string(),
    };
    match interface_file::write_in(dir, "io.bfq.weight", &render(weight as u64)) {
        Ok(()) => Ok(()),
        Err(e) if e.errno().is_some_and(|n| n.0 == libc::ENOENT) => Ok(interface_file::write_in(
            dir,
            "io.weight",
            &render(blkio_weight_to_io_weight(weight)),
        )?),
        Err(e) => Err(e.into()),
    }
}

/// Applies `linux.resources.blockIO`.
pub fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let leaf = b.leaf_weight.is_some_and(|w| w != 0)
        || b.weight_device.iter().any(|d| d.leaf_weight.is_some());
    if leaf {
        return Err(CgroupError::Unsupported {
            field: "blockIO.leafWeight",
            why: "on cgroup v2".to_string(),
        });
    }
    if let Some(w) = b.weight.filter(|w| *w != 0) {
        write_weight(dir, None, w)?;
    }
    for d in &b.weight_device {
        if let Some(w) = d.weight {
            write_weight(dir, Some(&format!("{}:{}", d.major, d.minor)), w)?;
        }
    }
    throttle(dir, "rbps", &b.throttle_read_bps_device)?;
    throttle(dir, "wbps", &b.throttle_write_bps_device)?;
    throttle(dir, "riops", &b.throttle_read_iops_device)?;
    throttle(dir, "wiops", &b.throttle_write_iops_device)?;
    Ok(())
}

fn throttle(dir: &Path, key: &str, devices: &[LinuxThrottleDevice]) -> Result<(), CgroupError> {
    for d in devices {
        // A rate of 0 means "no limit" in v1; v2 spells that `max`.
        let rate = if d.rate == 0 {
            "max".to_string()
        } else {
            d.rate.to_string()
        };
        interface_file::write_in(
            dir,
            "io.max",
            &format!("{}:{} {key}={rate}", d.major, d.minor),
        )?;
    }
    Ok(())
}

/// Fills `stats.blkio` from `io.stat` (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...`).
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    let Some(content) = interface_file::read_optional(dir, "io.stat")? else {
        return Ok(());
    };
    parse_io_stat(&content, stats);
    Ok(())
}

/// Parses `io.stat` into runc's blkio entries.
pub fn parse_io_stat(content: &str, stats: &mut Stats) {
    for line in content.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for kv in fields {
            let Some((key, value)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            let (list, op) = match key {
                "rbytes" => (&mut stats.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut stats.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut stats.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut stats.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_convert() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
    }

    #[test]
    fn io_stat_parses() {
        let mut stats = Stats::default();
        parse_io_stat(
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
            &mut stats,
        );
        let bytes = &stats.blkio.io_service_bytes_recursive;
        assert_eq!(bytes.len(), 2);
        assert_eq!(
            (bytes[1].major, bytes[1].op.as_str(), bytes[1].value),
            (8, "Write", 8192)
        );
        assert_eq!(stats.blkio.io_serviced_recursive[0].value, 1);
    }
}
