//! [`apply_tar`]: one streaming pass over a layer tar, creating each entry through directory
//! fds resolved without following symlinks.
//!
//! How paths are resolved: the applier keeps a stack of open directory fds for the path of the
//! last entry (tar entries come in tree order, so most entries need no `openat` at all). Each
//! new component is opened with `O_DIRECTORY | O_NOFOLLOW` from its parent's fd: a symlink in
//! the path fails with `ELOOP` instead of being followed, `..` and absolute paths are refused
//! before any syscall. Every creating call is an `*at` call relative to such an fd, on a single
//! final component, and never follows a symlink in that component either (`O_EXCL`/`O_NOFOLLOW`,
//! `AT_SYMLINK_NOFOLLOW`, `linkat` without `AT_SYMLINK_FOLLOW`). So nothing a layer contains
//! can make the applier touch a path outside the target.
//!
//! Syscalls per regular file: `openat`, `write` (one per MiB), `futimens`, `close`, plus
//! `fchown`/`fchmod` only when the owner or mode differ from what creation gave.

use std::collections::HashSet;
use std::ffi::CStr;
use std::io::{self, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::layer::{Applied, ApplyOptions, LayerError, WhiteoutStyle};

/// Prefix of a whiteout entry's name (OCI image-spec layer.md, "Whiteouts").
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Name of the opaque-directory marker (OCI image-spec layer.md, "Opaque Whiteout").
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// The xattr overlayfs reads to make an upper directory hide its lower ones.
const OVERLAY_OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";
/// Size of the copy buffer for file contents.
const COPY_BUFFER: usize = 1 << 20;

/// Applies the uncompressed layer tar read from `tar` to the directory `target` (which must
/// exist) and returns its diff ID and size. See the module doc for what is created and the
/// safety rules. The whole stream is read (and hashed), including the padding after the tar's
/// end marker. Nothing is fsynced per file; the caller syncs once if it needs durability.
pub fn apply_tar<R: Read>(
    tar: R,
    target: &Path,
    options: ApplyOptions,
) -> Result<Applied, LayerError> {
    apply_tar_over(tar, target, options.whiteouts, &[])
}

/// [`apply_tar`] into an overlay upperdir whose lower layers are `lowers` (nearest first):
/// a parent directory the layer does not list but a lower layer has is created with that
/// directory's owner and mode (as an overlay copy-up would), and a parent that is a symlink
/// or a file in a lower layer is refused instead of being shadowed by a new directory.
pub(crate) fn apply_tar_over<R: Read>(
    tar: R,
    target: &Path,
    whiteouts: WhiteoutStyle,
    lowers: &[PathBuf],
) -> Result<Applied, LayerError> {
    apply_tar_pipelined(tar, target, whiteouts, Lowers::Known(lowers)).map(|(a, _)| a)
}

/// [`apply_tar`] into an overlay upperdir whose lower layers are not known yet (the parent
/// snapshot is still being unpacked). Returns, besides the diff ID, the parent directories
/// the layer did not list and that were created `0755 root:root` (paths relative to
/// `target`, parents first): once the lowers are known, they must get the lower directory's
/// owner and mode, as [`apply_tar_over`] gives them at once. A hardlink to a file the layer
/// does not contain (so one in a lower layer) fails with [`LayerError::NeedsParent`].
pub(crate) fn apply_tar_detached<R: Read>(
    tar: R,
    target: &Path,
) -> Result<(Applied, Vec<Vec<u8>>), LayerError> {
    apply_tar_pipelined(tar, target, WhiteoutStyle::Overlay, Lowers::Unknown)
}

/// What the applier knows of the layers below the one it applies.
#[derive(Clone, Copy)]
enum Lowers<'l> {
    /// Their directories, nearest first (empty: none, or a full tree).
    Known(&'l [PathBuf]),
    /// Not unpacked yet: see [`apply_tar_detached`].
    Unknown,
}

fn apply_tar_pipelined<R: Read>(
    mut tar: R,
    target: &Path,
    whiteouts: WhiteoutStyle,
    lowers: Lowers<'_>,
) -> Result<(Applied, Vec<Vec<u8>>), LayerError> {
    // Two stages on two threads: this one reads `tar` (in a pull, that is where gzip or zstd
    // decompression runs, the most expensive step), a worker hashes and applies. They overlap,
    // so a layer takes about as long as the slower stage instead of the sum of both. `tar`
    // itself never crosses threads (it need not be Send): only filled buffers do.
    let (chunks_tx, chunks_rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(PIPELINE_DEPTH);
    let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("layer-apply".into())
            .spawn_scoped(scope, move || {
                let reader = ChunkReader {
                    chunks: chunks_rx,
                    spare: spare_tx,
                    chunk: Vec::new(),
                    pos: 0,
                };
                apply_stream(reader, target, whiteouts, lowers)
            })
            .map_err(|e| io_err(b"", "start layer apply thread", target, e))?;
        loop {
            let mut buf = spare_rx.try_recv().unwrap_or_default();
            buf.resize(PIPELINE_CHUNK, 0);
            let mut filled = 0;
            let mut failed = None;
            while filled < buf.len() {
                match tar.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            buf.truncate(filled);
            let last = filled == 0 || failed.is_some();
            // A send fails only when the worker stopped (it failed): its error is the one to report.
            if filled > 0 && chunks_tx.send(Ok(buf)).is_err() {
                break;
            }
            if let Some(e) = failed {
                let _ = chunks_tx.send(Err(e));
            }
            if last {
                break;
            }
        }
        drop(chunks_tx);
        match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Bytes per buffer handed from the reading thread to the applying one.
const PIPELINE_CHUNK: usize = 1 << 20;
/// Buffers in flight between the two threads (memory: this many times [`PIPELINE_CHUNK`]).
const PIPELINE_DEPTH: usize = 4;

/// The applying side of the pipeline: reads the buffers the reading thread sends, returning
/// emptied ones for reuse. A read error of the source arrives as an `Err` item and is
/// returned as it was (callers match on its text); a closed channel is the end of the stream.
struct ChunkReader {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    spare: mpsc::Sender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.chunks.recv() {
                Ok(Ok(next)) => {
                    let done = std::mem::replace(&mut self.chunk, next);
                    let _ = self.spare.send(done);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(mpsc::RecvError) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Parses, hashes and applies the tar stream `tar`, on the current thread.
fn apply_stream<R: Read>(
    tar: R,
    target: &Path,
    whiteouts: WhiteoutStyle,
    lowers: Lowers<'_>,
) -> Result<(Applied, Vec<Vec<u8>>), LayerError> {
    let mut reader = HashingReader {
        inner: BufReader::with_capacity(64 * 1024, tar),
        hasher: Sha256::new(),
        size: 0,
    };
    let mut applier = Applier::new(target, whiteouts, lowers)?;
    {
        let mut archive = tar::Archive::new(&mut reader);
        let entries = archive.entries().map_err(LayerError::Read)?;
        for entry in entries {
            let mut entry = entry.map_err(LayerError::Read)?;
            applier.apply_entry(&mut entry)?;
        }
    }
    // The diff ID covers the whole stream, including the end-of-archive blocks and padding
    // after them that the tar reader stops before.
    io::copy(&mut reader, &mut io::sink()).map_err(LayerError::Read)?;
    let implicit = applier.finish()?;
    Ok((
        Applied {
            diff_id: Digest::from_sha256(reader.hasher),
            size: reader.size,
        },
        implicit,
    ))
}

/// Hashes and counts what the tar reader consumes.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// The attributes of one entry, from its header and PAX records.
struct Attrs {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: rustix::fs::Timespec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One open directory on the path of the current entry.
struct OpenDir {
    name: Vec<u8>,
    fd: OwnedFd,
    /// New entries inherit this directory's group (setgid directory), so chown is needed.
    setgid: bool,
}

struct Applier<'a> {
    target: &'a Path,
    root: OwnedFd,
    root_setgid: bool,
    style: WhiteoutStyle,
    lowers: Vec<OwnedFd>,
    /// Open directories for the path of the last entry's parent, outermost first.
    stack: Vec<OpenDir>,
    /// Directories whose mtime is set at the end (creating entries in them changes it).
    dir_times: Vec<(Vec<u8>, rustix::fs::Timespec)>,
    /// Paths this layer created ([`WhiteoutStyle::Delete`] only): an opaque marker keeps them.
    created: HashSet<Vec<u8>>,
    /// The lowers are not known yet ([`apply_tar_detached`]).
    lowers_unknown: bool,
    /// With unknown lowers: parent directories created without a tar entry, parents first.
    implicit_dirs: Vec<Vec<u8>>,
    buf: Vec<u8>,
    euid: u32,
    egid: u32,
    /// The process umask, which creation modes pass through (chmod follows when it matters).
    umask: u32,
}

fn io_err(entry: &[u8], op: &'static str, target: &Path, e: impl Into<io::Error>) -> LayerError {
    LayerError::Io {
        entry: show(entry),
        op,
        target: target.to_path_buf(),
        source: e.into(),
    }
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Splits an entry path into its components: `.` and empty ones dropped, `..` and absolute
/// paths refused (they can only mean "outside the layer's root").
fn components<'p>(path: &'p [u8], target: &Path) -> Result<Vec<&'p [u8]>, LayerError> {
    if path.first() == Some(&b'/') {
        return Err(LayerError::Escape {
            entry: show(path),
            reason: "absolute path",
            target: target.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(LayerError::Escape {
                    entry: show(path),
                    reason: "path contains \"..\"",
                    target: target.to_path_buf(),
                })
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The umask, read without changing it (umask(2) can only be read by setting it, which would
/// race with other threads of berthd creating files).
fn current_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
}

fn borrow(fd: &OwnedFd) -> BorrowedFd<'_> {
    fd.as_fd()
}

impl<'a> Applier<'a> {
    fn new(
        target: &'a Path,
        style: WhiteoutStyle,
        lowers: Lowers<'_>,
    ) -> Result<Applier<'a>, LayerError> {
        let (lowers, lowers_unknown) = match lowers {
            Lowers::Known(l) => (l, false),
            Lowers::Unknown => (&[][..], true),
        };
        let open_dir = |p: &Path| {
            rustix::fs::open(
                p,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err(b"", "open target directory", p, e))
        };
        let root = open_dir(target)?;
        let root_setgid = rustix::fs::fstat(&root)
            .map_err(|e| io_err(b"", "stat", target, e))?
            .st_mode
            & 0o2000
            != 0;
        let lowers = lowers
            .iter()
            .map(|p| open_dir(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Applier {
            target,
            root,
            root_setgid,
            style,
            lowers,
            stack: Vec::new(),
            dir_times: Vec::new(),
            created: HashSet::new(),
            lowers_unknown,
            implicit_dirs: Vec::new(),
            buf: vec![0; COPY_BUFFER],
            euid: rustix::process::geteuid().as_raw(),
            egid: rustix::process::getegid().as_raw(),
            umask: current_umask().unwrap_or(0o7777),
        })
    }

    fn err(&self, entry: &[u8], op: &'static str, e: impl Into<io::Error>) -> LayerError {
        io_err(entry, op, self.target, e)
    }

    fn escape(&self, entry: &[u8], reason: &'static str) -> LayerError {
        LayerError::Escape {
            entry: show(entry),
            reason,
            target: self.target.to_path_buf(),
        }
    }

    /// The fd of the directory at `depth` components of the stack (0: the target itself).
    fn dir_at(&self, depth: usize) -> BorrowedFd<'_> {
        if depth == 0 {
            borrow(&self.root)
        } else {
            borrow(&self.stack[depth - 1].fd)
        }
    }

    fn setgid_at(&self, depth: usize) -> bool {
        if depth == 0 {
            self.root_setgid
        } else {
            self.stack[depth - 1].setgid
        }
    }

    /// Opens (creating if missing) the directories `parents` below the target, never
    /// following a symlink, and leaves them on the stack. Returns the depth (= parents.len()).
    fn open_parents(&mut self, entry: &[u8], parents: &[&[u8]]) -> Result<usize, LayerError> {
        self.walk_parents(entry, parents, true)
            .map(|d| d.expect("missing parents are created"))
    }

    /// [`Self::open_parents`], or with `create` false: `None` if a parent does not exist.
    fn walk_parents(
        &mut self,
        entry: &[u8],
        parents: &[&[u8]],
        create: bool,
    ) -> Result<Option<usize>, LayerError> {
        let mut k = 0;
        while k < self.stack.len() && k < parents.len() && self.stack[k].name == parents[k] {
            k += 1;
        }
        self.stack.truncate(k);
        for (i, name) in parents.iter().enumerate().skip(k) {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = match rustix::fs::openat(self.dir_at(i), *name, flags, Mode::empty()) {
                Ok(fd) => fd,
                // Replaced by a later entry or whiteout: nothing there to walk into.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) if !create => return Ok(None),
                Err(Errno::NOENT) => {
                    self.create_missing_parent(entry, &parents[..=i])?;
                    rustix::fs::openat(self.dir_at(i), *name, flags, Mode::empty())
                        .map_err(|e| self.err(entry, "open parent directory", e))?
                }
                Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                    let st = rustix::fs::statat(self.dir_at(i), *name, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| self.err(entry, "stat parent directory", e))?;
                    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                        return Err(self.escape(entry, "a parent directory is a symlink"));
                    }
                    return Err(self.err(entry, "open parent directory", e));
                }
                Err(e) => return Err(self.err(entry, "open parent directory", e)),
            };
            let setgid = rustix::fs::fstat(&fd)
                .map_err(|e| self.err(entry, "stat", e))?
                .st_mode
                & 0o2000
                != 0;
            self.stack.push(OpenDir {
                name: name.to_vec(),
                fd,
                setgid,
            });
        }
        Ok(Some(parents.len()))
    }

    /// Creates a parent directory the layer did not list. Over lower layers (overlay), it gets
    /// the lower directory's owner and mode, as overlayfs's copy-up would give it; a lower
    /// non-directory there is refused, since a new directory would silently shadow it.
    fn create_missing_parent(&mut self, entry: &[u8], path: &[&[u8]]) -> Result<(), LayerError> {
        let depth = path.len() - 1;
        let name = path[depth];
        let (mut mode, mut uid, mut gid) = (0o755, 0, 0);
        if let Some(st) = self.lookup_lower(entry, path)? {
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {
                    mode = st.st_mode & 0o7777;
                    uid = st.st_uid;
                    gid = st.st_gid;
                }
                FileType::Symlink => {
                    return Err(
                        self.escape(entry, "a parent directory is a symlink in a lower layer")
                    )
                }
                _ => {
                    return Err(LayerError::InvalidEntry {
                        entry: show(entry),
                        reason: format!(
                            "parent {:?} is not a directory in a lower layer",
                            show(&path.join(&b'/'))
                        ),
                    })
                }
            }
        }
        let dir = self.dir_at(depth);
        match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(self.err(entry, "create parent directory", e)),
        }
        if self.style == WhiteoutStyle::Delete {
            self.created.insert(path.join(&b'/'));
        }
        if self.lowers_unknown {
            self.implicit_dirs.push(path.join(&b'/'));
        }
        let setgid = self.setgid_at(depth);
        self.fix_owner_mode_at(
            entry,
            depth,
            name,
            uid,
            gid,
            mode,
            setgid,
            FileType::Directory,
        )
    }

    /// Finds `path` in the nearest lower layer that has it, without following symlinks.
    fn lookup_lower(
        &self,
        entry: &[u8],
        path: &[&[u8]],
    ) -> Result<Option<rustix::fs::Stat>, LayerError> {
        Ok(self.lookup_lower_at(entry, path)?.map(|(_, st)| st))
    }

    /// Finds `path` in the lower layers as overlayfs would show it: the nearest layer that
    /// has it wins, a whiteout or a non-directory on the way hides it, an opaque directory
    /// hides the layers below it. Returns its parent directory's fd and its stat.
    fn lookup_lower_at(
        &self,
        entry: &[u8],
        path: &[&[u8]],
    ) -> Result<Option<(OwnedFd, rustix::fs::Stat)>, LayerError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        'layers: for lower in &self.lowers {
            let mut cur = rustix::fs::openat(lower, ".", flags, Mode::empty())
                .map_err(|e| self.err(entry, "open lower layer", e))?;
            for (i, name) in path.iter().enumerate() {
                let st = match rustix::fs::statat(&cur, *name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(Errno::NOENT) => {
                        if is_opaque(cur.as_fd()) {
                            return Ok(None);
                        }
                        continue 'layers;
                    }
                    Err(e) => return Err(self.err(entry, "stat in lower layer", e)),
                };
                let kind = FileType::from_raw_mode(st.st_mode);
                if kind == FileType::CharacterDevice && st.st_rdev == 0 {
                    return Ok(None); // a whiteout: deleted
                }
                if i + 1 == path.len() {
                    return Ok(Some((cur, st)));
                }
                if kind != FileType::Directory {
                    return Ok(None); // a non-directory hides everything below it
                }
                cur = rustix::fs::openat(&cur, *name, flags, Mode::empty())
                    .map_err(|e| self.err(entry, "open in lower layer", e))?;
            }
        }
        Ok(None)
    }

    /// Before a hardlink to a file only a lower layer has: copies that file up into this
    /// layer, as overlayfs does when `link(2)` is called on a lower file, so the link can be
    /// made within the upperdir. Anything else is left for [`Self::make_hardlink`] to judge.
    fn copy_up_link_target(&mut self, entry: &[u8], link: &[u8]) -> Result<(), LayerError> {
        let Ok(comps) = components(link, self.target) else {
            return Ok(());
        };
        let Some((&name, parents)) = comps.split_last() else {
            return Ok(());
        };
        if let Some(depth) = self.walk_parents(entry, parents, false)? {
            if rustix::fs::statat(self.dir_at(depth), name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                return Ok(());
            }
        }
        let Some((lower_dir, st)) = self.lookup_lower_at(entry, &comps)? else {
            return Ok(());
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Ok(());
        }
        let src = rustix::fs::openat(
            &lower_dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err(entry, "open hardlink target in lower layer", e))?;
        let depth = self.open_parents(entry, parents)?;
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        let dst = rustix::fs::openat(
            self.dir_at(depth),
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            mode,
        )
        .map_err(|e| self.err(entry, "copy up hardlink target", e))?;
        let (mut src, mut dst) = (std::fs::File::from(src), std::fs::File::from(dst));
        io::copy(&mut src, &mut dst).map_err(|e| self.err(entry, "copy up hardlink target", e))?;
        let attrs = Attrs {
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            mtime: rustix::fs::Timespec {
                tv_sec: st.st_mtime as _,
                tv_nsec: st.st_mtime_nsec as _,
            },
            xattrs: crate::layer::xattrs::of_fd(src.as_fd())
                .map_err(|e| self.err(entry, "read xattrs in lower layer", e))?,
        };
        let parent_setgid = self.setgid_at(depth);
        self.set_attrs_fd(entry, dst.as_fd(), &attrs, parent_setgid)?;
        let times = Timestamps {
            last_access: attrs.mtime,
            last_modification: attrs.mtime,
        };
        rustix::fs::futimens(&dst, &times).map_err(|e| self.err(entry, "set times", e))
    }

    /// Sets owner and mode of `name` in the directory at `depth` when creation did not
    /// already give the wanted ones: chown if the owner differs from ours (or a setgid
    /// parent changed the group), chmod if the umask cut bits or chown cleared set-id bits.
    #[allow(clippy::too_many_arguments)]
    fn fix_owner_mode_at(
        &self,
        entry: &[u8],
        depth: usize,
        name: &[u8],
        uid: u32,
        gid: u32,
        mode: u32,
        parent_setgid: bool,
        kind: FileType,
    ) -> Result<(), LayerError> {
        let dir = self.dir_at(depth);
        let chown = uid != self.euid || gid != self.egid || parent_setgid;
        if chown {
            rustix::fs::chownat(
                dir,
                name,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| self.err(entry, "lchown", e))?;
        }
        let symlink = kind == FileType::Symlink;
        if !symlink && (mode & self.umask != 0 || (chown && mode & 0o6000 != 0) || parent_setgid) {
            // `name` was just created by us as a non-symlink in a directory opened with
            // O_NOFOLLOW, so following it here cannot leave the target.
            rustix::fs::chmodat(dir, name, Mode::from_raw_mode(mode), AtFlags::empty())
                .map_err(|e| self.err(entry, "chmod", e))?;
        }
        Ok(())
    }

    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), LayerError> {
        let path = entry.path_bytes().into_owned();
        let header = entry.header();
        let kind = header.entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            return Ok(());
        }
        let attrs = self.attrs(&path, entry)?;
        let comps = components(&path, self.target)?;
        let Some((&name, parents)) = comps.split_last() else {
            // The layer's root directory ("./"): its attributes apply to the target itself.
            if kind.is_dir() {
                self.set_attrs_fd(&path, borrow(&self.root), &attrs, true)?;
                self.dir_times.push((Vec::new(), attrs.mtime));
                return Ok(());
            }
            return Err(LayerError::InvalidEntry {
                entry: show(&path),
                reason: "a non-directory names the layer root".into(),
            });
        };
        if let Some(deleted) = name.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(&path, parents, deleted);
        }
        if kind == tar::EntryType::Link
            && self.style == WhiteoutStyle::Overlay
            && !self.lowers.is_empty()
        {
            if let Some(link) = entry.link_name_bytes() {
                let link = link.into_owned();
                self.copy_up_link_target(&path, &link)?;
            }
        }
        let depth = self.open_parents(&path, parents)?;
        if self.style == WhiteoutStyle::Delete {
            self.created.insert(comps.join(&b'/'));
        }
        match kind {
            tar::EntryType::Directory => self.make_dir(&path, depth, name, &attrs, &comps),
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.make_file(&path, depth, name, &attrs, entry)
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .ok_or_else(|| LayerError::InvalidEntry {
                        entry: show(&path),
                        reason: "symlink without target".into(),
                    })?
                    .into_owned();
                self.create_retrying(&path, depth, name, |dir| {
                    rustix::fs::symlinkat(link.as_slice(), dir, name)
                })?;
                self.finish_at(&path, depth, name, &attrs, FileType::Symlink)
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .ok_or_else(|| LayerError::InvalidEntry {
                        entry: show(&path),
                        reason: "hardlink without target".into(),
                    })?
                    .into_owned();
                self.make_hardlink(&path, depth, name, &link)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (file_type, dev) = match kind {
                    tar::EntryType::Char => (FileType::CharacterDevice, self.device(&path, entry)?),
                    tar::EntryType::Block => (FileType::BlockDevice, self.device(&path, entry)?),
                    _ => (FileType::Fifo, 0),
                };
                let mode = Mode::from_raw_mode(attrs.mode & 0o7777);
                self.create_retrying(&path, depth, name, |dir| {
                    rustix::fs::mknodat(dir, name, file_type, mode, dev)
                })?;
                self.finish_at(&path, depth, name, &attrs, file_type)
            }
            other => Err(LayerError::InvalidEntry {
                entry: show(&path),
                reason: format!("unsupported tar entry type {:?}", other.as_byte() as char),
            }),
        }
    }

    fn device<R: Read>(
        &self,
        path: &[u8],
        entry: &tar::Entry<'_, R>,
    ) -> Result<rustix::fs::Dev, LayerError> {
        let h = entry.header();
        let bad = |_| LayerError::InvalidEntry {
            entry: show(path),
            reason: "bad device number".into(),
        };
        let major = h.device_major().map_err(bad)?.unwrap_or(0);
        let minor = h.device_minor().map_err(bad)?.unwrap_or(0);
        Ok(rustix::fs::makedev(major, minor))
    }

    /// Reads mode, owner, mtime and xattrs, with PAX records overriding the header (Go's
    /// archive/tar writes large ids and sub-second times there).
    fn attrs<R: Read>(
        &self,
        path: &[u8],
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Attrs, LayerError> {
        let h = entry.header();
        let bad = |what: &str| LayerError::InvalidEntry {
            entry: show(path),
            reason: format!("bad {what} in header"),
        };
        let old = h.as_old();
        let mut attrs = Attrs {
            mode: lenient(&old.mode, h.mode().map(u64::from)).map_err(|_| bad("mode"))? as u32,
            uid: lenient(&old.uid, h.uid()).map_err(|_| bad("uid"))? as u32,
            gid: lenient(&old.gid, h.gid()).map_err(|_| bad("gid"))? as u32,
            mtime: rustix::fs::Timespec {
                tv_sec: lenient(&old.mtime, h.mtime()).map_err(|_| bad("mtime"))? as i64,
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
        };
        if let Some(pax) = entry.pax_extensions().map_err(LayerError::Read)? {
            for ext in pax {
                let ext = ext.map_err(LayerError::Read)?;
                let (key, value) = (ext.key_bytes(), ext.value_bytes());
                let num = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<u32>().ok())
                };
                match key {
                    b"uid" => attrs.uid = num().ok_or_else(|| bad("PAX uid"))?,
                    b"gid" => attrs.gid = num().ok_or_else(|| bad("PAX gid"))?,
                    b"mtime" => {
                        attrs.mtime = parse_pax_time(value).ok_or_else(|| bad("PAX mtime"))?
                    }
                    _ => {
                        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                            // overlayfs reads trusted.overlay.* of upper files as instructions
                            // (opaque, redirect, metacopy): a layer must not smuggle them in.
                            if !name.starts_with(b"trusted.overlay.") {
                                attrs.xattrs.push((name.to_vec(), value.to_vec()));
                            }
                        }
                    }
                }
            }
        }
        Ok(attrs)
    }

    /// Creates an entry with `create`; if the name exists, removes what is there (a later tar
    /// entry replaces an earlier one) and tries once more.
    fn create_retrying(
        &mut self,
        entry: &[u8],
        depth: usize,
        name: &[u8],
        create: impl Fn(BorrowedFd<'_>) -> rustix::io::Result<()>,
    ) -> Result<(), LayerError> {
        match create(self.dir_at(depth)) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                self.remove_at(entry, depth, name)?;
                create(self.dir_at(depth)).map_err(|e| self.err(entry, "create", e))
            }
            Err(e) => Err(self.err(entry, "create", e)),
        }
    }

    /// Removes `name` (recursively if a directory) from the directory at `depth`, and drops
    /// cached fds below that directory (one of them may be what was removed).
    fn remove_at(&mut self, entry: &[u8], depth: usize, name: &[u8]) -> Result<(), LayerError> {
        self.stack.truncate(depth);
        remove_all_at(self.dir_at(depth), name).map_err(|e| self.err(entry, "remove existing", e))
    }

    fn make_dir(
        &mut self,
        entry: &[u8],
        depth: usize,
        name: &[u8],
        attrs: &Attrs,
        comps: &[&[u8]],
    ) -> Result<(), LayerError> {
        let mode = Mode::from_raw_mode(attrs.mode & 0o7777);
        match rustix::fs::mkdirat(self.dir_at(depth), name, mode) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = rustix::fs::statat(self.dir_at(depth), name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| self.err(entry, "stat", e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    self.remove_at(entry, depth, name)?;
                    rustix::fs::mkdirat(self.dir_at(depth), name, mode)
                        .map_err(|e| self.err(entry, "mkdir", e))?;
                }
            }
            Err(e) => return Err(self.err(entry, "mkdir", e)),
        }
        let fd = rustix::fs::openat(
            self.dir_at(depth),
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err(entry, "open directory", e))?;
        let parent_setgid = self.setgid_at(depth);
        self.set_attrs_fd(entry, fd.as_fd(), attrs, parent_setgid)?;
        let path = comps.join(&b'/');
        if !self.implicit_dirs.is_empty() {
            // Listed after all: the entry's own attributes are the right ones.
            self.implicit_dirs.retain(|d| *d != path);
        }
        self.dir_times.push((path, attrs.mtime));
        // The next entries are most likely inside this directory: keep it open.
        self.stack.truncate(depth);
        self.stack.push(OpenDir {
            name: name.to_vec(),
            fd,
            setgid: attrs.mode & 0o2000 != 0,
        });
        Ok(())
    }

    /// Owner, mode and xattrs on an open file or directory (not its mtime).
    fn set_attrs_fd(
        &self,
        entry: &[u8],
        fd: BorrowedFd<'_>,
        attrs: &Attrs,
        parent_setgid: bool,
    ) -> Result<(), LayerError> {
        let chown = attrs.uid != self.euid || attrs.gid != self.egid || parent_setgid;
        if chown {
            rustix::fs::fchown(
                fd,
                Some(rustix::fs::Uid::from_raw(attrs.uid)),
                Some(rustix::fs::Gid::from_raw(attrs.gid)),
            )
            .map_err(|e| self.err(entry, "chown", e))?;
        }
        let mode = attrs.mode & 0o7777;
        if mode & self.umask != 0 || (chown && mode & 0o6000 != 0) || parent_setgid {
            rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))
                .map_err(|e| self.err(entry, "chmod", e))?;
        }
        for (name, value) in &attrs.xattrs {
            rustix::fs::fsetxattr(fd, name.as_slice(), value, XattrFlags::empty())
                .map_err(|e| self.err(entry, "set xattr", e))?;
        }
        Ok(())
    }

    fn make_file<R: Read>(
        &mut self,
        entry: &[u8],
        depth: usize,
        name: &[u8],
        attrs: &Attrs,
        data: &mut tar::Entry<'_, R>,
    ) -> Result<(), LayerError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(attrs.mode & 0o7777);
        let fd = match rustix::fs::openat(self.dir_at(depth), name, flags, mode) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                self.remove_at(entry, depth, name)?;
                rustix::fs::openat(self.dir_at(depth), name, flags, mode)
                    .map_err(|e| self.err(entry, "create", e))?
            }
            Err(e) => return Err(self.err(entry, "create", e)),
        };
        let mut written = 0u64;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LayerError::Read(e)),
            };
            written += n as u64;
            let mut chunk = &self.buf[..n];
            while !chunk.is_empty() {
                match rustix::io::write(&fd, chunk) {
                    Ok(w) => chunk = &chunk[w..],
                    Err(Errno::INTR) => {}
                    Err(e) => return Err(io_err(entry, "write", self.target, e)),
                }
            }
        }
        let parent_setgid = self.setgid_at(depth);
        self.set_attrs_fd(entry, fd.as_fd(), attrs, parent_setgid)?;
        let times = Timestamps {
            last_access: attrs.mtime,
            last_modification: attrs.mtime,
        };
        rustix::fs::futimens(&fd, &times).map_err(|e| self.err(entry, "set times", e))?;
        if written >= EARLY_WRITEBACK_MIN {
            start_writeback(fd.as_fd());
        }
        Ok(())
    }

    /// Owner, mode, xattrs and mtime of a just-created symlink, device or fifo, by name
    /// (these cannot be opened for writing).
    fn finish_at(
        &self,
        entry: &[u8],
        depth: usize,
        name: &[u8],
        attrs: &Attrs,
        kind: FileType,
    ) -> Result<(), LayerError> {
        let parent_setgid = self.setgid_at(depth);
        self.fix_owner_mode_at(
            entry,
            depth,
            name,
            attrs.uid,
            attrs.gid,
            attrs.mode & 0o7777,
            parent_setgid,
            kind,
        )?;
        if !attrs.xattrs.is_empty() {
            // lsetxattr needs a path: go through the parent's fd in /proc, which was opened
            // without following symlinks, and do not follow the last component.
            let fd = std::os::fd::AsRawFd::as_raw_fd(&self.dir_at(depth));
            let mut p = format!("/proc/self/fd/{fd}/").into_bytes();
            p.extend_from_slice(name);
            let p = PathBuf::from(std::ffi::OsStr::from_bytes(&p));
            for (xname, value) in &attrs.xattrs {
                rustix::fs::lsetxattr(&p, xname.as_slice(), value, XattrFlags::empty())
                    .map_err(|e| self.err(entry, "set xattr", e))?;
            }
        }
        let times = Timestamps {
            last_access: attrs.mtime,
            last_modification: attrs.mtime,
        };
        rustix::fs::utimensat(self.dir_at(depth), name, &times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err(entry, "set times", e))
    }

    /// A hardlink to an earlier entry of this layer, resolved inside the target like any path.
    fn make_hardlink(
        &mut self,
        entry: &[u8],
        depth: usize,
        name: &[u8],
        link: &[u8],
    ) -> Result<(), LayerError> {
        let target_comps = components(link, self.target)
            .map_err(|_| self.escape(entry, "hardlink target outside the layer"))?;
        let Some((&tname, tparents)) = target_comps.split_last() else {
            return Err(LayerError::InvalidEntry {
                entry: show(entry),
                reason: "hardlink to the layer root".into(),
            });
        };
        // Resolve the link target's directory separately from the stack (which holds the
        // new entry's parents), with the same no-symlink walk.
        let mut dir: Option<OwnedFd> = None;
        for c in tparents {
            let from = dir.as_ref().map_or(borrow(&self.root), |d| d.as_fd());
            let fd = rustix::fs::openat(
                from,
                *c,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| match e {
                Errno::NOENT if self.lowers_unknown => LayerError::NeedsParent {
                    entry: show(entry),
                    reason: format!("hardlink target {:?} is not in this layer", show(link)),
                },
                Errno::LOOP | Errno::NOTDIR if is_symlink_at(from, c) => {
                    self.escape(entry, "hardlink target's parent is a symlink")
                }
                e => self.err(entry, "open hardlink target directory", e),
            })?;
            dir = Some(fd);
        }
        let from = dir.as_ref().map_or(borrow(&self.root), |d| d.as_fd());
        let st = match rustix::fs::statat(from, tname, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) if self.lowers_unknown => {
                return Err(LayerError::NeedsParent {
                    entry: show(entry),
                    reason: format!("hardlink target {:?} is not in this layer", show(link)),
                })
            }
            Err(Errno::NOENT) => {
                return Err(LayerError::InvalidEntry {
                    entry: show(entry),
                    reason: format!("hardlink target {:?} is not in this layer", show(link)),
                })
            }
            Err(e) => return Err(self.err(entry, "stat hardlink target", e)),
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            return Err(LayerError::InvalidEntry {
                entry: show(entry),
                reason: "hardlink to a directory".into(),
            });
        }
        let link_once =
            |dir: BorrowedFd<'_>| rustix::fs::linkat(from, tname, dir, name, AtFlags::empty());
        match link_once(self.dir_at(depth)) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                // Linking a name to itself (some tars repeat entries) is already done.
                if let Ok(cur) =
                    rustix::fs::statat(self.dir_at(depth), name, AtFlags::SYMLINK_NOFOLLOW)
                {
                    if cur.st_ino == st.st_ino && cur.st_dev == st.st_dev {
                        return Ok(());
                    }
                }
                self.stack.truncate(depth);
                remove_all_at(self.dir_at(depth), name)
                    .map_err(|e| self.err(entry, "remove existing", e))?;
                link_once(self.dir_at(depth)).map_err(|e| self.err(entry, "link", e))
            }
            Err(e) => Err(self.err(entry, "link", e)),
        }
    }

    /// `.wh.<name>` deletes `<name>` from the lower layers; `.wh..wh..opq` hides all of the
    /// directory's lower contents.
    fn whiteout(
        &mut self,
        entry: &[u8],
        parents: &[&[u8]],
        deleted: &[u8],
    ) -> Result<(), LayerError> {
        let opaque = [WHITEOUT_PREFIX, deleted].concat() == OPAQUE_MARKER;
        if !opaque
            && (deleted.is_empty()
                || deleted == b"."
                || deleted == b".."
                || deleted.starts_with(WHITEOUT_PREFIX))
        {
            return Err(LayerError::InvalidEntry {
                entry: show(entry),
                reason: "invalid whiteout name".into(),
            });
        }
        let depth = self.open_parents(entry, parents)?;
        match (self.style, opaque) {
            (WhiteoutStyle::Overlay, true) => {
                let dir = self.dir_at(depth);
                rustix::fs::fsetxattr(dir, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| self.err(entry, "set opaque xattr", e))
            }
            (WhiteoutStyle::Overlay, false) => {
                // A character device 0/0 is overlayfs's whiteout (overlayfs.rst, "whiteouts").
                self.create_retrying(entry, depth, deleted, |dir| {
                    rustix::fs::mknodat(dir, deleted, FileType::CharacterDevice, Mode::empty(), 0)
                })
            }
            (WhiteoutStyle::Delete, true) => {
                // Empty the directory of everything this layer did not create itself.
                let prefix = parents.join(&b'/');
                let dir = rustix::fs::openat(
                    self.dir_at(depth),
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.err(entry, "open directory", e))?;
                let mut names = Vec::new();
                let mut it =
                    rustix::fs::Dir::new(dir).map_err(|e| self.err(entry, "read directory", e))?;
                while let Some(d) = it.read() {
                    let d = d.map_err(|e| self.err(entry, "read directory", e))?;
                    let n = d.file_name().to_bytes();
                    if n == b"." || n == b".." {
                        continue;
                    }
                    let full = if prefix.is_empty() {
                        n.to_vec()
                    } else {
                        [prefix.as_slice(), b"/", n].concat()
                    };
                    if !self.created.contains(&full) {
                        names.push(n.to_vec());
                    }
                }
                for n in names {
                    self.remove_at(entry, depth, &n)?;
                }
                Ok(())
            }
            (WhiteoutStyle::Delete, false) => match remove_all_at(self.dir_at(depth), deleted) {
                Ok(()) | Err(Errno::NOENT) => {
                    self.stack.truncate(depth);
                    Ok(())
                }
                Err(e) => Err(self.err(entry, "remove whited-out path", e)),
            },
        }
    }

    /// Sets directory mtimes last (creating entries inside changed them), re-resolving each
    /// path without following symlinks. Returns the implicit directories (unknown lowers).
    fn finish(mut self) -> Result<Vec<Vec<u8>>, LayerError> {
        let times = std::mem::take(&mut self.dir_times);
        for (path, mtime) in times.iter().rev() {
            let ts = Timestamps {
                last_access: *mtime,
                last_modification: *mtime,
            };
            if path.is_empty() {
                rustix::fs::futimens(&self.root, &ts)
                    .map_err(|e| self.err(b".", "set times", e))?;
                continue;
            }
            let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
            let (name, parents) = comps.split_last().expect("non-empty path");
            // Removed by a later whiteout of this layer: nothing to set (and nothing to
            // recreate).
            let Some(depth) = self.walk_parents(path, parents, false)? else {
                continue;
            };
            match rustix::fs::utimensat(self.dir_at(depth), *name, &ts, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(self.err(path, "set times", e)),
            }
        }
        Ok(std::mem::take(&mut self.implicit_dirs))
    }

    /// Gives the directories a detached unpack created without a tar entry the owner and
    /// mode their lower counterpart has (what [`Self::create_missing_parent`] gives them when
    /// the lowers are known). A lower non-directory there means the layer must be applied
    /// over its parent's tree to be judged: [`LayerError::NeedsParent`].
    fn adopt_implicit_dirs(&mut self, dirs: &[Vec<u8>]) -> Result<(), LayerError> {
        for path in dirs {
            let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
            let Some(st) = self.lookup_lower(path, &comps)? else {
                continue; // no lower counterpart: 0755 root:root is right
            };
            if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                return Err(LayerError::NeedsParent {
                    entry: show(path),
                    reason: "a parent directory is not a directory in a lower layer".into(),
                });
            }
            let (name, parents) = comps.split_last().expect("non-empty path");
            // Removed again by a whiteout of this layer: nothing to adopt.
            let Some(depth) = self.walk_parents(path, parents, false)? else {
                continue;
            };
            if rustix::fs::statat(self.dir_at(depth), *name, AtFlags::SYMLINK_NOFOLLOW).is_err() {
                continue;
            }
            let mode = st.st_mode & 0o7777;
            let setgid = self.setgid_at(depth);
            self.fix_owner_mode_at(
                path,
                depth,
                name,
                st.st_uid,
                st.st_gid,
                mode,
                setgid,
                FileType::Directory,
            )?;
            // fix_owner_mode_at skips chmod when creation's 0755 (and umask) gave no cut bits:
            // here the wanted mode is the lower's, so set it whenever it differs.
            if mode != 0o755 {
                rustix::fs::chmodat(
                    self.dir_at(depth),
                    *name,
                    Mode::from_raw_mode(mode),
                    AtFlags::empty(),
                )
                .map_err(|e| self.err(path, "chmod", e))?;
            }
        }
        Ok(())
    }
}

/// Fixes the implicit directories of a detached unpack in `target` against `lowers` (see
/// [`apply_tar_detached`] and `Applier::adopt_implicit_dirs`).
pub(crate) fn adopt_implicit_dirs(
    target: &Path,
    lowers: &[PathBuf],
    dirs: &[Vec<u8>],
) -> Result<(), LayerError> {
    if dirs.is_empty() {
        return Ok(());
    }
    let mut applier = Applier::new(target, WhiteoutStyle::Overlay, Lowers::Known(lowers))?;
    applier.adopt_implicit_dirs(dirs)
}

/// Whether an overlay layer's directory hides the layers below it.
fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let mut v = [0u8; 2];
    rustix::fs::fgetxattr(dir, OVERLAY_OPAQUE_XATTR, &mut v[..])
        .is_ok_and(|n| n == 1 && v[0] == b'y')
}

/// Files at least this big get their writeback started as soon as they are written.
const EARLY_WRITEBACK_MIN: u64 = 64 * 1024;

/// Starts writing a finished file's pages to disk without waiting for it
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): the disk works while the rest of the layer is
/// decompressed, so the one `syncfs` at the end of an unpack has little left to wait for.
/// Best effort: an error here only means the final sync does the work.
fn start_writeback(fd: BorrowedFd<'_>) {
    // SAFETY: sync_file_range only reads its integer arguments; `fd` is a valid open file.
    unsafe {
        libc::sync_file_range(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            0,
            0,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

fn is_symlink_at(dir: BorrowedFd<'_>, name: &[u8]) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

/// Removes `name` in `dir`, recursively for directories, never following symlinks.
fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(e),
    }
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    {
        let mut it = rustix::fs::Dir::read_from(&sub)?;
        while let Some(d) = it.read() {
            let d = d?;
            let n = d.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
    }
    for n in names {
        remove_all_at(sub.as_fd(), &n)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

/// A numeric header field that is all NULs or spaces reads as 0, as GNU tar and Go's
/// archive/tar read it (some layer writers leave unused fields empty).
fn lenient(field: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    match parsed {
        Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

/// Parses a PAX time (`seconds[.fraction]`, possibly negative) into a timespec.
fn parse_pax_time(v: &[u8]) -> Option<rustix::fs::Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        nanos += c.to_digit(10)? as i64 * 10i64.pow(8 - i as u32);
    }
    if tv_sec < 0 && nanos > 0 {
        return Some(rustix::fs::Timespec {
            tv_sec: tv_sec - 1,
            tv_nsec: (1_000_000_000 - nanos) as _,
        });
    }
    Some(rustix::fs::Timespec {
        tv_sec,
        tv_nsec: nanos as _,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_drop_dots_and_refuse_escapes() {
        let t = Path::new("/t");
        assert_eq!(
            components(b"./a//b/./c/", t).unwrap(),
            vec![&b"a"[..], b"b", b"c"]
        );
        assert!(components(b"./", t).unwrap().is_empty());
        assert!(matches!(
            components(b"a/../../x", t),
            Err(LayerError::Escape { .. })
        ));
        assert!(matches!(
            components(b"/etc/x", t),
            Err(LayerError::Escape { .. })
        ));
    }

    #[test]
    fn pax_times_parse_fractions() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_pax_time(b"12").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
        assert!(parse_pax_time(b"x").is_none());
    }
}
