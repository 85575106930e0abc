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
use crate::layout::{Controller, Layout};
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
        // The registration lives as long as this eventfd (the kernel keeps
        // no reference to the memory.oom_control file it was made with:
        // memcg_write_event_control, mm/memcontrol.c).
        eventfd: OwnedFd,
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
            source: Source::V1 { eventfd },
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

    /// The notifier of the memory cgroup process `pid` is in (read from
    /// `/proc/PID/cgroup`), on the host's `layout`; None when the process
    /// has no memory cgroup (no memory controller mounted).
    pub fn for_process(layout: &Layout, pid: i32) -> Result<Option<OomNotifier>, CgroupError> {
        let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let text = interface_file::read(&path)?;
        let Some(dir) = memory_cgroup_dir(layout, &text) else {
            return Ok(None);
        };
        match layout {
            Layout::V1 { .. } => OomNotifier::v1(&dir).map(Some),
            Layout::V2 { .. } => OomNotifier::v2(&dir).map(Some),
        }
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

/// The directory of the memory cgroup a `/proc/PID/cgroup` text names, on
/// `layout`: the v1 hierarchy carrying `memory`, or the v2 group.
fn memory_cgroup_dir(layout: &Layout, proc_cgroup: &str) -> Option<PathBuf> {
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        match layout {
            Layout::V1 { hierarchies } if controllers.split(',').any(|c| c == "memory") => {
                let h = hierarchies
                    .iter()
                    .find(|h| h.controllers.has(Controller::Memory))?;
                return Some(h.dir_of(rel));
            }
            Layout::V2 { mount } if controllers.is_empty() => return Some(mount.join(rel)),
            _ => {}
        }
    }
    None
}

impl AsRawFd for OomNotifier {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.as_fd().as_raw_fd()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{ControllerSet, Hierarchy};

    fn hybrid() -> Layout {
        Layout::V1 {
            hierarchies: vec![
                Hierarchy {
                    controllers: ControllerSet::of(Controller::Pids),
                    mount: PathBuf::from("/sys/fs/cgroup/pids"),
                    root: "/".into(),
                },
                Hierarchy {
                    controllers: ControllerSet::of(Controller::Memory),
                    mount: PathBuf::from("/sys/fs/cgroup/memory"),
                    root: "/".into(),
                },
                Hierarchy {
                    controllers: ControllerSet::of(Controller::Unified),
                    mount: PathBuf::from("/sys/fs/cgroup/unified"),
                    root: "/".into(),
                },
            ],
        }
    }

    const HYBRID_PROC: &str = "12:pids:/berth/c1\n7:memory:/berth/c1\n0::/berth/c1\n";

    #[test]
    fn the_v1_memory_hierarchy_is_taken_on_a_hybrid_host() {
        assert_eq!(
            memory_cgroup_dir(&hybrid(), HYBRID_PROC),
            Some(PathBuf::from("/sys/fs/cgroup/memory/berth/c1"))
        );
    }

    #[test]
    fn the_unified_group_is_taken_on_v2() {
        let v2 = Layout::V2 {
            mount: PathBuf::from("/sys/fs/cgroup"),
        };
        assert_eq!(
            memory_cgroup_dir(&v2, "0::/berth/c2\n"),
            Some(PathBuf::from("/sys/fs/cgroup/berth/c2"))
        );
    }

    #[test]
    fn no_memory_controller_is_none() {
        assert_eq!(
            memory_cgroup_dir(&hybrid(), "12:pids:/berth/c1\n0::/x\n"),
            None
        );
    }
}
