//! The pods domain: Kubernetes pod sandboxes, as berthd's CRI adapter
//! (`cri/`) serves them. A pod is a record, an infra process of ours
//! (`berth-pause`) holding the pod's network, IPC and UTS namespaces, and
//! the pod's network set up through CNI.
//!
//! ```text
//! <root>/pods/<id>.json          the record (record.rs): config, infra pid and
//!                                start time, CNI result; written whole, renamed
//!                                into place, so it survives a crash of berthd
//! <state>/pods/<id>/netns        the network namespace, pinned by a bind mount
//!                                (netns.rs): CNI DEL still finds it when the
//!                                infra process died with berthd down
//! <state>/pods/<id>/resolv.conf  the pod's DNS config, hostname: its files
//! ```
//!
//! Lifecycle (service.rs): `run` starts the infra process in new namespaces
//! (infra.rs: hostname and namespaced sysctls set before it runs), pins its
//! netns, runs CNI ADD (cni.rs: loopback, then the first network config
//! of the conf dir, port mappings as the `portMappings` capability); any
//! failure undoes every step (CNI DEL, kill, unpin, remove) so nothing is
//! left. `stop` kills the infra process and runs CNI DEL once; `remove`
//! stops and deletes. A pod is ready while it is not stopped and its infra
//! process (pid and start time) lives, so a restarted berthd reads the
//! truth from the kernel.
//!
//! The domain never imports containers, and no CRI wire type: the adapter
//! maps its `PodConfig`/`PodView` to `runtime.v1`.

pub mod cni;
pub mod infra;
pub mod netns;
pub mod record;
pub mod service;

pub use record::{PodConfig, PodRecord};
pub use service::{PodService, PodView};
use std::path::PathBuf;

/// What can go wrong in a pod operation; messages name the pod and path.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("pod sandbox {0} not found")]
    NotFound(String),
    #[error("pod sandbox name {name:?} is already used by pod sandbox {id}")]
    NameInUse { name: String, id: String },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
    #[error("pod network not ready: {0}")]
    NetworkNotReady(String),
    #[error(transparent)]
    Cni(#[from] cni::CniError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl PodError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> PodError {
        let path = path.into();
        move |source| PodError::Io { op, path, source }
    }
}
