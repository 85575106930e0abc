//! The CRI `RuntimeService`. What berthd serves today: `Version`, `Status`
//! (runtime ready; network ready when the CNI conf dir holds a config that
//! loads), `RuntimeConfig` (the cgroup driver a kubelet must match) and the
//! pod sandbox calls (`sandbox`). Containers, streaming, stats, checkpoints
//! and events answer `Unimplemented` with "not implemented: CRI <Rpc>": a
//! kubelet cannot run pods' containers on berthd yet, and says so instead
//! of failing later.

use super::sandbox;
use super::status::not_implemented;
use super::{CRI_API_VERSION, KUBELET_API_VERSION, RUNTIME_NAME};
use crate::pods::PodService;
use crate::system::SystemService;
use berth_proto::cri::v1 as pb;
use pb::runtime_service_server::RuntimeService;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The `RuntimeService` adapter.
pub struct CriRuntime {
    pods: Arc<PodService>,
    system: Arc<SystemService>,
}

impl CriRuntime {
    pub fn new(pods: Arc<PodService>, system: Arc<SystemService>) -> CriRuntime {
        CriRuntime { pods, system }
    }
}

/// The stream type of a streaming call berthd does not serve.
type NotImplementedStream<T> = tokio_stream::Empty<Result<T, Status>>;

/// The CRI's runtime condition types (the kubelet checks both).
pub const RUNTIME_READY: &str = "RuntimeReady";
pub const NETWORK_READY: &str = "NetworkReady";

/// The `Status` conditions: berthd answering is the runtime being ready;
/// the network is ready when pods can get one (a CNI config that loads;
/// otherwise a kubelet keeps the node NotReady, which is the truth).
fn conditions(network: Result<(), crate::pods::PodError>) -> Vec<pb::RuntimeCondition> {
    let (ready, message) = match network {
        Ok(()) => (true, String::new()),
        Err(e) => (false, e.to_string()),
    };
    vec![
        pb::RuntimeCondition {
            r#type: RUNTIME_READY.into(),
            status: true,
            reason: String::new(),
            message: String::new(),
        },
        pb::RuntimeCondition {
            r#type: NETWORK_READY.into(),
            status: ready,
            reason: if ready {
                String::new()
            } else {
                "NetworkPluginNotReady".into()
            },
            message,
        },
    ]
}

#[tonic::async_trait]
impl RuntimeService for CriRuntime {
    async fn version(
        &self,
        _request: Request<pb::VersionRequest>,
    ) -> Result<Response<pb::VersionResponse>, Status> {
        Ok(Response::new(pb::VersionResponse {
            version: KUBELET_API_VERSION.into(),
            runtime_name: RUNTIME_NAME.into(),
            runtime_version: self.system.version().version,
            runtime_api_version: CRI_API_VERSION.into(),
        }))
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let mut info = HashMap::new();
        if request.into_inner().verbose {
            // containerd answers its CRI config under "config"; ours is
            // where berthd keeps things and how cgroups are driven.
            let paths = self.system.paths();
            let config = serde_json::json!({
                "root": paths.root,
                "state": paths.state,
                "cgroupDriver": self.system.cgroup_driver(),
                "runtimeVersion": self.system.version().version,
            });
            info.insert("config".to_string(), config.to_string());
        }
        Ok(Response::new(pb::StatusResponse {
            status: Some(pb::RuntimeStatus {
                conditions: conditions(self.pods.network_ready()),
            }),
            info,
            runtime_handlers: Vec::new(),
            features: None,
        }))
    }

    async fn runtime_config(
        &self,
        _request: Request<pb::RuntimeConfigRequest>,
    ) -> Result<Response<pb::RuntimeConfigResponse>, Status> {
        let driver = match self.system.cgroup_driver() {
            "systemd" => pb::CgroupDriver::Systemd,
            _ => pb::CgroupDriver::Cgroupfs,
        };
        Ok(Response::new(pb::RuntimeConfigResponse {
            linux: Some(pb::LinuxRuntimeConfiguration {
                cgroup_driver: driver as i32,
            }),
        }))
    }

    async fn run_pod_sandbox(
        &self,
        request: Request<pb::RunPodSandboxRequest>,
    ) -> Result<Response<pb::RunPodSandboxResponse>, Status> {
        sandbox::run(&self.pods, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn stop_pod_sandbox(
        &self,
        request: Request<pb::StopPodSandboxRequest>,
    ) -> Result<Response<pb::StopPodSandboxResponse>, Status> {
        sandbox::stop(&self.pods, request.into_inner().pod_sandbox_id).await?;
        Ok(Response::new(pb::StopPodSandboxResponse {}))
    }

    async fn remove_pod_sandbox(
        &self,
        request: Request<pb::RemovePodSandboxRequest>,
    ) -> Result<Response<pb::RemovePodSandboxResponse>, Status> {
        sandbox::remove(&self.pods, request.into_inner().pod_sandbox_id).await?;
        Ok(Response::new(pb::RemovePodSandboxResponse {}))
    }

    async fn pod_sandbox_status(
        &self,
        request: Request<pb::PodSandboxStatusRequest>,
    ) -> Result<Response<pb::PodSandboxStatusResponse>, Status> {
        sandbox::status(&self.pods, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_pod_sandbox(
        &self,
        request: Request<pb::ListPodSandboxRequest>,
    ) -> Result<Response<pb::ListPodSandboxResponse>, Status> {
        let items = sandbox::list(&self.pods, request.into_inner().filter);
        Ok(Response::new(pb::ListPodSandboxResponse { items }))
    }

    type StreamPodSandboxesStream = NotImplementedStream<pb::StreamPodSandboxesResponse>;

    async fn stream_pod_sandboxes(
        &self,
        _request: Request<pb::StreamPodSandboxesRequest>,
    ) -> Result<Response<Self::StreamPodSandboxesStream>, Status> {
        Err(not_implemented("StreamPodSandboxes"))
    }

    async fn create_container(
        &self,
        _request: Request<pb::CreateContainerRequest>,
    ) -> Result<Response<pb::CreateContainerResponse>, Status> {
        Err(not_implemented("CreateContainer"))
    }

    async fn start_container(
        &self,
        _request: Request<pb::StartContainerRequest>,
    ) -> Result<Response<pb::StartContainerResponse>, Status> {
        Err(not_implemented("StartContainer"))
    }

    async fn stop_container(
        &self,
        _request: Request<pb::StopContainerRequest>,
    ) -> Result<Response<pb::StopContainerResponse>, Status> {
        Err(not_implemented("StopContainer"))
    }

    async fn remove_container(
        &self,
        _request: Request<pb::RemoveContainerRequest>,
    ) -> Result<Response<pb::RemoveContainerResponse>, Status> {
        Err(not_implemented("RemoveContainer"))
    }

    async fn list_containers(
        &self,
        _request: Request<pb::ListContainersRequest>,
    ) -> Result<Response<pb::ListContainersResponse>, Status> {
        Err(not_implemented("ListContainers"))
    }

    type StreamContainersStream = NotImplementedStream<pb::StreamContainersResponse>;

    async fn stream_containers(
        &self,
        _request: Request<pb::StreamContainersRequest>,
    ) -> Result<Response<Self::StreamContainersStream>, Status> {
        Err(not_implemented("StreamContainers"))
    }

    async fn container_status(
        &self,
        _request: Request<pb::ContainerStatusRequest>,
    ) -> Result<Response<pb::ContainerStatusResponse>, Status> {
        Err(not_implemented("ContainerStatus"))
    }

    async fn update_container_resources(
        &self,
        _request: Request<pb::UpdateContainerResourcesRequest>,
    ) -> Result<Response<pb::UpdateContainerResourcesResponse>, Status> {
        Err(not_implemented("UpdateContainerResources"))
    }

    async fn reopen_container_log(
        &self,
        _request: Request<pb::ReopenContainerLogRequest>,
    ) -> Result<Response<pb::ReopenContainerLogResponse>, Status> {
        Err(not_implemented("ReopenContainerLog"))
    }

    async fn exec_sync(
        &self,
        _request: Request<pb::ExecSyncRequest>,
    ) -> Result<Response<pb::ExecSyncResponse>, Status> {
        Err(not_implemented("ExecSync"))
    }

    async fn exec(
        &self,
        _request: Request<pb::ExecRequest>,
    ) -> Result<Response<pb::ExecResponse>, Status> {
        Err(not_implemented("Exec"))
    }

    async fn attach(
        &self,
        _request: Request<pb::AttachRequest>,
    ) -> Result<Response<pb::AttachResponse>, Status> {
        Err(not_implemented("Attach"))
    }

    async fn port_forward(
        &self,
        _request: Request<pb::PortForwardRequest>,
    ) -> Result<Response<pb::PortForwardResponse>, Status> {
        Err(not_implemented("PortForward"))
    }

    async fn container_stats(
        &self,
        _request: Request<pb::ContainerStatsRequest>,
    ) -> Result<Response<pb::ContainerStatsResponse>, Status> {
        Err(not_implemented("ContainerStats"))
    }

    async fn list_container_stats(
        &self,
        _request: Request<pb::ListContainerStatsRequest>,
    ) -> Result<Response<pb::ListContainerStatsResponse>, Status> {
        Err(not_implemented("ListContainerStats"))
    }

    type StreamContainerStatsStream = NotImplementedStream<pb::StreamContainerStatsResponse>;

    async fn stream_container_stats(
        &self,
        _request: Request<pb::StreamContainerStatsRequest>,
    ) -> Result<Response<Self::StreamContainerStatsStream>, Status> {
        Err(not_implemented("StreamContainerStats"))
    }

    async fn pod_sandbox_stats(
        &self,
        _request: Request<pb::PodSandboxStatsRequest>,
    ) -> Result<Response<pb::PodSandboxStatsResponse>, Status> {
        Err(not_implemented("PodSandboxStats"))
    }

    async fn list_pod_sandbox_stats(
        &self,
        _request: Request<pb::ListPodSandboxStatsRequest>,
    ) -> Result<Response<pb::ListPodSandboxStatsResponse>, Status> {
        Err(not_implemented("ListPodSandboxStats"))
    }

    type StreamPodSandboxStatsStream = NotImplementedStream<pb::StreamPodSandboxStatsResponse>;

    async fn stream_pod_sandbox_stats(
        &self,
        _request: Request<pb::StreamPodSandboxStatsRequest>,
    ) -> Result<Response<Self::StreamPodSandboxStatsStream>, Status> {
        Err(not_implemented("StreamPodSandboxStats"))
    }

    async fn update_runtime_config(
        &self,
        _request: Request<pb::UpdateRuntimeConfigRequest>,
    ) -> Result<Response<pb::UpdateRuntimeConfigResponse>, Status> {
        Err(not_implemented("UpdateRuntimeConfig"))
    }

    async fn checkpoint_container(
        &self,
        _request: Request<pb::CheckpointContainerRequest>,
    ) -> Result<Response<pb::CheckpointContainerResponse>, Status> {
        Err(not_implemented("CheckpointContainer"))
    }

    async fn checkpoint_pod(
        &self,
        _request: Request<pb::CheckpointPodRequest>,
    ) -> Result<Response<pb::CheckpointPodResponse>, Status> {
        Err(not_implemented("CheckpointPod"))
    }

    async fn restore_pod(
        &self,
        _request: Request<pb::RestorePodRequest>,
    ) -> Result<Response<pb::RestorePodResponse>, Status> {
        Err(not_implemented("RestorePod"))
    }

    type GetContainerEventsStream = NotImplementedStream<pb::ContainerEventResponse>;

    async fn get_container_events(
        &self,
        _request: Request<pb::GetEventsRequest>,
    ) -> Result<Response<Self::GetContainerEventsStream>, Status> {
        Err(not_implemented("GetContainerEvents"))
    }

    async fn list_metric_descriptors(
        &self,
        _request: Request<pb::ListMetricDescriptorsRequest>,
    ) -> Result<Response<pb::ListMetricDescriptorsResponse>, Status> {
        Err(not_implemented("ListMetricDescriptors"))
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _request: Request<pb::ListPodSandboxMetricsRequest>,
    ) -> Result<Response<pb::ListPodSandboxMetricsResponse>, Status> {
        Err(not_implemented("ListPodSandboxMetrics"))
    }

    type StreamPodSandboxMetricsStream = NotImplementedStream<pb::StreamPodSandboxMetricsResponse>;

    async fn stream_pod_sandbox_metrics(
        &self,
        _request: Request<pb::StreamPodSandboxMetricsRequest>,
    ) -> Result<Response<Self::StreamPodSandboxMetricsStream>, Status> {
        Err(not_implemented("StreamPodSandboxMetrics"))
    }

    async fn update_pod_sandbox_resources(
        &self,
        _request: Request<pb::UpdatePodSandboxResourcesRequest>,
    ) -> Result<Response<pb::UpdatePodSandboxResourcesResponse>, Status> {
        Err(not_implemented("UpdatePodSandboxResources"))
    }
}
