//! Berth's gRPC API. The `.proto` files live in `proto/berth/<area>/<version>/`;
//! `build.rs` generates the tonic/prost code and each package is included here
//! as a module named after it.
//!
//! * `berth.shim.v1` ([`shim::v1`]): the per-container supervisor's task API.
//! * `berth.v1` ([`v1`]): berthd's public API (images, content, containers, ...).
pub mod v1 {
    tonic::include_proto!("berth.v1");
}
pub mod shim {
    pub mod v1 {
        tonic::include_proto!("berth.shim.v1");
    }
}
