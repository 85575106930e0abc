//! v1 `hugetlb` controller (cgroup-v1 `hugetlb.rst`): one set of files per
//! huge page size, named like `hugetlb.2MB.limit_in_bytes`.

use crate::interface_file;
use crate::stats::{HugetlbStats, Stats};
use crate::CgroupError;
use berth_oci::LinuxHugepageLimit;
use std::path::Path;

/// Checks a page size is of the form the kernel uses in file names
/// (`64KB`, `2MB`, `1GB`): digits then `KB`, `MB` or `GB`. Anything else
/// could address another file.
pub fn validate_page_size(size: &str) -> Result<(), CgroupError> {
    let digits = size.trim_end_matches(['K', 'M', 'G', 'B']);
    let unit = &size[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(unit, "KB" | "MB" | "GB")
    {
        return Err(CgroupError::Invalid {
            field: "hugepageLimits.pageSize",
            value: size.to_string(),
            reason: "want a size like 2MB or 1GB",
        });
    }
    Ok(())
}

/// Applies `linux.resources.hugepageLimits`.
pub fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    for l in limits {
        validate_page_size(&l.page_size)?;
        interface_file::write_in(
            dir,
            &format!("hugetlb.{}.limit_in_bytes", l.page_size),
            &l.limit.to_string(),
        )?;
    }
    Ok(())
}

/// Fills `stats.hugetlb` for every page size the cgroup has files for.
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    for size in page_sizes(dir) {
        let read = |what: &str| interface_file::read_u64(dir, &format!("hugetlb.{size}.{what}"));
        stats.hugetlb.insert(
            size.clone(),
            HugetlbStats {
                usage: read("usage_in_bytes")?,
                max: read("max_usage_in_bytes")?,
                failcnt: read("failcnt")?,
            },
        );
    }
    Ok(())
}

fn page_sizes(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let size = name
                .strip_prefix("hugetlb.")?
                .strip_suffix(".limit_in_bytes")?;
            (!size.contains('.')).then(|| size.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_validated() {
        for ok in ["2MB", "1GB", "64KB"] {
            validate_page_size(ok).unwrap();
        }
        for bad in ["", "MB", "2mb", "2M", "2MB/../x", "../2MB", "2TB"] {
            assert!(validate_page_size(bad).is_err(), "{bad}");
        }
    }
}
