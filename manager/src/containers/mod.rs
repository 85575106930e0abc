//! The containers domain: container records, their shims and tasks, and
//! what users do with them (docker's container commands).
//!
//! * [`service`]: [`ContainerService`], the lifecycle (create, start, stop,
//!   kill, rm, wait, pause, rename) over records, snapshots and shims;
//! * [`record`], [`config`]: what is persisted about a container;
//! * [`restart`]: restart policies and their back-off;
//! * [`health`]: health checks, probes run as execs by berthd;
//! * [`shim`]: starting berth-shim and speaking its gRPC API;
//! * [`spec`]: the OCI runtime spec made from an image config and the user's
//!   options, with docker's defaults (capabilities, masked paths, seccomp);
//! * [`logs`]: reading a container's json-file log (tail, since, follow);
//! * [`archive`]: `cp`, `diff` and `export` over a container's root
//!   filesystem.

pub mod archive;
pub mod config;
pub mod crash_point;
pub mod exec;
pub mod files;
pub mod filter;
pub mod health;
pub mod logs;
pub mod ops;
pub mod ports;
pub mod record;
pub mod restart;
pub mod service;
pub mod shim;
pub mod spec;
pub mod view;

pub use service::ContainerService;

/// What a container operation can fail with; the gRPC adapter maps each
/// variant to one status code.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No container by that id, prefix or name.
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("No such image: {0}")]
    ImageNotFound(String),
    /// A name in use.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// The container is in the wrong state for the operation.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The runtime could not start the process; `code` is docker's exit
    /// code for it (126, 127, else 128).
    #[error("failed to create task for container: {message}")]
    StartFailed { message: String, code: i32 },
    #[error("not implemented: {0}")]
    NotImplemented(String),
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    Shim(#[from] shim::ShimError),
    #[error(transparent)]
    Image(Box<crate::images::ImageError>),
    /// A network hook failed (address allocation, veth, container:ID).
    #[error(transparent)]
    Network(#[from] crate::networks::NetworkError),
    #[error(transparent)]
    Metadata(#[from] berth_store::metadata::MetadataError),
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
    #[error("{0}")]
    Internal(String),
    /// A path inside a container that does not exist (`cp`): NotFound, but not
    /// "No such container", which the CLI reads as the container missing.
    #[error("{0}")]
    PathNotFound(String),
}
