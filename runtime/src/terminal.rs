//! The foreground terminal: `run` or `exec` of a process with
//! `process.terminal: true` and no `--console-socket`, the way a person runs
//! `runc run` after `runc spec` (whose default has terminal true).
//!
//! As runc 1.1 does (its `tty.go` and `signals.go`): the runtime needs a
//! terminal of its own, the host console: the first of stderr, stdout, stdin
//! that is a tty, else its controlling terminal (`/dev/tty`); without any the
//! command fails before anything is made. The container's init makes a pty in
//! the container's devpts and sends its master over an internal socket pair
//! (the console socket protocol); the runtime puts the host console in raw
//! mode, gives the pty the host console's size (again on every SIGWINCH),
//! copies its stdin to the pty master and the master to its stdout until the
//! process exits, forwards every other signal to it, and restores the host
//! console's mode at the end.
//!
//! SIGINT sent to the runtime itself (not a ^C typed on the terminal: the
//! console is raw, so that byte goes to the container's pty, whose line
//! discipline signals the container's foreground processes) ends the
//! runtime as runc 1.1's `handleInterrupt` does: the signal is forwarded to
//! the process like any other, the host console's mode is restored and the
//! runtime exits 0 at once, leaving the container as it is (not waited for,
//! not deleted: `state` still shows it). runc forwards from another
//! goroutine, racing with its exit, so under runc the process gets that
//! SIGINT only now and then; here it always does.
//!
//! Single-threaded like the rest of the runtime: one poll loop over stdin,
//! the master and a signalfd. Input is written to the master non-blocking,
//! so a container that does not read its terminal never stops its output
//! from being copied.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Context, Error, Result};
use crate::sys;

/// The runtime's own terminal, whose mode is restored when this is dropped.
pub struct HostConsole {
    fd: RawFd,
    /// Set when the console is `/dev/tty`, opened here.
    _owned: Option<OwnedFd>,
    saved: Option<libc::termios>,
}

fn is_tty(fd: RawFd) -> bool {
    unsafe { libc::isatty(fd) == 1 }
}

impl HostConsole {
    /// Finds the host console as runc does: stderr, stdout, stdin, then
    /// `/dev/tty`. Fails with runc's cause (`open /dev/tty: ENXIO`) when the
    /// runtime has no terminal at all.
    pub fn find() -> Result<HostConsole> {
        for fd in [2, 1, 0] {
            if is_tty(fd) {
                return Ok(HostConsole {
                    fd,
                    _owned: None,
                    saved: None,
                });
            }
        }
        let tty = sys::open(
            "/dev/tty",
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            0,
        )
        .context(|| {
            "open /dev/tty (process.terminal is true without --console-socket: \
                 the runtime needs a terminal of its own)"
                .into()
        })?;
        Ok(HostConsole {
            fd: tty.as_raw_fd(),
            _owned: Some(tty),
            saved: None,
        })
    }

    /// Puts the console in raw mode (cfmakeraw, as containerd/console's
    /// SetRaw), remembering the mode to restore.
    fn set_raw(&mut self) -> Result<()> {
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        sys::check(unsafe { libc::tcgetattr(self.fd, &mut t) })
            .context(|| "get the mode of the runtime's terminal".into())?;
        self.saved = Some(t);
        unsafe { libc::cfmakeraw(&mut t) };
        sys::check(unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &t) })
            .context(|| "set the runtime's terminal raw".into())?;
        Ok(())
    }

    /// The console's window size, if it has one (a pty never resized
    /// reports 0 rows).
    pub fn size(&self) -> Option<berth_oci::ConsoleSize> {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(self.fd, libc::TIOCGWINSZ, &mut ws) } != 0 || ws.ws_row == 0 {
            return None;
        }
        Some(berth_oci::ConsoleSize {
            height: ws.ws_row,
            width: ws.ws_col,
        })
    }

    /// Copies the console's window size to `pty`; errors are ignored, as
    /// runc's (the console may be gone, e.g. after a SIGHUP).
    fn resize(&self, pty: RawFd) {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(self.fd, libc::TIOCGWINSZ, &mut ws) } == 0 {
            unsafe { libc::ioctl(pty, libc::TIOCSWINSZ, &ws) };
        }
    }
}

impl Drop for HostConsole {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, t) };
        }
    }
}

/// How [`ForegroundTerminal::proxy`] ended.
pub enum ProxyEnd {
    /// The process exited with this wait status.
    Exited(libc::c_int),
    /// The runtime got SIGINT: the caller exits 0 and leaves the container
    /// as it is (runc's `handleInterrupt`).
    Interrupted,
}

/// A pty master received from the container, with the host console it is
/// proxied to.
pub struct ForegroundTerminal {
    pub master: OwnedFd,
    pub host: HostConsole,
}

/// How long output is still copied after the process exited while nothing
/// arrives: a process it left behind (an exec's background job) may hold the
/// pty open; the kernel hands a pty's written bytes to the reader from a
/// work queue, so the last bytes may come just after the exit.
const DRAIN_IDLE_MS: libc::c_int = 100;

impl ForegroundTerminal {
    /// Proxies the terminal until `pid` (our child) exits or the runtime
    /// gets SIGINT; the host console's mode is restored on return (drop).
    /// Every signal must be blocked already
    /// ([`crate::signals::block_all`]), from before the child could exit.
    pub fn proxy(mut self, pid: libc::pid_t) -> Result<ProxyEnd> {
        let m = self.master.as_raw_fd();
        clear_onlcr(m);
        self.host.set_raw()?;
        self.host.resize(m);
        set_nonblocking(m)?;
        let sigfd = signalfd_all()?;
        let mut stdin_open = true;
        // False once every slave is closed (reads fail with EIO): the loop
        // then waits for the exit on the signals alone, instead of spinning
        // on POLLHUP.
        let mut master_open = true;
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            if let Ok((p, status)) = sys::waitpid(pid, libc::WNOHANG) {
                if p == pid {
                    drain(m, &mut buf);
                    return Ok(ProxyEnd::Exited(status));
                }
            } else {
                return Err(Error::Container(format!(
                    "wait for process {pid}: no such child"
                )));
            }
            let mut fds = [
                libc::pollfd {
                    fd: sigfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: if master_open { m } else { -1 },
                    events: libc::POLLIN | if pending.is_empty() { 0 } else { libc::POLLOUT },
                    revents: 0,
                },
                libc::pollfd {
                    // A negative fd is skipped by poll.
                    fd: if stdin_open && master_open && pending.is_empty() {
                        0
                    } else {
                        -1
                    },
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context(|| "poll the container's terminal".into());
            }
            if fds[0].revents != 0 && self.signals(&sigfd, pid) {
                return Ok(ProxyEnd::Interrupted);
            }
            if fds[1].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                // EIO: no slave is open (any more); the exit comes by SIGCHLD.
                match read_nb(m, &mut buf) {
                    Some(n) if n > 0 => copy_out(&buf[..n]),
                    _ if fds[1].revents & libc::POLLIN == 0 => master_open = false,
                    _ => {}
                }
            }
            if fds[1].revents & libc::POLLOUT != 0 && !pending.is_empty() {
                let n = unsafe { libc::write(m, pending.as_ptr().cast(), pending.len()) };
                if n > 0 {
                    pending.drain(..n as usize);
                } else if n < 0 && !would_block() {
                    pending.clear();
                }
            }
            if fds[2].revents != 0 {
                match sys::read(0, &mut buf) {
                    Ok(n) if n > 0 => pending.extend_from_slice(&buf[..n]),
                    // End of input: runc stops copying and sends nothing.
                    _ => stdin_open = false,
                }
            }
        }
    }

    /// Handles the signals queued on `sigfd`: SIGWINCH resizes the pty,
    /// SIGCHLD is seen by the loop's waitpid, every other one goes to `pid`.
    /// Returns true after a SIGINT (forwarded too): the proxy ends.
    fn signals(&self, sigfd: &OwnedFd, pid: libc::pid_t) -> bool {
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        loop {
            let n = unsafe {
                libc::read(
                    sigfd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if n != size as isize {
                return false;
            }
            match info.ssi_signo as libc::c_int {
                libc::SIGCHLD => {}
                libc::SIGWINCH => self.host.resize(self.master.as_raw_fd()),
                sig => {
                    unsafe { libc::kill(pid, sig) };
                    if sig == libc::SIGINT {
                        return true;
                    }
                }
            }
        }
    }
}

/// After the exit: copies what the pty still holds, until it reports EIO
/// (no slave left) or stays silent for [`DRAIN_IDLE_MS`].
fn drain(m: RawFd, buf: &mut [u8]) {
    loop {
        let mut pfd = libc::pollfd {
            fd: m,
            events: libc::POLLIN,
            revents: 0,
        };
        if unsafe { libc::poll(&mut pfd, 1, DRAIN_IDLE_MS) } <= 0 {
            return;
        }
        match read_nb(m, buf) {
            Some(n) if n > 0 => copy_out(&buf[..n]),
            _ => return,
        }
    }
}

/// A non-blocking read: `None` on EAGAIN or an error (EIO when no slave is
/// open).
fn read_nb(fd: RawFd, buf: &mut [u8]) -> Option<usize> {
    sys::read(fd, buf).ok()
}

/// Writes the container's output to our stdout; a closed stdout drops it
/// (the container keeps running, as with runc).
fn copy_out(data: &[u8]) {
    let _ = sys::write_all(1, data);
}

fn would_block() -> bool {
    std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}

/// Clears ONLCR on the master, as runc: bytes copied in from our stdin are
/// not turned from `\n` into `\r\n` on their way to the container.
fn clear_onlcr(m: RawFd) {
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(m, &mut t) } == 0 {
        t.c_oflag &= !libc::ONLCR;
        unsafe { libc::tcsetattr(m, libc::TCSANOW, &t) };
    }
}

fn set_nonblocking(fd: RawFd) -> Result<()> {
    let flags = sys::check(unsafe { libc::fcntl(fd, libc::F_GETFL) })
        .context(|| "get the pty master's flags".into())?;
    sys::check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })
        .context(|| "make the pty master non-blocking".into())?;
    Ok(())
}

/// A signalfd for every signal (they are blocked already).
fn signalfd_all() -> Result<OwnedFd> {
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigfillset(&mut set) };
    let fd =
        sys::check(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })
            .context(|| "signalfd for the terminal's signals".into())?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
