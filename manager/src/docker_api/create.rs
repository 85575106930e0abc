//! `POST /containers/create`: docker's body (`container.Config` with
//! `HostConfig` and `NetworkingConfig`) mapped to the containers domain's
//! [`ContainerConfig`], the same request the gRPC adapter builds from the
//! CLI's flags, in the same domain forms (`-p`/`--mount`/`--ulimit`
//! strings that the domain parses and checks): both adapters agree because
//! the domain does the checking.
//!
//! Unknown fields are ignored (as docker does); a value of the wrong type
//! is a 400 naming its field (`HostConfig.Memory`). What docker accepts
//! and Berth has no feature for (device requests) is refused with `not implemented`.

use super::error::ApiError;
use crate::containers::config::{ContainerConfig, LogConfig, RestartPolicy};
use crate::containers::health::HealthConfig;
use crate::containers::restart::{PolicyKind, RestartError};
use crate::containers::spec::{ContainerOptions, NetworkMode};
use berth_docker::types::container::{Config, HostConfig, PortMap};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `network.NetworkingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, Option<EndpointConfig>>>,
}

/// The parts of `network.EndpointSettings` a create sets.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointConfig {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpam>,
    pub aliases: Option<Vec<String>>,
    pub links: Option<Vec<String>>,
}

/// `network.EndpointIPAMConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs")]
    pub link_local_ips: Option<Vec<String>>,
}

/// Deserialises `value` as `T`; a wrong type is a 400 naming the field's
/// path under `prefix`.
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = match (prefix.is_empty(), path.as_str()) {
            (true, p) => p.to_string(),
            (false, ".") => prefix.to_string(),
            (false, p) => format!("{prefix}.{p}"),
        };
        ApiError::bad_request(format!(
            "invalid JSON body: field {field}: {}",
            e.into_inner()
        ))
    })
}

/// docker's `strslice.StrSlice`: a string is a one-element list.
fn str_slice(map: &mut serde_json::Map<String, serde_json::Value>, key: &str) {
    if let Some(serde_json::Value::String(s)) = map.get(key) {
        let one = serde_json::Value::Array(vec![serde_json::Value::String(s.clone())]);
        map.insert(key.to_string(), one);
    }
}

/// The three parts of a create body.
pub fn parse_body(body: &[u8]) -> Result<(Config, HostConfig, NetworkingConfig), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("invalid JSON body: empty body"));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(ApiError::bad_request(
            "invalid JSON body: not a JSON object",
        ));
    };
    let host = map.remove("HostConfig").unwrap_or_default();
    let networking = map.remove("NetworkingConfig").unwrap_or_default();
    str_slice(&mut map, "Cmd");
    str_slice(&mut map, "Entrypoint");
    let null_is_default = |v: serde_json::Value| {
        if v.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            v
        }
    };
    let config: Config = typed(serde_json::Value::Object(map), "")?;
    let host: HostConfig = typed(null_is_default(host), "HostConfig")?;
    let networking: NetworkingConfig = typed(null_is_default(networking), "NetworkingConfig")?;
    Ok((config, host, networking))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn positive(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}

/// `PortBindings` as the `-p` specs the domain parses:
/// `[IP:][HOSTPORT:]PORT/PROTO`.
fn publish_specs(bindings: &PortMap) -> Vec<String> {
    let mut out = Vec::new();
    for (port, hosts) in bindings {
        let hosts = hosts.clone().unwrap_or_default();
        if hosts.is_empty() {
            out.push(port.clone());
        }
        for h in hosts {
            out.push(match (h.host_ip.is_empty(), h.host_port.is_empty()) {
                (true, true) => port.clone(),
                (true, false) => format!("{}:{port}", h.host_port),
                (false, _) => format!("{}:{}:{port}", h.host_ip, h.host_port),
            });
        }
    }
    out
}

/// `HostConfig.Mounts` as the `--mount` specs the domain parses.
fn mount_specs(mounts: &[berth_docker::types::container::Mount]) -> Vec<String> {
    mounts
        .iter()
        .map(|m| {
            let mut fields = vec![format!(
                "type={}",
                if m.kind.is_empty() { "volume" } else { &m.kind }
            )];
            if !m.source.is_empty() {
                fields.push(format!("source={}", m.source));
            }
            fields.push(format!("target={}", m.target));
            if m.read_only {
                fields.push("readonly".into());
            }
            fields.join(",")
        })
        .collect()
}

/// The domain's create request from docker's body.
// `..ContainerOptions::default()`: options Berth has and docker's body
// does not set keep their defaults.
#[allow(clippy::needless_update)]
pub fn container_config(
    c: Config,
    h: HostConfig,
    n: NetworkingConfig,
) -> Result<ContainerConfig, ApiError> {
    let unsupported = |what: &str| Err(ApiError::not_implemented(what.to_string()));
    if h.device_requests.as_ref().is_some_and(|d| !d.is_empty()) {
        return unsupported("HostConfig.DeviceRequests (use berth run --gpus)");
    }
    let network =
        NetworkMode::parse(&h.network_mode).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The endpoint of the container's own network (docker's CLI sends one).
    let endpoint = n
        .endpoints_config
        .unwrap_or_default()
        .into_iter()
        .find(|(name, _)| {
            h.network_mode.is_empty() || name == &h.network_mode || h.network_mode == "default"
        })
        .and_then(|(_, e)| e)
        .unwrap_or_default();
    // docker's CLI sends its links in both places on a user network: the
    // endpoint's are the DNS names, HostConfig's the legacy links.
    let links = match (&network, endpoint.links.clone()) {
        (NetworkMode::Named(_), Some(l)) if !l.is_empty() => l,
        _ => h.links.clone().unwrap_or_default(),
    };
    let health = c.healthcheck.clone().unwrap_or_default();
    let healthcheck = HealthConfig::from_request(
        health.test.unwrap_or_default(),
        [health.interval, health.timeout, health.start_period],
        i32::try_from(health.retries)
            .map_err(|_| ApiError::bad_request("Healthcheck.Retries out of range"))?,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let entrypoint = c.entrypoint.map(|e| {
        // `--entrypoint ""` arrives as `[""]`: no entrypoint at all.
        if e.len() == 1 && e[0].is_empty() {
            Vec::new()
        } else {
            e
        }
    });
    let devices = h
        .devices
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            let mut s = d.path_on_host;
            if !d.path_in_container.is_empty() {
                s = format!("{s}:{}", d.path_in_container);
            }
            if !d.cgroup_permissions.is_empty() {
                s = format!("{s}:{}", d.cgroup_permissions);
            }
            s
        })
        .collect();
    let throttle = |v: Option<Vec<berth_docker::types::container::ThrottleDevice>>| {
        v.unwrap_or_default()
            .into_iter()
            .map(|d| format!("{}:{}", d.path, d.rate))
            .collect::<Vec<_>>()
    };
    let options = ContainerOptions {
        entrypoint,
        cmd: c.cmd.unwrap_or_default(),
        env: c.env.unwrap_or_default(),
        working_dir: non_empty(c.working_dir),
        user: non_empty(c.user),
        hostname: non_empty(c.hostname),
        domainname: non_empty(c.domainname),
        tty: c.tty,
        open_stdin: c.open_stdin,
        attach_stdin: c.attach_stdin,
        attach_stdout: c.attach_stdout,
        attach_stderr: c.attach_stderr,
        stdin_once: c.stdin_once,
        binds: h.binds.unwrap_or_default(),
        volumes_from: h.volumes_from.unwrap_or_default(),
        mounts: mount_specs(&h.mounts.unwrap_or_default()),
        tmpfs: h
            .tmpfs
            .unwrap_or_default()
            .into_iter()
            .map(|(path, opts)| {
                if opts.is_empty() {
                    path
                } else {
                    format!("{path}:{opts}")
                }
            })
            .collect(),
        read_only: h.readonly_rootfs,
        privileged: h.privileged,
        cap_add: h.cap_add.unwrap_or_default(),
        cap_drop: h.cap_drop.unwrap_or_default(),
        security_opt: h.security_opt.unwrap_or_default(),
        memory: positive(h.memory),
        memory_swap: positive(h.memory_swap),
        cpus: (h.nano_cpus != 0).then_some(h.nano_cpus as f64 / 1e9),
        cpu_shares: (h.cpu_shares > 0).then_some(h.cpu_shares as u64),
        pids_limit: h.pids_limit.filter(|p| *p != 0),
        network,
        init: h.init.unwrap_or(false),
        labels: c.labels.unwrap_or_default(),
        stop_signal: non_empty(c.stop_signal),
        sysctls: h.sysctls.unwrap_or_default(),
        ulimits: h
            .ulimits
            .unwrap_or_default()
            .into_iter()
            .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
            .collect(),
        shm_size: positive(h.shm_size),
        healthcheck,
        group_add: h.group_add.unwrap_or_default(),
        publish: publish_specs(&h.port_bindings),
        publish_all: h.publish_all_ports,
        expose: c.exposed_ports.unwrap_or_default().into_keys().collect(),
        extra_hosts: h.extra_hosts.unwrap_or_default(),
        dns: h.dns.unwrap_or_default(),
        network_aliases: endpoint.aliases.unwrap_or_default(),
        volume_driver: non_empty(h.volume_driver.clone()),
        link_local_ips: endpoint
            .ipam_config
            .as_ref()
            .and_then(|i| i.link_local_ips.clone())
            .unwrap_or_default(),
        ip: endpoint.ipam_config.and_then(|i| non_empty(i.ipv4_address)),
        links,
        mac_address: non_empty(c.mac_address),
        cpu_period: positive(h.cpu_period),
        cpu_quota: positive(h.cpu_quota),
        cpu_rt_period: positive(h.cpu_realtime_period),
        cpu_rt_runtime: positive(h.cpu_realtime_runtime),
        cpuset_cpus: non_empty(h.cpuset_cpus),
        cpuset_mems: non_empty(h.cpuset_mems),
        memory_reservation: positive(h.memory_reservation),
        memory_swappiness: h.memory_swappiness.filter(|s| *s != -1),
        oom_kill_disable: h.oom_kill_disable.unwrap_or(false),
        oom_score_adj: match h.oom_score_adj {
            0 => None,
            v => Some(i32::try_from(v).map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid value {v}, range for oom score adj is [-1000, 1000]"
                ))
            })?),
        },
        kernel_memory: positive(h.kernel_memory),
        blkio_weight: (h.blkio_weight != 0).then_some(h.blkio_weight),
        blkio_weight_device: h
            .blkio_weight_device
            .unwrap_or_default()
            .into_iter()
            .map(|d| format!("{}:{}", d.path, d.weight))
            .collect(),
        device_read_bps: throttle(h.blkio_device_read_bps),
        device_write_bps: throttle(h.blkio_device_write_bps),
        device_read_iops: throttle(h.blkio_device_read_iops),
        device_write_iops: throttle(h.blkio_device_write_iops),
        cgroup_parent: non_empty(h.cgroup_parent),
        pid_mode: non_empty(h.pid_mode),
        ipc_mode: non_empty(h.ipc_mode),
        uts_mode: non_empty(h.uts_mode),
        cgroupns_mode: non_empty(h.cgroupns_mode),
        userns_mode: non_empty(h.userns_mode),
        devices,
        device_cgroup_rules: h.device_cgroup_rules.unwrap_or_default(),
        dns_search: h.dns_search.unwrap_or_default(),
        dns_options: h.dns_options.unwrap_or_default(),
        ..ContainerOptions::default()
    };
    let max_retries = i32::try_from(h.restart_policy.maximum_retry_count)
        .map_err(|_| ApiError::bad_request("RestartPolicy.MaximumRetryCount out of range"))?;
    let restart = RestartPolicy::checked(&h.restart_policy.name, max_retries)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if h.auto_remove && restart.kind() != PolicyKind::No {
        return Err(ApiError::bad_request(
            RestartError::ConflictsWithAutoRemove.to_string(),
        ));
    }
    Ok(ContainerConfig {
        image: c.image,
        options,
        log: LogConfig {
            driver: h.log_config.kind,
            opts: h.log_config.config,
            ..LogConfig::default()
        },
        auto_remove: h.auto_remove,
        runtime: non_empty(h.runtime),
        stop_timeout: c.stop_timeout.map(|t| i32::try_from(t).unwrap_or(i32::MAX)),
        restart,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_cli_body_maps_to_the_domain_request() {
        let body = br#"{"Image":"busybox","Cmd":"sh","Entrypoint":null,"Env":["A=1"],
            "Tty":true,"Unknown":7,"ExposedPorts":{"80/tcp":{}},
            "HostConfig":{"Binds":["/a:/b:ro"],"NetworkMode":"default","Memory":1048576,
              "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"81/udp":[{"HostIp":"127.0.0.1","HostPort":""}]},
              "RestartPolicy":{"Name":"","MaximumRetryCount":0},"AutoRemove":true,
              "Mounts":[{"Type":"tmpfs","Target":"/t"}],"Tmpfs":{"/x":"size=1m"}},
            "NetworkingConfig":{"EndpointsConfig":{"default":{"Aliases":["web"]}}}}"#;
        let (c, h, n) = parse_body(body).unwrap();
        let cfg = container_config(c, h, n).unwrap();
        assert_eq!(cfg.image, "busybox");
        assert_eq!(cfg.options.cmd, vec!["sh"]);
        assert_eq!(cfg.options.entrypoint, None);
        assert!(cfg.options.tty && cfg.auto_remove);
        assert_eq!(cfg.options.memory, Some(1 << 20));
        assert_eq!(
            cfg.options.publish,
            vec!["8080:80/tcp", "127.0.0.1::81/udp"]
        );
        assert_eq!(cfg.options.expose, vec!["80/tcp"]);
        assert_eq!(cfg.options.mounts, vec!["type=tmpfs,target=/t"]);
        assert_eq!(cfg.options.tmpfs, vec!["/x:size=1m"]);
        assert_eq!(cfg.options.network_aliases, vec!["web"]);
    }

    #[test]
    fn bad_bodies_are_400_naming_the_field() {
        let err = |b: &[u8]| parse_body(b).map(|_| ()).unwrap_err();
        let e = err(br#"{"Image":"x","HostConfig":{"Memory":"lots"}}"#);
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains("HostConfig.Memory"), "{}", e.message);
        let e = err(br#"{"Image": 5}"#);
        assert!(e.message.contains("field Image"), "{}", e.message);
        assert!(err(b"{\"Image\":")
            .message
            .starts_with("invalid JSON body: "));
        assert!(err(b"").message.contains("empty body"));
        let (c, h, n) = parse_body(br#"{"Image":"x","HostConfig":{"Links":["a:b"]}}"#).unwrap();
        assert_eq!(container_config(c, h, n).unwrap().options.links, ["a:b"]);
        let (c, h, n) = parse_body(
            br#"{"Image":"x","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#,
        )
        .unwrap();
        assert_eq!(container_config(c, h, n).unwrap_err().status.as_u16(), 400);
    }
}
