//! A process held by a pidfd (pidfd_open(2)): signals and waits that can
//! never reach another process reusing its pid, and an exit berthd can
//! await without being the process's parent.
//!
//! berthd is the parent of neither a shim (it double-forks into its own
//! session) nor a container's init (the shim is), so it cannot `waitpid`
//! them; a pidfd turns readable the moment its process exits, even while
//! the process waits as a zombie for its parent to reap it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// One process, by pidfd.
pub struct PidFd {
    pub pid: i32,
    fd: OwnedFd,
}

impl PidFd {
    /// A pidfd for `pid`; None if no such process (or it was reaped). The
    /// caller checks afterwards that the process is the one it meant: from
    /// the moment the pidfd is held, a check of the pid cannot be fooled by
    /// reuse.
    pub fn open(pid: i32) -> Option<PidFd> {
        if pid <= 0 {
            return None;
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the syscall returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Some(PidFd { pid, fd })
    }

    /// SIGKILL.
    pub fn kill(&self) {
        // SAFETY: pidfd_send_signal on our own pidfd, no siginfo.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }

    /// Resolves once the process has exited (at once if it has). Holds one
    /// registration with the runtime's reactor while it waits, nothing else.
    pub async fn exited(&self) {
        // SAFETY: the AsyncFd borrows the pidfd, which stays open (and the
        // same) for as long as the AsyncFd lives.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                self.fd.as_raw_fd(),
                tokio::io::Interest::READABLE,
            )
        };
        match registered {
            Ok(fd) => {
                let _ = fd.readable().await;
            }
            // No reactor registration (never seen): look every 100 ms.
            Err(_) => {
                while !self.has_exited() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Waits up to `timeout` for the process to exit; true once it has.
    pub async fn exited_within(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.exited()).await.is_ok()
    }

    /// Whether the process has exited, without waiting.
    fn has_exited(&self) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd of ours, no timeout.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
    }
}
