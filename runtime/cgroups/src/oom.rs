//! OOM-kill notifications for `events`, as a file descriptor a poll loop
//! can wait on.
//!
//! * v1: an eventfd registered for `memory.oom_control` through
//!   `cgroup.event_control` (cgroup-v1 `memory.rst`, "OOM Control"); the
//!   eventfd becomes readable on each OOM. The kernel also signals it when
//!   the cgroup is removed, which [`OomNotifier::take`] tells apart by
//!   checking that the cgroup still exists.
//! * v2: `memory.events` (cgroup-v2.rst), whose `oom_kill` counter the
//!   kernel bumps on each OOM kill; kernfs wakes `poll` with `POLLPRI` when
//!   the file changes. [`OomNotifier::take`] re-reads it and returns the
//!   increase.
//!
//! Poll the fd from [`AsFd`] for [`OomNotifier::poll_events`], then call
//! `take`.

use crate::interface_file::{self, parse_flat_keyed};
use crate::{CgroupError, Errno};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A pollable source of OOM-kill events for one cgroup.
pub struct OomNotifier {
    source: Source,
    dir: PathBuf,
}

enum Source {
    V1 {
        eventfd: OwnedFd,
        // Kept open: the registration lives as long as this file.
        _oom_control: File,
    },
    V2 {
        events: File,
        last: u64,
    },
}

impl OomNotifier {
    /// Registers an eventfd on the v1 memory cgroup `dir`.
    pub fn v1(dir: &Path) -> Result<OomNotifier, CgroupError> {
        let sys = |op, errno| CgroupError::Sys {
            op,
            path: dir.to_path_buf(),
            errno,
        };
        // SAFETY: eventfd(2) with plain flags; the fd is owned below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(sys("create eventfd for", Errno::last()));
        }
        // SAFETY: efd is a fresh descriptor we own.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let oom_control = File::open(dir.join("memory.oom_control"))
            .map_err(|e| sys("open memory.oom_control in", Errno::from_io(&e)))?;
        interface_file::write_in(
            dir,
            "cgroup.event_control",
            &format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd()),
        )?;
        Ok(OomNotifier {
            source: Source::V1 {
                eventfd,
                _oom_control: oom_control,
            },
            dir: dir.to_path_buf(),
        })
    }

    /// Opens `memory.events` of the v2 cgroup `dir` and remembers its
    /// current `oom_kill` count.
    pub fn v2(dir: &Path) -> Result<OomNotifier, CgroupError> {
        let path = dir.join("memory.events");
        let events = File::open(&path).map_err(|e| interface_file::FileError::Read {
            path: path.clone(),
            errno: Errno::from_io(&e),
        })?;
        let mut notifier = OomNotifier {
            source: Source::V2 { events, last: 0 },
            dir: dir.to_path_buf(),
        };
        let count = notifier.read_oom_kill()?;
        if let Source::V2 { last, .. } = &mut notifier.source {
            *last = count;
        }
        Ok(notifier)
    }

    /// The `poll(2)` events to wait for on [`as_fd`](AsFd::as_fd).
    pub fn poll_events(&self) -> i16 {
        match self.source {
            Source::V1 { .. } => libc::POLLIN,
            Source::V2 { .. } => libc::POLLPRI,
        }
    }

    /// How many OOM kills happened since the last call (0 if none, or if
    /// the wakeup was the cgroup going away). Never blocks.
    pub fn take(&mut self) -> Result<u64, CgroupError> {
        match &mut self.source {
            Source::V1 { eventfd, .. } => {
                let mut buf = [0u8; 8];
                // SAFETY: reads 8 bytes into buf from our eventfd.
                let n = unsafe { libc::read(eventfd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if n != 8 {
                    let errno = Errno::last();
                    if errno.0 == libc::EAGAIN {
                        return Ok(0);
                    }
                    return Err(CgroupError::Sys {
                        op: "read OOM eventfd of",
                        path: self.dir.clone(),
                        errno,
                    });
                }
                if !self.dir.exists() {
                    return Ok(0);
                }
                Ok(u64::from_ne_bytes(buf))
            }
            Source::V2 { .. } => {
                let now = self.read_oom_kill()?;
                let Source::V2 { last, .. } = &mut self.source else {
                    unreachable!()
                };
                let new = now.saturating_sub(*last);
                *last = now;
                Ok(new)
            }
        }
    }

    fn read_oom_kill(&mut self) -> Result<u64, CgroupError> {
        let Source::V2 { events, .. } = &mut self.source else {
            return Ok(0);
        };
        let path = self.dir.join("memory.events");
        let mut content = String::with_capacity(128);
        events
            .seek(SeekFrom::Start(0))
            .and_then(|_| events.read_to_string(&mut content))
            .map_err(|e| interface_file::FileError::Read {
                path,
                errno: Errno::from_io(&e),
            })?;
        let count = parse_flat_keyed(&content)
            .find(|(k, _)| *k == "oom_kill")
            .map_or(0, |(_, v)| v);
        Ok(count)
    }
}

impl AsFd for OomNotifier {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.source {
            Source::V1 { eventfd, .. } => eventfd.as_fd(),
            Source::V2 { events, .. } => events.as_fd(),
        }
    }
}
