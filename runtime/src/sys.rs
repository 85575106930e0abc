//! Thin wrappers over the kernel calls the runtime makes: each turns libc's
//! `-1 + errno` into an `io::Error`, so callers can add the path or id that
//! failed. Nothing here allocates on the hot path except for C strings.
//!
//! The runtime is single-threaded and forks/clones (DESIGN.md): these are
//! plain synchronous calls, safe to use in a child after clone.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

// The error conversions, open, openat, openat2 and fd_target live with the
// safe path resolution that stands on them (berth-in-root, shared with
// berthd and the CLI's cp).
pub use berth_in_root::sys::{
    check, check_long, cstr, fd_target, open, openat, openat2, RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
};

/// `mount(2)`. `source`, `fstype` and `data` may be absent.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    check(unsafe { libc::mount(p(source), target.as_ptr(), p(fstype), flags, p(data).cast()) })
        .map(drop)
}

/// The `/proc/self/fd/N` path of an fd: how a mount or chmod reaches a file
/// that was resolved safely, without resolving its path a second time.
pub fn fd_path(fd: RawFd) -> CString {
    CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL")
}

/// `setns(2)`.
pub fn setns(fd: RawFd, nstype: libc::c_int) -> io::Result<()> {
    check(unsafe { libc::setns(fd, nstype) }).map(drop)
}

/// `unshare(2)`.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    check(unsafe { libc::unshare(flags) }).map(drop)
}

/// A connected pair of `SOCK_SEQPACKET` unix sockets (message boundaries kept).
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `write(2)` of a whole buffer (one datagram on a seqpacket socket).
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// `read(2)` into `buf`, retrying on EINTR; returns the count (0 at EOF).
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(n as usize);
    }
}

/// `waitpid(2)` retrying on EINTR; returns the raw status.
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok((r, status));
    }
}

/// The exit code a shell would report for a wait status: the code, or
/// 128 + the signal number.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Sends fd over a unix socket with SCM_RIGHTS (the console socket protocol:
/// runc sends the pty master this way, with the pty's name as the payload).
pub fn send_fd(sock: RawFd, fd: RawFd, payload: &[u8]) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut RawFd, fd);
    }
    loop {
        let r = unsafe { libc::sendmsg(sock, &msg, 0) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receives one message carrying an fd with SCM_RIGHTS ([`send_fd`]'s
/// peer); EBADMSG when the message carried none.
pub fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut buf = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    loop {
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(io::Error::from_raw_os_error(libc::EBADMSG));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const RawFd);
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// An errno as runc's messages spell it (Go's `syscall.Errno`): strerror
/// in lower case, e.g. "permission denied". Used where the message is
/// runc's, so scripts matching it work with both runtimes.
pub fn errno_text(e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let text = unsafe { std::ffi::CStr::from_ptr(libc::strerror(code)) }.to_string_lossy();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The short errno name (`EPERM`) for messages, as runc and crun print them.
pub fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let name = match code {
                libc::EPERM => "EPERM",
                libc::ENOENT => "ENOENT",
                libc::ESRCH => "ESRCH",
                libc::EINTR => "EINTR",
                libc::EIO => "EIO",
                libc::E2BIG => "E2BIG",
                libc::ENOEXEC => "ENOEXEC",
                libc::EBADF => "EBADF",
                libc::ECHILD => "ECHILD",
                libc::EAGAIN => "EAGAIN",
                libc::ENOMEM => "ENOMEM",
                libc::EACCES => "EACCES",
                libc::EBUSY => "EBUSY",
                libc::EEXIST => "EEXIST",
                libc::EXDEV => "EXDEV",
                libc::ENODEV => "ENODEV",
                libc::ENOTDIR => "ENOTDIR",
                libc::EISDIR => "EISDIR",
                libc::EINVAL => "EINVAL",
                libc::ENOSPC => "ENOSPC",
                libc::EROFS => "EROFS",
                libc::ELOOP => "ELOOP",
                libc::ENAMETOOLONG => "ENAMETOOLONG",
                libc::ENOSYS => "ENOSYS",
                libc::ENOTEMPTY => "ENOTEMPTY",
                libc::ETXTBSY => "ETXTBSY",
                _ => return e.to_string(),
            };
            name.to_string()
        }
        None => e.to_string(),
    }
}

/// Marks every fd from `first` up close-on-exec (CVE-2024-21626: no host fd
/// may reach the container). `close_range(2)` with CLOSE_RANGE_CLOEXEC is
/// one syscall; a kernel without it (before 5.11) or a seccomp filter the
/// runtime itself runs under refuses it, and then each fd listed in
/// /proc/self/fd is marked, as runc does.
pub fn cloexec_from(first: RawFd) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    let r = check_long(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    });
    if r.is_ok() {
        return Ok(());
    }
    // The directory's own fd is listed too; marking it is harmless.
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Some(fd) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        if fd >= first {
            let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFD) });
            match flags {
                Ok(f) => {
                    check(unsafe { libc::fcntl(fd, libc::F_SETFD, f | libc::FD_CLOEXEC) })?;
                }
                // Closed meanwhile: the read_dir fd itself, once dropped.
                Err(e) if e.raw_os_error() == Some(libc::EBADF) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// `dup2` keeping the fd inheritable.
pub fn dup2(old: RawFd, new: RawFd) -> io::Result<()> {
    check(unsafe { libc::dup2(old, new) }).map(drop)
}

/// `struct clone_args` of clone3(2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3(2) without a new stack: fork semantics (the child returns 0 on a
/// copy of the caller's stack) plus namespace flags and, on cgroup v2,
/// CLONE_INTO_CGROUP so the child starts in its cgroup. Only safe in a
/// single-threaded process, which the runtime is.
pub fn clone3(flags: libc::c_int, cgroup_fd: Option<RawFd>) -> io::Result<libc::pid_t> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs {
        flags: flags as u32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    check_long(ret).map(|p| p as libc::pid_t)
}

/// Opens a pidfd for `pid` (pidfd_open(2)).
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    let fd = check_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends a signal through a pidfd (no pid-reuse race).
pub fn pidfd_send_signal(pidfd: RawFd, sig: libc::c_int) -> io::Result<()> {
    check_long(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// Waits until the pidfd's process has exited, up to `timeout_ms` (-1: no
/// limit). A pidfd becomes readable when its process exits, even for a
/// process that is not our child: no polling of /proc needed.
pub fn pidfd_wait_exit(pidfd: RawFd, timeout_ms: libc::c_int) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(r > 0);
    }
}
