//! `push`: upload an image's layers, config and manifest to its registry.
//!
//! Each blob is first looked up with `HEAD` (skipped when the registry has
//! it: "Layer already exists"), then mounted from another repository of the
//! same registry that an image here came from or went to (OCI distribution
//! spec, "Mounting a blob from another repository"), and only then uploaded,
//! streamed from the content store. Layers go up five at a time (docker's
//! max-concurrent-uploads), the config after them, the manifest last, so a
//! registry never holds a manifest whose blobs are missing.
//!
//! An image recorded from an index is pushed as its platform manifest: only
//! that manifest's blobs are here.

use super::progress::{BlobState, ProgressSink, Throttle, TransferSummary};
use super::{is_dangling, repo_digest, ImageError, ImageService, LABEL_DISTRIBUTED};
use crate::manifest::{self, Descriptor};
use crate::reference::Reference;
use crate::registry::auth::Credentials;
use crate::registry::Repository;
use berth_store::digest::Digest;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

/// Uploads running at once (docker's max-concurrent-uploads).
const MAX_CONCURRENT_UPLOADS: usize = 5;

impl ImageService {
    /// Pushes the image named `reference` to its registry.
    pub async fn push(
        self: &Arc<Self>,
        reference: &str,
        credentials: Credentials,
        progress: ProgressSink,
    ) -> Result<TransferSummary, ImageError> {
        let reference = Reference::parse(reference)?;
        let name = reference.to_string();
        let record = self.meta.get_image(&name).map_err(|_| {
            ImageError::NotFound(format!(
                "an image does not exist locally with the tag: {}",
                reference.familiar()
            ))
        })?;
        let resolved = self.resolve(&record)?;
        let repo = Arc::new(Repository::new(
            self.http.clone(),
            &self.registry,
            &reference,
            credentials,
            "pull,push",
        ));
        progress.status(format!(
            "The push refers to repository [{}]",
            reference.familiar_repository()
        ));
        let sources = self.mount_sources(&reference)?;

        let semaphore = Arc::new(Semaphore::new(MAX_CONCURRENT_UPLOADS));
        let mut tasks = Vec::new();
        for layer in resolved.manifest.layers.iter().rev() {
            progress.blob(&layer.digest, BlobState::Preparing, 0, 0);
        }
        for layer in resolved.manifest.layers.clone() {
            let this = self.clone();
            let repo = repo.clone();
            let semaphore = semaphore.clone();
            let progress = progress.clone();
            let from = sources.get(&layer.digest).cloned();
            tasks.push(tokio::spawn(async move {
                let _permit = semaphore
                    .acquire()
                    .await
                    .map_err(|_| ImageError::Cancelled("upload slots closed".into()))?;
                this.push_blob(&repo, &layer, from.as_deref(), &progress, true)
                    .await
            }));
        }
        let mut first_error = None;
        for task in tasks {
            let result = task
                .await
                .unwrap_or_else(|e| Err(ImageError::Cancelled(format!("upload task: {e}"))));
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.push_blob(&repo, &resolved.manifest.config, None, &progress, false)
            .await?;
        let media_type = if resolved.manifest_media_type.is_empty() {
            manifest::OCI_MANIFEST.to_string()
        } else {
            resolved.manifest_media_type.clone()
        };
        repo.put_manifest(
            reference.object(),
            &media_type,
            Bytes::from(resolved.manifest_bytes.clone()),
        )
        .await?;
        if record.target.digest == resolved.manifest_digest
            && !record.labels.contains_key(LABEL_DISTRIBUTED)
        {
            let mut labels = record.labels.clone();
            labels.insert(LABEL_DISTRIBUTED.into(), "true".into());
            self.meta.put_image(&name, &record.target, &labels)?;
        }
        Ok(TransferSummary {
            reference: name,
            digest: resolved.manifest_digest.to_string(),
            image_id: resolved.id(),
            updated: true,
            size: resolved.manifest_bytes.len() as u64,
        })
    }

    /// For each layer digest, a repository on `reference`'s registry that an
    /// image holding it came from: the source of a cross-repository mount.
    fn mount_sources(&self, reference: &Reference) -> Result<BTreeMap<String, String>, ImageError> {
        let mut out = BTreeMap::new();
        for record in self.meta.list_images()? {
            if is_dangling(&record.name) || repo_digest(&record).is_none() {
                continue;
            }
            let Ok(r) = Reference::parse(&record.name) else {
                continue;
            };
            if r.domain != reference.domain || r.path == reference.path {
                continue;
            }
            let Ok(resolved) = self.resolve(&record) else {
                continue;
            };
            for layer in &resolved.manifest.layers {
                out.entry(layer.digest.clone())
                    .or_insert_with(|| r.path.clone());
            }
        }
        Ok(out)
    }

    /// Makes sure the registry has one blob: exists, mounted or uploaded.
    async fn push_blob(
        &self,
        repo: &Repository,
        desc: &Descriptor,
        mount_from: Option<&str>,
        progress: &ProgressSink,
        report: bool,
    ) -> Result<(), ImageError> {
        let size = desc.size.max(0) as u64;
        let report_state = |state: BlobState, current: u64| {
            if report {
                progress.blob(&desc.digest, state, current, size);
            }
        };
        if repo.blob_exists(&desc.digest).await? {
            report_state(BlobState::LayerAlreadyExists, size);
            return Ok(());
        }
        if let Some(from) = mount_from {
            if repo.mount_blob(&desc.digest, from).await? {
                if report {
                    progress.status(format!(
                        "{}: Mounted from {from}",
                        super::short_id(&desc.digest)
                    ));
                }
                report_state(BlobState::Mounted, size);
                return Ok(());
            }
        }
        let digest = Digest::parse(&desc.digest)?;
        let path = self.content.blob_path(&digest);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|source| ImageError::Io {
                op: "open blob",
                path: path.clone(),
                source,
            })?;
        report_state(BlobState::Pushing, 0);
        let sink = if report {
            progress.clone()
        } else {
            ProgressSink::discard()
        };
        let digest_str = desc.digest.clone();
        let state = (file, 0u64, Throttle::default(), sink, digest_str);
        let body = futures_util::stream::unfold(
            state,
            move |(mut file, sent, mut throttle, sink, d)| async move {
                let mut buf = vec![0u8; 256 * 1024];
                match file.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        let sent = sent + n as u64;
                        if throttle.due() {
                            sink.blob(&d, BlobState::Pushing, sent, size);
                        }
                        Some((Ok(Bytes::from(buf)), (file, sent, throttle, sink, d)))
                    }
                    Err(e) => Some((Err(e), (file, sent, throttle, sink, d))),
                }
            },
        );
        repo.upload_blob(&desc.digest, size, body).await?;
        report_state(BlobState::Pushed, size);
        Ok(())
    }
}
