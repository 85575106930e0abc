//! Which volumes a container mounts where: from its `-v`/`--mount` options
//! and its image's `VOLUME`s (docker's `registerMountPoints`), resolved once
//! at create into `VolumeMount`s that its record keeps, so that every
//! later start mounts the same (anonymous ones included).
//!
//! Rules (docker's):
//! * a user mount of any kind (bind, tmpfs, volume) at a path wins over the
//!   image's `VOLUME` at that path; two user mounts at one path are an
//!   error (`Duplicate mount point: /data`);
//! * `-v /path`, `--mount type=volume,target=/path` (no source) and image
//!   `VOLUME`s get a new anonymous volume each (64 hex digits, labelled
//!   [`ANONYMOUS_LABEL`](crate::volumes::record::ANONYMOUS_LABEL));
//! * a named volume that does not exist is created (`local` driver, no
//!   options).

//!
//! This is the containers domain's side of volumes, as `network.rs` is of
//! networks: the volumes domain never imports containers; it is given the
//! [`WantedVolume`]s, and learns who uses which volume through
//! [`VolumeUsers`], which the containers' index implements.

use super::record::ContainerRecord;
use super::service::ContainerIndex;
use super::spec::mounts::{container_path_of, UserMount, VolumeBind};
use super::spec::{self, ContainerOptions, ImageRuntimeConfig, SpecError};
use super::ContainerService;
use crate::volumes::{VolumeCreateOptions, VolumeMount, VolumeUser, VolumeUsers, WantedVolume};
use std::collections::BTreeSet;

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

impl ContainerService {
    /// The binds of a container's volumes, for its spec.
    pub(crate) fn volume_binds(&self, mounts: &[VolumeMount]) -> Vec<VolumeBind> {
        mounts
            .iter()
            .map(|m| VolumeBind {
                source: self
                    .volumes
                    .mountpoint(&m.name)
                    .to_string_lossy()
                    .into_owned(),
                target: m.destination.clone(),
                read_only: m.read_only,
            })
            .collect()
    }
}

/// A container as its volumes see it.
fn volume_user(r: &ContainerRecord) -> VolumeUser {
    VolumeUser {
        id: r.id.clone(),
        running: r.state.status.is_live(),
        volumes: r.volumes.iter().map(|v| v.name.clone()).collect(),
    }
}

impl VolumeUsers for ContainerIndex {
    fn volume_users(&self) -> Vec<VolumeUser> {
        self.records().iter().map(|r| volume_user(r)).collect()
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
