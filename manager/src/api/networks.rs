//! `berth.v1.Networks`: a thin adapter over [`crate::networks::NetworkService`].

use crate::containers::ContainerService;
use crate::networks::{view, CreateNetwork, EndpointRequest, NetworkError, NetworkService};
use berth_proto::v1 as pb;
use pb::networks_server::{Networks, NetworksServer};
use std::collections::BTreeMap;
use std::sync::Arc;
use tonic::{Code, Request, Response, Status};

/// The gRPC status of a network error (message unchanged).
pub fn network_status(e: &NetworkError) -> Status {
    let code = match e {
        NetworkError::NotFound(_) => Code::NotFound,
        NetworkError::Conflict(_) => Code::AlreadyExists,
        NetworkError::InvalidArgument(_) => Code::InvalidArgument,
        NetworkError::FailedPrecondition(_) => Code::FailedPrecondition,
        NetworkError::NotImplemented(_) => Code::Unimplemented,
        _ => Code::Internal,
    };
    Status::new(code, e.to_string())
}

fn st(e: NetworkError) -> Status {
    network_status(&e)
}

/// The Networks service's adapter; `network connect`/`disconnect` are
/// container operations (the containers domain gives the networks domain
/// what it needs of the container).
pub struct NetworksApi {
    networks: Arc<NetworkService>,
    containers: Arc<ContainerService>,
}

/// The tonic server of the Networks service.
pub fn server(
    networks: Arc<NetworkService>,
    containers: Arc<ContainerService>,
) -> NetworksServer<NetworksApi> {
    NetworksServer::new(NetworksApi {
        networks,
        containers,
    })
}

impl NetworksApi {
    /// Container id -> current name.
    fn names(&self) -> BTreeMap<String, String> {
        self.containers
            .list_records()
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect()
    }
}

#[tonic::async_trait]
impl Networks for NetworksApi {
    async fn create(
        &self,
        request: Request<pb::CreateNetworkRequest>,
    ) -> Result<Response<pb::CreateNetworkResponse>, Status> {
        let r = request.into_inner();
        let record = self
            .networks
            .create(CreateNetwork {
                name: r.name,
                driver: r.driver,
                subnet: (!r.subnet.is_empty()).then_some(r.subnet),
                gateway: (!r.gateway.is_empty()).then_some(r.gateway),
                labels: r.labels.into_iter().collect(),
                options: r.options.into_iter().collect(),
                internal: r.internal,
            })
            .await
            .map_err(st)?;
        Ok(Response::new(pb::CreateNetworkResponse { id: record.id }))
    }

    async fn list(
        &self,
        request: Request<pb::ListNetworksRequest>,
    ) -> Result<Response<pb::ListNetworksResponse>, Status> {
        let filters: BTreeMap<String, Vec<String>> = request
            .into_inner()
            .filters
            .into_iter()
            .map(|(k, v)| (k, v.values))
            .collect();
        let mut networks = Vec::new();
        for p in self.networks.predefined() {
            if !view::matches(&p.filter_view(), &filters).map_err(Status::invalid_argument)? {
                continue;
            }
            networks.push(pb::NetworkSummary {
                id: p.id.clone(),
                name: p.name.into(),
                driver: p.driver.into(),
                scope: "local".into(),
                created: p.created.clone(),
                subnet: String::new(),
                gateway: String::new(),
                labels: Default::default(),
                internal: false,
                containers: 0,
            });
        }
        for n in self.networks.list().map_err(st)? {
            if !view::matches(&view::FilterView::of(&n), &filters)
                .map_err(Status::invalid_argument)?
            {
                continue;
            }
            networks.push(pb::NetworkSummary {
                id: n.id.clone(),
                name: n.name.clone(),
                driver: n.driver.clone(),
                scope: "local".into(),
                created: n.created.clone(),
                subnet: n.subnet.to_string(),
                gateway: n.gateway.to_string(),
                labels: n.labels.clone().into_iter().collect(),
                internal: n.internal,
                containers: n.endpoints.len() as u32,
            });
        }
        // docker's order: by name.
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Response::new(pb::ListNetworksResponse { networks }))
    }

    async fn inspect(
        &self,
        request: Request<pb::InspectNetworkRequest>,
    ) -> Result<Response<pb::InspectNetworkResponse>, Status> {
        let id = request.into_inner().id;
        if let Some(p) = self.networks.find_predefined(&id) {
            return Ok(Response::new(pb::InspectNetworkResponse {
                json: serde_json::to_string(&self.networks.inspect_predefined(&p))
                    .expect("serialise a network"),
            }));
        }
        let n = self.networks.resolve(&id).map_err(st)?;
        let resource = view::inspect(&n, &self.names());
        Ok(Response::new(pb::InspectNetworkResponse {
            json: serde_json::to_string(&resource).expect("serialise a network"),
        }))
    }

    async fn remove(
        &self,
        request: Request<pb::RemoveNetworkRequest>,
    ) -> Result<Response<pb::RemoveNetworkResponse>, Status> {
        let id = request.into_inner().id;
        if let Some(p) = self.networks.find_predefined(&id) {
            return Err(Status::failed_precondition(format!(
                "{} is a pre-defined network and cannot be removed",
                p.name
            )));
        }
        self.networks.remove(&id).await.map_err(st)?;
        Ok(Response::new(pb::RemoveNetworkResponse {}))
    }

    async fn prune(
        &self,
        _request: Request<pb::PruneNetworksRequest>,
    ) -> Result<Response<pb::PruneNetworksResponse>, Status> {
        let deleted = self.networks.prune().await.map_err(st)?;
        Ok(Response::new(pb::PruneNetworksResponse { deleted }))
    }

    async fn connect_container(
        &self,
        request: Request<pb::ConnectNetworkRequest>,
    ) -> Result<Response<pb::ConnectNetworkResponse>, Status> {
        let r = request.into_inner();
        let req = EndpointRequest {
            aliases: r.aliases,
            ip: (!r.ip.is_empty()).then_some(r.ip),
            mac: None,
            links: r.links,
            link_local_ips: r.link_local_ips,
        };
        self.containers
            .connect_network(&r.network, &r.container, &req)
            .await
            .map_err(|e| crate::api::containers::container_status(&e))?;
        Ok(Response::new(pb::ConnectNetworkResponse {}))
    }

    async fn disconnect_container(
        &self,
        request: Request<pb::DisconnectNetworkRequest>,
    ) -> Result<Response<pb::DisconnectNetworkResponse>, Status> {
        let r = request.into_inner();
        self.containers
            .disconnect_network(&r.network, &r.container, r.force)
            .await
            .map_err(|e| crate::api::containers::container_status(&e))?;
        Ok(Response::new(pb::DisconnectNetworkResponse {}))
    }
}
