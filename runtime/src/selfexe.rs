//! CVE-2019-5736: a container must never be able to write to the host's
//! runtime binary through /proc/<pid>/exe. While the runtime's code runs in a
//! process that is inside the container (the init before its execve, an exec'd
//! process before its execve), /proc/self/exe of that process would be the host
//! binary; a container entrypoint of `/proc/self/exe` would even run it under
//! the container's control, and a second process could reopen it for writing
//! once it exits.
//!
//! The fix (runc 1.1, crun): commands that enter a container first re-execute
//! the runtime from a sealed memfd copy of itself. /proc/self/exe then names
//! that memfd, which is sealed against writes, so the host file is never
//! reachable. The copy is one sendfile of the (small, static) binary.
//! runc 1.2's read-only overlay trick avoids the copy but needs an extra
//! mount namespace and mount per call; measured here, the copy is cheaper
//! for a binary of this size (see README's benchmark section).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Context, Result};
use crate::sys;

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Whether this process already runs from a sealed memfd.
pub fn is_sealed_copy() -> bool {
    let Ok(fd) = sys::open("/proc/self/exe", libc::O_RDONLY, 0) else {
        return false;
    };
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

/// Re-executes the runtime from a sealed memfd copy unless it already runs
/// from one. Returns only on failure.
pub fn ensure_sealed_copy() -> Result<()> {
    if is_sealed_copy() {
        return Ok(());
    }
    let exe =
        sys::open("/proc/self/exe", libc::O_RDONLY, 0).context(|| "open /proc/self/exe".into())?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    sys::check(unsafe { libc::fstat(exe.as_raw_fd(), &mut st) })
        .context(|| "stat /proc/self/exe".into())?;
    let memfd = sys::check(unsafe {
        libc::memfd_create(
            c"berth-runtime".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    })
    .context(|| "memfd_create".into())?;
    let memfd = unsafe { OwnedFd::from_raw_fd(memfd) };
    let mut left = st.st_size as usize;
    while left > 0 {
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                left,
            )
        };
        if n <= 0 {
            return Err(std::io::Error::last_os_error())
                .context(|| "copy runtime binary to memfd".into());
        }
        left -= n as usize;
    }
    sys::check(unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) })
        .context(|| "seal runtime memfd".into())?;
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
            memfd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            environ,
            libc::AT_EMPTY_PATH,
        )
    };
    Err(std::io::Error::last_os_error()).context(|| "re-exec runtime from memfd".into())
}
