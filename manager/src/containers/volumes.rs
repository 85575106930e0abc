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
    // `--volumes-from`'s were resolved at create to paths no other user
    // mount takes.
    for b in opts.binds.iter().chain(&opts.volumes_from_mounts) {
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
    // `--volume-driver` names the driver of every volume the container
    // creates (docker's `HostConfig.VolumeDriver`).
    if let Some(driver) = opts.volume_driver.as_deref().filter(|d| !d.is_empty()) {
        for w in &mut out {
            w.create_with
                .driver
                .get_or_insert_with(|| driver.to_string());
        }
    }
    Ok(out)
}

/// `--volumes-from`'s `CONTAINER[:MODE]` as docker's `parseVolumesFrom`:
/// the container, and whether the mode makes its mounts read-only (`ro`;
/// `rw` and SELinux's `z`/`Z` keep each donor mount's own mode, since docker
/// makes a mount writable only where both say so).
fn parse_volumes_from(spec: &str) -> Result<(&str, bool), SpecError> {
    if spec.is_empty() {
        return Err(SpecError::invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let Some((name, mode)) = spec.split_once(':') else {
        return Ok((spec, false));
    };
    let words: Vec<&str> = mode.split(',').collect();
    let rw_words = words.iter().filter(|w| matches!(**w, "ro" | "rw")).count();
    let valid = rw_words <= 1
        && words.len() - rw_words <= 1
        && words.iter().all(|w| matches!(*w, "ro" | "rw" | "z" | "Z"));
    if !valid {
        return Err(SpecError::invalid(format!("invalid mode: {mode}")));
    }
    Ok((name, words.contains(&"ro")))
}

/// A mount point of a donor container, in `-v` syntax, with `read_only`.
fn volume_spec(source: &str, target: &str, read_only: bool) -> String {
    format!("{source}:{target}:{}", if read_only { "ro" } else { "rw" })
}

impl ContainerService {
    /// `--volumes-from`: the donors' volumes (by name, anonymous ones too)
    /// and binds, as docker's `registerMountPoints` takes them at create:
    /// with the donor's mode, read-only for `:ro`, and not at a path this
    /// container mounts something of its own (a user mount wins over a
    /// donor's; a later donor's over an earlier one's).
    pub(crate) fn inherited_mounts(
        &self,
        opts: &ContainerOptions,
    ) -> Result<Vec<String>, super::ContainerError> {
        if opts.volumes_from.is_empty() {
            return Ok(Vec::new());
        }
        let mut taken = BTreeSet::new();
        for b in &opts.binds {
            taken.insert(spec::parse_bind(b)?.target().to_string());
        }
        for m in &opts.mounts {
            taken.insert(spec::parse_mount(m)?.target().to_string());
        }
        for t in &opts.tmpfs {
            taken.insert(spec::parse_tmpfs(t)?.target().to_string());
        }
        // By destination: a later donor's mount replaces an earlier one's.
        let mut inherited: Vec<(String, String)> = Vec::new();
        for from in &opts.volumes_from {
            let (name, make_read_only) = parse_volumes_from(from)?;
            let donor = self.resolve(name)?;
            let d = &donor.config.options;
            let mut points: Vec<(String, String, bool)> = donor
                .volumes
                .iter()
                .map(|v| (v.name.clone(), v.destination.clone(), v.read_only))
                .collect();
            let mut donor_mounts = Vec::new();
            for b in d.binds.iter().chain(&d.volumes_from_mounts) {
                donor_mounts.push(spec::parse_bind(b)?);
            }
            for m in &d.mounts {
                donor_mounts.push(spec::parse_mount(m)?);
            }
            for m in donor_mounts {
                if let UserMount::Bind {
                    source,
                    target,
                    read_only,
                    ..
                } = m
                {
                    points.push((source, target, read_only));
                }
            }
            for (source, target, read_only) in points {
                if taken.contains(&target) {
                    continue;
                }
                let spec = volume_spec(&source, &target, read_only || make_read_only);
                match inherited.iter_mut().find(|(t, _)| *t == target) {
                    Some(entry) => entry.1 = spec,
                    None => inherited.push((target, spec)),
                }
            }
        }
        Ok(inherited.into_iter().map(|(_, spec)| spec).collect())
    }

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
    fn volumes_from_modes_as_docker() {
        assert_eq!(parse_volumes_from("c1").unwrap(), ("c1", false));
        assert_eq!(parse_volumes_from("c1:ro").unwrap(), ("c1", true));
        assert_eq!(parse_volumes_from("c1:rw").unwrap(), ("c1", false));
        assert_eq!(parse_volumes_from("c1:ro,z").unwrap(), ("c1", true));
        let e = |s| parse_volumes_from(s).unwrap_err().to_string();
        assert_eq!(e("c1:rx"), "invalid mode: rx");
        assert_eq!(e("c1:ro,rw"), "invalid mode: ro,rw");
        assert_eq!(e("c1:rshared"), "invalid mode: rshared");
        assert_eq!(
            e(""),
            "volumes-from specification cannot be an empty string"
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
