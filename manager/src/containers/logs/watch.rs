//! Waiting for a log to change while following it: an inotify watch on the
//! log's directory wakes the reader as soon as a file in it is written,
//! created or renamed (a rotation), so new entries show at once; a
//! [`StopBell`] (an eventfd(2)) wakes it at once when it must stop. The
//! wait is also bounded ([`MAX_WAIT`]) so that the reader never depends on
//! inotify alone (inotify(7): events can be dropped when the queue
//! overflows, and instances are limited by `fs.inotify.max_user_instances`;
//! without one the reader polls).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// The longest a follower sleeps before looking at the files again.
pub const MAX_WAIT: Duration = Duration::from_millis(100);

/// Rung once when a follower must stop (its stop future resolved, or its
/// consumer went away); stays rung, so every later wait returns at once.
#[derive(Debug)]
pub struct StopBell {
    /// An eventfd, or `None` when none could be made (the follower then
    /// notices within [`MAX_WAIT`]).
    eventfd: Option<OwnedFd>,
}

impl StopBell {
    /// A bell not rung yet.
    pub fn new() -> StopBell {
        // SAFETY: eventfd returns a new fd we own, or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        StopBell {
            eventfd: (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) }),
        }
    }

    /// Rings it (wakes the follower's current and every later wait).
    pub fn ring(&self) {
        if let Some(fd) = &self.eventfd {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a u64 we own.
            unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }
}

impl Default for StopBell {
    fn default() -> Self {
        StopBell::new()
    }
}

/// Wakes a follower when the log's directory changes.
pub struct DirWatch {
    /// The inotify instance, or `None` when none could be made (polling).
    inotify: Option<OwnedFd>,
}

impl DirWatch {
    /// Watches `dir`; falls back to polling every [`MAX_WAIT`] when inotify
    /// is not available.
    pub fn new(dir: &Path) -> DirWatch {
        DirWatch {
            inotify: Self::inotify(dir),
        }
    }

    fn inotify(dir: &Path) -> Option<OwnedFd> {
        use std::os::unix::ffi::OsStrExt;
        let cdir = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: plain syscalls; the fd is owned right after creation.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if fd < 0 {
                return None;
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mask = libc::IN_MODIFY
                | libc::IN_CREATE
                | libc::IN_MOVED_TO
                | libc::IN_MOVED_FROM
                | libc::IN_DELETE
                | libc::IN_CLOSE_WRITE
                | libc::IN_ONLYDIR;
            if libc::inotify_add_watch(fd.as_raw_fd(), cdir.as_ptr(), mask) < 0 {
                return None;
            }
            Some(fd)
        }
    }

    /// Sleeps until something in the directory changes, `bell` rings or
    /// [`MAX_WAIT`] passes, whichever is first.
    pub fn wait(&self, bell: &StopBell) {
        // An fd of -1 is ignored by poll(2).
        let fd = |f: &Option<OwnedFd>| f.as_ref().map_or(-1, |f| f.as_raw_fd());
        let mut pfds = [
            libc::pollfd {
                fd: fd(&self.inotify),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fd(&bell.eventfd),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let ready =
            unsafe { libc::poll(pfds.as_mut_ptr(), 2, MAX_WAIT.as_millis() as libc::c_int) };
        if ready > 0 && pfds[0].revents != 0 {
            self.drain();
        }
    }

    /// Discards the queued events: which file changed does not matter, the
    /// reader looks at all of them.
    fn drain(&self) {
        let Some(fd) = &self.inotify else { return };
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reads into a buffer we own; the fd is non-blocking.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
        }
    }

    /// Whether inotify is in use (else the reader polls).
    pub fn is_inotify(&self) -> bool {
        self.inotify.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::logs::scratch::ScratchDir;

    #[test]
    fn a_write_wakes_the_waiter_and_events_are_drained() {
        let dir = ScratchDir::new("watch");
        let watch = DirWatch::new(&dir);
        assert!(watch.is_inotify());
        std::fs::write(dir.join("log"), "x").unwrap();
        let fd = watch.inotify.as_ref().unwrap().as_raw_fd();
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // Events are queued for the write ...
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 1);
        watch.wait(&StopBell::new());
        // ... and `wait` consumed them.
        pfd.revents = 0;
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 0);
    }

    #[test]
    fn a_rung_bell_wakes_every_wait() {
        let dir = ScratchDir::new("bell");
        let watch = DirWatch::new(&dir);
        let bell = StopBell::new();
        let fd = bell.eventfd.as_ref().unwrap().as_raw_fd();
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 0);
        bell.ring();
        watch.wait(&bell);
        watch.wait(&bell);
        // Still rung after the waits: it is never consumed.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 1);
    }
}
