//! The one walk of a snapshot's own changes against the layers below it, read by both
//! things that need them: [`write_diff`](super::write_diff) (a layer tar of the changes:
//! image commit and export of a container's layer) and berthd's `docker diff` (the list of
//! `A`/`C`/`D` lines). Both used to walk the directories themselves, with two comparisons
//! of "the same file" that could drift apart; now what counts as a change is decided here.
//!
//! Two layouts, one per [`WhiteoutStyle`]:
//!
//! * **overlay upperdir** ([`WhiteoutStyle::Overlay`]): every entry of the upperdir is
//!   reported, in sorted pre-order, as [`Event::Entry`] (with `opaque` for a directory
//!   marked `trusted.overlay.opaque=y`), except whiteout devices (character device 0/0),
//!   which are [`Event::Deleted`]. Nothing below is looked at: a layer carries every upper
//!   entry, and `docker diff` looks its entries up in the lower layers itself.
//! * **full tree** ([`WhiteoutStyle::Delete`], the native snapshotter): the tree is compared
//!   with the parent's full tree (the first lower), directory by directory in sorted order:
//!   names only the parent has are [`Event::Deleted`] (first, so a layer's whiteouts come
//!   before its new entries), names new or different ([`same_entry`]) are
//!   [`Event::Entry`] with the parent's metadata if it had the name, and a directory that
//!   is not itself different but holds changes is [`Event::HoldsChanges`] after them.
//!
//! Symlinks are never followed; xattrs are compared without overlayfs's own
//! (`trusted.overlay.*`).

use std::collections::HashMap;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::xattrs::{self, Xattr};
use super::WhiteoutStyle;

/// A file system call of the walk failed: `op` on `path`.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct WalkError {
    /// What was being done (`read directory`, `stat`, `read link`, `read xattrs of`).
    pub op: &'static str,
    /// The host path.
    pub path: PathBuf,
    /// The error.
    pub source: io::Error,
}

/// berthd's `docker diff` reports a failed walk as the archive error it is.
impl From<WalkError> for berth_docker::archive::ArchiveError {
    fn from(e: WalkError) -> Self {
        berth_docker::archive::ArchiveError::io(e.op, e.path.display().to_string(), e.source)
    }
}

fn walk_err<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> WalkError + 'p {
    move |source| WalkError {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One change found by [`walk`]. Paths are relative to the snapshot's root, without a
/// leading `/` (`etc/hosts`; empty for the root's own entries' directory).
#[derive(Debug)]
pub enum Event<'a> {
    /// An entry of the upper tree (see the module doc for which ones). `lower` is the
    /// parent tree's entry of the same name when it has one (full-tree style only; always
    /// `None` for an overlay upperdir).
    Entry {
        /// Its path under the snapshot's root.
        rel: &'a str,
        /// Its host path in the upper tree.
        host: &'a Path,
        /// Its metadata (symlinks not followed).
        meta: &'a Metadata,
        /// The parent tree's entry of the same name (full-tree style only).
        lower: Option<&'a Metadata>,
        /// An overlay directory that hides what the layers below hold under it.
        opaque: bool,
    },
    /// `name` in directory `dir` is gone (a whiteout device, or a name only the parent has).
    /// `host` is the upper directory it was found in (for messages).
    Deleted {
        /// The directory's path under the snapshot's root.
        dir: &'a str,
        /// The name that is gone.
        name: &'a [u8],
        /// The upper directory it was found in.
        host: &'a Path,
    },
    /// A full-tree directory that did not change itself but holds changes.
    HoldsChanges {
        /// Its path under the snapshot's root.
        rel: &'a str,
    },
}

/// Walks the changes of `upper` against `lowers` (nearest first; only the first is read,
/// and only in full-tree style), calling `visit` for each, in order.
pub fn walk<E: From<WalkError>>(
    lowers: &[PathBuf],
    upper: &Path,
    style: WhiteoutStyle,
    visit: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
) -> Result<(), E> {
    match style {
        WhiteoutStyle::Overlay => overlay_dir(upper, "", visit),
        WhiteoutStyle::Delete => {
            compare_dir(lowers.first().map(PathBuf::as_path), upper, "", visit).map(drop)
        }
    }
}

/// An entry of a host directory: name, host path, metadata (symlinks not followed).
type DirEntry = (Vec<u8>, PathBuf, Metadata);

/// The entries of a host directory, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<DirEntry>, WalkError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(walk_err("read directory", dir))? {
        let entry = entry.map_err(walk_err("read directory", dir))?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(walk_err("stat", &path))?;
        out.push((entry.file_name().as_bytes().to_vec(), path, meta));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// `prefix/name`, or `name` at the root.
pub(crate) fn join(prefix: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if prefix.is_empty() {
        name.into_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Whether an overlay entry is a whiteout (a character device 0/0).
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether an overlay directory is opaque (`trusted.overlay.opaque=y`).
pub fn is_opaque(path: &Path) -> bool {
    let mut value = [0u8; 2];
    rustix::fs::lgetxattr(path, "trusted.overlay.opaque", &mut value[..])
        .is_ok_and(|n| n == 1 && value[0] == b'y')
}

fn overlay_dir<E: From<WalkError>>(
    dir: &Path,
    prefix: &str,
    visit: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for (name, path, meta) in sorted_entries(dir)? {
        if is_whiteout(&meta) {
            visit(Event::Deleted {
                dir: prefix,
                name: &name,
                host: dir,
            })?;
            continue;
        }
        let rel = join(prefix, &name);
        let opaque = meta.is_dir() && is_opaque(&path);
        visit(Event::Entry {
            rel: &rel,
            host: &path,
            meta: &meta,
            lower: None,
            opaque,
        })?;
        // Unchanged directories too: what is under them may have changed.
        if meta.is_dir() {
            overlay_dir(&path, &rel, visit)?;
        }
    }
    Ok(())
}

/// Compares a full tree with its parent's (none: empty). Returns whether anything was
/// reported under `upper`.
fn compare_dir<E: From<WalkError>>(
    lower: Option<&Path>,
    upper: &Path,
    prefix: &str,
    visit: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
) -> Result<bool, E> {
    let ups = sorted_entries(upper)?;
    let lows = match lower {
        Some(l) => sorted_entries(l)?,
        None => Vec::new(),
    };
    let up_names: std::collections::HashSet<&[u8]> =
        ups.iter().map(|(n, _, _)| n.as_slice()).collect();
    let mut reported = false;
    for (name, _, _) in &lows {
        if !up_names.contains(name.as_slice()) {
            visit(Event::Deleted {
                dir: prefix,
                name,
                host: upper,
            })?;
            reported = true;
        }
    }
    let low_by_name: HashMap<&[u8], (&PathBuf, &Metadata)> = lows
        .iter()
        .map(|(n, p, m)| (n.as_slice(), (p, m)))
        .collect();
    for (name, path, meta) in &ups {
        let rel = join(prefix, name);
        let low = low_by_name.get(name.as_slice()).copied();
        let same = match low {
            Some((lp, lm)) => same_entry(lp, lm, path, meta)?,
            None => false,
        };
        if !same {
            visit(Event::Entry {
                rel: &rel,
                host: path,
                meta,
                lower: low.map(|(_, lm)| lm),
                opaque: false,
            })?;
            reported = true;
        }
        if meta.is_dir() {
            let lower_dir = low
                .filter(|(_, lm)| lm.is_dir())
                .map(|(lp, _)| lp.as_path());
            let inner = compare_dir(lower_dir, path, &rel, visit)?;
            if inner && same {
                visit(Event::HoldsChanges { rel: &rel })?;
            }
            reported |= inner;
        }
    }
    Ok(reported)
}

/// Whether two entries are the same as far as a layer or `docker diff` can tell (moby's
/// `statDifferent`, plus symlink targets and xattrs, where file capabilities live): type and
/// mode, owner, device number, and for non-directories size and mtime (to the nanosecond:
/// copies keep it; a directory's size and mtime change with what it holds, moby issue 9874).
pub fn same_entry(lp: &Path, lm: &Metadata, up: &Path, um: &Metadata) -> Result<bool, WalkError> {
    if lm.file_type() != um.file_type()
        || lm.mode() != um.mode()
        || lm.uid() != um.uid()
        || lm.gid() != um.gid()
        || lm.rdev() != um.rdev()
        || (!um.is_dir()
            && (lm.len() != um.len()
                || lm.mtime() != um.mtime()
                || lm.mtime_nsec() != um.mtime_nsec()))
    {
        return Ok(false);
    }
    if um.file_type().is_symlink() {
        let a = std::fs::read_link(lp).map_err(walk_err("read link", lp))?;
        let b = std::fs::read_link(up).map_err(walk_err("read link", up))?;
        if a != b {
            return Ok(false);
        }
    }
    Ok(sorted_xattrs(lp)? == sorted_xattrs(up)?)
}

/// The xattrs of a path (not following a symlink), overlayfs's own left out, sorted so that
/// two files with the same set compare equal.
fn sorted_xattrs(path: &Path) -> Result<Vec<Xattr>, WalkError> {
    let mut all = xattrs::of_path(path).map_err(walk_err("read xattrs of", path))?;
    all.sort();
    Ok(all)
}
