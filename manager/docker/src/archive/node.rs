//! Files reached through pinned `O_PATH` file descriptors.
//!
//! A running container can rename, replace or symlink anything in its rootfs while berthd
//! reads or writes it. Every operation here therefore works on a descriptor that was resolved
//! once, safely ([`RootDir`](berth_in_root::RootDir) for multi-component paths,
//! `openat(..., O_NOFOLLOW)` of a single name under a pinned directory otherwise), and reaches
//! the inode afterwards through `/proc/self/fd/N` (which the kernel resolves to exactly that
//! inode, never by name) or through `*at(fd, "", AT_EMPTY_PATH)` calls. This is the
//! discipline runc adopted after CVE-2021-30465 (symlink-exchange races on mount targets).

use std::ffi::{CStr, CString, OsStr};
use std::fs::{File, Metadata};
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// One extended attribute: name and value.
pub use super::entry::Xattr;

/// The largest xattr name list and value the kernel allows (XATTR_LIST_MAX, XATTR_SIZE_MAX).
const XATTR_MAX: usize = 65536;

/// An `O_PATH` descriptor of one file and its metadata, taken through that descriptor.
pub struct Node {
    pub fd: OwnedFd,
    pub meta: Metadata,
}

impl Node {
    /// Opens `name` (a single component) under the directory `dir` without following it if
    /// it is a symlink.
    pub fn open_at(dir: RawFd, name: &OsStr) -> io::Result<Node> {
        let c = cstring(name.as_bytes())?;
        let fd = berth_in_root::sys::openat(dir, &c, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        Node::from_fd(fd)
    }

    /// Takes the metadata of an already resolved descriptor.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Node> {
        let meta = fstat(fd.as_raw_fd())?;
        Ok(Node { fd, meta })
    }

    /// `/proc/self/fd/N` of this node: reaches exactly this inode.
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Opens the node's contents for reading (never by name again).
    pub fn reopen_read(&self) -> io::Result<File> {
        File::open(self.proc_path())
    }

    /// The target of a symlink node.
    pub fn read_link(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
        // readlinkat(fd, "") reads the link an O_PATH|O_NOFOLLOW fd refers to (readlinkat(2)).
        let n = unsafe {
            libc::readlinkat(
                self.fd.as_raw_fd(),
                c"".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        Ok(buf)
    }

    /// The node's xattrs, except overlayfs's own `trusted.overlay.*` bookkeeping. Symlinks
    /// carry none here: their xattrs can only be reached by name.
    pub fn xattrs(&self) -> io::Result<Vec<Xattr>> {
        if self.meta.file_type().is_symlink() {
            return Ok(Vec::new());
        }
        let path = cstring(self.proc_path().as_os_str().as_bytes())?;
        let mut names = vec![0u8; XATTR_MAX];
        let n = unsafe { libc::listxattr(path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOTSUP) => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        let mut out = Vec::new();
        let mut value = vec![0u8; XATTR_MAX];
        for name in names[..n as usize].split(|&b| b == 0) {
            if name.is_empty() || name.starts_with(b"trusted.overlay.") {
                continue;
            }
            let cname = cstring(name)?;
            let len = unsafe {
                libc::getxattr(
                    path.as_ptr(),
                    cname.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            if len < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ENODATA) {
                    continue; // removed between listing and reading
                }
                return Err(e);
            }
            out.push((name.to_vec(), value[..len as usize].to_vec()));
        }
        Ok(out)
    }

    /// Sets one xattr on the node (not on symlinks, see [`Node::xattrs`]).
    pub fn set_xattr(&self, name: &[u8], value: &[u8]) -> io::Result<()> {
        let path = cstring(self.proc_path().as_os_str().as_bytes())?;
        let cname = cstring(name)?;
        let r = unsafe {
            libc::setxattr(
                path.as_ptr(),
                cname.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        check(r)
    }

    /// Changes the node's owner (the symlink itself for a symlink).
    pub fn chown(&self, uid: u32, gid: u32) -> io::Result<()> {
        let r = unsafe {
            libc::fchownat(
                self.fd.as_raw_fd(),
                c"".as_ptr(),
                uid,
                gid,
                libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        check(r)
    }

    /// Changes the node's permission bits (symlinks have none to change).
    pub fn chmod(&self, mode: u32) -> io::Result<()> {
        let path = cstring(self.proc_path().as_os_str().as_bytes())?;
        check(unsafe { libc::chmod(path.as_ptr(), mode as libc::mode_t) })
    }
}

/// `fstat` of a descriptor (`O_PATH` ones included: statx with `AT_EMPTY_PATH`).
pub fn fstat(fd: RawFd) -> io::Result<Metadata> {
    // The File only borrows the fd: ManuallyDrop keeps it from closing it.
    let file = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
    file.metadata()
}

/// Sets the access and modification times of `name` under `dir`, not following a symlink.
pub fn set_mtime_at(dir: RawFd, name: &CStr, secs: i64) -> io::Result<()> {
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    check(unsafe {
        libc::utimensat(
            dir,
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

/// A C string of `bytes`, refusing NUL bytes.
pub fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in name"))
}

/// Maps a libc return value to an io::Result.
pub fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
