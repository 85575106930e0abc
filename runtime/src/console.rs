//! The container's terminal (`process.terminal`): a pty made inside the
//! container's own devpts instance, whose master is sent to the caller over
//! `--console-socket` with SCM_RIGHTS (runc's protocol, which conmon and
//! containerd's shim speak), and whose slave becomes the process's stdio and
//! controlling terminal, and is bind-mounted on /dev/console for the init.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use berth_oci::ConsoleSize;

use crate::error::{Context, Result};
use crate::sys;

/// Makes a pty, sends its master over `socket`, and makes the slave the
/// calling process's controlling terminal and stdio. Returns the slave's path.
pub fn setup(socket: RawFd, size: Option<ConsoleSize>, mount_console: bool) -> Result<String> {
    let master = sys::open("/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0)
        .context(|| "open /dev/ptmx".into())?;
    let m = master.as_raw_fd();
    let unlock: libc::c_int = 0;
    sys::check(unsafe { libc::ioctl(m, libc::TIOCSPTLCK, &unlock) })
        .context(|| "unlock pty".into())?;
    let mut n: libc::c_uint = 0;
    sys::check(unsafe { libc::ioctl(m, libc::TIOCGPTN, &mut n) })
        .context(|| "get pty number".into())?;
    let slave_path = format!("/dev/pts/{n}");
    if let Some(size) = size {
        let ws = libc::winsize {
            ws_row: size.height,
            ws_col: size.width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        sys::check(unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) })
            .context(|| "set console size".into())?;
    }
    // TIOCGPTPEER opens the slave from the master without a path lookup.
    let slave = sys::check(unsafe {
        libc::ioctl(
            m,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })
    .context(|| format!("open {slave_path}"))?;
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    sys::send_fd(socket, m, slave_path.as_bytes())
        .context(|| "send pty master to console socket".into())?;
    drop(master);
    if mount_console {
        let target = c"/dev/console";
        let fd = unsafe {
            libc::open(
                target.as_ptr(),
                libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_WRONLY,
                0o600,
            )
        };
        if fd >= 0 {
            unsafe { libc::close(fd) };
        }
        sys::mount(
            Some(&sys::fd_path(slave.as_raw_fd())),
            target,
            None,
            libc::MS_BIND,
            None,
        )
        .context(|| format!("bind {slave_path} on /dev/console"))?;
    }
    sys::check(unsafe { libc::setsid() }).context(|| "setsid".into())?;
    sys::check(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) })
        .context(|| "set controlling terminal".into())?;
    for fd in 0..3 {
        sys::dup2(slave.as_raw_fd(), fd).context(|| format!("dup pty to fd {fd}"))?;
    }
    Ok(slave_path)
}

/// Connects to the caller's console socket.
pub fn connect(path: &str) -> Result<OwnedFd> {
    let what = || format!("connect to console socket {path}");
    let fd = sys::check(unsafe {
        libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
    })
    .context(what)?;
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(crate::error::Error::Invalid(format!(
            "console socket path {path} is longer than {} bytes",
            addr.sun_path.len() - 1
        )));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    sys::check(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            &addr as *const libc::sockaddr_un as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    })
    .context(what)?;
    Ok(fd)
}

/// Receives the pty master the container's init sent over the runtime's own
/// console socket pair (the foreground terminal of `run` and `exec`).
pub fn receive_master(socket: RawFd) -> Result<OwnedFd> {
    sys::recv_fd(socket).context(|| "receive the pty master from the container".into())
}

/// Gives the process's user the ownership of its stdio, as runc's
/// `fixStdioPermissions` (called by the init and by exec just before they
/// become the user): a pty made by the init (owned by root) or pipes from
/// the caller must be usable by a non-root process, e.g. to change its
/// terminal's mode or to open /dev/stdout. Only the uid changes (devpts'
/// `gid=5` stays); stdio on /dev/null is left alone; EINVAL, EPERM and EROFS
/// (an owner not mapped in a user namespace, a read-only /dev) leave the fd
/// as it is, as runc does.
pub fn give_stdio_to(uid: libc::uid_t) -> Result<()> {
    let mut null_rdev = None;
    for fd in 0..3 {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_uid == uid {
            continue;
        }
        let null = match null_rdev {
            Some(r) => r,
            None => {
                let mut n: libc::stat = unsafe { std::mem::zeroed() };
                sys::check(unsafe { libc::stat(c"/dev/null".as_ptr(), &mut n) })
                    .context(|| "stat /dev/null".into())?;
                null_rdev = Some(n.st_rdev);
                n.st_rdev
            }
        };
        if st.st_rdev == null {
            continue;
        }
        if unsafe { libc::fchown(fd, uid, st.st_gid) } != 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINVAL | libc::EPERM | libc::EROFS) => {}
                _ => return Err(e).context(|| format!("chown stdio fd {fd} to uid {uid}")),
            }
        }
    }
    Ok(())
}
