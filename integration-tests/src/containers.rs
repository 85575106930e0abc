//! Helpers of the container command tests (`tests/containers.rs`): a private
//! berthd with a `busybox:latest` image imported from Debian's
//! busybox-static, container names under the test's `bt` prefix, and views
//! of what a container left on the host (its cgroups, berthd's mounts and
//! snapshots) to prove nothing is left behind.

use crate::berthd::Berthd;
use crate::registry::tar_dir;
use crate::{busybox_rootfs, require_root, stdout, unique_name, TestDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// A berthd with `busybox:latest` (CMD ["/bin/sh"]) imported.
pub struct Fixture {
    pub d: Berthd,
    pub work: TestDir,
}

impl Fixture {
    /// Starts berthd and imports the busybox image (not a `Default`: it
    /// starts a daemon).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Fixture {
        require_root();
        Fixture::with_daemon(Berthd::start())
    }

    /// The same with berthd started on a config file of this JSON.
    pub fn with_config(config: &str) -> Fixture {
        require_root();
        Fixture::with_daemon(Berthd::start_with_config(config))
    }

    /// The fixture on a berthd the test started (with its own daemon.json).
    pub fn with_daemon(d: Berthd) -> Fixture {
        let work = TestDir::new("ctr");
        let rootfs = work.join("rootfs");
        busybox_rootfs(&rootfs);
        let tarball = work.join("rootfs.tar");
        tar_dir(&rootfs, &tarball);
        d.ok(&[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            tarball.to_str().unwrap(),
            "busybox:latest",
        ]);
        Fixture { d, work }
    }

    /// A container name unique to this test.
    pub fn name(&self, what: &str) -> String {
        unique_name(what)
    }

    /// `berth ARGS` (output and exit status as the user sees them).
    pub fn berth(&self, args: &[&str]) -> Output {
        self.d.berth(args)
    }

    /// `berth ARGS`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.d.ok(args)
    }

    /// Starts `berth ARGS` in the background with piped stdout/stderr.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.d
            .berth_cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth")
    }

    /// `berth run -d --name NAME busybox ARGS...`: the new id.
    pub fn run_detached(&self, name: &str, command: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--name", name, "busybox"];
        args.extend_from_slice(command);
        let id = self.ok(&args);
        assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");
        id
    }

    /// The docker inspect JSON of one container.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.ok(&["container", "inspect", name]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("inspect JSON");
        v[0].clone()
    }

    /// The host pid of the container's init.
    pub fn pid(&self, name: &str) -> u32 {
        let pid = self.inspect(name)["State"]["Pid"].as_u64().unwrap_or(0) as u32;
        assert!(pid > 0, "{name} has no pid");
        pid
    }

    /// `ps -a` names, one per container.
    pub fn all_names(&self) -> Vec<String> {
        self.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Polls `cond` for up to `secs` seconds.
    pub fn eventually(&self, secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "{what} did not happen in {secs} s\nberthd log:\n{}",
                self.d.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The mount points under berthd's dirs (a container's rootfs is
    /// mounted while it exists; none may outlive it).
    pub fn mounts_under_berthd(&self) -> Vec<String> {
        mounts_under(&self.d.dir.path)
    }

    /// The active (container) snapshot dirs berthd keeps.
    pub fn snapshot_count(&self) -> usize {
        std::fs::read_dir(self.d.root.join("snapshots/overlayfs"))
            .map(|r| r.count())
            .unwrap_or(0)
    }

    /// Force-removes every container this berthd has (test clean-up).
    pub fn remove_all(&self) {
        for name in self.all_names() {
            let _ = self.d.berth(&["rm", "-f", &name]);
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// Mount points at or under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.display().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|t| t == &prefix || t.starts_with(&format!("{prefix}/")))
        .collect()
}

/// The host directory of a process's cgroup for one v1 controller
/// (`/sys/fs/cgroup/freezer/<path>`), from /proc/PID/cgroup.
pub fn cgroup_dir(pid: u32, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        if let (Some(c), Some(p)) = (controllers, path) {
            if c.split(',').any(|x| x == controller) {
                return Path::new("/sys/fs/cgroup")
                    .join(c)
                    .join(p.trim_start_matches('/'));
            }
        }
    }
    panic!("process {pid} has no {controller} cgroup:\n{text}");
}

/// Reads lines from a child's stdout until one satisfies `want` or `secs`
/// pass; returns every line read. The child is killed afterwards (by pid).
pub fn read_lines_until(
    mut child: Child,
    secs: u64,
    mut want: impl FnMut(&str) -> bool,
) -> (Vec<String>, bool) {
    use std::io::BufRead;
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut lines = Vec::new();
    let mut found = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = want(&l);
                lines.push(l);
                if hit {
                    found = true;
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (lines, found)
}

/// stdout of an Output, untrimmed (tty output keeps its `\r\n`).
pub fn raw_stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// stdout, trimmed, as lines.
pub fn lines(out: &Output) -> Vec<String> {
    stdout(out).lines().map(str::to_string).collect()
}

/// A tmux server of the test's own (private socket) with one session
/// running a shell command in a real terminal; killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (run by sh) in a `cols`x`rows` terminal.
    pub fn start(command: &str, cols: u32, rows: u32) -> Tmux {
        let socket = unique_name("tmux");
        let out = std::process::Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "bt",
            ])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .arg(command)
            .output()
            .expect("start tmux");
        assert!(out.status.success(), "tmux: {}", crate::stderr(&out));
        Tmux { socket }
    }

    /// Types keys (tmux send-keys syntax: text, `Enter`, `C-p`).
    pub fn keys(&self, keys: &[&str]) {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "bt"])
            .args(keys)
            .output()
            .expect("tmux send-keys");
        assert!(out.status.success(), "send-keys: {}", crate::stderr(&out));
    }

    /// The screen's text.
    pub fn screen(&self) -> String {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "bt"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Resizes the terminal.
    pub fn resize(&self, cols: u32, rows: u32) {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "resize-window", "-t", "bt"])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .output()
            .expect("tmux resize-window");
        assert!(out.status.success(), "resize: {}", crate::stderr(&out));
    }

    /// Waits until the screen shows `text`; panics with the screen after `secs`.
    pub fn wait_for(&self, text: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} not on the screen in {secs} s:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
