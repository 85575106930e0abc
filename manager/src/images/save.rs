//! `save`: images as a tar archive, in one of two formats.
//!
//! * **docker-archive** (docker's `docker save`, read by `docker load`,
//!   podman and skopeo's `docker-archive:` transport):
//!   ```text
//!   manifest.json              [{"Config": "<id>.json", "RepoTags": [...], "Layers": ["<dir>/layer.tar", ...]}]
//!   repositories               {"busybox": {"latest": "<top dir>"}}
//!   <config hex>.json          the config blob, bytes as stored
//!   <chain id hex>/layer.tar   the layer, uncompressed (its sha256 is the diff ID)
//!   <chain id hex>/VERSION     "1.0"
//!   <chain id hex>/json        legacy v1 metadata: {"id": dir, "parent": dir below}
//!   ```
//!   Layer directories are named by chain ID so a layer repeated in one
//!   stack still gets its own directory.
//! * **oci-archive**: an OCI image layout (image-spec image-layout.md) in a
//!   tar: `oci-layout`, `index.json` naming each image by
//!   `io.containerd.image.name` and `org.opencontainers.image.ref.name`, and
//!   `blobs/sha256/<hex>` with every blob as stored (layers stay compressed).
//!
//! A tar header needs its entry's size first, and the stored layers are
//! compressed: a layer is decompressed once to count its size and once more
//! to write it.

use super::layer::{decompress, CountingSink};
use super::{ImageError, ImageService, ResolvedImage};
use berth_docker::manifest;
use berth_docker::reference::familiar;
use berth_store::digest::Digest;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::{self, Read, Write};

/// The archive formats `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    DockerArchive,
    OciArchive,
}

impl ArchiveFormat {
    /// Parses the `--format` word (`docker-archive` or empty, `oci`,
    /// `oci-archive`).
    pub fn parse(s: &str) -> Result<ArchiveFormat, ImageError> {
        match s {
            "" | "docker" | "docker-archive" => Ok(ArchiveFormat::DockerArchive),
            "oci" | "oci-archive" => Ok(ArchiveFormat::OciArchive),
            other => Err(ImageError::InvalidArgument(format!(
                "unknown archive format {other:?}: use docker-archive or oci-archive"
            ))),
        }
    }
}

/// Images chosen for a save: each resolved image with the names the user
/// gave for it.
pub struct SaveSet {
    images: Vec<(ResolvedImage, Vec<String>)>,
}

impl ImageService {
    /// Resolves the references to save (all errors come before any byte is
    /// written).
    pub fn prepare_save(&self, references: &[String]) -> Result<SaveSet, ImageError> {
        if references.is_empty() {
            return Err(ImageError::InvalidArgument(
                "save needs at least one image".into(),
            ));
        }
        let mut images: Vec<(ResolvedImage, Vec<String>)> = Vec::new();
        for r in references {
            let found = self.lookup(r)?;
            let names: Vec<String> = match &found.name {
                Some(n) => vec![n.clone()],
                None => self
                    .records_of(&found.resolved.id())?
                    .into_iter()
                    .filter(|r| !super::is_dangling(&r.name))
                    .map(|r| r.name)
                    .collect(),
            };
            match images
                .iter_mut()
                .find(|(i, _)| i.id() == found.resolved.id())
            {
                Some((_, existing)) => {
                    for n in names {
                        if !existing.contains(&n) {
                            existing.push(n);
                        }
                    }
                }
                None => images.push((found.resolved, names)),
            }
        }
        Ok(SaveSet { images })
    }

    /// Writes the archive of `set` to `out` (blocking).
    pub fn write_archive(
        &self,
        set: &SaveSet,
        format: ArchiveFormat,
        out: &mut dyn Write,
    ) -> Result<(), ImageError> {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        match format {
            ArchiveFormat::DockerArchive => self.write_docker_archive(set, &mut tar)?,
            ArchiveFormat::OciArchive => self.write_oci_archive(set, &mut tar)?,
        }
        tar.into_inner()
            .map_err(write_error)?
            .flush()
            .map_err(write_error)?;
        Ok(())
    }

    fn write_docker_archive(
        &self,
        set: &SaveSet,
        tar: &mut tar::Builder<&mut dyn Write>,
    ) -> Result<(), ImageError> {
        let mut manifest_entries = Vec::new();
        let mut repositories = serde_json::Map::new();
        let mut written = BTreeSet::new();
        for (image, names) in &set.images {
            let config_name = format!("{}.json", image.config_digest.hex());
            if written.insert(config_name.clone()) {
                append_bytes(tar, &config_name, &image.config_bytes)?;
            }
            let mut layer_paths = Vec::new();
            let mut parent: Option<String> = None;
            for (i, layer) in image.manifest.layers.iter().enumerate() {
                let chain = image
                    .chain_ids
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| layer.digest.clone());
                let dir = chain.strip_prefix("sha256:").unwrap_or(&chain).to_string();
                let path = format!("{dir}/layer.tar");
                if written.insert(dir.clone()) {
                    let mut v1 = json!({ "id": dir });
                    if let Some(p) = &parent {
                        v1["parent"] = json!(p);
                    }
                    append_bytes(tar, &format!("{dir}/VERSION"), b"1.0")?;
                    append_bytes(tar, &format!("{dir}/json"), v1.to_string().as_bytes())?;
                    self.append_uncompressed_layer(tar, &path, &layer.digest)?;
                }
                layer_paths.push(path);
                parent = Some(dir);
            }
            let tags: Vec<String> = names
                .iter()
                .map(|n| familiar(n))
                .filter(|n| !n.contains('@'))
                .collect();
            for tag in &tags {
                if let Some((repo, t)) = tag.rsplit_once(':') {
                    if let (Some(top), false) = (&parent, repo.ends_with(']')) {
                        let entry = repositories
                            .entry(repo.to_string())
                            .or_insert_with(|| json!({}));
                        entry[t] = json!(top);
                    }
                }
            }
            manifest_entries.push(json!({
                "Config": config_name,
                "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { json!(tags) },
                "Layers": layer_paths,
            }));
        }
        append_bytes(
            tar,
            "manifest.json",
            serde_json::to_vec(&manifest_entries).unwrap().as_slice(),
        )?;
        if !repositories.is_empty() {
            append_bytes(
                tar,
                "repositories",
                serde_json::to_vec(&repositories).unwrap().as_slice(),
            )?;
        }
        Ok(())
    }

    fn append_uncompressed_layer(
        &self,
        tar: &mut tar::Builder<&mut dyn Write>,
        path: &str,
        digest: &str,
    ) -> Result<(), ImageError> {
        let d = Digest::parse(digest)?;
        let blob_error = |source: io::Error| ImageError::Io {
            op: "read layer",
            path: self.content.blob_path(&d),
            source,
        };
        let mut counter = CountingSink::default();
        io::copy(
            &mut decompress(self.content.reader(&d)?).map_err(blob_error)?,
            &mut counter,
        )
        .map_err(blob_error)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(counter.0);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let reader = decompress(self.content.reader(&d)?).map_err(blob_error)?;
        tar.append_data(&mut header, path, reader.take(counter.0))
            .map_err(write_error)
    }

    fn write_oci_archive(
        &self,
        set: &SaveSet,
        tar: &mut tar::Builder<&mut dyn Write>,
    ) -> Result<(), ImageError> {
        append_bytes(tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let mut written = BTreeSet::new();
        let mut index_entries = Vec::new();
        for (image, names) in &set.images {
            let mut blobs: Vec<(String, i64)> = vec![
                (
                    image.config_digest.to_string(),
                    image.config_bytes.len() as i64,
                ),
                (
                    image.manifest_digest.to_string(),
                    image.manifest_bytes.len() as i64,
                ),
            ];
            blobs.extend(
                image
                    .manifest
                    .layers
                    .iter()
                    .map(|l| (l.digest.clone(), l.size)),
            );
            for (digest, _) in blobs {
                if !written.insert(digest.clone()) {
                    continue;
                }
                let d = Digest::parse(&digest)?;
                let mut reader = self.content.reader(&d)?;
                let mut header = tar::Header::new_gnu();
                header.set_size(reader.size());
                header.set_mode(0o444);
                header.set_mtime(0);
                header.set_entry_type(tar::EntryType::Regular);
                tar.append_data(
                    &mut header,
                    format!("blobs/sha256/{}", d.hex()),
                    &mut reader,
                )
                .map_err(write_error)?;
            }
            let descriptor = |annotations: Option<serde_json::Value>| {
                let mut d = json!({
                    "mediaType": if image.manifest_media_type.is_empty() { manifest::OCI_MANIFEST } else { image.manifest_media_type.as_str() },
                    "digest": image.manifest_digest.to_string(),
                    "size": image.manifest_bytes.len(),
                });
                if let Some(a) = annotations {
                    d["annotations"] = a;
                }
                d
            };
            if names.is_empty() {
                index_entries.push(descriptor(None));
            }
            for name in names {
                let tag = berth_docker::reference::Reference::parse(name)
                    .ok()
                    .and_then(|r| r.tag)
                    .unwrap_or_else(|| "latest".into());
                index_entries.push(descriptor(Some(json!({
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": tag,
                }))));
            }
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": manifest::OCI_INDEX,
            "manifests": index_entries,
        });
        append_bytes(
            tar,
            "index.json",
            serde_json::to_vec(&index).unwrap().as_slice(),
        )
    }
}

fn write_error(source: io::Error) -> ImageError {
    ImageError::Io {
        op: "write archive",
        path: "<stream>".into(),
        source,
    }
}

fn append_bytes(
    tar: &mut tar::Builder<&mut dyn Write>,
    path: &str,
    data: &[u8],
) -> Result<(), ImageError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data)
        .map_err(write_error)
}
