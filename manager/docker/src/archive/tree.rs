//! Writing a file tree as a tar stream, the way `docker export` and `docker cp` do: numeric
//! owners only (no user/group names: they mean nothing outside the container), xattrs as PAX
//! `SCHILY.xattr.*` records (the convention GNU tar, Go's archive/tar and moby use), hardlinks
//! as link entries to the first name seen, sockets left out (a tar cannot hold them).
//!
//! The walk goes through pinned descriptors ([`Node`]): each child is opened with
//! `O_NOFOLLOW` under its parent's descriptor, so a container process renaming or swapping
//! names under us can at worst make an entry vanish, never redirect the walk out of the tree.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::node::Node;
use super::ArchiveError;

/// Writes trees into one tar stream.
pub struct TreeWriter<W: Write> {
    builder: tar::Builder<W>,
    /// First tar name of every multiply-linked inode, for hardlink entries.
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Whether to descend into directories on another filesystem (mount points).
    cross_mounts: bool,
}

impl<W: Write> TreeWriter<W> {
    /// A writer on `out`. With `cross_mounts` false, a directory that is a mount point is
    /// written as an empty directory (`docker export` leaves volumes and kernel filesystems out).
    pub fn new(out: W, cross_mounts: bool) -> TreeWriter<W> {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        TreeWriter {
            builder,
            links: HashMap::new(),
            cross_mounts,
        }
    }

    /// Writes `node` named `tar_name` and, for a directory, everything under it. With
    /// `tar_name` empty the node itself (a directory) gets no entry and its children are
    /// named from the archive's root (`docker export`). `shown` names the node in errors.
    pub fn write_tree(
        &mut self,
        node: &Node,
        tar_name: &[u8],
        shown: &str,
    ) -> Result<(), ArchiveError> {
        let dev = node.meta.dev();
        self.write_node(node, tar_name, shown, dev)
    }

    /// Ends the archive and returns the writer.
    pub fn finish(self) -> Result<W, ArchiveError> {
        self.builder
            .into_inner()
            .map_err(|e| ArchiveError::io("write archive", "", e))
    }

    fn write_node(
        &mut self,
        node: &Node,
        tar_name: &[u8],
        shown: &str,
        root_dev: u64,
    ) -> Result<(), ArchiveError> {
        if !tar_name.is_empty() {
            self.entry(node, tar_name, shown)?;
        }
        if !node.meta.is_dir() || (!self.cross_mounts && node.meta.dev() != root_dev) {
            return Ok(());
        }
        let listing = std::fs::read_dir(node.proc_path())
            .map_err(|e| ArchiveError::io("read directory", shown, e))?;
        let mut names = Vec::new();
        for entry in listing {
            let entry = entry.map_err(|e| ArchiveError::io("read directory", shown, e))?;
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            let child_shown = format!("{}/{}", shown.trim_end_matches('/'), name.to_string_lossy());
            let child = match Node::open_at(node.fd.as_raw_fd(), &name) {
                Ok(c) => c,
                // Removed while we walked: a running container's files come and go.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(ArchiveError::io("open", &child_shown, e)),
            };
            let mut child_name = tar_name.to_vec();
            if !child_name.is_empty() && !child_name.ends_with(b"/") {
                child_name.push(b'/');
            }
            child_name.extend_from_slice(name.as_bytes());
            self.write_node(&child, &child_name, &child_shown, root_dev)?;
        }
        Ok(())
    }

    /// One entry with its metadata, xattrs and contents.
    fn entry(&mut self, node: &Node, tar_name: &[u8], shown: &str) -> Result<(), ArchiveError> {
        let meta = &node.meta;
        let ft = meta.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let err = |op: &'static str| move |e: io::Error| ArchiveError::io(op, shown, e);
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
                return self
                    .builder
                    .append_link(&mut h, path, first)
                    .map_err(err("write archive entry for"));
            }
            self.links.insert(key, tar_name.to_vec());
        }
        let xattrs = node.xattrs().map_err(err("read xattrs of"))?;
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
                .map_err(err("write archive entry for"))?;
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            let mut name = tar_name.to_vec();
            if !name.ends_with(b"/") {
                name.push(b'/');
            }
            self.builder
                .append_data(&mut h, Path::new(OsStr::from_bytes(&name)), io::empty())
                .map_err(err("write archive entry for"))
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            let size = meta.len();
            h.set_size(size);
            let file = node.reopen_read().map_err(err("open"))?;
            // Exactly `size` bytes whatever happens to the file meanwhile (a running container
            // may grow or truncate it): the header already promised that many.
            let data = file.take(size).chain(io::repeat(0)).take(size);
            self.builder
                .append_data(&mut h, path, data)
                .map_err(err("write archive entry for"))
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = node.read_link().map_err(err("read link"))?;
            self.builder
                .append_link(&mut h, path, Path::new(OsStr::from_bytes(&target)))
                .map_err(err("write archive entry for"))
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
                .map_err(err("write archive entry for"))?;
            h.set_device_minor(libc::minor(dev))
                .map_err(err("write archive entry for"))?;
            self.builder
                .append_data(&mut h, path, io::empty())
                .map_err(err("write archive entry for"))
        }
    }
}
