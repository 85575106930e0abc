//! Shared pieces of the real-kernel tests: unique `bt` names, a guard that
//! kills and removes a test's cgroups even when the test fails, and child
//! processes that wait for a line on stdin before doing their work (so they
//! can be moved into a cgroup first).

#![allow(dead_code)]

use berth_cgroups::Cgroup;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `bt<pid>-<what>-<n>`: every cgroup the tests make carries the `bt` prefix.
pub fn unique(what: &str) -> String {
    format!(
        "bt{}-{what}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Kills the processes of, and destroys, a cgroup when dropped; then
/// removes any extra directories registered with it (deepest last added
/// first), so a failing test leaves nothing behind.
pub struct Guard {
    pub cgroup: Option<Cgroup>,
    pub extra_dirs: Vec<PathBuf>,
    pub children: Vec<Child>,
}

impl Guard {
    pub fn new() -> Guard {
        Guard {
            cgroup: None,
            extra_dirs: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn cgroup(&self) -> &Cgroup {
        self.cgroup.as_ref().expect("cgroup created")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.thaw();
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        for dir in self.extra_dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A child running `script` under /bin/sh once it reads a line on stdin.
pub fn spawn_waiting(script: &str) -> (Child, ChildStdin) {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("read go; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn /bin/sh");
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// Lets a [`spawn_waiting`] child go.
pub fn release(stdin: &mut ChildStdin) {
    stdin.write_all(b"go\n").unwrap();
}

/// A `sleep 1000` child.
pub fn spawn_sleep() -> Child {
    Command::new("sleep")
        .arg("1000")
        .spawn()
        .expect("spawn sleep")
}

/// The `State:` line of /proc/<pid>/status (`S (sleeping)`).
pub fn proc_state(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .unwrap()
        .trim()
        .to_string()
}

/// The line of /proc/<pid>/cgroup for a hierarchy (`memory`, or `` for v2).
pub fn proc_cgroup(pid: u32, controller: &str) -> Option<String> {
    let content = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    content.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// Waits up to 5 s for `cond`.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
