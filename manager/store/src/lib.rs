//! berthd's storage: everything berthd keeps on disk about images and snapshots.
//!
//! The split follows containerd's proven one (DESIGN.md, "Inside berthd"):
//!
//! * [`content`]: blobs by digest under `<root>/content/blobs/sha256/<hex>`, written through
//!   ingests that are hashed while written, fsynced, verified and atomically renamed into place;
//! * [`metadata`]: one crash-safe redb database (`<root>/meta.redb`) for images, snapshots,
//!   leases and (later) containers, networks and volumes, with a schema version and migrations;
//! * [`snapshot`]: the [`snapshot::Snapshotter`] trait with an overlayfs implementation
//!   ([`snapshot::overlay`]) and a copying fallback ([`snapshot::native`]);
//! * [`layer`]: applying an uncompressed layer tar to a directory in one streaming pass, without
//!   ever writing outside it, and producing diffs back;
//! * [`gc`]: removing content and snapshots that nothing references.
//!
//! [`mount`] describes the mounts a snapshotter returns and can perform them.
//!
//! How a pull uses them (berthd runs each blocking step in `spawn_blocking`):
//!
//! ```no_run
//! # fn main() -> Result<(), berth_store::Error> {
//! use std::{io::Write, path::Path, sync::Arc};
//! use berth_store::{content::ContentStore, layer, metadata::*, snapshot::overlay::OverlaySnapshotter, Digest};
//!
//! let root = Path::new("/var/lib/berth");
//! let content = ContentStore::open(root)?;
//! let meta = Arc::new(MetadataStore::open(&root.join("meta.redb"))?);
//! let snapshots = OverlaySnapshotter::open(root, meta.clone())?;
//!
//! // Everything the pull makes is leased until the image record names it.
//! meta.create_lease("pull-1", Some(std::time::Duration::from_secs(86400)), &Labels::new())?;
//! let (layer_tar, diff_id): (Vec<u8>, Digest) = (Vec::new(), Digest::of(b"")); // from the registry
//! let blob = Digest::of(&layer_tar);
//! meta.add_lease_resource("pull-1", LeaseResource::Content(blob.clone()))?;
//! let mut writer = content.writer("pull-1-layer-0", Some(&blob), Some(layer_tar.len() as u64))?;
//! writer.write_all(&layer_tar).expect("write");
//! writer.commit(None, None)?;
//! let chain = layer::chain_ids(&[diff_id.clone()]).remove(0);
//! meta.add_lease_resource("pull-1", LeaseResource::Snapshot("overlayfs".into(), chain.to_string()))?;
//! layer::unpack_layer(&snapshots, None, &chain, Some(&diff_id), "extract-1", &mut &layer_tar[..])?;
//! // ... store config and manifest, then point the name at the manifest and drop the lease.
//! meta.delete_lease("pull-1")?;
//! # Ok(())
//! # }
//! ```
//!
//! Everything here is a plain synchronous API: berthd calls it from tokio through
//! `spawn_blocking`. Each module has its own error enum; [`Error`] aggregates them.
//!
//! On-disk layout under the store root (DESIGN.md, "On-disk layout"):
//!
//! ```text
//! <root>/meta.redb                                metadata (see metadata module doc)
//! <root>/content/blobs/sha256/<hex>               committed blobs, mode 0444
//! <root>/content/ingest/<sha256(ref)>/{ref,data}  in-progress writes
//! <root>/snapshots/<snapshotter>/<id>/fs          a snapshot's tree (overlay: upperdir)
//! <root>/snapshots/<snapshotter>/<id>/work        overlay workdir (active overlay snapshots)
//! ```

#![deny(missing_docs)]

pub mod content;
pub mod digest;
pub mod gc;
pub mod layer;
pub mod metadata;
pub mod mount;
pub mod snapshot;

pub use digest::{Descriptor, Digest};

/// Any error of this crate: one variant per module, each wrapping that module's enum, so a
/// caller can match on the failing domain (berthd maps them to gRPC codes in one place).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A digest could not be parsed.
    #[error(transparent)]
    Digest(#[from] digest::DigestError),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] content::ContentError),
    /// The metadata database failed.
    #[error(transparent)]
    Metadata(#[from] metadata::MetadataError),
    /// A snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    /// Applying or producing a layer failed.
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    /// Mounting or unmounting failed.
    #[error(transparent)]
    Mount(#[from] mount::MountError),
    /// Garbage collection failed.
    #[error(transparent)]
    Gc(#[from] gc::GcError),
}
