//! berthd, the daemon. The `berth` CLI is its own crate (manager/cli), which
//! reaches berthd only through the gRPC API.
//!
//! * [`daemon`]: berthd's start-up, configuration and API socket;
//! * [`api`]: thin gRPC adapters over the domain services (`berth.v1`);
//! * [`images`]: the images domain (pull, push, tag, rmi, save, load, import)
//!   over berth-store's content store, metadata and snapshotters;
//! * [`registry`]: the OCI distribution / Docker registry v2 client;
//! * image references and image formats are docker's conventions: `berth_docker`;
#![recursion_limit = "256"]

pub mod api;
pub mod containers;
pub mod daemon;
pub mod events;
pub mod ids;
pub mod images;
pub mod networks;
pub mod registry;
pub mod system;
pub mod volumes;
