//! Mounts as snapshotters describe them, and performing them.
//!
//! A snapshotter never mounts anything itself: it returns a list of [`Mount`]s (containerd's
//! `mount.Mount`: type, source, options) that whoever needs the tree mounts, in order, on one
//! target: the runtime puts them in the OCI spec's `root`/`mounts`, tests and layer diffs use
//! [`mount_all`]. Options are the `mount(8)` words: flag words (`ro`, `rbind`, `nosuid`, ...)
//! become `MS_*` flags, everything else (`lowerdir=...`) is passed as filesystem data.

use std::io;
use std::path::{Path, PathBuf};

use std::ffi::CString;

use rustix::mount::{MountFlags, UnmountFlags};
use serde::{Deserialize, Serialize};

/// A mount failure, naming the mount and target.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// `mount(2)` failed.
    #[error("mount {kind} {source_path} on {target}: {source}")]
    Mount {
        /// The filesystem type.
        kind: String,
        /// The mount source.
        source_path: String,
        /// The mount target.
        target: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// `umount2(2)` failed.
    #[error("unmount {target}: {source}")]
    Unmount {
        /// The mount target.
        target: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// An option or type this module does not know how to mount.
    #[error("not implemented: mount {0}")]
    NotImplemented(String),
}

/// One mount of a snapshot: `mount -t <kind> -o <options> <source> <target>`.
/// Serialized like containerd's and the OCI spec's mounts (`type`, `source`, `options`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// The filesystem type: `overlay`, or `bind` for bind mounts.
    #[serde(rename = "type")]
    pub kind: String,
    /// The mount source: a directory for binds, the fs name (`overlay`) otherwise.
    pub source: String,
    /// `mount(8)` option words: flags and `key=value` data.
    pub options: Vec<String>,
}

/// Mounts `mounts` on `target`, in order. On failure, what was already mounted is unmounted.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), MountError> {
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            for _ in 0..i {
                let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Splits `mount(8)` option words into `MS_*` flags and filesystem data.
fn parse_options(options: &[String]) -> (MountFlags, bool, String) {
    let mut flags = MountFlags::empty();
    let mut recursive = false;
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= MountFlags::RDONLY,
            "rw" | "defaults" => {}
            "bind" => flags |= MountFlags::BIND,
            "rbind" => {
                flags |= MountFlags::BIND;
                recursive = true;
            }
            "nosuid" => flags |= MountFlags::NOSUID,
            "nodev" => flags |= MountFlags::NODEV,
            "noexec" => flags |= MountFlags::NOEXEC,
            "noatime" => flags |= MountFlags::NOATIME,
            "relatime" => flags |= MountFlags::RELATIME,
            "sync" => flags |= MountFlags::SYNCHRONOUS,
            other => data.push(other),
        }
    }
    (flags, recursive, data.join(","))
}

fn mount_one(m: &Mount, target: &Path) -> Result<(), MountError> {
    let (flags, recursive, data) = parse_options(&m.options);
    let err = |source: io::Error| MountError::Mount {
        kind: m.kind.clone(),
        source_path: m.source.clone(),
        target: target.to_path_buf(),
        source,
    };
    if m.kind == "bind" || flags.contains(MountFlags::BIND) {
        let mut bind = MountFlags::BIND;
        if recursive {
            bind |= MountFlags::REC;
        }
        rustix::mount::mount(m.source.as_str(), target, "", bind, None)
            .map_err(|e| err(e.into()))?;
        // Bind mounts ignore most flags until a remount (mount(2), "Creating a bind mount").
        let rest = flags - MountFlags::BIND;
        if !rest.is_empty() {
            if let Err(e) = rustix::mount::mount_remount(target, MountFlags::BIND | rest, "") {
                let _ = rustix::mount::unmount(target, UnmountFlags::DETACH);
                return Err(err(e.into()));
            }
        }
        return Ok(());
    }
    if data.len() > MAX_MOUNT_DATA && m.kind == "overlay" {
        return mount_overlay_by_parts(m, target).map_err(|e| err(e.into()));
    }
    let data = CString::new(data).map_err(|_| err(io::Error::from(io::ErrorKind::InvalidInput)))?;
    rustix::mount::mount(
        m.source.as_str(),
        target,
        m.kind.as_str(),
        flags,
        Some(data.as_c_str()),
    )
    .map_err(|e| err(e.into()))
}

/// mount(2) copies at most one page of option data: longer overlay options (many layers)
/// go through the new mount API instead, one lower directory per `fsconfig` call.
const MAX_MOUNT_DATA: usize = 4000;

/// Mounts an overlay whose options do not fit in a page: `fsopen`, then `lowerdir+` once per
/// lower directory (kernel 6.8+, Documentation/filesystems/overlayfs.rst, "Multiple lower
/// layers"), the other options one by one, `fsmount` and `move_mount` onto `target`.
fn mount_overlay_by_parts(m: &Mount, target: &Path) -> rustix::io::Result<()> {
    use rustix::mount::{
        fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount,
        FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags,
    };
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    let mut attrs = MountAttrFlags::empty();
    for o in &m.options {
        match o.split_once('=') {
            Some(("lowerdir", dirs)) => {
                for dir in dirs.split(':') {
                    fsconfig_set_string(&fs, "lowerdir+", dir)?;
                }
            }
            Some((key, value)) => fsconfig_set_string(&fs, key, value)?,
            None => match o.as_str() {
                "ro" => attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY,
                "rw" | "defaults" => {}
                "nosuid" => attrs |= MountAttrFlags::MOUNT_ATTR_NOSUID,
                "nodev" => attrs |= MountAttrFlags::MOUNT_ATTR_NODEV,
                "noexec" => attrs |= MountAttrFlags::MOUNT_ATTR_NOEXEC,
                "noatime" => attrs |= MountAttrFlags::MOUNT_ATTR_NOATIME,
                "relatime" => attrs |= MountAttrFlags::MOUNT_ATTR_RELATIME,
                flag => fsconfig_set_flag(&fs, flag)?,
            },
        }
    }
    fsconfig_create(&fs)?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

/// Whether something is mounted exactly at `path`.
///
/// One `statx`: the kernel marks the root of a mount (STATX_ATTR_MOUNT_ROOT,
/// Linux 5.8). Reading /proc/self/mountinfo instead cost a line per mount on
/// the host, and a container's overlay line is long, so every start and
/// removal grew with the number of containers (issue 21). Kernels that do
/// not report the attribute fall back to mountinfo.
pub fn is_mounted(path: &Path) -> bool {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    match statx(CWD, path, AtFlags::empty(), StatxFlags::BASIC_STATS) {
        Ok(st) => {
            if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) {
                return st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
            }
            listed_in_mountinfo(path)
        }
        Err(_) => false,
    }
}

/// Whether /proc/self/mountinfo lists a mount at `path` (its mount points
/// escape a space as `\040`).
fn listed_in_mountinfo(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .map(|p| p.replace("\\040", " ") == want)
            .unwrap_or(false)
    })
}

/// Unmounts `target` (not lazily: a busy mount is an error the caller should see).
pub fn unmount(target: &Path) -> Result<(), MountError> {
    rustix::mount::unmount(target, UnmountFlags::empty()).map_err(|e| MountError::Unmount {
        target: target.to_path_buf(),
        source: e.into(),
    })
}

/// Mounts on creation and unmounts (detaching if busy) on drop, so a failing test or an
/// aborted diff never leaves a mount behind.
#[derive(Debug)]
pub struct MountGuard {
    target: PathBuf,
    /// Mounts stacked on `target` that are still to be unmounted.
    mounted: usize,
}

impl MountGuard {
    /// Mounts `mounts` on `target` with [`mount_all`].
    pub fn mount(mounts: &[Mount], target: &Path) -> Result<MountGuard, MountError> {
        mount_all(mounts, target)?;
        Ok(MountGuard {
            target: target.to_path_buf(),
            mounted: mounts.len(),
        })
    }

    /// The mount target.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Unmounts now (every stacked mount, top first), reporting the error that drop would
    /// swallow.
    pub fn unmount(mut self) -> Result<(), MountError> {
        while self.mounted > 0 {
            unmount(&self.target)?;
            self.mounted -= 1;
        }
        Ok(())
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        for _ in 0..self.mounted {
            let _ = rustix::mount::unmount(&self.target, UnmountFlags::DETACH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `is_mounted` (statx) and mountinfo agree on a tmpfs, a subdirectory
    /// of it, a bind mount from the same filesystem (same device as its
    /// parent, so a device comparison would miss it) and after unmounting.
    /// Needs root (mounts), as the rest of the store's mount tests.
    #[test]
    fn mount_roots_are_seen_as_mountinfo_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("with space");
        let source = dir.path().join("source");
        let bind = dir.path().join("bind");
        for d in [&top, &source, &bind] {
            std::fs::create_dir(d).unwrap();
        }
        let both = |p: &Path| (is_mounted(p), listed_in_mountinfo(p));
        assert_eq!(both(&top), (false, false));
        rustix::mount::mount("tmpfs", &top, "tmpfs", MountFlags::empty(), None).unwrap();
        std::fs::create_dir(top.join("sub")).unwrap();
        rustix::mount::mount_bind(&source, &bind).unwrap();
        assert_eq!(both(&top), (true, true));
        assert_eq!(both(&top.join("sub")), (false, false));
        assert_eq!(both(&bind), (true, true));
        unmount(&bind).unwrap();
        unmount(&top).unwrap();
        assert_eq!(both(&top), (false, false));
        assert_eq!(both(&bind), (false, false));
        assert!(!is_mounted(&dir.path().join("missing")));
    }
}
