//! Berth's gRPC API. The `.proto` files live in `proto/berth/<area>/<version>/`;
//! `build.rs` generates the tonic/prost code and each package is included here
//! as a module named after it.
//!
//! * `berth.shim.v1` ([`shim::v1`]): the per-container supervisor's task API.
//! * `berth.v1` ([`v1`]): berthd's public API (images, content, containers, ...).
//!
//! Besides the generated code, [`dial_unix`] opens a channel over a unix
//! socket (berthd's API socket, a shim's task socket) and [`DEFAULT_ADDRESS`]
//! is berthd's socket path: everything that dials shares them, so the wire
//! crate is the only place that knows how the wire is reached.
mod dial;
pub use dial::{dial_unix, DEFAULT_ADDRESS};

pub mod v1 {
    tonic::include_proto!("berth.v1");
}
pub mod shim {
    pub mod v1 {
        tonic::include_proto!("berth.shim.v1");
    }
}
