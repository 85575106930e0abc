//! OOM kills in the container's memory cgroup, as they happen. The counter
//! is `oom_kill` (Linux 4.13+) in cgroup v1's `memory.oom_control` or cgroup
//! v2's `memory.events`; the shim is told of changes through cgroup v1's
//! eventfd notification (Documentation/admin-guide/cgroup-v1/memory.rst,
//! "OOM Control": an eventfd registered in `cgroup.event_control`) or, on
//! v2, inotify on `memory.events` (Documentation/admin-guide/cgroup-v2.rst:
//! "a value change in this file generates a file modified event"). Each
//! increase of the counter is one OOM event; the init's exit takes what is
//! left, so none is lost or sent twice.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::io::unix::AsyncFd;

/// Which cgroup version's file holds the counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    V1,
    V2,
}

/// The OOM kill counter of one container's memory cgroup.
pub struct OomCounter {
    file: PathBuf,
    layout: Layout,
    /// The count already reported.
    seen: Mutex<u64>,
}

impl OomCounter {
    /// The counter of `pid`'s memory cgroup, starting from its current
    /// value; `None` when the process has no memory cgroup (or the kernel
    /// no counter).
    pub fn for_pid(pid: u32) -> Option<OomCounter> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let (file, layout) = counter_file(&text)?;
        let base = read_oom_kills(&file)?;
        Some(OomCounter {
            file,
            layout,
            seen: Mutex::new(base),
        })
    }

    /// OOM kills since the last call.
    pub fn take_new(&self) -> u64 {
        let Some(now) = read_oom_kills(&self.file) else {
            return 0;
        };
        let mut seen = self.seen.lock().unwrap();
        let new = now.saturating_sub(*seen);
        *seen = (*seen).max(now);
        new
    }

    /// A readable fd that wakes up when the counter may have changed.
    pub fn notifier(&self) -> std::io::Result<AsyncFd<OwnedFd>> {
        let fd = match self.layout {
            Layout::V1 => {
                let dir = self.file.parent().unwrap_or(Path::new("/"));
                let control = std::fs::File::open(&self.file)?;
                let efd = rustix::event::eventfd(
                    0,
                    rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
                )?;
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.event_control"))?
                    .write_all(format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()).as_bytes())?;
                // The registration holds its own reference to the control
                // file; ours may close.
                efd
            }
            Layout::V2 => {
                use rustix::fs::inotify;
                let fd =
                    inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
                inotify::add_watch(&fd, &self.file, inotify::WatchFlags::MODIFY)?;
                fd
            }
        };
        // SAFETY: the OwnedFd stays open and unchanged while the AsyncFd
        // owns it.
        unsafe { AsyncFd::register(fd) }.map_err(|e| e.into())
    }
}

/// Drains a notifier after it woke up.
pub fn drain(fd: &AsyncFd<OwnedFd>) {
    let mut buf = [0u8; 1024];
    while rustix::io::read(fd.get_ref().as_fd(), &mut buf).is_ok_and(|n| n > 0) {}
}

/// The counter file for a /proc/PID/cgroup text: the v1 memory controller's
/// memory.oom_control, else the v2 group's memory.events.
fn counter_file(proc_cgroup: &str) -> Option<(PathBuf, Layout)> {
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            let f = Path::new("/sys/fs/cgroup/memory")
                .join(path.trim_start_matches('/'))
                .join("memory.oom_control");
            return f.exists().then_some((f, Layout::V1));
        }
    }
    let path = proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let f = Path::new("/sys/fs/cgroup")
        .join(path.trim_start_matches('/'))
        .join("memory.events");
    f.exists().then_some((f, Layout::V2))
}

/// The `oom_kill` line of memory.oom_control or memory.events.
fn read_oom_kills(file: &Path) -> Option<u64> {
    parse_oom_kills(&std::fs::read_to_string(file).ok()?)
}

fn parse_oom_kills(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_parse() {
        assert_eq!(
            parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
            Some(3)
        );
        assert_eq!(
            parse_oom_kills("low 0\nhigh 0\nmax 2\noom 2\noom_kill 1\noom_group_kill 0\n"),
            Some(1)
        );
        assert_eq!(parse_oom_kills("under_oom 0\n"), None);
    }
}
