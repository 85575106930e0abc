//! The native snapshotter: a full copy of the parent's tree per snapshot.
//!
//! For filesystems overlayfs cannot use (or kernels without it). `snapshots/native/<id>/fs`
//! holds the whole tree: `prepare` copies the parent's tree (preserving ownership, modes,
//! xattrs, hardlinks, device nodes, mtimes); mounts are binds of `fs/` (read-only for views).
//! A view of a committed snapshot binds that snapshot's tree read-only instead of copying.
//! Layers are applied with real deletions instead of whiteouts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::metadata::{Labels, MetadataStore};
use crate::mount::Mount;
use crate::snapshot::{ApplyTarget, SnapshotError, SnapshotInfo, Snapshotter, Usage};

/// The native (copying) snapshotter (name `native`).
pub struct NativeSnapshotter {
    root: PathBuf,
    meta: Arc<MetadataStore>,
}

impl NativeSnapshotter {
    /// The name this snapshotter records its snapshots under.
    pub const NAME: &'static str = "native";

    /// Opens the snapshotter with its directories under `<root>/snapshots/native`
    /// (`root` is the berthd root) and its records in `meta`; removes directories that no
    /// record names (left by a crash between a record's removal and its directory's).
    pub fn open(root: &Path, meta: Arc<MetadataStore>) -> Result<NativeSnapshotter, SnapshotError> {
        let _ = (root, meta);
        Err(SnapshotError::NotImplemented("native snapshotter"))
    }
}

impl Snapshotter for NativeSnapshotter {
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
        Err(SnapshotError::NotImplemented("native prepare"))
    }
    fn view(
        &self,
        _key: &str,
        _parent: Option<&str>,
        _labels: &Labels,
    ) -> Result<Vec<Mount>, SnapshotError> {
        Err(SnapshotError::NotImplemented("native view"))
    }
    fn mounts(&self, _key: &str) -> Result<Vec<Mount>, SnapshotError> {
        Err(SnapshotError::NotImplemented("native mounts"))
    }
    fn commit(&self, _name: &str, _key: &str, _labels: &Labels) -> Result<(), SnapshotError> {
        Err(SnapshotError::NotImplemented("native commit"))
    }
    fn remove(&self, _key: &str) -> Result<(), SnapshotError> {
        Err(SnapshotError::NotImplemented("native remove"))
    }
    fn stat(&self, _key: &str) -> Result<SnapshotInfo, SnapshotError> {
        Err(SnapshotError::NotImplemented("native stat"))
    }
    fn list(&self) -> Result<Vec<SnapshotInfo>, SnapshotError> {
        Err(SnapshotError::NotImplemented("native list"))
    }
    fn usage(&self, _key: &str) -> Result<Usage, SnapshotError> {
        Err(SnapshotError::NotImplemented("native usage"))
    }
    fn apply_target(&self, _key: &str) -> Result<ApplyTarget, SnapshotError> {
        Err(SnapshotError::NotImplemented("native apply_target"))
    }
    fn diff_dirs(&self, _key: &str) -> Result<(Vec<PathBuf>, ApplyTarget), SnapshotError> {
        Err(SnapshotError::NotImplemented("native diff_dirs"))
    }
}
