//! The pod sandbox calls of `RuntimeService` over the pods domain:
//! `runtime.v1` configs become a [`PodConfig`], a [`PodView`] becomes a
//! `PodSandboxStatus` or `PodSandbox`. Ids may be given as unique
//! prefixes, as containerd accepts them; `RemovePodSandbox` of a missing pod
//! succeeds and `StopPodSandbox` of a stopped one too (the CRI wants both
//! idempotent).

use super::status::{missing_field, pod_status, task_failed};
use crate::pods::record::{DnsConfig, NamespaceMode, PodNamespaces, PortMapping};
use crate::pods::{PodConfig, PodError, PodService, PodView};
use berth_proto::cri::v1 as pb;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::Status;

/// Runs `f` on a blocking thread (processes, mounts, CNI plugins).
async fn blocking<T: Send + 'static>(
    rpc: &'static str,
    pods: &Arc<PodService>,
    f: impl FnOnce(&PodService) -> Result<T, PodError> + Send + 'static,
) -> Result<T, Status> {
    let pods = pods.clone();
    tokio::task::spawn_blocking(move || f(&pods))
        .await
        .map_err(|e| task_failed(rpc, e))?
        .map_err(|e| pod_status(&e))
}

fn namespace_mode(what: &str, mode: i32, for_pid: bool) -> Result<NamespaceMode, Status> {
    match pb::NamespaceMode::try_from(mode) {
        Ok(pb::NamespaceMode::Pod) => Ok(NamespaceMode::Pod),
        Ok(pb::NamespaceMode::Node) => Ok(NamespaceMode::Node),
        Ok(pb::NamespaceMode::Container) if for_pid => Ok(NamespaceMode::Container),
        _ => Err(Status::invalid_argument(format!(
            "RunPodSandbox: namespace mode {mode} is not valid for the {what} namespace of a pod sandbox"
        ))),
    }
}

fn protocol(p: i32) -> Result<&'static str, Status> {
    match pb::Protocol::try_from(p) {
        Ok(pb::Protocol::Tcp) => Ok("tcp"),
        Ok(pb::Protocol::Udp) => Ok("udp"),
        Ok(pb::Protocol::Sctp) => Ok("sctp"),
        Err(_) => Err(Status::invalid_argument(format!(
            "RunPodSandbox: unknown port protocol {p}"
        ))),
    }
}

fn port(what: &str, n: i32) -> Result<u16, Status> {
    u16::try_from(n).map_err(|_| {
        Status::invalid_argument(format!("RunPodSandbox: {what} {n} is not a port number"))
    })
}

/// A `PodSandboxConfig` as the pods domain takes it.
fn pod_config(config: pb::PodSandboxConfig, runtime_handler: String) -> Result<PodConfig, Status> {
    let metadata = config
        .metadata
        .ok_or_else(|| missing_field("RunPodSandbox", "config.metadata"))?;
    let linux = config.linux.unwrap_or_default();
    let options = linux
        .security_context
        .as_ref()
        .and_then(|s| s.namespace_options.clone());
    let namespaces = match options {
        // No options: everything the pod's own, pids per container (kubelet's default).
        None => PodNamespaces {
            network: NamespaceMode::Pod,
            pid: NamespaceMode::Container,
            ipc: NamespaceMode::Pod,
        },
        Some(o) => {
            if o.userns_options
                .as_ref()
                .is_some_and(|u| u.mode != pb::NamespaceMode::Node as i32)
            {
                return Err(pod_status(&PodError::NotImplemented(
                    "user namespaces for pods (userns_options)".into(),
                )));
            }
            PodNamespaces {
                network: namespace_mode("network", o.network, false)?,
                pid: namespace_mode("pid", o.pid, true)?,
                ipc: namespace_mode("ipc", o.ipc, false)?,
            }
        }
    };
    let port_mappings = config
        .port_mappings
        .iter()
        .map(|p| {
            Ok(PortMapping {
                protocol: protocol(p.protocol)?.to_string(),
                container_port: port("container_port", p.container_port)?,
                host_port: port("host_port", p.host_port)?,
                host_ip: p.host_ip.clone(),
            })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    Ok(PodConfig {
        name: metadata.name,
        namespace: metadata.namespace,
        uid: metadata.uid,
        attempt: metadata.attempt,
        hostname: config.hostname,
        log_directory: config.log_directory,
        dns: config.dns_config.map(|d| DnsConfig {
            servers: d.servers,
            searches: d.searches,
            options: d.options,
        }),
        port_mappings,
        labels: config.labels.into_iter().collect(),
        annotations: config.annotations.into_iter().collect(),
        cgroup_parent: linux.cgroup_parent,
        sysctls: linux.sysctls.into_iter().collect(),
        namespaces,
        runtime_handler,
    })
}

fn metadata(c: &PodConfig) -> pb::PodSandboxMetadata {
    pb::PodSandboxMetadata {
        name: c.name.clone(),
        uid: c.uid.clone(),
        namespace: c.namespace.clone(),
        attempt: c.attempt,
    }
}

fn state(view: &PodView) -> pb::PodSandboxState {
    if view.ready {
        pb::PodSandboxState::SandboxReady
    } else {
        pb::PodSandboxState::SandboxNotready
    }
}

fn mode_pb(m: NamespaceMode) -> i32 {
    (match m {
        NamespaceMode::Pod => pb::NamespaceMode::Pod,
        NamespaceMode::Container => pb::NamespaceMode::Container,
        NamespaceMode::Node => pb::NamespaceMode::Node,
    }) as i32
}

fn status_pb(view: &PodView) -> pb::PodSandboxStatus {
    let r = &view.record;
    let c = &r.config;
    let network = r
        .network
        .as_ref()
        .filter(|n| !n.torn_down && !n.ip.is_empty())
        .map(|n| pb::PodSandboxNetworkStatus {
            ip: n.ip.clone(),
            additional_ips: n
                .additional_ips
                .iter()
                .map(|ip| pb::PodIp { ip: ip.clone() })
                .collect(),
        });
    pb::PodSandboxStatus {
        id: r.id.clone(),
        metadata: Some(metadata(c)),
        state: state(view) as i32,
        created_at: r.created_at_nanos,
        network,
        linux: Some(pb::LinuxPodSandboxStatus {
            namespaces: Some(pb::Namespace {
                options: Some(pb::NamespaceOption {
                    network: mode_pb(c.namespaces.network),
                    pid: mode_pb(c.namespaces.pid),
                    ipc: mode_pb(c.namespaces.ipc),
                    target_id: String::new(),
                    userns_options: None,
                }),
            }),
        }),
        labels: c.labels.clone().into_iter().collect(),
        annotations: c.annotations.clone().into_iter().collect(),
        runtime_handler: c.runtime_handler.clone(),
    }
}

fn sandbox_pb(view: &PodView) -> pb::PodSandbox {
    let c = &view.record.config;
    pb::PodSandbox {
        id: view.record.id.clone(),
        metadata: Some(metadata(c)),
        state: state(view) as i32,
        created_at: view.record.created_at_nanos,
        labels: c.labels.clone().into_iter().collect(),
        annotations: c.annotations.clone().into_iter().collect(),
        runtime_handler: c.runtime_handler.clone(),
    }
}

/// What `verbose` adds: the infra pid, the netns, the CNI result.
fn verbose_info(view: &PodView) -> HashMap<String, String> {
    let r = &view.record;
    let info = serde_json::json!({
        "pid": r.infra.map(|i| i.pid),
        "netns": r.netns,
        "cniResult": r.network.as_ref().map(|n| &n.result),
        "config": r.config,
    });
    HashMap::from([("info".to_string(), info.to_string())])
}

fn matches(view: &PodView, filter: &pb::PodSandboxFilter) -> bool {
    if !filter.id.is_empty() && !view.record.id.starts_with(&filter.id) {
        return false;
    }
    if let Some(s) = &filter.state {
        if s.state != state(view) as i32 {
            return false;
        }
    }
    filter
        .label_selector
        .iter()
        .all(|(k, v)| view.record.config.labels.get(k) == Some(v))
}

pub async fn run(
    pods: &Arc<PodService>,
    req: pb::RunPodSandboxRequest,
) -> Result<pb::RunPodSandboxResponse, Status> {
    let config = req
        .config
        .ok_or_else(|| missing_field("RunPodSandbox", "config"))?;
    let config = pod_config(config, req.runtime_handler)?;
    let id = blocking("RunPodSandbox", pods, move |p| p.run(config)).await?;
    Ok(pb::RunPodSandboxResponse { pod_sandbox_id: id })
}

pub async fn stop(pods: &Arc<PodService>, id: String) -> Result<(), Status> {
    if id.is_empty() {
        return Err(missing_field("StopPodSandbox", "pod_sandbox_id"));
    }
    blocking("StopPodSandbox", pods, move |p| p.stop(&id)).await
}

pub async fn remove(pods: &Arc<PodService>, id: String) -> Result<(), Status> {
    if id.is_empty() {
        return Err(missing_field("RemovePodSandbox", "pod_sandbox_id"));
    }
    blocking("RemovePodSandbox", pods, move |p| p.remove(&id)).await
}

pub async fn status(
    pods: &Arc<PodService>,
    req: pb::PodSandboxStatusRequest,
) -> Result<pb::PodSandboxStatusResponse, Status> {
    if req.pod_sandbox_id.is_empty() {
        return Err(missing_field("PodSandboxStatus", "pod_sandbox_id"));
    }
    let view = pods.get(&req.pod_sandbox_id).map_err(|e| pod_status(&e))?;
    Ok(pb::PodSandboxStatusResponse {
        status: Some(status_pb(&view)),
        info: if req.verbose {
            verbose_info(&view)
        } else {
            HashMap::new()
        },
        containers_statuses: Vec::new(),
        timestamp: crate::events::now_nanos(),
    })
}

pub fn list(pods: &PodService, filter: Option<pb::PodSandboxFilter>) -> Vec<pb::PodSandbox> {
    let filter = filter.unwrap_or_default();
    pods.list()
        .iter()
        .filter(|v| matches(v, &filter))
        .map(sandbox_pb)
        .collect()
}
