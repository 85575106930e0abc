//! v2 `hugetlb` controller (cgroup-v2.rst, "HugeTLB"): `hugetlb.<size>.max`.

use crate::interface_file::{self, parse_flat_keyed};
use crate::stats::{HugetlbStats, Stats};
use crate::v1::hugetlb::validate_page_size;
use crate::CgroupError;
use berth_oci::LinuxHugepageLimit;
use std::path::Path;

/// Applies `linux.resources.hugepageLimits`.
pub fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    for l in limits {
        validate_page_size(&l.page_size)?;
        interface_file::write_in(
            dir,
            &format!("hugetlb.{}.max", l.page_size),
            &l.limit.to_string(),
        )?;
    }
    Ok(())
}

/// Fills `stats.hugetlb` for each page size the cgroup has files for.
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(size) = name
            .to_str()
            .and_then(|n| n.strip_prefix("hugetlb."))
            .and_then(|n| n.strip_suffix(".current"))
            .filter(|s| !s.contains('.'))
        else {
            continue;
        };
        let events = interface_file::read_optional(dir, &format!("hugetlb.{size}.events"))?
            .unwrap_or_default();
        stats.hugetlb.insert(
            size.to_string(),
            HugetlbStats {
                usage: interface_file::read_u64(dir, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: parse_flat_keyed(&events)
                    .find(|(k, _)| *k == "max")
                    .map_or(0, |(_, v)| v),
            },
        );
    }
    Ok(())
}
