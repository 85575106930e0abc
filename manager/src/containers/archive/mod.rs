//! `docker diff` of a container's root filesystem: what changed against its image, read
//! from the snapshot's directories (`Snapshotter::diff_dirs`).
//!
//! The archives of a rootfs (`cp` in both directions, `export`) are docker's format and
//! are shared with the CLI's local side of `cp`: `berth_docker::archive`.

pub mod changes;

#[cfg(test)]
mod tests;

pub(crate) use changes::lookup_in_lowers;
pub use changes::{changes, Change, ChangeKind, MOUNT_TARGETS};
