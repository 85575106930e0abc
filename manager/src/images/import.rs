//! `import`: a root filesystem tarball (plain, gzip or zstd) becomes a
//! one-layer image, like `docker import`.
//!
//! One pass over the incoming bytes decompresses them, hashes the plain tar
//! (the layer's diff ID) and stores it gzip-compressed (what registries
//! expect); the stored blob is then unpacked as the layer's snapshot. The
//! config is written by berthd: os/architecture, creation time, a history
//! entry with the commit message, and docker's container config with the
//! `--change` instructions applied ([`super::change`], as `commit`'s).

use super::layer::{decompress, UnpackJob};
use super::pull::LeaseGuard;
use super::{ImageError, ImageService};
use berth_docker::manifest::{self, Platform};
use berth_docker::reference::Reference;
use berth_docker::types::container::Config;
use berth_store::digest::{Descriptor as StoreDescriptor, Digest};
use berth_store::metadata::LeaseResource;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};
use std::time::{Duration, SystemTime};

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Name of the new image (none: dangling).
    pub reference: Option<String>,
    /// Commit message for the history entry.
    pub message: String,
    /// Dockerfile-like instructions.
    pub changes: Vec<String>,
    /// Platform recorded in the config (the daemon's when none).
    pub platform: Option<String>,
}

impl ImageService {
    /// Imports the tarball read from `input` (blocking). Returns the image
    /// ID.
    pub fn import_blocking(
        &self,
        input: &mut dyn Read,
        options: &ImportOptions,
    ) -> Result<String, ImageError> {
        let reference = options
            .reference
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(Reference::parse)
            .transpose()?;
        let platform = match options.platform.as_deref() {
            Some(p) if !p.is_empty() => Platform::parse(p)?,
            _ => self.platform.clone(),
        };
        let container_config = super::change::apply_changes(&Config::default(), &options.changes)?;
        let lease = LeaseGuard::create(&self.meta, "import", Duration::from_secs(3600))?;

        // One pass: decompress, hash the tar, store it gzip-compressed.
        let ingest_ref = format!("import-{}", super::random_hex());
        let writer = self.content.writer(&ingest_ref, None, None)?;
        let mut encoder = flate2::write::GzEncoder::new(writer, flate2::Compression::new(3));
        let mut hasher = Sha256::new();
        let copied = (|| -> io::Result<u64> {
            let mut tar = decompress(input)?;
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                let n = tar.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                encoder.write_all(&buf[..n])?;
                total += n as u64;
            }
            Ok(total)
        })();
        let writer = match copied.and_then(|_| encoder.finish()) {
            Ok(w) => w,
            Err(e) => {
                let _ = self.content.abort(&ingest_ref);
                return Err(ImageError::Io {
                    op: "read import tarball",
                    path: "<stream>".into(),
                    source: e,
                });
            }
        };
        if copied_is_empty(&writer) {
            drop(writer);
            let _ = self.content.abort(&ingest_ref);
            return Err(ImageError::InvalidArgument(
                "import: the tarball is empty".into(),
            ));
        }
        let diff_id = Digest::from_sha256(hasher);
        let info = {
            let _no_gc = self.gc_lock.read().unwrap_or_else(|e| e.into_inner());
            let info = writer.commit(None, None)?;
            lease.add(LeaseResource::Content(info.digest.clone()))?;
            info
        };
        let result = self.import_committed(
            lease,
            options,
            reference,
            platform,
            container_config,
            diff_id,
            info,
        );
        if let Err(e) = &result {
            // The lease is gone with the failure: what this import stored
            // (the layer blob, a half-made snapshot) is collected now
            // rather than left until the next prune.
            tracing::info!(error = %e, "import failed: collecting what it stored");
            let _one_at_a_time = self.gc_lock.write().unwrap_or_else(|e| e.into_inner());
            if let Err(gc) = berth_store::gc::collect(
                &self.content,
                &self.meta,
                &[self.snapshotter.as_ref()],
                &self.users.gc_roots(),
            ) {
                tracing::warn!(error = %gc, "collection after a failed import");
            }
        }
        if let Ok(id) = &result {
            self.publish("import", id);
        }
        result
    }

    /// The rest of an import once its layer blob is stored: unpack it,
    /// write config and manifest, name the image. The lease is dropped
    /// (released) when this returns.
    #[allow(clippy::too_many_arguments)]
    fn import_committed(
        &self,
        lease: LeaseGuard,
        options: &ImportOptions,
        reference: Option<Reference>,
        platform: Platform,
        container_config: Config,
        diff_id: Digest,
        info: berth_store::content::Info,
    ) -> Result<String, ImageError> {
        if !self.snapshot_committed(&diff_id.to_string()) {
            let job = UnpackJob {
                chain_id: diff_id.to_string(),
                parent: None,
                diff_id: diff_id.clone(),
            };
            self.unpack_reader(self.content.reader(&info.digest)?, &job, &lease)?;
        }

        let created = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        // docker's import history: no `created_by`, the message as the
        // comment, else where the tarball came from (the CLI streams it:
        // docker's `Imported from -`).
        let comment = if options.message.is_empty() {
            "Imported from -".to_string()
        } else {
            options.message.clone()
        };
        let history = json!({ "created": created, "comment": comment });
        // docker writes the comment on the image too (`Comment` in inspect).
        let mut config = json!({
            "created": created,
            "comment": comment,
            "architecture": platform.architecture,
            "os": platform.os,
            "config": serde_json::to_value(&container_config).expect("serialise config"),
            "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
            "history": [history],
        });
        if let Some(v) = &platform.variant {
            config["variant"] = json!(v);
        }
        let config_bytes = serde_json::to_vec(&config).expect("serialise config");
        let config_digest = self.write_leased_blob(&lease, &config_bytes)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest::OCI_MANIFEST,
            "config": { "mediaType": manifest::OCI_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len() },
            "layers": [{ "mediaType": manifest::OCI_LAYER_GZIP, "digest": info.digest.to_string(), "size": info.size }],
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("serialise manifest");
        let manifest_digest = self.write_leased_blob(&lease, &manifest_bytes)?;
        let target = StoreDescriptor {
            media_type: manifest::OCI_MANIFEST.into(),
            digest: manifest_digest,
            size: manifest_bytes.len() as u64,
        };
        self.record_new_image(reference.as_ref(), &target)?;
        Ok(config_digest.to_string())
    }
}

fn copied_is_empty(writer: &berth_store::content::ContentWriter) -> bool {
    // A gzip stream of nothing is 20 bytes; any tar is at least 1024.
    writer.offset() <= 20
}
