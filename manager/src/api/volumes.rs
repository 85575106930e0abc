//! `berth.v1.Volumes`: a thin adapter over [`VolumeService`]; volume errors
//! become gRPC status codes in [`volume_status`].

use crate::volumes::filter::VolumeFilters;
use crate::volumes::service::{apparent_size, VolumeInfo};
use crate::volumes::{VolumeError, VolumeService};
use berth_proto::v1 as pb;
use pb::volumes_server::{Volumes, VolumesServer};
use std::sync::Arc;
use tonic::{Code, Request, Response, Status};

/// The gRPC status of a volume error (message unchanged: it is what the
/// user sees).
pub fn volume_status(e: &VolumeError) -> Status {
    let code = match e {
        VolumeError::NotFound(_) => Code::NotFound,
        VolumeError::InvalidArgument(_) => Code::InvalidArgument,
        VolumeError::InUse { .. } => Code::FailedPrecondition,
        VolumeError::NotImplemented(_) => Code::Unimplemented,
        VolumeError::Io { .. }
        | VolumeError::Mount { .. }
        | VolumeError::Record { .. }
        | VolumeError::Metadata(_) => Code::Internal,
    };
    Status::new(code, e.to_string())
}

/// The Volumes service's adapter.
pub struct VolumesApi {
    volumes: Arc<VolumeService>,
}

/// The tonic server of the Volumes service.
pub fn server(volumes: Arc<VolumeService>) -> VolumesServer<VolumesApi> {
    VolumesServer::new(VolumesApi { volumes })
}

/// docker's Volume object of a volume.
fn to_pb(v: VolumeInfo) -> pb::Volume {
    pb::Volume {
        size: -1,
        mountpoint: v.mountpoint.to_string_lossy().into_owned(),
        name: v.record.name,
        driver: v.record.driver,
        created_at: v.record.created_at,
        labels: v.record.labels.into_iter().collect(),
        options: v.record.options.into_iter().collect(),
        scope: "local".into(),
        containers: v.containers,
    }
}

impl VolumesApi {
    fn service(&self) -> Arc<VolumeService> {
        self.volumes.clone()
    }
}

/// Runs blocking volume work (database, file system) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VolumeError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| volume_status(&e))
}

#[tonic::async_trait]
impl Volumes for VolumesApi {
    async fn create(
        &self,
        request: Request<pb::CreateVolumeRequest>,
    ) -> Result<Response<pb::CreateVolumeResponse>, Status> {
        let req = request.into_inner();
        let service = self.service();
        let volume = blocking(move || {
            let record = service.create(
                Some(&req.name),
                Some(&req.driver),
                req.labels.into_iter().collect(),
                req.options.into_iter().collect(),
            )?;
            service.inspect(&record.name)
        })
        .await?;
        Ok(Response::new(pb::CreateVolumeResponse {
            volume: Some(to_pb(volume)),
        }))
    }

    async fn list(
        &self,
        request: Request<pb::ListVolumesRequest>,
    ) -> Result<Response<pb::ListVolumesResponse>, Status> {
        let req = request.into_inner();
        let service = self.service();
        let volumes = blocking(move || {
            let filters = VolumeFilters::parse(&req.filters)?;
            let volumes = service.list(&filters)?;
            Ok(volumes
                .into_iter()
                .map(|v| {
                    let size = req.size.then(|| apparent_size(&v.mountpoint) as i64);
                    pb::Volume {
                        size: size.unwrap_or(-1),
                        ..to_pb(v)
                    }
                })
                .collect())
        })
        .await?;
        Ok(Response::new(pb::ListVolumesResponse { volumes }))
    }

    async fn inspect(
        &self,
        request: Request<pb::InspectVolumeRequest>,
    ) -> Result<Response<pb::InspectVolumeResponse>, Status> {
        let req = request.into_inner();
        let service = self.service();
        let volume = blocking(move || service.inspect(&req.name)).await?;
        Ok(Response::new(pb::InspectVolumeResponse {
            volume: Some(to_pb(volume)),
        }))
    }

    async fn remove(
        &self,
        request: Request<pb::RemoveVolumeRequest>,
    ) -> Result<Response<pb::RemoveVolumeResponse>, Status> {
        let req = request.into_inner();
        let service = self.service();
        blocking(move || service.remove(&req.name, req.force)).await?;
        Ok(Response::new(pb::RemoveVolumeResponse {}))
    }

    async fn prune(
        &self,
        request: Request<pb::PruneVolumesRequest>,
    ) -> Result<Response<pb::PruneVolumesResponse>, Status> {
        let req = request.into_inner();
        let service = self.service();
        let (deleted, space_reclaimed) = blocking(move || {
            // docker's volume prune takes only label filters.
            if let Some(f) = req
                .filters
                .iter()
                .find(|f| !(f.starts_with("label=") || f.starts_with("label!=")))
            {
                return Err(VolumeError::InvalidArgument(format!(
                    "invalid filter '{}' (volume prune takes label and label!)",
                    f.split('=').next().unwrap_or(f)
                )));
            }
            let filters = VolumeFilters::parse(&req.filters)?;
            service.prune(req.all, &filters)
        })
        .await?;
        Ok(Response::new(pb::PruneVolumesResponse {
            deleted,
            space_reclaimed,
        }))
    }
}
