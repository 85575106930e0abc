//! How containers look to users: `ps` rows and `inspect` JSON, both in
//! docker's shape (docker's API types `Container` and `ContainerJSON`).

use super::record::{ContainerRecord, Status};
use super::service::ContainerService;
use super::ContainerError;
use serde_json::{json, Value};
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

/// docker's `Command` column: path and args, quoted as docker shows them.
pub fn command_line(r: &ContainerRecord) -> String {
    let mut parts = vec![r.path.clone()];
    parts.extend(r.args.iter().cloned());
    parts.join(" ")
}

impl ContainerService {
    /// The containers `ps` shows (all: stopped ones too), newest first.
    pub fn list(&self, all: bool, size: bool) -> Result<Vec<Summary>, ContainerError> {
        let mut out = Vec::new();
        for record in self.list_records()? {
            if !all && !record.state.status.is_live() {
                continue;
            }
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
                record,
            });
        }
        Ok(out)
    }

    /// docker's `ContainerJSON` of a container.
    pub fn inspect(&self, input: &str, size: bool) -> Result<Value, ContainerError> {
        let r = self.resolve(input)?;
        let o = &r.config.options;
        let spec_path = self.paths.bundle(&r.id).join("config.json");
        let spec: Option<berth_oci::Spec> = std::fs::read(&spec_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let process = spec.as_ref().and_then(|s| s.process.clone());
        let env: Vec<String> = process.as_ref().map(|p| p.env.clone()).unwrap_or_default();
        let working_dir = process.as_ref().map(|p| p.cwd.clone()).unwrap_or_default();
        let graph = match self.images.snapshotter().mounts(&r.snapshot_key) {
            Ok(mounts) => {
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
                json!({"Name": r.snapshotter, "Data": data})
            }
            Err(_) => json!({"Name": r.snapshotter, "Data": null}),
        };
        let mut mounts: Vec<Value> = self.volumes.mounts_json(&r.volumes);
        mounts.extend(spec
            .as_ref()
            .map(|s| {
                s.mounts
                    .iter()
                    .filter(|m| m.kind.as_deref() == Some("bind") || m.options.iter().any(|o| o == "rbind" || o == "bind"))
                    .filter(|m| !r.volumes.iter().any(|v| v.destination == m.destination))
                    .filter(|m| !m.destination.starts_with("/etc/host") && m.destination != "/etc/resolv.conf" && m.destination != "/sbin/docker-init")
                    .map(|m| {
                        let rw = !m.options.iter().any(|o| o == "ro");
                        json!({
                            "Type": "bind",
                            "Source": m.source.clone().unwrap_or_default(),
                            "Destination": m.destination,
                            "Mode": "",
                            "RW": rw,
                            "Propagation": m.options.iter().find(|o| o.ends_with("private") || o.ends_with("shared") || o.ends_with("slave")).cloned().unwrap_or_else(|| "rprivate".into()),
                        })
                    })
                    .collect::<Vec<Value>>()
            })
            .unwrap_or_default());
        let log_dir = self.paths.log_dir(&r.id);
        let network = o.network.as_str().to_string();
        let mut value = json!({
            "Id": r.id,
            "Created": r.created,
            "Path": r.path,
            "Args": r.args,
            "State": {
                "Status": r.state.status.as_str(),
                "Running": matches!(r.state.status, Status::Running | Status::Paused | Status::Restarting),
                "Paused": r.state.status == Status::Paused,
                "Restarting": r.state.status == Status::Restarting,
                "OOMKilled": r.state.oom_killed,
                "Dead": r.state.status == Status::Dead,
                "Pid": r.state.pid,
                "ExitCode": r.state.exit_code,
                "Error": r.state.error,
                "StartedAt": if r.state.started_at.is_empty() { "0001-01-01T00:00:00Z".to_string() } else { r.state.started_at.clone() },
                "FinishedAt": if r.state.finished_at.is_empty() { "0001-01-01T00:00:00Z".to_string() } else { r.state.finished_at.clone() },
            },
            "Image": r.image_id,
            "ResolvConfPath": log_dir.join("resolv.conf"),
            "HostnamePath": log_dir.join("hostname"),
            "HostsPath": log_dir.join("hosts"),
            "LogPath": if r.config.log.driver == "json-file" { self.paths.log_path(&r.id).to_string_lossy().into_owned() } else { String::new() },
            "Name": format!("/{}", r.name),
            "RestartCount": r.state.restart_count,
            "Driver": r.snapshotter,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": null,
            "HostConfig": {
                "Binds": o.binds,
                "LogConfig": {"Type": r.config.log.driver, "Config": log_opts(&r)},
                "NetworkMode": network,
                "PortBindings": crate::networks::ports::port_bindings_json(&r.ports.bindings),
                "PublishAllPorts": r.ports.publish_all,
                "RestartPolicy": {"Name": if r.config.restart.name.is_empty() { "no" } else { r.config.restart.name.as_str() }, "MaximumRetryCount": r.config.restart.max_retries},
                "AutoRemove": r.config.auto_remove,
                "Runtime": r.runtime,
                "CapAdd": o.cap_add,
                "CapDrop": o.cap_drop,
                "GroupAdd": o.group_add,
                "Privileged": o.privileged,
                "ReadonlyRootfs": o.read_only,
                "SecurityOpt": o.security_opt,
                "Tmpfs": tmpfs_map(&o.tmpfs),
                "ShmSize": o.shm_size.unwrap_or(64 << 20),
                "Memory": o.memory.unwrap_or(0),
                "MemorySwap": o.memory_swap.unwrap_or(0),
                "NanoCpus": o.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
                "CpuShares": o.cpu_shares.unwrap_or(0),
                "PidsLimit": o.pids_limit,
                "Init": o.init,
                "Sysctls": o.sysctls,
                "Mounts": o.mounts,
            },
            "GraphDriver": graph,
            "Mounts": mounts,
            "Config": {
                "Hostname": r.hostname,
                "Domainname": o.domainname.clone().unwrap_or_default(),
                "User": o.user.clone().unwrap_or_default(),
                "AttachStdin": false,
                "AttachStdout": false,
                "AttachStderr": false,
                "Tty": o.tty,
                "OpenStdin": o.open_stdin,
                "StdinOnce": false,
                "Env": env,
                "Cmd": if o.cmd.is_empty() { Value::Null } else { json!(o.cmd) },
                "Image": r.image,
                "Volumes": null,
                "ExposedPorts": crate::networks::ports::exposed_ports_json(&r.ports.exposed),
                "WorkingDir": working_dir,
                "Entrypoint": o.entrypoint,
                "Labels": o.labels,
                "StopSignal": o.stop_signal,
                "StopTimeout": r.config.stop_timeout,
            },
            "NetworkSettings": {
                "Bridge": "",
                "SandboxID": "",
                "Ports": crate::networks::ports::network_ports_json(&r.ports.exposed, &r.ports.published),
                "IPAddress": "",
            },
        });
        super::network::fill_network_settings(&self.networks, &r, &mut value);
        if let Some(h) = self.health_state(&r.id) {
            value["State"]["Health"] = json!(h);
        }
        if let Some(hc) = &o.healthcheck {
            value["Config"]["Healthcheck"] = json!(hc);
        }
        if size {
            let rw = self
                .images
                .snapshotter()
                .usage(&r.snapshot_key)
                .map(|u| u.size)
                .unwrap_or(0);
            value["SizeRw"] = json!(rw);
            let image_size = self
                .images
                .lookup(&r.image_id)
                .map(|l| self.images.unpacked_size(&l.resolved))
                .unwrap_or(0);
            value["SizeRootFs"] = json!(rw + image_size);
        }
        Ok(value)
    }
}

fn log_opts(r: &ContainerRecord) -> BTreeMap<String, String> {
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
