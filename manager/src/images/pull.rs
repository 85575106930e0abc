//! `pull`: fetch an image from its registry and unpack it.
//!
//! 1. Resolve the reference to a manifest (through an index for the wanted
//!    platform), fetch the config; both are verified by digest and stored.
//! 2. Every layer whose chain-ID snapshot exists is skipped ("Already
//!    exists"). The others download in parallel (three at a time, as docker
//!    does), each hashed into the content store, decompressed and unpacked
//!    in one streaming pass. A snapshot can only be committed on a committed
//!    parent, so a layer whose parent is ready streams into its snapshot;
//!    with overlayfs, a layer whose parent is still unpacking streams into a
//!    scratch directory of the snapshotter (an upper directory holds only the
//!    layer's own changes, so it hardly depends on the parent;
//!    `berth_store::layer::unpack_detached`), which becomes its snapshot once
//!    the parent is committed (`commit_detached` gives directories the layer
//!    did not list their lower counterpart's owner and mode then): layers
//!    unpack in parallel. A layer that refers to its parent's files (a
//!    hardlink to one) is only stored then, and unpacked over the parent. A
//!    resumed download (and, with the native snapshotter, a layer that must
//!    wait) is stored first and unpacked from the stored blob.
//! 3. The record is written last: until then no image is visible.
//!
//! A lease protects everything the pull writes from a concurrent `prune`.
//! It belongs to this berthd process ([`LEASE_OWNER`]): the next berthd
//! releases the leases of pulls that died with the previous one when its
//! image service starts, so `prune` frees what they made (the 24 h expiry
//! is only a backstop). A pull whose client goes away is cancelled
//! ([`super::cancel`]): no record, its lease deleted once its threads let
//! go. An interrupted download leaves its
//! ingest behind; the next pull of the same blob re-hashes it and asks the
//! registry for the rest with `Range` (OCI distribution spec, "Pulling
//! blobs": registries MAY support ranges; one that answers 200 instead gets
//! the ingest truncated). An ingest that held bad bytes (digest mismatch,
//! corrupt compression, a layer refused by the unpacker) is dropped, so a
//! retry starts clean.

use super::cancel::{CancelFlag, CancellableReader, OwnedTask};
use super::layer::{ChannelReader, CountingReader, DetachedOutcome, TeeReader, UnpackJob};
use super::progress::{BlobState, ProgressSink, TransferSummary};
use super::{
    epoch_seconds, ImageError, ImageService, ResolvedImage, LABEL_DISTRIBUTED, LABEL_PLATFORM,
    LABEL_TAG_TIME, MAX_CONFIG_SIZE,
};
use crate::registry::auth::Credentials;
use crate::registry::{RegistryError, Repository};
use berth_docker::manifest::{
    self, chain_ids, is_index, layer_compression, parse_config, parse_manifest, ManifestError,
    ManifestKind, Platform,
};
use berth_docker::reference::Reference;
use berth_store::content::ContentError;
use berth_store::digest::{Descriptor as StoreDescriptor, Digest};
use berth_store::metadata::{Labels, LeaseResource};
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch, Semaphore};

/// Downloads running at once per pull (docker's max-concurrent-downloads).
const MAX_CONCURRENT_DOWNLOADS: usize = 3;
/// How long a pull's lease protects its work if berthd dies mid-pull.
const PULL_LEASE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Config media types an image may have (anything else is an artifact, not
/// an image).
const CONFIG_MEDIA_TYPES: [&str; 2] = [manifest::OCI_CONFIG, manifest::DOCKER_CONFIG];

/// How a downloading layer's bytes are used besides being stored.
#[derive(Debug, Clone)]
enum Delivery {
    /// Unpacked into its snapshot as they arrive (the parent is ready).
    Stream,
    /// Unpacked as they arrive into a scratch directory of the snapshotter,
    /// committed as the layer's snapshot once the parent is (overlayfs only).
    Detached,
    /// Only stored (a resumed download); unpacked from the blob later.
    StoreOnly,
}

/// The state of one layer's snapshot during a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Pending,
    Ready,
    Failed,
}

/// Label on a lease: the berthd process that owns it (see
/// [`lease_owner`]). Leases live only as long as the work holding them.
pub(crate) const LEASE_OWNER: &str = "io.berth.lease.owner";
/// Label on a lease: what made it (`pull`, `load`, `import`).
pub(crate) const LEASE_PURPOSE: &str = "io.berth.lease.purpose";

/// This process's lease owner id: its pid and a random tag (a pid alone
/// is reused). Leases of any other owner belong to a dead berthd, since one
/// berthd at a time uses a root.
pub(crate) fn lease_owner() -> &'static str {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER.get_or_init(|| format!("{}-{}", std::process::id(), super::random_hex()))
}

/// Deletes a lease when dropped: on success the record now protects what
/// the lease did; on failure what was made becomes collectable.
pub(crate) struct LeaseGuard {
    pub(crate) meta: Arc<berth_store::metadata::MetadataStore>,
    pub(crate) id: String,
}

impl LeaseGuard {
    /// Creates a lease that expires after `ttl`.
    pub(crate) fn create(
        meta: &Arc<berth_store::metadata::MetadataStore>,
        purpose: &str,
        ttl: Duration,
    ) -> Result<LeaseGuard, ImageError> {
        let id = format!("{purpose}-{}", super::random_hex());
        let mut labels = Labels::new();
        labels.insert(LEASE_PURPOSE.into(), purpose.into());
        labels.insert(LEASE_OWNER.into(), lease_owner().into());
        meta.create_lease(&id, Some(ttl), &labels)?;
        Ok(LeaseGuard {
            meta: meta.clone(),
            id,
        })
    }

    /// Adds a resource the lease protects.
    pub(crate) fn add(&self, resource: LeaseResource) -> Result<(), ImageError> {
        Ok(self.meta.add_lease_resource(&self.id, resource)?)
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Err(e) = self.meta.delete_lease(&self.id) {
            tracing::warn!(lease = %self.id, error = %e, "delete lease");
        }
    }
}

/// The layer tasks of a pull, owned by its future. Dropped with an
/// abandoned pull: the cancel flag is set first (fields drop in order), so
/// the blocking threads know the pull is cancelled before their download
/// streams end, then the tasks are aborted.
struct LayerTasks {
    _cancel: super::cancel::CancelOnDrop,
    tasks: Vec<OwnedTask<Result<(), ImageError>>>,
}

/// One layer to fetch.
#[derive(Clone)]
struct LayerJob {
    index: usize,
    desc: manifest::Descriptor,
    digest: Digest,
    unpack: UnpackJob,
    /// Set when the pull is abandoned (its blocking threads stop).
    cancel: CancelFlag,
}

impl ImageService {
    /// Pulls `reference` for `platform` (the daemon's when `None`).
    pub async fn pull(
        self: &Arc<Self>,
        reference: &str,
        platform: Option<&str>,
        credentials: Credentials,
        progress: ProgressSink,
    ) -> Result<TransferSummary, ImageError> {
        let reference = Reference::parse(reference)?;
        let platform = match platform {
            Some(p) if !p.is_empty() => Platform::parse(p)?,
            _ => self.platform.clone(),
        };
        let repo = Arc::new(Repository::new(
            self.http.clone(),
            &self.registry,
            &reference,
            credentials,
            "pull",
        ));
        let lease = Arc::new(LeaseGuard::create(&self.meta, "pull", PULL_LEASE_TTL)?);
        let cancel = CancelFlag::new();

        // 1. Manifest (through the index), config. docker says "Pulling
        // from" once the registry has the manifest: a missing one prints
        // only the error.
        let fetched = repo.get_manifest(reference.object()).await?;
        progress.status(format!(
            "{}: Pulling from {}",
            reference
                .tag
                .as_deref()
                .or(reference.digest.as_deref())
                .unwrap_or("latest"),
            reference.path
        ));
        let (target, manifest_desc, manifest) =
            match parse_manifest(&fetched.media_type, &fetched.digest, &fetched.bytes)? {
                ManifestKind::Manifest(m) => {
                    let media_type = effective_media_type(
                        &fetched.media_type,
                        m.media_type.as_deref(),
                        manifest::OCI_MANIFEST,
                    );
                    let desc = self
                        .store_small_blob(&lease, &media_type, &fetched.bytes)
                        .await?;
                    (desc.clone(), desc, m)
                }
                ManifestKind::Index(index) => {
                    let media_type = effective_media_type(
                        &fetched.media_type,
                        index.media_type.as_deref(),
                        manifest::OCI_INDEX,
                    );
                    let target = self
                        .store_small_blob(&lease, &media_type, &fetched.bytes)
                        .await?;
                    let chosen =
                        manifest::select_platform(&index, &fetched.digest, &platform)?.clone();
                    let m = repo.get_manifest(&chosen.digest).await?;
                    let ManifestKind::Manifest(parsed) =
                        parse_manifest(&chosen.media_type, &m.digest, &m.bytes)?
                    else {
                        return Err(ImageError::NotImplemented("nested image indexes"));
                    };
                    let media_type = effective_media_type(
                        &chosen.media_type,
                        parsed.media_type.as_deref(),
                        manifest::OCI_MANIFEST,
                    );
                    if is_index(&media_type) {
                        return Err(ImageError::NotImplemented("nested image indexes"));
                    }
                    let desc = self.store_small_blob(&lease, &media_type, &m.bytes).await?;
                    (target, desc, parsed)
                }
            };
        if !CONFIG_MEDIA_TYPES.contains(&manifest.config.media_type.as_str()) {
            return Err(ManifestError::UnknownMediaType {
                media_type: manifest.config.media_type.clone(),
                digest: manifest.config.digest.clone(),
            }
            .into());
        }
        for layer in &manifest.layers {
            layer_compression(&layer.media_type, &layer.digest)?;
        }
        let config_digest = parse_digest(&manifest.config.digest, "config")?;
        lease.add(LeaseResource::Content(config_digest.clone()))?;
        let config_bytes = if self.content.exists(&config_digest) {
            self.read_blob(&config_digest)?
        } else {
            let bytes = repo
                .get_blob_bytes(&manifest.config.digest, MAX_CONFIG_SIZE)
                .await?;
            check_blob("config", &manifest.config, &bytes)?;
            self.store_small_blob(&lease, &manifest.config.media_type, &bytes)
                .await?;
            bytes.to_vec()
        };
        let config = parse_config(&manifest.config.digest, &config_bytes)?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(ManifestError::LayerCountMismatch {
                digest: manifest.config.digest.clone(),
                diff_ids: config.rootfs.diff_ids.len(),
                layers: manifest.layers.len(),
            }
            .into());
        }

        // 2. Layers.
        let chains = chain_ids(&config.rootfs.diff_ids);
        let mut jobs = Vec::new();
        let mut gates = Vec::new();
        for (i, layer) in manifest.layers.iter().enumerate() {
            // Leased before it is looked at, so a collection cannot take
            // an existing snapshot between the check and the record.
            lease.add(LeaseResource::Snapshot(
                self.snapshotter.name().to_string(),
                chains[i].clone(),
            ))?;
            let exists = self.snapshot_committed(&chains[i]);
            let (tx, _) = watch::channel(if exists { Gate::Ready } else { Gate::Pending });
            gates.push(tx);
            if exists {
                progress.blob(&layer.digest, BlobState::AlreadyExists, 0, 0);
                continue;
            }
            progress.blob(
                &layer.digest,
                BlobState::Waiting,
                0,
                layer.size.max(0) as u64,
            );
            jobs.push(LayerJob {
                index: i,
                desc: layer.clone(),
                digest: parse_digest(&layer.digest, "layer")?,
                unpack: UnpackJob {
                    chain_id: chains[i].clone(),
                    parent: (i > 0).then(|| chains[i - 1].clone()),
                    diff_id: parse_digest(&config.rootfs.diff_ids[i], "diff id")?,
                },
                cancel: cancel.clone(),
            });
        }
        let gates = Arc::new(gates);
        let semaphore = Arc::new(Semaphore::new(MAX_CONCURRENT_DOWNLOADS));
        let mut tasks = LayerTasks {
            _cancel: cancel.on_drop(),
            tasks: Vec::new(),
        };
        for job in jobs {
            let this = self.clone();
            let repo = repo.clone();
            let gates = gates.clone();
            let semaphore = semaphore.clone();
            let lease = lease.clone();
            let progress = progress.clone();
            tasks.tasks.push(OwnedTask::spawn(async move {
                let index = job.index;
                let result = this
                    .pull_layer(&repo, &job, &gates, &semaphore, &lease, &progress)
                    .await;
                gates[index].send_replace(if result.is_ok() {
                    Gate::Ready
                } else {
                    Gate::Failed
                });
                result
            }));
        }
        let mut first_error: Option<ImageError> = None;
        // By index, so every task stays in `tasks` until the pull is done.
        for i in 0..tasks.tasks.len() {
            let result = (&mut tasks.tasks[i])
                .await
                .unwrap_or_else(|e| Err(ImageError::Cancelled(format!("layer task: {e}"))));
            if let Err(e) = result {
                // The root cause wins over "parent failed" follow-ups.
                let replace = match &first_error {
                    None => true,
                    Some(ImageError::Cancelled(_)) => !matches!(e, ImageError::Cancelled(_)),
                    Some(_) => false,
                };
                if replace {
                    first_error = Some(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }

        // 3. The record.
        let name = reference.to_string();
        let old = self.meta.get_image(&name).ok();
        let mut labels = Labels::new();
        if target.digest != manifest_desc.digest {
            labels.insert(LABEL_PLATFORM.into(), platform.to_string());
        }
        labels.insert(LABEL_DISTRIBUTED.into(), "true".into());
        labels.insert(
            LABEL_TAG_TIME.into(),
            epoch_seconds(SystemTime::now()).to_string(),
        );
        let updated = old.as_ref().map(|o| o.target != target).unwrap_or(true);
        self.put_name(&name, &target, labels)?;
        let resolved: ResolvedImage = self.resolve_target(&target, &platform)?;
        let size = self.unpacked_size(&resolved);
        drop(lease);
        self.publish("pull", &name);
        Ok(TransferSummary {
            reference: name,
            digest: target.digest.to_string(),
            image_id: resolved.id(),
            updated,
            size,
        })
    }

    /// Stores a small blob (manifest, index, config) already verified or
    /// named by its own digest, under the lease.
    async fn store_small_blob(
        &self,
        lease: &LeaseGuard,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<StoreDescriptor, ImageError> {
        let size = bytes.len() as u64;
        let digest = self.write_leased_blob(lease, bytes)?;
        Ok(StoreDescriptor {
            media_type: media_type.to_string(),
            digest,
            size,
        })
    }

    /// Downloads, stores and unpacks one layer (see the module doc).
    async fn pull_layer(
        self: &Arc<Self>,
        repo: &Arc<Repository>,
        job: &LayerJob,
        gates: &Arc<Vec<watch::Sender<Gate>>>,
        semaphore: &Arc<Semaphore>,
        lease: &Arc<LeaseGuard>,
        progress: &ProgressSink,
    ) -> Result<(), ImageError> {
        let total = job.desc.size.max(0) as u64;
        let digest_str = job.desc.digest.clone();
        let parent_state = |gates: &Vec<watch::Sender<Gate>>| {
            if job.index == 0 {
                Gate::Ready
            } else {
                *gates[job.index - 1].borrow()
            }
        };

        // In the lease before the blob exists (see write_leased_blob).
        lease.add(LeaseResource::Content(job.digest.clone()))?;
        let mut detached: Option<berth_store::layer::DetachedLayer> = None;
        if !self.content.exists(&job.digest) {
            let _permit = semaphore
                .acquire()
                .await
                .map_err(|_| ImageError::Cancelled("download slots closed".into()))?;
            let ingest_ref = format!("pull-{}", job.digest);
            let _ = lease.add(LeaseResource::Ingest(ingest_ref.clone()));
            let writer = self.open_writer(&ingest_ref, &job.digest, total).await?;
            if let Some(mut writer) = writer {
                let offset = writer.offset();
                let resp = match repo.get_blob(&digest_str, offset).await {
                    Ok(resp) => resp,
                    Err(e) => {
                        // Nothing came (a redirect loop, a refusal): an
                        // empty ingest is of no use to a resume.
                        if offset == 0 {
                            drop(writer);
                            let _ = self.content.abort(&ingest_ref);
                        }
                        return Err(e.into());
                    }
                };
                if offset > 0 && resp.offset == 0 {
                    writer = tokio::task::spawn_blocking(move || writer.truncate().map(|_| writer))
                        .await
                        .map_err(|e| ImageError::Cancelled(format!("truncate ingest: {e}")))??;
                } else if offset > 0 {
                    progress.blob(&digest_str, BlobState::Resuming, offset, total);
                }
                let start = resp.offset;
                let url = resp.url.clone();
                let delivery = if start != 0 {
                    Delivery::StoreOnly
                } else if parent_state(gates) == Gate::Ready {
                    Delivery::Stream
                } else if self.detached_unpack_supported() {
                    // The parent is still unpacking: unpack this layer
                    // beside it, in parallel, and adopt it once the parent
                    // is committed.
                    Delivery::Detached
                } else {
                    Delivery::StoreOnly
                };
                let (tx, rx) = mpsc::channel::<io::Result<bytes::Bytes>>(16);
                let mut body = repo.body(reqwest::Method::GET, &url, resp.response);
                let forward = OwnedTask::spawn(async move {
                    loop {
                        let item = match body.chunk().await {
                            Ok(Some(chunk)) => Ok(chunk),
                            Ok(None) => break,
                            // The registry's error (a timeout names its
                            // daemon.json key) is the cause the pull reports.
                            Err(e) => Err(io::Error::new(
                                io::ErrorKind::ConnectionAborted,
                                match e {
                                    RegistryError::Timeout { reason, .. } => {
                                        format!("download: timed out: {reason}")
                                    }
                                    RegistryError::Http { reason, .. } => {
                                        format!("download: {reason}")
                                    }
                                    other => format!("download: {other}"),
                                },
                            )),
                        };
                        let failed = item.is_err();
                        if tx.send(item).await.is_err() || failed {
                            break;
                        }
                    }
                });
                let this = self.clone();
                let job2 = job.clone();
                let sink = progress.clone();
                let lease2 = lease.clone();
                let delivery2 = delivery.clone();
                let outcome = tokio::task::spawn_blocking(move || {
                    this.download_blocking(
                        writer, rx, start, &delivery2, &job2, &url, &lease2, &sink,
                    )
                })
                .await
                .map_err(|e| ImageError::Cancelled(format!("layer {digest_str}: {e}")))?;
                drop(forward);
                let outcome = outcome?;
                match delivery {
                    Delivery::Stream => {
                        progress.blob(&job.desc.digest, BlobState::PullComplete, total, total);
                        return Ok(());
                    }
                    Delivery::Detached if outcome.is_some() => detached = outcome,
                    Delivery::Detached | Delivery::StoreOnly => {
                        progress.blob(&job.desc.digest, BlobState::DownloadComplete, total, total);
                    }
                }
            }
        }
        // Once the parent snapshot is committed: adopt the detached unpack,
        // or unpack the stored blob.
        let mut rx = gates.get(job.index.wrapping_sub(1)).map(|g| g.subscribe());
        if let Some(rx) = rx.as_mut() {
            let state = *rx
                .wait_for(|g| *g != Gate::Pending)
                .await
                .map_err(|_| ImageError::Cancelled("pull abandoned".into()))?;
            if state == Gate::Failed {
                if let Some(layer) = detached.take() {
                    berth_store::layer::discard_detached(self.snapshotter.as_ref(), layer);
                }
                return Err(ImageError::Cancelled(format!(
                    "layer {} not unpacked: its parent layer failed",
                    job.desc.digest
                )));
            }
        }
        if let Some(layer) = detached {
            let this = self.clone();
            let job2 = job.clone();
            let lease2 = lease.clone();
            let adopted = tokio::task::spawn_blocking(move || {
                this.commit_detached(layer, &job2.unpack, &lease2)
            })
            .await
            .map_err(|e| ImageError::Cancelled(format!("commit {}: {e}", job.desc.digest)))??;
            if adopted {
                progress.blob(&job.desc.digest, BlobState::PullComplete, total, total);
                return Ok(());
            }
        }
        if self.snapshot_committed(&job.unpack.chain_id) {
            // Another pull of the same layer got there first.
            progress.blob(&job.desc.digest, BlobState::PullComplete, total, total);
            return Ok(());
        }
        let this = self.clone();
        let job2 = job.clone();
        let sink = progress.clone();
        let lease2 = lease.clone();
        tokio::task::spawn_blocking(move || {
            let reader = this.content.reader(&job2.digest)?;
            let counting = CountingReader::new(
                CancellableReader::new(reader, job2.cancel.clone()),
                sink.clone(),
                &job2.desc.digest,
                BlobState::Extracting,
                total,
            );
            this.unpack_reader(counting, &job2.unpack, &lease2)
        })
        .await
        .map_err(|e| ImageError::Cancelled(format!("unpack {}: {e}", job.desc.digest)))??;
        progress.blob(&job.desc.digest, BlobState::PullComplete, total, total);
        Ok(())
    }

    /// Opens the ingest for a blob, waiting while another pull writes the
    /// same blob. `None` when that other pull committed it meanwhile.
    async fn open_writer(
        &self,
        ingest_ref: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<Option<berth_store::content::ContentWriter>, ImageError> {
        loop {
            let content = self.content.clone();
            let r = ingest_ref.to_string();
            let d = digest.clone();
            let result =
                tokio::task::spawn_blocking(move || content.writer(&r, Some(&d), Some(size)))
                    .await
                    .map_err(|e| ImageError::Cancelled(format!("open ingest: {e}")))?;
            match result {
                Ok(w) => return Ok(Some(w)),
                Err(ContentError::Locked(_)) => {
                    if self.content.exists(digest) {
                        return Ok(None);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.into()),
            }
            if self.content.exists(digest) {
                return Ok(None);
            }
        }
    }

    /// The blocking half of a download: store (and, unless `StoreOnly`,
    /// unpack) the bytes arriving on `rx`. Returns the detached unpack, if
    /// one was made.
    #[allow(clippy::too_many_arguments)]
    fn download_blocking(
        &self,
        mut writer: berth_store::content::ContentWriter,
        rx: mpsc::Receiver<io::Result<bytes::Bytes>>,
        start: u64,
        delivery: &Delivery,
        job: &LayerJob,
        url: &str,
        lease: &LeaseGuard,
        progress: &ProgressSink,
    ) -> Result<Option<berth_store::layer::DetachedLayer>, ImageError> {
        let total = job.desc.size.max(0) as u64;
        let ingest_ref = writer.reference().to_string();
        let mut detached = None;
        let state = match delivery {
            Delivery::StoreOnly => BlobState::Downloading,
            _ => BlobState::Extracting,
        };
        let result = (|| -> Result<(), ImageError> {
            let channel = CancellableReader::new(ChannelReader::new(rx), job.cancel.clone());
            let mut tee = TeeReader::new(channel, &mut writer, start).with_progress(
                progress.clone(),
                &job.desc.digest,
                state,
                total,
            );
            let extracted = match delivery {
                Delivery::StoreOnly => None,
                Delivery::Stream => Some(self.unpack_reader(&mut tee, &job.unpack, lease)),
                Delivery::Detached => Some(self.unpack_detached_reader(&mut tee, &job.unpack).map(
                    |outcome| match outcome {
                        DetachedOutcome::Unpacked(layer) => detached = Some(layer),
                        // Stored only; unpacked over the parent later.
                        DetachedOutcome::NeedsParent => {}
                    },
                )),
            };
            if let Some(extracted) = extracted {
                if let Err(unpack_error) = extracted {
                    // Corrupt bytes usually break the decompressor or
                    // the tar reader before the digest is checked: when
                    // the whole blob arrived, its digest mismatch (the
                    // cause) is reported instead of what it broke.
                    let drained = match tee.drain() {
                        Ok(()) => true,
                        // The download itself broke (the forward task sends
                        // its errors as ConnectionAborted: a timeout, a
                        // reset): that is the cause, not what the broken
                        // stream did to the unpacker.
                        Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {
                            return Err(download_error(job, url, e));
                        }
                        Err(_) => false,
                    };
                    let count = tee.count;
                    let received = tee.received;
                    drop(tee);
                    if received > total {
                        return Err(sent_more(job, url, total, received));
                    }
                    if drained && count < total {
                        return Err(ImageError::Download {
                            digest: job.desc.digest.clone(),
                            url: url.to_string(),
                            source: io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                format!("truncated: got {count} of {total} bytes"),
                            ),
                        });
                    }
                    let complete = drained && count == total;
                    if complete && writer.digest() != job.digest {
                        return Err(ImageError::DigestMismatch {
                            what: format!("layer from {url}"),
                            digest: job.desc.digest.clone(),
                            actual: writer.digest().to_string(),
                        });
                    }
                    return Err(unpack_error);
                }
                tee.drain().map_err(|e| {
                    if tee.received > total {
                        sent_more(job, url, total, tee.received)
                    } else {
                        download_error(job, url, e)
                    }
                })?;
            } else {
                io::copy(&mut tee, &mut io::sink()).map_err(|e| {
                    if tee.received > total {
                        sent_more(job, url, total, tee.received)
                    } else {
                        download_error(job, url, e)
                    }
                })?;
            }
            if tee.count < total {
                return Err(ImageError::Download {
                    digest: job.desc.digest.clone(),
                    url: url.to_string(),
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("truncated: got {} of {total} bytes", tee.count),
                    ),
                });
            }
            Ok(())
        })();
        let result = result.and_then(|()| {
            progress.blob(&job.desc.digest, BlobState::Verifying, total, total);
            writer
                .commit(Some(total), Some(&job.digest))
                .map(|_| ())
                .map_err(|e| match e {
                    ContentError::DigestMismatch {
                        expected, actual, ..
                    } => ImageError::DigestMismatch {
                        what: "layer".into(),
                        digest: expected.to_string(),
                        actual: actual.to_string(),
                    },
                    ContentError::SizeMismatch {
                        expected, actual, ..
                    } => ImageError::SizeMismatch {
                        what: "layer".into(),
                        digest: job.desc.digest.clone(),
                        expected: expected as i64,
                        actual,
                    },
                    other => other.into(),
                })
        });
        let result = match result {
            // Whatever broke once the pull was abandoned, the cause is the
            // cancellation; the ingest is kept for a resume.
            Err(_) if job.cancel.is_set() => Err(ImageError::Cancelled(format!(
                "pull of layer {}: its client went away",
                job.desc.digest
            ))),
            other => other,
        };
        if let Err(e) = &result {
            // Bytes that came but were wrong are no use to a retry; a lost
            // connection keeps its ingest for the next pull to resume.
            if !is_connection_error(e) && !job.cancel.is_set() {
                let _ = self.content.abort(&ingest_ref);
            }
            if let Some(layer) = detached.take() {
                berth_store::layer::discard_detached(self.snapshotter.as_ref(), layer);
            }
        }
        result.map(|()| detached)
    }
}

/// A registry that sent more than the descriptor's size: the ingest
/// refuses the excess, which must not read as a short download.
fn sent_more(job: &LayerJob, url: &str, size: u64, received: u64) -> ImageError {
    ImageError::Download {
        digest: job.desc.digest.clone(),
        url: url.to_string(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the registry sent more than the descriptor's size of {size} bytes (at least {received})"
            ),
        ),
    }
}

fn download_error(job: &LayerJob, url: &str, e: io::Error) -> ImageError {
    ImageError::Download {
        digest: job.desc.digest.clone(),
        url: url.to_string(),
        source: e,
    }
}

/// Whether an error is a lost connection (worth resuming), not bad bytes.
/// The body forwarder marks a broken stream `ConnectionAborted`; it reaches
/// here either as a download error or through the layer's tar reader.
fn is_connection_error(e: &ImageError) -> bool {
    match e {
        ImageError::Download { source, .. } => source.kind() == io::ErrorKind::ConnectionAborted,
        ImageError::Store(s) => matches!(
            s.as_ref(),
            berth_store::Error::Layer(berth_store::layer::LayerError::Read(io))
                if io.kind() == io::ErrorKind::ConnectionAborted
        ),
        _ => false,
    }
}

/// The media type to record for a manifest: the registry's Content-Type when
/// it is a known one, else the blob's own field, else the default.
fn effective_media_type(header: &str, declared: Option<&str>, default: &str) -> String {
    if manifest::is_index(header) || manifest::is_manifest(header) {
        header.to_string()
    } else if let Some(d) = declared.filter(|d| !d.is_empty()) {
        d.to_string()
    } else {
        default.to_string()
    }
}

fn parse_digest(s: &str, what: &'static str) -> Result<Digest, ImageError> {
    Digest::parse(s).map_err(|_| {
        ManifestError::InvalidDigest {
            what,
            digest: s.to_string(),
        }
        .into()
    })
}

/// Checks a fully read blob against its descriptor.
fn check_blob(what: &str, desc: &manifest::Descriptor, bytes: &[u8]) -> Result<(), ImageError> {
    let actual = manifest::sha256_digest(bytes);
    if actual != desc.digest {
        return Err(ImageError::DigestMismatch {
            what: what.to_string(),
            digest: desc.digest.clone(),
            actual,
        });
    }
    if bytes.len() as i64 != desc.size {
        return Err(ImageError::SizeMismatch {
            what: what.to_string(),
            digest: desc.digest.clone(),
            expected: desc.size,
            actual: bytes.len() as u64,
        });
    }
    Ok(())
}
