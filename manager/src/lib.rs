//! berthd (the daemon) and berth (the CLI over its gRPC API).
//!
//! * [`daemon`]: berthd's start-up, configuration and API socket;
//! * [`api`]: thin gRPC adapters over the domain services (`berth.v1`);
//! * [`images`]: the images domain (pull, push, tag, rmi, save, load, import)
//!   over berth-store's content store, metadata and snapshotters;
//! * [`registry`]: the OCI distribution / Docker registry v2 client;
//! * [`reference`], [`manifest`]: image references and image formats;
//! * [`cli`]: the `berth` command line, which talks only gRPC.
#![recursion_limit = "256"]

pub mod api;
pub mod cli;
pub mod containers;
pub mod daemon;
pub mod events;
pub mod ids;
pub mod images;
pub mod manifest;
pub mod networks;
pub mod reference;
pub mod registry;
pub mod system;
pub mod volumes;
