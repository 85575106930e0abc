//! The image a build makes: the target stage's last state (its layers),
//! the config the frontend computed for the stage, history entries as
//! BuildKit writes them (`created_by`, `comment: buildkit.dockerfile.v0`,
//! `empty_layer` for an instruction that made no layer, a filesystem step
//! whose diff was empty included), after the base image's own; then the
//! tags, each an image `tag` event as docker's.

use std::collections::BTreeMap;
use std::time::SystemTime;

use berth_docker::reference::Reference;
use berth_docker::types::container::Config;
use berth_store::digest::Descriptor as StoreDescriptor;
use serde_json::{json, Value};

use super::BuildError;
use crate::images::pull::LeaseGuard;
use crate::images::{ImageService, ResolvedImage};

/// What the final image is made of.
pub struct FinalImage<'a> {
    /// The stage's last state.
    pub state: &'a ResolvedImage,
    /// The stage's config (docker's form), `--label`s already applied.
    pub config: &'a Config,
    /// MAINTAINER.
    pub author: Option<&'a str>,
    /// The whole history: the base's entries, then the stage's.
    pub history: &'a [Value],
}

/// One history entry as BuildKit writes it.
pub fn history_entry(created_by: &str, empty_layer: bool, created: &str) -> Value {
    let mut entry = json!({
        "created": created,
        "created_by": created_by,
        "comment": "buildkit.dockerfile.v0",
    });
    if empty_layer {
        entry["empty_layer"] = json!(true);
    }
    entry
}

/// Now, as image configs write times.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// Writes the image under `lease` (no record yet: [`record_tags`]).
pub(crate) fn write_final(
    images: &ImageService,
    lease: &LeaseGuard,
    image: &FinalImage<'_>,
) -> Result<ResolvedImage, BuildError> {
    let platform = images.platform();
    let mut config = json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "config": serde_json::to_value(image.config).expect("serialise config"),
        "created": now_rfc3339(),
        "history": image.history,
        "rootfs": {
            "type": "layers",
            "diff_ids": image.state.config.rootfs.diff_ids,
        },
    });
    if let Some(v) = platform.variant.as_ref().filter(|v| !v.is_empty()) {
        config["variant"] = json!(v);
    }
    if let Some(a) = image.author {
        config["author"] = json!(a);
    }
    let layers: Vec<Value> = image
        .state
        .manifest
        .layers
        .iter()
        .map(|d| serde_json::to_value(d).expect("serialise descriptor"))
        .collect();
    let kind = image.state.manifest_media_type.clone();
    Ok(super::layer::write_image(
        images, lease, &config, &layers, &kind,
    )?)
}

/// Records `image` under `tags` (none: a dangling image), each an image
/// `tag` event. Returns its ID and the names applied.
pub(crate) fn record_tags(
    images: &ImageService,
    image: &ResolvedImage,
    tags: &[String],
) -> Result<(String, Vec<String>), BuildError> {
    let references = tags
        .iter()
        .map(|t| {
            Reference::parse(t).map_err(|e| BuildError::Invalid(format!("invalid tag {t:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let target: StoreDescriptor = image.target.clone();
    let id = image.id();
    let mut names = Vec::new();
    if references.is_empty() {
        images.record_new_image(None, &target)?;
    }
    for r in &references {
        images.record_new_image(Some(r), &target)?;
        let attributes = BTreeMap::from([("name".to_string(), r.familiar())]);
        images
            .events
            .publish(crate::events::Event::now("image", "tag", &id, attributes));
        names.push(r.to_string());
    }
    Ok((id, names))
}
