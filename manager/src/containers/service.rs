//! [`ContainerService`]: containers and their tasks as a plain Rust API
//! (the gRPC adapter in `crate::api::containers` wraps it).
//!
//! ```text
//! <root>/containers/<id>/           persistent: <id>-json.log (+ rotated files)
//! <state>/containers/<id>/          the bundle: config.json, rootfs/ (the snapshot, mounted)
//! <state>/containers/<id>/shim/     the shim's state dir (pid, exit file)
//! <state>/runtime/                  the OCI runtime's --root
//! <state>/s/                        shim sockets
//! ```
//!
//! Each container has an [`Entry`] in memory: a lock serialising its
//! lifecycle operations (as dockerd's container lock does), the shim client
//! while a task runs, and watch channels that `wait` and `attach` use to
//! learn of exits and removal. The record in the metadata database is
//! rewritten at every state change; a *monitor* task per running container
//! waits on the shim and records the exit (then removes the container when
//! it was created with `--rm`).
//!
//! Restart of berthd: [`ContainerService::recover`] reconnects to the shim of
//! every container recorded as running; a shim that is gone left its exit
//! file, which is read instead, so no exit code is lost. A start writes its
//! intent into the record before it spawns the shim (`record::StartIntent`),
//! so a berthd killed in the middle of a start finds the shim at its next
//! start and either adopts it (the process was started: it keeps its logs
//! and true exit code) or tears it down (it was not: the container stays
//! `created`). Whatever a container without a record left in the state dir
//! (a create or a `--rm` removal cut short) is torn down too.
//!
//! A shim that dies (kill -9, OOM killer) while its container runs is lost
//! supervision, not an exit. berthd does not try to adopt the orphaned
//! process with a new shim: a new shim could watch it by pidfd but could
//! never learn its exit code (only a parent or subreaper can wait for it, and
//! it was reparented to init), and its stdio pipes died with the old shim,
//! so from then on its output would be lost without anyone noticing.
//! Instead, as containerd does after a dead shim (`cleanupAfterDeadShim`:
//! the shim's delete runs `runc delete --force` and an exit of 128 + SIGKILL
//! is published), the container is killed through the runtime
//! (`delete --force`: process, cgroup, runtime state), its veth and ports go,
//! and the exit is recorded as 137 with the reason in `State.Error`; the
//! restart policy then applies like after any exit (`always` starts it again
//! with a new shim). A shim that recorded the init's exit before it died is
//! not a loss: that exit is recorded as it is.
//!
//! Removal waits for the shim to be gone before it removes the bundle (the
//! shim's state dir is inside it, and a shim still exiting after the Delete
//! of the exit writes its `shim-exit` record there), and `rm` fails rather
//! than answer success while the runtime's state or the bundle is left.

use super::config::ContainerConfig;
use super::crash_point;
use super::record::{ContainerRecord, ContainerState, ShimInfo, StartIntent, StartStep, Status};
use super::shim::{self, Client, ShimLaunch, ShimProcess};
use super::spec::{self, ImageRuntimeConfig, SpecContext};
use super::ContainerError;
use crate::events::{Event, EventBus};
use crate::images::ImageService;
use crate::volumes::{VolumeMount, VolumeService};
use berth_proto::shim::v1 as shimpb;
use berth_store::gc::GcRoots;
use berth_store::metadata::{Collection, MetadataError, MetadataStore};
use berth_store::mount::{mount_all, unmount};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

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

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.persistent.join(id).join(format!("{id}-json.log"))
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

    fn resolve(&self, name: Option<&str>) -> Result<(String, PathBuf), ContainerError> {
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

/// In-memory companion of a record.
pub(crate) struct Entry {
    /// Serialises lifecycle operations on the container.
    pub(crate) lock: tokio::sync::Mutex<()>,
    /// The shim client while a task exists.
    pub(crate) client: Mutex<Option<Client>>,
    /// Bumped at every exit: (generation, last exit).
    pub(crate) exits: watch::Sender<(u64, Option<ExitInfo>)>,
    /// Set once the container is removed.
    pub(crate) removed: watch::Sender<bool>,
    /// Set by the shim's OOM event during the current run.
    pub(crate) oom: std::sync::atomic::AtomicBool,
    /// Restart policy back-off and the pending restart (restart.rs).
    pub(crate) restart: Mutex<super::restart::RestartTracker>,
    /// Health state and probe task (health.rs).
    pub(crate) health: Mutex<super::health::HealthMonitor>,
    /// berthd's relays of the main process's output to clients (exec.rs
    /// [`super::exec::OutputRelay`]): an exit waits for them.
    pub(crate) output_relays: watch::Sender<super::exec::RelayCount>,
}

impl Entry {
    fn new() -> Arc<Entry> {
        Arc::new(Entry {
            lock: tokio::sync::Mutex::new(()),
            client: Mutex::new(None),
            exits: watch::channel((0, None)).0,
            removed: watch::channel(false).0,
            oom: std::sync::atomic::AtomicBool::new(false),
            restart: Mutex::new(Default::default()),
            health: Mutex::new(Default::default()),
            output_relays: watch::channel(Default::default()).0,
        })
    }

    pub(crate) fn client(&self) -> Option<Client> {
        self.client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_client(&self, client: Option<Client>) {
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = client;
    }
}

/// Containers that exist, or are being created, for image GC and the
/// images domain's in-use check.
pub struct ContainerIndex {
    meta: Arc<MetadataStore>,
    /// Snapshots being prepared for containers not yet recorded.
    creating: Mutex<BTreeSet<(String, String)>>,
}

impl ContainerIndex {
    pub fn new(meta: Arc<MetadataStore>) -> Arc<ContainerIndex> {
        Arc::new(ContainerIndex {
            meta,
            creating: Mutex::new(BTreeSet::new()),
        })
    }

    fn records(&self) -> Vec<ContainerRecord> {
        self.meta
            .list_records(Collection::Containers)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect()
    }
}

impl crate::images::ImageUsers for ContainerIndex {
    fn containers_using(&self, image_id: &str) -> Vec<String> {
        self.records()
            .into_iter()
            .filter(|r| r.image_id == image_id)
            .map(|r| r.id)
            .collect()
    }

    fn gc_roots(&self) -> GcRoots {
        let mut roots = GcRoots::default();
        for r in self.records() {
            roots.snapshots.push((r.snapshotter, r.snapshot_key));
        }
        let creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        roots.snapshots.extend(creating.iter().cloned());
        roots
    }
}

/// The containers service.
pub struct ContainerService {
    pub(crate) meta: Arc<MetadataStore>,
    pub(crate) images: Arc<ImageService>,
    pub(crate) index: Arc<ContainerIndex>,
    pub(crate) events: Arc<EventBus>,
    pub(crate) paths: ContainerPaths,
    pub(crate) runtimes: Runtimes,
    pub(crate) shim_binary: PathBuf,
    /// `docker-init` for `--init` (tini), if installed.
    pub(crate) init_binary: Option<PathBuf>,
    /// The containers' volumes.
    pub(crate) volumes: Arc<VolumeService>,
    /// Networks: addresses at create, veths at start (crate::networks).
    pub(crate) networks: Arc<crate::networks::NetworkService>,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    /// Serialises name changes (create, rename) so a name is never given twice.
    names: tokio::sync::Mutex<()>,
    /// Published ports (host reservations + nftables); set by the daemon.
    pub(crate) port_publisher: std::sync::OnceLock<Arc<crate::networks::ports::PortPublisher>>,
}

/// Now as RFC 3339 with nanoseconds (docker's time format).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

fn io_err(op: &str, path: &Path, e: std::io::Error) -> ContainerError {
    ContainerError::Internal(format!("{op} {}: {e}", path.display()))
}

/// docker's container name rule.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// 64 random hex digits.
pub(crate) fn new_id() -> String {
    let mut buf = [0u8; 32];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        let seed = crate::events::now_nanos() as u64 ^ (std::process::id() as u64) << 32;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 * 7) >> (i % 8)) as u8;
        }
    }
    crate::manifest::hex(&buf)
}

/// A docker-like random name (`brave_turing`), from the id's bytes.
fn random_name(id: &str) -> String {
    const LEFT: &[&str] = &[
        "admiring", "brave", "calm", "eager", "festive", "gifted", "happy", "jolly", "keen",
        "lucid", "modest", "nifty", "quirky", "serene", "tender", "vibrant", "wizardly", "zen",
    ];
    const RIGHT: &[&str] = &[
        "babbage", "curie", "darwin", "euler", "feynman", "galois", "hopper", "kepler", "lovelace",
        "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
    ];
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    format!(
        "{}_{}",
        LEFT[(n % LEFT.len() as u64) as usize],
        RIGHT[((n / 97) % RIGHT.len() as u64) as usize]
    )
}

/// The exit code docker reports when the runtime could not start the
/// process: 127 not found, 126 not executable, else 128.
pub fn start_failure_code(message: &str) -> i32 {
    let m = message.to_ascii_lowercase();
    if m.contains("not found") || m.contains("no such file") {
        127
    } else if m.contains("permission denied")
        || m.contains("not executable")
        || m.contains("is a directory")
    {
        126
    } else {
        128
    }
}

impl ContainerService {
    /// Builds the service; call [`ContainerService::recover`] before serving.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        meta: Arc<MetadataStore>,
        images: Arc<ImageService>,
        index: Arc<ContainerIndex>,
        events: Arc<EventBus>,
        paths: ContainerPaths,
        runtimes: Runtimes,
        shim_binary: PathBuf,
        init_binary: Option<PathBuf>,
        volumes: Arc<VolumeService>,
        networks: Arc<crate::networks::NetworkService>,
    ) -> Result<ContainerService, ContainerError> {
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
            meta,
            images,
            index,
            events,
            paths,
            runtimes,
            shim_binary,
            init_binary,
            volumes,
            networks,
            entries: Mutex::new(HashMap::new()),
            names: tokio::sync::Mutex::new(()),
            port_publisher: std::sync::OnceLock::new(),
        })
    }

    // ---- records ----

    pub(crate) fn records(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        let mut out = Vec::new();
        for (key, value) in self.meta.list_records(Collection::Containers)? {
            match serde_json::from_slice::<ContainerRecord>(&value) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(id = %key, error = %e, "unreadable container record"),
            }
        }
        Ok(out)
    }

    pub(crate) fn get(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        match self.meta.get_record(Collection::Containers, id) {
            Ok(v) => serde_json::from_slice(&v)
                .map_err(|e| ContainerError::Internal(format!("container record {id}: {e}"))),
            Err(MetadataError::NotFound { .. }) => Err(ContainerError::NotFound(id.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn put(&self, record: &ContainerRecord) -> Result<(), ContainerError> {
        let bytes = serde_json::to_vec(record).expect("record serialises");
        self.meta
            .put_record(Collection::Containers, &record.id, &bytes)?;
        Ok(())
    }

    /// Changes the record of `id` with `f` (read-modify-write).
    pub(crate) fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        let mut record = self.get(id)?;
        f(&mut record);
        self.put(&record)?;
        Ok(record)
    }

    /// The container a user means: full id, name (with or without '/'),
    /// or a unique id prefix, as docker resolves them.
    pub fn resolve(&self, input: &str) -> Result<ContainerRecord, ContainerError> {
        if input.is_empty() {
            return Err(ContainerError::NotFound(input.to_string()));
        }
        let records = self.records()?;
        let name = input.strip_prefix('/').unwrap_or(input);
        if let Some(r) = records.iter().find(|r| r.id == input) {
            return Ok(r.clone());
        }
        if let Some(r) = records.iter().find(|r| r.name == name) {
            return Ok(r.clone());
        }
        let matches: Vec<&ContainerRecord> =
            records.iter().filter(|r| r.id.starts_with(input)).collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(ContainerError::NotFound(input.to_string())),
            _ => Err(ContainerError::InvalidArgument(format!(
                "multiple IDs found with provided prefix: {input}"
            ))),
        }
    }

    pub(crate) fn entry(&self, id: &str) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .entry(id.to_string())
            .or_insert_with(Entry::new)
            .clone()
    }

    fn drop_entry(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(id);
    }

    pub(crate) fn publish(&self, record: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), record.name.clone());
        attributes.insert("image".to_string(), record.image.clone());
        for (k, v) in &record.config.options.labels {
            attributes.insert(k.clone(), v.clone());
        }
        for (k, v) in extra {
            attributes.insert(k.to_string(), v.clone());
        }
        self.events.publish(Event::now(
            "container",
            action,
            record.id.clone(),
            attributes,
        ));
    }

    // ---- create ----

    /// Creates a container from `config`; returns its id and warnings.
    pub async fn create(
        &self,
        name: Option<String>,
        config: ContainerConfig,
    ) -> Result<(String, Vec<String>), ContainerError> {
        let name = name
            .filter(|n| !n.is_empty())
            .map(|n| n.trim_start_matches('/').to_string());
        if let Some(n) = &name {
            if !valid_name(n) {
                return Err(ContainerError::InvalidArgument(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        let (runtime_name, _) = self.runtimes.resolve(config.runtime.as_deref())?;
        let lookup = self.images.lookup(&config.image).map_err(|e| match e {
            crate::images::ImageError::NotFound(what) => ContainerError::ImageNotFound(what),
            other => ContainerError::Image(Box::new(other)),
        })?;
        let resolved = lookup.resolved;
        let image_config = ImageRuntimeConfig::from_config_blob(&resolved.config_bytes)?;
        let image_ref = lookup.name.clone().unwrap_or_else(|| resolved.id());

        let names = self.names.lock().await;
        let records = self.records()?;
        let id = new_id();
        let name = match name {
            Some(n) => {
                if let Some(other) = records.iter().find(|r| r.name == n) {
                    return Err(ContainerError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        other.id
                    )));
                }
                n
            }
            None => {
                let mut n = random_name(&id);
                if records.iter().any(|r| r.name == n) {
                    n = format!("{n}_{}", &id[..6]);
                }
                n
            }
        };
        crate::networks::container_hooks::check_and_allocate(self, &id, &name, &config.options)
            .await?;
        crash_point::reached("create-allocated", &id);
        let snapshotter = self.images.snapshotter().clone();
        let snapshot_key = format!("container-{id}");
        let gc_key = (snapshotter.name().to_string(), snapshot_key.clone());
        self.index
            .creating
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(gc_key.clone());
        let result = self
            .create_prepared(
                &id,
                &name,
                &config,
                &image_config,
                &resolved,
                &image_ref,
                &runtime_name,
            )
            .await;
        self.index
            .creating
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&gc_key);
        drop(names);
        match result {
            Ok((record, warnings)) => {
                self.publish(&record, "create", &[]);
                Ok((id, warnings))
            }
            Err(e) => {
                self.discard_filesystem(&id, snapshotter.name(), &snapshot_key);
                let _ = self.networks.release(&id).await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_prepared(
        &self,
        id: &str,
        name: &str,
        config: &ContainerConfig,
        image_config: &ImageRuntimeConfig,
        resolved: &crate::images::ResolvedImage,
        image_ref: &str,
        runtime_name: &str,
    ) -> Result<(ContainerRecord, Vec<String>), ContainerError> {
        let snapshotter = self.images.snapshotter().clone();
        let snapshot_key = format!("container-{id}");
        let parent = resolved.chain_ids.last().cloned();
        let bundle = self.paths.bundle(id);
        let rootfs = self.paths.rootfs(id);
        std::fs::create_dir_all(&rootfs).map_err(|e| io_err("create directory", &rootfs, e))?;
        let log_dir = self.paths.log_dir(id);
        std::fs::create_dir_all(&log_dir).map_err(|e| io_err("create directory", &log_dir, e))?;
        let mounts = {
            let snapshotter = snapshotter.clone();
            let key = snapshot_key.clone();
            let labels = BTreeMap::from([("io.berth.container".to_string(), id.to_string())]);
            tokio::task::spawn_blocking(move || {
                snapshotter.prepare(&key, parent.as_deref(), &labels)
            })
            .await
            .map_err(|e| ContainerError::Internal(e.to_string()))?
            .map_err(|e| ContainerError::Internal(e.to_string()))?
        };
        mount_all(&mounts, &rootfs).map_err(|e| ContainerError::Internal(e.to_string()))?;
        crash_point::reached("create-mounted", id);
        let (ports, port_warnings) = super::ports::container_ports(config, image_config)?;
        // Volumes are held (and removed again if the create fails) until
        // the record naming them is written.
        let volumes = self
            .volumes
            .attach(id, &config.options, image_config, &rootfs)?;
        let (spec, mut warnings) =
            self.write_spec(id, config, image_config, &bundle, volumes.mounts())?;
        warnings.extend(port_warnings);
        let process = spec.process.as_ref();
        let args: Vec<String> = process.map(|p| p.args.clone()).unwrap_or_default();
        let hostname = spec.hostname.clone().unwrap_or_default();
        let record = ContainerRecord {
            id: id.to_string(),
            name: name.to_string(),
            created: now_rfc3339(),
            image: config.image.clone(),
            image_ref: image_ref.to_string(),
            image_id: resolved.id(),
            snapshotter: snapshotter.name().to_string(),
            snapshot_key,
            config: super::health::with_image_healthcheck(config, image_config),
            path: args.first().cloned().unwrap_or_default(),
            args: args.iter().skip(1).cloned().collect(),
            state: ContainerState::default(),
            shim: None,
            runtime: runtime_name.to_string(),
            hostname,
            stop_signal: spec::stop_signal(image_config, &config.options)?,
            ports,
            volumes: volumes.mounts().to_vec(),
            starting: None,
        };
        self.put(&record)?;
        volumes.commit();
        crash_point::reached("create-recorded", id);
        Ok((record, warnings))
    }

    /// Builds the container's OCI spec and writes `config.json` into the
    /// bundle (its rootfs must be mounted).
    fn write_spec(
        &self,
        id: &str,
        config: &ContainerConfig,
        image_config: &ImageRuntimeConfig,
        bundle: &Path,
        volumes: &[VolumeMount],
    ) -> Result<(berth_oci::Spec, Vec<String>), ContainerError> {
        let rootfs = bundle.join("rootfs");
        let o = &config.options;
        let hostname = spec::container_hostname(o, id)?;
        let hosts_files = match crate::networks::container_hooks::joined_files(self, o) {
            Some(files) => files,
            None => spec::HostsFiles::write(
                &self.paths.log_dir(id),
                &hostname,
                o.domainname.as_deref(),
                &o.network,
                &o.extra_hosts,
                &o.dns,
            )?,
        };
        let mut ctx = SpecContext::new(id, &rootfs, format!("/berth/{id}"));
        ctx.init_binary = self.init_binary.as_deref();
        ctx.hosts_files = Some(hosts_files);
        ctx.volumes = self.volumes.binds(volumes);
        let mut spec = spec::build_spec(image_config, &config.options, &ctx)?;
        if let Some(h) = crate::networks::container_hooks::joined_hostname(self, o) {
            spec.hostname = Some(h);
        }
        if let Some(cwd) = spec.process.as_ref().map(|p| p.cwd.clone()) {
            spec::ensure_workdir(&rootfs, &cwd)?;
        }
        let path = bundle.join("config.json");
        let bytes = serde_json::to_vec(&spec).expect("spec serialises");
        std::fs::write(&path, bytes).map_err(|e| io_err("write", &path, e))?;
        Ok((spec, Vec::new()))
    }

    /// Unmounts and removes a container's rootfs, snapshot and dirs (best
    /// effort: used on failed creates and on removal).
    fn discard_filesystem(&self, id: &str, snapshotter_name: &str, snapshot_key: &str) {
        let rootfs = self.paths.rootfs(id);
        if is_mounted(&rootfs) {
            if let Err(e) = unmount(&rootfs) {
                tracing::warn!(id, error = %e, "unmount container rootfs");
            }
        }
        let snapshotter = self.images.snapshotter();
        if snapshotter.name() == snapshotter_name {
            match snapshotter.remove(snapshot_key) {
                Ok(()) => {}
                Err(e) if e.to_string().contains("not found") => {}
                Err(e) => tracing::warn!(id, error = %e, "remove container snapshot"),
            }
        }
        let _ = std::fs::remove_dir_all(self.paths.bundle(id));
        let _ = std::fs::remove_dir_all(self.paths.log_dir(id));
    }

    /// Makes sure the bundle is there (after a reboot /run is empty): the
    /// rootfs mounted and config.json written.
    pub(crate) async fn ensure_bundle(
        &self,
        record: &ContainerRecord,
    ) -> Result<(), ContainerError> {
        let bundle = self.paths.bundle(&record.id);
        let rootfs = bundle.join("rootfs");
        if bundle.join("config.json").exists() && is_mounted(&rootfs) {
            return Ok(());
        }
        std::fs::create_dir_all(&rootfs).map_err(|e| io_err("create directory", &rootfs, e))?;
        let snapshotter = self.images.snapshotter().clone();
        if !is_mounted(&rootfs) {
            let mounts = snapshotter
                .mounts(&record.snapshot_key)
                .map_err(|e| ContainerError::Internal(e.to_string()))?;
            mount_all(&mounts, &rootfs).map_err(|e| ContainerError::Internal(e.to_string()))?;
        }
        let resolved = self
            .images
            .lookup(&record.image_id)
            .map_err(|e| ContainerError::Image(Box::new(e)))?
            .resolved;
        let image_config = ImageRuntimeConfig::from_config_blob(&resolved.config_bytes)?;
        self.write_spec(
            &record.id,
            &record.config,
            &image_config,
            &bundle,
            &record.volumes,
        )?;
        Ok(())
    }

    // ---- start ----

    /// Starts a container. With `attach`, the container's stdio is attached
    /// (shim Attach) before its process starts, and that stream returned.
    pub async fn start(
        self: &Arc<Self>,
        input: &str,
        attach: Option<AttachOptions>,
    ) -> Result<Option<tonic::Streaming<shimpb::AttachResponse>>, ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        let _guard = entry.lock.lock().await;
        let record = self.get(&record.id)?;
        match record.state.status {
            Status::Running | Status::Restarting if attach.is_none() => return Ok(None),
            Status::Running | Status::Restarting => {
                return Err(ContainerError::FailedPrecondition(format!(
                    "container {} is already running",
                    record.id
                )))
            }
            Status::Paused => {
                return Err(ContainerError::FailedPrecondition(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            Status::Removing | Status::Dead => {
                return Err(ContainerError::FailedPrecondition(format!(
                    "container {} is marked for removal and cannot be started",
                    record.id
                )))
            }
            Status::Created | Status::Exited => {}
        }
        self.reset_restarts(&record.id, &entry)?;
        let auto_remove = record.config.auto_remove;
        let id = record.id.clone();
        let result = self.start_locked(record, &entry, attach).await;
        if result.is_err() && auto_remove {
            // docker removes a --rm container whose process could not start.
            drop(_guard);
            if let Err(e) = self.remove(&id, true).await {
                tracing::warn!(id, error = %e, "auto-remove after a failed start");
            }
        }
        result
    }

    pub(crate) async fn start_locked(
        self: &Arc<Self>,
        record: ContainerRecord,
        entry: &Arc<Entry>,
        attach: Option<AttachOptions>,
    ) -> Result<Option<tonic::Streaming<shimpb::AttachResponse>>, ContainerError> {
        let id = record.id.clone();
        self.ensure_bundle(&record).await?;
        self.volumes.container_starting(&id, &record.volumes)?;
        crate::networks::container_hooks::join_namespace(self, &record)?;
        let (_, runtime) = self.runtimes.resolve(Some(&record.runtime))?;
        let state_dir = self.paths.shim_state(&id);
        let _ = std::fs::remove_dir_all(&state_dir);
        let bundle = self.paths.bundle(&id);
        let launch = ShimLaunch {
            binary: &self.shim_binary,
            id: &id,
            bundle: &bundle,
            state_dir: &state_dir,
            runtime: &runtime,
            runtime_root: &self.paths.runtime_root,
            socket_dir: &self.paths.sockets,
        };
        let mut shim_info = ShimInfo {
            address: PathBuf::new(),
            state_dir: state_dir.clone(),
            runtime: runtime.clone(),
            runtime_root: self.paths.runtime_root.clone(),
        };
        // The intent goes first: a berthd killed from here on finds the
        // shim it spawned through the record (recover_interrupted_start).
        self.update(&id, |r| {
            r.starting = Some(StartIntent {
                step: StartStep::Spawning,
                shim: shim_info.clone(),
                pid: 0,
            })
        })?;
        crash_point::reached("start-intent", &id);
        let result = self
            .start_task(&record, entry, attach, &launch, &mut shim_info)
            .await;
        if result.is_err() {
            // Whatever the failed step left (a shim that could not be
            // reached, a created init) goes; the record keeps the error.
            self.tear_down_task(&id, Some(&shim_info)).await;
            let _ = self.update(&id, |r| r.starting = None);
        }
        result
    }

    /// The steps of a start after its intent is recorded: spawn the shim,
    /// create, network, ports, attach, start, record `running`.
    async fn start_task(
        self: &Arc<Self>,
        record: &ContainerRecord,
        entry: &Arc<Entry>,
        attach: Option<AttachOptions>,
        launch: &ShimLaunch<'_>,
        shim_info: &mut ShimInfo,
    ) -> Result<Option<tonic::Streaming<shimpb::AttachResponse>>, ContainerError> {
        let id = record.id.clone();
        let record = record.clone();
        let address = shim::spawn(launch).await?;
        shim_info.address = address.clone();
        crash_point::reached("start-shim-spawned", &id);
        let mut client = shim::connect(&address).await?;
        let shim_info = shim_info.clone();
        let log = &record.config.log;
        let log_config = shimpb::LogConfig {
            driver: log.driver.clone(),
            path: if log.driver == "json-file" {
                self.paths.log_path(&id).to_string_lossy().into_owned()
            } else {
                String::new()
            },
            max_size: log.max_size,
            max_file: log.max_file,
        };
        let created = client
            .create(shimpb::CreateRequest {
                id: id.clone(),
                stdin: record.config.options.open_stdin,
                log: Some(log_config),
            })
            .await;
        let init_pid = match created {
            Ok(r) => r.into_inner().pid,
            Err(status) => {
                let message = status.message().to_string();
                shutdown_shim(&mut client, &id).await;
                return Err(self.start_failed(&record, message));
            }
        };
        self.update(&id, |r| {
            r.starting = Some(StartIntent {
                step: StartStep::Created,
                shim: shim_info.clone(),
                pid: init_pid,
            })
        })?;
        crash_point::reached("start-created", &id);
        if let Err(e) = self.networks.attach(&id, init_pid).await {
            shutdown_shim(&mut client, &id).await;
            return Err(self.start_failed(&record, e.to_string()));
        }
        crash_point::reached("start-attached", &id);
        if let Some(ip) = self.networks.primary_address(&id) {
            if let Err(e) = self.publish_ports(&record, ip).await {
                shutdown_shim(&mut client, &id).await;
                self.networks.detach(&id).await;
                return Err(e);
            }
        }
        let stream = match &attach {
            Some(a) => {
                if a.width > 0 && a.height > 0 {
                    let _ = client
                        .resize_pty(shimpb::ResizePtyRequest {
                            id: id.clone(),
                            exec_id: String::new(),
                            width: a.width,
                            height: a.height,
                        })
                        .await;
                }
                match open_attach(&address, &id, "", a.stdin_rx.clone()).await {
                    Ok(stream) => Some(stream),
                    Err(e) => {
                        shutdown_shim(&mut client, &id).await;
                        self.unpublish_ports(&id).await;
                        self.networks.detach(&id).await;
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        entry.oom.store(false, std::sync::atomic::Ordering::SeqCst);
        let started = client
            .start(shimpb::StartRequest {
                id: id.clone(),
                exec_id: String::new(),
            })
            .await;
        let pid = match started {
            Ok(r) => r.into_inner().pid,
            Err(status) => {
                let message = status.message().to_string();
                shutdown_shim(&mut client, &id).await;
                self.unpublish_ports(&id).await;
                self.networks.detach(&id).await;
                return Err(self.start_failed(&record, message));
            }
        };
        crash_point::reached("start-started", &id);
        let record = self.update(&id, |r| {
            r.state.status = Status::Running;
            r.state.pid = pid;
            r.state.started_at = now_rfc3339();
            r.state.exit_code = 0;
            r.state.error.clear();
            r.state.oom_killed = false;
            r.state.stopped_by_user = false;
            r.shim = Some(shim_info);
            r.starting = None;
        })?;
        crash_point::reached("start-recorded", &id);
        entry.set_client(Some(client.clone()));
        self.publish(&record, "start", &[]);
        self.monitor(id);
        Ok(stream)
    }

    /// Records a failed start (docker keeps the container, with the error
    /// and exit code 126/127/128) and returns the error.
    fn start_failed(&self, record: &ContainerRecord, message: String) -> ContainerError {
        let code = start_failure_code(&message);
        let _ = self.update(&record.id, |r| {
            r.state.error = message.clone();
            r.state.exit_code = code;
            if r.state.status != Status::Created {
                r.state.status = Status::Exited;
                r.state.finished_at = now_rfc3339();
            }
            r.shim = None;
        });
        ContainerError::StartFailed { message, code }
    }

    // ---- monitoring exits ----

    /// Spawns the task that waits for the container's exit and records it.
    pub(crate) fn monitor(self: &Arc<Self>, id: String) {
        self.start_health_monitor(&id);
        let service = self.clone();
        tokio::spawn(async move { service.watch_exit(id).await });
    }

    async fn watch_exit(self: Arc<Self>, id: String) {
        let entry = self.entry(&id);
        let Some(mut client) = entry.client() else {
            return;
        };
        // OOM events arrive on the shim's event stream.
        if let Ok(events) = client.events(shimpb::EventsRequest {}).await {
            let entry = entry.clone();
            let service = self.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let mut events = events.into_inner();
                while let Ok(Some(ev)) = events.message().await {
                    if ev.r#type == shimpb::EventType::Oom as i32 && ev.exec_id.is_empty() {
                        entry.oom.store(true, std::sync::atomic::Ordering::SeqCst);
                        if let Ok(r) = service.get(&id) {
                            service.publish(&r, "oom", &[]);
                        }
                    }
                }
            });
        }
        loop {
            let waited = client
                .wait(shimpb::WaitRequest {
                    id: id.clone(),
                    exec_id: String::new(),
                })
                .await;
            match waited {
                Ok(w) => {
                    let w = w.into_inner();
                    let finished = w
                        .exited_at
                        .and_then(|t| {
                            SystemTime::UNIX_EPOCH
                                .checked_add(Duration::new(t.seconds as u64, t.nanos as u32))
                        })
                        .map(|t| humantime::format_rfc3339_nanos(t).to_string())
                        .unwrap_or_else(now_rfc3339);
                    let code = w.exit_status as i32;
                    self.handle_exit(&id, code, finished, Some(client), None)
                        .await;
                    return;
                }
                Err(status) => {
                    let Some(shim) = self.get(&id).ok().and_then(|r| r.shim) else {
                        // Its exit was recorded (or it was removed) meanwhile.
                        return;
                    };
                    if ShimProcess::find(&shim.state_dir).is_some() {
                        // The shim lives: only the connection broke (or
                        // berthd is going down, and this task with it).
                        tracing::warn!(id, error = %status.message(), "lost the connection to the shim; reconnecting");
                        tokio::time::sleep(RECONNECT_PAUSE).await;
                        if let Ok(c) = shim::connect(&shim.address).await {
                            entry.set_client(Some(c.clone()));
                            client = c;
                        }
                        continue;
                    }
                    tracing::warn!(id, error = %status.message(), "the shim died");
                    let (code, at, error) = self.reap_lost_shim(&id, &shim).await;
                    self.handle_exit(&id, code, at, None, error).await;
                    return;
                }
            }
        }
    }

    /// A container whose shim died: its exit, from the exit file when the
    /// shim recorded one before it died; else the container is killed
    /// through the runtime (see [`LOST_SHIM_EXIT_CODE`]) and, like
    /// containerd after a dead shim, reported as killed. Either way nothing
    /// of the task is left: runtime state, cgroup, the dead shim's socket.
    async fn reap_lost_shim(&self, id: &str, shim: &ShimInfo) -> (i32, String, Option<String>) {
        let exit = read_exit_file(&shim.state_dir);
        self.tear_down_task(id, Some(shim)).await;
        match exit {
            Some((code, at)) => (code, at, None),
            None => {
                tracing::warn!(
                    id,
                    "shim lost while the container ran: killed it through the runtime"
                );
                (
                    LOST_SHIM_EXIT_CODE,
                    now_rfc3339(),
                    Some(format!(
                        "the container's shim died ({}): its process was killed, since nothing could supervise it, hold its output or learn its exit code any more",
                        shim.state_dir.display()
                    )),
                )
            }
        }
    }

    /// Ends whatever task container `id` has: its shim (asked to
    /// force-delete the container and exit, or killed), the runtime's
    /// container (a forced delete kills the process and removes the cgroup
    /// and the runtime's state), the dead shim's socket, the published ports
    /// and the veth. Used after failed and interrupted starts and lost
    /// shims; a container that never started is left `created`.
    pub(crate) async fn tear_down_task(&self, id: &str, shim_info: Option<&ShimInfo>) {
        let state_dir = shim_info
            .map(|s| s.state_dir.clone())
            .unwrap_or_else(|| self.paths.shim_state(id));
        let address = shim_info
            .map(|s| s.address.clone())
            .filter(|a| !a.as_os_str().is_empty())
            .or_else(|| shim_address(&state_dir));
        if let Some(process) = ShimProcess::find(&state_dir) {
            if let Some(address) = &address {
                if let Ok(Ok(mut c)) =
                    tokio::time::timeout(SHIM_CONNECT_TIMEOUT, shim::connect(address)).await
                {
                    let _ = tokio::time::timeout(SHIM_SHUTDOWN_TIMEOUT, shutdown_shim(&mut c, id))
                        .await;
                }
            }
            if !process.end(SHIM_EXIT_GRACE).await {
                tracing::warn!(id, pid = process.pid, "shim did not die");
            }
        }
        if let Err(e) = self
            .force_delete_runtime_container(id, shim_info.map(|s| s.runtime.as_path()))
            .await
        {
            tracing::warn!(id, error = %e, "forced delete in the runtime");
        }
        if let Some(address) = &address {
            // A killed shim leaves its socket behind.
            if std::os::unix::net::UnixStream::connect(address).is_err() {
                let _ = std::fs::remove_file(address);
            }
        }
        self.unpublish_ports(id).await;
        self.networks.detach(id).await;
    }

    /// `RUNTIME delete --force ID` when the runtime still has state for
    /// `id` under berthd's runtime root (the process killed, its cgroup and
    /// state removed). With no runtime named, each known runtime is tried.
    pub(crate) async fn force_delete_runtime_container(
        &self,
        id: &str,
        runtime: Option<&Path>,
    ) -> Result<(), ContainerError> {
        let state = self.paths.runtime_root.join(id);
        if !state.exists() {
            return Ok(());
        }
        let mut candidates: Vec<PathBuf> = runtime.map(Path::to_path_buf).into_iter().collect();
        candidates.extend(self.runtimes.paths.values().cloned());
        let mut last = String::new();
        for binary in candidates {
            let out = tokio::process::Command::new(&binary)
                .arg("--root")
                .arg(&self.paths.runtime_root)
                .args(["delete", "--force", id])
                .stdin(std::process::Stdio::null())
                .output()
                .await;
            match out {
                Ok(o) if o.status.success() && !state.exists() => return Ok(()),
                Ok(o) => last = String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => last = format!("run {}: {e}", binary.display()),
            }
        }
        if state.exists() {
            return Err(ContainerError::Internal(format!(
                "forced delete of container {id} in the runtime left {}: {last}",
                state.display()
            )));
        }
        Ok(())
    }

    /// Records an exit: shim cleaned up, state exited, watchers told, and
    /// the container removed when it was created with `--rm`.
    async fn handle_exit(
        self: &Arc<Self>,
        id: &str,
        code: i32,
        finished: String,
        client: Option<Client>,
        error: Option<String>,
    ) {
        let entry = self.entry(id);
        self.stop_health_monitor(&entry);
        // The shim's Delete ends its attach streams: clients attached
        // through berthd get the output's tail first.
        super::exec::drain_output_relays(id, &entry).await;
        let guard = entry.lock.lock().await;
        if let Some(mut client) = client {
            let deleted = client
                .delete(shimpb::DeleteRequest {
                    id: id.to_string(),
                    exec_id: String::new(),
                })
                .await;
            if deleted.is_err() {
                // The shim refuses Delete while an exec it has not reaped yet
                // still counts as running (a health probe caught by the
                // exit); the container is gone either way, and a shim left
                // waiting would never exit: have it force-delete and exit.
                shutdown_shim(&mut client, id).await;
            }
            crash_point::reached("exit-deleted", id);
        }
        entry.set_client(None);
        self.unpublish_ports(id).await;
        self.networks.detach(id).await;
        let oom = entry.oom.load(std::sync::atomic::Ordering::SeqCst);
        let record = self.update(id, |r| {
            r.state.status = Status::Exited;
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.finished_at = finished.clone();
            r.state.oom_killed = oom;
            if let Some(e) = &error {
                r.state.error = e.clone();
            }
            r.shim = None;
            r.starting = None;
        });
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(id, error = %e, "record exit");
                return;
            }
        };
        self.publish(&record, "die", &[("exitCode", code.to_string())]);
        self.volumes.container_stopped(id, &record.volumes);
        let record = self.schedule_restart(record, &entry);
        let generation = entry.exits.borrow().0 + 1;
        entry
            .exits
            .send_replace((generation, Some(ExitInfo { code })));
        drop(guard);
        if record.config.auto_remove {
            if let Err(e) = self.remove(id, true).await {
                tracing::warn!(id, error = %e, "auto-remove");
            }
        }
    }

    /// After a berthd restart, before serving: makes the records and what is
    /// on disk agree.
    ///
    /// * a record with a start under way (`starting`): the start is
    ///   reconciled ([`Self::recover_interrupted_start`]);
    /// * a live record: its shim is reconnected; a shim that is gone left
    ///   its exit file, which is read instead, or (none) the container lost
    ///   its supervisor and is killed ([`Self::reap_lost_shim`]);
    /// * any other record whose state dir still holds a live shim: reconciled
    ///   like an interrupted start (a shim nobody tracks is adopted or ended);
    /// * state left by containers without a record (bundle dirs, the
    ///   runtime's state, log dirs, dead shims' sockets): torn down
    ///   ([`Self::reap_orphans`]);
    /// * then restart policies run, and the networks drop what is not live.
    pub async fn recover(self: &Arc<Self>) -> Result<(), ContainerError> {
        let mut restarts = Vec::new();
        for record in self.records()? {
            if record.starting.is_some()
                || (!record.state.status.is_live()
                    && ShimProcess::find(&self.paths.shim_state(&record.id)).is_some())
            {
                let id = record.id.clone();
                self.recover_interrupted_start(record).await;
                if let Ok(r) = self.get(&id) {
                    if matches!(r.state.status, Status::Exited | Status::Restarting) {
                        restarts.push(id);
                    }
                }
                continue;
            }
            if matches!(record.state.status, Status::Exited | Status::Restarting) {
                restarts.push(record.id.clone());
                continue;
            }
            if !record.state.status.is_live() {
                if record.state.status == Status::Removing {
                    let _ = self.remove(&record.id, true).await;
                }
                continue;
            }
            let entry = self.entry(&record.id);
            let connected = match &record.shim {
                Some(s) => shim::connect(&s.address).await.ok(),
                None => None,
            };
            match (connected, &record.shim) {
                (Some(client), _) => {
                    entry.set_client(Some(client));
                    tracing::info!(id = %record.id, "re-adopted shim");
                    self.monitor(record.id.clone());
                }
                (None, Some(shim)) => {
                    let (code, at, error) = self.reap_lost_shim(&record.id, shim).await;
                    tracing::info!(id = %record.id, code, "shim gone; recorded its exit");
                    self.handle_exit(&record.id, code, at, None, error).await;
                }
                (None, None) => {
                    self.tear_down_task(&record.id, None).await;
                    self.handle_exit(&record.id, LOST_SHIM_EXIT_CODE, now_rfc3339(), None, None)
                        .await;
                }
            }
        }
        self.reap_orphans().await;
        for id in restarts {
            if let Ok(record) = self.get(&id) {
                self.restart_at_daemon_start(&record);
            }
        }
        let live = self
            .records()?
            .into_iter()
            .filter(|r| r.state.status.is_live())
            .map(|r| r.id)
            .collect();
        if let Err(e) = self.networks.recover(&live).await {
            tracing::warn!(error = %e, "recover networks");
        }
        Ok(())
    }

    /// A start berthd did not finish (it died after writing the intent), or
    /// a shim found alive for a container its record says is not running.
    /// What the shim says decides: a process that was started (running,
    /// paused, or already exited) is adopted, so it keeps its logs and its
    /// true exit code (`wait` gets it from the shim; `--rm` removes it only
    /// once it exits); anything short of that (no shim, no init, an init
    /// never started) is torn down and the container stays as it was
    /// (`created`, or `exited` from an earlier run), ready for `start`.
    async fn recover_interrupted_start(self: &Arc<Self>, record: ContainerRecord) {
        let id = record.id.clone();
        let shim_info = match &record.starting {
            Some(intent) => intent.shim.clone(),
            None => {
                let (_, runtime) = self
                    .runtimes
                    .resolve(Some(&record.runtime))
                    .unwrap_or_else(|_| (String::new(), PathBuf::new()));
                ShimInfo {
                    address: PathBuf::new(),
                    state_dir: self.paths.shim_state(&id),
                    runtime,
                    runtime_root: self.paths.runtime_root.clone(),
                }
            }
        };
        let mut shim_info = shim_info;
        if shim_info.address.as_os_str().is_empty() {
            if let Some(a) = shim_address(&shim_info.state_dir) {
                shim_info.address = a;
            }
        }
        let step = record.starting.as_ref().map(|i| i.step);
        let mut adopted = None;
        if ShimProcess::find(&shim_info.state_dir).is_some()
            && !shim_info.address.as_os_str().is_empty()
        {
            if let Ok(Ok(mut client)) =
                tokio::time::timeout(SHIM_CONNECT_TIMEOUT, shim::connect(&shim_info.address)).await
            {
                let state = client
                    .state(shimpb::StateRequest {
                        id: id.clone(),
                        exec_id: String::new(),
                    })
                    .await
                    .map(|r| r.into_inner());
                if let Ok(state) = state {
                    let status = shimpb::Status::try_from(state.status).unwrap_or_default();
                    if matches!(
                        status,
                        shimpb::Status::Running | shimpb::Status::Paused | shimpb::Status::Stopped
                    ) {
                        adopted = Some((client, state.pid, status));
                    }
                }
            }
        }
        match adopted {
            Some((client, pid, status)) => {
                let info = shim_info.clone();
                let updated = self.update(&id, |r| {
                    r.state.status = if status == shimpb::Status::Paused {
                        Status::Paused
                    } else {
                        Status::Running
                    };
                    r.state.pid = pid;
                    if r.starting.is_some() || r.state.started_at.is_empty() {
                        r.state.started_at = now_rfc3339();
                    }
                    r.state.exit_code = 0;
                    r.state.error.clear();
                    r.state.oom_killed = false;
                    r.state.stopped_by_user = false;
                    r.shim = Some(info);
                    r.starting = None;
                });
                match updated {
                    Ok(record) => {
                        tracing::info!(id, ?step, pid, "adopted the shim of an interrupted start");
                        let entry = self.entry(&id);
                        entry.set_client(Some(client));
                        self.publish(&record, "start", &[]);
                        self.monitor(id);
                    }
                    Err(e) => tracing::warn!(id, error = %e, "record an adopted start"),
                }
            }
            None => {
                // An exit file: the process ran and exited while its shim
                // was lost too; its code is the true one.
                let exit = read_exit_file(&shim_info.state_dir);
                self.tear_down_task(&id, Some(&shim_info)).await;
                let _ = std::fs::remove_dir_all(&shim_info.state_dir);
                tracing::info!(id, ?step, "tore down an interrupted start");
                let _ = self.update(&id, |r| {
                    r.starting = None;
                    r.shim = None;
                    r.state.pid = 0;
                    match exit {
                        Some((code, at)) => {
                            r.state.status = Status::Exited;
                            r.state.exit_code = code;
                            r.state.finished_at = at;
                        }
                        None if r.state.status.is_live() => {
                            r.state.status = Status::Exited;
                            r.state.exit_code = LOST_SHIM_EXIT_CODE;
                            r.state.finished_at = now_rfc3339();
                        }
                        None => {
                            r.state.error =
                                "the start was interrupted by a restart of berthd".to_string();
                        }
                    }
                });
            }
        }
    }

    /// What containers without a record left: a bundle dir (its shim, the
    /// runtime's container, the rootfs mount and snapshot, the network
    /// addresses go too), the runtime's state, a log dir, and any socket in
    /// the shim socket dir no shim listens on. A berthd killed during a
    /// create or during the removal of a `--rm` container leaves these.
    async fn reap_orphans(&self) {
        let known: BTreeSet<String> = match self.records() {
            Ok(r) => r.into_iter().map(|r| r.id).collect(),
            Err(_) => return,
        };
        let orphans = |dir: &Path| -> Vec<String> {
            std::fs::read_dir(dir)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| !n.starts_with('.') && !known.contains(n))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut ids: BTreeSet<String> = orphans(&self.paths.bundles).into_iter().collect();
        ids.extend(orphans(&self.paths.runtime_root));
        ids.extend(orphans(&self.paths.persistent));
        let snapshotter = self.images.snapshotter().name().to_string();
        for id in ids {
            tracing::info!(id, "removing what a container without a record left");
            self.tear_down_task(&id, None).await;
            self.discard_filesystem(&id, &snapshotter, &format!("container-{id}"));
            if let Err(e) = self.networks.release(&id).await {
                tracing::warn!(id, error = %e, "release network addresses");
            }
        }
        // Sockets of shims killed with SIGKILL (and console sockets of
        // creates they did not finish).
        if let Ok(rd) = std::fs::read_dir(&self.paths.sockets) {
            for e in rd.flatten() {
                let path = e.path();
                if std::os::unix::net::UnixStream::connect(&path).is_err() {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }

    // ---- stop, kill, restart ----

    /// Sends `signal` to the container's init.
    pub async fn kill(&self, input: &str, signal: i32) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        if self.cancel_restart(&record.id).await? {
            return Ok(());
        }
        let entry = self.entry(&record.id);
        let Some(mut client) = entry.client().filter(|_| record.state.status.is_live()) else {
            return Err(ContainerError::FailedPrecondition(format!(
                "cannot kill container: {input}: container {} is not running",
                record.id
            )));
        };
        let _ = self.update(&record.id, |r| r.state.stopped_by_user = true);
        client
            .kill(shimpb::KillRequest {
                id: record.id.clone(),
                exec_id: String::new(),
                signal: signal as u32,
                all: false,
            })
            .await
            .map_err(|s| ContainerError::Internal(s.message().to_string()))?;
        self.publish(&record, "kill", &[("signal", signal.to_string())]);
        Ok(())
    }

    /// Waits up to `timeout` for the exit that follows generation `seen`.
    async fn wait_exit_after(entry: &Entry, seen: u64, timeout: Option<Duration>) -> bool {
        let mut rx = entry.exits.subscribe();
        let wait = rx.wait_for(|(g, _)| *g > seen);
        match timeout {
            Some(t) => matches!(tokio::time::timeout(t, wait).await, Ok(Ok(_))),
            None => wait.await.is_ok(),
        }
    }

    /// docker stop: the stop signal, `timeout` seconds, then SIGKILL.
    pub async fn stop(
        &self,
        input: &str,
        timeout: Option<i32>,
        signal: Option<i32>,
    ) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        if self.cancel_restart(&record.id).await? {
            self.publish(&record, "stop", &[]);
            return Ok(());
        }
        let entry = self.entry(&record.id);
        let seen = entry.exits.borrow().0;
        let Some(mut client) = entry.client().filter(|_| record.state.status.is_live()) else {
            return Ok(());
        };
        let _ = self.update(&record.id, |r| r.state.stopped_by_user = true);
        let signal = signal.unwrap_or(record.stop_signal);
        let timeout = timeout.unwrap_or_else(|| record.stop_timeout());
        if record.state.status == Status::Paused {
            let _ = client
                .resume(shimpb::ResumeRequest {
                    id: record.id.clone(),
                })
                .await;
        }
        let _ = client
            .kill(shimpb::KillRequest {
                id: record.id.clone(),
                exec_id: String::new(),
                signal: signal as u32,
                all: false,
            })
            .await;
        let graceful = if timeout < 0 {
            Self::wait_exit_after(&entry, seen, None).await
        } else {
            Self::wait_exit_after(&entry, seen, Some(Duration::from_secs(timeout as u64))).await
        };
        if !graceful {
            let _ = client
                .kill(shimpb::KillRequest {
                    id: record.id.clone(),
                    exec_id: String::new(),
                    signal: libc::SIGKILL as u32,
                    all: true,
                })
                .await;
            Self::wait_exit_after(&entry, seen, Some(Duration::from_secs(30))).await;
        }
        self.publish(&record, "stop", &[]);
        Ok(())
    }

    /// docker restart: stop (if running) then start.
    pub async fn restart(
        self: &Arc<Self>,
        input: &str,
        timeout: Option<i32>,
        signal: Option<i32>,
    ) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        self.stop(&record.id, timeout, signal).await?;
        self.start(&record.id, None).await?;
        self.publish(&record, "restart", &[]);
        Ok(())
    }

    // ---- pause ----

    pub async fn pause(&self, input: &str) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        let _guard = entry.lock.lock().await;
        let record = self.get(&record.id)?;
        match record.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(ContainerError::FailedPrecondition(format!(
                    "container {} is already paused",
                    record.id
                )))
            }
            _ => {
                return Err(ContainerError::FailedPrecondition(format!(
                    "container {} is not running",
                    record.id
                )))
            }
        }
        let mut client = entry.client().ok_or_else(|| not_running(&record.id))?;
        client
            .pause(shimpb::PauseRequest {
                id: record.id.clone(),
            })
            .await
            .map_err(|s| ContainerError::Internal(s.message().to_string()))?;
        let record = self.update(&record.id, |r| r.state.status = Status::Paused)?;
        self.publish(&record, "pause", &[]);
        Ok(())
    }

    pub async fn unpause(&self, input: &str) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        let _guard = entry.lock.lock().await;
        let record = self.get(&record.id)?;
        if record.state.status != Status::Paused {
            return Err(ContainerError::FailedPrecondition(format!(
                "container {} is not paused",
                record.id
            )));
        }
        let mut client = entry.client().ok_or_else(|| not_running(&record.id))?;
        client
            .resume(shimpb::ResumeRequest {
                id: record.id.clone(),
            })
            .await
            .map_err(|s| ContainerError::Internal(s.message().to_string()))?;
        let record = self.update(&record.id, |r| r.state.status = Status::Running)?;
        self.publish(&record, "unpause", &[]);
        Ok(())
    }

    // ---- wait ----

    /// docker wait: blocks until `condition` and answers the exit code.
    pub async fn wait(&self, input: &str, condition: &str) -> Result<i32, ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        match condition {
            "" | "not-running" => {
                let seen = entry.exits.borrow().0;
                let record = self.get(&record.id)?;
                if !record.state.status.is_live() {
                    return Ok(record.state.exit_code);
                }
                Self::wait_exit_after(&entry, seen, None).await;
                Ok(entry.exits.borrow().1.map(|e| e.code).unwrap_or(0))
            }
            "next-exit" => {
                let seen = entry.exits.borrow().0;
                Self::wait_exit_after(&entry, seen, None).await;
                Ok(entry.exits.borrow().1.map(|e| e.code).unwrap_or(0))
            }
            "removed" => {
                let mut rx = entry.removed.subscribe();
                let _ = rx.wait_for(|r| *r).await;
                Ok(entry
                    .exits
                    .borrow()
                    .1
                    .map(|e| e.code)
                    .unwrap_or(record.state.exit_code))
            }
            other => Err(ContainerError::InvalidArgument(format!(
                "invalid condition: {other:?} (want not-running, next-exit or removed)"
            ))),
        }
    }

    /// Waits for the current run's exit, then (auto-removed containers) for
    /// the removal; answers the exit code.
    pub(crate) async fn wait_run_end(&self, id: &str, seen: u64, auto_remove: bool) -> i32 {
        let entry = self.entry(id);
        Self::wait_exit_after(&entry, seen, None).await;
        let code = entry.exits.borrow().1.map(|e| e.code).unwrap_or(0);
        if auto_remove {
            let mut rx = entry.removed.subscribe();
            let _ = rx.wait_for(|r| *r).await;
        }
        code
    }

    // ---- remove, rename ----

    /// docker rm: refuses a live container unless `force` (then kills it).
    /// A container created with `--rm` takes its anonymous volumes along.
    pub async fn remove(&self, input: &str, force: bool) -> Result<(), ContainerError> {
        self.remove_with_volumes(input, force, false).await
    }

    /// docker rm [-v]: with `volumes`, the container's anonymous volumes
    /// are removed too (never its named ones).
    pub async fn remove_with_volumes(
        &self,
        input: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), ContainerError> {
        let mut record = self.resolve(input)?;
        if force && self.cancel_restart(&record.id).await? {
            record = self.get(&record.id)?;
        }
        let id = record.id.clone();
        let entry = self.entry(&id);
        if record.state.status.is_live() {
            if !force {
                return Err(ContainerError::FailedPrecondition(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    record.name
                )));
            }
            let seen = entry.exits.borrow().0;
            // Killed by the user: its restart policy must not start it
            // again under the removal (docker's kill marks it so too).
            let _ = self.update(&id, |r| r.state.stopped_by_user = true);
            if let Some(mut client) = entry.client() {
                let _ = client
                    .kill(shimpb::KillRequest {
                        id: id.clone(),
                        exec_id: String::new(),
                        signal: libc::SIGKILL as u32,
                        all: true,
                    })
                    .await;
                if record.state.status == Status::Paused {
                    let _ = client
                        .resume(shimpb::ResumeRequest { id: id.clone() })
                        .await;
                }
                Self::wait_exit_after(&entry, seen, Some(Duration::from_secs(30))).await;
            }
        }
        let _guard = entry.lock.lock().await;
        let record = match self.get(&id) {
            Ok(r) => r,
            // Removed meanwhile (auto-remove).
            Err(ContainerError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if record.state.status.is_live() {
            return Err(ContainerError::FailedPrecondition(format!(
                "cannot remove container \"/{}\": could not kill it",
                record.name
            )));
        }
        let record = self.update(&id, |r| r.state.status = Status::Removing)?;
        if let Some(s) = &record.shim {
            // A shim left from a failed start.
            if let Ok(mut c) = shim::connect(&s.address).await {
                shutdown_shim(&mut c, &id).await;
            }
        }
        // The shim is gone before its state dir is: one still exiting after
        // the Delete of the exit writes `shim-exit` there, and a write racing
        // the removal of the bundle left the bundle dir behind (parallel
        // rm -f / stop / kill). A shim that will not go is killed.
        if let Some(process) = ShimProcess::find(&self.paths.shim_state(&id)) {
            if !process.end(SHIM_EXIT_GRACE).await {
                return Err(ContainerError::Internal(format!(
                    "remove container {id}: its shim (pid {}) does not exit",
                    process.pid
                )));
            }
        }
        // The runtime's container, if anything (a lost shim) left it.
        self.force_delete_runtime_container(&id, None).await?;
        self.discard_filesystem(&id, &record.snapshotter, &record.snapshot_key);
        let bundle = self.paths.bundle(&id);
        if bundle.exists() {
            return Err(ContainerError::Internal(format!(
                "remove container {id}: {} is left (rootfs mounted: {})",
                bundle.display(),
                is_mounted(&self.paths.rootfs(&id))
            )));
        }
        self.networks.release(&id).await?;
        self.meta.delete_record(Collection::Containers, &id)?;
        self.volumes
            .container_removed(&record.volumes, volumes || record.config.auto_remove);
        self.publish(&record, "destroy", &[]);
        entry.removed.send_replace(true);
        self.drop_entry(&id);
        Ok(())
    }

    pub async fn rename(&self, input: &str, new_name: &str) -> Result<(), ContainerError> {
        let new_name = new_name.trim_start_matches('/');
        if !valid_name(new_name) {
            return Err(ContainerError::InvalidArgument(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let _names = self.names.lock().await;
        let record = self.resolve(input)?;
        if record.name == new_name {
            return Err(ContainerError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = self.records()?.iter().find(|r| r.name == new_name) {
            return Err(ContainerError::Conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let old = record.name.clone();
        let record = self.update(&record.id, |r| r.name = new_name.to_string())?;
        self.publish(&record, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// Containers of any state, newest first.
    pub fn list_records(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        let mut records = self.records()?;
        records.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(records)
    }

    /// How many containers there are in each state: (all, running, paused, stopped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let records = self.records().unwrap_or_default();
        let running = records
            .iter()
            .filter(|r| r.state.status == Status::Running)
            .count();
        let paused = records
            .iter()
            .filter(|r| r.state.status == Status::Paused)
            .count();
        (
            records.len(),
            running,
            paused,
            records.len() - running - paused,
        )
    }
}

/// What `start` attaches before starting.
#[derive(Clone)]
pub struct AttachOptions {
    /// Bytes for the process's stdin (none: no stdin is attached).
    pub stdin_rx: Option<Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<StdinMessage>>>>,
    pub width: u32,
    pub height: u32,
}

/// What a client sends to a process's stdin.
#[derive(Debug)]
pub enum StdinMessage {
    Data(Vec<u8>),
    Close,
}

/// Opens the shim's Attach stream for process `exec_id`, feeding it the
/// client's stdin. The stream gets a connection of its own to the shim at
/// `address`: HTTP/2 flow control is per connection too, and a client that
/// reads slowly (or not at all) fills its stream's window; on the shared
/// connection a few such streams would exhaust the connection's window
/// and stall every other call on it (the Wait that learns of the exit).
pub(crate) async fn open_attach(
    address: &Path,
    id: &str,
    exec_id: &str,
    stdin: Option<Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<StdinMessage>>>>,
) -> Result<tonic::Streaming<shimpb::AttachResponse>, ContainerError> {
    let mut client = shim::connect(address).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<shimpb::AttachRequest>(16);
    tx.send(shimpb::AttachRequest {
        id: id.to_string(),
        exec_id: exec_id.to_string(),
        stdin: Vec::new(),
        close_stdin: false,
    })
    .await
    .map_err(|_| ContainerError::Internal("attach: request channel closed".into()))?;
    if let Some(stdin) = stdin {
        let id = id.to_string();
        let exec_id = exec_id.to_string();
        tokio::spawn(async move {
            let mut stdin = stdin.lock().await;
            while let Some(msg) = stdin.recv().await {
                let (data, close) = match msg {
                    StdinMessage::Data(d) => (d, false),
                    StdinMessage::Close => (Vec::new(), true),
                };
                let req = shimpb::AttachRequest {
                    id: id.clone(),
                    exec_id: exec_id.clone(),
                    stdin: data,
                    close_stdin: close,
                };
                if tx.send(req).await.is_err() || close {
                    break;
                }
            }
        });
    } else {
        // No stdin: the request side ends after its first message. Held
        // open, it would keep the HTTP/2 stream alive after the output
        // was dropped (a client gone): no reset would reach the shim, and
        // the shim would wait forever for room in that client's queue.
        drop(tx);
    }
    let stream = client
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|s| ContainerError::Internal(format!("attach to {id}: {}", s.message())))?;
    Ok(stream.into_inner())
}

/// The exit code recorded for a container killed because its shim died:
/// 128 + SIGKILL, what containerd reports after a dead shim (its
/// `cleanupAfterDeadShim` runs the shim's delete: `runc delete --force`).
pub const LOST_SHIM_EXIT_CODE: i32 = 128 + libc::SIGKILL;
/// Before a connection to a shim that lives is tried again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);
/// How long a shim being torn down may take to accept a connection.
const SHIM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long its forced Shutdown may take (it waits for a create in flight
/// and for the init's death).
const SHIM_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(45);
/// How long a shim told to go may take to exit before it is killed.
const SHIM_EXIT_GRACE: Duration = Duration::from_secs(2);

/// The socket a shim recorded in its state dir (`address`).
fn shim_address(state_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(state_dir.join("address")).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| PathBuf::from(text))
}

/// Tells a shim to go (killing and deleting its container first).
async fn shutdown_shim(client: &mut Client, id: &str) {
    let _ = client
        .shutdown(shimpb::ShutdownRequest {
            id: id.to_string(),
            now: true,
        })
        .await;
}

fn not_running(id: &str) -> ContainerError {
    ContainerError::FailedPrecondition(format!("container {id} is not running"))
}

/// The exit the shim recorded in its state dir: (code, finished-at).
fn read_exit_file(state_dir: &Path) -> Option<(i32, String)> {
    let bytes = std::fs::read(state_dir.join("exit")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let code = v.get("exit_status")?.as_i64()? as i32;
    let at = v
        .get("exited_at")
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .unwrap_or_else(now_rfc3339);
    Some((code, at))
}

/// Whether something is mounted exactly at `path`.
pub(crate) fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .map(|p| p.replace("\\040", " ") == want)
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_rule() {
        assert!(valid_name("web"));
        assert!(valid_name("a1.b_c-d"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("we/b"));
        assert!(!valid_name(""));
    }

    #[test]
    fn ids_are_64_hex_and_names_derive_from_them() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_id());
        let name = random_name(&id);
        assert!(valid_name(&name), "{name}");
    }

    #[test]
    fn start_failures_map_to_docker_codes() {
        assert_eq!(
            start_failure_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            start_failure_code("exec /etc/passwd: permission denied"),
            126
        );
        assert_eq!(start_failure_code("cgroup: EBUSY"), 128);
    }
}
