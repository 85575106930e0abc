//! Image layers: applying a layer tar to a directory, and producing one from a snapshot.
//!
//! [`apply_tar`] reads an *uncompressed* layer tar (OCI image-spec layer.md) in one streaming
//! pass (so it can run while the compressed bytes still arrive from a registry) and returns its
//! diff ID (sha256 of the uncompressed stream) and size. It creates regular files, directories,
//! symlinks, hardlinks, character and block devices and fifos itself (the `tar` crate would
//! turn devices into empty files), with ownership (`lchown`), modes, xattrs (PAX
//! `SCHILY.xattr.*`) and mtimes (directories' after their contents). Deletions in the layer:
//! `.wh.<name>` removes `<name>`, `.wh..wh..opq` hides a directory's lower contents; see
//! [`WhiteoutStyle`] for how each is recorded.
//!
//! Safety: a layer never writes outside the target directory. Every path is resolved one
//! component at a time from a directory fd with `O_NOFOLLOW` (so a symlink planted by the
//! layer, `a -> /`, is never followed: `a/etc/passwd` fails), `..` and absolute paths are
//! rejected, and hardlink targets are resolved the same way inside the target. This is the
//! class of bug of CVE-2018-15664 / CVE-2019-14271 (docker cp) and runc CVE-2021-30465.
//!
//! Speed: the source is read on the caller's thread (in a pull that is where gzip or zstd
//! decompression runs) while a second thread hashes and applies, so the two overlap; files are
//! written with few syscalls each (see `apply.rs`) and never fsynced one by one: writeback
//! of each big file is started (not waited for) as soon as it is written, and
//! [`unpack_layer`] syncs the snapshot's filesystem once (`syncfs`) before recording the
//! commit.
//!
//! [`chain_ids`] computes the snapshot names of a layer stack; [`unpack_layer`] ties a
//! snapshotter and [`apply_tar`] together (through a scratch directory where the snapshotter
//! has them); [`unpack_detached`] and [`commit_detached`] unpack a layer before its parent is
//! committed and make it a snapshot afterwards (layers of one pull unpack in parallel); [`write_diff`] is the reverse (a snapshot's changes
//! as a layer tar), over the one walk of a snapshot's changes ([`changes`]), which berthd's
//! `docker diff` reads too.

mod apply;
pub mod changes;
mod diff;
pub(crate) mod xattrs;

use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::digest::Digest;
use crate::metadata::Labels;
use crate::snapshot::{SnapshotError, Snapshotter};
use berth_docker::archive::printable;

pub use apply::apply_tar;

use crate::snapshot::ApplyTarget;
pub use diff::{write_diff, write_diff_filtered, Keep};

/// A layer failure: which entry of the tar, or which path, and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Reading the tar stream failed (a truncated or corrupt archive, or the source's error).
    /// The tar reader's message quotes header bytes as they came: shown [`printable`].
    #[error("read layer tar: {}", printable(&.0.to_string()))]
    Read(io::Error),
    /// An entry would write outside the target (`..`, an absolute link target used as a
    /// path, a symlinked parent directory, a hardlink out of the tree).
    #[error("layer entry {entry:?}: {reason}: refusing to write outside {target}")]
    Escape {
        /// The entry's path in the tar.
        entry: String,
        /// What made it unsafe.
        reason: &'static str,
        /// The target directory.
        target: PathBuf,
    },
    /// An entry the layer format does not allow (unknown type, bad whiteout).
    #[error("layer entry {entry:?}: {reason}")]
    InvalidEntry {
        /// The entry's path in the tar.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Creating an entry failed.
    #[error("layer entry {entry:?}: {op} in {target}: {source}")]
    Io {
        /// The entry's path in the tar.
        entry: String,
        /// What was being done (`create`, `mknod`, `lchown`, ...).
        op: &'static str,
        /// The target directory.
        target: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The layer's diff ID is not the one the image config names.
    #[error("layer {chain_id}: diff id mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// The chain id being unpacked.
        chain_id: Digest,
        /// The diff id from the image config.
        expected: Digest,
        /// The digest of the uncompressed stream.
        actual: Digest,
    },
    /// Writing a diff failed.
    #[error("write layer diff of {path}: {source}")]
    Write {
        /// The file being archived.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A layer unpacked before its parent ([`unpack_detached`]) refers to the parent's tree
    /// (a hardlink to a lower file, a lower non-directory where the layer has a directory):
    /// it must be applied over the committed parent instead ([`unpack_layer`]).
    #[error("layer entry {entry:?}: {reason}: needs the parent layer unpacked first")]
    NeedsParent {
        /// The entry's path in the tar.
        entry: String,
        /// What it refers to.
        reason: String,
    },
    /// A snapshotter step failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// Not implemented yet.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

/// How an applied layer records deletions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhiteoutStyle {
    /// Into an overlayfs upperdir: a deleted name becomes a character device 0/0 and an
    /// opaque directory gets the `trusted.overlay.opaque=y` xattr (kernel
    /// Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories").
    Overlay,
    /// Into a full tree (native snapshotter, plain directories): deleted names are removed,
    /// an opaque directory is emptied.
    Delete,
}

/// Options of [`apply_tar`].
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    /// How deletions are recorded.
    pub whiteouts: WhiteoutStyle,
}

/// The result of applying a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// sha256 of the uncompressed tar stream: the layer's diff ID.
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar stream.
    pub size: u64,
}

/// The chain IDs of a layer stack (OCI image-spec config.md, "Layer ChainID"):
/// `ChainID(L0) = DiffID(L0)`, `ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Applies a layer tar to a snapshot's [`ApplyTarget`] (from
/// [`Snapshotter::apply_target`]): like [`apply_tar`], with the target's whiteout style and
/// its lower layers taken into account.
pub fn apply_to_snapshot<R: Read>(tar: R, target: &ApplyTarget) -> Result<Applied, LayerError> {
    apply::apply_tar_over(tar, &target.dir, target.whiteouts, &target.lowers)
}

/// Unpacks one layer as committed snapshot `chain_id` (its name is the chain id's string)
/// on top of committed snapshot `parent`: prepares active snapshot `extract_key`, applies `tar`
/// into it, checks the diff ID against `expected_diff_id` if given, and commits it. On any
/// failure the active snapshot is removed, so nothing half-made stays. If another unpack
/// committed `chain_id` meanwhile, the work is dropped and the existing snapshot kept.
/// Callers protect `extract_key` and `chain_id` from gc with a lease for the duration, and check
/// `stat(chain_id)` first to skip layers already unpacked. Files are not fsynced one by one;
/// the snapshot's filesystem is synced once (`syncfs`) before the commit is recorded, so a
/// committed snapshot never lacks data after a crash.
///
/// Where the snapshotter can ([`Snapshotter::prepare_scratch`]), the layer is applied into a
/// scratch directory that becomes the snapshot at commit, so no active snapshot record exists
/// while it unpacks and the files land in a fresh block group (see `snapshot/mod.rs`,
/// `spread_subdirectories`).
pub fn unpack_layer(
    snapshotter: &dyn Snapshotter,
    parent: Option<&str>,
    chain_id: &Digest,
    expected_diff_id: Option<&Digest>,
    extract_key: &str,
    tar: &mut dyn Read,
) -> Result<Applied, LayerError> {
    match snapshotter.prepare_scratch(parent) {
        Ok(scratch) => {
            let applied = match apply_checked(tar, &scratch.target, chain_id, expected_diff_id) {
                Ok(applied) => applied,
                Err(e) => {
                    let _ = snapshotter.remove_scratch(scratch);
                    return Err(e);
                }
            };
            commit_scratch(snapshotter, scratch, extract_key, chain_id)?;
            Ok(applied)
        }
        Err(SnapshotError::NotImplemented(_)) => unpack_into_active(
            snapshotter,
            parent,
            chain_id,
            expected_diff_id,
            extract_key,
            tar,
        ),
        Err(e) => Err(e.into()),
    }
}

/// Applies `tar` to `target`, checks its diff ID and makes the files durable.
fn apply_checked(
    tar: &mut dyn Read,
    target: &ApplyTarget,
    chain_id: &Digest,
    expected_diff_id: Option<&Digest>,
) -> Result<Applied, LayerError> {
    let applied = apply_to_snapshot(tar, target)?;
    check_diff_id(&applied, chain_id, expected_diff_id)?;
    sync_filesystem(&target.dir)?;
    Ok(applied)
}

fn check_diff_id(
    applied: &Applied,
    chain_id: &Digest,
    expected: Option<&Digest>,
) -> Result<(), LayerError> {
    match expected {
        Some(expected) if *expected != applied.diff_id => Err(LayerError::DiffIdMismatch {
            chain_id: chain_id.clone(),
            expected: expected.clone(),
            actual: applied.diff_id.clone(),
        }),
        _ => Ok(()),
    }
}

/// Commits a filled scratch directory as `chain_id`; another unpack having committed it
/// meanwhile is success (theirs is as good as ours).
fn commit_scratch(
    snapshotter: &dyn Snapshotter,
    scratch: crate::snapshot::Scratch,
    extract_key: &str,
    chain_id: &Digest,
) -> Result<(), LayerError> {
    match snapshotter.commit_scratch(scratch, extract_key, &chain_id.to_string(), &Labels::new()) {
        Ok(()) | Err(SnapshotError::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// [`unpack_layer`] for snapshotters without scratch directories: prepare, apply, commit.
fn unpack_into_active(
    snapshotter: &dyn Snapshotter,
    parent: Option<&str>,
    chain_id: &Digest,
    expected_diff_id: Option<&Digest>,
    extract_key: &str,
    tar: &mut dyn Read,
) -> Result<Applied, LayerError> {
    let labels = Labels::new();
    snapshotter.prepare(extract_key, parent, &labels)?;
    let result = (|| {
        let target = snapshotter.apply_target(extract_key)?;
        apply_checked(tar, &target, chain_id, expected_diff_id)
    })();
    let applied = match result {
        Ok(a) => a,
        Err(e) => {
            let _ = snapshotter.remove(extract_key);
            return Err(e);
        }
    };
    match snapshotter.commit(&chain_id.to_string(), extract_key, &labels) {
        Ok(()) => Ok(applied),
        Err(SnapshotError::AlreadyExists(_)) => {
            // Another pull unpacked the same layer meanwhile: theirs is as good as ours.
            let _ = snapshotter.remove(extract_key);
            Ok(applied)
        }
        Err(e) => {
            let _ = snapshotter.remove(extract_key);
            Err(e.into())
        }
    }
}

/// A layer unpacked before its parent snapshot was committed ([`unpack_detached`]): its
/// files wait in a scratch directory, with what must be checked against the parent's tree
/// once that exists ([`commit_detached`]).
#[derive(Debug)]
pub struct DetachedLayer {
    scratch: crate::snapshot::Scratch,
    chain_id: Digest,
    /// What the stream was.
    pub applied: Applied,
    /// Parent directories the layer did not list (created `0755 root:root`).
    implicit_dirs: Vec<Vec<u8>>,
}

/// Unpacks layer `chain_id` while its parent is still unpacking (overlay-style snapshotters
/// only: [`Snapshotter::prepare_scratch`]): an upperdir holds only the layer's own changes,
/// so almost nothing depends on the parent. Checks the diff ID and makes the files durable.
/// Fails with [`LayerError::NeedsParent`] if the layer refers to the parent's files (a
/// hardlink to one): the caller then unpacks it with [`unpack_layer`] once the parent is
/// committed. Nothing stays behind on failure.
pub fn unpack_detached(
    snapshotter: &dyn Snapshotter,
    chain_id: &Digest,
    expected_diff_id: Option<&Digest>,
    tar: &mut dyn Read,
) -> Result<DetachedLayer, LayerError> {
    let scratch = snapshotter.prepare_scratch(None)?;
    let result = (|| {
        let (applied, implicit_dirs) = apply::apply_tar_detached(tar, &scratch.target.dir)?;
        check_diff_id(&applied, chain_id, expected_diff_id)?;
        sync_filesystem(&scratch.target.dir)?;
        Ok((applied, implicit_dirs))
    })();
    match result {
        Ok((applied, implicit_dirs)) => Ok(DetachedLayer {
            scratch,
            chain_id: chain_id.clone(),
            applied,
            implicit_dirs,
        }),
        Err(e) => {
            let _ = snapshotter.remove_scratch(scratch);
            Err(e)
        }
    }
}

/// Commits a detached layer as its snapshot on `parent` (now committed): directories the
/// layer created without an entry get their lower counterpart's owner and mode (as when
/// applied over the parent), then the scratch directory becomes the snapshot (recorded as
/// active `extract_key`, committed as the chain ID). [`LayerError::NeedsParent`] when the
/// parent's tree conflicts (a lower non-directory under a directory of the layer): the
/// caller unpacks the layer over the parent instead, which judges it. The scratch directory
/// is gone after the call, whatever the outcome.
pub fn commit_detached(
    snapshotter: &dyn Snapshotter,
    mut layer: DetachedLayer,
    parent: Option<&str>,
    extract_key: &str,
) -> Result<Applied, LayerError> {
    let prepared = (|| {
        snapshotter.rebase_scratch(&mut layer.scratch, parent)?;
        apply::adopt_implicit_dirs(
            &layer.scratch.target.dir,
            &layer.scratch.target.lowers,
            &layer.implicit_dirs,
        )?;
        if !layer.implicit_dirs.is_empty() {
            sync_filesystem(&layer.scratch.target.dir)?;
        }
        Ok(())
    })();
    if let Err(e) = prepared {
        let _ = snapshotter.remove_scratch(layer.scratch);
        return Err(e);
    }
    commit_scratch(snapshotter, layer.scratch, extract_key, &layer.chain_id)?;
    Ok(layer.applied)
}

/// Drops a detached layer that will not be committed.
pub fn discard_detached(snapshotter: &dyn Snapshotter, layer: DetachedLayer) {
    let _ = snapshotter.remove_scratch(layer.scratch);
}

/// `syncfs` of the filesystem holding `dir`: one call flushes every file a layer wrote
/// (instead of an fsync per file).
fn sync_filesystem(dir: &std::path::Path) -> Result<(), LayerError> {
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| LayerError::Io {
        entry: String::new(),
        op: "open for syncfs",
        target: dir.to_path_buf(),
        source: e.into(),
    })?;
    rustix::fs::syncfs(&fd).map_err(|e| LayerError::Io {
        entry: String::new(),
        op: "syncfs",
        target: dir.to_path_buf(),
        source: e.into(),
    })
}

/// Writes the changes of active snapshot `key` against its parent to `out` as a layer tar
/// (deletions as `.wh.` entries) and returns its diff ID and size. See [`write_diff`].
pub fn snapshot_diff(
    snapshotter: &dyn Snapshotter,
    key: &str,
    out: &mut dyn Write,
) -> Result<Applied, LayerError> {
    let (lowers, upper) = snapshotter.diff_dirs(key)?;
    write_diff(&lowers, &upper.dir, upper.whiteouts, out)
}

#[cfg(test)]
mod printable_tests {
    use super::*;

    #[test]
    fn control_bytes_of_a_tar_header_are_escaped() {
        assert_eq!(printable("plain path é"), "plain path é");
        let e = LayerError::Read(io::Error::new(
            io::ErrorKind::InvalidData,
            "numeric field was not a number: \u{1}\u{2} when getting size for evil\u{1b}[31m\0",
        ));
        let shown = e.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.ends_with("evil\\u{1b}[31m\\0"), "{shown}");
    }
}
