//! The OCI runtime spec of a container: made from its image's config and the
//! user's options, with docker's defaults, so a container behaves as it
//! would under `docker run`.
//!
//! # Use (the containers service)
//!
//! ```no_run
//! # use berth_manager::containers::spec::*;
//! # fn main() -> Result<(), SpecError> {
//! # let blob = b"{}"; let rootfs = std::path::Path::new("/r"); let state_dir = rootfs;
//! let image = ImageRuntimeConfig::from_config_blob(blob)?;
//! let opts = ContainerOptions { cmd: vec!["sh".into()], ..Default::default() };
//! let id = "0123456789abcdef";
//! let mut ctx = SpecContext::new(id, rootfs, format!("/berth/{id}"));
//! ctx.hosts_files = Some(HostsFiles::write(
//!     state_dir, &container_hostname(&opts, id)?, None, &opts.network, None, &opts.extra_hosts,
//!     &[], // the legacy links' /etc/hosts lines (containers::links)
//!     &hosts_files::Resolver::servers(&opts.dns))?);
//! let spec = build_spec(&image, &opts, &ctx)?;          // after the rootfs is mounted
//! ensure_workdir(rootfs, &spec.process.as_ref().unwrap().cwd)?;
//! let signal = stop_signal(&image, &opts)?;
//! # Ok(()) }
//! ```
//!
//! # What [`build_spec`] decides, and where
//!
//! | part | rule (docker's) | module |
//! |---|---|---|
//! | `process.args` | entrypoint + cmd; `--entrypoint` drops the image's Cmd; `--init` prepends `/sbin/docker-init --` | here |
//! | `process.env` | PATH, HOSTNAME, TERM, image env, user env; HOME from passwd | [`mod@env`] |
//! | `process.cwd` | `-w`, image WorkingDir, `/` | here, [`user::ensure_workdir`] |
//! | `process.user` | `-u`/image User in the image's passwd/group, `--group-add` | [`user`] |
//! | capabilities | docker's 14; add/drop/ALL; privileged = all grantable; a non-root user only in the bounding set | [`capabilities`] |
//! | seccomp | docker's default filtered by caps; unconfined; user profile | [`seccomp_profile`], [`security_options`] |
//! | mounts | docker's defaults, hosts files, `-v`, `--mount`, `--tmpfs`, init | [`mounts`], [`hosts_files`] |
//! | masked/readonly paths | docker's lists; none when privileged | here |
//! | namespaces | mount, network (not for `--network host`), uts, pid, ipc; cgroup on v2 hosts | here |
//! | resources | memory, swap (2x memory by default), cpus, shares, pids, devices | here, [`sizes`], [`devices`] |
//! | more limits | `--cpu-period/-quota`, `--cpu-rt-*`, `--cpuset-*`, `--memory-reservation/-swappiness`, `--oom-kill-disable`, `--kernel-memory` (warned, not applied), `--blkio-weight*` (warned and dropped where the kernel lacks them), `--device-{read,write}-{bps,iops}` | [`resources`] |
//! | `linux.cgroupsPath` | `/berth/<id>`, or `<--cgroup-parent>/<id>` | [`cgroups_path`] |
//! | namespace modes | `--pid host`, `--ipc host\|none\|private\|shareable`, `--uts host`, `--cgroupns host\|private`, `--userns host` | [`namespaces`] |
//! | `--device`, `--device-cgroup-rule` | host devices created in the container with an allow rule each; extra cgroup rules | [`devices`] |
//! | CDI `--device vendor.com/class=name`, `--gpus` | the spec files' device nodes, env and mounts | [`cdi`] |
//! | `process.oomScoreAdj` | `--oom-score-adj` (-1000..1000) | here |
//! | rlimits, sysctls | `--ulimit`; namespaced `--sysctl` only, plus docker's unprivileged ports and ping in an own netns | [`ulimits`], [`sysctls`] |
//!
//! `build_spec` reads the rootfs (passwd, group) and the host (/dev for
//! privileged, bind sources) but writes nothing until every check passed;
//! its only write is docker's: a missing `-v` source directory is created as
//! the last step.
//!
//! # Checked against docker
//!
//! `integration-tests/tests/container_spec.rs` builds specs for three flag
//! sets and compares them with the config.json dockerd 20.10 writes for the
//! same `docker run` flags. Where Berth differs, on purpose:
//!
//! * the seccomp profile and masked paths are docker 25+'s (socket without
//!   AF_VSOCK, io_uring, `/proc/interrupts` masked);
//! * `HOME` is in `process.env` (runc adds it at exec; other runtimes do not);
//! * `--privileged` gets the capabilities berthd can grant, not every one
//!   the kernel knows (see [`capabilities`]);
//! * `--memory-swap -1` is written as -1, `--network host` as no network
//!   namespace (docker joins a bind of the host's): the same to the kernel;
//! * no explicit /dev/fuse deny rule (see [`devices`]).
//!
//! Volumes (`-v NAME:/ctr`, `-v /ctr`, `--mount type=volume`, image
//! `VOLUME`s) are resolved to host directories by the volumes service
//! (`crate::volumes`) before the spec is built and arrive here as
//! [`SpecContext::volumes`]. Networking itself (veths, addresses,
//! `container:` namespaces) is `crate::networks`.

pub mod capabilities;
pub mod cdi;
pub mod devices;
pub mod env;
mod error;
pub mod hosts_files;
pub mod image_config;
pub mod joined;
pub mod mounts;
pub mod namespaces;
pub mod resources;
pub mod seccomp_profile;
pub mod security_options;
pub mod signals;
pub mod sysctls;
pub mod ulimits;
pub mod user;

use std::collections::BTreeMap;
use std::path::Path;

use berth_oci::{
    LinuxCapabilities, LinuxCpu, LinuxMemory, LinuxNamespace, LinuxPids, LinuxResources, Mount,
    NamespaceType, Process, Root, Spec, User,
};

pub use error::SpecError;
pub use hosts_files::HostsFiles;
pub use image_config::ImageRuntimeConfig;
pub use mounts::{parse_bind, parse_mount, parse_tmpfs, UserMount};
pub use signals::parse_signal;
pub use ulimits::parse_ulimit;
pub use user::ensure_workdir;

pub use crate::networks::NetworkMode;

/// What the user asked for: `docker run`'s flags, already split into values
/// (the CLI reads files such as `--env-file` and the seccomp profile).
/// Kept in the container's record, from which the spec is rebuilt at each
/// start; absent fields read as defaults so older records still load.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ContainerOptions {
    /// `--entrypoint`: replaces the image's Entrypoint and drops its Cmd;
    /// `--entrypoint ""` is `Some(vec![])`.
    pub entrypoint: Option<Vec<String>>,
    /// Arguments after the image name; empty means the image's Cmd.
    pub cmd: Vec<String>,
    /// `-e`/`--env-file`: `KEY=VALUE`; a bare `KEY` unsets it.
    pub env: Vec<String>,
    /// `-w`: absolute path in the container.
    pub working_dir: Option<String>,
    /// `-u`: `name`, `uid`, `name:group`, `uid:gid`.
    pub user: Option<String>,
    /// `-h`: default the first 12 characters of the id.
    pub hostname: Option<String>,
    /// `--domainname`.
    pub domainname: Option<String>,
    /// `-t`: a terminal (`process.terminal`, `TERM=xterm`).
    pub tty: bool,
    /// `-i`: stdin kept open (the shim's business; recorded for inspect).
    pub open_stdin: bool,
    /// docker's `Config.AttachStdin/Stdout/Stderr` and `StdinOnce`, as the
    /// client asked (recorded for inspect).
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub stdin_once: bool,
    /// `-v HOST:CTR[:MODES]`.
    pub binds: Vec<String>,
    /// `--mount type=bind|tmpfs,...`.
    pub mounts: Vec<String>,
    /// `--tmpfs PATH[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    /// `--read-only`: `root.readonly`.
    pub read_only: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--security-opt` values (see [`security_options`]).
    pub security_opt: Vec<String>,
    /// The contents of the file of `--security-opt seccomp=FILE`.
    pub seccomp_profile: Option<Vec<u8>>,
    /// `-m`/`--memory` in bytes.
    pub memory: Option<i64>,
    /// `--memory-swap` in bytes (memory plus swap), -1 unlimited.
    pub memory_swap: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `-c`/`--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--pids-limit`; 0 or -1 unlimited.
    pub pids_limit: Option<i64>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--init`: tini as PID 1.
    pub init: bool,
    /// `-l`: labels, over the image's.
    pub labels: BTreeMap<String, String>,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--sysctl`.
    pub sysctls: BTreeMap<String, String>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    /// `--shm-size` in bytes (default 64 MiB).
    pub shm_size: Option<i64>,
    /// The health check: the user's `--health-*` settings, merged with the
    /// image's HEALTHCHECK at create (see `containers::health`).
    pub healthcheck: Option<crate::containers::health::HealthConfig>,
    /// `--add-host NAME:IP` (written by [`HostsFiles::write`]).
    pub extra_hosts: Vec<String>,
    /// `--dns`: nameservers of the container's resolv.conf (replacing the
    /// host's).
    pub dns: Vec<String>,
    /// `--network-alias`: more names of the container on its network.
    pub network_aliases: Vec<String>,
    /// `--ip`: the address on its network.
    pub ip: Option<String>,
    /// `--mac-address`: eth0's MAC.
    pub mac_address: Option<String>,
    /// `--group-add`: group names (from the image's /etc/group) or ids.
    pub group_add: Vec<String>,
    /// `-p` specs as given (parsed by `networks::ports`).
    pub publish: Vec<String>,
    /// `-P`: publish every exposed port on a random host port.
    pub publish_all: bool,
    /// `--expose` specs as given.
    pub expose: Vec<String>,
    /// `--cpu-period`, `--cpu-quota` (microseconds; docker's CFS bandwidth,
    /// exclusive with `--cpus`).
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    /// `--cpu-rt-period`, `--cpu-rt-runtime` (microseconds).
    pub cpu_rt_period: Option<i64>,
    pub cpu_rt_runtime: Option<i64>,
    /// `--cpuset-cpus`, `--cpuset-mems` (`0-3`, `0,1`).
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// `--memory-reservation` in bytes (the soft limit).
    pub memory_reservation: Option<i64>,
    /// `--memory-swappiness` 0-100; none: the kernel's.
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// `--oom-score-adj` (-1000..1000).
    pub oom_score_adj: Option<i32>,
    /// `--kernel-memory` in bytes: recorded; see [`resource_warnings`].
    pub kernel_memory: Option<i64>,
    /// `--blkio-weight` (10-1000).
    pub blkio_weight: Option<u16>,
    /// `--blkio-weight-device`, `--device-{read,write}-{bps,iops}` as given
    /// (`DEVICE:VALUE`), parsed by [`blkio`].
    pub blkio_weight_device: Vec<String>,
    pub device_read_bps: Vec<String>,
    pub device_write_bps: Vec<String>,
    pub device_read_iops: Vec<String>,
    pub device_write_iops: Vec<String>,
    /// `--cgroup-parent`: the container's cgroup is `<parent>/<id>`.
    pub cgroup_parent: Option<String>,
    /// `--pid`, `--ipc`, `--uts`, `--cgroupns`, `--userns` (see
    /// [`namespaces`]).
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    pub uts_mode: Option<String>,
    pub cgroupns_mode: Option<String>,
    pub userns_mode: Option<String>,
    /// `--device HOST[:CONTAINER[:PERMISSIONS]]` as given (see [`devices`]).
    pub devices: Vec<String>,
    /// `--device-cgroup-rule 'c 1:3 rwm'`.
    pub device_cgroup_rules: Vec<String>,
    /// `--gpus`: GPUs as CDI devices (see [`cdi`]).
    pub gpus: Option<String>,
    /// `--dns-search`, `--dns-option`: resolv.conf's search and options
    /// lines (see [`hosts_files`]).
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--volumes-from CONTAINER[:ro|rw]` as given (inspect's
    /// `HostConfig.VolumesFrom`).
    pub volumes_from: Vec<String>,
    /// What `volumes_from` resolved to at create, in `-v` syntax (docker
    /// copies the donors' mount points once, at create): each donor's
    /// volumes by name and its binds, less those at a path one of this
    /// container's own mounts takes. Mounted after `binds`.
    pub volumes_from_mounts: Vec<String>,
    /// `--link NAME[:ALIAS]` as given (see `containers::links`).
    pub links: Vec<String>,
    /// What `links` resolved to at create on the default bridge: targets by
    /// id (`rm --link` removes entries).
    pub legacy_links: Vec<crate::containers::links::LegacyLink>,
    /// `--link-local-ip`: more addresses on the first network's interface.
    pub link_local_ips: Vec<String>,
    /// `--volume-driver`: the driver of the volumes the container creates
    /// (only `local` can make one; see `volumes::VolumeService::attach`).
    pub volume_driver: Option<String>,
}

/// Whether the container's own `-v`, `--mount` or `--tmpfs` options mount
/// something at `path` (then the IPC mode's /dev/shm is not bound there,
/// nor shown in inspect).
pub fn user_mounts_at(o: &ContainerOptions, path: &str) -> bool {
    let binds = o.binds.iter().filter_map(|b| parse_bind(b).ok());
    let mounts = o.mounts.iter().filter_map(|m| parse_mount(m).ok());
    let tmpfs = o.tmpfs.iter().filter_map(|t| parse_tmpfs(t).ok());
    binds.chain(mounts).chain(tmpfs).any(|m| m.target() == path)
}

/// Where docker keeps the init binary in a container.
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";

/// The init binary the service passes for `--init`: Debian's static tini
/// (package `tini`), which works in any image.
pub const DEFAULT_INIT_BINARY: &str = "/usr/bin/tini-static";

/// Everything else the containers service decides.
#[derive(Debug, Clone)]
pub struct SpecContext<'a> {
    /// The container id (its first 12 characters are the default hostname).
    pub id: &'a str,
    /// Host path of the mounted rootfs: `root.path`, and where the user's
    /// passwd and group are read.
    pub rootfs: &'a Path,
    /// `linux.cgroupsPath` (e.g. `/berth/<id>`).
    pub cgroups_path: String,
    /// The binary `--init` bind-mounts at /sbin/docker-init.
    pub init_binary: Option<&'a Path>,
    /// The hostname/hosts/resolv.conf files to bind-mount (see [`hosts_files`]);
    /// `None` leaves the image's own.
    pub hosts_files: Option<HostsFiles>,
    /// Whether the host's cgroups are v2: docker gives a private cgroup
    /// namespace on v2 and the host's on v1 (hybrid counts as v1).
    pub cgroup_v2: bool,
    /// Whether the kernel accounts swap (v1 `memory.memsw.*` exists, or v2):
    /// without it docker sets no swap limit.
    pub swap_accounting: bool,
    /// The container's volumes (its own `-v`/`--mount` ones and the image's
    /// `VOLUME`s) resolved to their host directories by the volumes service.
    pub volumes: Vec<mounts::VolumeBind>,
    /// What the host's cgroups offer (blkio weight, realtime, cpusets).
    pub host_resources: resources::HostResources,
    /// Where CDI specs are read for CDI `--device` names and `--gpus`.
    pub cdi_spec_dirs: Vec<std::path::PathBuf>,
    /// The host directory an `--ipc shareable` container's /dev/shm is
    /// bound from (`containers::shm`).
    pub shareable_shm: Option<std::path::PathBuf>,
    /// The variables of the container's legacy links (`containers::links`),
    /// set before the image's and its own, which override them.
    pub link_env: Vec<String>,
}

impl<'a> SpecContext<'a> {
    /// A context with the host's cgroup version and swap accounting
    /// detected, no init binary and no hosts files.
    pub fn new(id: &'a str, rootfs: &'a Path, cgroups_path: String) -> SpecContext<'a> {
        let cgroup_v2 = host_is_cgroup_v2();
        SpecContext {
            id,
            rootfs,
            cgroups_path,
            init_binary: None,
            hosts_files: None,
            cgroup_v2,
            swap_accounting: cgroup_v2
                || Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists(),
            volumes: Vec::new(),
            host_resources: resources::HostResources::detect(cgroup_v2),
            cdi_spec_dirs: cdi::DEFAULT_SPEC_DIRS.iter().map(Into::into).collect(),
            shareable_shm: None,
            link_env: Vec::new(),
        }
    }
}

/// `linux.cgroupsPath` of a container: `/berth/<id>`, or `<parent>/<id>`
/// with `--cgroup-parent` (a relative parent is taken from the root of the
/// hierarchy). A parent with `..` is refused: it would escape the tree.
pub fn cgroups_path(opts: &ContainerOptions, id: &str) -> Result<String, SpecError> {
    match opts.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        None => Ok(format!("/berth/{id}")),
        Some(p) if p.split('/').any(|c| c == ".." || c == ".") => Err(SpecError::invalid(format!(
            "invalid --cgroup-parent {p:?}: it may not contain . or .. components"
        ))),
        Some(p) => Ok(format!("/{}/{id}", p.trim_matches('/'))),
    }
}

/// Whether /sys/fs/cgroup is a cgroup2 mount (a hybrid host is v1).
pub fn host_is_cgroup_v2() -> bool {
    berth_cgroups::layout::is_cgroup2(Path::new("/sys/fs/cgroup"))
}

/// Docker's masked paths (moby `oci/defaults.go`, docker 28): kernel
/// interfaces that leak host information or allow attacks (CVE-2020-8694
/// for powercap) are covered with /dev/null or an empty read-only tmpfs.
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths (moby `oci/defaults.go`).
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The CFS period `--cpus` is expressed in (docker's: 100 ms).
const CPU_PERIOD_US: u64 = 100_000;

/// Docker's smallest memory limit (`verifyContainerResources`).
const MIN_MEMORY: i64 = 6 << 20;

/// The container's hostname: `-h`, the host's with `--network host`, else
/// the first 12 characters of the id. Errors `invalid hostname format: x`.
pub fn container_hostname(opts: &ContainerOptions, id: &str) -> Result<String, SpecError> {
    let name = match (&opts.hostname, &opts.network) {
        (Some(h), _) if !h.is_empty() => h.clone(),
        (_, NetworkMode::Host) => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| id.chars().take(12).collect()),
        _ => id.chars().take(12).collect(),
    };
    validate_hostname(&name)?;
    Ok(name)
}

/// RFC 1123 labels joined by dots, at most 64 bytes (the kernel's UTS limit).
fn validate_hostname(name: &str) -> Result<(), SpecError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 64 || !name.split('.').all(label_ok) {
        return Err(SpecError::invalid(format!(
            "invalid hostname format: {name}"
        )));
    }
    Ok(())
}

/// The container's labels: the image's, then the user's over them.
pub fn container_labels(
    image: &ImageRuntimeConfig,
    opts: &ContainerOptions,
) -> BTreeMap<String, String> {
    let mut labels = image.labels.clone();
    labels.extend(opts.labels.clone());
    labels
}

/// The signal `stop` sends first: `--stop-signal`, the image's StopSignal,
/// or SIGTERM.
pub fn stop_signal(image: &ImageRuntimeConfig, opts: &ContainerOptions) -> Result<i32, SpecError> {
    match opts
        .stop_signal
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(image.stop_signal.as_deref())
    {
        Some(s) => parse_signal(s),
        None => Ok(libc::SIGTERM),
    }
}

/// `process.args`: entrypoint then cmd, as docker composes them.
pub fn container_args(
    image: &ImageRuntimeConfig,
    opts: &ContainerOptions,
) -> Result<Vec<String>, SpecError> {
    let (entrypoint, cmd) = match &opts.entrypoint {
        // --entrypoint replaces the image's, and the image's Cmd goes with it.
        // docker's CLI sends `--entrypoint ""` as `[""]`: no entrypoint.
        Some(ep) => (
            ep.iter()
                .filter(|a| !a.is_empty() || ep.len() > 1)
                .cloned()
                .collect(),
            opts.cmd.clone(),
        ),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            if opts.cmd.is_empty() {
                image.cmd.clone().unwrap_or_default()
            } else {
                opts.cmd.clone()
            },
        ),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() || args[0].is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

/// `process.cwd`: `-w`, the image's WorkingDir, or `/`; cleaned.
pub fn container_cwd(
    image: &ImageRuntimeConfig,
    opts: &ContainerOptions,
) -> Result<String, SpecError> {
    let cwd = opts
        .working_dir
        .as_deref()
        .filter(|w| !w.is_empty())
        .or(image.working_dir.as_deref())
        .unwrap_or("/");
    if !cwd.starts_with('/') {
        return Err(SpecError::invalid(format!(
            "the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )));
    }
    Ok(berth_runtime::in_root::normalize(Path::new(cwd))
        .to_string_lossy()
        .into_owned())
}

/// `linux.resources`: limits, with docker's checks and its default swap,
/// and the device rules; also what `update` sends to a running container.
pub fn container_resources(
    opts: &ContainerOptions,
    ctx: &SpecContext,
) -> Result<LinuxResources, SpecError> {
    container_resources_and_warnings(opts, ctx).map(|(res, _)| res)
}

/// [`container_resources`] with docker's warnings for what the host could
/// not take (see [`resources`]): `create` prints them.
pub fn container_resources_and_warnings(
    opts: &ContainerOptions,
    ctx: &SpecContext,
) -> Result<(LinuxResources, Vec<String>), SpecError> {
    let mut res = LinuxResources {
        devices: if opts.privileged {
            devices::privileged_device_rules()
        } else {
            devices::default_device_rules()
        },
        ..Default::default()
    };
    let memory = opts.memory.filter(|m| *m != 0);
    if let Some(m) = memory {
        if m < MIN_MEMORY {
            return Err(SpecError::invalid("minimum memory limit allowed is 6MB"));
        }
    }
    let swap = match (memory, opts.memory_swap.filter(|s| *s != 0)) {
        (None, Some(s)) if s > 0 => {
            return Err(SpecError::invalid(
                "you should always set the memory limit when using memoryswap limit, see usage",
            ))
        }
        (Some(m), Some(s)) if s > 0 && s < m => {
            return Err(SpecError::invalid(
                "minimum memoryswap limit should be larger than memory limit, see usage",
            ))
        }
        (_, Some(s)) if !ctx.swap_accounting && s != -1 => {
            return Err(SpecError::invalid(
                "--memory-swap: the kernel does not account swap (no memory.memsw in the memory cgroup)",
            ))
        }
        (_, Some(s)) => Some(s),
        (Some(m), None) if ctx.swap_accounting => Some(m.saturating_mul(2)),
        _ => None,
    };
    if memory.is_some() || swap.is_some() {
        res.memory = Some(LinuxMemory {
            limit: memory,
            swap,
            ..Default::default()
        });
    }
    if let Some(cpus) = opts.cpus.filter(|c| *c != 0.0) {
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        if !(0.01..=available as f64).contains(&cpus) || !cpus.is_finite() {
            return Err(SpecError::invalid(format!(
                "range of CPUs is from 0.01 to {available}.00, as there are only {available} CPUs available"
            )));
        }
        let nanos = (cpus * 1e9).round() as u64;
        res.cpu = Some(LinuxCpu {
            quota: Some((nanos * CPU_PERIOD_US / 1_000_000_000) as i64),
            period: Some(CPU_PERIOD_US),
            ..Default::default()
        });
    }
    if let Some(shares) = opts.cpu_shares.filter(|s| *s != 0) {
        res.cpu.get_or_insert_with(Default::default).shares = Some(shares);
    }
    if let Some(pids) = opts.pids_limit {
        res.pids = Some(LinuxPids {
            limit: if pids > 0 { pids } else { -1 },
        });
    }
    let warnings = resources::add_limits(opts, &ctx.host_resources, &mut res)?;
    if !opts.privileged {
        for rule in &opts.device_cgroup_rules {
            res.devices.push(devices::parse_cgroup_rule(rule)?);
        }
    }
    Ok((res, warnings))
}

/// Turns an image config and the user's options into the container's OCI
/// spec (see the module doc for the rules). Every check runs before the one
/// host write (missing `-v` source directories).
pub fn build_spec(
    image: &ImageRuntimeConfig,
    opts: &ContainerOptions,
    ctx: &SpecContext,
) -> Result<Spec, SpecError> {
    // Pure checks of the user's input first.
    env::validate_user_env(&opts.env)?;
    sysctls::validate_sysctls(&opts.sysctls, &opts.network)?;
    let security = security_options::parse_security_options(
        &opts.security_opt,
        opts.seccomp_profile.as_deref(),
    )?;
    let rlimits = opts
        .ulimits
        .iter()
        .map(|u| parse_ulimit(u))
        .collect::<Result<Vec<_>, _>>()?;
    let mut user_mounts = Vec::new();
    for b in opts.binds.iter().chain(&opts.volumes_from_mounts) {
        user_mounts.push(parse_bind(b)?);
    }
    for m in &opts.mounts {
        user_mounts.push(parse_mount(m)?);
    }
    for t in &opts.tmpfs {
        user_mounts.push(parse_tmpfs(t)?);
    }
    mounts::resolve_volumes(&mut user_mounts, &ctx.volumes)?;
    for m in &user_mounts {
        if let UserMount::Bind {
            source,
            create_source: false,
            ..
        } = m
        {
            if std::fs::symlink_metadata(source).is_err() {
                return Err(SpecError::invalid(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                )));
            }
        }
    }
    if let Some(shm) = opts.shm_size {
        if shm <= 0 {
            return Err(SpecError::invalid(format!(
                "invalid --shm-size: {shm}: must be positive"
            )));
        }
    }

    let hostname = container_hostname(opts, ctx.id)?;
    if let Some(d) = opts.domainname.as_deref().filter(|d| !d.is_empty()) {
        validate_hostname(d)
            .map_err(|_| SpecError::invalid(format!("invalid domainname format: {d}")))?;
    }
    let mut args = container_args(image, opts)?;
    let cwd = container_cwd(image, opts)?;
    // An empty `-u` is "not given" (the image's user), as in docker.
    let user_spec = opts
        .user
        .as_deref()
        .filter(|u| !u.is_empty())
        .or(image.user.as_deref())
        .unwrap_or("");
    let exec_user = user::resolve_user(ctx.rootfs, user_spec, &opts.group_add)?;

    let mut env = env::container_env(&image.env, &opts.env, &hostname, opts.tty, &ctx.link_env);
    // runc fills HOME at exec time; putting it in the spec gives the same
    // environment under any runtime.
    if !env::has_key(&env, "HOME") {
        env.push(format!("HOME={}", exec_user.home));
    }

    let caps = capabilities::container_capabilities(
        &opts.cap_add,
        &opts.cap_drop,
        opts.privileged,
        &capabilities::grantable_capabilities(),
    )?;
    let seccomp = match (&security.seccomp, opts.privileged) {
        (_, true) | (security_options::SeccompChoice::Unconfined, _) => None,
        (security_options::SeccompChoice::Default, false) => {
            Some(seccomp_profile::default_profile().to_oci(
                &caps,
                seccomp_profile::HostArch::current(),
                seccomp_profile::running_kernel(),
            )?)
        }
        (security_options::SeccompChoice::Profile(bytes), false) => {
            Some(seccomp_profile::EngineProfile::parse(bytes)?.to_oci(
                &caps,
                seccomp_profile::HostArch::current(),
                seccomp_profile::running_kernel(),
            )?)
        }
    };

    let mut defaults = mounts::default_mounts(
        opts.shm_size.unwrap_or(mounts::DEFAULT_SHM_SIZE),
        opts.privileged,
    );
    if let Some(files) = &ctx.hosts_files {
        defaults.extend(files.mounts(opts.read_only));
    }
    let mut all_mounts = mounts::container_mounts(defaults, &user_mounts);
    if opts.init {
        let init = ctx.init_binary.ok_or_else(|| {
            SpecError::invalid(format!(
                "--init needs an init binary: install Debian's tini ({DEFAULT_INIT_BINARY})"
            ))
        })?;
        all_mounts.push(Mount {
            destination: INIT_PATH_IN_CONTAINER.into(),
            kind: Some("bind".into()),
            source: Some(init.display().to_string()),
            options: vec!["bind".into(), "ro".into()],
            ..Default::default()
        });
        args.splice(0..0, [INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()]);
    }

    let mut namespaces = vec![LinuxNamespace {
        kind: NamespaceType::Mount,
        path: None,
    }];
    // `container:` joins the other container's namespace: its path
    // (/proc/<pid>/ns/net) is known only when this one starts, so the
    // containers service sets it then (containers::joins).
    if opts.network != NetworkMode::Host {
        namespaces.push(LinuxNamespace {
            kind: NamespaceType::Network,
            path: None,
        });
    }
    let modes = namespaces::NamespaceModes::parse(opts)?;
    for (kind, own) in [
        (NamespaceType::Uts, !modes.host_uts),
        // A joined (`container:`) namespace too, its path set at start.
        (NamespaceType::Pid, modes.pid != namespaces::PidMode::Host),
        (NamespaceType::Ipc, modes.ipc != namespaces::IpcMode::Host),
        (NamespaceType::Cgroup, modes.private_cgroupns(ctx.cgroup_v2)),
    ] {
        if own {
            namespaces.push(LinuxNamespace { kind, path: None });
        }
    }
    namespaces::adjust_shm_mount(&mut all_mounts, &modes.ipc, ctx.shareable_shm.as_deref());
    let mut linux_devices = if opts.privileged {
        devices::host_devices(Path::new("/dev"))
    } else {
        Vec::new()
    };
    let mut device_rules = Vec::new();
    let mut cdi_names = Vec::new();
    for d in &opts.devices {
        if cdi::is_cdi_name(d) {
            cdi_names.push(d.clone());
            continue;
        }
        let (found, rules) = devices::user_device(d)?;
        for dev in found {
            linux_devices.retain(|x| x.path != dev.path);
            linux_devices.push(dev);
        }
        device_rules.extend(rules);
    }
    if let Some(gpus) = opts.gpus.as_deref().filter(|g| !g.is_empty()) {
        cdi_names.extend(cdi::gpu_names(gpus, &ctx.cdi_spec_dirs)?);
    }
    let cdi_edits = cdi::resolve(&cdi_names, &ctx.cdi_spec_dirs)?;
    env.extend(cdi_edits.env);
    all_mounts.extend(cdi_edits.mounts);
    for dev in cdi_edits.devices {
        linux_devices.retain(|x| x.path != dev.path);
        linux_devices.push(dev);
    }
    device_rules.extend(cdi_edits.device_rules);
    let cdi_hooks = cdi_edits.hooks;
    if let Some(adj) = opts.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(SpecError::invalid(format!(
                "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
            )));
        }
    }

    let confined = !opts.privileged && !security.unmask_system_paths;
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // A bind with shared or slave propagation needs the root to propagate
    // too, or the flag has nothing to act on (moby `WithMounts`).
    let rootfs_propagation = user_mounts.iter().find_map(|m| match m {
        UserMount::Bind { propagation, .. } => match propagation {
            mounts::Propagation::Shared | mounts::Propagation::Rshared => Some("shared"),
            mounts::Propagation::Slave | mounts::Propagation::Rslave => Some("rslave"),
            _ => None,
        },
        _ => None,
    });

    let mut resources = container_resources(opts, ctx)?;
    if !opts.privileged {
        resources.devices.extend(device_rules);
    }
    let root_caps = if exec_user.uid == 0 {
        caps.clone()
    } else {
        Vec::new()
    };
    let spec = Spec {
        oci_version: berth_oci::OCI_VERSION.to_string(),
        process: Some(Process {
            terminal: opts.tty,
            user: User {
                uid: exec_user.uid,
                gid: exec_user.gid,
                additional_gids: exec_user.additional_gids.clone(),
                ..Default::default()
            },
            args,
            env,
            cwd,
            // A non-root user starts with no effective or permitted
            // capabilities, only the bounding set (docker 20.10.14+, the
            // CVE-2022-24769 fix): file capabilities and setuid binaries
            // can still raise them within the bounding set.
            capabilities: Some(LinuxCapabilities {
                effective: root_caps.clone(),
                permitted: root_caps,
                bounding: caps,
                ..Default::default()
            }),
            rlimits,
            oom_score_adj: opts.oom_score_adj,
            no_new_privileges: security.no_new_privileges,
            ..Default::default()
        }),
        root: Some(Root {
            path: ctx.rootfs.display().to_string(),
            readonly: opts.read_only,
        }),
        // Sharing the host's UTS namespace leaves its hostname alone.
        hostname: (!modes.host_uts).then_some(hostname),
        domainname: opts
            .domainname
            .clone()
            .filter(|d| !d.is_empty() && !modes.host_uts),
        mounts: all_mounts,
        hooks: (!cdi_hooks.is_empty()).then(|| {
            let mut hooks = berth_oci::Hooks::default();
            for (stage, hook) in cdi_hooks {
                stage.list(&mut hooks).push(hook);
            }
            hooks
        }),
        annotations: BTreeMap::new(),
        linux: Some(berth_oci::Linux {
            namespaces,
            devices: linux_devices,
            cgroups_path: Some(ctx.cgroups_path.clone()),
            resources: Some(resources),
            rootfs_propagation: rootfs_propagation.map(str::to_string),
            seccomp,
            sysctl: sysctls::container_sysctls(&opts.sysctls, &opts.network),
            masked_paths: if confined {
                strings(&MASKED_PATHS)
            } else {
                Vec::new()
            },
            readonly_paths: if confined {
                strings(&READONLY_PATHS)
            } else {
                Vec::new()
            },
            ..Default::default()
        }),
    };
    spec.validate()
        .map_err(|reason| SpecError::invalid(format!("container {}: {reason}", ctx.id)))?;

    // Docker's legacy `-v`: a missing host directory is created (last, so a
    // failed check above leaves nothing on the host).
    for m in &user_mounts {
        if let UserMount::Bind {
            source,
            create_source: true,
            ..
        } = m
        {
            if std::fs::symlink_metadata(source).is_err() {
                std::fs::create_dir_all(source).map_err(|e| SpecError::Io {
                    what: "create bind source",
                    path: source.clone(),
                    source: e,
                })?;
            }
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests;
