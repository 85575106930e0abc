//! berthd: opens the store, builds the domain services and serves them over
//! gRPC on a unix socket until SIGTERM or SIGINT.
//!
//! ```text
//! <root>   (--root, /var/lib/berth)   meta.redb, content/, snapshots/, volumes/, tmp/
//! <state>  (--state, /run/berth)      runtime state (tmpfs)
//! <address> (--address, /run/berth/berthd.sock)  the API socket, 0660 root:berth
//! <docker-address> (--docker-address, <state>/docker.sock)  the Docker API socket, 0660 root:berth
//! <cri-address> (--cri-address, <state>/cri.sock)  the Kubernetes CRI socket, 0660 root:berth
//! ```
//!
//! The domain services (DESIGN.md "Inside berthd") are plain Rust types held
//! by [`Daemon`]; [`crate::api`] wraps each in a thin gRPC adapter.

pub mod allocator;
pub mod args;
pub mod config;
pub mod limits;
pub mod lock;
pub mod socket;

use crate::api;
use crate::containers::service::{
    ContainerDeps, ContainerIndex, ContainerPaths, ContainerSettings, Runtimes,
};
use crate::containers::ContainerService;
use crate::events::EventBus;
use crate::images::{ImageService, ImageStores};
use crate::networks::{NetworkConfig, NetworkService};
use crate::registry::RegistryConfig;
use crate::system::{DaemonPaths, SystemService};
use crate::volumes::VolumeService;
use berth_docker::manifest::Platform;
use berth_store::content::ContentStore;
use berth_store::metadata::MetadataStore;
use berth_store::snapshot::native::NativeSnapshotter;
use berth_store::snapshot::overlay::OverlaySnapshotter;
use berth_store::snapshot::Snapshotter;
pub use config::DaemonConfig;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Default persistent root.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
/// Default runtime state directory.
pub const DEFAULT_STATE: &str = "/run/berth";
/// Default config file.
pub const DEFAULT_CONFIG: &str = "/etc/berth/daemon.json";

/// Why berthd could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Socket(#[from] socket::SocketError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("open store in {root}: {source}")]
    Store {
        root: PathBuf,
        source: berth_store::Error,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("containers: {0}")]
    Containers(#[from] crate::containers::ContainerError),
    #[error("firewall: {0}")]
    Firewall(#[from] crate::networks::firewall::FirewallError),
    #[error("volumes: {0}")]
    Volumes(#[from] crate::volumes::VolumeError),
    #[error("pods: {0}")]
    Pods(#[from] crate::pods::PodError),
    #[error("serve gRPC on {address}: {source}")]
    Serve {
        address: PathBuf,
        source: tonic::transport::Error,
    },
}

/// Where berthd keeps things and how it is set up.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub root: PathBuf,
    pub state: PathBuf,
    pub address: PathBuf,
    /// The API socket's group (`berthd --group`); none: `berth` if it exists.
    pub socket_group: Option<String>,
    /// The Docker Engine API's socket (same mode and group); none: off.
    pub docker_address: Option<PathBuf>,
    /// The Kubernetes CRI socket (same mode and group); none: off.
    pub cri_address: Option<PathBuf>,
    pub config: DaemonConfig,
}

/// The running daemon's services.
pub struct Daemon {
    pub options: DaemonOptions,
    pub images: Arc<ImageService>,
    pub containers: Arc<ContainerService>,
    pub networks: Arc<NetworkService>,
    pub events: Arc<EventBus>,
    pub volumes: Arc<VolumeService>,
    /// Kubernetes pod sandboxes (served by the CRI adapter).
    pub pods: Arc<crate::pods::PodService>,
    /// One berthd per root and state dir (see [`lock`]).
    _locks: Vec<lock::DirLock>,
}

fn mkdir(path: &Path, mode: u32) -> Result<(), DaemonError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|source| DaemonError::Io {
            op: "create directory",
            path: path.to_path_buf(),
            source,
        })
}

/// `path` becomes mode 0710, owned by root and group `gid`.
fn restrict_dir(path: &Path, gid: u32) -> Result<(), DaemonError> {
    let io = |op: &'static str| {
        move |source: std::io::Error| DaemonError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    std::os::unix::fs::chown(path, Some(0), Some(gid)).map_err(io("chown"))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o710))
        .map_err(io("chmod 0710"))
}

impl Daemon {
    /// Opens the store under `options.root` and builds the services.
    pub fn open(options: DaemonOptions) -> Result<Daemon, DaemonError> {
        // A wrong --group fails before anything is made.
        let socket_gid = socket::socket_gid(options.socket_group.as_deref(), &options.address)?;
        mkdir(&options.root, 0o710)?;
        mkdir(&options.state, 0o710)?;
        // Before anything is touched: a second berthd must not clean the
        // first one's tmp/ or reconcile its shims.
        let mut locks = vec![lock::DirLock::acquire(&options.root)?];
        if options.state != options.root {
            locks.push(lock::DirLock::acquire(&options.state)?);
        }
        // Other users must not traverse into berthd's dirs: the metadata,
        // containers' specs (their env), logs and layers (setuid binaries)
        // are below them (moby's CVE-2021-41091 made /var/lib/docker 0710
        // for this). The state dir holds the default API socket, so its
        // group is the socket's: members of that group may use the API,
        // which gives them root anyway. Set on every start: a dir made by an
        // older berthd was 0711.
        restrict_dir(&options.root, 0)?;
        restrict_dir(&options.state, socket_gid)?;
        let tmp = options.root.join("tmp");
        // Spooled archives of a previous run are garbage.
        let _ = std::fs::remove_dir_all(&tmp);
        mkdir(&tmp, 0o700)?;
        let store_err = |source: berth_store::Error| DaemonError::Store {
            root: options.root.clone(),
            source,
        };
        let content = ContentStore::open(&options.root).map_err(|e| store_err(e.into()))?;
        let meta = Arc::new(
            MetadataStore::open(&options.root.join("meta.redb"))
                .map_err(|e| store_err(e.into()))?,
        );
        let use_overlay = match options.config.snapshotter.as_deref() {
            Some("native") => false,
            Some(_) => true,
            None => OverlaySnapshotter::supported(&options.root),
        };
        let snapshotter: Arc<dyn Snapshotter> = if use_overlay {
            Arc::new(
                OverlaySnapshotter::open(&options.root, meta.clone())
                    .map_err(|e| store_err(e.into()))?,
            )
        } else {
            Arc::new(
                NativeSnapshotter::open(&options.root, meta.clone())
                    .map_err(|e| store_err(e.into()))?,
            )
        };
        tracing::info!(snapshotter = snapshotter.name(), root = %options.root.display(), "store opened");
        let registry = RegistryConfig {
            insecure: options.config.insecure_registries.clone(),
            timeouts: options.config.registry_timeouts,
        };
        let index = ContainerIndex::new(meta.clone()).map_err(|e| store_err(e.into()))?;
        let events = Arc::new(EventBus::new());
        let images = Arc::new(ImageService::new(
            ImageStores {
                content,
                meta: meta.clone(),
                snapshotter,
            },
            registry,
            Platform::host(),
            index.clone(),
            events.clone(),
            tmp,
        ));
        let configured = options
            .config
            .runtimes
            .iter()
            .map(|(name, r)| (name.clone(), r.path.clone()))
            .collect();
        let runtimes = Runtimes::new(&configured, options.config.default_runtime.as_deref());
        let init_binary = ["/usr/bin/tini-static", "/usr/bin/tini"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        let volumes = Arc::new(VolumeService::new(
            &options.root,
            meta.clone(),
            events.clone(),
            index.clone(),
        )?);
        // Touches nothing yet: the table is made when the first bridge or
        // port needs it.
        let firewall = Arc::new(crate::networks::firewall::Firewall::new(
            options.config.nft_table.as_deref().unwrap_or("berth"),
        )?);
        let networks = Arc::new(NetworkService::new(
            meta.clone(),
            events.clone(),
            NetworkConfig {
                bridge: options
                    .config
                    .bridge
                    .clone()
                    .unwrap_or_else(|| crate::networks::service::DEFAULT_BRIDGE.to_string()),
                bip: options.config.bip.clone(),
                containers_dir: options.root.join("containers"),
            },
            index.clone(),
            Some(firewall.clone()),
        ));
        let paths = ContainerPaths::new(&options.root, &options.state);
        let containers = Arc::new(ContainerService::new(
            ContainerDeps {
                images: images.clone(),
                index,
                events: events.clone(),
                volumes: volumes.clone(),
                networks: networks.clone(),
                launcher: Arc::new(crate::containers::task::shim::ShimLauncher {
                    binary: crate::containers::task::shim::find_binary("berth-shim"),
                    socket_dir: paths.sockets.clone(),
                }),
                port_publisher: Some(Arc::new(crate::networks::ports::PortPublisher::new(
                    firewall,
                ))),
            },
            ContainerSettings {
                paths,
                runtimes,
                init_binary,
                cdi_spec_dirs: options.config.cdi_spec_dirs.clone().unwrap_or_else(|| {
                    crate::containers::spec::cdi::DEFAULT_SPEC_DIRS
                        .iter()
                        .map(PathBuf::from)
                        .collect()
                }),
                log_defaults: crate::containers::log_driver::LogDefaults {
                    driver: options.config.log_driver.clone().unwrap_or_default(),
                    opts: options.config.log_opts.clone(),
                },
            },
        )?);
        let pods = Arc::new(crate::pods::PodService::open(
            crate::pods::service::PodSettings {
                records_dir: options.root.join("pods"),
                state_dir: options.state.join("pods"),
                pause_binary: crate::containers::task::shim::find_binary("berth-pause"),
                cni: crate::pods::cni::CniSettings {
                    conf_dir: options
                        .config
                        .cni_conf_dir
                        .clone()
                        .unwrap_or_else(|| crate::pods::cni::DEFAULT_CONF_DIR.into()),
                    bin_dir: options
                        .config
                        .cni_bin_dir
                        .clone()
                        .unwrap_or_else(|| crate::pods::cni::DEFAULT_BIN_DIR.into()),
                },
            },
        )?);
        Ok(Daemon {
            options,
            pods,
            images,
            containers,
            networks,
            events,
            volumes,
            _locks: locks,
        })
    }

    /// Serves the API on the socket until SIGTERM/SIGINT, then removes the
    /// socket.
    pub async fn serve(self) -> Result<(), DaemonError> {
        // Handlers first: a SIGTERM as soon as any socket answers must stop
        // berthd cleanly, not kill it with the signal's default action.
        let shutdown = shutdown_signal();
        let address = self.options.address.clone();
        // The API socket last: once it answers (what clients and tests
        // wait for), the Docker and CRI sockets exist too.
        let docker_listener = match &self.options.docker_address {
            Some(path) => Some(socket::bind(path, self.options.socket_group.as_deref())?),
            None => None,
        };
        let cri_listener = match &self.options.cri_address {
            Some(path) => Some(socket::bind(path, self.options.socket_group.as_deref())?),
            None => None,
        };
        let listener = socket::bind(&address, self.options.socket_group.as_deref())?;
        let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
        tracing::info!(address = %address.display(), pid = std::process::id(), "berthd serving");
        self.containers.recover().await?;
        // Our nftables table anew: bridges' rules and running containers' ports.
        self.containers
            .rebuild_published_ports(self.networks.bridge_rules())
            .await?;
        let daemon = Arc::new(self);
        tokio::spawn(allocator::trim_when_idle());
        let system = Arc::new(SystemService::new(
            DaemonPaths {
                root: daemon.options.root.clone(),
                state: daemon.options.state.clone(),
                address: daemon.options.address.clone(),
            },
            daemon.images.clone(),
            daemon.containers.clone(),
        ));
        let builder = Arc::new(crate::builder::BuildService::new(
            daemon.images.clone(),
            daemon.containers.clone(),
            &daemon.options.root,
        ));
        let docker_api = docker_listener.map(|listener| {
            let api = Arc::new(crate::docker_api::DockerApi::new(
                daemon.containers.clone(),
                daemon.images.clone(),
                daemon.networks.clone(),
                daemon.volumes.clone(),
                daemon.events.clone(),
                system.clone(),
                builder.clone(),
            ));
            tracing::info!(address = ?daemon.options.docker_address, "serving the Docker API");
            tokio::spawn(crate::docker_api::server::serve(api, listener))
        });
        let cri = cri_listener.map(|listener| {
            tracing::info!(address = ?daemon.options.cri_address, "serving the Kubernetes CRI");
            tokio::spawn(crate::cri::server::serve(
                crate::cri::server::CriDomains {
                    pods: daemon.pods.clone(),
                    images: daemon.images.clone(),
                    system: system.clone(),
                },
                listener,
            ))
        });
        // Each adapter holds the domain services it serves, not the daemon.
        let result = tonic::transport::Server::builder()
            .initial_stream_window_size(berth_proto::STREAM_WINDOW)
            .initial_connection_window_size(berth_proto::CONNECTION_WINDOW)
            .layer(api::panic_guard::PanicGuardLayer::from_env())
            .add_service(api::images::server(daemon.images.clone()))
            .add_service(api::system::server(system))
            .add_service(api::containers::server(daemon.containers.clone()))
            .add_service(api::builder::server(builder))
            .add_service(api::containers::events_server(daemon.events.clone()))
            .add_service(api::volumes::server(daemon.volumes.clone()))
            .add_service(api::networks::server(
                daemon.networks.clone(),
                daemon.containers.clone(),
            ))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|source| DaemonError::Serve {
                address: address.clone(),
                source,
            });
        let _ = std::fs::remove_file(&address);
        if let Some(task) = docker_api {
            task.abort();
        }
        if let Some(path) = &daemon.options.docker_address {
            let _ = std::fs::remove_file(path);
        }
        if let Some(task) = cri {
            task.abort();
        }
        if let Some(path) = &daemon.options.cri_address {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!("berthd stopped");
        result
    }
}

/// Installs the SIGTERM and SIGINT handlers now; the future resolves on
/// either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    }
}
