//! `load`: images from a docker-archive or an OCI layout tar archive (the
//! formats [`super::save`] writes, and those of docker, podman, skopeo and
//! umoci).
//!
//! The archive is spooled to a file first (tar has no index, and the
//! manifests that say what the blobs are may come after them), indexed once
//! (entry name -> data offset and size, symlinks resolved: `docker save`
//! links repeated layers), then read with positional reads.
//!
//! * docker-archive (`manifest.json` present): each config is stored as is;
//!   each layer file is stored as a blob (compressed or not, its sniffed
//!   compression names its OCI media type) and, in the same pass,
//!   decompressed and unpacked; the diff IDs in the config must match. The
//!   archive has no registry manifest, so an OCI manifest is made for it.
//!   A layer that is already there (its snapshot unpacked, its uncompressed
//!   blob stored under its diff ID) is not read at all, as podman skips
//!   it: loading an image that is present costs the upload and the index
//!   (issue 21: it was 4x podman's time, each layer copied into the
//!   content store again).
//! * OCI layout (`index.json` + `oci-layout`): every blob the chosen
//!   manifests reach is copied in and verified by digest and size, then the
//!   layers are unpacked. An index picks the daemon's platform.
//!
//! Names come from `RepoTags` (docker-archive), or from
//! `io.containerd.image.name`, or from a `org.opencontainers.image.ref.name`
//! that is a full reference (a bare tag, as umoci writes, names nothing:
//! the image is loaded by ID).

use super::layer::{sniff, TeeReader, UnpackJob};
use super::pull::LeaseGuard;
use super::{ImageError, ImageService, LABEL_TAG_TIME};
use berth_docker::manifest::{self, parse_config, parse_manifest, Compression, ManifestKind};
use berth_docker::reference::Reference;
use berth_store::content::ContentError;
use berth_store::digest::{Descriptor as StoreDescriptor, Digest};
use berth_store::metadata::{Labels, LeaseResource};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

/// How much of a layer is read at once from the spooled archive (the
/// default 8 KiB made a read per 8 KiB of every layer: issue 21).
const LAYER_READ_BUFFER: usize = 256 * 1024;

/// A spooled tar archive with an index of its entries.
pub struct ArchiveIndex {
    file: File,
    /// Normalised entry path -> (data offset, size).
    entries: HashMap<String, (u64, u64)>,
    path: String,
}

/// One entry of a docker-archive `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

/// Reads one archive entry with positional reads.
pub struct EntryReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = (self.end - self.pos) as usize;
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(left);
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive entry truncated",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

impl ArchiveIndex {
    /// Indexes the tar archive at `path`.
    pub fn open(path: &Path) -> Result<ArchiveIndex, ImageError> {
        let io_err = |op: &'static str| {
            move |source: io::Error| ImageError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        };
        let file = File::open(path).map_err(io_err("open archive"))?;
        let mut entries = HashMap::new();
        let mut links = Vec::new();
        {
            let mut archive = tar::Archive::new(&file);
            let iter = archive
                .entries_with_seek()
                .map_err(|e| ImageError::Archive(format!("not a tar archive: {e}")))?;
            for entry in iter {
                let entry =
                    entry.map_err(|e| ImageError::Archive(format!("read tar entry: {e}")))?;
                let name = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
                match entry.header().entry_type() {
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        entries.insert(name, (entry.raw_file_position(), entry.size()));
                    }
                    tar::EntryType::Symlink | tar::EntryType::Link => {
                        if let Some(target) = entry.link_name_bytes().map(|t| t.to_vec()) {
                            let target = String::from_utf8_lossy(&target).to_string();
                            let resolved = if entry.header().entry_type() == tar::EntryType::Link
                                || target.starts_with('/')
                            {
                                normalize(&target)
                            } else {
                                let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                                normalize(&format!("{dir}/{target}"))
                            };
                            links.push((name, resolved));
                        }
                    }
                    _ => {}
                }
            }
        }
        for (name, target) in links {
            if let Some(v) = entries.get(&target).copied() {
                entries.insert(name, v);
            }
        }
        Ok(ArchiveIndex {
            file,
            entries,
            path: path.display().to_string(),
        })
    }

    fn has(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// A reader of entry `name`.
    pub fn reader(&self, name: &str) -> Result<EntryReader<'_>, ImageError> {
        let (offset, size) = self.entries.get(&normalize(name)).copied().ok_or_else(|| {
            ImageError::Archive(format!("{name} not found in archive {}", self.path))
        })?;
        Ok(EntryReader {
            file: &self.file,
            pos: offset,
            end: offset + size,
        })
    }

    /// Entry `name` read whole (JSON files), at most `limit` bytes.
    fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, ImageError> {
        let (_, size) = self.entries.get(&normalize(name)).copied().ok_or_else(|| {
            ImageError::Archive(format!("{name} not found in archive {}", self.path))
        })?;
        if size > limit {
            return Err(ImageError::Archive(format!(
                "{name} is larger than {limit} bytes"
            )));
        }
        let mut out = Vec::with_capacity(size as usize);
        self.reader(name)?
            .read_to_end(&mut out)
            .map_err(|e| ImageError::Archive(format!("read {name}: {e}")))?;
        Ok(out)
    }
}

impl ImageService {
    /// Loads every image of the archive at `path` (blocking). Returns
    /// docker's lines: `Loaded image: NAME` / `Loaded image ID: ID`.
    pub fn load_archive(&self, path: &Path) -> Result<Vec<String>, ImageError> {
        let archive = ArchiveIndex::open(path)?;
        let lease = LeaseGuard::create(&self.meta, "load", Duration::from_secs(3600))?;
        if archive.has("manifest.json") {
            self.load_docker_archive(&archive, &lease)
        } else if archive.has("index.json") {
            self.load_oci_layout(&archive, &lease)
        } else {
            Err(ImageError::Archive(
                "neither manifest.json (docker-archive) nor index.json (OCI layout) found".into(),
            ))
        }
    }

    fn load_docker_archive(
        &self,
        archive: &ArchiveIndex,
        lease: &LeaseGuard,
    ) -> Result<Vec<String>, ImageError> {
        let manifest_json = archive.read("manifest.json", manifest_limit())?;
        let entries: Vec<DockerArchiveEntry> = serde_json::from_slice(&manifest_json)
            .map_err(|e| ImageError::Archive(format!("manifest.json is not valid: {e}")))?;
        let mut lines = Vec::new();
        for entry in entries {
            let config_bytes = archive.read(&entry.config, super::MAX_CONFIG_SIZE as u64)?;
            let config_digest_str = manifest::sha256_digest(&config_bytes);
            let config = parse_config(&config_digest_str, &config_bytes)?;
            if config.rootfs.diff_ids.len() != entry.layers.len() {
                return Err(manifest::ManifestError::LayerCountMismatch {
                    digest: config_digest_str,
                    diff_ids: config.rootfs.diff_ids.len(),
                    layers: entry.layers.len(),
                }
                .into());
            }
            let config_digest = self.write_leased_blob(lease, &config_bytes)?;
            let chains = manifest::chain_ids(&config.rootfs.diff_ids);
            let mut layers = Vec::new();
            for (i, layer_path) in entry.layers.iter().enumerate() {
                let diff_id = Digest::parse(&config.rootfs.diff_ids[i])?;
                let job = UnpackJob {
                    chain_id: chains[i].clone(),
                    parent: (i > 0).then(|| chains[i - 1].clone()),
                    diff_id,
                };
                let desc =
                    self.store_and_unpack(archive.reader(layer_path)?, &job, lease, layer_path)?;
                layers.push(desc);
            }
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": manifest::OCI_MANIFEST,
                "config": {
                    "mediaType": manifest::OCI_CONFIG,
                    "digest": config_digest.to_string(),
                    "size": config_bytes.len(),
                },
                "layers": layers,
            });
            let manifest_bytes = serde_json::to_vec(&manifest).expect("serialise manifest");
            let manifest_digest = self.write_leased_blob(lease, &manifest_bytes)?;
            let target = StoreDescriptor {
                media_type: manifest::OCI_MANIFEST.into(),
                digest: manifest_digest,
                size: manifest_bytes.len() as u64,
            };
            let tags = entry.repo_tags.unwrap_or_default();
            if tags.is_empty() {
                let id = self.put_dangling(&target, Labels::new())?;
                lines.push(format!("Loaded image ID: {id}"));
            }
            for tag in tags {
                let reference = Reference::parse(&tag)?;
                self.put_name(&reference.to_string(), &target, tag_labels())?;
                lines.push(format!("Loaded image: {}", reference.familiar()));
            }
        }
        Ok(lines)
    }

    /// Stores one archive layer as a blob and unpacks it in the same pass
    /// (only stores it when its snapshot exists). Returns its descriptor.
    fn store_and_unpack(
        &self,
        reader: EntryReader<'_>,
        job: &UnpackJob,
        lease: &LeaseGuard,
        name: &str,
    ) -> Result<serde_json::Value, ImageError> {
        let mut buffered = BufReader::with_capacity(LAYER_READ_BUFFER, reader);
        let compression = sniff(
            buffered
                .fill_buf()
                .map_err(|e| ImageError::Archive(format!("read {name}: {e}")))?,
        );
        let exists = self.snapshot_committed(&job.chain_id);
        if exists && compression == Compression::None {
            if let Some(desc) = self.present_layer(&job.diff_id, lease)? {
                return Ok(desc);
            }
        }
        let ingest_ref = format!("load-{}", super::random_hex());
        let mut writer = self.content.writer(&ingest_ref, None, None)?;
        let result = (|| {
            let mut tee = TeeReader::new(&mut buffered, &mut writer, 0);
            if exists {
                io::copy(&mut tee, &mut io::sink())
                    .map_err(|e| ImageError::Archive(format!("read {name}: {e}")))?;
            } else {
                self.unpack_reader(&mut tee, job, lease)?;
                tee.drain()
                    .map_err(|e| ImageError::Archive(format!("read {name}: {e}")))?;
            }
            Ok::<u64, ImageError>(tee.count)
        })();
        let size = match result {
            Ok(size) => size,
            Err(e) => {
                drop(writer);
                let _ = self.content.abort(&ingest_ref);
                return Err(e);
            }
        };
        let info = {
            let _no_gc = self.gc_lock.read().unwrap_or_else(|e| e.into_inner());
            let info = writer.commit(Some(size), None)?;
            lease.add(LeaseResource::Content(info.digest.clone()))?;
            info
        };
        let media_type = match compression {
            Compression::Gzip => manifest::OCI_LAYER_GZIP,
            Compression::Zstd => manifest::OCI_LAYER_ZSTD,
            Compression::None => manifest::OCI_LAYER_TAR,
        };
        Ok(json!({
            "mediaType": media_type,
            "digest": info.digest.to_string(),
            "size": info.size,
        }))
    }

    /// The descriptor of a layer already unpacked whose uncompressed blob
    /// (its diff ID) is stored: the archive's copy is not read at all, as
    /// podman skips a layer it has. The image is then exactly what its
    /// config says (the config names its layers by diff ID), with the
    /// stored blob's true size. None when the blob is not stored.
    fn present_layer(
        &self,
        diff_id: &Digest,
        lease: &LeaseGuard,
    ) -> Result<Option<serde_json::Value>, ImageError> {
        let _no_gc = self.gc_lock.read().unwrap_or_else(|e| e.into_inner());
        let Ok(info) = self.content.info(diff_id) else {
            return Ok(None);
        };
        lease.add(LeaseResource::Content(info.digest.clone()))?;
        Ok(Some(json!({
            "mediaType": manifest::OCI_LAYER_TAR,
            "digest": info.digest.to_string(),
            "size": info.size,
        })))
    }

    fn load_oci_layout(
        &self,
        archive: &ArchiveIndex,
        lease: &LeaseGuard,
    ) -> Result<Vec<String>, ImageError> {
        let index_bytes = archive.read("index.json", manifest_limit())?;
        let ManifestKind::Index(index) =
            parse_manifest(manifest::OCI_INDEX, "index.json", &index_bytes)?
        else {
            return Err(ImageError::Archive(
                "index.json is not an image index".into(),
            ));
        };
        let mut lines = Vec::new();
        for desc in &index.manifests {
            let annotations = desc.annotations.clone().unwrap_or_default();
            let target = self.copy_blob(archive, desc, lease)?;
            let (platform_manifest, manifest) = match parse_manifest(
                &desc.media_type,
                &desc.digest,
                &self.read_blob(&target.digest)?,
            )? {
                ManifestKind::Manifest(m) => (desc.clone(), m),
                ManifestKind::Index(inner) => {
                    let chosen =
                        manifest::select_platform(&inner, &desc.digest, &self.platform)?.clone();
                    self.copy_blob(archive, &chosen, lease)?;
                    // Keep the other platforms the archive holds too (as
                    // containerd's import does), so the image can be pushed
                    // whole; only the chosen one is unpacked.
                    for other in inner.manifests.iter().filter(|d| d.digest != chosen.digest) {
                        self.copy_platform_blobs(archive, other, lease)?;
                    }
                    let d = Digest::parse(&chosen.digest)?;
                    match parse_manifest(&chosen.media_type, &chosen.digest, &self.read_blob(&d)?)?
                    {
                        ManifestKind::Manifest(m) => (chosen, m),
                        ManifestKind::Index(_) => {
                            return Err(ImageError::NotImplemented("nested image indexes"))
                        }
                    }
                }
            };
            let _ = platform_manifest;
            for layer in &manifest.layers {
                manifest::layer_compression(&layer.media_type, &layer.digest)?;
            }
            self.copy_blob(archive, &manifest.config, lease)?;
            let config_digest = Digest::parse(&manifest.config.digest)?;
            let config = parse_config(&manifest.config.digest, &self.read_blob(&config_digest)?)?;
            if config.rootfs.diff_ids.len() != manifest.layers.len() {
                return Err(manifest::ManifestError::LayerCountMismatch {
                    digest: manifest.config.digest.clone(),
                    diff_ids: config.rootfs.diff_ids.len(),
                    layers: manifest.layers.len(),
                }
                .into());
            }
            let chains = manifest::chain_ids(&config.rootfs.diff_ids);
            for (i, layer) in manifest.layers.iter().enumerate() {
                self.copy_blob(archive, layer, lease)?;
                if self.snapshot_committed(&chains[i]) {
                    continue;
                }
                let job = UnpackJob {
                    chain_id: chains[i].clone(),
                    parent: (i > 0).then(|| chains[i - 1].clone()),
                    diff_id: Digest::parse(&config.rootfs.diff_ids[i])?,
                };
                let d = Digest::parse(&layer.digest)?;
                self.unpack_reader(self.content.reader(&d)?, &job, lease)?;
            }
            let name = annotations
                .get("io.containerd.image.name")
                .cloned()
                .or_else(|| {
                    annotations
                        .get("org.opencontainers.image.ref.name")
                        .filter(|n| n.contains('/') || n.contains(':'))
                        .cloned()
                })
                .and_then(|n| Reference::parse(&n).ok());
            match name {
                Some(reference) => {
                    self.put_name(&reference.to_string(), &target, tag_labels())?;
                    lines.push(format!("Loaded image: {}", reference.familiar()));
                }
                None => {
                    let id = self.put_dangling(&target, Labels::new())?;
                    lines.push(format!("Loaded image ID: {id}"));
                }
            }
        }
        if lines.is_empty() {
            return Err(ImageError::Archive("index.json names no image".into()));
        }
        Ok(lines)
    }

    /// Copies a platform manifest of an index and the config and layers it
    /// names, as far as the archive holds them (a partial platform is kept
    /// partial: it is neither unpacked nor pushed).
    fn copy_platform_blobs(
        &self,
        archive: &ArchiveIndex,
        desc: &manifest::Descriptor,
        lease: &LeaseGuard,
    ) -> Result<(), ImageError> {
        let in_archive = |d: &str| -> Result<bool, ImageError> {
            Ok(archive.has(&format!("blobs/sha256/{}", Digest::parse(d)?.hex())))
        };
        if !manifest::is_manifest(&desc.media_type) || !in_archive(&desc.digest)? {
            return Ok(());
        }
        let target = self.copy_blob(archive, desc, lease)?;
        let ManifestKind::Manifest(m) = parse_manifest(
            &desc.media_type,
            &desc.digest,
            &self.read_blob(&target.digest)?,
        )?
        else {
            return Ok(());
        };
        for blob in std::iter::once(&m.config).chain(&m.layers) {
            if in_archive(&blob.digest)? {
                self.copy_blob(archive, blob, lease)?;
            }
        }
        Ok(())
    }

    /// Copies blob `desc` from an OCI layout into the content store,
    /// verifying digest and size.
    fn copy_blob(
        &self,
        archive: &ArchiveIndex,
        desc: &manifest::Descriptor,
        lease: &LeaseGuard,
    ) -> Result<StoreDescriptor, ImageError> {
        let digest = Digest::parse(&desc.digest)?;
        let size = desc.size.max(0) as u64;
        lease.add(LeaseResource::Content(digest.clone()))?;
        if !self.content.exists(&digest) {
            let path = format!("blobs/sha256/{}", digest.hex());
            let mut reader = archive.reader(&path)?;
            let ingest_ref = format!("load-{digest}");
            let mut writer = self
                .content
                .writer(&ingest_ref, Some(&digest), Some(size))?;
            if writer.offset() > 0 {
                writer.truncate()?;
            }
            if let Err(e) = io::copy(&mut reader, &mut writer) {
                drop(writer);
                let _ = self.content.abort(&ingest_ref);
                return Err(ImageError::Archive(format!("copy {path}: {e}")));
            }
            writer
                .commit(Some(size), Some(&digest))
                .map_err(|e| match e {
                    ContentError::DigestMismatch {
                        expected, actual, ..
                    } => ImageError::DigestMismatch {
                        what: format!("blob {path} in archive"),
                        digest: expected.to_string(),
                        actual: actual.to_string(),
                    },
                    other => other.into(),
                })?;
        }
        Ok(StoreDescriptor {
            media_type: if desc.media_type.is_empty() {
                manifest::OCI_MANIFEST.to_string()
            } else {
                desc.media_type.clone()
            },
            digest,
            size,
        })
    }
}

fn tag_labels() -> Labels {
    let mut labels = Labels::new();
    labels.insert(
        LABEL_TAG_TIME.into(),
        super::epoch_seconds(std::time::SystemTime::now()).to_string(),
    );
    labels
}

fn manifest_limit() -> u64 {
    crate::registry::MAX_MANIFEST_SIZE as u64
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalises_archive_paths() {
        assert_eq!(normalize("./manifest.json"), "manifest.json");
        assert_eq!(normalize("a/../b/layer.tar"), "b/layer.tar");
        assert_eq!(normalize("/x//y"), "x/y");
    }
}
