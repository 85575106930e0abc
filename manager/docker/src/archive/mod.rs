//! Archives of a root filesystem as docker makes them: `cp` in both directions and `export`.
//!
//! berthd calls these with the host path of a container's mounted rootfs (the bundle's
//! rootfs while it runs; a berth-store `MountGuard` mount while it is stopped); the `berth`
//! CLI calls the same code with `/` as the root for the local side of `cp`, so both ends
//! write and read the one tar format (which is why this is here and not in the daemon).
//! `docker diff` (what changed against the image) is berthd's: it reads snapshots.
//!
//! * [`export()`] (`docker export`): the whole rootfs as one tar;
//! * [`stat_path`] / [`archive_path`] (`docker cp CTR:SRC ...`, the `HEAD`/`GET
//!   /containers/{id}/archive` of docker's API): stat and tar of one path;
//! * [`extract_into`] (`docker cp ... CTR:DST`, `PUT /containers/{id}/archive`): a tar
//!   extracted under one directory.
//!
//! Security: the rootfs belongs to the container, which may be running and hostile. Every
//! path is resolved with `openat2(RESOLVE_IN_ROOT)` on the rootfs
//! ([`RootDir`](berth_in_root::RootDir)), so `..` and absolute symlinks stay inside
//! it (CVE-2018-15664, the docker cp symlink-exchange race, and CVE-2019-14271 are of this
//! kind); then every file is reached through the descriptor that lookup returned ([`node`]),
//! never by name again.
//!
//! Volumes and bind mounts: they are mounted in the container's mount namespace, not on the
//! host view of the rootfs, so with the rootfs path `cp` sees what lies beneath them (docker
//! mounts them for the copy). A caller that wants the container's own view of a running
//! container passes `/proc/<init pid>/root` as the rootfs: lookups from that descriptor
//! walk the container's mount tree, volumes included ([`archive_path`] descends into
//! mounts; [`export()`] never does).

pub mod copy_in;
pub mod copy_out;
pub mod entry;
pub mod export;
pub mod node;
pub mod tree;

pub use copy_in::{extract_into, ExtractOptions};
pub use copy_out::{archive_path, archive_path_as, stat_path, PathStat};
pub use export::export;

use std::io;

/// `text` with its control characters escaped (`\0`, `\u{1b}`...): the tar
/// reader quotes a corrupt header's bytes in its messages, and a hostile
/// archive must not write NULs or terminal escape sequences into an error
/// line a user reads.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// What an archive operation can fail with. Paths in messages are the container's, not the
/// host's, except for `diff`, which reads the snapshot's own directories.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A system call on a file failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: io::Error,
    },
    /// The path does not exist in the container (docker: "Could not find the file").
    #[error("could not find the file {0} in container")]
    NotFound(String),
    /// The path must be a directory and is not.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// A tar entry would land outside the destination directory.
    #[error("tar entry {entry:?} is outside the destination {dst}")]
    Escape { entry: String, dst: String },
    /// A hardlink entry points outside the destination or at nothing extracted there.
    #[error("tar entry {entry:?}: invalid hardlink to {target:?}: {reason}")]
    InvalidHardlink {
        entry: String,
        target: String,
        reason: String,
    },
    /// docker's `NoOverwriteDirNonDir`: an existing directory would become a file or the
    /// other way round.
    #[error("cannot overwrite {existing} {path:?} with {new}")]
    Overwrite {
        path: String,
        existing: &'static str,
        new: &'static str,
    },
    /// The tar stream itself is unreadable. The tar reader quotes a corrupt header's bytes:
    /// shown with control characters escaped.
    #[error("read tar stream: {}", printable(&.0.to_string()))]
    Tar(io::Error),
    /// A tar entry of a kind that cannot be extracted.
    #[error("tar entry {entry:?}: unsupported entry type {kind:?}")]
    Unsupported { entry: String, kind: String },
    /// A path stat header that does not parse.
    #[error("invalid path stat {0:?}: {1}")]
    InvalidStat(String, String),
}

impl ArchiveError {
    /// An [`ArchiveError::Io`].
    pub fn io(op: &'static str, path: impl Into<String>, source: io::Error) -> ArchiveError {
        ArchiveError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
