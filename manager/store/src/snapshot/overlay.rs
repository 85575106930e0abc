//! The overlayfs snapshotter.
//!
//! Each snapshot `snapshots/overlayfs/<id>/` has `fs/` (its own layer: the upperdir while
//! active) and `work/` (overlay's workdir, same filesystem as `fs/`). Mounts
//! (kernel docs: Documentation/filesystems/overlayfs.rst):
//!
//! * active, no parent: a read-write bind of `fs/`;
//! * active with parents: `overlay` with `lowerdir=<parent fs>:<grandparent fs>:...` (nearest
//!   first), `upperdir=fs`, `workdir=work`;
//! * view of one committed layer: a read-only bind of that layer's `fs/`;
//! * view of several: `overlay` with only `lowerdir` (read-only by construction).
//!
//! Committed layers are never written again, so every snapshot above them shares them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::layer::WhiteoutStyle;
use crate::metadata::{Labels, MetadataStore, SnapshotRecord};
use crate::mount::{Mount, MountGuard};
use crate::snapshot::{
    bind, io_err, ApplyTarget, Scratch, SnapshotDirs, SnapshotError, SnapshotKind, Snapshotter,
};

/// The overlayfs snapshotter (name `overlayfs`).
pub struct OverlaySnapshotter {
    dirs: SnapshotDirs,
}

impl OverlaySnapshotter {
    /// The name this snapshotter records its snapshots under.
    pub const NAME: &'static str = "overlayfs";

    /// Opens the snapshotter with its directories under `<root>/snapshots/overlayfs`
    /// (`root` is the berthd root) and its records in `meta`; removes directories that no
    /// record names (left by a crash between a record's removal and its directory's).
    pub fn open(
        root: &Path,
        meta: Arc<MetadataStore>,
    ) -> Result<OverlaySnapshotter, SnapshotError> {
        // overlayfs options are separated by ',' and lowerdirs by ':' (escaping them is not
        // supported by every kernel): refuse a root whose paths would be misparsed.
        let shown = root.to_string_lossy();
        if shown.contains([',', ':']) {
            return Err(SnapshotError::Io {
                op: "use as overlayfs root",
                path: root.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "path contains ',' or ':'",
                ),
            });
        }
        Ok(OverlaySnapshotter {
            dirs: SnapshotDirs::open(root, Self::NAME, meta)?,
        })
    }

    /// Whether overlayfs can be used with upper layers under `root` (tries a mount in a
    /// scratch directory), so berthd can fall back to [`super::native`].
    pub fn supported(root: &Path) -> bool {
        let scratch = root.join(format!("overlay-check-{}", std::process::id()));
        let ok = (|| -> Result<(), SnapshotError> {
            let dirs = ["lower", "upper", "work", "merged"].map(|d| scratch.join(d));
            for d in &dirs {
                std::fs::create_dir_all(d).map_err(|e| io_err("create directory", d, e))?;
            }
            let m = overlay_mount(&[dirs[0].clone()], Some((&dirs[1], &dirs[2])));
            MountGuard::mount(&[m], &dirs[3])
                .map_err(|e| io_err("mount", &dirs[3], std::io::Error::other(e)))?;
            Ok(())
        })()
        .is_ok();
        let _ = std::fs::remove_dir_all(&scratch);
        ok
    }

    fn mounts_of(&self, r: &SnapshotRecord) -> Result<Vec<Mount>, SnapshotError> {
        let lowers = self.dirs.parent_dirs(r.parent.as_deref())?;
        let fs = self.dirs.fs(r.id);
        Ok(match r.kind {
            SnapshotKind::Active if lowers.is_empty() => vec![bind(&fs, true)],
            SnapshotKind::Active => {
                vec![overlay_mount(&lowers, Some((&fs, &self.dirs.work(r.id))))]
            }
            SnapshotKind::View => match lowers.len() {
                0 => vec![bind(&fs, false)],
                1 => vec![bind(&lowers[0], false)],
                // overlayfs without an upperdir is read-only.
                _ => vec![overlay_mount(&lowers, None)],
            },
            SnapshotKind::Committed => {
                return Err(SnapshotError::Conflict {
                    key: r.key.clone(),
                    reason: "a committed snapshot has no mounts: make a view of it".into(),
                })
            }
        })
    }
}

/// An overlay mount of `lowers` (nearest first), with `(upperdir, workdir)` if writable.
fn overlay_mount(lowers: &[PathBuf], upper: Option<(&Path, &Path)>) -> Mount {
    let lowerdir: Vec<String> = lowers
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut options = vec![format!("lowerdir={}", lowerdir.join(":"))];
    if let Some((upper, work)) = upper {
        options.push(format!("upperdir={}", upper.display()));
        options.push(format!("workdir={}", work.display()));
    }
    Mount {
        kind: "overlay".into(),
        source: "overlay".into(),
        options,
    }
}

impl Snapshotter for OverlaySnapshotter {
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
        self.mounts_of(&r)
    }

    shared_snapshot_methods!();

    fn apply_target(&self, key: &str) -> Result<ApplyTarget, SnapshotError> {
        let r = self.dirs.active(key)?;
        Ok(ApplyTarget {
            dir: self.dirs.fs(r.id),
            whiteouts: WhiteoutStyle::Overlay,
            lowers: self.dirs.parent_dirs(r.parent.as_deref())?,
        })
    }

    fn diff_dirs(&self, key: &str) -> Result<(Vec<PathBuf>, ApplyTarget), SnapshotError> {
        let target = self.apply_target(key)?;
        Ok((target.lowers.clone(), target))
    }

    fn layer_dirs(&self, key: &str) -> Result<Vec<PathBuf>, SnapshotError> {
        self.committed_dirs(Some(key))
    }

    /// An upperdir holds only its layer's changes (deletions as whiteouts), so a layer can be
    /// unpacked before its snapshot, or even its parent, exists.
    fn prepare_scratch(&self, parent: Option<&str>) -> Result<Scratch, SnapshotError> {
        let lowers = self.committed_dirs(parent)?;
        let dir = self.dirs.create_scratch()?;
        Ok(Scratch {
            target: ApplyTarget {
                dir,
                whiteouts: WhiteoutStyle::Overlay,
                lowers,
            },
            parent: parent.map(str::to_string),
        })
    }

    fn rebase_scratch(
        &self,
        scratch: &mut Scratch,
        parent: Option<&str>,
    ) -> Result<(), SnapshotError> {
        scratch.target.lowers = self.committed_dirs(parent)?;
        scratch.parent = parent.map(str::to_string);
        Ok(())
    }

    fn commit_scratch(
        &self,
        scratch: Scratch,
        key: &str,
        name: &str,
        labels: &Labels,
    ) -> Result<(), SnapshotError> {
        self.dirs
            .commit_scratch(&scratch.target.dir, key, name, scratch.parent(), labels)
    }
}

impl OverlaySnapshotter {
    /// The directories of committed snapshot `parent` and its ancestors, nearest first.
    fn committed_dirs(&self, parent: Option<&str>) -> Result<Vec<PathBuf>, SnapshotError> {
        if let Some(p) = parent {
            if self.dirs.get(p)?.kind != SnapshotKind::Committed {
                return Err(SnapshotError::Conflict {
                    key: p.to_string(),
                    reason: "a parent must be a committed snapshot".into(),
                });
            }
        }
        self.dirs.parent_dirs(parent)
    }
}
