//! `berth.v1.System`: version and daemon information.

use crate::daemon::Daemon;
use berth_proto::v1 as pb;
use pb::system_server::{System, SystemServer};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The System service over a daemon.
pub struct SystemApi {
    daemon: Arc<Daemon>,
}

/// The tonic server of the System service.
pub fn server(daemon: Arc<Daemon>) -> SystemServer<SystemApi> {
    SystemServer::new(SystemApi { daemon })
}

/// `uname -r`.
fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// PRETTY_NAME of /etc/os-release.
fn operating_system() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "linux".into())
}

/// MemTotal of /proc/meminfo, in bytes.
fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// "2" on a unified cgroup hierarchy, "1" otherwise (hybrid counts as 1).
fn cgroup_version() -> String {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2".into()
    } else {
        "1".into()
    }
}

#[tonic::async_trait]
impl System for SystemApi {
    async fn version(
        &self,
        _: Request<pb::VersionRequest>,
    ) -> Result<Response<pb::VersionResponse>, Status> {
        Ok(Response::new(pb::VersionResponse {
            version: env!("CARGO_PKG_VERSION").into(),
            api_version: "1".into(),
            git_commit: option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown").into(),
            os: std::env::consts::OS.into(),
            arch: berth_docker::manifest::Platform::host().architecture,
            kernel_version: kernel_version(),
        }))
    }

    async fn info(
        &self,
        _: Request<pb::InfoRequest>,
    ) -> Result<Response<pb::InfoResponse>, Status> {
        let daemon = self.daemon.clone();
        let (images, content_size, snapshots_size) = tokio::task::spawn_blocking(move || {
            let images = daemon.images.count().unwrap_or(0) as i64;
            let content_size: u64 = daemon
                .images
                .content()
                .list()
                .map(|l| l.iter().map(|i| i.size).sum())
                .unwrap_or(0);
            let snapshotter = daemon.images.snapshotter();
            let snapshots_size: u64 = snapshotter
                .list()
                .map(|l| {
                    l.iter()
                        .filter_map(|s| snapshotter.usage(&s.key).ok())
                        .map(|u| u.size)
                        .sum()
                })
                .unwrap_or(0);
            (images, content_size as i64, snapshots_size as i64)
        })
        .await
        .map_err(|e| Status::internal(format!("info: {e}")))?;
        let options = &self.daemon.options;
        let counts = self.daemon.containers.counts();
        Ok(Response::new(pb::InfoResponse {
            server_version: env!("CARGO_PKG_VERSION").into(),
            root_dir: options.root.display().to_string(),
            state_dir: options.state.display().to_string(),
            snapshotter: self.daemon.images.snapshotter().name().to_string(),
            images,
            containers: counts.0 as i64,
            containers_running: counts.1 as i64,
            containers_paused: counts.2 as i64,
            containers_stopped: counts.3 as i64,
            kernel_version: kernel_version(),
            operating_system: operating_system(),
            os_type: std::env::consts::OS.into(),
            architecture: std::env::consts::ARCH.into(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            mem_total: mem_total(),
            name: hostname(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version(),
            content_size,
            snapshots_size,
            insecure_registries: self.daemon.images.registry_config().insecure.clone(),
            address: options.address.display().to_string(),
            pid: std::process::id() as i64,
        }))
    }
}
