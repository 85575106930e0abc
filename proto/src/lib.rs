//! Berth's gRPC API. The `.proto` files live in `proto/berth/<area>/<version>/`;
//! `build.rs` generates the tonic/prost code and each package is included here
//! as a module named after it.
//!
//! * `berth.shim.v1` ([`shim::v1`]): the per-container supervisor's task API.
//! * `berth.v1` ([`v1`]): berthd's public API (images, content, containers, ...).
//! * `runtime.v1` ([`cri::v1`]): Kubernetes' Container Runtime Interface, the
//!   API a kubelet speaks to its runtime (vendored from kubernetes/cri-api,
//!   `proto/k8s/cri/v1/api.proto`).
//!
//! Besides the generated code, [`dial_unix`] opens a channel over a unix
//! socket (berthd's API socket, a shim's task socket) and [`DEFAULT_ADDRESS`]
//! is berthd's socket path: everything that dials shares them, so the wire
//! crate is the only place that knows how the wire is reached.
mod dial;
pub use dial::{dial_unix, CONNECTION_WINDOW, DEFAULT_ADDRESS, STREAM_WINDOW};

/// The status metadata berthd adds to an error so that a client tells its
/// kinds apart by key, never by the message's text.
pub mod status {
    /// A failed start's exit code as docker gives it (126, 127, 128...).
    pub const EXIT_CODE: &str = "berth-exit-code";
    /// What a `NotFound` is missing: [`MISSING_CONTAINER`],
    /// [`MISSING_IMAGE`] or [`MISSING_PATH`] (a path inside a container).
    pub const MISSING: &str = "berth-missing";
    pub const MISSING_CONTAINER: &str = "container";
    pub const MISSING_IMAGE: &str = "image";
    pub const MISSING_PATH: &str = "path";

    /// What `status` says is missing, if berthd said.
    pub fn missing(status: &tonic::Status) -> Option<&str> {
        status.metadata().get(MISSING)?.to_str().ok()
    }
}

pub mod v1 {
    tonic::include_proto!("berth.v1");
}
pub mod shim {
    pub mod v1 {
        tonic::include_proto!("berth.shim.v1");
    }
}
/// Kubernetes' Container Runtime Interface.
pub mod cri {
    /// CRI v1 (`runtime.v1`): `RuntimeService` and `ImageService`, server
    /// and client.
    pub mod v1 {
        #![allow(clippy::all)]
        tonic::include_proto!("runtime.v1");
    }
}
