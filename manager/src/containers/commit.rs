//! `commit`: a new image from a container's changes, as docker's
//! `CreateImageFromContainer` (moby `daemon/commit.go`).
//!
//! * The layer is the container's snapshot diff: an overlay upper dir is written as it is
//!   (no walk of the whole tree; whiteout devices and opaque directories become `.wh.`
//!   entries), through berth-store's one diff writer. Volumes and bind mounts are other
//!   filesystems mounted over the rootfs, so their contents are never in it; the mount
//!   targets the runtime makes (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`, `/proc`,
//!   `/sys`, `/dev/pts`...) are left out, as docker keeps them in its "init" layer below the
//!   container's, together with directories in the upper dir only because one was made
//!   inside them ([`MOUNT_TARGETS`]).
//! * A running container is paused while its layer is taken (docker's `--pause`, on by
//!   default; the `pause` and `unpause` events are docker's too), and unpaused after the
//!   image is made.
//! * The config is the container's (docker's `Config` of `inspect`) with the `--change`
//!   instructions applied by the Dockerfile frontend ([`crate::images::change`]), only those
//!   docker allows (docker 20.10: CMD ENTRYPOINT ENV EXPOSE HEALTHCHECK LABEL ONBUILD USER VOLUME
//!   WORKDIR);
//!   `container_config` is the container's config unchanged.
//! * Every input is checked before anything is paused or written: the reference, the
//!   changes, the container's state and its image.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_docker::reference::Reference;
use berth_store::layer::{write_diff_filtered, Keep};

use super::archive::MOUNT_TARGETS;
use super::record::Status;
use super::{ContainerError, ContainerService};
use crate::images::change::apply_changes;
use crate::images::commit::ChildImage;

/// What `commit` is asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The container (ID, prefix or name).
    pub container: String,
    /// `REPO[:TAG]` (empty: the image gets no name).
    pub reference: String,
    /// `--author`.
    pub author: String,
    /// `--message`.
    pub comment: String,
    /// `--change`, one instruction each.
    pub changes: Vec<String>,
    /// `--pause`.
    pub pause: bool,
}

impl ContainerService {
    /// docker commit: the new image's ID.
    pub async fn commit(
        self: &Arc<Self>,
        options: CommitOptions,
    ) -> Result<String, ContainerError> {
        let record = self.resolve(&options.container)?;
        let reference = parse_reference(&options.reference)?;
        match record.state.status {
            Status::Dead => {
                return Err(ContainerError::Conflict(format!(
                    "You cannot commit container {} which is Dead",
                    record.id
                )))
            }
            Status::Removing => {
                return Err(ContainerError::Conflict(format!(
                    "You cannot commit container {} which is being removed",
                    record.id
                )))
            }
            _ => {}
        }
        let container_config = self.inspect(&record.id, false)?.config;
        let config = apply_changes(&container_config, &options.changes)
            .map_err(|e| ContainerError::Image(Box::new(e)))?;
        let parent = self
            .images
            .lookup(&record.image_id)
            .map_err(|e| ContainerError::Image(Box::new(e)))?
            .resolved;
        let created_by = container_config.cmd.clone().unwrap_or_default().join(" ");
        let child = ChildImage {
            reference: reference.clone(),
            author: options.author.clone(),
            comment: options.comment.clone(),
            created_by,
            config: serde_json::to_value(&config).expect("serialise config"),
            container_config: serde_json::to_value(&container_config).expect("serialise config"),
            container_id: record.id.clone(),
        };

        // docker pauses a running container that is not paused yet, and ignores a
        // failure to (the commit goes on unpaused).
        let paused = options.pause
            && record.state.status == Status::Running
            && self.pause(&record.id).await.is_ok();
        let images = self.images.clone();
        let snapshotter = self.images.snapshotter().clone();
        let key = record.snapshot_key.clone();
        let made = tokio::task::spawn_blocking(move || {
            let (lowers, upper) = snapshotter.diff_dirs(&key)?;
            let layer = Box::new(move |out: &mut dyn std::io::Write| {
                let keep = |rel: &str, meta: Option<&Metadata>| keep_in_layer(&lowers, rel, meta);
                write_diff_filtered(&lowers, &upper.dir, upper.whiteouts, &keep, out)
            });
            images
                .commit_blocking(&parent, layer, &child)
                .map_err(|e| ContainerError::Image(Box::new(e)))
        })
        .await
        .map_err(ContainerError::from)
        .and_then(|r| r);
        if let Ok(id) = &made {
            let image_ref = reference.map(|r| r.familiar()).unwrap_or_default();
            self.publish(
                &record,
                "commit",
                &[
                    ("comment", options.comment.clone()),
                    ("imageID", id.clone()),
                    ("imageRef", image_ref),
                ],
            );
        }
        if paused {
            if let Err(e) = self.unpause(&record.id).await {
                tracing::warn!(container = %record.id, error = %e, "unpause after commit");
            }
        }
        made
    }
}

/// `REPO[:TAG]` as the docker client checks it: a name, no digest.
fn parse_reference(input: &str) -> Result<Option<Reference>, ContainerError> {
    if input.is_empty() {
        return Ok(None);
    }
    let reference =
        Reference::parse(input).map_err(|e| ContainerError::InvalidArgument(e.to_string()))?;
    if reference.digest.is_some() {
        return Err(ContainerError::InvalidArgument(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    Ok(Some(reference))
}

/// Whether the layer keeps the change at `rel` (a path under the root, `etc/hosts`):
/// not the mount targets docker's init layer holds, nor what is under them; a directory
/// above one of them only if something else under it is kept or its own mode or owner
/// differs from the image's (it is in the upper dir because a target was made inside).
pub(crate) fn keep_in_layer(lowers: &[PathBuf], rel: &str, meta: Option<&Metadata>) -> Keep {
    let path = format!("/{rel}");
    let under = |path: &str, dir: &str| {
        path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
    };
    if MOUNT_TARGETS.iter().any(|t| path == *t || under(&path, t)) {
        return Keep::Skip;
    }
    let Some(meta) = meta.filter(|m| m.is_dir()) else {
        return Keep::Entry;
    };
    if !MOUNT_TARGETS.iter().any(|t| under(t, &path)) {
        return Keep::Entry;
    }
    match lower_metadata(lowers, rel) {
        Some(low)
            if low.is_dir()
                && low.mode() == meta.mode()
                && low.uid() == meta.uid()
                && low.gid() == meta.gid() =>
        {
            Keep::IfHolding
        }
        // New in the container (the runtime made it for a target, docker's init layer
        // would hold it) unless something else is kept under it.
        None => Keep::IfHolding,
        Some(_) => Keep::Entry,
    }
}

/// The image's entry at `rel` (nearest layer first), as overlayfs shows it.
fn lower_metadata(lowers: &[PathBuf], rel: &str) -> Option<Metadata> {
    let comps: Vec<&std::ffi::OsStr> = Path::new(rel)
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    super::archive::lookup_in_lowers(lowers, &comps)
        .ok()
        .flatten()
}
