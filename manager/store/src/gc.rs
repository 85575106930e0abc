//! Garbage collection of content and snapshots.
//!
//! Mark and sweep, like containerd's `gc` package. Roots:
//!
//! * every image record's target; from it, manifests and indexes (read from the content store)
//!   lead to their manifests, configs and layers, and each config's `rootfs.diff_ids` to the
//!   chain ids that name the image's snapshots in every snapshotter;
//! * every unexpired lease's resources;
//! * the extra roots the caller passes (container snapshots and the like, until containers
//!   have their own records);
//! * a snapshot keeps its parents.
//!
//! Everything else is swept: snapshots children first (a parent is refused while it has
//! children), then blobs. Nothing created after the collection started is swept, so a pull
//! that takes a lease before it writes is safe against a concurrent collection; expired leases
//! are deleted. Ingests are not touched (they are resumable downloads).

use std::time::SystemTime;

use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;
use crate::metadata::{MetadataError, MetadataStore};
use crate::snapshot::{SnapshotError, Snapshotter};

/// A collection failure.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// Reading or deleting content failed.
    #[error("gc: {0}")]
    Content(#[from] ContentError),
    /// Reading metadata failed.
    #[error("gc: {0}")]
    Metadata(#[from] MetadataError),
    /// Listing or removing a snapshot failed.
    #[error("gc: {0}")]
    Snapshot(#[from] SnapshotError),
    /// Not implemented yet.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

/// Extra roots the caller knows about (e.g. running containers' snapshots).
#[derive(Clone, Debug, Default)]
pub struct GcRoots {
    /// Blobs to keep.
    pub content: Vec<Digest>,
    /// Snapshots to keep (with their parents): (snapshotter name, key).
    pub snapshots: Vec<(String, String)>,
}

/// What a collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub content_removed: Vec<Digest>,
    /// Snapshots removed: (snapshotter name, key).
    pub snapshots_removed: Vec<(String, String)>,
    /// Expired leases deleted.
    pub leases_removed: Vec<String>,
    /// Bytes freed: blob sizes plus recorded snapshot usage.
    pub bytes_freed: u64,
}

/// Runs one collection over `content`, `meta` and `snapshotters`; see the module doc.
/// berthd runs it after `rmi` and for `image prune`, one at a time.
pub fn collect(
    content: &ContentStore,
    meta: &MetadataStore,
    snapshotters: &[&dyn Snapshotter],
    extra: &GcRoots,
) -> Result<GcReport, GcError> {
    let _ = (content, meta, snapshotters, extra, SystemTime::now());
    Err(GcError::NotImplemented("gc"))
}
