//! `docker cp ... CONTAINER:DST`: a tar extracted under one directory of a rootfs.
//!
//! The destination must exist and be a directory (the client has already applied docker's
//! copy rules and renamed the archive's top entry, see `cli::cp`). Each entry's name is
//! cleaned lexically; one that climbs out of the destination with `..` is refused (moby's
//! `breakoutError`), a leading `/` is dropped. The entry's parent directory is then resolved
//! inside the rootfs with `RESOLVE_IN_ROOT` (created 0755 if missing), so a symlink, whether
//! in the rootfs or planted by an earlier entry of the same tar, can only lead somewhere
//! inside the rootfs, never to the host (CVE-2018-15664, CVE-2019-14271). The entry itself
//! is created with `*at` calls under that pinned parent, never following a symlink at its
//! name; metadata is applied through the new file's own descriptor. Hardlinks may only point
//! at names inside the destination.
//!
//! Ownership: with [`ExtractOptions::copy_uid_gid`] (`docker cp -a`) the archive's numeric
//! owners are kept; without it nothing is chowned, so files belong to the extracting process
//! (root for berthd: docker's documented "created with the UID:GID of the root user").
//! The archive's `.` entry (from `SRC/.`) names the destination itself, whose metadata is
//! left alone.

use std::ffi::{CStr, OsStr};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_in_root::RootDir;

use super::copy_out::open_root;
use super::node::{check, cstring, set_mtime_at, Node};
use super::ArchiveError;

/// How [`extract_into`] treats what already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory or the other way round (docker's
    /// `NoOverwriteDirNonDir`; `docker cp` sets it).
    pub no_overwrite_dir_non_dir: bool,
    /// Keep the archive's numeric owners (`docker cp -a`); otherwise chown nothing.
    pub copy_uid_gid: bool,
}

/// The buffer file data is copied through on extraction.
const COPY_BUFFER: usize = 256 * 1024;

/// Extracts the tar `tar` into the directory `dst` inside the rootfs at `rootfs`.
pub fn extract_into(
    rootfs: &Path,
    dst: &str,
    tar: impl Read,
    opts: ExtractOptions,
) -> Result<(), ArchiveError> {
    let root = open_root(rootfs)?;
    extract_renamed(&root, dst, tar, opts, &|name| Some(name.to_vec()))
}

/// [`extract_into`] with every entry name (and hardlink target) passed through `rename`
/// first (`None`: skip the entry): the client's side of docker's `RebaseArchiveEntries`.
pub fn extract_renamed(
    root: &RootDir,
    dst: &str,
    tar: impl Read,
    opts: ExtractOptions,
    rename: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
) -> Result<(), ArchiveError> {
    let shown_dst = if dst.starts_with('/') {
        dst.to_string()
    } else {
        format!("/{dst}")
    };
    let dst_fd = root
        .open_in_root(dst, libc::O_PATH)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => ArchiveError::NotFound(shown_dst.clone()),
            _ => ArchiveError::io("resolve", &shown_dst, e),
        })?;
    let dst_node = Node::from_fd(dst_fd).map_err(|e| ArchiveError::io("stat", &shown_dst, e))?;
    if !dst_node.meta.is_dir() {
        return Err(ArchiveError::NotADirectory(shown_dst));
    }
    // The destination as a path inside the root, symlinks resolved: every entry is looked
    // up from the root again, always with RESOLVE_IN_ROOT.
    let root_real = berth_in_root::sys::fd_target(root.fd())
        .map_err(|e| ArchiveError::io("resolve", root.path().display().to_string(), e))?;
    let dst_real = berth_in_root::sys::fd_target(dst_node.fd.as_raw_fd())
        .map_err(|e| ArchiveError::io("resolve", &shown_dst, e))?;
    let dst_in_root = match dst_real.strip_prefix(&root_real) {
        Ok(rel) => format!("/{}", rel.to_string_lossy()),
        Err(_) => return Err(ArchiveError::NotFound(shown_dst)),
    };
    let mut extractor = Extractor {
        root,
        dst_in_root: dst_in_root.trim_end_matches('/').to_string(),
        shown_dst: shown_dst.clone(),
        opts,
        dir_times: Vec::new(),
        rename,
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(ArchiveError::Tar)? {
        let entry = entry.map_err(ArchiveError::Tar)?;
        let raw_name = entry.path_bytes().into_owned();
        let Some(name) = rename(&raw_name) else {
            continue;
        };
        extractor.entry(entry, &name)?;
    }
    // Directory times last: creating their entries changed them.
    for (path, mtime) in extractor.dir_times.iter().rev() {
        let (parent, name) = extractor.parent_of(path)?;
        // Best effort, as tar does: a directory the container removed meanwhile is fine.
        let _ = set_mtime_at(parent.as_raw_fd(), &name, *mtime);
    }
    Ok(())
}

struct Extractor<'a> {
    root: &'a RootDir,
    /// The destination directory inside the root, no trailing `/` (empty for the root).
    dst_in_root: String,
    shown_dst: String,
    opts: ExtractOptions,
    /// Directories extracted, with their archive mtime.
    dir_times: Vec<(String, i64)>,
    /// The entry renaming, applied to hardlink targets too.
    rename: &'a dyn Fn(&[u8]) -> Option<Vec<u8>>,
}

/// The lexical clean-up of an entry name relative to the destination; `None` when it
/// climbs out of it.
fn clean_relative(name: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in name.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Extractor<'_> {
    /// The in-root path of the cleaned entry `comps`.
    fn in_root(&self, comps: &[&[u8]]) -> String {
        let mut p = self.dst_in_root.clone();
        for c in comps {
            p.push('/');
            p.push_str(&lossy(c));
        }
        p
    }

    /// The container path of `comps` for messages.
    fn shown(&self, comps: &[&[u8]]) -> String {
        let mut p = self.shown_dst.trim_end_matches('/').to_string();
        for c in comps {
            p.push('/');
            p.push_str(&lossy(c));
        }
        p
    }

    /// The parent directory of an in-root path, created if missing, and its last name.
    fn parent_of(&self, path: &str) -> Result<(OwnedFd, std::ffi::CString), ArchiveError> {
        self.root
            .parent_of(path)
            .map_err(|e| ArchiveError::io("make parent directory of", path, e))
    }

    fn entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        name: &[u8],
    ) -> Result<(), ArchiveError> {
        let entry_name = lossy(name);
        let comps = clean_relative(name).ok_or_else(|| ArchiveError::Escape {
            entry: entry_name.clone(),
            dst: self.shown_dst.clone(),
        })?;
        let kind = entry.header().entry_type();
        let is_dir = kind == tar::EntryType::Directory;
        if comps.is_empty() {
            // The destination itself (`SRC/.`): nothing to create, its metadata stays.
            if is_dir {
                return Ok(());
            }
            return Err(ArchiveError::Overwrite {
                path: self.shown_dst.clone(),
                existing: "directory",
                new: "non-directory",
            });
        }
        let path = self.in_root(&comps);
        let shown = self.shown(&comps);
        let (parent, cname) = self.parent_of(&path)?;
        let parent_fd = parent.as_raw_fd();
        let io = |op: &'static str| {
            let shown = shown.clone();
            move |e: io::Error| ArchiveError::io(op, shown, e)
        };

        // What is there already.
        match Node::open_at(parent_fd, OsStr::from_bytes(cname.as_bytes())) {
            Ok(existing) => {
                let existing_dir = existing.meta.is_dir();
                if self.opts.no_overwrite_dir_non_dir && existing_dir != is_dir {
                    return Err(ArchiveError::Overwrite {
                        path: shown,
                        existing: if existing_dir {
                            "directory"
                        } else {
                            "non-directory"
                        },
                        new: if is_dir { "directory" } else { "non-directory" },
                    });
                }
                if !(existing_dir && is_dir) {
                    remove_at(parent_fd, &cname, existing_dir).map_err(io("remove"))?;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(io("stat")(e)),
        }

        let header = entry.header().clone();
        let mode = header.mode().map_err(ArchiveError::Tar)? & 0o7777;
        match kind {
            tar::EntryType::Directory => {
                let r = unsafe { libc::mkdirat(parent_fd, cname.as_ptr(), 0o700) };
                if r < 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(io("make directory")(e));
                    }
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = berth_in_root::sys::openat(
                    parent_fd,
                    &cname,
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
                    0o600,
                )
                .map_err(io("create"))?;
                let mut file = std::fs::File::from(fd);
                // Through a large buffer: io::copy's own is 8 KiB, one
                // write per 8 KiB of a large file.
                let mut data = io::BufReader::with_capacity(COPY_BUFFER, &mut entry);
                io::copy(&mut data, &mut file).map_err(io("write"))?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().ok_or_else(|| {
                    ArchiveError::Tar(io::Error::other(format!(
                        "symlink {entry_name:?} without target"
                    )))
                })?;
                let target = cstring(&target).map_err(io("make symlink"))?;
                check(unsafe { libc::symlinkat(target.as_ptr(), parent_fd, cname.as_ptr()) })
                    .map_err(io("make symlink"))?;
            }
            tar::EntryType::Link => {
                self.hardlink(&entry, &entry_name, parent_fd, &cname, &shown)?;
                // A hardlink shares its inode's metadata: nothing more to apply.
                return Ok(());
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let fmt = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let dev = libc::makedev(major, minor);
                check(unsafe { libc::mknodat(parent_fd, cname.as_ptr(), fmt | 0o600, dev) })
                    .map_err(io("make device node"))?;
            }
            other => {
                return Err(ArchiveError::Unsupported {
                    entry: entry_name,
                    kind: format!("{other:?}"),
                })
            }
        }

        // Metadata through the new file's own descriptor; its type must be what we made
        // (a racing process may have swapped the name meanwhile).
        let node =
            Node::open_at(parent_fd, OsStr::from_bytes(cname.as_bytes())).map_err(io("open"))?;
        let made_right = match kind {
            tar::EntryType::Directory => node.meta.is_dir(),
            tar::EntryType::Symlink => node.meta.file_type().is_symlink(),
            tar::EntryType::Regular | tar::EntryType::Continuous => node.meta.is_file(),
            _ => !node.meta.is_dir() && !node.meta.file_type().is_symlink(),
        };
        if !made_right {
            return Err(io("extract")(io::Error::other(
                "replaced while being extracted",
            )));
        }
        if self.opts.copy_uid_gid {
            let uid = header.uid().map_err(ArchiveError::Tar)? as u32;
            let gid = header.gid().map_err(ArchiveError::Tar)? as u32;
            node.chown(uid, gid).map_err(io("chown"))?;
        }
        if !node.meta.file_type().is_symlink() {
            // After chown: chown clears the setuid and setgid bits.
            node.chmod(mode).map_err(io("chmod"))?;
            if let Some(exts) = entry.pax_extensions().map_err(ArchiveError::Tar)? {
                for ext in exts {
                    let ext = ext.map_err(ArchiveError::Tar)?;
                    if let Some(xattr) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                        node.set_xattr(xattr, ext.value_bytes())
                            .map_err(io("set xattr on"))?;
                    }
                }
            }
        }
        let mtime = header.mtime().map_err(ArchiveError::Tar)? as i64;
        if kind == tar::EntryType::Directory {
            self.dir_times.push((path, mtime));
        } else {
            set_mtime_at(parent_fd, &cname, mtime).map_err(io("set times of"))?;
        }
        Ok(())
    }

    /// A hardlink entry: its target must be inside the destination and already extracted.
    fn hardlink<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        entry_name: &str,
        parent_fd: RawFd,
        cname: &CStr,
        shown: &str,
    ) -> Result<(), ArchiveError> {
        let raw_target = entry.link_name_bytes().unwrap_or_default().into_owned();
        let target = (self.rename)(&raw_target).unwrap_or(raw_target);
        let invalid = |reason: &str| ArchiveError::InvalidHardlink {
            entry: entry_name.to_string(),
            target: lossy(&target),
            reason: reason.to_string(),
        };
        let comps = clean_relative(&target).ok_or_else(|| invalid("outside the destination"))?;
        if comps.is_empty() {
            return Err(invalid("names the destination itself"));
        }
        let target_path = self.in_root(&comps);
        let (tparent, tname) = split_parent(&target_path);
        let tparent_fd = self
            .root
            .open_in_root(tparent, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| invalid(&e.to_string()))?;
        let tnode = Node::open_at(tparent_fd.as_raw_fd(), OsStr::new(tname))
            .map_err(|e| invalid(&e.to_string()))?;
        if tnode.meta.is_dir() {
            return Err(invalid("a directory"));
        }
        // linkat(fd, "", ..., AT_EMPTY_PATH) links exactly the inode we resolved.
        check(unsafe {
            libc::linkat(
                tnode.fd.as_raw_fd(),
                c"".as_ptr(),
                parent_fd,
                cname.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        })
        .map_err(|e| ArchiveError::io("make hardlink", shown, e))
    }
}

fn split_parent(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", n)) => ("/", n),
        Some((p, n)) => (p, n),
        None => ("/", path),
    }
}

/// Removes `name` under `dir`; a directory with everything in it.
fn remove_at(dir: RawFd, name: &CStr, is_dir: bool) -> io::Result<()> {
    if !is_dir {
        return check(unsafe { libc::unlinkat(dir, name.as_ptr(), 0) });
    }
    // std's remove_dir_all walks with openat(O_NOFOLLOW) from the path it is given
    // (hardened against symlink races since CVE-2022-21658); /proc/self/fd/N pins the parent.
    let path = Path::new(&format!("/proc/self/fd/{dir}")).join(OsStr::from_bytes(name.to_bytes()));
    std::fs::remove_dir_all(path)
}
