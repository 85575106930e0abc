//! The one tar entry writer: a file's header, PAX xattrs and contents, as `docker cp`,
//! `docker export` ([`super::tree::TreeWriter`]) and layer diffs (berth-store's `write_diff`)
//! all write them: numeric owners only, whole-second times, xattrs as PAX `SCHILY.xattr.*`
//! records (the convention GNU tar, Go's archive/tar and moby use), hardlinks as link
//! entries to the first name seen (the first entry carries the inode's xattrs), directories
//! named with a trailing `/`, sockets left out (a tar cannot hold them).
//!
//! What the entry is made from is the caller's: an [`EntrySource`] opens the file, reads its
//! link target and lists its xattrs, through a pinned descriptor inside a container's tree
//! (cp, export) or by path inside a snapshot berthd owns (layer diffs).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// One extended attribute: name and value.
pub type Xattr = (Vec<u8>, Vec<u8>);

/// What the writer reads of a file besides its metadata, only for the entry kinds that
/// need it.
pub trait EntrySource {
    /// The xattrs that go into the archive.
    fn xattrs(&self) -> io::Result<Vec<Xattr>>;
    /// The contents of a regular file.
    fn open(&self) -> io::Result<File>;
    /// The target of a symlink.
    fn read_link(&self) -> io::Result<Vec<u8>>;
}

/// Why an entry could not be written: the step (`read xattrs of`, `open`, `read link`,
/// `write archive entry for`) and its error; the caller names the file.
#[derive(Debug)]
pub struct EntryError {
    pub op: &'static str,
    pub source: io::Error,
}

fn step(op: &'static str) -> impl FnOnce(io::Error) -> EntryError {
    move |source| EntryError { op, source }
}

/// Writes entries into one tar stream.
pub struct EntryWriter<W: Write> {
    builder: tar::Builder<W>,
    /// First tar name of every multiply-linked inode, for hardlink entries.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> EntryWriter<W> {
    /// A writer on `out`.
    pub fn new(out: W) -> EntryWriter<W> {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        EntryWriter {
            builder,
            links: HashMap::new(),
        }
    }

    /// An empty regular file entry with time 0 (a layer's whiteout): `mode`, `uid` and
    /// `gid` as docker gives them (moby's overlay whiteout converter: 0600 and the
    /// whiteout device's owner; an opaque marker takes its directory's).
    pub fn append_marker(
        &mut self,
        tar_name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_size(0);
        h.set_mtime(0);
        self.builder
            .append_data(&mut h, Path::new(OsStr::from_bytes(tar_name)), io::empty())
    }

    /// Ends the archive and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }

    /// One entry named `tar_name` for the file `meta` describes.
    pub fn append(
        &mut self,
        tar_name: &[u8],
        meta: &Metadata,
        source: &dyn EntrySource,
    ) -> Result<(), EntryError> {
        let ft = meta.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let write = step("write archive entry for");
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(meta.uid() as u64);
        h.set_gid(meta.gid() as u64);
        h.set_mtime(meta.mtime().max(0) as u64);
        h.set_size(0);
        let path = Path::new(OsStr::from_bytes(tar_name));
        if !ft.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                let first = Path::new(OsStr::from_bytes(first)).to_path_buf();
                return self.builder.append_link(&mut h, path, first).map_err(write);
            }
            self.links.insert(key, tar_name.to_vec());
        }
        let xattrs = source.xattrs().map_err(step("read xattrs of"))?;
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
                .map_err(step("write archive entry for"))?;
        }
        let write = step("write archive entry for");
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            let mut name = tar_name.to_vec();
            if !name.ends_with(b"/") {
                name.push(b'/');
            }
            self.builder
                .append_data(&mut h, Path::new(OsStr::from_bytes(&name)), io::empty())
                .map_err(write)
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            let size = meta.len();
            h.set_size(size);
            let file = source.open().map_err(step("open"))?;
            // Exactly `size` bytes whatever happens to the file meanwhile (a running
            // container may grow or truncate it): the header already promised that many.
            let data = file.take(size).chain(io::repeat(0)).take(size);
            self.builder.append_data(&mut h, path, data).map_err(write)
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = source.read_link().map_err(step("read link"))?;
            self.builder
                .append_link(&mut h, path, Path::new(OsStr::from_bytes(&target)))
                .map_err(write)
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            h.set_entry_type(kind);
            let dev = meta.rdev();
            h.set_device_major(libc::major(dev))
                .map_err(step("write archive entry for"))?;
            h.set_device_minor(libc::minor(dev))
                .map_err(step("write archive entry for"))?;
            self.builder
                .append_data(&mut h, path, io::empty())
                .map_err(write)
        }
    }
}
