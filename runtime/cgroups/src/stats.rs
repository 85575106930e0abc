//! Resource usage of a container's cgroup, shaped like the `data` of runc's
//! `events --stats` JSON (runc `types/events.go`), so tools that read runc's
//! output (containerd's runc shim, `ctr task metrics`) read ours.
//!
//! Units follow runc: CPU times in nanoseconds (cgroup v2's microseconds
//! and v1's `cpuacct.stat` ticks are converted), memory in bytes. A limit
//! of "no limit" reads as `u64::MAX` for memory (v2 `max`) or the v1
//! kernel's page-rounded `i64::MAX`, as runc reports it; a pids limit of
//! `max` reads as 0 and is left out. Fields a layout cannot provide stay at
//! zero (and empty maps/lists are left out of the JSON).

use serde::Serialize;
use std::collections::BTreeMap;

/// `data` of one `stats` event.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub cpu: CpuStats,
    pub cpuset: CpusetStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    /// By page size (`2MB`, `1GB`).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
    /// Intel RDT is not managed by Berth; always `{}`.
    pub intel_rdt: BTreeMap<String, u64>,
    /// Network statistics are not collected from the cgroup; always null.
    pub network_interfaces: Option<Vec<()>>,
}

/// `cpu`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// `cpu.usage`, in nanoseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

/// `cpu.throttling` (CFS bandwidth control).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// `cpuset`: the CPUs and memory nodes in effect, and on v1 the cpuset
/// flags (cgroup-v1 `cpusets.rst`), which runc always reports (0 on v2).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CpusetStats {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

/// `memory`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat` as read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// One memory counter group.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// `pids`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PidsStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// `blkio`: recursive per-device counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlkioStats {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One per-device, per-operation counter.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// One hugepage size's counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HugetlbStats {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Parses a cpuset list (`0-3,8,10-11`) into its members; malformed parts
/// are skipped (the kernel only writes well-formed lists).
pub fn parse_cpuset_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuset_lists_expand() {
        assert_eq!(parse_cpuset_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpuset_list("\n"), Vec::<u16>::new());
    }

    #[test]
    fn json_shape_matches_runc() {
        let mut stats = Stats::default();
        stats.cpu.usage.total = 5;
        stats.memory.usage.limit = 10;
        stats.pids.current = 1;
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["cpu"]["usage"]["total"], 5);
        assert_eq!(json["cpu"]["usage"]["kernel"], 0);
        assert!(json["cpu"]["usage"].get("percpu").is_none());
        assert_eq!(json["memory"]["usage"]["limit"], 10);
        assert!(json["memory"].get("kernelTCP").is_some());
        assert_eq!(json["pids"]["current"], 1);
        assert!(json["network_interfaces"].is_null());
        assert_eq!(json["intel_rdt"], serde_json::json!({}));
    }
}
