//! A container as docker 20.10 shows it: `types.ContainerJSON` (`inspect`)
//! with its `ContainerState`, `HostConfig` (with `Resources` inlined),
//! `container.Config`, `MountPoint` and `NetworkSettings`, in docker's
//! field order. Go's nil slices and maps are `None` (`null`), pointers are
//! `Option`s, and `omitempty` fields go through [`super::omit`].

use super::omit;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `nat.PortMap`: `"80/tcp"` to its host bindings (`null`: only exposed).
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// `nat.PortBinding`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// `types.ContainerJSON`: `ContainerJSONBase`, then `Mounts`, `Config`,
/// `NetworkSettings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerJson {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub graph_driver: GraphDriver,
    #[serde(skip_serializing_if = "omit::none")]
    pub size_rw: Option<i64>,
    #[serde(skip_serializing_if = "omit::none")]
    pub size_root_fs: Option<i64>,
    pub mounts: Vec<MountPoint>,
    pub config: Config,
    pub network_settings: NetworkSettings,
}

/// `types.ContainerState`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// `*Health`, `omitempty`: only for a container with a health check.
    #[serde(skip_serializing_if = "omit::none")]
    pub health: Option<Health>,
}

/// `types.Health`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    pub log: Option<Vec<HealthcheckResult>>,
}

/// `types.HealthcheckResult`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// `container.HealthConfig` (durations in nanoseconds, as Go's).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    #[serde(skip_serializing_if = "omit::vec")]
    pub test: Option<Vec<String>>,
    #[serde(
        skip_serializing_if = "omit::zero_i64",
        deserialize_with = "null_is_zero"
    )]
    pub interval: i64,
    #[serde(
        skip_serializing_if = "omit::zero_i64",
        deserialize_with = "null_is_zero"
    )]
    pub timeout: i64,
    #[serde(
        skip_serializing_if = "omit::zero_i64",
        deserialize_with = "null_is_zero"
    )]
    pub start_period: i64,
    #[serde(
        skip_serializing_if = "omit::zero_i64",
        deserialize_with = "null_is_zero"
    )]
    pub retries: i64,
}

/// Go's decoding of `null` into a number: no error, the zero value
/// (docker-compose 1.29 sends `"Timeout": null` for an unset timeout).
fn null_is_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.unwrap_or(0))
}

/// `container.LogConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

/// `container.RestartPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// `blkiodev.WeightDevice`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// `blkiodev.ThrottleDevice`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// `container.DeviceMapping`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// `container.DeviceRequest`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceRequest {
    pub driver: String,
    pub count: i64,
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    pub capabilities: Option<Vec<Vec<String>>>,
    pub options: Option<BTreeMap<String, String>>,
}

/// `units.Ulimit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub hard: i64,
    pub soft: i64,
}

/// `mount.Mount` (the `--mount` form kept in `HostConfig.Mounts`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(rename = "Type", skip_serializing_if = "omit::string")]
    pub kind: String,
    #[serde(skip_serializing_if = "omit::string")]
    pub source: String,
    #[serde(skip_serializing_if = "omit::string")]
    pub target: String,
    #[serde(skip_serializing_if = "omit::falsy")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "omit::string")]
    pub consistency: String,
}

/// `container.HostConfig`, `Resources` inlined where Go embeds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: PortMap,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(skip_serializing_if = "omit::map")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "omit::map")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: i64,
    #[serde(skip_serializing_if = "omit::map")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "omit::string")]
    pub runtime: String,
    pub console_size: [u64; 2],
    pub isolation: String,
    // Resources, inlined.
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cgroup_parent: String,
    pub blkio_weight: u16,
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub device_requests: Option<Vec<DeviceRequest>>,
    pub kernel_memory: i64,
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: i64,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub cpu_count: i64,
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
    // End of Resources.
    #[serde(skip_serializing_if = "omit::vec")]
    pub mounts: Option<Vec<Mount>>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "omit::none")]
    pub init: Option<bool>,
}

/// `types.GraphDriverData`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GraphDriver {
    pub data: Option<BTreeMap<String, String>>,
    pub name: String,
}

/// `types.MountPoint`: one entry of `Mounts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type", skip_serializing_if = "omit::string")]
    pub kind: String,
    #[serde(skip_serializing_if = "omit::string")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "omit::string")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// `container.Config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// `nat.PortSet`: `{"80/tcp": {}}`.
    #[serde(skip_serializing_if = "omit::map")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "omit::none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "omit::falsy")]
    pub args_escaped: bool,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Empty>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "omit::falsy")]
    pub network_disabled: bool,
    #[serde(skip_serializing_if = "omit::string")]
    pub mac_address: String,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "omit::string")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "omit::none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "omit::vec")]
    pub shell: Option<Vec<String>>,
}

/// Go's `struct{}`: the values of `nat.PortSet` and `Volumes`, `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `network.Address`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Address {
    pub addr: String,
    pub prefix_len: i64,
}

/// `types.NetworkSettings`: `NetworkSettingsBase`, `DefaultNetworkSettings`,
/// then `Networks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub hairpin_mode: bool,
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: i64,
    pub ports: PortMap,
    pub sandbox_key: String,
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<Address>>,
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<Address>>,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    pub mac_address: String,
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// `network.EndpointIPAMConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", skip_serializing_if = "omit::string")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", skip_serializing_if = "omit::string")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "omit::vec")]
    pub link_local_ips: Option<Vec<String>>,
}

/// `network.EndpointSettings`: one entry of `NetworkSettings.Networks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    pub links: Option<Vec<String>>,
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    pub mac_address: String,
    pub driver_opts: Option<BTreeMap<String, String>>,
}

/// docker's masked paths of a container that is not privileged (moby
/// `oci.DefaultSpec`), which `HostConfig.MaskedPaths` shows.
pub const DEFAULT_MASKED_PATHS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// docker's read-only paths of a container that is not privileged.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_health_duration_is_zero_as_in_go() {
        let h: HealthConfig =
            serde_json::from_str(r#"{"Test":["CMD","true"],"Timeout":null,"Interval":1000}"#)
                .unwrap();
        assert_eq!((h.timeout, h.interval), (0, 1000));
    }

    #[test]
    fn keys_come_in_dockers_order_with_dockers_nulls() {
        let c = ContainerJson::default();
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            text.starts_with(r#"{"Id":"","Created":"","Path":"""#),
            "{text}"
        );
        assert!(
            text.contains(r#""HostConfig":{"Binds":null,"ContainerIDFile":"","#),
            "{text}"
        );
        assert!(!text.contains("Tmpfs"), "omitempty Tmpfs written: {text}");
        assert!(!text.contains("SizeRw"), "{text}");
        let full = super::super::template_value(&c);
        assert_eq!(full["HostConfig"]["Tmpfs"], serde_json::Value::Null);
        assert_eq!(full["Config"]["StopSignal"], "");
    }

    #[test]
    fn reads_back_what_it_writes() {
        let mut c = ContainerJson {
            id: "abc".into(),
            ..Default::default()
        };
        c.mounts.push(MountPoint {
            kind: "bind".into(),
            source: "/a".into(),
            destination: "/b".into(),
            mode: "ro".into(),
            ..Default::default()
        });
        let back: ContainerJson =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back.id, "abc");
        assert_eq!(back.mounts[0].mode, "ro");
        assert_eq!(back.mounts[0].name, "");
    }
}
