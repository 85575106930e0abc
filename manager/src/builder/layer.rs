//! Layers and the intermediate images of a build.
//!
//! A build's state after each step is an image of its own, an *intermediate*:
//! the parent's layers plus the step's, a minimal config (platform and
//! `rootfs` only: the real config is computed once, by the frontend, for the
//! final image) and a manifest, all under the build's lease and named by no
//! record. A RUN step's container is created from one (so `run`'s machinery
//! applies unchanged), the cache remembers them, and the last one of the
//! target stage becomes the image.
//!
//! The layer of a step is its snapshot's diff as commit writes it:
//! `berth_store::layer::write_diff_filtered` over the overlay upper directory
//! (whiteout devices become `.wh.` entries; nothing else of the tree is
//! walked), stored as a plain tar whose digest is its diff ID, then unpacked
//! once as the committed snapshot named by its chain ID. A step that changed
//! nothing adds no layer (its history entry says `empty_layer`).

use berth_docker::manifest;
use berth_store::digest::{Descriptor as StoreDescriptor, Digest};
use berth_store::layer::chain_ids;
use serde_json::{json, Value};

use crate::images::commit::LayerSource;
use crate::images::pull::LeaseGuard;
use crate::images::{ImageError, ImageService, ResolvedImage};

/// The empty image a `FROM scratch` stage starts from: no layers.
pub(crate) fn scratch(
    images: &ImageService,
    lease: &LeaseGuard,
) -> Result<ResolvedImage, ImageError> {
    write_intermediate(images, lease, &[], &[], manifest::DOCKER_MANIFEST)
}

/// `parent` plus the layer `layer` writes. Returns the new state and whether a
/// layer was added (false when the diff was empty: the state is `parent`).
pub(crate) fn add_layer(
    images: &ImageService,
    lease: &LeaseGuard,
    parent: &ResolvedImage,
    layer: Box<LayerSource<'_>>,
) -> Result<(ResolvedImage, bool), ImageError> {
    let Some((diff_id, blob)) = images.store_layer(lease, layer)? else {
        return Ok((parent.clone(), false));
    };
    let mut diff_ids: Vec<Digest> = parent
        .config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<_, _>>()?;
    diff_ids.push(diff_id.clone());
    let chain = chain_ids(&diff_ids);
    let chain_id = chain.last().expect("one layer at least").to_string();
    if !images.snapshot_committed(&chain_id) {
        let job = crate::images::layer::UnpackJob {
            chain_id: chain_id.clone(),
            parent: parent.chain_ids.last().cloned(),
            diff_id: diff_id.clone(),
        };
        images.unpack_plain_blob(images.content().reader(&blob.digest)?, &job, lease)?;
    } else {
        lease.add(berth_store::metadata::LeaseResource::Snapshot(
            images.snapshotter().name().to_string(),
            chain_id,
        ))?;
    }
    let docker_kind = parent.manifest_media_type != manifest::OCI_MANIFEST;
    let mut layers: Vec<Value> = parent
        .manifest
        .layers
        .iter()
        .map(|d| serde_json::to_value(d).expect("serialise descriptor"))
        .collect();
    layers.push(json!({
        "mediaType": if docker_kind { manifest::DOCKER_LAYER_TAR } else { manifest::OCI_LAYER_TAR },
        "digest": blob.digest.to_string(),
        "size": blob.size,
    }));
    let kind = if docker_kind {
        manifest::DOCKER_MANIFEST
    } else {
        manifest::OCI_MANIFEST
    };
    let state = write_intermediate(images, lease, &diff_ids, &layers, kind)?;
    Ok((state, true))
}

/// The intermediate image with these layers: config, manifest, resolved.
fn write_intermediate(
    images: &ImageService,
    lease: &LeaseGuard,
    diff_ids: &[Digest],
    layers: &[Value],
    manifest_type: &str,
) -> Result<ResolvedImage, ImageError> {
    let platform = images.platform();
    let mut config = json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {},
        "rootfs": {
            "type": "layers",
            "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        },
    });
    if let Some(v) = platform.variant.as_ref().filter(|v| !v.is_empty()) {
        config["variant"] = json!(v);
    }
    write_image(images, lease, &config, layers, manifest_type)
}

/// Writes `config` and a manifest of `layers` under `lease` and resolves them.
pub(crate) fn write_image(
    images: &ImageService,
    lease: &LeaseGuard,
    config: &Value,
    layers: &[Value],
    manifest_type: &str,
) -> Result<ResolvedImage, ImageError> {
    let config_bytes = serde_json::to_vec(config).expect("serialise config");
    let config_digest = images.write_leased_blob(lease, &config_bytes)?;
    let config_type = if manifest_type == manifest::OCI_MANIFEST {
        manifest::OCI_CONFIG
    } else {
        manifest::DOCKER_CONFIG
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": { "mediaType": config_type, "digest": config_digest.to_string(), "size": config_bytes.len() },
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("serialise manifest");
    let manifest_digest = images.write_leased_blob(lease, &manifest_bytes)?;
    let target = StoreDescriptor {
        media_type: manifest_type.into(),
        digest: manifest_digest,
        size: manifest_bytes.len() as u64,
    };
    images.resolve_target(&target, images.platform())
}
