//! The images domain: image records over the content store and snapshots.
//!
//! An image is a *record* in the metadata database (`images` table) naming a
//! manifest or index in the content store, keyed by its normalised reference
//! (`docker.io/library/busybox:latest`), as in containerd. Docker's view is
//! derived from it: the image ID is the config digest, `RepoTags` are the
//! names of every record resolving to that config, and an image that lost
//! its last name (a tag moved by a newer pull) is kept under a *dangling*
//! record named by its ID (`sha256:<hex>`, never a valid reference) until
//! `image prune` removes it.
//!
//! Every image's layers are unpacked as committed snapshots named by chain
//! ID, so a layer shared by images is extracted once; `rmi` and `prune` drop
//! records and then run the store's garbage collection, which removes the
//! content and snapshots no record (or lease, or container) references.
//!
//! The operations live one per file: [`pull`], [`push`], [`save`], [`load`],
//! [`import`], [`commit`]; [`layer`] holds the streaming decompress/hash/unpack pipeline
//! they share, and [`progress`] the events a transfer reports.

pub mod cancel;
pub mod change;
pub mod commit;
pub mod filter;
pub mod import;
pub mod layer;
pub mod load;
pub mod progress;
pub mod pull;
pub mod push;
pub mod save;

use crate::events::{Event, EventBus};
pub(crate) use crate::ids::random_hex;
use crate::registry::{RegistryConfig, RegistryError};
use berth_docker::manifest::{
    self, chain_ids, parse_config, parse_manifest, ImageConfigView, Manifest, ManifestError,
    ManifestKind, Platform,
};
use berth_docker::reference::{familiar, looks_like_id, Reference, ReferenceError};
use berth_docker::short_id::short_id;
use berth_docker::timestamp::parse_time;
use berth_store::content::{ContentError, ContentStore};
use berth_store::digest::{Descriptor as StoreDescriptor, Digest};
use berth_store::gc::{GcReport, GcRoots};
use berth_store::metadata::{Image as ImageRecord, Labels, MetadataError, MetadataStore};
use berth_store::snapshot::Snapshotter;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// Label on a record: the platform that was pulled from an index.
pub const LABEL_PLATFORM: &str = "io.berth.image.platform";
/// Label on a record: the image came from (or went to) a registry, so
/// `name@target-digest` is a repo digest (docker's `RepoDigests`).
pub const LABEL_DISTRIBUTED: &str = "io.berth.image.distributed";
/// Label on a record: when the name was last tagged (docker's LastTagTime).
pub const LABEL_TAG_TIME: &str = "io.berth.image.tag-time";

/// Largest config blob accepted.
pub const MAX_CONFIG_SIZE: usize = 16 << 20;

/// What can go wrong in an image operation. Messages say which image,
/// reference, digest or path.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Registry(Box<RegistryError>),
    #[error(transparent)]
    Manifest(Box<ManifestError>),
    #[error("{what} {digest}: digest mismatch: got {actual}")]
    DigestMismatch {
        what: String,
        digest: String,
        actual: String,
    },
    #[error("{what} {digest}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        digest: String,
        expected: i64,
        actual: u64,
    },
    /// Fetching or storing a layer blob failed. The cause keeps its kind:
    /// `ConnectionAborted` is a broken registry connection (worth resuming,
    /// see `pull.rs`), `UnexpectedEof`/`InvalidData` a short or oversized
    /// body, an OS error the ingest's own (ENOSPC).
    #[error("blob {digest} from {url}: {source}")]
    Download {
        digest: String,
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(Box<berth_store::Error>),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A bad archive; the message may quote its bytes (escaped when shown).
    #[error("invalid archive: {}", berth_docker::archive::printable(.0))]
    Archive(String),
    #[error("operation cancelled: {0}")]
    Cancelled(String),
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

impl From<RegistryError> for ImageError {
    fn from(e: RegistryError) -> Self {
        ImageError::Registry(Box::new(e))
    }
}

impl From<ManifestError> for ImageError {
    fn from(e: ManifestError) -> Self {
        ImageError::Manifest(Box::new(e))
    }
}

impl From<berth_store::Error> for ImageError {
    fn from(e: berth_store::Error) -> Self {
        ImageError::Store(Box::new(e))
    }
}

impl From<ContentError> for ImageError {
    fn from(e: ContentError) -> Self {
        ImageError::Store(Box::new(e.into()))
    }
}

impl From<MetadataError> for ImageError {
    fn from(e: MetadataError) -> Self {
        ImageError::Store(Box::new(e.into()))
    }
}

impl From<berth_store::snapshot::SnapshotError> for ImageError {
    fn from(e: berth_store::snapshot::SnapshotError) -> Self {
        ImageError::Store(Box::new(e.into()))
    }
}

impl From<berth_store::layer::LayerError> for ImageError {
    fn from(e: berth_store::layer::LayerError) -> Self {
        ImageError::Store(Box::new(e.into()))
    }
}

impl From<berth_store::gc::GcError> for ImageError {
    fn from(e: berth_store::gc::GcError) -> Self {
        ImageError::Store(Box::new(e.into()))
    }
}

impl From<berth_store::digest::DigestError> for ImageError {
    fn from(e: berth_store::digest::DigestError) -> Self {
        ImageError::Store(Box::new(e.into()))
    }
}

impl ImageError {
    /// Whether the error comes from a full filesystem (ENOSPC/EDQUOT)
    /// somewhere down the chain.
    pub fn is_no_space(&self) -> bool {
        let mut err: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = err {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if matches!(io.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
                    return true;
                }
            }
            err = e.source();
        }
        // Layer errors keep their io::Error as a value, not a source.
        matches!(
            self,
            ImageError::Store(s) if matches!(
                s.as_ref(),
                berth_store::Error::Layer(berth_store::layer::LayerError::Read(io))
                    if matches!(io.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
            )
        )
    }
}

/// Who uses images besides their records (containers, from the containers
/// issue on). The images domain asks before deleting and passes the answer to
/// garbage collection as extra roots.
pub trait ImageUsers: Send + Sync {
    /// IDs of containers created from image `image_id` (its config digest).
    fn containers_using(&self, image_id: &str) -> Vec<String>;
    /// Content and snapshots that must survive a collection.
    fn gc_roots(&self) -> GcRoots;
}

/// No containers exist yet: nothing else uses images.
pub struct NoImageUsers;

impl ImageUsers for NoImageUsers {
    fn containers_using(&self, _image_id: &str) -> Vec<String> {
        Vec::new()
    }
    fn gc_roots(&self) -> GcRoots {
        GcRoots::default()
    }
}

/// The images service: everything `berth image ...` does, as a plain Rust
/// API the gRPC adapter wraps.
pub struct ImageService {
    pub(crate) content: ContentStore,
    pub(crate) meta: Arc<MetadataStore>,
    pub(crate) snapshotter: Arc<dyn Snapshotter>,
    pub(crate) http: reqwest::Client,
    pub(crate) registry: RegistryConfig,
    pub(crate) platform: Platform,
    pub(crate) users: Arc<dyn ImageUsers>,
    /// docker's `image` events (pull, push, tag, untag, delete, import).
    pub(crate) events: Arc<EventBus>,
    /// Garbage collection takes it exclusively (one at a time); work that
    /// commits a blob whose digest it learns only at commit takes it shared
    /// until the blob is in its lease, so no collection starts in between.
    pub(crate) gc_lock: Arc<std::sync::RwLock<()>>,
    /// Where archives being loaded are spooled.
    pub(crate) tmp_dir: PathBuf,
}

/// The stores the images domain works on (berth-store's).
pub struct ImageStores {
    pub content: ContentStore,
    pub meta: Arc<MetadataStore>,
    pub snapshotter: Arc<dyn Snapshotter>,
}

/// An image resolved down to the manifest for this platform and its config.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The record's target (manifest or index).
    pub target: StoreDescriptor,
    /// The platform manifest's digest and bytes.
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub manifest_bytes: Vec<u8>,
    pub manifest: Manifest,
    /// The config digest: the image ID.
    pub config_digest: Digest,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfigView,
    /// Chain IDs of the layers, bottom first.
    pub chain_ids: Vec<String>,
}

impl ResolvedImage {
    /// The image ID (`sha256:<config hex>`).
    pub fn id(&self) -> String {
        self.config_digest.to_string()
    }
}

/// One image record with what listing needs.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// The record's name (empty for a dangling record).
    pub name: String,
    pub record: ImageRecord,
    pub resolved: ResolvedImage,
    /// Unpacked size (sum of the layers' snapshot usage).
    pub size: u64,
    pub repo_digests: Vec<String>,
}

/// What a removal or prune did, in docker's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(String),
}

/// Name of the dangling record of an image ID.
pub fn dangling_name(image_id: &str) -> String {
    image_id.to_string()
}

/// Whether a record name is a dangling record (an image ID, not a name).
pub fn is_dangling(name: &str) -> bool {
    name.starts_with("sha256:")
}

/// Seconds since the epoch of a SystemTime.
pub fn epoch_seconds(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl ImageService {
    /// Builds the service over an opened store.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stores: ImageStores,
        registry: RegistryConfig,
        platform: Platform,
        users: Arc<dyn ImageUsers>,
        events: Arc<EventBus>,
        tmp_dir: PathBuf,
    ) -> ImageService {
        let service = ImageService {
            content: stores.content,
            meta: stores.meta,
            snapshotter: stores.snapshotter,
            events,
            http: crate::registry::http_client(&registry.timeouts),
            registry,
            platform,
            users,
            gc_lock: Arc::new(std::sync::RwLock::new(())),
            tmp_dir,
        };
        service.release_dead_leases();
        service
    }

    /// Deletes the leases of pulls, loads and imports that died with a
    /// previous berthd (killed, crashed): they pinned the blobs and snapshots
    /// of work nobody will finish (issue 13: 288 MB for 24 h after two
    /// crashed pulls). A new service is its store's only user (berthd holds
    /// the root's lock), so every such lease another process owned is dead;
    /// the next collection frees what it held, and an interrupted download's
    /// ingest stays for a resume until `image prune`. Leases that no pull,
    /// load or import made (no purpose label) are left alone.
    fn release_dead_leases(&self) {
        let leases = match self.meta.list_leases() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "list leases to release those of a previous berthd");
                return;
            }
        };
        for lease in leases {
            let ours = lease.labels.get(pull::LEASE_OWNER).map(String::as_str)
                == Some(pull::lease_owner());
            if ours || !lease.labels.contains_key(pull::LEASE_PURPOSE) {
                continue;
            }
            match self.meta.delete_lease(&lease.id) {
                Ok(()) => {
                    tracing::info!(lease = %lease.id, resources = lease.resources.len(), "released the lease of a transfer that died with a previous berthd")
                }
                Err(e) => tracing::warn!(lease = %lease.id, error = %e, "release lease"),
            }
        }
    }

    /// The snapshotter images are unpacked with.
    pub fn snapshotter(&self) -> &Arc<dyn Snapshotter> {
        &self.snapshotter
    }

    /// The platform images are pulled and made for (the daemon's).
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The content store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The registry settings.
    pub fn registry_config(&self) -> &RegistryConfig {
        &self.registry
    }

    /// Stores an in-memory blob (manifest, index, config) under a lease:
    /// the lease names it before it exists, so no collection can take it
    /// between its write and its record.
    pub(crate) fn write_leased_blob(
        &self,
        lease: &pull::LeaseGuard,
        bytes: &[u8],
    ) -> Result<berth_store::digest::Digest, ImageError> {
        let digest = berth_store::digest::Digest::of(bytes);
        lease.add(berth_store::metadata::LeaseResource::Content(
            digest.clone(),
        ))?;
        self.content.write_all(bytes)?;
        Ok(digest)
    }

    /// Reads a small blob (manifest, index, config) from the content store.
    pub(crate) fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        Ok(self.content.read_all(digest)?)
    }

    /// Resolves a record's target down to the platform manifest and config.
    pub fn resolve(&self, record: &ImageRecord) -> Result<ResolvedImage, ImageError> {
        let platform = record
            .labels
            .get(LABEL_PLATFORM)
            .and_then(|p| Platform::parse(p).ok())
            .unwrap_or_else(|| self.platform.clone());
        self.resolve_target(&record.target, &platform)
    }

    /// Resolves a manifest or index descriptor for `platform`. For an index,
    /// a manifest whose blob is present locally is preferred (a pull stores
    /// only the chosen platform's manifest).
    pub fn resolve_target(
        &self,
        target: &StoreDescriptor,
        platform: &Platform,
    ) -> Result<ResolvedImage, ImageError> {
        let bytes = self.read_blob(&target.digest)?;
        let digest_str = target.digest.to_string();
        let (manifest_digest, manifest_media_type, manifest_bytes, manifest) =
            match parse_manifest(&target.media_type, &digest_str, &bytes)? {
                ManifestKind::Manifest(m) => {
                    (target.digest.clone(), target.media_type.clone(), bytes, m)
                }
                ManifestKind::Index(index) => {
                    let desc = match manifest::select_platform(&index, &digest_str, platform) {
                        Ok(d) if self.content.exists(&Digest::parse(&d.digest)?) => d.clone(),
                        other => {
                            // Fall back to any manifest we hold.
                            let local = index.manifests.iter().find(|d| {
                                manifest::is_manifest(&d.media_type)
                                    && Digest::parse(&d.digest)
                                        .map(|d| self.content.exists(&d))
                                        .unwrap_or(false)
                            });
                            match local {
                                Some(d) => d.clone(),
                                None => other?.clone(),
                            }
                        }
                    };
                    let digest = Digest::parse(&desc.digest)?;
                    let bytes = self.read_blob(&digest)?;
                    match parse_manifest(&desc.media_type, &desc.digest, &bytes)? {
                        ManifestKind::Manifest(m) => (digest, desc.media_type.clone(), bytes, m),
                        ManifestKind::Index(_) => {
                            return Err(ImageError::NotImplemented("nested image indexes"))
                        }
                    }
                }
            };
        let config_digest = Digest::parse(&manifest.config.digest)?;
        let config_bytes = self.read_blob(&config_digest)?;
        let config = parse_config(&manifest.config.digest, &config_bytes)?;
        let chain = chain_ids(&config.rootfs.diff_ids);
        Ok(ResolvedImage {
            target: target.clone(),
            manifest_digest,
            manifest_media_type: if manifest_media_type.is_empty() {
                manifest.media_type.clone().unwrap_or_default()
            } else {
                manifest_media_type
            },
            manifest_bytes,
            manifest: *manifest,
            config_digest,
            config_bytes,
            config,
            chain_ids: chain,
        })
    }

    fn records(&self) -> Result<Vec<ImageRecord>, ImageError> {
        Ok(self.meta.list_images()?)
    }

    /// Finds the record(s) a user's reference means: a name (normalised),
    /// else a full or unique prefix of an image ID. Returns the records that
    /// resolve to the found image and whether the user named it by ID.
    pub fn lookup(&self, input: &str) -> Result<Lookup, ImageError> {
        let records = self.records()?;
        if !looks_like_id(input) || Reference::parse(input).is_ok() {
            if let Ok(reference) = Reference::parse(input) {
                let name = reference.to_string();
                if let Some(record) = records.iter().find(|r| r.name == name) {
                    let resolved = self.resolve(record)?;
                    return Ok(Lookup {
                        by_id: false,
                        name: Some(name),
                        resolved,
                    });
                }
            }
        }
        if looks_like_id(input) {
            let hex = input.strip_prefix("sha256:").unwrap_or(input);
            let mut found: BTreeMap<String, ResolvedImage> = BTreeMap::new();
            for record in &records {
                let Ok(resolved) = self.resolve(record) else {
                    continue;
                };
                if resolved.config_digest.hex().starts_with(hex) {
                    found.insert(resolved.id(), resolved);
                }
            }
            match found.len() {
                0 => {}
                1 => {
                    return Ok(Lookup {
                        by_id: true,
                        name: None,
                        resolved: found.into_values().next().unwrap(),
                    })
                }
                _ => {
                    return Err(ImageError::InvalidArgument(format!(
                        "image ID prefix {input:?} is ambiguous: it matches {} images",
                        found.len()
                    )))
                }
            }
        }
        Err(ImageError::NotFound(
            Reference::parse(input)
                .map(|r| r.familiar())
                .unwrap_or_else(|_| input.to_string()),
        ))
    }

    /// The chain IDs of every layer of every image recorded (what the build
    /// cache's prune keeps).
    pub fn list_chain_ids(&self) -> Result<Vec<String>, ImageError> {
        let mut out = Vec::new();
        for record in self.records()? {
            if let Ok(r) = self.resolve(&record) {
                out.extend(r.chain_ids);
            }
        }
        Ok(out)
    }

    /// Every record whose target resolves to image `id`.
    pub fn records_of(&self, id: &str) -> Result<Vec<ImageRecord>, ImageError> {
        let mut out = Vec::new();
        for record in self.records()? {
            if let Ok(r) = self.resolve(&record) {
                if r.id() == id {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    /// Unpacked size of an image: the recorded usage of each layer snapshot.
    pub fn unpacked_size(&self, resolved: &ResolvedImage) -> u64 {
        resolved
            .chain_ids
            .iter()
            .zip(&resolved.manifest.layers)
            .map(|(chain, layer)| {
                self.snapshotter
                    .usage(chain)
                    .map(|u| u.size)
                    .unwrap_or(layer.size.max(0) as u64)
            })
            .sum()
    }

    /// Lists every record (or those of one repository/name) that passes
    /// `filters` (`images --filter`).
    pub fn list(
        &self,
        filter: Option<&str>,
        filters: &filter::ImageFilters,
    ) -> Result<Vec<ImageSummary>, ImageError> {
        let created_of = |input: &String| -> Result<i64, ImageError> {
            let found = self.lookup(input)?;
            Ok(found
                .resolved
                .config
                .created
                .as_deref()
                .and_then(parse_time)
                .unwrap_or(0))
        };
        let before = filters
            .before
            .iter()
            .map(created_of)
            .collect::<Result<Vec<_>, _>>()?;
        let since = filters
            .since
            .iter()
            .map(created_of)
            .collect::<Result<Vec<_>, _>>()?;
        // `images busybox` lists every tag of the repository,
        // `images busybox:1` only that one.
        let explicit_tag = filter.is_some_and(|f| {
            f.contains('@') || f.rsplit('/').next().is_some_and(|last| last.contains(':'))
        });
        let filter = match filter {
            Some(f) if !f.is_empty() => Some(Reference::parse(f)?),
            _ => None,
        };
        let mut out = Vec::new();
        for record in self.records()? {
            if let Some(f) = &filter {
                if is_dangling(&record.name) {
                    continue;
                }
                let Ok(r) = Reference::parse(&record.name) else {
                    continue;
                };
                if r.repository() != f.repository() {
                    continue;
                }
                if explicit_tag && r.to_string() != f.to_string() {
                    continue;
                }
            }
            let resolved = match self.resolve(&record) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(image = %record.name, error = %e, "skipping unreadable image");
                    continue;
                }
            };
            let name = if is_dangling(&record.name) {
                String::new()
            } else {
                record.name.clone()
            };
            if !filters.is_empty() {
                let labels = if filters.labels.is_empty() {
                    BTreeMap::new()
                } else {
                    filter::config_labels(&resolved.config_bytes)
                };
                let created = resolved
                    .config
                    .created
                    .as_deref()
                    .and_then(parse_time)
                    .unwrap_or(0);
                if !filters.matches(&name, &labels)
                    || !filter::ImageFilters::matches_time(created, &before, &since)
                {
                    continue;
                }
            }
            let size = self.unpacked_size(&resolved);
            let repo_digests = repo_digest(&record).into_iter().collect();
            out.push(ImageSummary {
                name,
                record,
                resolved,
                size,
                repo_digests,
            });
        }
        Ok(out)
    }

    /// Everything `image inspect` shows about one image.
    pub fn inspect(&self, input: &str) -> Result<ImageDetail, ImageError> {
        let found = self.lookup(input)?;
        let records = self.records_of(&found.resolved.id())?;
        let mut repo_tags = Vec::new();
        let mut repo_digests = BTreeSet::new();
        for r in &records {
            if !is_dangling(&r.name) {
                repo_tags.push(r.name.clone());
            }
            if let Some(d) = repo_digest(r) {
                repo_digests.insert(d);
            }
        }
        let layers = found
            .resolved
            .manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, desc)| LayerDetail {
                descriptor: desc.clone(),
                diff_id: found
                    .resolved
                    .config
                    .rootfs
                    .diff_ids
                    .get(i)
                    .cloned()
                    .unwrap_or_default(),
                chain_id: found.resolved.chain_ids.get(i).cloned().unwrap_or_default(),
                unpacked_size: found
                    .resolved
                    .chain_ids
                    .get(i)
                    .and_then(|c| self.snapshotter.usage(c).ok())
                    .map(|u| u.size)
                    .unwrap_or(0),
            })
            .collect();
        let record = records
            .iter()
            .find(|r| Some(&r.name) == found.name.as_ref())
            .or(records.first())
            .cloned()
            .ok_or_else(|| ImageError::NotFound(input.to_string()))?;
        let size = self.unpacked_size(&found.resolved);
        Ok(ImageDetail {
            record,
            repo_tags,
            repo_digests: repo_digests.into_iter().collect(),
            size,
            layers,
            graph_driver_data: self.graph_driver_data(&found.resolved),
            snapshotter: self.snapshotter.name().to_string(),
            resolved: found.resolved,
        })
    }

    /// docker's overlay2 `GraphDriver.Data` of an image: the top layer's
    /// directory as `UpperDir`, the layers under it as `LowerDir` (nearest
    /// first, `:`-joined; absent for a one-layer image).
    fn graph_driver_data(&self, resolved: &ResolvedImage) -> BTreeMap<String, String> {
        let mut data = BTreeMap::new();
        let Some(top) = resolved.chain_ids.last() else {
            return data;
        };
        let Ok(dirs) = self.snapshotter.layer_dirs(top) else {
            return data;
        };
        let text = |p: &std::path::PathBuf| p.to_string_lossy().into_owned();
        if let Some((upper, lowers)) = dirs.split_first() {
            data.insert("UpperDir".to_string(), text(upper));
            if !lowers.is_empty() {
                let lowers: Vec<String> = lowers.iter().map(text).collect();
                data.insert("LowerDir".to_string(), lowers.join(":"));
            }
        }
        data
    }

    /// `login`: checks `credentials` against the registry `server`
    /// (docker's `/v2/` ping with them); both API adapters' login.
    pub async fn check_login(
        &self,
        server: &str,
        credentials: crate::registry::auth::Credentials,
    ) -> Result<(), ImageError> {
        let host = berth_docker::reference::normalize_registry_host(server);
        let repo = crate::registry::Repository::for_host(
            self.http.clone(),
            &self.registry,
            berth_docker::reference::registry_api_host(&host),
            "",
            credentials,
            "",
        );
        repo.ping().await?;
        Ok(())
    }

    /// Adds name `target` to the image `source` names.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), ImageError> {
        let found = self.lookup(source)?;
        let target_ref = Reference::parse(target)?;
        if target_ref.digest.is_some() {
            return Err(ImageError::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        let mut labels = Labels::new();
        if let Some(p) = self.platform_label(&found.resolved) {
            labels.insert(LABEL_PLATFORM.into(), p);
        }
        labels.insert(
            LABEL_TAG_TIME.into(),
            epoch_seconds(SystemTime::now()).to_string(),
        );
        self.put_name(&target_ref.to_string(), &found.resolved.target, labels)?;
        self.publish("tag", target);
        Ok(())
    }

    /// Publishes an image event: docker's actor is the reference or image
    /// ID, and `name` its name.
    pub(crate) fn publish(&self, action: &str, actor: &str) {
        let attributes = BTreeMap::from([("name".to_string(), actor.to_string())]);
        self.events
            .publish(Event::now("image", action, actor, attributes));
    }

    /// The platform label to carry over for an image resolved from an index.
    fn platform_label(&self, resolved: &ResolvedImage) -> Option<String> {
        if resolved.target.digest == resolved.manifest_digest {
            return None;
        }
        let os = if resolved.config.os.is_empty() {
            "linux"
        } else {
            &resolved.config.os
        };
        let mut p = format!("{os}/{}", resolved.config.architecture);
        if let Some(v) = &resolved.config.variant {
            p.push('/');
            p.push_str(v);
        }
        Some(p)
    }

    /// Points `name` at `target`, keeping the image it pointed to before as a
    /// dangling record if no other name holds it, and dropping the dangling
    /// record of the new target.
    pub(crate) fn put_name(
        &self,
        name: &str,
        target: &StoreDescriptor,
        labels: Labels,
    ) -> Result<(), ImageError> {
        let (new, old) = self.meta.put_image(name, target, &labels)?;
        let new_id = self.resolve(&new).map(|r| r.id()).ok();
        if let Some(id) = &new_id {
            let _ = self.meta.delete_image(&dangling_name(id));
        }
        if let Some(old) = old {
            if old.target.digest != new.target.digest {
                if let Ok(old_resolved) = self.resolve(&old) {
                    let old_id = old_resolved.id();
                    if Some(&old_id) != new_id.as_ref() && self.records_of(&old_id)?.is_empty() {
                        let mut labels = old.labels.clone();
                        labels.remove(LABEL_DISTRIBUTED);
                        self.meta
                            .put_image(&dangling_name(&old_id), &old.target, &labels)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Records a new image made here (import, commit): under `reference`
    /// with the tag time, else as dangling.
    pub(crate) fn record_new_image(
        &self,
        reference: Option<&Reference>,
        target: &StoreDescriptor,
    ) -> Result<(), ImageError> {
        match reference {
            Some(r) => {
                let labels = Labels::from([(
                    LABEL_TAG_TIME.to_string(),
                    epoch_seconds(SystemTime::now()).to_string(),
                )]);
                self.put_name(&r.to_string(), target, labels)
            }
            None => self.put_dangling(target, Labels::new()).map(drop),
        }
    }

    /// Records an image that has no name (import or load without a tag),
    /// unless a name already holds it.
    pub(crate) fn put_dangling(
        &self,
        target: &StoreDescriptor,
        labels: Labels,
    ) -> Result<String, ImageError> {
        let resolved = self.resolve_target(target, &self.platform)?;
        let id = resolved.id();
        if self.records_of(&id)?.is_empty() {
            self.meta.put_image(&dangling_name(&id), target, &labels)?;
        }
        Ok(id)
    }

    /// `rmi`: untags a name, and deletes the image when no name is left.
    /// By ID, every name goes (with `force` when there are several
    /// repositories). Images used by containers need `force`.
    pub async fn remove(
        &self,
        input: &str,
        force: bool,
        prune: bool,
    ) -> Result<Vec<Removed>, ImageError> {
        let found = self.lookup(input)?;
        let id = found.resolved.id();
        let short = short_id(&id);
        let records = self.records_of(&id)?;
        let users = self.users.containers_using(&id);
        let mut removed = Vec::new();
        let named: Vec<&ImageRecord> = records.iter().filter(|r| !is_dangling(&r.name)).collect();
        let to_untag: Vec<&ImageRecord> = if found.by_id {
            let repos: BTreeSet<String> = named
                .iter()
                .filter_map(|r| Reference::parse(&r.name).ok().map(|r| r.repository()))
                .collect();
            if repos.len() > 1 && !force {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                )));
            }
            records.iter().collect()
        } else {
            records
                .iter()
                .filter(|r| Some(&r.name) == found.name.as_ref())
                .collect()
        };
        let last_name = to_untag.len() >= named.len();
        if last_name && !users.is_empty() && !force {
            let what = found
                .name
                .as_deref()
                .map(|n| format!("remove repository reference {:?}", familiar(n)))
                .unwrap_or_else(|| format!("delete {short}"));
            return Err(ImageError::Conflict(format!(
                "conflict: unable to {what} (must force) - container {} is using its referenced image {short}",
                short_id(&users[0])
            )));
        }
        for r in &to_untag {
            self.meta.delete_image(&r.name)?;
            if !is_dangling(&r.name) {
                removed.push(Removed::Untagged(familiar(&r.name)));
                if let Some(d) = repo_digest(r) {
                    removed.push(Removed::Untagged(familiar(&d)));
                }
            }
        }
        if self.records_of(&id)?.is_empty() {
            if !users.is_empty() {
                // Forced while in use: keep it as a dangling image, like docker.
                self.meta
                    .put_image(&dangling_name(&id), &found.resolved.target, &Labels::new())?;
            } else {
                removed.push(Removed::Deleted(id.clone()));
                if prune {
                    self.collect_garbage().await?;
                }
            }
        }
        for item in &removed {
            match item {
                Removed::Untagged(name) => self.publish("untag", name),
                Removed::Deleted(id) => self.publish("delete", id),
            }
        }
        Ok(removed)
    }

    /// `image prune`: removes dangling images (with `all`, every image no
    /// container uses), then collects unreferenced content and snapshots.
    pub async fn prune(&self, all: bool) -> Result<(Vec<Removed>, u64), ImageError> {
        let mut removed = Vec::new();
        let mut deleted_ids = BTreeSet::new();
        for record in self.records()? {
            let dangling = is_dangling(&record.name);
            if !dangling && !all {
                continue;
            }
            let Ok(resolved) = self.resolve(&record) else {
                continue;
            };
            let id = resolved.id();
            if !self.users.containers_using(&id).is_empty() {
                continue;
            }
            self.meta.delete_image(&record.name)?;
            if !dangling {
                removed.push(Removed::Untagged(familiar(&record.name)));
            }
            deleted_ids.insert(id);
        }
        for id in deleted_ids {
            if self.records_of(&id)?.is_empty() {
                removed.push(Removed::Deleted(id));
            }
        }
        // Partial downloads of abandoned pulls go too: a prune frees
        // whatever no live pull holds.
        let report = self.run_collection(true).await?;
        Ok((removed, report.bytes_freed))
    }

    /// Runs the store's garbage collection (one at a time).
    pub async fn collect_garbage(&self) -> Result<GcReport, ImageError> {
        self.run_collection(false).await
    }

    /// A collection; with `prune_ingests`, unleased ingests go however
    /// recent (`berth_store::gc::collect_pruning_ingests`).
    async fn run_collection(&self, prune_ingests: bool) -> Result<GcReport, ImageError> {
        let content = self.content.clone();
        let meta = self.meta.clone();
        let snapshotter = self.snapshotter.clone();
        let roots = self.users.gc_roots();
        let lock = self.gc_lock.clone();
        let report = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = lock.write().unwrap_or_else(|e| e.into_inner());
            let collect = if prune_ingests {
                berth_store::gc::collect_pruning_ingests
            } else {
                berth_store::gc::collect
            };
            collect(&content, &meta, &[snapshotter.as_ref()], &roots)
        })
        .await
        .map_err(|e| ImageError::Cancelled(format!("garbage collection: {e}")))??;
        tracing::info!(
            blobs = report.content_removed.len(),
            snapshots = report.snapshots_removed.len(),
            ingests = report.ingests_removed.len(),
            bytes = report.bytes_freed,
            "garbage collected"
        );
        Ok(report)
    }

    /// Number of image records with a name, and of dangling ones.
    pub fn count(&self) -> Result<usize, ImageError> {
        Ok(self.records()?.len())
    }
}

/// The result of [`ImageService::lookup`].
#[derive(Debug, Clone)]
pub struct Lookup {
    /// Whether the user gave an ID rather than a name.
    pub by_id: bool,
    /// The record name the user gave, when by name.
    pub name: Option<String>,
    pub resolved: ResolvedImage,
}

/// Everything `inspect` shows about one image.
#[derive(Debug, Clone)]
pub struct ImageDetail {
    pub record: ImageRecord,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub size: u64,
    pub layers: Vec<LayerDetail>,
    /// docker's `GraphDriver.Data` (the layers' directories).
    pub graph_driver_data: BTreeMap<String, String>,
    /// The snapshotter's name (docker's `GraphDriver.Name`).
    pub snapshotter: String,
    pub resolved: ResolvedImage,
}

impl ImageDetail {
    /// docker's `ImageInspect` of this image: the object the Docker API
    /// serves and the CLI prints from the gRPC reply.
    pub fn docker_inspect(&self) -> berth_docker::types::image::ImageInspect {
        use berth_docker::types::image::{ImageFacts, ImageInspect};
        ImageInspect::new(&ImageFacts {
            id: &self.resolved.id(),
            config: &self.resolved.config_bytes,
            repo_tags: &self.repo_tags,
            repo_digests: &self.repo_digests,
            size: self.size as i64,
            snapshotter: &self.snapshotter,
            graph_driver_data: self.graph_driver_data.clone(),
            last_tag_time: epoch_seconds(self.record.updated_at),
        })
    }

    /// docker's history rows of this image, newest first.
    pub fn docker_history(&self) -> Vec<berth_docker::types::image::HistoryItem> {
        let sizes: Vec<i64> = self.layers.iter().map(|l| l.unpacked_size as i64).collect();
        berth_docker::types::image::history(
            &self.resolved.id(),
            &self.resolved.config_bytes,
            &sizes,
            &self.repo_tags,
        )
    }
}

/// One layer of an inspected image.
#[derive(Debug, Clone)]
pub struct LayerDetail {
    pub descriptor: manifest::Descriptor,
    pub diff_id: String,
    pub chain_id: String,
    pub unpacked_size: u64,
}

/// `repository@digest` of a record that came from a registry.
pub fn repo_digest(record: &ImageRecord) -> Option<String> {
    if !record.labels.contains_key(LABEL_DISTRIBUTED) || is_dangling(&record.name) {
        return None;
    }
    let r = Reference::parse(&record.name).ok()?;
    Some(format!("{}@{}", r.repository(), record.target.digest))
}
