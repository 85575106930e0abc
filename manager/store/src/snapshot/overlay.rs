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

use crate::metadata::{Labels, MetadataStore};
use crate::mount::Mount;
use crate::snapshot::{ApplyTarget, SnapshotError, SnapshotInfo, Snapshotter, Usage};

/// The overlayfs snapshotter (name `overlayfs`).
pub struct OverlaySnapshotter {
    root: PathBuf,
    meta: Arc<MetadataStore>,
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
        let _ = (root, meta);
        Err(SnapshotError::NotImplemented("overlayfs snapshotter"))
    }

    /// Whether overlayfs can be used with upper layers under `root` (tries a mount in a
    /// scratch directory), so berthd can fall back to [`super::native`].
    pub fn supported(root: &Path) -> bool {
        let _ = root;
        false
    }
}

impl Snapshotter for OverlaySnapshotter {
    fn name(&self) -> &str {
        Self::NAME
    }
    fn prepare(
        &self,
        _key: &str,
        _parent: Option<&str>,
        _labels: &Labels,
    ) -> Result<Vec<Mount>, SnapshotError> {
        let _ = (&self.root, &self.meta);
        Err(SnapshotError::NotImplemented("overlayfs prepare"))
    }
    fn view(
        &self,
        _key: &str,
        _parent: Option<&str>,
        _labels: &Labels,
    ) -> Result<Vec<Mount>, SnapshotError> {
        Err(SnapshotError::NotImplemented("overlayfs view"))
    }
    fn mounts(&self, _key: &str) -> Result<Vec<Mount>, SnapshotError> {
        Err(SnapshotError::NotImplemented("overlayfs mounts"))
    }
    fn commit(&self, _name: &str, _key: &str, _labels: &Labels) -> Result<(), SnapshotError> {
        Err(SnapshotError::NotImplemented("overlayfs commit"))
    }
    fn remove(&self, _key: &str) -> Result<(), SnapshotError> {
        Err(SnapshotError::NotImplemented("overlayfs remove"))
    }
    fn stat(&self, _key: &str) -> Result<SnapshotInfo, SnapshotError> {
        Err(SnapshotError::NotImplemented("overlayfs stat"))
    }
    fn list(&self) -> Result<Vec<SnapshotInfo>, SnapshotError> {
        Err(SnapshotError::NotImplemented("overlayfs list"))
    }
    fn usage(&self, _key: &str) -> Result<Usage, SnapshotError> {
        Err(SnapshotError::NotImplemented("overlayfs usage"))
    }
    fn apply_target(&self, _key: &str) -> Result<ApplyTarget, SnapshotError> {
        Err(SnapshotError::NotImplemented("overlayfs apply_target"))
    }
    fn diff_dirs(&self, _key: &str) -> Result<(Vec<PathBuf>, ApplyTarget), SnapshotError> {
        Err(SnapshotError::NotImplemented("overlayfs diff_dirs"))
    }
}
