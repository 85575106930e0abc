//! `create` and `run`: docker's flags turned into a `ContainerConfig`, the
//! pull of an image that is not present (docker's "Unable to find image
//! ... locally"), and docker's run flow: create, then (unless `-d`) attach
//! with `start` set so no output is lost, and exit with the container's code.
//!
//! Every failure of berth or berthd in these two commands exits 125
//! (docker's `toStatusError`), so a script can tell it from the container's
//! own exit code; 126/127 (command not executable / not found) come from the
//! container's exit code, which berth-runtime sets like runc.

use super::attach::{self, StreamEnd, StreamKind, StreamOptions};
use super::client;
use super::health::HealthFlags;
use crate::context::Context;
use crate::CliError;
use berth_docker::reference::Reference;
use berth_docker::{blkio, env_file, size};
use berth_proto::v1 as pb;
use berth_proto::v1::progress_event::Event;
use clap::Args;
use std::collections::HashMap;
use tokio_stream::StreamExt;

/// docker's exit code when the CLI or the daemon fails in `run`/`create`.
pub const EXIT_RUN_FAILED: i32 = 125;

/// The flags `create` and `run` share (docker's container options).
#[derive(Args, Debug, Default, Clone)]
pub struct ContainerFlags {
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to pass the CLI's own).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image ("" resets it).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a host path or mount a volume: HOST-PATH:CONTAINER-PATH,
    /// VOLUME-NAME:CONTAINER-PATH (a named volume, made if missing), or
    /// CONTAINER-PATH (an anonymous volume); options after a third colon
    /// (ro, rw, z, Z, shared, slave, private, nocopy...).
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount: type=bind|volume|tmpfs, source=..., target=...,
    /// readonly, and per type bind-propagation, volume-nocopy, tmpfs-size, tmpfs-mode.
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (/run:size=64m).
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Set meta data on a container (KEY=VALUE).
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels (KEY=VALUE or KEY).
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Attach to STDIN, STDOUT or STDERR (default: STDOUT and STDERR, STDIN with -i).
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Write the container ID to the file (which must not exist).
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Logging driver for the container (json-file, none).
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options (max-size=10m, max-file=3).
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Memory limit (512m, 1g).
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (1.5).
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Add Linux capabilities.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Security options (seccomp=FILE|unconfined, no-new-privileges).
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name.
    #[arg(long)]
    pub domainname: Option<String>,
    /// Publish a container's port(s) to the host ([IP:][HOST:]CTR[/PROTO]).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random host ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long)]
    pub expose: Vec<String>,
    /// Connect a container to a network (bridge, none, host, container:ID, a network's name).
    #[arg(long, visible_alias = "net")]
    pub network: Option<String>,
    /// Add a network-scoped alias for the container.
    #[arg(long = "network-alias", visible_alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    pub ip: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33).
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Runtime to use for this container (berth, runc).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i32>,
    /// Restart policy (no, always, unless-stopped, on-failure[:max-retries]).
    #[arg(long)]
    pub restart: Option<String>,
    /// Command to run to check health.
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s).
    #[arg(long = "health-interval", allow_hyphen_values = true)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s).
    #[arg(long = "health-timeout", allow_hyphen_values = true)]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting
    /// health-retries countdown (ms|s|m|h) (default 0s).
    #[arg(long = "health-start-period", allow_hyphen_values = true)]
    pub health_start_period: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries", allow_hyphen_values = true)]
    pub health_retries: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Ulimit options (nofile=1024:2048).
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Sysctl options (net.ipv4.ip_forward=1).
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Size of /dev/shm (64m).
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Add additional groups to join.
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains ("." for none).
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options (ndots:2, timeout:1).
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// CPU CFS period in microseconds (1000-1000000).
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// CPU CFS quota in microseconds (-1: unlimited).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU real-time period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<i64>,
    /// CPU real-time runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory soft limit (256m).
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Tune container memory swappiness (0 to 100; -1: the kernel's).
    #[arg(long = "memory-swappiness", allow_hyphen_values = true, default_value_t = -1)]
    pub memory_swappiness: i64,
    /// Disable OOM Killer.
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000).
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Kernel memory limit (deprecated: warned and not applied, as docker 20.10 on this kernel).
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Block IO weight (relative device weight, DEVICE:WEIGHT).
    #[arg(long = "blkio-weight-device")]
    pub blkio_weight_device: Vec<String>,
    /// Limit read rate (bytes per second) from a device (/dev/sda:1mb).
    #[arg(long = "device-read-bps")]
    pub device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device (/dev/sda:1mb).
    #[arg(long = "device-write-bps")]
    pub device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device (/dev/sda:1000).
    #[arg(long = "device-read-iops")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device (/dev/sda:1000).
    #[arg(long = "device-write-iops")]
    pub device_write_iops: Vec<String>,
    /// Optional parent cgroup for the container.
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Cgroup namespace to use (host|private; default: host on cgroup v1, private on v2).
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// PID namespace to use ("host" for the host's).
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use (private, shareable, host, none).
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use ("host" for the host's).
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace to use ("host"; Berth does no remapping).
    #[arg(long)]
    pub userns: Option<String>,
    /// Add a host device to the container (HOST[:CONTAINER][:PERMISSIONS], or a CDI name vendor.com/class=name).
    #[arg(long)]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list ('c 1:3 rwm').
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// GPU devices to add to the container ('all', N, device=ID[,ID]), as CDI devices of nvidia.com/gpu.
    #[arg(long)]
    pub gpus: Option<String>,
    /// IPv6 address: not implemented (Berth's networks are IPv4).
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add link to another container (NAME[:ALIAS]).
    #[arg(long)]
    pub link: Vec<String>,
    /// Container IPv4/IPv6 link-local addresses.
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    /// Storage driver options for the container: not available on overlay without xfs quotas.
    #[arg(long = "storage-opt")]
    pub storage_opt: Vec<String>,
    /// Optional volume driver for the container (only "local").
    #[arg(long = "volume-driver")]
    pub volume_driver: Option<String>,
    /// Mount volumes from the specified container(s).
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Pull image before creating ("always", "missing", "never").
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print usage.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]: everything after the image belongs to the
    /// container's command, flags included (docker stops parsing there,
    /// cobra's SetInterspersed(false)). A flag before the image is berth's:
    /// an unknown one is a usage error, never taken for the image.
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub image_and_command: Vec<String>,
}

/// `berth create`.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
}

/// `berth run`.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process.
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

/// A `KEY=VALUE` flag (labels, log options, sysctls) split; `KEY` alone
/// means an empty value where docker allows it.
fn key_value(flag: &str, value: &str, allow_bare: bool) -> Result<(String, String), CliError> {
    match value.split_once('=') {
        Some(("", _)) => Err(CliError::FlagValue(format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: key must not be empty"
        ))),
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None if allow_bare && !value.is_empty() => Ok((value.to_string(), String::new())),
        None => Err(CliError::FlagValue(format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: expected KEY=VALUE"
        ))),
    }
}

/// docker's `ValidateEnv`: `KEY=VALUE` as given; `KEY` alone takes the
/// CLI's own value of KEY when it has one (else stays `KEY`, which the
/// daemon leaves out).
pub(super) fn env_entry(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, CliError> {
    let (key, has_value) = match value.split_once('=') {
        Some((k, _)) => (k, true),
        None => (value, false),
    };
    if key.is_empty() {
        return Err(CliError::FlagValue(format!(
            "invalid argument \"{value}\" for \"-e, --env\" flag: invalid environment variable: {value}"
        )));
    }
    if has_value {
        return Ok(value.to_string());
    }
    Ok(match lookup(key) {
        Some(v) => format!("{key}={v}"),
        None => value.to_string(),
    })
}

/// docker's `--restart` values: `no`, `always`, `unless-stopped`,
/// `on-failure[:N]`.
fn restart_policy(value: &str) -> Result<(String, i32), CliError> {
    let (name, count) = match value.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (value, None),
    };
    match (name, count) {
        ("no" | "always" | "unless-stopped", None) => Ok((name.to_string(), 0)),
        ("on-failure", None) => Ok((name.to_string(), 0)),
        ("on-failure", Some(c)) => c
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (name.to_string(), n))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "invalid restart policy format: maximum retry count must be an integer: {value}"
                ))
            }),
        ("no" | "always" | "unless-stopped", Some(_)) => Err(CliError::Usage(format!(
            "invalid restart policy format: maximum retry count cannot be used with restart policy '{name}'"
        ))),
        _ => Err(CliError::Usage(format!(
            "invalid restart policy format: unknown policy '{name}'"
        ))),
    }
}

/// The streams `-a/--attach` names (docker's `validateAttach`): stdin,
/// stdout, stderr in any case; none given means stdout and stderr (and
/// stdin with `-i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachStreams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl AttachStreams {
    /// Records the streams in the container's config as docker's CLI
    /// does: `Config.Attach*`, and `StdinOnce` when stdin is both open and
    /// attached.
    pub fn record(&self, config: &mut pb::ContainerConfig) {
        config.attach_stdin = self.stdin;
        config.attach_stdout = self.stdout;
        config.attach_stderr = self.stderr;
        config.stdin_once = config.open_stdin && self.stdin;
    }

    /// The streams of `-a` values and `-i`.
    pub fn parse(values: &[String], interactive: bool) -> Result<AttachStreams, CliError> {
        if values.is_empty() {
            return Ok(AttachStreams {
                stdin: interactive,
                stdout: true,
                stderr: true,
            });
        }
        let mut streams = AttachStreams {
            stdin: false,
            stdout: false,
            stderr: false,
        };
        for v in values {
            match v.to_lowercase().as_str() {
                "stdin" => streams.stdin = true,
                "stdout" => streams.stdout = true,
                "stderr" => streams.stderr = true,
                _ => {
                    return Err(CliError::FlagValue(format!(
                        "invalid argument \"{v}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                    )))
                }
            }
        }
        Ok(streams)
    }
}

/// `--cidfile`: docker's container-id file. Made (empty) before the
/// container is created, so an existing file fails first and nothing is
/// created; filled with the id once the container exists; removed again
/// when the create fails.
pub struct CidFile {
    path: Option<std::path::PathBuf>,
    written: bool,
}

impl CidFile {
    /// Creates the file exclusively; `None` makes a no-op.
    pub fn create(path: Option<&str>) -> Result<CidFile, CliError> {
        let Some(path) = path.filter(|p| !p.is_empty()) else {
            return Ok(CidFile {
                path: None,
                written: false,
            });
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(_) => Ok(CidFile {
                path: Some(path.into()),
                written: false,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(CliError::Usage(format!(
                    "Container ID file found, make sure the other container isn't running or delete {path}"
                )))
            }
            Err(e) => Err(CliError::Usage(format!(
                "failed to create the container ID file: open {path}: {}",
                crate::container::io_reason(&e)
            ))),
        }
    }

    /// Writes the new container's id.
    pub fn write(&mut self, id: &str) -> Result<(), CliError> {
        if let Some(path) = &self.path {
            std::fs::write(path, id).map_err(|e| {
                CliError::Usage(format!(
                    "failed to write the container ID to the file: write {}: {}",
                    path.display(),
                    crate::container::io_reason(&e)
                ))
            })?;
            self.written = true;
        }
        Ok(())
    }
}

impl Drop for CidFile {
    /// An id file that never got an id goes away (docker's `cidFile.Close`).
    fn drop(&mut self) {
        if let (Some(path), false) = (&self.path, self.written) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `--link` values, checked as docker's CLI parses them (`opts.ParseLink`).
pub fn validate_links(links: &[String]) -> Result<(), CliError> {
    for v in links {
        berth_docker::link::parse_link(v).map_err(|e| {
            CliError::FlagValue(format!("invalid argument \"{v}\" for \"--link\" flag: {e}"))
        })?;
    }
    Ok(())
}

/// The flags docker has and Berth cannot honour here: each fails with one
/// line saying why, before anything is created (never silently ignored).
fn not_available(flags: &ContainerFlags) -> Result<(), CliError> {
    let missing = |what: &str| Err(CliError::Usage(format!("not implemented: {what}")));
    if flags.ip6.is_some() {
        return missing("--ip6 (Berth's networks are IPv4 only)");
    }
    validate_links(&flags.link)?;
    let network = flags.network.as_deref().unwrap_or("default");
    if !flags.link.is_empty()
        && (network == "host" || network == "none" || network.starts_with("container:"))
    {
        // docker's CLI refuses these before asking its daemon.
        return Err(CliError::Usage(
            "links are only supported for user-defined networks".into(),
        ));
    }
    if !flags.storage_opt.is_empty() {
        // docker 20.10's words for overlay2 without xfs project quotas,
        // the only storage Berth has.
        return Err(CliError::Usage(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
                .into(),
        ));
    }
    Ok(())
}

/// A size flag (`-m`, `--memory-swap`, `--shm-size`) in bytes, parsed by
/// berth-docker's `parse_bytes` (docker's RAMInBytes) so the CLI and
/// berthd agree on what `512m` means.
fn size_flag(flag: &str, value: &str) -> Result<i64, CliError> {
    size::parse_bytes(value).map_err(|e| {
        CliError::FlagValue(format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {e}"
        ))
    })
}

/// Turns the flags into what berthd's Create takes. `lookup_env` is the
/// CLI's environment (a parameter so tests need not touch the process's).
pub fn build_config(
    flags: &ContainerFlags,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<pb::ContainerConfig, CliError> {
    let (image, command) = flags
        .image_and_command
        .split_first()
        .ok_or_else(|| CliError::Usage("\"run\" requires at least 1 argument.".into()))?;
    // docker checks the rules as it reads the flag (a pflag error).
    for rule in &flags.device_cgroup_rule {
        berth_docker::device_rule::parse(rule).map_err(|e| {
            CliError::FlagValue(format!(
                "invalid argument \"{rule}\" for \"--device-cgroup-rule\" flag: {e}"
            ))
        })?;
    }
    let mut env = Vec::new();
    for path in &flags.env_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!("open {path}: {}", crate::container::io_reason(&e)))
        })?;
        for entry in env_file::parse_env_file(&text)
            .map_err(|e| CliError::Usage(format!("env file {path}: {e}")))?
        {
            env.push(env_entry(&entry, lookup_env)?);
        }
    }
    for e in &flags.env {
        env.push(env_entry(e, lookup_env)?);
    }
    let mut labels = HashMap::new();
    // docker's ReadKVStrings: the files first, then -l over them.
    for path in &flags.label_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!("open {path}: {}", crate::container::io_reason(&e)))
        })?;
        for entry in env_file::parse_env_file(&text)
            .map_err(|e| CliError::Usage(format!("label file {path}: {e}")))?
        {
            let (k, v) = key_value("--label-file", &entry, true)?;
            labels.insert(k, v);
        }
    }
    for l in &flags.label {
        let (k, v) = key_value("-l, --label", l, true)?;
        labels.insert(k, v);
    }
    let mut log_opts = HashMap::new();
    for o in &flags.log_opt {
        let (k, v) = key_value("--log-opt", o, false)?;
        log_opts.insert(k, v);
    }
    let mut sysctls = HashMap::new();
    for s in &flags.sysctl {
        let (k, v) = key_value("--sysctl", s, false)?;
        // docker's CLI refuses host (not namespaced) sysctls itself.
        if !berth_docker::sysctl::is_namespaced(&k) {
            return Err(CliError::FlagValue(format!(
                "invalid argument \"{s}\" for \"--sysctl\" flag: sysctl '{s}' is not whitelisted"
            )));
        }
        sysctls.insert(k, v);
    }
    let mut seccomp_profile = Vec::new();
    for opt in &flags.security_opt {
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        if key == "seccomp" && value != "unconfined" && !value.is_empty() {
            // docker's CLI reads the profile and sends its contents: the
            // file is the user's, on the client's machine.
            seccomp_profile = std::fs::read(value).map_err(|e| {
                CliError::Usage(format!(
                    "opening seccomp profile ({value}) failed: open {value}: {}",
                    crate::container::io_reason(&e)
                ))
            })?;
        }
    }
    let (restart, retries) = match &flags.restart {
        Some(r) => restart_policy(r)?,
        None => ("no".to_string(), 0),
    };
    if flags.rm && restart != "no" {
        return Err(CliError::Usage(
            "Conflicting options: --restart and --rm".into(),
        ));
    }
    let healthcheck = HealthFlags {
        cmd: flags.health_cmd.as_deref(),
        interval: flags.health_interval.as_deref(),
        timeout: flags.health_timeout.as_deref(),
        start_period: flags.health_start_period.as_deref(),
        retries: flags.health_retries.as_deref(),
        no_healthcheck: flags.no_healthcheck,
    }
    .to_config()
    .map_err(|e| CliError::Usage(e.to_string()))?
    .unwrap_or_default();
    let memory = flags
        .memory
        .as_deref()
        .map(|m| size_flag("-m, --memory", m))
        .transpose()?
        .unwrap_or(0);
    let memory_swap = match flags.memory_swap.as_deref() {
        None => 0,
        Some("-1") => -1,
        Some(s) => size_flag("--memory-swap", s)?,
    };
    let nano_cpus = match &flags.cpus {
        None => 0,
        Some(c) => size::parse_cpus(c).map_err(|e| {
            CliError::FlagValue(format!("invalid argument \"{c}\" for \"--cpus\" flag: {e}"))
        })?,
    };
    let shm_size = flags
        .shm_size
        .as_deref()
        .map(|s| size_flag("--shm-size", s))
        .transpose()?
        .unwrap_or(0);
    not_available(flags)?;
    let memory_reservation = flags
        .memory_reservation
        .as_deref()
        .map(|m| size_flag("--memory-reservation", m))
        .transpose()?
        .unwrap_or(0);
    let kernel_memory = flags
        .kernel_memory
        .as_deref()
        .map(|m| size_flag("--kernel-memory", m))
        .transpose()?
        .unwrap_or(0);
    for (flag, values, parse) in [
        ("--blkio-weight-device", &flags.blkio_weight_device, 0),
        ("--device-read-bps", &flags.device_read_bps, 1),
        ("--device-write-bps", &flags.device_write_bps, 1),
        ("--device-read-iops", &flags.device_read_iops, 2),
        ("--device-write-iops", &flags.device_write_iops, 2),
    ] {
        for v in values {
            let checked = match parse {
                0 => blkio::parse_weight_device(v).map(|_| ()),
                1 => blkio::parse_bps_device(v).map(|_| ()),
                _ => blkio::parse_iops_device(v).map(|_| ()),
            };
            checked.map_err(|e| {
                CliError::FlagValue(format!("invalid argument \"{v}\" for \"{flag}\" flag: {e}"))
            })?;
        }
    }
    // docker's CLI checks the namespace modes' shapes (`--pid: invalid PID
    // mode`), all but --ipc's, which its daemon checks; berthd checks what
    // they mean.
    for (flag, kind, value) in [
        ("--pid", "PID", &flags.pid),
        ("--uts", "UTS", &flags.uts),
        ("--cgroupns", "CGROUP", &flags.cgroupns),
        ("--userns", "USER", &flags.userns),
    ] {
        let Some(v) = value.as_deref() else { continue };
        let ok = match flag {
            "--cgroupns" => matches!(v, "" | "private" | "host"),
            "--userns" => matches!(v, "" | "host"),
            _ => {
                matches!(v, "" | "host")
                    || (flag == "--pid"
                        && v.strip_prefix("container:").is_some_and(|c| !c.is_empty()))
            }
        };
        if !ok {
            return Err(CliError::Usage(format!("{flag}: invalid {kind} mode")));
        }
    }
    let (entrypoint_set, entrypoint) = match &flags.entrypoint {
        None => (false, Vec::new()),
        Some(e) if e.is_empty() => (true, Vec::new()),
        Some(e) => (true, vec![e.clone()]),
    };
    Ok(pb::ContainerConfig {
        image: image.clone(),
        entrypoint_set,
        entrypoint,
        cmd: command.to_vec(),
        env,
        working_dir: flags.workdir.clone().unwrap_or_default(),
        user: flags.user.clone().unwrap_or_default(),
        hostname: flags.hostname.clone().unwrap_or_default(),
        domainname: flags.domainname.clone().unwrap_or_default(),
        tty: flags.tty,
        open_stdin: flags.interactive,
        binds: flags.volume.clone(),
        mounts: flags.mount.clone(),
        tmpfs: flags.tmpfs.clone(),
        read_only: flags.read_only,
        privileged: flags.privileged,
        cap_add: flags.cap_add.clone(),
        cap_drop: flags.cap_drop.clone(),
        security_opt: flags.security_opt.clone(),
        seccomp_profile,
        memory,
        memory_swap,
        nano_cpus,
        cpu_shares: flags.cpu_shares.unwrap_or(0),
        pids_limit: flags.pids_limit.unwrap_or(0),
        network: flags.network.clone().unwrap_or_default(),
        init: flags.init,
        labels,
        stop_signal: flags.stop_signal.clone().unwrap_or_default(),
        stop_timeout: flags.stop_timeout.unwrap_or(-1),
        log_driver: flags.log_driver.clone().unwrap_or_default(),
        log_opts,
        auto_remove: flags.rm,
        runtime: flags.runtime.clone().unwrap_or_default(),
        sysctls,
        ulimits: flags.ulimit.clone(),
        shm_size,
        group_add: flags.group_add.clone(),
        volumes_from: flags.volumes_from.clone(),
        links: flags.link.clone(),
        link_local_ips: flags.link_local_ip.clone(),
        volume_driver: flags.volume_driver.clone().unwrap_or_default(),
        platform: flags.platform.clone().unwrap_or_default(),
        restart_policy: restart,
        restart_max_retries: retries,
        health_test: healthcheck.test,
        health_interval: healthcheck.interval,
        health_timeout: healthcheck.timeout,
        health_start_period: healthcheck.start_period,
        health_retries: healthcheck.retries,
        extra_hosts: flags.add_host.clone(),
        dns: flags.dns.clone(),
        publish: flags.publish.clone(),
        publish_all: flags.publish_all,
        expose: flags.expose.clone(),
        network_aliases: flags.network_alias.clone(),
        ip: flags.ip.clone().unwrap_or_default(),
        mac_address: flags.mac_address.clone().unwrap_or_default(),
        cpu_period: flags.cpu_period.unwrap_or(0),
        cpu_quota: flags.cpu_quota.unwrap_or(0),
        cpu_rt_period: flags.cpu_rt_period.unwrap_or(0),
        cpu_rt_runtime: flags.cpu_rt_runtime.unwrap_or(0),
        cpuset_cpus: flags.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: flags.cpuset_mems.clone().unwrap_or_default(),
        memory_reservation,
        memory_swappiness: (flags.memory_swappiness != -1).then_some(flags.memory_swappiness),
        oom_kill_disable: flags.oom_kill_disable,
        oom_score_adj: flags.oom_score_adj.unwrap_or(0),
        blkio_weight: flags.blkio_weight.unwrap_or(0).into(),
        blkio_weight_device: flags.blkio_weight_device.clone(),
        device_read_bps: flags.device_read_bps.clone(),
        device_write_bps: flags.device_write_bps.clone(),
        device_read_iops: flags.device_read_iops.clone(),
        device_write_iops: flags.device_write_iops.clone(),
        kernel_memory,
        cgroup_parent: flags.cgroup_parent.clone().unwrap_or_default(),
        pid_mode: flags.pid.clone().unwrap_or_default(),
        ipc_mode: flags.ipc.clone().unwrap_or_default(),
        uts_mode: flags.uts.clone().unwrap_or_default(),
        cgroupns_mode: flags.cgroupns.clone().unwrap_or_default(),
        userns_mode: flags.userns.clone().unwrap_or_default(),
        devices: flags.device.clone(),
        device_cgroup_rules: flags.device_cgroup_rule.clone(),
        dns_search: flags.dns_search.clone(),
        dns_options: flags.dns_option.clone(),
        gpus: flags.gpus.clone().unwrap_or_default(),
        // Set by `run`/`create` from the streams they attach.
        attach_stdin: false,
        attach_stdout: false,
        attach_stderr: false,
        stdin_once: false,
    })
}

/// The image as docker names it in "Unable to find image 'busybox:latest'
/// locally": familiar, with the default tag filled in.
fn shown_image(image: &str) -> String {
    Reference::parse(image)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| image.to_string())
}

/// Pulls `image` through the Images API like `docker run` does for a
/// missing image: progress to stderr (stdout belongs to the container).
async fn pull_image(
    ctx: &Context,
    image: &str,
    platform: &str,
    quiet: bool,
) -> Result<(), CliError> {
    let mut images = crate::connection::images(&ctx.host).await?;
    let auth = match Reference::parse(image) {
        Ok(r) => crate::credentials::get(&ctx.config_dir, &r.domain)?.map(|a| pb::RegistryAuth {
            username: a.username,
            password: a.password,
            identity_token: a.identity_token,
        }),
        Err(_) => None,
    };
    let mut stream = images
        .pull(pb::PullRequest {
            reference: image.to_string(),
            platform: platform.to_string(),
            auth,
        })
        .await?
        .into_inner();
    let mut done = None;
    let mut shown: HashMap<String, String> = HashMap::new();
    while let Some(ev) = stream.next().await {
        match ev?.event {
            Some(Event::Done(d)) => done = Some(d),
            Some(Event::Status(s)) if !quiet => eprintln!("{s}"),
            Some(Event::Layer(l)) if !quiet => {
                // One line per state change, as docker prints to a file.
                let state = if l.state == "Waiting" {
                    "Pulling fs layer".to_string()
                } else {
                    l.state.clone()
                };
                if shown.get(&l.digest) != Some(&state) {
                    eprintln!("{}: {state}", berth_docker::short_id::short_id(&l.digest));
                    shown.insert(l.digest, state);
                }
            }
            _ => {}
        }
    }
    let done = done.ok_or_else(|| CliError::Daemon("the pull ended without a result".into()))?;
    if !quiet {
        eprintln!("Digest: {}", done.digest);
        eprintln!(
            "Status: Downloaded newer image for {}",
            shown_image(&done.reference)
        );
    }
    Ok(())
}

/// Creates the container, pulling its image first when berthd does not
/// have it (and `--pull` allows). Returns the new id.
async fn create_container(
    ctx: &Context,
    flags: &ContainerFlags,
    config: pb::ContainerConfig,
) -> Result<String, CliError> {
    let mut cidfile = CidFile::create(flags.cidfile.as_deref())?;
    // docker's CLI says this itself, before its daemon's own warning.
    if flags.oom_kill_disable && flags.memory.is_none() {
        eprintln!("WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.");
    }
    let mut containers = client(&ctx.host).await?;
    let request = pb::CreateContainerRequest {
        name: flags.name.clone().unwrap_or_default(),
        config: Some(config.clone()),
    };
    match flags.pull.as_str() {
        "missing" | "never" => {}
        "always" => pull_image(ctx, &config.image, &config.platform, flags.quiet).await?,
        other => {
            return Err(CliError::Usage(format!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        )))
        }
    }
    let response = match containers.create(request.clone()).await {
        Ok(r) => r.into_inner(),
        // Only a missing image is pulled (a missing network or
        // `container:` target is NotFound too).
        Err(s)
            if s.code() == tonic::Code::NotFound
                && berth_proto::status::missing(&s) == Some(berth_proto::status::MISSING_IMAGE)
                && flags.pull == "missing" =>
        {
            eprintln!(
                "Unable to find image '{}' locally",
                shown_image(&config.image)
            );
            pull_image(ctx, &config.image, &config.platform, flags.quiet).await?;
            containers.create(request).await?.into_inner()
        }
        Err(s) => return Err(s.into()),
    };
    for w in &response.warnings {
        eprintln!("WARNING: {w}");
    }
    cidfile.write(&response.id)?;
    Ok(response.id)
}

/// Prints a run/create failure the way docker does and gives its exit code.
fn failed(command: &str, e: CliError) -> i32 {
    match &e {
        CliError::FlagValue(_) => eprintln!("{e}\nSee 'berth {command} --help'."),
        _ => eprintln!("berth: {e}\nSee 'berth {command} --help'."),
    }
    match e {
        // The process could not be started: 126 or 127, as docker's CLI.
        CliError::StartFailed { code, .. } => code,
        _ => EXIT_RUN_FAILED,
    }
}

/// `berth create`: prints the new container's full id.
pub async fn create(ctx: &Context, a: CreateArgs) -> Result<i32, CliError> {
    // `-a` is checked as docker does; with create it only names the
    // streams a later `start -a` would have had.
    let streams = match AttachStreams::parse(&a.flags.attach, a.flags.interactive) {
        Ok(s) => s,
        Err(e) => return Ok(failed("create", e)),
    };
    let mut config = match build_config(&a.flags, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => return Ok(failed("create", e)),
    };
    streams.record(&mut config);
    match create_container(ctx, &a.flags, config).await {
        Ok(id) => {
            println!("{id}");
            Ok(0)
        }
        // docker's `create` exits 125 only for what its CLI refuses; the
        // daemon's refusal is a plain error (exit 1), unlike `run`'s.
        Err(e @ (CliError::Usage(_) | CliError::FlagValue(_))) => Ok(failed("create", e)),
        Err(e) => Err(e),
    }
}

/// `berth run`: create, then either print the id (`-d`) or attach (start
/// included) and exit with the container's code.
pub async fn run(ctx: &Context, a: RunArgs) -> Result<i32, CliError> {
    let mut config = match build_config(&a.flags, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => return Ok(failed("run", e)),
    };
    if a.detach && !a.flags.attach.is_empty() {
        return Ok(failed(
            "run",
            CliError::Usage("Conflicting options: -a and -d".into()),
        ));
    }
    let streams = match AttachStreams::parse(&a.flags.attach, a.flags.interactive) {
        Ok(s) => s,
        Err(e) => return Ok(failed("run", e)),
    };
    // `run -d` attaches nothing (docker's `Config.Attach*` all false).
    if !a.detach {
        streams.record(&mut config);
    }
    let options = if a.detach {
        None
    } else {
        match StreamOptions::new(
            streams.stdin,
            a.flags.tty,
            a.detach_keys.as_deref(),
            a.sig_proxy,
        ) {
            Ok(o) => Some(o),
            // docker's CLI prints `the input device is not a TTY` alone
            // and exits 1 (a plain error, not run's 125 usage).
            Err(e @ CliError::NotATty) => return Err(e),
            Err(e) => return Ok(failed("run", e)),
        }
    };
    let id = match create_container(ctx, &a.flags, config).await {
        Ok(id) => id,
        Err(e) => return Ok(failed("run", e)),
    };
    let Some(options) = options else {
        let mut containers = match client(&ctx.host).await {
            Ok(c) => c,
            Err(e) => return Ok(failed("run", e)),
        };
        if let Err(s) = containers
            .start(pb::StartContainerRequest { id: id.clone() })
            .await
        {
            let e = CliError::from(s);
            let code = match e.exit_code() {
                code @ (super::EXIT_CANNOT_INVOKE | super::EXIT_NOT_FOUND) => code,
                _ => EXIT_RUN_FAILED,
            };
            failed("run", e);
            return Ok(code);
        }
        println!("{id}");
        return Ok(0);
    };
    let mut first = attach::attach_request(&id, &options, true);
    if let Some(pb::attach_stream_request::Request::Attach(start)) = first.request.as_mut() {
        start.stdout = streams.stdout;
        start.stderr = streams.stderr;
    }
    match attach::stream(ctx, StreamKind::Attach, first, &options, Some(&id)).await {
        Ok(StreamEnd::Exited(code)) => Ok(code),
        Ok(StreamEnd::Detached) => Ok(0),
        Ok(StreamEnd::Closed) => Ok(failed(
            "run",
            CliError::Daemon("the attach stream ended before the container exited".into()),
        )),
        // The start failed: 127/126 when the command is missing or not
        // executable (berthd's `berth-exit-code`), else 125.
        Err(e) => {
            let code = match e.exit_code() {
                code @ (super::EXIT_CANNOT_INVOKE | super::EXIT_NOT_FOUND) => code,
                _ => EXIT_RUN_FAILED,
            };
            failed("run", e);
            Ok(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct TestCli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        TestCli::try_parse_from(all).unwrap().run
    }

    #[test]
    fn flags_after_the_image_belong_to_the_command() {
        let a = parse(&["-d", "--name", "x", "busybox", "ls", "-l", "-d", "--rm"]);
        assert!(a.detach);
        assert!(!a.flags.rm);
        assert_eq!(a.flags.name.as_deref(), Some("x"));
        assert_eq!(
            a.flags.image_and_command,
            vec!["busybox", "ls", "-l", "-d", "--rm"]
        );
        // `--` after the image is the command's too, as with docker.
        let a = parse(&["busybox", "--", "-x", "--nme"]);
        assert_eq!(
            a.flags.image_and_command,
            vec!["busybox", "--", "-x", "--nme"]
        );
    }

    #[test]
    fn short_forms_like_docker() {
        let a = parse(&[
            "-it", "-e", "A=1", "-w", "/tmp", "-u", "1:2", "-v", "/a:/b:ro", "-l", "k=v", "-h",
            "host", "-c", "512", "img",
        ]);
        assert!(a.flags.interactive && a.flags.tty);
        let c = build_config(&a.flags, &|_| None).unwrap();
        assert_eq!(c.env, vec!["A=1"]);
        assert_eq!(c.working_dir, "/tmp");
        assert_eq!(c.user, "1:2");
        assert_eq!(c.binds, vec!["/a:/b:ro"]);
        assert_eq!(c.labels["k"], "v");
        assert_eq!(c.hostname, "host");
        assert_eq!(c.cpu_shares, 512);
        assert_eq!(c.image, "img");
        assert!(c.cmd.is_empty());
        assert_eq!(c.stop_timeout, -1);
        assert_eq!(c.restart_policy, "no");
    }

    #[test]
    fn env_key_alone_takes_the_clis_value() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        assert_eq!(env_entry("HOME", &lookup).unwrap(), "HOME=/root");
        assert_eq!(env_entry("UNSET", &lookup).unwrap(), "UNSET");
        assert_eq!(env_entry("A=", &lookup).unwrap(), "A=");
        assert!(env_entry("=x", &lookup).is_err());
    }

    #[test]
    fn entrypoint_empty_resets() {
        let a = parse(&["--entrypoint", "", "img"]);
        let c = build_config(&a.flags, &|_| None).unwrap();
        assert!(c.entrypoint_set && c.entrypoint.is_empty());
        let a = parse(&["--entrypoint", "/bin/echo", "img", "hi"]);
        let c = build_config(&a.flags, &|_| None).unwrap();
        assert_eq!(c.entrypoint, vec!["/bin/echo"]);
        assert_eq!(c.cmd, vec!["hi"]);
    }

    #[test]
    fn restart_policies() {
        assert_eq!(restart_policy("no").unwrap(), ("no".into(), 0));
        assert_eq!(
            restart_policy("on-failure:3").unwrap(),
            ("on-failure".into(), 3)
        );
        assert!(restart_policy("always:3").is_err());
        assert!(restart_policy("sometimes").is_err());
        assert!(restart_policy("on-failure:x").is_err());
        let a = parse(&["--rm", "--restart", "always", "img"]);
        assert!(build_config(&a.flags, &|_| None)
            .unwrap_err()
            .to_string()
            .contains("Conflicting options"));
    }

    #[test]
    fn sizes_and_cpus() {
        let a = parse(&[
            "-m",
            "512m",
            "--memory-swap",
            "-1",
            "--cpus",
            "1.5",
            "--shm-size",
            "64m",
            "img",
        ]);
        let c = build_config(&a.flags, &|_| None).unwrap();
        assert_eq!(c.memory, 512 << 20);
        assert_eq!(c.memory_swap, -1);
        assert_eq!(c.nano_cpus, 1_500_000_000);
        assert_eq!(c.shm_size, 64 << 20);
        let a = parse(&["-m", "12x", "img"]);
        let e = build_config(&a.flags, &|_| None).unwrap_err();
        assert!(e.to_string().contains("12x"), "{e}");
    }

    #[test]
    fn seccomp_file_is_read_client_side() {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("p.json");
        std::fs::write(&profile, br#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap();
        let opt = format!("seccomp={}", profile.display());
        let a = parse(&["--security-opt", &opt, "img"]);
        let c = build_config(&a.flags, &|_| None).unwrap();
        assert_eq!(c.security_opt, vec![opt]);
        assert!(c.seccomp_profile.starts_with(b"{\"defaultAction\""));
        let a = parse(&["--security-opt", "seccomp=/nonexistent/p.json", "img"]);
        let e = build_config(&a.flags, &|_| None).unwrap_err().to_string();
        assert!(
            e.contains("opening seccomp profile (/nonexistent/p.json) failed"),
            "{e}"
        );
        let a = parse(&["--security-opt", "seccomp=unconfined", "img"]);
        assert!(build_config(&a.flags, &|_| None)
            .unwrap()
            .seccomp_profile
            .is_empty());
    }

    #[test]
    fn labels_log_opts_sysctls() {
        let a = parse(&[
            "-l",
            "bare",
            "--log-opt",
            "max-size=1m",
            "--sysctl",
            "net.core.somaxconn=100",
            "img",
        ]);
        let c = build_config(&a.flags, &|_| None).unwrap();
        assert_eq!(c.labels["bare"], "");
        assert_eq!(c.log_opts["max-size"], "1m");
        assert_eq!(c.sysctls["net.core.somaxconn"], "100");
        let a = parse(&["--log-opt", "nokey", "img"]);
        assert!(build_config(&a.flags, &|_| None).is_err());
        // Host sysctls: docker's CLI words, before anything is made.
        let a = parse(&["--sysctl", "kernel.core_pattern=|/x", "img"]);
        let e = build_config(&a.flags, &|_| None).unwrap_err();
        assert_eq!(e.exit_code(), 125);
        assert_eq!(
            e.to_string(),
            "invalid argument \"kernel.core_pattern=|/x\" for \"--sysctl\" flag: sysctl 'kernel.core_pattern=|/x' is not whitelisted"
        );
    }

    #[test]
    fn shown_image_fills_the_default_tag() {
        assert_eq!(shown_image("busybox"), "busybox:latest");
        assert_eq!(shown_image("127.0.0.1:5000/a:v1"), "127.0.0.1:5000/a:v1");
    }
}
