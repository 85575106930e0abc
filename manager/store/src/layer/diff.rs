//! [`write_diff`]: a snapshot's own changes as a layer tar.
//!
//! Entries are written in sorted path order, so the same tree always gives the same diff ID,
//! each by the one tar entry writer `docker cp` and `export` use too
//! (`berth_docker::archive::entry`): times in whole seconds, owners numeric, xattrs as PAX
//! `SCHILY.xattr.*` records (except `trusted.overlay.*`, which is overlayfs's own
//! bookkeeping), hardlinks as links to the first name.

use std::fs::Metadata;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use berth_docker::archive::entry::{EntrySource, EntryWriter, Xattr};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::layer::changes::{self, join, Event, WalkError};
use crate::layer::{Applied, LayerError, WhiteoutStyle};

/// Writes the changes in `upper` relative to the tree made of `lowers` (nearest first) as a
/// layer tar to `out`. With [`WhiteoutStyle::Overlay`], `upper` is an overlay upperdir: its
/// whiteout devices become `.wh.<name>` entries and opaque directories get `.wh..wh..opq`.
/// With [`WhiteoutStyle::Delete`], `upper` is a full tree compared file by file with the
/// lower tree (names missing from it become `.wh.` entries). Returns the diff ID and size.
pub fn write_diff(
    lowers: &[PathBuf],
    upper: &Path,
    style: WhiteoutStyle,
    out: &mut dyn Write,
) -> Result<Applied, LayerError> {
    write_diff_filtered(lowers, upper, style, &|_, _| Keep::Entry, out)
}

/// What a layer keeps of one change ([`write_diff_filtered`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// The entry is written.
    Entry,
    /// Neither the entry nor anything under it is written.
    Skip,
    /// A directory written only when something under it is (it is in the upper tree only
    /// because something was made inside it that the layer leaves out).
    IfHolding,
}

/// [`write_diff`], asking `keep` about every change first: its path under the snapshot's
/// root (`etc/hosts`) and its metadata (none for a deletion). A container commit leaves
/// out the mount targets the runtime made (docker keeps those in its "init" layer).
pub fn write_diff_filtered(
    lowers: &[PathBuf],
    upper: &Path,
    style: WhiteoutStyle,
    keep: &dyn Fn(&str, Option<&Metadata>) -> Keep,
    out: &mut dyn Write,
) -> Result<Applied, LayerError> {
    let hashing = HashingWriter {
        inner: out,
        hasher: Sha256::new(),
        size: 0,
    };
    let mut w = EntryWriter::new(hashing);
    let mut filter = Filter::default();
    changes::walk(lowers, upper, style, &mut |event| match event {
        Event::Entry {
            rel,
            host,
            meta,
            opaque,
            ..
        } => {
            if !filter.admit(
                rel,
                keep(rel, Some(meta)),
                meta.is_dir(),
                host,
                meta,
                opaque,
            ) {
                return Ok(());
            }
            filter.flush(&mut w)?;
            entry(&mut w, host, rel, meta)?;
            if opaque {
                opaque_marker(&mut w, rel, meta, host)?;
            }
            Ok(())
        }
        Event::Deleted { dir, name, host } => {
            let rel = join(dir, name);
            filter.leave_to(&rel);
            if filter.skipped(&rel) || keep(&rel, None) == Keep::Skip {
                return Ok(());
            }
            filter.flush(&mut w)?;
            whiteout(&mut w, dir, name, host)
        }
        Event::HoldsChanges { .. } => Ok(()),
    })?;
    let hashing = w.finish().map_err(|e| write_err(upper, e))?;
    Ok(Applied {
        diff_id: Digest::from_sha256(hashing.hasher),
        size: hashing.size,
    })
}

/// The state of [`write_diff_filtered`]'s filter over a pre-order walk: the subtree being
/// skipped, and the held directories ([`Keep::IfHolding`]) above the current entry, written
/// when an entry under them is.
#[derive(Default)]
struct Filter {
    skipping: Option<String>,
    held: Vec<(String, PathBuf, Metadata, bool)>,
}

/// Whether `path` is `dir` or under it (relative paths, `/`-separated).
fn within(path: &str, dir: &str) -> bool {
    path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

impl Filter {
    /// Forgets the held directories `rel` is not under (the walk has left them).
    fn leave_to(&mut self, rel: &str) {
        while self.held.last().is_some_and(|(d, ..)| !within(rel, d)) {
            self.held.pop();
        }
    }

    fn skipped(&mut self, rel: &str) -> bool {
        match &self.skipping {
            Some(s) if within(rel, s) => true,
            _ => {
                self.skipping = None;
                false
            }
        }
    }

    /// Whether the entry at `rel` is written now (after [`Filter::flush`]); a held one is
    /// kept for later.
    fn admit(
        &mut self,
        rel: &str,
        keep: Keep,
        is_dir: bool,
        host: &Path,
        meta: &Metadata,
        opaque: bool,
    ) -> bool {
        self.leave_to(rel);
        if self.skipped(rel) {
            return false;
        }
        match keep {
            Keep::Entry => true,
            Keep::Skip => {
                self.skipping = Some(rel.to_string());
                false
            }
            Keep::IfHolding if is_dir => {
                self.held
                    .push((rel.to_string(), host.to_path_buf(), meta.clone(), opaque));
                false
            }
            Keep::IfHolding => false,
        }
    }

    /// Writes the held directories (the entry about to be written is under them).
    fn flush<W: Write>(&mut self, w: &mut EntryWriter<W>) -> Result<(), LayerError> {
        for (rel, host, meta, opaque) in self.held.drain(..) {
            entry(w, &host, &rel, &meta)?;
            if opaque {
                opaque_marker(w, &rel, &meta, &host)?;
            }
        }
        Ok(())
    }
}

struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    hasher: Sha256,
    size: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_err(path: &Path, source: io::Error) -> LayerError {
    LayerError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// A failed walk is a failed diff of the file it was at.
impl From<WalkError> for LayerError {
    fn from(e: WalkError) -> LayerError {
        write_err(&e.path, e.source)
    }
}

/// A file of the snapshot, read by path (berthd owns the snapshot dirs).
struct SnapshotFile<'a>(&'a Path);

impl EntrySource for SnapshotFile<'_> {
    /// The xattrs a layer carries (not overlayfs's `trusted.overlay.*`).
    fn xattrs(&self) -> io::Result<Vec<Xattr>> {
        crate::layer::xattrs::of_path(self.0)
    }

    fn open(&self) -> io::Result<std::fs::File> {
        std::fs::File::open(self.0)
    }

    fn read_link(&self) -> io::Result<Vec<u8>> {
        Ok(std::fs::read_link(self.0)?.into_os_string().into_vec())
    }
}

/// A `.wh.<name>` entry in directory `prefix` for a deleted name (docker: mode 0600, the
/// owner of the overlay whiteout device `at/<name>` when there is one, else root).
fn whiteout<W: Write>(
    w: &mut EntryWriter<W>,
    prefix: &str,
    name: &[u8],
    at: &Path,
) -> Result<(), LayerError> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let device = at.join(std::ffi::OsStr::from_bytes(name));
    let (uid, gid) = std::fs::symlink_metadata(&device)
        .ok()
        .filter(changes::is_whiteout)
        .map_or((0, 0), |m| (m.uid(), m.gid()));
    marker(w, prefix, name, (0o600, uid, gid), at)
}

/// The `.wh..wh..opq` entry of opaque directory `dir` (docker: the directory's permission
/// bits and owner).
fn opaque_marker<W: Write>(
    w: &mut EntryWriter<W>,
    dir: &str,
    meta: &Metadata,
    at: &Path,
) -> Result<(), LayerError> {
    use std::os::unix::fs::MetadataExt;
    marker(
        w,
        dir,
        b".wh..opq",
        (meta.mode() & 0o777, meta.uid(), meta.gid()),
        at,
    )
}

fn marker<W: Write>(
    w: &mut EntryWriter<W>,
    prefix: &str,
    name: &[u8],
    (mode, uid, gid): (u32, u32, u32),
    at: &Path,
) -> Result<(), LayerError> {
    let mut wh = b".wh.".to_vec();
    wh.extend_from_slice(name);
    w.append_marker(join(prefix, &wh).as_bytes(), mode, uid, gid)
        .map_err(|e| write_err(at, e))
}

/// One entry with its metadata, contents and xattrs.
fn entry<W: Write>(
    w: &mut EntryWriter<W>,
    path: &Path,
    tar_path: &str,
    meta: &Metadata,
) -> Result<(), LayerError> {
    w.append(tar_path.as_bytes(), meta, &SnapshotFile(path))
        .map_err(|e| write_err(path, e.source))
}
