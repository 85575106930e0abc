//! The /dev/shm of an `--ipc shareable` container: a tmpfs berthd mounts on
//! the host, in the container's directory, and binds into the container,
//! so that a container joining its IPC namespace (`--ipc container:NAME`)
//! can bind the same one (a mount inside another mount namespace cannot be
//! bound from outside it: mount(2) says EINVAL). docker does the same with
//! `containers/<id>/mounts/shm`. Mounted fresh at each start, unmounted
//! when the container's process exits and at removal, as docker's.

use super::spec::mounts::DEFAULT_SHM_SIZE;
use super::spec::ContainerOptions;
use super::ContainerError;
use berth_store::mount::{is_mounted, mount_all, unmount, Mount};
use std::path::Path;

/// Mounts the shareable /dev/shm at `dir` (once: a mounted one is kept).
pub fn mount(dir: &Path, opts: &ContainerOptions) -> Result<(), ContainerError> {
    if is_mounted(dir) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|source| ContainerError::Io {
        op: "create directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let size = opts.shm_size.unwrap_or(DEFAULT_SHM_SIZE);
    let tmpfs = Mount {
        kind: "tmpfs".into(),
        source: "shm".into(),
        options: ["nosuid", "nodev", "noexec", "mode=1777"]
            .iter()
            .map(|o| o.to_string())
            .chain([format!("size={size}")])
            .collect(),
    };
    mount_all(&[tmpfs], dir).map_err(|e| ContainerError::Io {
        op: "mount the shareable /dev/shm on",
        path: dir.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Unmounts it if it is mounted (what is in it goes with it).
pub fn release(dir: &Path) {
    if is_mounted(dir) {
        if let Err(e) = unmount(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "unmount the shareable /dev/shm");
        }
    }
}
