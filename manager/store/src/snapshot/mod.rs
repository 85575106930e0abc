//! Snapshotters: copy-on-write filesystem trees that containers and layer unpacking use.
//!
//! Semantics are containerd's (`snapshots.Snapshotter`):
//!
//! * [`Snapshotter::prepare`] makes an **active** snapshot `key` on top of a committed `parent`
//!   (or empty), writable; [`Snapshotter::view`] makes a read-only **view**;
//! * [`Snapshotter::commit`] turns an active snapshot into a **committed** one named `name`,
//!   immutable from then on, which can be the parent of others;
//! * [`Snapshotter::mounts`] returns the [`Mount`]s that assemble the tree; the caller mounts
//!   them (the snapshotter itself mounts nothing);
//! * [`Snapshotter::remove`] refuses a snapshot that is another's parent.
//!
//! Image layers become a chain of committed snapshots named by their chain id (OCI image-spec
//! config.md, "Layer ChainID"), so a layer shared by images is extracted once
//! ([`crate::layer::unpack_layer`]).
//!
//! Records live in the metadata database (table `snapshots`), directories under
//! `<root>/snapshots/<snapshotter>/<id>/`. Layers are unpacked into *scratch* directories
//! beside them (`scratch-*`, no record) where the snapshotter allows it
//! ([`Snapshotter::prepare_scratch`]), which become a snapshot's own directory by one rename
//! at commit ([`Snapshotter::commit_scratch`]); so a layer can unpack before its parent is
//! committed, and a crash mid-unpack leaves only a directory that the next open removes.
//! The snapshotter directory is an ext4 "top directory" (`spread_subdirectories`), so each
//! of these lands in its own block group. Two implementations: [`overlay`] (overlayfs: a
//! snapshot holds only its own changes) and [`native`] (a full copy per snapshot, for
//! filesystems overlayfs cannot use as upper layer).

/// The trait methods both snapshotters implement the same way, from their `dirs`
/// ([`SnapshotDirs`]) and their own `mounts_of`.
macro_rules! shared_snapshot_methods {
    () => {
        fn view(
            &self,
            key: &str,
            parent: Option<&str>,
            labels: &Labels,
        ) -> Result<Vec<Mount>, SnapshotError> {
            let r = self.dirs.create(key, SnapshotKind::View, parent, labels)?;
            self.mounts_of(&r)
        }

        fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
            self.mounts_of(&self.dirs.get(key)?)
        }

        fn commit(&self, name: &str, key: &str, labels: &Labels) -> Result<(), SnapshotError> {
            self.dirs.commit(name, key, labels)
        }

        fn remove(&self, key: &str) -> Result<(), SnapshotError> {
            self.dirs.remove(key)
        }

        fn stat(&self, key: &str) -> Result<crate::snapshot::SnapshotInfo, SnapshotError> {
            self.dirs.stat(key)
        }

        fn list(&self) -> Result<Vec<crate::snapshot::SnapshotInfo>, SnapshotError> {
            self.dirs.list()
        }

        fn usage(&self, key: &str) -> Result<crate::snapshot::Usage, SnapshotError> {
            self.dirs.usage(key)
        }
    };
}

pub mod native;
pub mod overlay;

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::layer::WhiteoutStyle;
use crate::metadata::{Labels, MetadataError, MetadataStore, SnapshotRecord};
use crate::mount::Mount;

/// A snapshotter failure, naming the snapshot key or path.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No snapshot with this key.
    #[error("snapshot {0:?} not found")]
    NotFound(String),
    /// A snapshot with this key exists already.
    #[error("snapshot {0:?} already exists")]
    AlreadyExists(String),
    /// The tree would break (parent missing or not committed, removing a parent, committing a
    /// non-active snapshot, diffing a non-active one).
    #[error("snapshot {key:?}: {reason}")]
    Conflict {
        /// The snapshot key.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// The metadata database failed.
    #[error(transparent)]
    Metadata(MetadataError),
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Not implemented yet.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

impl From<MetadataError> for SnapshotError {
    /// Maps the tree errors of the metadata layer to this module's own variants, so callers
    /// match on [`SnapshotError::NotFound`] etc. whichever layer noticed.
    fn from(e: MetadataError) -> SnapshotError {
        match e {
            MetadataError::NotFound { key, .. } => SnapshotError::NotFound(key),
            MetadataError::AlreadyExists { key, .. } => SnapshotError::AlreadyExists(key),
            MetadataError::SnapshotConflict { key, reason } => {
                SnapshotError::Conflict { key, reason }
            }
            other => SnapshotError::Metadata(other),
        }
    }
}

/// The three kinds of snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    /// Writable, made by `prepare`; can be committed.
    Active,
    /// Read-only, made by `view`; cannot be committed.
    View,
    /// Immutable, made by `commit`; can be a parent.
    Committed,
}

/// Disk usage of one snapshot's own layer (not its parents').
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Bytes allocated on disk (`st_blocks * 512`, hardlinks counted once).
    pub size: u64,
    /// Number of inodes.
    pub inodes: u64,
}

/// What [`Snapshotter::stat`] and [`Snapshotter::list`] report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The key (active, view) or name (committed).
    pub key: String,
    /// Its kind.
    pub kind: SnapshotKind,
    /// Its parent's name.
    pub parent: Option<String>,
    /// Free-form labels.
    pub labels: Labels,
    /// When it was prepared.
    pub created_at: SystemTime,
    /// When it last changed.
    pub updated_at: SystemTime,
}

/// Where to write a layer into an active snapshot without mounting it: the snapshot's own
/// directory and how deletions must be recorded there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyTarget {
    /// The directory to extract into (overlay: the upperdir; native: the full tree).
    pub dir: PathBuf,
    /// Overlay upperdirs record deletions as whiteouts; a native tree deletes.
    pub whiteouts: WhiteoutStyle,
    /// The parent layers' directories, nearest first (overlay only; empty for a full tree):
    /// a parent directory missing from `dir` is created like the lower one.
    pub lowers: Vec<PathBuf>,
}

/// A directory a layer is unpacked into before its snapshot exists: see
/// [`Snapshotter::prepare_scratch`]. It lives among the snapshot directories (same
/// filesystem, so it becomes a snapshot's own directory by one `rename`); one left behind by a
/// crash has no record and is removed when the snapshotter opens.
#[derive(Debug)]
pub struct Scratch {
    /// Where to apply the layer: the scratch directory, the whiteout style, and the lower
    /// directories of the parent the scratch was prepared (or rebased) on.
    pub target: ApplyTarget,
    parent: Option<String>,
}

impl Scratch {
    /// The committed snapshot the layer goes on top of (`None`: a base layer, or a parent not
    /// known yet).
    pub fn parent(&self) -> Option<&str> {
        self.parent.as_deref()
    }
}

/// A snapshotter: see the module doc for the semantics every implementation follows (the
/// conformance suite in `tests/snapshotter.rs` checks them).
pub trait Snapshotter: Send + Sync {
    /// The snapshotter's name (`overlayfs`, `native`): its table key and directory name.
    fn name(&self) -> &str;

    /// Creates active snapshot `key` on top of committed `parent` (none: empty) and returns
    /// the mounts that assemble it writable.
    fn prepare(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: &Labels,
    ) -> Result<Vec<Mount>, SnapshotError>;

    /// Creates read-only view `key` of committed `parent` (none: empty) and returns its mounts.
    fn view(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: &Labels,
    ) -> Result<Vec<Mount>, SnapshotError>;

    /// The mounts of an active snapshot or view (again).
    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError>;

    /// Commits active snapshot `key` as committed snapshot `name`; `key` is gone afterwards.
    fn commit(&self, name: &str, key: &str, labels: &Labels) -> Result<(), SnapshotError>;

    /// Removes a snapshot of any kind and its directory; refuses one that is a parent.
    /// The caller must have unmounted its mounts.
    fn remove(&self, key: &str) -> Result<(), SnapshotError>;

    /// What is known about snapshot `key`.
    fn stat(&self, key: &str) -> Result<SnapshotInfo, SnapshotError>;

    /// Every snapshot of this snapshotter, by key.
    fn list(&self) -> Result<Vec<SnapshotInfo>, SnapshotError>;

    /// The directories that hold committed snapshot `key`'s tree, its own first: for
    /// overlayfs its layer's directory, then its ancestors' (what docker's overlay2 shows as
    /// an image's `UpperDir` and `LowerDir`); for native its one full copy.
    fn layer_dirs(&self, key: &str) -> Result<Vec<PathBuf>, SnapshotError>;

    /// Disk usage of snapshot `key`'s own layer: recorded at commit for committed snapshots,
    /// measured now for active ones.
    fn usage(&self, key: &str) -> Result<Usage, SnapshotError>;

    /// Where to extract a layer into active snapshot `key` (see [`ApplyTarget`]).
    fn apply_target(&self, key: &str) -> Result<ApplyTarget, SnapshotError>;

    /// For an active snapshot: the directories that together make its parent's tree, nearest
    /// first, and its own directory, so a diff can be computed without mounting
    /// ([`crate::layer::write_diff`]).
    fn diff_dirs(&self, key: &str) -> Result<(Vec<PathBuf>, ApplyTarget), SnapshotError>;

    /// Makes a scratch directory to unpack a layer into, on top of committed `parent` (its
    /// directories become the [`ApplyTarget::lowers`]); `None` for a base layer or a parent
    /// not committed yet (then [`Snapshotter::rebase_scratch`] names it before the commit).
    /// A layer needs no snapshot record while it unpacks, and its parent need not be ready:
    /// layers of one image unpack in parallel. Only snapshotters whose snapshots hold just
    /// their own changes can do this; a full-copy snapshotter returns
    /// [`SnapshotError::NotImplemented`] and the caller uses `prepare`/`apply_target`.
    fn prepare_scratch(&self, parent: Option<&str>) -> Result<Scratch, SnapshotError> {
        let _ = parent;
        Err(SnapshotError::NotImplemented(
            "scratch unpack directories (a full-copy snapshot needs its parent's tree)",
        ))
    }

    /// Sets the committed parent a scratch layer goes on (and its lower directories).
    fn rebase_scratch(
        &self,
        scratch: &mut Scratch,
        parent: Option<&str>,
    ) -> Result<(), SnapshotError> {
        let _ = (scratch, parent);
        Err(SnapshotError::NotImplemented("scratch unpack directories"))
    }

    /// Turns a filled scratch directory into committed snapshot `name` on its parent: an
    /// active snapshot `key` is recorded, the scratch directory renamed over its (empty) own
    /// directory, and `key` committed as `name`. On failure nothing of `key` stays and the
    /// scratch directory is removed; [`SnapshotError::AlreadyExists`] if `name` exists
    /// (another unpack won: theirs is kept). The caller makes the files durable first.
    fn commit_scratch(
        &self,
        scratch: Scratch,
        key: &str,
        name: &str,
        labels: &Labels,
    ) -> Result<(), SnapshotError> {
        let _ = (key, name, labels);
        let _ = std::fs::remove_dir_all(&scratch.target.dir);
        Err(SnapshotError::NotImplemented("scratch unpack directories"))
    }

    /// Removes a scratch directory that will not be committed.
    fn remove_scratch(&self, scratch: Scratch) -> Result<(), SnapshotError> {
        remove_tree(&scratch.target.dir)
    }
}

/// Measures the disk usage of the tree at `dir` (hardlinks counted once), without following
/// symlinks or crossing into other filesystems' mounts.
pub fn measure_usage(dir: &Path) -> Result<Usage, SnapshotError> {
    let root = std::fs::symlink_metadata(dir).map_err(|e| io_err("stat", dir, e))?;
    let mut usage = Usage {
        size: root.blocks() * 512,
        inodes: 1,
    };
    let mut seen = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io_err("read directory", &d, e))? {
            let entry = entry.map_err(|e| io_err("read directory", &d, e))?;
            let path = entry.path();
            let m = std::fs::symlink_metadata(&path).map_err(|e| io_err("stat", &path, e))?;
            if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            usage.inodes += 1;
            usage.size += m.blocks() * 512;
            if m.is_dir() && m.dev() == root.dev() {
                stack.push(path);
            }
        }
    }
    Ok(usage)
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> SnapshotError {
    SnapshotError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What both snapshotters share: the records in the metadata store and one numbered
/// directory per snapshot under `<root>/snapshots/<name>/`.
struct SnapshotDirs {
    name: &'static str,
    dir: PathBuf,
    meta: Arc<MetadataStore>,
}

impl SnapshotDirs {
    /// Creates `<root>/snapshots/<name>`, removes directories no record names (a crash
    /// between a record's removal and its directory's), and recreates the directories of
    /// records whose directory is missing (a crash between prepare's two steps: such a
    /// snapshot was empty).
    fn open(
        root: &Path,
        name: &'static str,
        meta: Arc<MetadataStore>,
    ) -> Result<SnapshotDirs, SnapshotError> {
        let dir = root.join("snapshots").join(name);
        std::fs::create_dir_all(&dir).map_err(|e| io_err("create directory", &dir, e))?;
        spread_subdirectories(&dir);
        let dirs = SnapshotDirs { name, dir, meta };
        let records = dirs.meta.list_snapshots(name)?;
        let ids: HashSet<String> = records.iter().map(|r| r.id.to_string()).collect();
        for entry in
            std::fs::read_dir(&dirs.dir).map_err(|e| io_err("read directory", &dirs.dir, e))?
        {
            let entry = entry.map_err(|e| io_err("read directory", &dirs.dir, e))?;
            if !ids.contains(entry.file_name().to_string_lossy().as_ref()) {
                remove_tree(&entry.path())?;
            }
        }
        for r in &records {
            if r.kind != SnapshotKind::Committed && !dirs.fs(r.id).exists() {
                dirs.make_dirs(r.id)?;
            }
        }
        Ok(dirs)
    }

    fn snapshot_dir(&self, id: u64) -> PathBuf {
        self.dir.join(id.to_string())
    }

    fn fs(&self, id: u64) -> PathBuf {
        self.snapshot_dir(id).join("fs")
    }

    fn work(&self, id: u64) -> PathBuf {
        self.snapshot_dir(id).join("work")
    }

    fn make_dirs(&self, id: u64) -> Result<(), SnapshotError> {
        for d in [self.fs(id), self.work(id)] {
            std::fs::create_dir_all(&d).map_err(|e| io_err("create directory", &d, e))?;
        }
        Ok(())
    }

    /// Records a new snapshot and makes its directories; undoes the record if they fail.
    fn create(
        &self,
        key: &str,
        kind: SnapshotKind,
        parent: Option<&str>,
        labels: &Labels,
    ) -> Result<SnapshotRecord, SnapshotError> {
        let record = self
            .meta
            .create_snapshot(self.name, key, kind, parent, labels)?;
        if let Err(e) = self.make_dirs(record.id) {
            let _ = self.meta.remove_snapshot(self.name, key);
            let _ = remove_tree(&self.snapshot_dir(record.id));
            return Err(e);
        }
        Ok(record)
    }

    fn get(&self, key: &str) -> Result<SnapshotRecord, SnapshotError> {
        Ok(self.meta.get_snapshot(self.name, key)?)
    }

    /// The `fs` directories of `parent` and its ancestors, nearest first.
    fn parent_dirs(&self, parent: Option<&str>) -> Result<Vec<PathBuf>, SnapshotError> {
        let mut out = Vec::new();
        let mut next = parent.map(str::to_string);
        while let Some(key) = next {
            let r = self.get(&key)?;
            out.push(self.fs(r.id));
            next = r.parent;
        }
        Ok(out)
    }

    fn active(&self, key: &str) -> Result<SnapshotRecord, SnapshotError> {
        let r = self.get(key)?;
        if r.kind != SnapshotKind::Active {
            return Err(SnapshotError::Conflict {
                key: key.to_string(),
                reason: "not an active snapshot".into(),
            });
        }
        Ok(r)
    }

    fn commit(&self, name: &str, key: &str, labels: &Labels) -> Result<(), SnapshotError> {
        let r = self.active(key)?;
        let usage = measure_usage(&self.fs(r.id))?;
        self.meta
            .commit_snapshot(self.name, key, name, labels, usage)?;
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        let r = self.meta.remove_snapshot(self.name, key)?;
        remove_tree(&self.snapshot_dir(r.id))
    }

    fn stat(&self, key: &str) -> Result<SnapshotInfo, SnapshotError> {
        Ok(info(self.get(key)?))
    }

    fn list(&self) -> Result<Vec<SnapshotInfo>, SnapshotError> {
        Ok(self
            .meta
            .list_snapshots(self.name)?
            .into_iter()
            .map(info)
            .collect())
    }

    /// A new, uniquely named scratch directory (`scratch-<pid>-<time>-<n>`). Not a number,
    /// so no record names it: [`SnapshotDirs::open`] removes it if a crash leaves it.
    fn create_scratch(&self) -> Result<PathBuf, SnapshotError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self
            .dir
            .join(format!("scratch-{}-{nanos:x}-{n}", std::process::id()));
        std::fs::create_dir(&path).map_err(|e| io_err("create directory", &path, e))?;
        Ok(path)
    }

    /// Records active snapshot `key` on `parent`, renames `scratch` over its own directory
    /// and commits it as `name` (see [`Snapshotter::commit_scratch`]).
    fn commit_scratch(
        &self,
        scratch: &Path,
        key: &str,
        name: &str,
        parent: Option<&str>,
        labels: &Labels,
    ) -> Result<(), SnapshotError> {
        let r = match self.create(key, SnapshotKind::Active, parent, labels) {
            Ok(r) => r,
            Err(e) => {
                let _ = remove_tree(scratch);
                return Err(e);
            }
        };
        let fs = self.fs(r.id);
        // rename(2) replaces an empty directory atomically; scratch directories live in
        // `self.dir`, so this never crosses filesystems.
        if let Err(e) = std::fs::rename(scratch, &fs) {
            let _ = remove_tree(scratch);
            let _ = self.remove(key);
            return Err(io_err("rename scratch directory to", &fs, e));
        }
        if let Err(e) = self.commit(name, key, labels) {
            let _ = self.remove(key);
            return Err(e);
        }
        Ok(())
    }

    fn usage(&self, key: &str) -> Result<Usage, SnapshotError> {
        let r = self.get(key)?;
        match (r.kind, r.usage) {
            (SnapshotKind::Committed, Some(u)) => Ok(u),
            _ => measure_usage(&self.fs(r.id)),
        }
    }
}

fn info(r: SnapshotRecord) -> SnapshotInfo {
    SnapshotInfo {
        key: r.key,
        kind: r.kind,
        parent: r.parent,
        labels: r.labels,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Marks `dir` as the top of directory hierarchies for the ext2/3/4 Orlov allocator
/// (`chattr +T`, `FS_TOPDIR_FL`; chattr(1), fs/ext4/ialloc.c `find_group_orlov`): each
/// snapshot and scratch directory made in it starts its own hierarchy in a block group with
/// few directories and many free inodes, chosen from a hash of its name, instead of crowding
/// into the group of its parent. That keeps one layer's inodes and blocks together, and keeps
/// new layers out of the groups where removed snapshots just freed thousands of inodes: ext4
/// without a journal skips inodes freed in the last minutes one by one on every allocation
/// (`recently_deleted`), which made unpacking 12 000 files into such a group 15x slower here
/// (bench/README.md, "pull"). Best effort: other filesystems refuse the flag, and lose nothing.
fn spread_subdirectories(dir: &Path) {
    use rustix::fs::{ioctl_getflags, ioctl_setflags, IFlags};
    let Ok(fd) = rustix::fs::open(
        dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return;
    };
    if let Ok(flags) = ioctl_getflags(&fd) {
        if !flags.contains(IFlags::TOPDIR) {
            let _ = ioctl_setflags(&fd, flags | IFlags::TOPDIR);
        }
    }
}

fn remove_tree(path: &Path) -> Result<(), SnapshotError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", path, e)),
    }
}

fn bind(source: &Path, writable: bool) -> Mount {
    Mount {
        kind: "bind".into(),
        source: source.to_string_lossy().into_owned(),
        options: vec![if writable { "rw" } else { "ro" }.into(), "rbind".into()],
    }
}
