//! Writing a file tree as a tar stream, the way `docker export` and `docker cp` do, each
//! entry by the one entry writer ([`super::entry`]).
//!
//! The walk goes through pinned descriptors ([`Node`]): each child is opened with
//! `O_NOFOLLOW` under its parent's descriptor, so a container process renaming or swapping
//! names under us can at worst make an entry vanish, never redirect the walk out of the tree.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use super::entry::{EntrySource, EntryWriter, Xattr};
use super::node::Node;
use super::ArchiveError;

/// Writes trees into one tar stream.
pub struct TreeWriter<W: Write> {
    entries: EntryWriter<W>,
    /// Whether to descend into directories on another filesystem (mount points).
    cross_mounts: bool,
}

impl<W: Write> TreeWriter<W> {
    /// A writer on `out`. With `cross_mounts` false, a directory that is a mount point is
    /// written as an empty directory (`docker export` leaves volumes and kernel filesystems out).
    pub fn new(out: W, cross_mounts: bool) -> TreeWriter<W> {
        TreeWriter {
            entries: EntryWriter::new(out),
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
        self.entries
            .finish()
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
        self.entries
            .append(tar_name, &node.meta, node)
            .map_err(|e| ArchiveError::io(e.op, shown, e.source))
    }
}

/// A pinned node is read through its own descriptor.
impl EntrySource for Node {
    fn xattrs(&self) -> io::Result<Vec<Xattr>> {
        Node::xattrs(self)
    }

    fn open(&self) -> io::Result<std::fs::File> {
        self.reopen_read()
    }

    fn read_link(&self) -> io::Result<Vec<u8>> {
        Node::read_link(self)
    }
}
