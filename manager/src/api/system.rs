//! `berth.v1.System`: version and daemon information, over the
//! [`SystemService`].

use crate::system::SystemService;
use berth_proto::v1 as pb;
use pb::system_server::{System, SystemServer};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The System service's adapter.
pub struct SystemApi {
    system: Arc<SystemService>,
}

/// The tonic server of the System service.
pub fn server(system: Arc<SystemService>) -> SystemServer<SystemApi> {
    SystemServer::new(SystemApi { system })
}

#[tonic::async_trait]
impl System for SystemApi {
    async fn version(
        &self,
        _: Request<pb::VersionRequest>,
    ) -> Result<Response<pb::VersionResponse>, Status> {
        let v = self.system.version();
        Ok(Response::new(pb::VersionResponse {
            version: v.version,
            api_version: "1".into(),
            git_commit: v.git_commit,
            os: v.os,
            arch: v.arch,
            kernel_version: v.kernel_version,
        }))
    }

    async fn info(
        &self,
        _: Request<pb::InfoRequest>,
    ) -> Result<Response<pb::InfoResponse>, Status> {
        let system = self.system.clone();
        let i = tokio::task::spawn_blocking(move || system.info_blocking())
            .await
            .map_err(|e| Status::internal(format!("info: {e}")))?;
        Ok(Response::new(pb::InfoResponse {
            server_version: env!("CARGO_PKG_VERSION").into(),
            root_dir: i.root_dir.display().to_string(),
            state_dir: i.state_dir.display().to_string(),
            snapshotter: i.snapshotter,
            images: i.images,
            containers: i.containers.0 as i64,
            containers_running: i.containers.1 as i64,
            containers_paused: i.containers.2 as i64,
            containers_stopped: i.containers.3 as i64,
            kernel_version: i.kernel_version,
            operating_system: i.operating_system,
            os_type: i.os_type,
            architecture: i.architecture,
            ncpu: i.ncpu,
            mem_total: i.mem_total,
            name: i.name,
            cgroup_driver: i.cgroup_driver,
            cgroup_version: i.cgroup_version,
            content_size: i.content_size,
            snapshots_size: i.snapshots_size,
            insecure_registries: i.insecure_registries,
            address: i.address.display().to_string(),
            pid: std::process::id() as i64,
        }))
    }
}
