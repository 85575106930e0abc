//! `linux.resources` (runtime-spec `config-linux.md#control-groups`): what the
//! cgroup drivers apply at create and `update` changes later.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `linux.resources`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinuxResources {
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub devices: Vec<LinuxDeviceCgroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<LinuxMemory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<LinuxCpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<LinuxPids>,
    #[serde(default, rename = "blockIO", skip_serializing_if = "Option::is_none")]
    pub block_io: Option<LinuxBlockIo>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hugepage_limits: Vec<LinuxHugepageLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<LinuxNetwork>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub rdma: BTreeMap<String, LinuxRdma>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub unified: BTreeMap<String, String>,
}

/// One rule of `linux.resources.devices` (the device cgroup's allow/deny list).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LinuxDeviceCgroup {
    pub allow: bool,
    /// `a` (all), `c` or `b`; absent means all.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    /// Some of `r`, `w`, `m`; absent means `rwm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

/// `linux.resources.memory`. Sizes in bytes; -1 means unlimited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinuxMemory {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    /// Memory plus swap (v1 `memsw` semantics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<i64>,
    #[serde(default, rename = "kernelTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_tcp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
    #[serde(
        default,
        rename = "disableOOMKiller",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_oom_killer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_hierarchy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_before_update: Option<bool>,
}

/// `linux.resources.cpu`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinuxCpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_runtime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<i64>,
}

/// `linux.resources.pids`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LinuxPids {
    /// Maximum number of tasks; 0 or -1 means unlimited.
    pub limit: i64,
}

/// `linux.resources.blockIO`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinuxBlockIo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub weight_device: Vec<LinuxWeightDevice>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub throttle_read_bps_device: Vec<LinuxThrottleDevice>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub throttle_write_bps_device: Vec<LinuxThrottleDevice>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        rename = "throttleReadIOPSDevice",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub throttle_read_iops_device: Vec<LinuxThrottleDevice>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        rename = "throttleWriteIOPSDevice",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub throttle_write_iops_device: Vec<LinuxThrottleDevice>,
}

/// A per-device block IO weight.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinuxWeightDevice {
    pub major: i64,
    pub minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
}

/// A per-device block IO throttle (bytes or operations per second).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LinuxThrottleDevice {
    pub major: i64,
    pub minor: i64,
    pub rate: u64,
}

/// One entry of `linux.resources.hugepageLimits`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinuxHugepageLimit {
    /// `2MB`, `1GB`, ...
    pub page_size: String,
    pub limit: u64,
}

/// `linux.resources.network` (v1 net_cls and net_prio).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinuxNetwork {
    #[serde(default, rename = "classID", skip_serializing_if = "Option::is_none")]
    pub class_id: Option<u32>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub priorities: Vec<LinuxInterfacePriority>,
}

/// A network interface priority (net_prio.ifpriomap).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LinuxInterfacePriority {
    pub name: String,
    pub priority: u32,
}

/// One entry of `linux.resources.rdma`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinuxRdma {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hca_handles: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hca_objects: Option<u32>,
}
