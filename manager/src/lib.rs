//! berthd, the daemon. The `berth` CLI is its own crate (manager/cli), which
//! reaches berthd only through the gRPC API.
//!
//! # Where each concept lives (the walls)
//!
//! ```text
//! api/          the gRPC adapter (berth.v1): one module per service, each holding
//!               the domain services it serves (never the Daemon); every pb/tonic
//!               type stays here; domain errors become status codes once, by type;
//!               panic_guard answers a panicking request with an internal error
//! docker_api/   the Docker Engine REST API adapter (API 1.41) on its own socket:
//!               server (HTTP, version prefix, routes), one module per concept;
//!               HTTP types stay here; domain errors become docker's codes once
//! cri/          the Kubernetes CRI v1 adapter (runtime.v1) on its own socket:
//!               server, runtime service, image service; pb types stay here;
//!               domain errors become gRPC codes once (cri/status)
//! containers/   the containers domain over a Task seam (task/: the trait, and the
//!               berth-shim client, the only module speaking berth.shim.v1);
//!               store (records, names, index), lifecycle, monitor (exits,
//!               recovery), exec, ops, files, health, restart, network and
//!               volumes (its side of those domains), spec/, logs/, archive/
//! images/       the images domain over berth-store; publishes image events
//! pods/         Kubernetes pod sandboxes: records, the infra process holding
//!               the pod's namespaces, its network through CNI (for cri/)
//! networks/     bridges, addresses, ports, firewall; never imports containers:
//!               it gets Members (names, modes) from the containers' index
//! volumes/      local volumes; never imports containers: it gets WantedVolumes
//!               and VolumeUsers
//! system        version and info, gathered for every adapter
//! events        the event bus every domain publishes to
//! daemon/       start-up: config, locks, the socket, wiring the services
//! registry/     the OCI distribution client
//! ids           random ids
//! ```
//!
//! Domains depend downwards only: containers on images, networks and volumes
//! (and they on nothing of it); the adapters on the domains; the daemon on
//! all. A second adapter (the Docker Engine API, the CRI) sits beside `api/`
//! over the same services. Docker's conventions shared with the CLI (image
//! references, manifests, sizes, durations, cp's archive rules) are in
//! `berth_docker`; storage (content, metadata, snapshots, layers) in
//! `berth_store`.
#![recursion_limit = "256"]

pub mod api;
pub mod builder;
pub mod containers;
pub mod cri;
pub mod daemon;
pub mod docker_api;
pub mod events;
pub mod ids;
pub mod images;
pub mod networks;
pub mod pods;
pub mod registry;
pub mod system;
pub mod volumes;
