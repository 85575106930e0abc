//! How containers look to users: `ps` rows and `inspect` JSON, both in
//! docker's shape (docker's API types `Container` and `ContainerJSON`).

use super::record::{ContainerRecord, Status};
use super::service::ContainerService;
use super::spec::image_config::ImageRuntimeConfig;
use super::ContainerError;
use berth_docker::blkio;
use berth_docker::types::container::{
    Config, ContainerJson, ContainerState, Empty, GraphDriver, HostConfig, LogConfig, Mount,
    MountPoint, NetworkSettings, RestartPolicy, Ulimit,
};
use berth_docker::types::container::{DeviceMapping, ThrottleDevice};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// One `ps` row.
#[derive(Debug, Clone)]
pub struct Summary {
    pub record: ContainerRecord,
    /// docker's human status ("Up 5 seconds", "Exited (0) 2 minutes ago").
    pub status: String,
    pub command: String,
    pub created_unix: i64,
    pub size_rw: Option<u64>,
    /// Its health status; none without a health check.
    pub health: Option<super::health::HealthStatus>,
    /// docker's `Names`: `/NAME`, then the `/OTHER/ALIAS` names other
    /// containers' legacy links give it.
    pub names: Vec<String>,
}

/// Seconds since the epoch of an RFC 3339 time (0 when empty or invalid).
pub fn unix_seconds(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339_weak(
        rfc3339
            .trim_end_matches('Z')
            .split('.')
            .next()
            .unwrap_or(""),
    )
    .ok()
    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
    .map(|d| d.as_secs() as i64)
    .unwrap_or(0)
}

fn since(rfc3339: &str) -> Duration {
    let t = unix_seconds(rfc3339);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Duration::from_secs(now.saturating_sub(t).max(0) as u64)
}

/// docker's `Status` text of a container.
pub fn human_status(r: &ContainerRecord) -> String {
    let human = berth_docker::humanize::duration;
    match r.state.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", human(since(&r.state.started_at))),
        Status::Paused => format!("Up {} (Paused)", human(since(&r.state.started_at))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            r.state.exit_code,
            human(since(&r.state.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited => {
            if r.state.finished_at.is_empty() {
                "Exited".into()
            } else {
                format!(
                    "Exited ({}) {} ago",
                    r.state.exit_code,
                    human(since(&r.state.finished_at))
                )
            }
        }
        Status::Dead => "Dead".into(),
    }
}

/// docker's `Command` column: the path, then the args, an arg with a
/// space in single quotes (moby daemon/list.go: `sh -c 'echo hi'`).
pub fn command_line(r: &ContainerRecord) -> String {
    let mut parts = vec![r.path.clone()];
    parts.extend(r.args.iter().map(|a| {
        if a.contains(' ') {
            format!("'{a}'")
        } else {
            a.clone()
        }
    }));
    parts.join(" ")
}

impl ContainerService {
    /// The container's `Config.Env` (see [`config_env`]), for the log
    /// drivers' `env`/`env-regex` attributes.
    pub(super) fn config_env(&self, r: &ContainerRecord) -> Vec<String> {
        let spec_path = self.paths.bundle(&r.id).join("config.json");
        let process = std::fs::read(&spec_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<berth_oci::Spec>(&b).ok())
            .and_then(|s| s.process);
        let image_config = self
            .images
            .lookup(&r.image_id)
            .ok()
            .and_then(|l| ImageRuntimeConfig::from_config_blob(&l.resolved.config_bytes).ok());
        config_env(
            image_config.as_ref(),
            process.as_ref(),
            &r.config.options.env,
        )
        .unwrap_or_default()
    }

    /// The containers `ps` shows (all: stopped ones too), newest first.
    pub fn list(&self, all: bool, size: bool) -> Result<Vec<Summary>, ContainerError> {
        let mut out = Vec::new();
        let records = self.list_records()?;
        let mut link_names = super::links::link_names(&records);
        for record in records {
            if !all && !record.state.status.is_live() {
                continue;
            }
            let mut names = vec![format!("/{}", record.name)];
            names.extend(link_names.remove(&record.id).unwrap_or_default());
            let size_rw = if size {
                self.images
                    .snapshotter()
                    .usage(&record.snapshot_key)
                    .ok()
                    .map(|u| u.size)
            } else {
                None
            };
            let health = self.health_state(&record.id);
            out.push(Summary {
                status: super::health::decorate_status(
                    human_status(&record),
                    &record,
                    health.as_ref(),
                ),
                health: health.map(|h| h.status),
                command: command_line(&record),
                created_unix: unix_seconds(&record.created),
                size_rw,
                names,
                record,
            });
        }
        Ok(out)
    }

    /// docker's `ContainerJSON` of a container: every field docker 20.10
    /// has, filled from the record, its OCI spec and its image, or docker's
    /// zero value where Berth has no such setting.
    pub fn inspect(&self, input: &str, size: bool) -> Result<ContainerJson, ContainerError> {
        let r = self.resolve(input)?;
        let o = &r.config.options;
        let spec_path = self.paths.bundle(&r.id).join("config.json");
        let spec: Option<berth_oci::Spec> = std::fs::read(&spec_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let process = spec.as_ref().and_then(|s| s.process.clone());
        let image_config = self
            .images
            .lookup(&r.image_id)
            .ok()
            .and_then(|l| ImageRuntimeConfig::from_config_blob(&l.resolved.config_bytes).ok());
        let log_dir = self.paths.log_dir(&r.id);
        let path_text = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
        let mut mounts = self.volumes.mount_points(&r.volumes);
        for m in &mut mounts {
            if let Some(mode) = bind_mode(&o.binds, &m.destination) {
                m.mode = mode;
            }
        }
        mounts.extend(bind_mount_points(spec.as_ref(), &r));
        let mut value = ContainerJson {
            id: r.id.clone(),
            created: r.created.clone(),
            path: r.path.clone(),
            args: r.args.clone(),
            state: ContainerState {
                status: r.state.status.as_str().into(),
                running: matches!(
                    r.state.status,
                    Status::Running | Status::Paused | Status::Restarting
                ),
                paused: r.state.status == Status::Paused,
                restarting: r.state.status == Status::Restarting,
                oom_killed: r.state.oom_killed,
                dead: r.state.status == Status::Dead,
                pid: r.state.pid as i64,
                exit_code: r.state.exit_code as i64,
                error: r.state.error.clone(),
                started_at: time_or_zero(&r.state.started_at),
                finished_at: time_or_zero(&r.state.finished_at),
                health: self
                    .health_state(&r.id)
                    .and_then(|h| serde_json::to_value(h).ok())
                    .and_then(|h| serde_json::from_value(h).ok()),
            },
            image: r.image_id.clone(),
            resolv_conf_path: path_text(log_dir.join("resolv.conf")),
            hostname_path: path_text(log_dir.join("hostname")),
            hosts_path: path_text(log_dir.join("hosts")),
            log_path: if r.config.log.driver == "json-file" {
                path_text(self.paths.log_path(&r.id))
            } else {
                String::new()
            },
            name: format!("/{}", r.name),
            restart_count: r.state.restart_count as i64,
            driver: r.snapshotter.clone(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: None,
            host_config: HostConfig {
                links: super::links::host_config_links(self, &r),
                ..host_config(&r)
            },
            graph_driver: self.graph_driver(&r),
            size_rw: None,
            size_root_fs: None,
            mounts,
            config: Config {
                hostname: r.hostname.clone(),
                domainname: o.domainname.clone().unwrap_or_default(),
                user: o.user.clone().unwrap_or_default(),
                exposed_ports: crate::networks::ports::exposed_port_set(&r.ports.exposed),
                tty: o.tty,
                open_stdin: o.open_stdin,
                attach_stdin: o.attach_stdin,
                attach_stdout: o.attach_stdout,
                attach_stderr: o.attach_stderr,
                stdin_once: o.stdin_once,
                env: config_env(image_config.as_ref(), process.as_ref(), &o.env),
                cmd: (!o.cmd.is_empty()).then(|| o.cmd.clone()),
                healthcheck: o
                    .healthcheck
                    .as_ref()
                    .and_then(|h| serde_json::to_value(h).ok())
                    .and_then(|h| serde_json::from_value(h).ok()),
                image: r.image.clone(),
                volumes: config_volumes(image_config.as_ref(), &o.binds),
                working_dir: o
                    .working_dir
                    .clone()
                    .or_else(|| image_config.as_ref().and_then(|c| c.working_dir.clone()))
                    .unwrap_or_default(),
                entrypoint: o.entrypoint.clone(),
                mac_address: o.mac_address.clone().unwrap_or_default(),
                on_build: None,
                labels: Some(o.labels.clone().into_iter().collect()),
                stop_signal: o.stop_signal.clone().unwrap_or_default(),
                stop_timeout: r.config.stop_timeout.map(i64::from),
                ..Config::default()
            },
            network_settings: NetworkSettings {
                ports: crate::networks::ports::network_ports(&r.ports.exposed, &r.ports.published),
                sandbox_key: if r.state.status.is_live() && r.state.pid > 0 {
                    format!("/proc/{}/ns/net", r.state.pid)
                } else {
                    String::new()
                },
                // Kept after the container exits, as docker keeps it.
                sandbox_id: r.state.sandbox_id.clone(),
                ..NetworkSettings::default()
            },
        };
        super::network::fill_network_settings(&self.networks, &r, &mut value.network_settings);
        if size {
            let rw = self
                .images
                .snapshotter()
                .usage(&r.snapshot_key)
                .map(|u| u.size)
                .unwrap_or(0);
            let image_size = self
                .images
                .lookup(&r.image_id)
                .map(|l| self.images.unpacked_size(&l.resolved))
                .unwrap_or(0);
            value.size_rw = Some(rw as i64);
            value.size_root_fs = Some((rw + image_size) as i64);
        }
        Ok(value)
    }

    /// docker's `GraphDriver` of a container: its snapshot's overlay dirs.
    fn graph_driver(&self, r: &ContainerRecord) -> GraphDriver {
        let Ok(mounts) = self.images.snapshotter().mounts(&r.snapshot_key) else {
            return GraphDriver {
                data: None,
                name: r.snapshotter.clone(),
            };
        };
        let mut data = BTreeMap::new();
        for opt in mounts.iter().flat_map(|m| m.options.iter()) {
            for (k, name) in [
                ("lowerdir=", "LowerDir"),
                ("upperdir=", "UpperDir"),
                ("workdir=", "WorkDir"),
            ] {
                if let Some(v) = opt.strip_prefix(k) {
                    data.insert(name.to_string(), v.to_string());
                }
            }
        }
        data.insert(
            "MergedDir".into(),
            self.paths.rootfs(&r.id).to_string_lossy().into_owned(),
        );
        GraphDriver {
            data: Some(data),
            name: r.snapshotter.clone(),
        }
    }
}

/// Go's zero time for a time never set.
fn time_or_zero(t: &str) -> String {
    if t.is_empty() {
        berth_docker::types::ZERO_TIME.into()
    } else {
        t.into()
    }
}

/// docker's `Config.Volumes`: the image's VOLUMEs and the anonymous `-v /path` specs as
/// typed (docker's CLI keeps a `-v` without a source in the config; binds and named
/// volumes go to `HostConfig.Binds` only).
fn config_volumes(
    image: Option<&ImageRuntimeConfig>,
    binds: &[String],
) -> Option<BTreeMap<String, Empty>> {
    let mut volumes: BTreeMap<String, Empty> = image
        .map(|c| c.volumes.iter().map(|v| (v.clone(), Empty {})).collect())
        .unwrap_or_default();
    for spec in binds {
        if let Ok(super::spec::mounts::UserMount::Volume { name: None, .. }) =
            super::spec::mounts::parse_bind(spec)
        {
            volumes.insert(spec.clone(), Empty {});
        }
    }
    (!volumes.is_empty()).then_some(volumes)
}

/// docker's `Config.Env`: the image's env with the user's `-e` over it;
/// what the daemon adds when it starts the process (HOSTNAME, HOME, a
/// default PATH, TERM) is not part of it. Without the image (removed with
/// `rmi -f`), the process env less those.
fn config_env(
    image: Option<&ImageRuntimeConfig>,
    process: Option<&berth_oci::Process>,
    user: &[String],
) -> Option<Vec<String>> {
    let env = match image {
        Some(image) => {
            let mut env = image.env.clone();
            super::spec::env::replace_or_append(&mut env, user);
            env
        }
        None => process
            .map(|p| {
                p.env
                    .iter()
                    .filter(|e| !e.starts_with("HOSTNAME=") && !e.starts_with("HOME="))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
    };
    (!env.is_empty()).then_some(env)
}

/// The mode the user wrote for the `-v` bind or volume at `destination`
/// (`ro`, `rw`, `z`, ...), if any.
fn bind_mode(binds: &[String], destination: &str) -> Option<String> {
    binds.iter().find_map(|b| {
        let mut parts = b.split(':');
        let _source = parts.next()?;
        (parts.next()? == destination)
            .then(|| parts.next().unwrap_or("").to_string())
            .filter(|m| !m.is_empty())
    })
}

/// `Mounts` entries of the container's bind mounts (`-v /host:/dst`,
/// `--mount type=bind`), from its spec; the files berthd itself binds
/// (hosts, resolv.conf, the init) are not shown, as docker does not.
fn bind_mount_points(spec: Option<&berth_oci::Spec>, r: &ContainerRecord) -> Vec<MountPoint> {
    let Some(spec) = spec else {
        return Vec::new();
    };
    spec.mounts
        .iter()
        .filter(|m| {
            m.kind.as_deref() == Some("bind")
                || m.options.iter().any(|o| o == "rbind" || o == "bind")
        })
        .filter(|m| !r.volumes.iter().any(|v| v.destination == m.destination))
        .filter(|m| {
            !m.destination.starts_with("/etc/host")
                && m.destination != "/etc/resolv.conf"
                && m.destination != super::spec::INIT_PATH_IN_CONTAINER
                // The IPC mode's /dev/shm (host, shareable, joined), unless
                // the user's own.
                && (m.destination != "/dev/shm" || super::spec::user_mounts_at(&r.config.options, "/dev/shm"))
        })
        .map(|m| MountPoint {
            kind: "bind".into(),
            name: String::new(),
            source: m.source.clone().unwrap_or_default(),
            destination: m.destination.clone(),
            driver: String::new(),
            mode: bind_mode(&r.config.options.binds, &m.destination).unwrap_or_default(),
            rw: !m.options.iter().any(|o| o == "ro"),
            propagation: m
                .options
                .iter()
                .find(|o| o.ends_with("private") || o.ends_with("shared") || o.ends_with("slave"))
                .cloned()
                .unwrap_or_else(|| "rprivate".into()),
        })
        .collect()
}

/// docker's `HostConfig` of a container: what it was created with, docker's
/// zero values for what Berth has no setting of.
/// docker's `BlkioDevice*` list of `DEVICE:RATE` flags: `null` when none
/// was given (the flags were checked at create).
fn throttle<E>(
    flags: &[String],
    parse: fn(&str) -> Result<(String, u64), E>,
) -> Option<Vec<ThrottleDevice>> {
    (!flags.is_empty()).then(|| {
        flags
            .iter()
            .filter_map(|f| parse(f).ok())
            .map(|(path, rate)| ThrottleDevice { path, rate })
            .collect()
    })
}

fn host_config(r: &ContainerRecord) -> HostConfig {
    let o = &r.config.options;
    let some_list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let privileged = o.privileged;
    HostConfig {
        binds: some_list(&o.binds),
        volumes_from: some_list(&o.volumes_from),
        volume_driver: o.volume_driver.clone().unwrap_or_default(),
        log_config: LogConfig {
            kind: r.config.log.driver.clone(),
            config: log_opts(r),
        },
        network_mode: o.network.as_str().into_owned(),
        port_bindings: crate::networks::ports::port_bindings(&r.ports.bindings),
        restart_policy: RestartPolicy {
            name: if r.config.restart.name.is_empty() {
                "no".into()
            } else {
                r.config.restart.name.clone()
            },
            maximum_retry_count: r.config.restart.max_retries as i64,
        },
        auto_remove: r.config.auto_remove,
        cap_add: some_list(&o.cap_add),
        cap_drop: some_list(&o.cap_drop),
        // docker's default on cgroup v1 is the host's cgroup namespace.
        cgroupns_mode: o.cgroupns_mode.clone().unwrap_or_else(|| "host".into()),
        dns: Some(o.dns.clone()),
        dns_options: Some(o.dns_options.clone()),
        dns_search: Some(o.dns_search.clone()),
        extra_hosts: some_list(&o.extra_hosts),
        group_add: some_list(&o.group_add),
        ipc_mode: o.ipc_mode.clone().unwrap_or_else(|| "private".into()),
        pid_mode: o.pid_mode.clone().unwrap_or_default(),
        uts_mode: o.uts_mode.clone().unwrap_or_default(),
        userns_mode: o.userns_mode.clone().unwrap_or_default(),
        cgroup_parent: o.cgroup_parent.clone().unwrap_or_default(),
        oom_score_adj: o.oom_score_adj.unwrap_or(0).into(),
        cpu_period: o.cpu_period.unwrap_or(0),
        cpu_quota: o.cpu_quota.unwrap_or(0),
        cpu_realtime_period: o.cpu_rt_period.unwrap_or(0),
        cpu_realtime_runtime: o.cpu_rt_runtime.unwrap_or(0),
        cpuset_cpus: o.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: o.cpuset_mems.clone().unwrap_or_default(),
        blkio_weight: o.blkio_weight.unwrap_or(0),
        kernel_memory: o.kernel_memory.unwrap_or(0),
        memory_reservation: o.memory_reservation.unwrap_or(0),
        memory_swappiness: o.memory_swappiness,
        device_cgroup_rules: some_list(&o.device_cgroup_rules),
        privileged,
        publish_all_ports: r.ports.publish_all,
        readonly_rootfs: o.read_only,
        security_opt: some_list(&o.security_opt),
        tmpfs: (!o.tmpfs.is_empty()).then(|| tmpfs_map(&o.tmpfs)),
        shm_size: o.shm_size.unwrap_or(64 << 20),
        sysctls: (!o.sysctls.is_empty()).then(|| o.sysctls.clone().into_iter().collect()),
        runtime: r.runtime.clone(),
        cpu_shares: o.cpu_shares.unwrap_or(0) as i64,
        memory: o.memory.unwrap_or(0),
        nano_cpus: o.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
        // This kernel has no blkio.weight: docker discards the weights
        // with a warning and shows an empty list; so does Berth.
        blkio_weight_device: Some(Vec::new()),
        blkio_device_read_bps: throttle(&o.device_read_bps, blkio::parse_bps_device),
        blkio_device_write_bps: throttle(&o.device_write_bps, blkio::parse_bps_device),
        blkio_device_read_iops: throttle(&o.device_read_iops, blkio::parse_iops_device),
        blkio_device_write_iops: throttle(&o.device_write_iops, blkio::parse_iops_device),
        devices: Some(
            o.devices
                .iter()
                // CDI names (`vendor.com/class=name`) are no mapping.
                .filter_map(|d| super::spec::devices::device_mapping(d).ok())
                .map(|(host, container, perms)| DeviceMapping {
                    path_on_host: host,
                    path_in_container: container,
                    cgroup_permissions: perms,
                })
                .collect(),
        ),
        memory_swap: o.memory_swap.unwrap_or(0),
        oom_kill_disable: Some(o.oom_kill_disable),
        pids_limit: o.pids_limit,
        ulimits: (!o.ulimits.is_empty()).then(|| ulimits(&o.ulimits)),
        mounts: (!o.mounts.is_empty()).then(|| o.mounts.iter().map(|m| docker_mount(m)).collect()),
        masked_paths: (!privileged).then(|| {
            berth_docker::types::container::DEFAULT_MASKED_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect()
        }),
        readonly_paths: (!privileged).then(|| {
            berth_docker::types::container::DEFAULT_READONLY_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect()
        }),
        init: o.init.then_some(true),
        ..HostConfig::default()
    }
}

/// `--ulimit name=soft[:hard]` as docker's `Ulimit`s.
fn ulimits(specs: &[String]) -> Vec<Ulimit> {
    specs
        .iter()
        .filter_map(|s| {
            let (name, values) = s.split_once('=')?;
            let (soft, hard) = values.split_once(':').unwrap_or((values, values));
            Some(Ulimit {
                name: name.to_string(),
                hard: hard.parse().ok()?,
                soft: soft.parse().ok()?,
            })
        })
        .collect()
}

/// A `--mount` flag's text (`type=bind,source=/a,target=/b,readonly`) as
/// docker's `mount.Mount`.
fn docker_mount(spec: &str) -> Mount {
    let mut m = Mount::default();
    for field in spec.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "type" => m.kind = value.into(),
            "source" | "src" => m.source = value.into(),
            "target" | "destination" | "dst" => m.target = value.into(),
            "readonly" | "ro" => m.read_only = value.is_empty() || value == "true" || value == "1",
            "consistency" => m.consistency = value.into(),
            _ => {}
        }
    }
    m
}

/// The `--log-opt`s as the user gave them (`max-size: 1k`, as docker keeps
/// them); records from before they were kept show the parsed numbers.
fn log_opts(r: &ContainerRecord) -> BTreeMap<String, String> {
    if !r.config.log.opts.is_empty() {
        return r.config.log.opts.clone();
    }
    let mut m = BTreeMap::new();
    if r.config.log.max_size > 0 {
        m.insert("max-size".to_string(), r.config.log.max_size.to_string());
    }
    if r.config.log.max_file > 0 {
        m.insert("max-file".to_string(), r.config.log.max_file.to_string());
    }
    m
}

fn tmpfs_map(specs: &[String]) -> BTreeMap<String, String> {
    specs
        .iter()
        .map(|s| match s.split_once(':') {
            Some((p, o)) => (p.to_string(), o.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}
