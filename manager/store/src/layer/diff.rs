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
    let hashing = HashingWriter {
        inner: out,
        hasher: Sha256::new(),
        size: 0,
    };
    let mut w = EntryWriter::new(hashing);
    changes::walk(lowers, upper, style, &mut |event| match event {
        Event::Entry {
            rel,
            host,
            meta,
            opaque,
            ..
        } => {
            entry(&mut w, host, rel, meta)?;
            if opaque {
                whiteout(&mut w, rel, b".wh..opq", host)?;
            }
            Ok(())
        }
        Event::Deleted { dir, name, host } => whiteout(&mut w, dir, name, host),
        Event::HoldsChanges { .. } => Ok(()),
    })?;
    let hashing = w.finish().map_err(|e| write_err(upper, e))?;
    Ok(Applied {
        diff_id: Digest::from_sha256(hashing.hasher),
        size: hashing.size,
    })
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

/// A `.wh.<name>` entry in directory `prefix`.
fn whiteout<W: Write>(
    w: &mut EntryWriter<W>,
    prefix: &str,
    name: &[u8],
    at: &Path,
) -> Result<(), LayerError> {
    let mut wh = b".wh.".to_vec();
    wh.extend_from_slice(name);
    w.append_marker(join(prefix, &wh).as_bytes())
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
