//! The build cache: a step's result by its content-addressed key.
//!
//! A key is a sha256 chained from the parent step's key and what the step
//! depends on (see [`CacheKey`]); the value is the intermediate image the step
//! left (its manifest). Each entry is a lease of the metadata database (redb),
//! so it survives berthd restarts and protects what it names from garbage
//! collection: the manifest, config and every layer blob, and the top layer's
//! snapshot (which keeps its parents):
//!
//! ```text
//! leases
//! └── build-cache-<key hex>              no expiry, no purpose label (berthd's start leaves it)
//!     ├── labels
//!     │   ├── io.berth.build.cache        "1"
//!     │   ├── io.berth.build.manifest     digest of the intermediate's manifest
//!     │   ├── io.berth.build.manifest-type, io.berth.build.manifest-size
//!     │   └── io.berth.build.description  the instruction ("RUN apk add ...")
//!     └── resources                       content: manifest, config, layers; snapshot: top chain ID
//! ```
//!
//! An entry is written only once its step completed; a build that fails or is
//! interrupted leaves the entries of the steps it finished and nothing else.
//! `berth builder prune` deletes entries (all with `-a`, else those whose
//! layers no image uses) and collects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use berth_store::digest::{Descriptor as StoreDescriptor, Digest};
use berth_store::metadata::{LeaseResource, MetadataStore};
use sha2::{Digest as _, Sha256};

use crate::images::{ImageError, ImageService, ResolvedImage};

const PREFIX: &str = "build-cache-";
const LABEL_CACHE: &str = "io.berth.build.cache";
const LABEL_MANIFEST: &str = "io.berth.build.manifest";
const LABEL_MANIFEST_TYPE: &str = "io.berth.build.manifest-type";
const LABEL_MANIFEST_SIZE: &str = "io.berth.build.manifest-size";
const LABEL_DESCRIPTION: &str = "io.berth.build.description";

/// A step's cache key being computed: fields are fed in order, each
/// length-prefixed so that no two different inputs hash alike.
#[derive(Clone)]
pub struct CacheKey(Sha256);

impl CacheKey {
    /// A key chained to `parent` (the previous step's key), for a step of
    /// kind `kind` (`run`, `copy`, ...).
    pub fn new(parent: &str, kind: &str) -> Self {
        let mut k = Self(Sha256::new());
        k.field(parent.as_bytes());
        k.field(kind.as_bytes());
        k
    }

    /// Adds one field.
    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// Adds a list of strings.
    pub fn strings<S: AsRef<str>>(&mut self, items: &[S]) -> &mut Self {
        self.field(&(items.len() as u64).to_le_bytes());
        for s in items {
            self.field(s.as_ref().as_bytes());
        }
        self
    }

    /// The key, hex.
    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of a base: an image by its ID, or scratch.
pub fn base_key(image_id: Option<&str>) -> String {
    let mut k = CacheKey::new("", "base");
    k.field(image_id.unwrap_or("scratch").as_bytes());
    k.finish()
}

/// One entry, as `system df` and prune see it.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    /// The key.
    pub key: String,
    /// The instruction.
    pub description: String,
    /// When it was made.
    pub created_at: SystemTime,
    /// Disk used by its own layer's snapshot.
    pub size: u64,
    /// The image it names (its top layer's chain ID), to tell whether an
    /// image still uses it.
    pub chain_id: Option<String>,
}

/// The build cache over the metadata database.
pub struct BuildCache {
    meta: Arc<MetadataStore>,
    images: Arc<ImageService>,
}

impl BuildCache {
    /// The cache of `images`' store.
    pub fn new(images: Arc<ImageService>) -> Self {
        Self {
            meta: images.meta.clone(),
            images,
        }
    }

    /// The state stored under `key`, if it is there and whole.
    pub fn get(&self, key: &str) -> Option<ResolvedImage> {
        let lease = self.meta.get_lease(&format!("{PREFIX}{key}")).ok()?;
        let digest = Digest::parse(lease.labels.get(LABEL_MANIFEST)?).ok()?;
        let target = StoreDescriptor {
            media_type: lease.labels.get(LABEL_MANIFEST_TYPE)?.clone(),
            digest,
            size: lease.labels.get(LABEL_MANIFEST_SIZE)?.parse().ok()?,
        };
        let resolved = self
            .images
            .resolve_target(&target, self.images.platform())
            .ok()?;
        let whole = resolved
            .chain_ids
            .last()
            .is_none_or(|c| self.images.snapshot_committed(c));
        whole.then_some(resolved)
    }

    /// Remembers `state` as the result of the step `key`.
    pub fn put(
        &self,
        key: &str,
        description: &str,
        state: &ResolvedImage,
    ) -> Result<(), ImageError> {
        let id = format!("{PREFIX}{key}");
        let labels = BTreeMap::from([
            (LABEL_CACHE.to_string(), "1".to_string()),
            (LABEL_MANIFEST.to_string(), state.target.digest.to_string()),
            (
                LABEL_MANIFEST_TYPE.to_string(),
                state.target.media_type.clone(),
            ),
            (
                LABEL_MANIFEST_SIZE.to_string(),
                state.target.size.to_string(),
            ),
            (LABEL_DESCRIPTION.to_string(), description.to_string()),
        ]);
        // A step cached by a concurrent build: the first entry stays.
        if self.meta.get_lease(&id).is_ok() {
            return Ok(());
        }
        self.meta.create_lease(&id, None, &labels)?;
        let mut resources = vec![
            LeaseResource::Content(state.target.digest.clone()),
            LeaseResource::Content(state.config_digest.clone()),
        ];
        for layer in &state.manifest.layers {
            resources.push(LeaseResource::Content(Digest::parse(&layer.digest)?));
        }
        if let Some(chain) = state.chain_ids.last() {
            resources.push(LeaseResource::Snapshot(
                self.images.snapshotter().name().to_string(),
                chain.clone(),
            ));
        }
        for r in resources {
            self.meta.add_lease_resource(&id, r)?;
        }
        Ok(())
    }

    /// Every entry.
    pub fn entries(&self) -> Result<Vec<CacheEntry>, ImageError> {
        let mut out = Vec::new();
        for lease in self.meta.list_leases()? {
            let Some(key) = lease.id.strip_prefix(PREFIX) else {
                continue;
            };
            if !lease.labels.contains_key(LABEL_CACHE) {
                continue;
            }
            let chain_id = lease.resources.iter().find_map(|r| match r {
                LeaseResource::Snapshot(_, key) => Some(key.clone()),
                _ => None,
            });
            let size = chain_id
                .as_ref()
                .and_then(|c| self.images.snapshotter().usage(c).ok())
                .map(|u| u.size)
                .unwrap_or(0);
            out.push(CacheEntry {
                key: key.to_string(),
                description: lease
                    .labels
                    .get(LABEL_DESCRIPTION)
                    .cloned()
                    .unwrap_or_default(),
                created_at: lease.created_at,
                size,
                chain_id,
            });
        }
        Ok(out)
    }

    /// Deletes the entries `keep` does not keep; returns their keys and the
    /// space their own layers used.
    pub fn remove_where(
        &self,
        remove: impl Fn(&CacheEntry) -> bool,
    ) -> Result<(Vec<String>, u64), ImageError> {
        let mut removed = Vec::new();
        let mut space = 0;
        for entry in self.entries()? {
            if !remove(&entry) {
                continue;
            }
            match self.meta.delete_lease(&format!("{PREFIX}{}", entry.key)) {
                Ok(()) => {
                    removed.push(entry.key.clone());
                    space += entry.size;
                }
                Err(berth_store::metadata::MetadataError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((removed, space))
    }
}
