//! `docker export`: the container's whole mounted root filesystem as one tar.
//!
//! The rootfs is the merged view, so there are no whiteouts to translate. Entries are named
//! from the root without a leading `./` and without an entry for the root itself (what
//! `docker export` writes); owners are numeric, xattrs travel as PAX records (see
//! [`tree`](super::tree)). Mount points under the rootfs (volumes seen through
//! `/proc/<pid>/root`, or anything mounted on the host view) are written as empty
//! directories: docker exports the container's own filesystem, never its volumes.

use std::io::Write;
use std::path::Path;

use super::copy_out::open_root;
use super::node::Node;
use super::tree::TreeWriter;
use super::ArchiveError;

/// Writes the rootfs at `rootfs` to `out` as one tar.
pub fn export(rootfs: &Path, out: &mut dyn Write) -> Result<(), ArchiveError> {
    let root = open_root(rootfs)?;
    let top = root
        .open_in_root("/", libc::O_PATH | libc::O_DIRECTORY)
        .and_then(Node::from_fd)
        .map_err(|e| ArchiveError::io("open rootfs", rootfs.display().to_string(), e))?;
    let mut writer = TreeWriter::new(out, false);
    writer.write_tree(&top, b"", "/")?;
    writer
        .finish()?
        .flush()
        .map_err(|e| ArchiveError::io("write export of", rootfs.display().to_string(), e))
}
