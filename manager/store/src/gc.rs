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
//! are deleted. Ingests are resumable downloads: one is removed only when no live lease names
//! it, no writer holds it, and it has not been written for [`INGEST_GRACE`] (a pull that was
//! interrupted and not retried within a day; containerd's pull leases last as long), or at
//! once by [`collect_pruning_ingests`] (`image prune`: the user wants the space now).
//!
//! Leases protect work in progress only: berthd releases the leases of transfers that died
//! with a previous berthd when it starts, so a crashed pull's blobs and snapshots go at the
//! next collection, not when its lease expires.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;
use crate::layer::chain_ids;
use crate::metadata::{LeaseResource, MetadataError, MetadataStore};
use crate::snapshot::{SnapshotError, SnapshotInfo, Snapshotter};

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
    /// Abandoned ingests removed (their refs).
    pub ingests_removed: Vec<String>,
    /// Bytes freed: blob sizes plus recorded snapshot usage.
    pub bytes_freed: u64,
}

/// How long an unleased ingest is kept for a resume after its last write.
pub const INGEST_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Blobs larger than this are never parsed as manifests, indexes or configs.
const MAX_JSON_BLOB: u64 = 16 << 20;

/// Runs one collection over `content`, `meta` and `snapshotters`; see the module doc.
/// berthd runs it after `rmi`, one at a time. Unleased ingests are kept for [`INGEST_GRACE`].
pub fn collect(
    content: &ContentStore,
    meta: &MetadataStore,
    snapshotters: &[&dyn Snapshotter],
    extra: &GcRoots,
) -> Result<GcReport, GcError> {
    collect_with_grace(content, meta, snapshotters, extra, INGEST_GRACE)
}

/// [`collect`], removing too every ingest that no live lease names and no writer holds,
/// however recent (`image prune`, `system prune`): a cancelled or crashed pull's partial
/// download, kept for a resume, is freed when the user asks for the space.
pub fn collect_pruning_ingests(
    content: &ContentStore,
    meta: &MetadataStore,
    snapshotters: &[&dyn Snapshotter],
    extra: &GcRoots,
) -> Result<GcReport, GcError> {
    collect_with_grace(content, meta, snapshotters, extra, Duration::ZERO)
}

fn collect_with_grace(
    content: &ContentStore,
    meta: &MetadataStore,
    snapshotters: &[&dyn Snapshotter],
    extra: &GcRoots,
    ingest_grace: Duration,
) -> Result<GcReport, GcError> {
    let start = SystemTime::now();
    let mut report = GcReport::default();
    let mut mark = Mark {
        content,
        blobs: HashSet::new(),
        chain_ids: HashSet::new(),
    };

    for image in meta.list_images()? {
        mark.walk(&image.target.digest)?;
    }
    let mut leased_snapshots: HashSet<(String, String)> = extra.snapshots.iter().cloned().collect();
    let mut leased_ingests: HashSet<String> = HashSet::new();
    for lease in meta.list_leases()? {
        if lease.expired(start) {
            match meta.delete_lease(&lease.id) {
                Ok(()) | Err(MetadataError::NotFound { .. }) => {
                    report.leases_removed.push(lease.id)
                }
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        for r in lease.resources {
            match r {
                LeaseResource::Content(d) => mark.walk(&d)?,
                LeaseResource::Snapshot(sn, key) => {
                    leased_snapshots.insert((sn, key));
                }
                LeaseResource::Ingest(r) => {
                    leased_ingests.insert(r);
                }
            }
        }
    }
    for d in &extra.content {
        mark.walk(d)?;
    }

    for sn in snapshotters {
        sweep_snapshots(*sn, &mark.chain_ids, &leased_snapshots, start, &mut report)?;
    }

    let stale_before = start
        .checked_sub(ingest_grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for ingest in content.ingests()? {
        if leased_ingests.contains(&ingest.reference) || ingest.updated_at >= stale_before {
            continue;
        }
        match content.abort(&ingest.reference) {
            Ok(()) => {
                report.bytes_freed += ingest.offset;
                report.ingests_removed.push(ingest.reference);
            }
            // Being written right now, or gone meanwhile.
            Err(ContentError::Locked(_)) | Err(ContentError::IngestNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }

    for info in content.list()? {
        if mark.blobs.contains(&info.digest) || info.committed_at >= start {
            continue;
        }
        match content.delete(&info.digest) {
            Ok(()) => {
                report.bytes_freed += info.size;
                report.content_removed.push(info.digest);
            }
            Err(ContentError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

/// The mark phase's state: blobs reached from the roots, and the chain ids (snapshot names)
/// of every image config reached.
struct Mark<'a> {
    content: &'a ContentStore,
    blobs: HashSet<Digest>,
    chain_ids: HashSet<String>,
}

/// The fields of manifests, indexes and configs that reference other things. Parsed by shape,
/// not by media type: Docker and OCI name the same structures differently, and OCI manifests
/// may omit `mediaType`.
///
/// Every field is optional down to the digest: an image config's `config` is docker's container
/// config object (no digest), and a blob that fails to parse as a whole would hide its
/// `rootfs` and with it every snapshot of the image.
#[derive(Deserialize)]
struct References {
    #[serde(default)]
    manifests: Vec<Reference>,
    config: Option<Reference>,
    #[serde(default)]
    layers: Vec<Reference>,
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct Reference {
    digest: Option<Digest>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

impl Mark<'_> {
    /// Marks `digest` and everything it references (a missing or non-JSON blob references
    /// nothing: layers, or children of an index that were never pulled).
    fn walk(&mut self, digest: &Digest) -> Result<(), GcError> {
        let mut todo = vec![digest.clone()];
        while let Some(d) = todo.pop() {
            if !self.blobs.insert(d.clone()) {
                continue;
            }
            let info = match self.content.info(&d) {
                Ok(i) => i,
                Err(ContentError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            if info.size > MAX_JSON_BLOB {
                continue;
            }
            let reader = match self.content.reader(&d) {
                Ok(r) => r,
                Err(ContentError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            // A layer's first byte is never '{' (gzip, zstd or a tar header): skip it
            // without reading the whole blob.
            let mut first = [0u8; 1];
            if reader.read_at(&mut first, 0).unwrap_or(0) != 1 || first[0] != b'{' {
                continue;
            }
            let data = self.content.read_all(&d)?;
            let Ok(refs) = serde_json::from_slice::<References>(&data) else {
                continue;
            };
            todo.extend(refs.manifests.into_iter().filter_map(|r| r.digest));
            todo.extend(refs.config.into_iter().filter_map(|r| r.digest));
            todo.extend(refs.layers.into_iter().filter_map(|r| r.digest));
            if let Some(rootfs) = refs.rootfs {
                self.chain_ids
                    .extend(chain_ids(&rootfs.diff_ids).iter().map(Digest::to_string));
            }
        }
        Ok(())
    }
}

/// Removes the snapshots of `sn` that no root keeps, children before parents.
fn sweep_snapshots(
    sn: &dyn Snapshotter,
    chain_ids: &HashSet<String>,
    leased: &HashSet<(String, String)>,
    start: SystemTime,
    report: &mut GcReport,
) -> Result<(), GcError> {
    let all = sn.list()?;
    let by_key: HashMap<&str, &SnapshotInfo> = all.iter().map(|i| (i.key.as_str(), i)).collect();
    let mut keep: HashSet<&str> = HashSet::new();
    for info in &all {
        let rooted = chain_ids.contains(&info.key)
            || leased.contains(&(sn.name().to_string(), info.key.clone()))
            // Made or committed after the collection started: a pull in progress.
            || info.created_at >= start
            || info.updated_at >= start;
        if rooted {
            let mut next = Some(info.key.as_str());
            while let Some(k) = next {
                if !keep.insert(k) {
                    break;
                }
                next = by_key.get(k).and_then(|i| i.parent.as_deref());
            }
        }
    }
    let mut remaining: Vec<&SnapshotInfo> = all
        .iter()
        .filter(|i| !keep.contains(i.key.as_str()))
        .collect();
    while !remaining.is_empty() {
        let parents: HashSet<&str> = all
            .iter()
            .filter(|i| {
                !report
                    .snapshots_removed
                    .iter()
                    .any(|(s, k)| s == sn.name() && *k == i.key)
            })
            .filter_map(|i| i.parent.as_deref())
            .collect();
        let (leaves, rest): (Vec<&SnapshotInfo>, Vec<&SnapshotInfo>) = remaining
            .into_iter()
            .partition(|i| !parents.contains(i.key.as_str()));
        if leaves.is_empty() {
            break; // only parents of kept snapshots are left (cannot happen: parents are kept)
        }
        for info in leaves {
            let usage = sn.usage(&info.key).unwrap_or_default();
            match sn.remove(&info.key) {
                Ok(()) => {
                    report.bytes_freed += usage.size;
                    report
                        .snapshots_removed
                        .push((sn.name().to_string(), info.key.clone()));
                }
                // Gone meanwhile, or a child appeared meanwhile: leave it to the next run.
                Err(SnapshotError::NotFound(_)) | Err(SnapshotError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        remaining = rest;
    }
    Ok(())
}
