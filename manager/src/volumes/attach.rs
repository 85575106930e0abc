//! Which volumes a container mounts where: from its `-v`/`--mount` options
//! and its image's `VOLUME`s (docker's `registerMountPoints`), resolved once
//! at create into [`VolumeMount`]s that its record keeps, so that every
//! later start mounts the same (anonymous ones included).
//!
//! Rules (docker's):
//! * a user mount of any kind (bind, tmpfs, volume) at a path wins over the
//!   image's `VOLUME` at that path; two user mounts at one path are an
//!   error (`Duplicate mount point: /data`);
//! * `-v /path`, `--mount type=volume,target=/path` (no source) and image
//!   `VOLUME`s get a new anonymous volume each (64 hex digits, labelled
//!   [`ANONYMOUS_LABEL`](super::record::ANONYMOUS_LABEL));
//! * a named volume that does not exist is created (`local` driver, no
//!   options).

use super::VolumeError;
use crate::containers::spec::mounts::{container_path_of, UserMount, VolumeCreateOptions};
use crate::containers::spec::{self, ContainerOptions, ImageRuntimeConfig, SpecError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One volume mounted into a container; kept in the container's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// The volume's name.
    pub name: String,
    /// Absolute, clean path in the container.
    pub destination: String,
    #[serde(default)]
    pub read_only: bool,
    /// Made for this container (`-v /path`, image VOLUME): `rm -v` and
    /// `run --rm` remove it with the container.
    #[serde(default)]
    pub anonymous: bool,
    /// `nocopy`/`volume-nocopy`: never filled from the image.
    #[serde(default)]
    pub no_copy: bool,
}

/// A volume the container asks for, before anonymous ones have names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedVolume {
    /// `None`: a new anonymous volume.
    pub name: Option<String>,
    pub destination: String,
    pub read_only: bool,
    pub no_copy: bool,
    /// Labels and options if this mount creates the volume.
    pub create_with: VolumeCreateOptions,
}

/// The volumes `opts` and the image's `VOLUME`s ask for, in mount order
/// (user's first, then the image's by path). Pure: checks the input and
/// touches nothing, so a bad spec fails before anything is created.
pub fn wanted_volumes(
    opts: &ContainerOptions,
    image: &ImageRuntimeConfig,
) -> Result<Vec<WantedVolume>, SpecError> {
    let mut user = Vec::new();
    for b in &opts.binds {
        user.push(spec::parse_bind(b)?);
    }
    for m in &opts.mounts {
        user.push(spec::parse_mount(m)?);
    }
    for t in &opts.tmpfs {
        user.push(spec::parse_tmpfs(t)?);
    }
    let mut targets = BTreeSet::new();
    for m in &user {
        if !targets.insert(m.target().to_string()) {
            return Err(SpecError::Invalid(format!(
                "Duplicate mount point: {}",
                m.target()
            )));
        }
    }
    let mut out: Vec<WantedVolume> = user
        .iter()
        .filter_map(|m| match m {
            UserMount::Volume {
                name,
                target,
                read_only,
                no_copy,
                create_with,
            } => Some(WantedVolume {
                name: name.clone(),
                destination: target.clone(),
                read_only: *read_only,
                no_copy: *no_copy,
                create_with: create_with.clone(),
            }),
            _ => None,
        })
        .collect();
    for path in &image.volumes {
        // An image VOLUME that is not an absolute path other than `/`
        // cannot be mounted: docker refuses such images at build, skip it.
        let Ok(destination) = container_path_of(path) else {
            continue;
        };
        if targets.insert(destination.clone()) {
            out.push(WantedVolume {
                name: None,
                destination,
                read_only: false,
                no_copy: false,
                create_with: VolumeCreateOptions::default(),
            });
        }
    }
    Ok(out)
}

/// The volumes a container create attached, until its record holds them
/// ([`VolumeAttachment::commit`]). While it lives, the volumes count as in
/// use; dropped without commit (the create failed), it removes the volumes
/// it created, so a failed create leaves no volume behind.
pub struct VolumeAttachment<'a> {
    pub(crate) service: &'a super::VolumeService,
    pub(crate) container: String,
    pub(crate) mounts: Vec<VolumeMount>,
    /// Volumes this attach created (anonymous or named on first use).
    pub(crate) created: Vec<String>,
    pub(crate) committed: bool,
}

impl VolumeAttachment<'_> {
    /// The mounts, for the container's record.
    pub fn mounts(&self) -> &[VolumeMount] {
        &self.mounts
    }

    /// The record holding the mounts was written: keep the volumes.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for VolumeAttachment<'_> {
    fn drop(&mut self) {
        if !self.committed {
            for name in &self.created {
                if let Err(e) = self.service.destroy(name) {
                    tracing::warn!(volume = %name, error = %e, "remove volume of a failed create");
                }
            }
        }
        self.service.end_pending(&self.container);
    }
}

impl From<SpecError> for VolumeError {
    fn from(e: SpecError) -> VolumeError {
        match e {
            SpecError::NotImplemented(what) => VolumeError::NotImplemented(what.to_string()),
            other => VolumeError::InvalidArgument(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(binds: &[&str], mounts: &[&str]) -> ContainerOptions {
        ContainerOptions {
            binds: binds.iter().map(|s| s.to_string()).collect(),
            mounts: mounts.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn user_volumes_then_image_volumes_not_shadowed() {
        let image = ImageRuntimeConfig {
            volumes: ["/data", "/cache/", "/host", "relative"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ..Default::default()
        };
        let w = wanted_volumes(
            &opts(
                &["named:/srv:ro", "/anon", "/tmp:/host"],
                &["type=volume,target=/m,volume-nocopy"],
            ),
            &image,
        )
        .unwrap();
        let got: Vec<(Option<&str>, &str, bool, bool)> = w
            .iter()
            .map(|v| {
                (
                    v.name.as_deref(),
                    v.destination.as_str(),
                    v.read_only,
                    v.no_copy,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some("named"), "/srv", true, false),
                (None, "/anon", false, false),
                (None, "/m", false, true),
                (None, "/cache", false, false),
                (None, "/data", false, false),
            ]
        );
    }

    #[test]
    fn duplicate_mount_points_are_refused() {
        let e = wanted_volumes(
            &opts(&["a1:/data", "/x:/data"], &[]),
            &ImageRuntimeConfig::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "Duplicate mount point: /data");
    }
}
