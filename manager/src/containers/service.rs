//! [`ContainerService`]: containers and their tasks as a plain Rust API
//! (the gRPC adapter in `crate::api::containers` wraps it). Its methods are
//! spread by concept:
//!
//! * [`super::store`]: records, names, the in-memory [`Entry`] of each
//!   container and the [`ContainerIndex`] the images domain asks;
//! * [`super::lifecycle`]: create, start, stop, kill, pause, wait, remove,
//!   rename;
//! * [`super::monitor`]: exits, lost shims and what a restart of berthd
//!   finds;
//! * `exec`, `ops` (top, stats, update, prune), `files` (cp, diff, export,
//!   logs), `health`, `restart`, `network`, `ports` beside them.
//!
//! ```text
//! <root>/containers/<id>/           persistent: <id>-json.log (+ rotated files),
//!                                    local-logs/container.log (local driver)
//! <state>/containers/<id>/          the bundle: config.json, rootfs/ (the snapshot, mounted)
//! <state>/containers/<id>/shim/     the shim's state dir (pid, exit file)
//! <state>/runtime/                  the OCI runtime's --root
//! <state>/s/                        shim sockets
//! ```

use super::crash_point;
pub use super::lifecycle::{start_failure_code, AttachOptions};
pub use super::store::ContainerIndex;
pub(crate) use super::store::Entry;
use super::task::shim::{self};
use super::task::TaskLauncher;
use super::ContainerError;
use crate::events::EventBus;
use crate::images::ImageService;
use crate::networks::ports::PortPublisher;
use crate::networks::NetworkService;
use crate::volumes::VolumeService;
pub(crate) use berth_store::mount::is_mounted;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where containers live on disk.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    /// `<root>/containers`: logs.
    pub persistent: PathBuf,
    /// `<state>/containers`: bundles and shim state.
    pub bundles: PathBuf,
    /// `<state>/runtime`: the OCI runtime's --root.
    pub runtime_root: PathBuf,
    /// `<state>/s`: shim sockets.
    pub sockets: PathBuf,
}

impl ContainerPaths {
    /// The layout under berthd's root and state dirs.
    pub fn new(root: &Path, state: &Path) -> ContainerPaths {
        ContainerPaths {
            persistent: root.join("containers"),
            bundles: state.join("containers"),
            runtime_root: state.join("runtime"),
            sockets: state.join("s"),
        }
    }

    pub fn bundle(&self, id: &str) -> PathBuf {
        self.bundles.join(id)
    }

    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.bundles.join(id).join("rootfs")
    }

    pub fn shim_state(&self, id: &str) -> PathBuf {
        self.bundles.join(id).join("shim")
    }

    pub fn log_dir(&self, id: &str) -> PathBuf {
        self.persistent.join(id)
    }

    /// The host-side /dev/shm of an `--ipc shareable` container.
    pub fn shm_dir(&self, id: &str) -> PathBuf {
        self.persistent.join(id).join("shm")
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.persistent.join(id).join(format!("{id}-json.log"))
    }

    /// The local driver's live file (docker's `local-logs/container.log`).
    pub fn local_log_path(&self, id: &str) -> PathBuf {
        self.persistent
            .join(id)
            .join("local-logs")
            .join("container.log")
    }

    /// The dual-logging cache of a driver that cannot be read back
    /// (docker's `container-cached.log`, in the local format).
    pub fn cached_log_path(&self, id: &str) -> PathBuf {
        self.persistent.join(id).join("container-cached.log")
    }

    /// The log files' places, for the shim.
    pub fn log_paths(&self, id: &str) -> super::log_driver::LogPaths {
        super::log_driver::LogPaths {
            json_file: self.log_path(id),
            local: self.local_log_path(id),
            cache: self.cached_log_path(id),
        }
    }
}

/// The OCI runtimes berthd knows, by name.
#[derive(Debug, Clone)]
pub struct Runtimes {
    pub default: String,
    pub paths: BTreeMap<String, PathBuf>,
}

impl Runtimes {
    /// `berth` (berth-runtime) and `runc`, plus the configured ones.
    pub fn new(configured: &BTreeMap<String, PathBuf>, default: Option<&str>) -> Runtimes {
        let mut paths = BTreeMap::new();
        paths.insert("berth".to_string(), shim::find_binary("berth-runtime"));
        paths.insert("runc".to_string(), shim::find_binary("runc"));
        for (name, path) in configured {
            paths.insert(name.clone(), path.clone());
        }
        Runtimes {
            default: default.unwrap_or("berth").to_string(),
            paths,
        }
    }

    pub(crate) fn resolve(&self, name: Option<&str>) -> Result<(String, PathBuf), ContainerError> {
        let name = name.filter(|n| !n.is_empty()).unwrap_or(&self.default);
        match self.paths.get(name) {
            Some(p) => Ok((name.to_string(), p.clone())),
            None => Err(ContainerError::InvalidArgument(format!(
                "unknown or invalid runtime name: {name}"
            ))),
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: i32,
}

/// The containers service.
pub struct ContainerService {
    pub(crate) images: Arc<ImageService>,
    pub(crate) index: Arc<ContainerIndex>,
    pub(crate) events: Arc<EventBus>,
    pub(crate) paths: ContainerPaths,
    pub(crate) runtimes: Runtimes,
    /// Starts and reconnects to the containers' shims (the Task seam).
    pub(crate) launcher: Arc<dyn TaskLauncher>,
    /// `docker-init` for `--init` (tini), if installed.
    pub(crate) init_binary: Option<PathBuf>,
    /// Where CDI device specs are read (spec::cdi).
    pub(crate) cdi_spec_dirs: Vec<PathBuf>,
    /// daemon.json's `log-driver` and `log-opts`.
    pub(crate) log_defaults: super::log_driver::LogDefaults,
    /// The containers' volumes.
    pub(crate) volumes: Arc<VolumeService>,
    /// Networks: addresses at create, veths at start (crate::networks).
    pub(crate) networks: Arc<NetworkService>,
    pub(super) entries: Mutex<HashMap<String, Arc<Entry>>>,
    /// Names given to containers whose record is not written yet (name ->
    /// id). A create reserves its name here, briefly under this lock, and
    /// does the slow part (snapshot, mount, volumes, spec) without it, so
    /// creates of different containers run concurrently while a name is
    /// still never given twice (rename checks here too).
    pub(super) reserved_names: Mutex<HashMap<String, String>>,
    /// Published ports (host reservations + nftables).
    pub(crate) port_publisher: Option<Arc<PortPublisher>>,
}

/// The services the containers domain works with.
pub struct ContainerDeps {
    pub images: Arc<ImageService>,
    pub index: Arc<ContainerIndex>,
    pub events: Arc<EventBus>,
    pub volumes: Arc<VolumeService>,
    pub networks: Arc<NetworkService>,
    /// Starts and reconnects to the containers' shims (the Task seam).
    pub launcher: Arc<dyn TaskLauncher>,
    /// Published ports (none: ports are recorded, never published).
    pub port_publisher: Option<Arc<PortPublisher>>,
}

/// How the containers domain is set up on this host.
pub struct ContainerSettings {
    pub paths: ContainerPaths,
    pub runtimes: Runtimes,
    /// `docker-init` for `--init` (tini), if installed.
    pub init_binary: Option<PathBuf>,
    /// Where CDI device specs are read (`/etc/cdi`, `/var/run/cdi` unless
    /// berthd's `cdi-spec-dirs` says otherwise).
    pub cdi_spec_dirs: Vec<PathBuf>,
    /// daemon.json's `log-driver` and `log-opts`.
    pub log_defaults: super::log_driver::LogDefaults,
}

pub use crate::events::now_rfc3339;

pub(super) fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> ContainerError {
    ContainerError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl ContainerService {
    /// The OCI runtimes containers may use (daemon.json `runtimes`).
    pub fn runtimes(&self) -> &Runtimes {
        &self.runtimes
    }

    /// Builds the service; call [`ContainerService::recover`] before serving.
    pub fn new(
        deps: ContainerDeps,
        settings: ContainerSettings,
    ) -> Result<ContainerService, ContainerError> {
        let ContainerSettings {
            paths,
            runtimes,
            init_binary,
            cdi_spec_dirs,
            log_defaults,
        } = settings;
        for dir in [
            &paths.persistent,
            &paths.bundles,
            &paths.runtime_root,
            &paths.sockets,
        ] {
            std::fs::create_dir_all(dir).map_err(|e| io_err("create directory", dir, e))?;
        }
        crash_point::arm_from_env();
        Ok(ContainerService {
            images: deps.images,
            index: deps.index,
            events: deps.events,
            paths,
            runtimes,
            launcher: deps.launcher,
            init_binary,
            cdi_spec_dirs,
            log_defaults,
            volumes: deps.volumes,
            networks: deps.networks,
            entries: Mutex::new(HashMap::new()),
            reserved_names: Mutex::new(HashMap::new()),
            port_publisher: deps.port_publisher,
        })
    }
}
