//! CVE-2019-5736: a container must never be able to write to the host's
//! runtime binary through /proc/<pid>/exe. While the runtime's code runs in a
//! process that is inside the container (the init until its execve, an exec'd
//! process until its execve), /proc/<pid>/exe of that process is the runtime
//! binary; a container process that can open it could reopen it for writing
//! once the runtime exits.
//!
//! The fix: commands that enter a container first re-execute the runtime from
//! a read-only view of itself, so /proc/self/exe names a file on a read-only
//! mount and every open for writing fails with EROFS. The view costs three
//! syscalls and no copy (runc 1.1 and crun 1.8 copy the binary into a sealed
//! memfd, a 1.5 MiB sendfile and page faults on every call: measured at about
//! 2.9 ms of CPU per `run` here, see bench/README.md):
//!
//! 1. `open_tree(/proc/self/exe, OPEN_TREE_CLONE)`: a new bind mount of the
//!    binary that is attached nowhere (an anonymous mount namespace of its
//!    own), so nothing appears in or propagates to any mount table;
//! 2. `mount_setattr(MOUNT_ATTR_RDONLY)` on it;
//! 3. `execveat(fd, "", AT_EMPTY_PATH)`. The fd is close-on-exec: when the
//!    exec closes it the anonymous namespace dissolves, leaving the mount
//!    detached from every namespace, so not even a process with
//!    CAP_SYS_ADMIN can make it writable again (mount_setattr and remount
//!    refuse a mount that is in no namespace).
//!
//! A runtime already running from a read-only mount (this view, or a binary
//! installed on a read-only file system) needs no re-exec: one statvfs.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Context, Result};
use crate::sys;

/// Whether /proc/self/exe is on a read-only mount.
pub fn runs_read_only() -> bool {
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    unsafe {
        libc::statvfs(c"/proc/self/exe".as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    }
}

/// Whether the calling user may open the runtime's binary for writing.
fn exe_writable() -> bool {
    unsafe { libc::access(c"/proc/self/exe".as_ptr(), libc::W_OK) == 0 }
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// Re-executes the runtime from a read-only view of its binary unless it
/// already runs from one. Returns only on failure.
pub fn ensure_read_only_exe() -> Result<()> {
    if runs_read_only() {
        return Ok(());
    }
    let what = || "re-exec the runtime from a read-only view of /proc/self/exe".to_string();
    let fd = match sys::check_long(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/proc/self/exe".as_ptr(),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
        )
    }) {
        Ok(fd) => fd,
        // Rootless: an unprivileged user cannot make mounts in the host's
        // namespace, but then the container (which has at most that user's
        // rights on the host) cannot write a binary the user cannot write
        // either. Only a binary the user may write needs the view.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && !exe_writable() => return Ok(()),
        Err(e) => return Err(e).context(what),
    };
    let tree = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    sys::check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .context(what)?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| {
            CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())).unwrap_or_default()
        })
        .collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            tree.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            environ,
            libc::AT_EMPTY_PATH,
        )
    };
    Err(std::io::Error::last_os_error()).context(what)
}
