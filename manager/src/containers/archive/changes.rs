//! `docker diff`: what changed in a container's root filesystem against its image.
//!
//! Two ways to find out, one per snapshotter layout (berth-store's [`WhiteoutStyle`]):
//!
//! * **overlay upperdir** ([`WhiteoutStyle::Overlay`]): everything in the upperdir is a
//!   change. The rules are moby's `pkg/archive/changes.go` (`changes()` with
//!   `overlayDeletedFile`), so `berth diff` prints what `docker diff` prints:
//!   - a character device 0/0 is a whiteout: `D path`;
//!   - an opaque directory (`trusted.overlay.opaque=y`) that exists below is `D path` (its
//!     lower contents are gone), and what it holds now is listed under it;
//!   - an entry found in no lower layer is `A`, one found in some lower layer is `C`;
//!   - a directory found below with the same size, mode and mtime is not itself a change
//!     (overlayfs copied it up only because something under it changed);
//!   - the parent of an `A` or `D` entry is `C` unless it is `/` or already listed (moby
//!     PR 13590: the parent's mtime may not show the change).
//!
//!   "Found in a lower layer" is a real lookup through the layer stack, nearest first: a
//!   whiteout or a non-directory on the way hides the layers below, an opaque directory on the
//!   way hides them for what is under it, and symlinks inside a layer are never followed (moby
//!   `os.Stat`s the joined host path, which follows them).
//! * **full tree** ([`WhiteoutStyle::Delete`], the native snapshotter): the tree is compared
//!   with the parent's full tree, moby's `ChangesDirs`: `A` for a name the parent lacks, `D`
//!   for one it has and the tree lacks, `C` when type, mode, owner, device number, xattrs or
//!   (not for directories, moby issue 9874) size, mtime or symlink target differ, and `C` for
//!   a directory that holds any change.
//!
//! Mount targets are not changes: the runtime creates `/etc/hosts`, `/etc/hostname`,
//! `/etc/resolv.conf`, `/proc`, `/sys` and the like in the rootfs when the image lacks them,
//! to mount over them. docker puts those in a separate "init" layer under the container's own
//! (moby `daemon/initlayer`), so `docker diff` never shows them; [`MOUNT_TARGETS`] lists the
//! same paths, which are left out here, together with directories that changed only because
//! one of them was made inside (`C /etc` when `/etc/hostname` was the only change there).
//!
//! The result is sorted by path, as `docker diff` prints it.

use std::collections::HashSet;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_docker::archive::ArchiveError;
use berth_store::layer::changes::{self as layer_changes, is_opaque, is_whiteout, Event};
use berth_store::layer::WhiteoutStyle;
use berth_store::snapshot::ApplyTarget;

/// The kind of one change, as `docker diff` letters it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// `C`: the entry existed in the image and differs, or holds a change.
    Modified,
    /// `A`: the entry is new.
    Added,
    /// `D`: the entry of the image is gone.
    Deleted,
}

impl ChangeKind {
    /// docker's one-letter code: `C`, `A` or `D`.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }

    /// docker's numeric `Kind` in the `/containers/{id}/changes` API: 0 modified, 1 added,
    /// 2 deleted.
    pub fn code(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }
}

/// One changed path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What happened to it.
    pub kind: ChangeKind,
    /// The path, absolute inside the container (`/etc/passwd`).
    pub path: String,
}

impl std::fmt::Display for Change {
    /// The line `docker diff` prints: `C /etc`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path)
    }
}

/// The paths of docker's init layer (moby `daemon/initlayer/setup_unix.go`): mount targets the
/// runtime makes, never the container's own changes. Everything under them is left out too.
pub const MOUNT_TARGETS: &[&str] = &[
    "/.dockerenv",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
];

/// The changes of the container's rootfs against its image, sorted by path. `lowers` are
/// the image's layer directories nearest first (a full tree's parent tree for
/// [`WhiteoutStyle::Delete`], whose first entry is the one compared); `upper` is the
/// snapshot's own directory. The walk is berth-store's ([`layer_changes::walk`], which
/// layer creation reads too); what is a change in `docker diff`'s terms is decided here.
pub fn changes(lowers: &[PathBuf], upper: &ApplyTarget) -> Result<Vec<Change>, ArchiveError> {
    let path_of = |dir: &str, name: &[u8]| {
        let name = String::from_utf8_lossy(name);
        if dir.is_empty() {
            format!("/{name}")
        } else {
            format!("/{dir}/{name}")
        }
    };
    let mut out = match upper.whiteouts {
        WhiteoutStyle::Overlay => {
            let mut walk = OverlayWalk {
                lowers,
                changes: Vec::new(),
                changed_dirs: HashSet::new(),
            };
            layer_changes::walk(
                lowers,
                &upper.dir,
                upper.whiteouts,
                &mut |event| match event {
                    Event::Entry {
                        rel,
                        host,
                        meta,
                        opaque,
                        ..
                    } => walk.entry(&format!("/{rel}"), Some((host, meta, opaque))),
                    Event::Deleted { dir, name, .. } => walk.entry(&path_of(dir, name), None),
                    Event::HoldsChanges { .. } => Ok(()),
                },
            )?;
            walk.changes
        }
        WhiteoutStyle::Delete => {
            let mut out = Vec::new();
            layer_changes::walk::<ArchiveError>(
                lowers,
                &upper.dir,
                upper.whiteouts,
                &mut |event| {
                    let (kind, path) = match event {
                        Event::Entry { rel, lower, .. } => (
                            if lower.is_some() {
                                ChangeKind::Modified
                            } else {
                                ChangeKind::Added
                            },
                            format!("/{rel}"),
                        ),
                        Event::Deleted { dir, name, .. } => {
                            (ChangeKind::Deleted, path_of(dir, name))
                        }
                        // A directory holding changes is itself listed, so that its
                        // metadata travels (moby's `ChangesDirs`).
                        Event::HoldsChanges { rel } => (ChangeKind::Modified, format!("/{rel}")),
                    };
                    out.push(Change { kind, path });
                    Ok(())
                },
            )?;
            out
        }
    };
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(without_mount_targets(out))
}

/// Leaves out [`MOUNT_TARGETS`], what is under them, and the directories above them that hold
/// no other change (added only to hold a target, or copied up only to create one).
fn without_mount_targets(changes: Vec<Change>) -> Vec<Change> {
    let under = |path: &str, dir: &str| {
        path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
    };
    let kept: Vec<Change> = changes
        .into_iter()
        .filter(|c| {
            !MOUNT_TARGETS
                .iter()
                .any(|t| c.path == *t || under(&c.path, t))
        })
        .collect();
    let holds_target = |p: &str| MOUNT_TARGETS.iter().any(|t| under(t, p));
    let keep: Vec<bool> = kept
        .iter()
        .map(|c| {
            c.kind == ChangeKind::Deleted
                || !holds_target(&c.path)
                || kept.iter().any(|o| under(&o.path, &c.path))
        })
        .collect();
    kept.into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(c, _)| c)
        .collect()
}

fn io_err(op: &'static str, path: &Path, e: io::Error) -> ArchiveError {
    ArchiveError::io(op, path.display().to_string(), e)
}

/// Looks `rel` (components under the root) up in the merged stack of overlay layer
/// directories `lowers`, nearest first, as overlayfs would show it.
pub(crate) fn lookup_in_lowers(
    lowers: &[PathBuf],
    rel: &[&std::ffi::OsStr],
) -> Result<Option<Metadata>, ArchiveError> {
    'layers: for layer in lowers {
        let mut cur = layer.clone();
        let mut hides_below = false;
        for (i, comp) in rel.iter().enumerate() {
            cur.push(comp);
            let meta = match std::fs::symlink_metadata(&cur) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if hides_below {
                        return Ok(None);
                    }
                    continue 'layers;
                }
                Err(e) => return Err(io_err("stat", &cur, e)),
            };
            if is_whiteout(&meta) {
                return Ok(None);
            }
            let last = i + 1 == rel.len();
            if last {
                return Ok(Some(meta));
            }
            if !meta.is_dir() {
                return Ok(None);
            }
            if is_opaque(&cur) {
                hides_below = true;
            }
        }
    }
    Ok(None)
}

/// moby's `changes()` over an overlay upperdir.
struct OverlayWalk<'a> {
    lowers: &'a [PathBuf],
    changes: Vec<Change>,
    /// Directories already recorded or walked as changed: their parents need no `C` entry.
    changed_dirs: HashSet<String>,
}

impl OverlayWalk<'_> {
    /// Records the change an upperdir entry stands for, if any: `entry` is its host path,
    /// metadata and opaqueness, none for a whiteout.
    fn entry(
        &mut self,
        path: &str,
        entry: Option<(&Path, &Metadata, bool)>,
    ) -> Result<(), ArchiveError> {
        let kind = match entry {
            None => ChangeKind::Deleted,
            Some((_, meta, opaque)) => {
                let rel: Vec<&std::ffi::OsStr> = Path::new(path)
                    .components()
                    .filter_map(|c| match c {
                        std::path::Component::Normal(n) => Some(n),
                        _ => None,
                    })
                    .collect();
                let lower = lookup_in_lowers(self.lowers, &rel)?;
                if meta.is_dir() && lower.is_some() && opaque {
                    ChangeKind::Deleted
                } else if let Some(low) = &lower {
                    if low.is_dir()
                        && meta.is_dir()
                        && low.size() == meta.size()
                        && low.mode() == meta.mode()
                        && low.mtime() == meta.mtime()
                        && low.mtime_nsec() == meta.mtime_nsec()
                    {
                        return Ok(());
                    }
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                }
            }
        };
        if entry.is_some_and(|(_, meta, _)| meta.is_dir()) {
            self.changed_dirs.insert(path.to_string());
        }
        if kind != ChangeKind::Modified {
            let parent = match path.rfind('/') {
                Some(0) | None => "/",
                Some(i) => &path[..i],
            };
            if parent != "/" && self.changed_dirs.insert(parent.to_string()) {
                self.changes.push(Change {
                    kind: ChangeKind::Modified,
                    path: parent.to_string(),
                });
            }
        }
        self.changes.push(Change {
            kind,
            path: path.to_string(),
        });
        Ok(())
    }
}
