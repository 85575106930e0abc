//! The containers domain: container records, their tasks, and what users
//! do with them (docker's container commands).
//!
//! * [`service`]: [`ContainerService`] (its construction, the on-disk
//!   layout); its methods are spread by concept over [`store`] (records,
//!   names, the in-memory entries, the index), [`lifecycle`] (create, start,
//!   stop, kill, pause, wait, rm, rename), [`monitor`] (exits, lost shims,
//!   recovery after a restart of berthd), [`exec`] (exec, attach), [`ops`]
//!   (top, stats, update, prune), [`files`] (cp, diff, export, logs),
//!   [`commit`] (an image from a container's changes);
//! * [`task`]: the Task seam to a container's processes; its one
//!   implementation ([`task::shim`]) starts berth-shim and is the only module
//!   that speaks its gRPC API;
//! * [`record`], [`config`]: what is persisted about a container;
//! * [`restart`]: restart policies and their back-off;
//! * [`health`]: health checks, probes run as execs by berthd;
//! * [`network`], [`volumes`], [`ports`]: the containers' side of those
//!   domains (which never import this one);
//! * [`spec`]: the OCI runtime spec made from an image config and the user's
//!   options, with docker's defaults (capabilities, masked paths, seccomp);
//! * [`log_driver`]: the log driver and options of a container, checked at
//!   create as docker does, and the tag rendered at start;
//! * [`logs`]: reading a container's json-file log (tail, since, follow);
//! * [`archive`]: `diff`'s change walk over a container's root filesystem
//!   (cp's and export's tar rules are docker's: `berth_docker::archive`).

pub mod archive;
pub mod commit;
pub mod config;
pub mod crash_point;
pub mod exec;
pub mod files;
pub mod filter;
pub mod health;
pub mod joins;
pub mod lifecycle;
pub mod links;
pub mod log_driver;
pub mod logs;
pub mod monitor;
pub mod network;
pub mod ops;
pub mod ports;
pub mod record;
pub mod restart;
pub mod service;
pub mod shm;
pub mod spec;
pub mod store;
pub mod task;
pub mod view;
pub mod volumes;

pub use service::ContainerService;

/// The exit code of an exec whose process could not start (docker's 126).
pub const EXEC_START_FAILED: i32 = 126;

impl From<log_driver::LogConfigError> for ContainerError {
    fn from(e: log_driver::LogConfigError) -> Self {
        use log_driver::LogConfigError as E;
        match e {
            E::Invalid(msg) => ContainerError::InvalidArgument(msg),
            E::NotImplemented(driver) => {
                ContainerError::NotImplemented(format!("log driver {driver}"))
            }
            E::OptionNotImplemented(what) => ContainerError::NotImplemented(what),
        }
    }
}

impl From<berth_store::snapshot::SnapshotError> for ContainerError {
    fn from(e: berth_store::snapshot::SnapshotError) -> Self {
        ContainerError::Store(e.into())
    }
}

impl From<berth_store::mount::MountError> for ContainerError {
    fn from(e: berth_store::mount::MountError) -> Self {
        ContainerError::Store(e.into())
    }
}

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
    /// An exec whose process could not start, worded as docker's shim
    /// (containerd's `OCI runtime exec failed`). docker's daemon gives
    /// every such exec exit code 126, a missing binary too
    /// (daemon/exec.go), unlike a container's start (127).
    #[error("OCI runtime exec failed: {0}")]
    ExecFailed(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    /// The container's task (its shim, or the runtime under it).
    #[error(transparent)]
    Task(#[from] task::TaskError),
    #[error(transparent)]
    Image(Box<crate::images::ImageError>),
    /// A network hook failed (address allocation, veth, container:ID).
    #[error(transparent)]
    Network(#[from] crate::networks::NetworkError),
    #[error(transparent)]
    Metadata(#[from] berth_store::metadata::MetadataError),
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
    /// The snapshotter or a mount of the container's root filesystem.
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    /// A file or directory of the container's on the host.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A blocking job of the operation died (it panicked or was cancelled).
    #[error("background job: {0}")]
    Background(#[from] tokio::task::JoinError),
    /// A container's log could not be opened for reading.
    #[error("read logs of {id}: {source}")]
    Logs {
        id: String,
        #[source]
        source: logs::LogError,
    },
    /// The published ports' nftables rules.
    #[error(transparent)]
    Ports(#[from] crate::networks::ports::PublishError),
    #[error("{0}")]
    Internal(String),
    /// A path inside a container that does not exist (`cp`): NotFound, but not
    /// "No such container", which the CLI reads as the container missing.
    #[error("{0}")]
    PathNotFound(String),
}
