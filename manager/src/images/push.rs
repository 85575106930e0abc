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
//! An image recorded from an index (a multi-platform image) is pushed the
//! way docker (containerd image store, moby 27) pushes one:
//! * with `--platform`: only that platform's manifest (and its blobs),
//!   under the tag;
//! * when every manifest the index lists is here with all its blobs: each
//!   manifest by digest, then the index under the tag, so the registry
//!   serves the same multi-platform image (same digest);
//! * when exactly one platform is here (a pull keeps only the platform it
//!   unpacked): that platform's manifest alone, with a note saying so;
//! * when several but not all are: an error asking for `--platform`, since
//!   either choice could be wrong.

use super::progress::{BlobState, ProgressSink, Throttle, TransferSummary};
use super::{is_dangling, repo_digest, ImageError, ImageService, LABEL_DISTRIBUTED};
use crate::registry::auth::Credentials;
use crate::registry::Repository;
use berth_docker::manifest::{self, parse_manifest, Descriptor, Manifest, ManifestKind, Platform};
use berth_docker::reference::Reference;
use berth_store::digest::Digest;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

/// Uploads running at once (docker's max-concurrent-uploads).
const MAX_CONCURRENT_UPLOADS: usize = 5;

/// One manifest to upload: its descriptor fields and parsed form.
#[derive(Clone)]
struct ManifestUpload {
    digest: String,
    media_type: String,
    bytes: Vec<u8>,
    manifest: Manifest,
}

/// What a push sends for one image record.
enum PushPlan {
    /// One manifest, put under the tag.
    Single(Box<ManifestUpload>),
    /// Every manifest of an index by digest, then the index under the tag.
    Index {
        manifests: Vec<ManifestUpload>,
        media_type: String,
        bytes: Vec<u8>,
    },
}

impl ImageService {
    /// Pushes the image named `reference` to its registry (`platform`:
    /// only that platform's manifest of a multi-platform image).
    pub async fn push(
        self: &Arc<Self>,
        reference: &str,
        platform: Option<&str>,
        credentials: Credentials,
        progress: ProgressSink,
    ) -> Result<TransferSummary, ImageError> {
        let reference = Reference::parse(reference)?;
        let name = reference.to_string();
        let platform = platform.map(Platform::parse).transpose()?;
        let record = self.meta.get_image(&name).map_err(|_| {
            ImageError::NotFound(format!(
                "an image does not exist locally with the tag: {}",
                reference.familiar()
            ))
        })?;
        let resolved = self.resolve(&record)?;
        let mut note = None;
        let plan = self.push_plan(&record.target, &reference, platform.as_ref(), &mut note)?;
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
        let sources = Arc::new(self.mount_sources(&reference)?);
        let (digest, size, whole_record) = match plan {
            PushPlan::Single(m) => {
                self.push_manifest(&repo, &m, reference.object(), &sources, &progress)
                    .await?;
                let whole = m.digest == record.target.digest.to_string();
                (m.digest, m.bytes.len(), whole)
            }
            PushPlan::Index {
                manifests,
                media_type,
                bytes,
            } => {
                for m in &manifests {
                    self.push_manifest(&repo, m, &m.digest, &sources, &progress)
                        .await?;
                }
                // The index last: the registry checks that every manifest
                // it names is already there.
                repo.put_manifest(reference.object(), &media_type, Bytes::from(bytes.clone()))
                    .await?;
                (record.target.digest.to_string(), bytes.len(), true)
            }
        };
        if let Some(note) = note {
            progress.status(note);
        }
        if whole_record && !record.labels.contains_key(LABEL_DISTRIBUTED) {
            let mut labels = record.labels.clone();
            labels.insert(LABEL_DISTRIBUTED.into(), "true".into());
            self.meta.put_image(&name, &record.target, &labels)?;
        }
        self.publish("push", &name);
        Ok(TransferSummary {
            reference: name,
            digest,
            image_id: resolved.id(),
            updated: true,
            size: size as u64,
        })
    }

    /// Decides what to push for a record's target (see the module doc);
    /// `note` gets what the user should be told when not everything is
    /// pushed.
    fn push_plan(
        &self,
        target: &berth_store::digest::Descriptor,
        reference: &Reference,
        platform: Option<&Platform>,
        note: &mut Option<String>,
    ) -> Result<PushPlan, ImageError> {
        let bytes = self.read_blob(&target.digest)?;
        let digest = target.digest.to_string();
        let index = match parse_manifest(&target.media_type, &digest, &bytes)? {
            ManifestKind::Manifest(m) => {
                let upload = ManifestUpload {
                    digest,
                    media_type: if target.media_type.is_empty() {
                        manifest::OCI_MANIFEST.to_string()
                    } else {
                        target.media_type.clone()
                    },
                    bytes,
                    manifest: *m,
                };
                if let Some(p) = platform {
                    let config = self.read_blob(&Digest::parse(&upload.manifest.config.digest)?)?;
                    let config = manifest::parse_config(&upload.manifest.config.digest, &config)?;
                    let have = Platform {
                        os: config.os.clone(),
                        architecture: config.architecture.clone(),
                        variant: config.variant.clone(),
                        os_version: None,
                    };
                    if !p.matches(&have) {
                        return Err(ImageError::NotFound(format!(
                            "image {} is for {have}, not {p}",
                            reference.familiar()
                        )));
                    }
                }
                return Ok(PushPlan::Single(Box::new(upload)));
            }
            ManifestKind::Index(index) => index,
        };
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for desc in &index.manifests {
            let shown = desc
                .platform
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_else(|| desc.digest.clone());
            match self.local_manifest(desc)? {
                Some(m) => present.push((desc.clone(), m)),
                None => missing.push(shown),
            }
        }
        if let Some(p) = platform {
            let chosen = present
                .iter()
                .find(|(d, _)| d.platform.as_ref().is_some_and(|dp| p.matches(dp)));
            return match chosen {
                Some((_, m)) => Ok(PushPlan::Single(Box::new(m.clone()))),
                None => Err(ImageError::NotFound(format!(
                    "image {} has no manifest for platform {p} here (platforms here: {})",
                    reference.familiar(),
                    platform_list(&present)
                ))),
            };
        }
        if missing.is_empty() {
            return Ok(PushPlan::Index {
                manifests: present.into_iter().map(|(_, m)| m).collect(),
                media_type: target.media_type.clone(),
                bytes,
            });
        }
        match present.len() {
            0 => Err(ImageError::NotFound(format!(
                "image {}: none of the manifests of index {digest} is here",
                reference.familiar()
            ))),
            1 => {
                let (desc, m) = present.remove(0);
                *note = Some(format!(
                    "Not all multi-platform content is here: pushing only the {} manifest {} (missing: {})",
                    desc.platform
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "untagged".into()),
                    m.digest,
                    missing.join(", ")
                ));
                Ok(PushPlan::Single(Box::new(m)))
            }
            _ => Err(ImageError::InvalidArgument(format!(
                "image {} is multi-platform and only some platforms are here ({}; missing: {}): push one with --platform",
                reference.familiar(),
                platform_list(&present),
                missing.join(", ")
            ))),
        }
    }

    /// An index entry's manifest, when it and every blob it names are in
    /// the content store.
    fn local_manifest(&self, desc: &Descriptor) -> Result<Option<ManifestUpload>, ImageError> {
        let digest = Digest::parse(&desc.digest)?;
        if !self.content.exists(&digest) {
            return Ok(None);
        }
        let bytes = self.read_blob(&digest)?;
        let ManifestKind::Manifest(m) = parse_manifest(&desc.media_type, &desc.digest, &bytes)?
        else {
            return Err(ImageError::NotImplemented("nested image indexes"));
        };
        for blob in std::iter::once(&m.config).chain(&m.layers) {
            if !self.content.exists(&Digest::parse(&blob.digest)?) {
                return Ok(None);
            }
        }
        Ok(Some(ManifestUpload {
            digest: desc.digest.clone(),
            media_type: if desc.media_type.is_empty() {
                manifest::OCI_MANIFEST.to_string()
            } else {
                desc.media_type.clone()
            },
            bytes,
            manifest: *m,
        }))
    }

    /// Uploads one manifest's layers (five at a time), then its config,
    /// then the manifest itself under `object` (a tag or its digest).
    async fn push_manifest(
        self: &Arc<Self>,
        repo: &Arc<Repository>,
        upload: &ManifestUpload,
        object: &str,
        sources: &Arc<BTreeMap<String, String>>,
        progress: &ProgressSink,
    ) -> Result<(), ImageError> {
        let semaphore = Arc::new(Semaphore::new(MAX_CONCURRENT_UPLOADS));
        let mut tasks = Vec::new();
        for layer in upload.manifest.layers.iter().rev() {
            progress.blob(&layer.digest, BlobState::Preparing, 0, 0);
        }
        for layer in upload.manifest.layers.clone() {
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
        self.push_blob(repo, &upload.manifest.config, None, progress, false)
            .await?;
        repo.put_manifest(
            object,
            &upload.media_type,
            Bytes::from(upload.bytes.clone()),
        )
        .await?;
        Ok(())
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
                        berth_docker::short_id::short_id(&desc.digest)
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

/// `linux/amd64, linux/arm64` of the present manifests.
fn platform_list(present: &[(Descriptor, ManifestUpload)]) -> String {
    let list: Vec<String> = present
        .iter()
        .map(|(d, m)| {
            d.platform
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_else(|| m.digest.clone())
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}
