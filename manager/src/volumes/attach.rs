//! The volumes a container mounts, as the volumes domain keeps them: the
//! [`VolumeMount`]s its record holds (resolved once at create, so that
//! every later start mounts the same, anonymous ones included) and the
//! [`VolumeAttachment`] that holds new volumes until that record is written.
//! Which volumes a container asks for is the containers domain's to say
//! (`containers::volumes`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// Labels and local driver options a `--mount type=volume` gives a volume
/// it creates (`volume-label=K=V`, `volume-opt=K=V`), and the driver the
/// container's `--volume-driver` names for the volumes it creates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeCreateOptions {
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// `None` or `local`: the local driver, the only one Berth has.
    pub driver: Option<String>,
}

/// A volume the container asks for, before anonymous ones have names (the
/// containers domain works them out from its options and image).
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
