//! [`write_diff`]: a snapshot's own changes as a layer tar.
//!
//! Entries are written in sorted path order, so the same tree always gives the same diff ID.
//! Times are whole seconds (ustar/GNU headers), owners numeric, xattrs as PAX
//! `SCHILY.xattr.*` records (except `trusted.overlay.*`, which is overlayfs's own bookkeeping).

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::layer::changes::{self, join, Event, WalkError};
use crate::layer::xattrs::Xattr;
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
    let mut w = DiffWriter {
        builder: tar::Builder::new(hashing),
        links: HashMap::new(),
    };
    changes::walk(lowers, upper, style, &mut |event| match event {
        Event::Entry {
            rel,
            host,
            meta,
            opaque,
            ..
        } => {
            w.entry(host, rel, meta)?;
            if opaque {
                w.whiteout(rel, b".wh..opq", host)?;
            }
            Ok(())
        }
        Event::Deleted { dir, name, host } => w.whiteout(dir, name, host),
        Event::HoldsChanges { .. } => Ok(()),
    })?;
    let hashing = w.builder.into_inner().map_err(|e| write_err(upper, e))?;
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

/// The xattrs of `path` a layer carries.
fn xattrs(path: &Path) -> Result<Vec<Xattr>, LayerError> {
    crate::layer::xattrs::of_path(path).map_err(|e| write_err(path, e))
}

struct DiffWriter<'a> {
    builder: tar::Builder<HashingWriter<'a>>,
    /// First tar path of each multiply-linked inode, for hardlink entries.
    links: HashMap<(u64, u64), String>,
}

impl DiffWriter<'_> {
    /// A `.wh.<name>` entry in directory `prefix`.
    fn whiteout(&mut self, prefix: &str, name: &[u8], at: &Path) -> Result<(), LayerError> {
        let mut wh = b".wh.".to_vec();
        wh.extend_from_slice(name);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        h.set_mtime(0);
        self.builder
            .append_data(&mut h, join(prefix, &wh), io::empty())
            .map_err(|e| write_err(at, e))
    }

    /// One entry with its metadata, contents and xattrs.
    fn entry(&mut self, path: &Path, tar_path: &str, meta: &Metadata) -> Result<(), LayerError> {
        let xattrs = xattrs(path)?;
        if !xattrs.is_empty() {
            let records: Vec<(String, &[u8])> = xattrs
                .iter()
                .map(|(k, v)| {
                    (
                        format!("SCHILY.xattr.{}", String::from_utf8_lossy(k)),
                        v.as_slice(),
                    )
                })
                .collect();
            self.builder
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
                .map_err(|e| write_err(path, e))?;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(meta.uid() as u64);
        h.set_gid(meta.gid() as u64);
        h.set_mtime(meta.mtime().max(0) as u64);
        h.set_size(0);
        let ft = meta.file_type();
        let err = |e| write_err(path, e);
        if !ft.is_dir() && meta.nlink() > 1 {
            if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                return self
                    .builder
                    .append_link(&mut h, tar_path, first)
                    .map_err(err);
            }
            self.links
                .insert((meta.dev(), meta.ino()), tar_path.to_string());
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            self.builder
                .append_data(&mut h, format!("{tar_path}/"), io::empty())
                .map_err(err)
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            let file = std::fs::File::open(path).map_err(err)?;
            self.builder
                .append_data(&mut h, tar_path, file)
                .map_err(err)
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = std::fs::read_link(path).map_err(err)?;
            self.builder
                .append_link(&mut h, tar_path, target)
                .map_err(err)
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else if ft.is_fifo() {
                tar::EntryType::Fifo
            } else {
                return Ok(()); // sockets do not go into layers
            };
            h.set_entry_type(kind);
            let dev = meta.rdev();
            h.set_device_major(rustix::fs::major(dev)).map_err(err)?;
            h.set_device_minor(rustix::fs::minor(dev)).map_err(err)?;
            self.builder
                .append_data(&mut h, tar_path, io::empty())
                .map_err(err)
        }
    }
}
