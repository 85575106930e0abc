//! The native snapshotter: a full copy of the parent's tree per snapshot.
//!
//! For filesystems overlayfs cannot use (or kernels without it). `snapshots/native/<id>/fs`
//! holds the whole tree: `prepare` copies the parent's tree (preserving ownership, modes,
//! xattrs, hardlinks, device nodes, mtimes); mounts are binds of `fs/` (read-only for views).
//! A view of a committed snapshot binds that snapshot's tree read-only instead of copying.
//! Layers are applied with real deletions instead of whiteouts.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, Timestamps, XattrFlags, CWD};

use crate::layer::WhiteoutStyle;
use crate::metadata::{Labels, MetadataStore, SnapshotRecord};
use crate::mount::Mount;
use crate::snapshot::{
    bind, io_err, ApplyTarget, SnapshotDirs, SnapshotError, SnapshotKind, Snapshotter,
};

/// The native (copying) snapshotter (name `native`).
pub struct NativeSnapshotter {
    dirs: SnapshotDirs,
}

impl NativeSnapshotter {
    /// The name this snapshotter records its snapshots under.
    pub const NAME: &'static str = "native";

    /// Opens the snapshotter with its directories under `<root>/snapshots/native`
    /// (`root` is the berthd root) and its records in `meta`; removes directories that no
    /// record names (left by a crash between a record's removal and its directory's).
    pub fn open(root: &Path, meta: Arc<MetadataStore>) -> Result<NativeSnapshotter, SnapshotError> {
        Ok(NativeSnapshotter {
            dirs: SnapshotDirs::open(root, Self::NAME, meta)?,
        })
    }

    fn parent_fs(&self, r: &SnapshotRecord) -> Result<Option<PathBuf>, SnapshotError> {
        match &r.parent {
            Some(p) => Ok(Some(self.dirs.fs(self.dirs.get(p)?.id))),
            None => Ok(None),
        }
    }

    fn mounts_of(&self, r: &SnapshotRecord) -> Result<Vec<Mount>, SnapshotError> {
        match r.kind {
            SnapshotKind::Active => Ok(vec![bind(&self.dirs.fs(r.id), true)]),
            // A committed tree never changes: a view binds it read-only instead of copying.
            SnapshotKind::View => Ok(vec![bind(
                &self.parent_fs(r)?.unwrap_or_else(|| self.dirs.fs(r.id)),
                false,
            )]),
            SnapshotKind::Committed => Err(SnapshotError::Conflict {
                key: r.key.clone(),
                reason: "a committed snapshot has no mounts: make a view of it".into(),
            }),
        }
    }
}

impl Snapshotter for NativeSnapshotter {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn prepare(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: &Labels,
    ) -> Result<Vec<Mount>, SnapshotError> {
        let r = self
            .dirs
            .create(key, SnapshotKind::Active, parent, labels)?;
        if let Some(src) = self.parent_fs(&r)? {
            if let Err(e) = copy_tree(&src, &self.dirs.fs(r.id)) {
                let _ = self.dirs.remove(key);
                return Err(e);
            }
        }
        self.mounts_of(&r)
    }

    shared_snapshot_methods!();

    fn apply_target(&self, key: &str) -> Result<ApplyTarget, SnapshotError> {
        let r = self.dirs.active(key)?;
        Ok(ApplyTarget {
            dir: self.dirs.fs(r.id),
            whiteouts: WhiteoutStyle::Delete,
            lowers: Vec::new(),
        })
    }

    fn diff_dirs(&self, key: &str) -> Result<(Vec<PathBuf>, ApplyTarget), SnapshotError> {
        let r = self.dirs.active(key)?;
        let lowers = self.parent_fs(&r)?.into_iter().collect();
        Ok((lowers, self.apply_target(key)?))
    }

    fn layer_dirs(&self, key: &str) -> Result<Vec<PathBuf>, SnapshotError> {
        let r = self.dirs.get(key)?;
        Ok(vec![self.dirs.fs(r.id)])
    }
}

/// Copies the tree `src` into the existing empty directory `dst`, preserving everything a
/// layer can carry: file types (devices and fifos too), hardlinks, ownership, modes, xattrs
/// and times. Symlinks are copied, never followed. Regular files are copied with
/// `copy_file_range` (which reflinks on filesystems that can).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), SnapshotError> {
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut dirs = Vec::new();
    copy_dir(src, dst, &mut links, &mut dirs)?;
    // Directory times last: creating entries inside changed them.
    for (path, meta) in dirs.iter().rev() {
        set_times(path, meta)?;
    }
    Ok(())
}

fn copy_dir(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    dirs: &mut Vec<(PathBuf, std::fs::Metadata)>,
) -> Result<(), SnapshotError> {
    let meta = std::fs::symlink_metadata(src).map_err(|e| io_err("stat", src, e))?;
    copy_attrs(src, dst, &meta)?;
    dirs.push((dst.to_path_buf(), meta));
    for entry in std::fs::read_dir(src).map_err(|e| io_err("read directory", src, e))? {
        let entry = entry.map_err(|e| io_err("read directory", src, e))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let m = std::fs::symlink_metadata(&from).map_err(|e| io_err("stat", &from, e))?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to).map_err(|e| io_err("create directory", &to, e))?;
            copy_dir(&from, &to, links, dirs)?;
            continue;
        }
        if m.nlink() > 1 {
            if let Some(first) = links.get(&(m.dev(), m.ino())) {
                std::fs::hard_link(first, &to).map_err(|e| io_err("link", &to, e))?;
                continue;
            }
            links.insert((m.dev(), m.ino()), to.clone());
        }
        if ft.is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| io_err("read link", &from, e))?;
            std::os::unix::fs::symlink(&target, &to).map_err(|e| io_err("symlink", &to, e))?;
        } else if ft.is_file() {
            copy_file(&from, &to)?;
        } else {
            let kind = if ft.is_char_device() {
                FileType::CharacterDevice
            } else if ft.is_block_device() {
                FileType::BlockDevice
            } else if ft.is_fifo() {
                FileType::Fifo
            } else {
                continue; // sockets are not part of an image
            };
            rustix::fs::mknodat(
                CWD,
                &to,
                kind,
                Mode::from_raw_mode(m.mode() & 0o7777),
                m.rdev(),
            )
            .map_err(|e| io_err("mknod", &to, e.into()))?;
        }
        copy_attrs(&from, &to, &m)?;
        set_times(&to, &m)?;
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let mut src = std::fs::File::open(from).map_err(|e| io_err("open", from, e))?;
    let mut dst = std::fs::File::create_new(to).map_err(|e| io_err("create", to, e))?;
    // std::io::copy uses copy_file_range between files.
    io::copy(&mut src, &mut dst).map_err(|e| io_err("copy", to, e))?;
    Ok(())
}

/// Owner, mode and xattrs of `to` from `from` (chown before chmod: chown clears set-id bits).
fn copy_attrs(from: &Path, to: &Path, m: &std::fs::Metadata) -> Result<(), SnapshotError> {
    rustix::fs::chownat(
        CWD,
        to,
        Some(rustix::fs::Uid::from_raw(m.uid())),
        Some(rustix::fs::Gid::from_raw(m.gid())),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io_err("lchown", to, e.into()))?;
    if !m.file_type().is_symlink() {
        rustix::fs::chmodat(
            CWD,
            to,
            Mode::from_raw_mode(m.mode() & 0o7777),
            AtFlags::empty(),
        )
        .map_err(|e| io_err("chmod", to, e.into()))?;
    }
    let xattrs = crate::layer::xattrs::of_path(from).map_err(|e| io_err("read xattrs", from, e))?;
    for (name, value) in xattrs {
        rustix::fs::lsetxattr(to, OsStr::from_bytes(&name), &value, XattrFlags::empty())
            .map_err(|e| io_err("set xattr", to, e.into()))?;
    }
    Ok(())
}

fn set_times(to: &Path, m: &std::fs::Metadata) -> Result<(), SnapshotError> {
    let ts = |s: i64, ns: i64| rustix::fs::Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    let times = Timestamps {
        last_access: ts(m.atime(), m.atime_nsec()),
        last_modification: ts(m.mtime(), m.mtime_nsec()),
    };
    rustix::fs::utimensat(CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| io_err("set times", to, e.into()))
}
