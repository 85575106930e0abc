//! Who uses a volume, as the volumes domain learns it.
//!
//! volumes never imports the containers domain: the containers that mount
//! volumes are given as [`VolumeUser`]s by whoever implements
//! [`VolumeUsers`] (the containers domain's index), for the in-use checks
//! of `rm` and `prune` and the unmount of mount-backed volumes.

/// A container and the volumes its record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUser {
    /// The container's id.
    pub id: String,
    /// Whether its task runs (a mount-backed volume stays mounted while one
    /// does).
    pub running: bool,
    /// The names of the volumes it mounts.
    pub volumes: Vec<String>,
}

/// Every container that exists now.
pub trait VolumeUsers: Send + Sync {
    fn volume_users(&self) -> Vec<VolumeUser>;
}
