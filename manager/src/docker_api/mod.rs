//! The Docker Engine REST API (docker 20.10, API 1.41) on its own unix
//! socket: a second thin adapter beside the gRPC one ([`crate::api`]),
//! calling the same domain services in-process. Every HTTP type lives here;
//! domain errors become docker's status codes once, in [`error`].
//!
//! One module per concept: [`server`] (socket, connections, version prefix,
//! routing), [`system`] (`/_ping`, `/version`, `/info`, `/system/df`),
//! [`events`], [`containers`], [`create`] (docker's create body to the
//! domain's request), [`hijack`] (attach and exec streams over an upgraded
//! connection), [`exec`], [`files`] (changes, export, archive), [`stats`],
//! [`build`], [`images`] with [`progress`] (docker's JSON progress stream),
//! [`networks`], [`volumes`].

pub mod build;
pub mod containers;
pub mod create;
pub mod error;
pub mod events;
pub mod exec;
pub mod files;
pub mod hijack;
pub mod images;
pub mod networks;
pub mod progress;
pub mod query;
pub mod server;
pub mod stats;
pub mod system;
pub mod volumes;

use crate::builder::BuildService;
use crate::containers::ContainerService;
use crate::events::EventBus;
use crate::images::ImageService;
use crate::networks::NetworkService;
use crate::system::SystemService;
use crate::volumes::VolumeService;
use std::sync::Arc;

/// The API version served (docker 20.10's).
pub const API_VERSION: &str = "1.41";
/// The oldest versioned path accepted (docker 20.10's minimum).
pub const MIN_API_VERSION: &str = "1.24";

/// The domain services the Docker API serves, and the adapter's own state
/// (attaches waiting for their container's start, exec instances).
pub struct DockerApi {
    pub containers: Arc<ContainerService>,
    pub images: Arc<ImageService>,
    pub networks: Arc<NetworkService>,
    pub volumes: Arc<VolumeService>,
    pub events: Arc<EventBus>,
    pub system: Arc<SystemService>,
    pub builder: Arc<BuildService>,
    pub(crate) attaches: hijack::PendingAttaches,
    pub(crate) execs: exec::ExecInstances,
}

impl DockerApi {
    pub fn new(
        containers: Arc<ContainerService>,
        images: Arc<ImageService>,
        networks: Arc<NetworkService>,
        volumes: Arc<VolumeService>,
        events: Arc<EventBus>,
        system: Arc<SystemService>,
        builder: Arc<BuildService>,
    ) -> DockerApi {
        DockerApi {
            containers,
            images,
            networks,
            volumes,
            events,
            system,
            builder,
            attaches: Default::default(),
            execs: Default::default(),
        }
    }
}
