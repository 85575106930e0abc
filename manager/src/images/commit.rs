//! `commit`: a new image from a parent image and one more layer, as docker's
//! `CommitImage` (moby `daemon/images/image_commit.go`, `image.NewChildImage`).
//!
//! The caller writes the layer (a container's snapshot diff) into the writer it is
//! given; one pass hashes the tar (the diff ID) and stores it uncompressed, as docker
//! keeps a committed layer (gzip of 100 MB made `commit` 5x docker's time; a push sends
//! the blob as it is, an OCI `tar` layer), then the blob is unpacked as the new top
//! snapshot, named by its chain ID, so the image runs like any other. A layer with no entries (the tar of an unchanged
//! container) is not stored: the history entry says `empty_layer`, as docker's.
//!
//! The config is docker's child image: the parent's architecture, variant and os,
//! the caller's `config` and `container_config`, `container`, `author`, a history
//! entry (`created_by` is the container's command, `author`, `comment`) after the
//! parent's, and the parent's diff IDs plus the new one. The manifest keeps the
//! parent's kind (docker schema 2 or OCI) and layer descriptors. Everything written
//! is under one lease until the image record names it; a failure collects it at once.

use super::pull::LeaseGuard;
use super::{ImageError, ImageService, ResolvedImage};
use berth_docker::manifest;
use berth_docker::reference::Reference;
use berth_store::digest::{Descriptor as StoreDescriptor, Digest};
use berth_store::layer::{chain_ids, Applied, LayerError};
use berth_store::metadata::LeaseResource;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

/// What the new image says about where it came from.
#[derive(Debug, Clone)]
pub struct ChildImage {
    /// Its name (none: dangling).
    pub reference: Option<Reference>,
    /// `author` of the config and its history entry.
    pub author: String,
    /// The history entry's `comment`.
    pub comment: String,
    /// The history entry's `created_by` (docker: the container's `Cmd`, joined by spaces).
    pub created_by: String,
    /// The image's `config` (docker's `container.Config`).
    pub config: Value,
    /// `container_config`: the container's own config.
    pub container_config: Value,
    /// `container`: the container's ID.
    pub container_id: String,
}

/// Writes a layer tar into the writer it is given and returns its diff ID and size.
pub type LayerSource<'a> = dyn FnOnce(&mut dyn Write) -> Result<Applied, LayerError> + 'a;

/// The diff ID of a tar with no entries (its two zero blocks): moby's `layer.EmptyLayer`.
fn empty_layer_diff_id() -> Digest {
    Digest::of(&[0u8; 1024])
}

impl ImageService {
    /// Makes the image `child` on top of `parent` with the layer `layer` writes
    /// (blocking). Returns the image ID.
    pub fn commit_blocking(
        &self,
        parent: &ResolvedImage,
        layer: Box<LayerSource<'_>>,
        child: &ChildImage,
    ) -> Result<String, ImageError> {
        let lease = LeaseGuard::create(&self.meta, "commit", Duration::from_secs(3600))?;
        let result = self.commit_leased(&lease, parent, layer, child);
        drop(lease);
        match &result {
            Ok(id) => self.publish_commit(id, child),
            Err(e) => {
                // What this commit stored (the layer blob, a half-made snapshot) is
                // collected now rather than left until the next prune.
                tracing::info!(error = %e, "commit failed: collecting what it stored");
                let _one_at_a_time = self.gc_lock.write().unwrap_or_else(|e| e.into_inner());
                if let Err(gc) = berth_store::gc::collect(
                    &self.content,
                    &self.meta,
                    &[self.snapshotter.as_ref()],
                    &self.users.gc_roots(),
                ) {
                    tracing::warn!(error = %gc, "collection after a failed commit");
                }
            }
        }
        result
    }

    /// docker tags the committed image: an image `tag` event whose actor is the image ID
    /// and `name` the familiar reference (moby `TagImageWithReference`); the container's
    /// `commit` event is the caller's.
    fn publish_commit(&self, id: &str, child: &ChildImage) {
        if let Some(r) = &child.reference {
            let attributes = BTreeMap::from([("name".to_string(), r.familiar())]);
            self.events
                .publish(crate::events::Event::now("image", "tag", id, attributes));
        }
    }

    fn commit_leased(
        &self,
        lease: &LeaseGuard,
        parent: &ResolvedImage,
        layer: Box<LayerSource<'_>>,
        child: &ChildImage,
    ) -> Result<String, ImageError> {
        let stored = self.store_layer(lease, layer)?;
        let mut diff_ids = parent.config.rootfs.diff_ids.clone();
        let mut layers: Vec<Value> = parent
            .manifest
            .layers
            .iter()
            .map(|d| serde_json::to_value(d).expect("serialise descriptor"))
            .collect();
        let docker_kind = parent.manifest_media_type == manifest::DOCKER_MANIFEST;
        let empty_layer = stored.is_none();
        if let Some((diff_id, blob)) = &stored {
            let mut all = diff_ids
                .iter()
                .map(|d| Digest::parse(d))
                .collect::<Result<Vec<_>, _>>()?;
            all.push(diff_id.clone());
            let chain = chain_ids(&all);
            let chain_id = chain.last().expect("one layer at least").to_string();
            if !self.snapshot_committed(&chain_id) {
                let job = super::layer::UnpackJob {
                    chain_id,
                    parent: parent.chain_ids.last().cloned(),
                    diff_id: diff_id.clone(),
                };
                self.unpack_plain_blob(self.content.reader(&blob.digest)?, &job, lease)?;
            }
            diff_ids.push(diff_id.to_string());
            let media_type = if docker_kind {
                manifest::DOCKER_LAYER_TAR
            } else {
                manifest::OCI_LAYER_TAR
            };
            layers.push(json!({
                "mediaType": media_type,
                "digest": blob.digest.to_string(),
                "size": blob.size,
            }));
        }

        let created = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let parent_config: Value = serde_json::from_slice(&parent.config_bytes)
            .map_err(|e| ImageError::InvalidArgument(format!("parent image config: {e}")))?;
        let mut history: Vec<Value> = parent_config
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut entry = Map::new();
        entry.insert("created".into(), json!(created));
        for (key, value) in [
            ("author", &child.author),
            ("created_by", &child.created_by),
            ("comment", &child.comment),
        ] {
            if !value.is_empty() {
                entry.insert(key.into(), json!(value));
            }
        }
        if empty_layer {
            entry.insert("empty_layer".into(), json!(true));
        }
        history.push(Value::Object(entry));

        let mut config = Map::new();
        config.insert("architecture".into(), json!(parent.config.architecture));
        if !child.author.is_empty() {
            config.insert("author".into(), json!(child.author));
        }
        config.insert("config".into(), child.config.clone());
        config.insert("container".into(), json!(child.container_id));
        config.insert("container_config".into(), child.container_config.clone());
        config.insert("created".into(), json!(created));
        config.insert("history".into(), Value::Array(history));
        config.insert("os".into(), json!(parent.config.os));
        for key in ["os.version", "os.features"] {
            if let Some(v) = parent_config.get(key) {
                config.insert(key.into(), v.clone());
            }
        }
        config.insert(
            "rootfs".into(),
            json!({ "type": "layers", "diff_ids": diff_ids }),
        );
        if let Some(v) = &parent.config.variant {
            config.insert("variant".into(), json!(v));
        }
        let config_bytes = serde_json::to_vec(&Value::Object(config)).expect("serialise config");
        let config_digest = self.write_leased_blob(lease, &config_bytes)?;
        let (manifest_type, config_type) = if docker_kind {
            (manifest::DOCKER_MANIFEST, manifest::DOCKER_CONFIG)
        } else {
            (manifest::OCI_MANIFEST, manifest::OCI_CONFIG)
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": { "mediaType": config_type, "digest": config_digest.to_string(), "size": config_bytes.len() },
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("serialise manifest");
        let manifest_digest = self.write_leased_blob(lease, &manifest_bytes)?;
        let target = StoreDescriptor {
            media_type: manifest_type.into(),
            digest: manifest_digest,
            size: manifest_bytes.len() as u64,
        };
        self.record_new_image(child.reference.as_ref(), &target)?;
        Ok(config_digest.to_string())
    }

    /// Stores the layer `layer` writes under `lease`, uncompressed (as docker keeps a
    /// committed layer; its blob digest is its diff ID): its diff ID and blob, or none
    /// for a layer with no entries (nothing is stored then).
    pub(crate) fn store_layer(
        &self,
        lease: &LeaseGuard,
        layer: Box<LayerSource<'_>>,
    ) -> Result<Option<(Digest, berth_store::content::Info)>, ImageError> {
        let ingest_ref = format!("commit-{}", super::random_hex());
        let mut writer = std::io::BufWriter::with_capacity(
            256 * 1024,
            self.content.writer(&ingest_ref, None, None)?,
        );
        let written = layer(&mut writer);
        let applied = match written {
            Ok(a) => a,
            Err(e) => {
                drop(writer);
                let _ = self.content.abort(&ingest_ref);
                return Err(e.into());
            }
        };
        if applied.diff_id == empty_layer_diff_id() {
            drop(writer);
            let _ = self.content.abort(&ingest_ref);
            return Ok(None);
        }
        let writer = match writer.into_inner() {
            Ok(w) => w,
            Err(e) => {
                let _ = self.content.abort(&ingest_ref);
                return Err(ImageError::Io {
                    op: "write layer",
                    path: ingest_ref.into(),
                    source: e.into_error(),
                });
            }
        };
        let _no_gc = self.gc_lock.read().unwrap_or_else(|e| e.into_inner());
        // The blob is the plain tar: its digest is the diff ID (`unpack_plain_blob`
        // relies on it and does not hash the tar again).
        let info = writer.commit(None, Some(&applied.diff_id))?;
        lease.add(LeaseResource::Content(info.digest.clone()))?;
        Ok(Some((applied.diff_id, info)))
    }
}
