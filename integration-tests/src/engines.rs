//! Real container engines driving an OCI runtime, for the drop-in tests
//! (issue 3, "Drop-in"): podman, containerd with `ctr`, and dockerd with
//! `docker`, all from Debian, each run privately on a local busybox image.
//!
//! Nothing here touches the machine's own engine state: every engine gets its
//! roots, state dirs, sockets and config under one [`Sandbox`] (a temp dir),
//! and its containers go into a cgroup subtree named after the sandbox. The
//! sandbox's drop sweeps up after the engines even when a test fails: it
//! stops (by pid) every process whose command line names the sandbox dir
//! (daemons, shims, conmon, podman's cleanup processes) and every process
//! left in the sandbox's cgroups, lazily unmounts everything under the dir,
//! removes the cgroups and then the dir.
//!
//! The runtime under test is either Debian's runc (the oracle that proves
//! the harness) or berth-runtime; [`Runtime`] names them.
//!
//! What the engines put outside the sandbox, because these versions have no
//! setting for it: podman's runtime state under the runtime's default root
//! (podman passes no `--root`, and `--runtime-flag root=` is not handed on
//! to the `podman container cleanup` that conmon runs at exit, so the state
//! of `run --rm` containers would stay behind; container dirs are removed as
//! the containers are), containerd 1.6's shim sockets in /run/containerd/s,
//! dockerd's plugin dir /run/docker/plugins, netavark's /run/containers/networks
//! and containers/image's blob-info cache in /var/lib/containers/cache: all
//! empty dirs or caches once the tests are done.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{bin, busybox_rootfs, have_program, TestDir};

/// How long one engine command may take before the test gives up on it (the
/// machine is shared and slow at times; a hung engine must not hang CI).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a daemon may take to answer after it is started.
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(60);

/// The image every engine gets, imported from a busybox-static rootfs.
pub const IMAGE: &str = "localhost/busybox:latest";

/// The container's main process for the detached tests: it exits 7 on
/// SIGTERM, which proves the engine's stop reached it through the runtime's
/// `kill`. Tests wait for the trap with [`sigterm_caught`] before stopping
/// it, so a stop never races the shell's start-up.
pub const TRAP_SCRIPT: &str = "trap 'exit 7' TERM; sleep 1000 & wait";

/// The exit status [`TRAP_SCRIPT`] gives on SIGTERM.
pub const TRAP_EXIT: i32 = 7;

/// The OCI runtime the engine drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// Debian's runc: the reference that proves the harness.
    Runc,
    /// berth-runtime, built in the same target dir as the tests.
    Berth,
}

impl Runtime {
    /// The runtime binary's absolute path.
    pub fn path(self) -> PathBuf {
        match self {
            Runtime::Runc => ["/usr/sbin/runc", "/usr/bin/runc"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .expect("runc not installed (apt-get install runc)"),
            Runtime::Berth => bin("berth-runtime"),
        }
    }

    /// Where the runtime keeps container state when the engine passes no
    /// `--root` (podman does not): used to check nothing is left behind.
    pub fn default_root(self) -> PathBuf {
        PathBuf::from(match self {
            Runtime::Runc => "/run/runc",
            Runtime::Berth => "/run/berth-runtime",
        })
    }
}

/// Panics with an install hint unless `program` is on PATH.
pub fn require_program(program: &str, package: &str) {
    assert!(
        have_program(program),
        "{program} not found: install the Debian package {package}"
    );
}

// ---------------------------------------------------------------------------
// Commands with a deadline
// ---------------------------------------------------------------------------

/// Runs `cmd` with stdin from /dev/null, capturing stdout and stderr; kills
/// it (by its pid) and panics if it outlives `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    run_with_input(cmd, None, timeout)
}

/// [`run_with_timeout`], with `input` written to the command's stdin (then
/// closed) when given.
pub fn run_with_input(cmd: &mut Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {shown}: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        // A thread, so that a command that does not read cannot block us.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
    }
    let out_reader = reader(child.stdout.take().expect("piped stdout"));
    let err_reader = reader(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = err_reader.join().unwrap_or_default();
                panic!(
                    "{shown} did not finish within {timeout:?}; stderr: {}",
                    String::from_utf8_lossy(&stderr)
                );
            }
            Err(e) => panic!("wait for {shown}: {e}"),
        }
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// A finished engine command: its output, with checks that panic with the
/// whole story (command, status, stdout, stderr) when they fail.
pub struct Ran {
    /// The command as it was run, for messages.
    pub shown: String,
    pub output: Output,
}

impl Ran {
    /// Runs `cmd` (stdin from /dev/null) with [`COMMAND_TIMEOUT`].
    pub fn new(cmd: &mut Command) -> Ran {
        Ran::with_input(cmd, None)
    }

    /// Runs `cmd` with `input` on its stdin, when given.
    pub fn with_input(cmd: &mut Command, input: Option<&[u8]>) -> Ran {
        let shown = format!("{cmd:?}");
        let output = run_with_input(cmd, input, COMMAND_TIMEOUT);
        Ran { shown, output }
    }

    /// stdout, trimmed at the end.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout)
            .trim_end()
            .to_string()
    }

    /// stderr, trimmed at the end.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr)
            .trim_end()
            .to_string()
    }

    /// The exit code (-1 if a signal ended the command).
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    fn story(&self) -> String {
        format!(
            "{}\n  status: {}\n  stdout: {}\n  stderr: {}",
            self.shown,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Panics unless the command exited 0; returns it for more checks.
    pub fn ok(self) -> Ran {
        assert!(
            self.output.status.success(),
            "command failed: {}",
            self.story()
        );
        self
    }

    /// Panics unless the command exited with `code`.
    pub fn code_is(self, code: i32) -> Ran {
        assert_eq!(self.code(), code, "unexpected exit code: {}", self.story());
        self
    }

    /// Panics unless stdout (trimmed) is exactly `want`.
    pub fn stdout_is(self, want: &str) -> Ran {
        assert_eq!(self.stdout(), want, "unexpected stdout: {}", self.story());
        self
    }

    /// Panics unless stderr contains `needle`.
    pub fn stderr_has(self, needle: &str) -> Ran {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}: {}",
            self.story()
        );
        self
    }
}

/// Polls `check` every 50 ms until it holds; panics naming `what` after
/// `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// The sandbox: one temp dir and one cgroup subtree per test
// ---------------------------------------------------------------------------

/// A temp dir holding every file, socket and mount an engine makes, and the
/// name of the cgroup subtree its containers go into (`/<name>` in every
/// hierarchy). Dropping it cleans up after the engines, whatever state a
/// failed test left them in.
pub struct Sandbox {
    /// `bt<pid>-<engine>-<n>`: the temp dir's name and the cgroup parent.
    pub name: String,
    pub dir: TestDir,
}

impl Sandbox {
    pub fn new(engine: &str) -> Sandbox {
        let dir = TestDir::new(engine);
        let name = dir
            .path
            .file_name()
            .expect("temp dir has a name")
            .to_string_lossy()
            .into_owned();
        Sandbox { name, dir }
    }

    /// A path inside the sandbox dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The cgroup parent to give the engine: `/<name>`.
    pub fn cgroup_parent(&self) -> String {
        format!("/{}", self.name)
    }

    /// The pids of live processes whose command line or executable names
    /// the sandbox dir: the engine's daemons, shims, conmon and cleanup
    /// processes, never anyone else's.
    fn own_processes(&self) -> Vec<i32> {
        // With the trailing slash: bt1-podman-1 must not match bt1-podman-10.
        let mut needle = self.dir.path.as_os_str().as_bytes().to_vec();
        needle.push(b'/');
        let me = std::process::id() as i32;
        let mut pids = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return pids;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let names_us = contains(&cmdline, &needle)
                || std::fs::read_link(entry.path().join("exe"))
                    .map(|exe| contains(exe.as_os_str().as_bytes(), &needle))
                    .unwrap_or(false);
            if names_us {
                pids.push(pid);
            }
        }
        pids
    }

    /// Every cgroup directory of the sandbox's subtree, in every mounted
    /// hierarchy, deepest first.
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for mount in cgroup_mounts() {
            let top = mount.join(&self.name);
            if top.is_dir() {
                collect_dirs_deepest_first(&top, &mut dirs);
            }
        }
        dirs
    }

    /// The sandbox's cgroup dirs whose name contains `needle` (a container
    /// id): a runtime's delete must leave none.
    pub fn cgroups_named(&self, needle: &str) -> Vec<PathBuf> {
        self.cgroup_dirs()
            .into_iter()
            .filter(|d| {
                d.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(needle))
            })
            .collect()
    }

    /// The pids still in the sandbox's cgroups (leftover container
    /// processes).
    fn cgroup_processes(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for dir in self.cgroup_dirs() {
            if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Mount points under the sandbox dir, deepest (latest) first.
    pub fn mounts(&self) -> Vec<PathBuf> {
        let prefix = self.dir.path.as_os_str().as_bytes();
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<PathBuf> = text
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .map(unescape_mountinfo)
            .filter(|p| {
                let b = p.as_os_str().as_bytes();
                b.starts_with(prefix) && matches!(b.get(prefix.len()), None | Some(b'/'))
            })
            .collect();
        points.reverse();
        points
    }

    /// Stops every process the sandbox owns: SIGTERM, then SIGKILL after a
    /// grace period. Used by [`Drop`]; engines stop their daemons gracefully
    /// before this runs.
    fn stop_processes(&self) {
        let term = self.own_processes();
        for pid in &term {
            signal(*pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !self.own_processes().is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
        for _ in 0..50 {
            let left: Vec<i32> = self
                .own_processes()
                .into_iter()
                .chain(self.cgroup_processes())
                .collect();
            if left.is_empty() {
                break;
            }
            for pid in left {
                signal(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_processes();
        for _ in 0..5 {
            let mounts = self.mounts();
            if mounts.is_empty() {
                break;
            }
            for point in mounts {
                if let Ok(c) = std::ffi::CString::new(point.as_os_str().as_bytes()) {
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                }
            }
        }
        // A cgroup can stay busy for a moment after its last process died.
        for _ in 0..50 {
            let dirs = self.cgroup_dirs();
            if dirs.is_empty() {
                break;
            }
            for dir in dirs {
                let _ = std::fs::remove_dir(&dir);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // TestDir's own drop removes the dir.
    }
}

fn signal(pid: i32, sig: libc::c_int) {
    unsafe { libc::kill(pid, sig) };
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                out.push((oct[0] - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0'));
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

/// Mount points of every cgroup (v1) and cgroup2 hierarchy on the host.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let point = left.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| unescape_mountinfo(point))
        })
        .collect()
}

fn collect_dirs_deepest_first(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs_deepest_first(&entry.path(), out);
            }
        }
    }
    out.push(dir.to_path_buf());
}

/// Whether a /proc/PID/status text shows SIGTERM caught (bit 15 of SigCgt):
/// [`TRAP_SCRIPT`]'s trap is in place, so a stop will reach it.
pub fn sigterm_caught(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
}

// ---------------------------------------------------------------------------
// Cgroup checks from the host
// ---------------------------------------------------------------------------

/// Whether the host has cgroup v1 hierarchies (v1 or hybrid), judged by
/// the v1 memory hierarchy, as runc does.
pub fn host_has_cgroup_v1() -> bool {
    Path::new("/sys/fs/cgroup/memory").is_dir()
}

/// A file of the cgroup `pid` is in, read from the host (trimmed): `v1_file`
/// in the v1 hierarchy of `controller`, or `v2_file` in the cgroup2 tree.
pub fn host_cgroup_file(pid: u32, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let dir = host_cgroup_dir(pid, controller);
    let file = dir.join(if host_has_cgroup_v1() {
        v1_file
    } else {
        v2_file
    });
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
        .trim()
        .to_string()
}

/// The memory limit of the cgroup `pid` is in, read from the host: v1's
/// memory.limit_in_bytes, or v2's memory.max.
pub fn host_memory_limit(pid: u32) -> String {
    host_cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max")
}

/// The host cgroup dir of `pid` in the v1 hierarchy holding `controller`,
/// or in the cgroup2 hierarchy when the host has no such v1 hierarchy.
fn host_cgroup_dir(pid: u32, controller: &str) -> PathBuf {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/cgroup: {e}"));
    let v1 = Path::new("/sys/fs/cgroup").join(controller);
    let on_v1 = v1.is_dir();
    // /proc/PID/cgroup lines: `ID:CONTROLLERS:PATH`; cgroup2's is `0::PATH`.
    let rel = cgroups
        .lines()
        .find_map(|l| {
            let mut fields = l.splitn(3, ':');
            let _id = fields.next()?;
            let controllers = fields.next()?;
            let path = fields.next()?;
            let wanted = if on_v1 {
                controllers.split(',').any(|c| c == controller)
            } else {
                controllers.is_empty()
            };
            wanted.then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("pid {pid} has no {controller} cgroup: {cgroups}"));
    let base = if on_v1 {
        v1
    } else {
        PathBuf::from("/sys/fs/cgroup")
    };
    base.join(rel.trim_start_matches('/'))
}

/// Whether the cgroup of `pid` is frozen, read from the host: v1's
/// freezer.state is FROZEN, or v2's cgroup.events says `frozen 1`.
pub fn host_frozen(pid: u32) -> bool {
    let dir = host_cgroup_dir(pid, "freezer");
    if host_has_cgroup_v1() {
        std::fs::read_to_string(dir.join("freezer.state"))
            .unwrap_or_else(|e| panic!("read {}/freezer.state: {e}", dir.display()))
            .trim()
            == "FROZEN"
    } else {
        std::fs::read_to_string(dir.join("cgroup.events"))
            .unwrap_or_else(|e| panic!("read {}/cgroup.events: {e}", dir.display()))
            .lines()
            .any(|l| l == "frozen 1")
    }
}

/// The file a container reads its own memory limit from, as runc mounts
/// /sys/fs/cgroup (v1: the container's own memory cgroup at
/// /sys/fs/cgroup/memory; v2: its cgroup at /sys/fs/cgroup).
pub fn container_memory_limit_file() -> &'static str {
    if host_has_cgroup_v1() {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    } else {
        "/sys/fs/cgroup/memory.max"
    }
}

// ---------------------------------------------------------------------------
// Daemons
// ---------------------------------------------------------------------------

/// A daemon started by a test, logging to a file; dropping it stops it by its
/// pid (SIGTERM, then SIGKILL) and, if the test is failing, prints the end
/// of its log.
pub struct Daemon {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Daemon {
        let file =
            std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = file.try_clone().expect("dup log fd");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon { name, child, log }
    }

    /// Waits until `ready` holds, panicking with the log if the daemon
    /// exits first or takes too long.
    pub fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + DAEMON_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited during start-up ({status}); log:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            if ready() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready after {DAEMON_START_TIMEOUT:?}; log:\n{}",
                self.name,
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last `n` lines of the daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Stops the daemon: SIGTERM, up to 20 s to exit, then SIGKILL.
    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        signal(self.child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- end of {} log ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail(60)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The busybox image
// ---------------------------------------------------------------------------

/// Writes a busybox-static rootfs as a tar file at `tar`, for `podman
/// import` and `docker import`.
pub fn busybox_tarball(scratch: &Path, tar: &Path) {
    let rootfs = scratch.join("rootfs");
    busybox_rootfs(&rootfs);
    Ran::new(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(tar)
            .arg("."),
    )
    .ok();
    std::fs::remove_dir_all(&rootfs).expect("remove scratch rootfs");
}

// ---------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------

/// A private podman: its own storage (`--root`, `--runroot`), tmp dir,
/// network config dir and containers.conf (exported as CONTAINERS_CONF),
/// cgroupfs as cgroup manager and file events (no systemd here), with
/// [`IMAGE`] imported. Dropping it removes its containers with `rm -a -f`
/// before the sandbox sweeps up.
pub struct Podman {
    pub runtime: Runtime,
    pub sandbox: Sandbox,
}

impl Podman {
    pub fn new(runtime: Runtime) -> Podman {
        require_program("podman", "podman");
        require_program("conmon", "conmon");
        let sandbox = Sandbox::new("podman");
        let conf = format!(
            "# root lacks CAP_SYS_RESOURCE here: podman's default ulimits would fail.\n\
             [containers]\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             lock_type = \"file\"\n\
             tmp_dir = \"{tmp}\"\n\
             image_copy_tmp_dir = \"{scratch}\"\n\
             [network]\n\
             network_config_dir = \"{net}\"\n",
            tmp = sandbox.path("tmp").display(),
            scratch = sandbox.path("scratch").display(),
            net = sandbox.path("net").display(),
        );
        for d in ["tmp", "scratch", "net"] {
            std::fs::create_dir_all(sandbox.path(d)).expect("mkdir in sandbox");
        }
        std::fs::write(sandbox.path("containers.conf"), conf).expect("write containers.conf");
        let podman = Podman { runtime, sandbox };
        let tar = podman.sandbox.path("busybox.tar");
        busybox_tarball(&podman.sandbox.path("scratch"), &tar);
        podman
            .run(&[
                "import",
                "--change",
                "ENV PATH=/bin",
                tar.to_str().expect("utf-8 path"),
                IMAGE,
            ])
            .ok();
        podman
    }

    /// A podman command with the private configuration.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", self.sandbox.path("containers.conf"))
            .arg("--root")
            .arg(self.sandbox.path("root"))
            .arg("--runroot")
            .arg(self.sandbox.path("runroot"))
            .arg("--tmpdir")
            .arg(self.sandbox.path("tmp"))
            .args(args);
        cmd
    }

    /// Runs a podman command (with the deadline).
    pub fn run(&self, args: &[&str]) -> Ran {
        Ran::new(&mut self.command(args))
    }

    /// `podman run` with the runtime under test, no network and the
    /// sandbox's cgroup parent, then `extra` (options, image, command).
    pub fn run_container(&self, extra: &[&str]) -> Ran {
        Ran::new(&mut self.container_command(extra))
    }

    /// The command [`Podman::run_container`] runs.
    pub fn container_command(&self, extra: &[&str]) -> Command {
        let runtime = self.runtime.path();
        let parent = self.sandbox.cgroup_parent();
        let mut args = vec![
            "run",
            "--runtime",
            runtime.to_str().expect("utf-8 path"),
            "--network",
            "none",
            "--cgroup-parent",
            &parent,
        ];
        args.extend_from_slice(extra);
        self.command(&args)
    }

    /// `podman inspect --format FORMAT NAME`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.run(&["inspect", "--format", format, name])
            .ok()
            .stdout()
    }

    /// The ids of every container podman knows.
    pub fn all_ids(&self) -> Vec<String> {
        self.run(&["ps", "-a", "-q", "--no-trunc"])
            .ok()
            .stdout()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if let Ok(out) = std::panic::catch_unwind(|| {
            run_with_timeout(
                &mut self.command(&["rm", "-a", "-f", "-t", "0"]),
                COMMAND_TIMEOUT,
            )
        }) {
            if !out.status.success() {
                eprintln!("podman rm -a -f: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        // `podman rmi` unmounts the image layers' overlay mounts; the
        // sandbox unmounts whatever is left.
        let _ = std::panic::catch_unwind(|| {
            run_with_timeout(&mut self.command(&["rmi", "-a", "-f"]), COMMAND_TIMEOUT)
        });
    }
}

// ---------------------------------------------------------------------------
// containerd + ctr
// ---------------------------------------------------------------------------

/// A private containerd (Debian 1.6): config.toml version 2 with its own
/// root, state, grpc and ttrpc sockets and opt dir, the CRI plugin
/// disabled. It lives in a sandbox it is given (dockerd shares its own).
pub struct Containerd {
    pub socket: PathBuf,
    dir: PathBuf,
    daemon: Daemon,
}

impl Containerd {
    /// Starts containerd with everything under `dir` and waits until it
    /// answers `ctr version`.
    pub fn start(dir: &Path) -> Containerd {
        Containerd::start_in(dir, None)
    }

    /// As [`Containerd::start`], in mount namespace `ns` when given.
    pub fn start_in(dir: &Path, ns: Option<&MountNs>) -> Containerd {
        Containerd::launch(dir, ns, None)
    }

    /// A private containerd with its CRI plugin on, configured by `cri`
    /// (TOML keys of `[plugins."io.containerd.grpc.v1.cri"]`, sub-tables
    /// included, written below that header): the CRI reference.
    pub fn start_cri(dir: &Path, cri: &str) -> Containerd {
        Containerd::launch(dir, None, Some(cri))
    }

    fn launch(dir: &Path, ns: Option<&MountNs>, cri: Option<&str>) -> Containerd {
        require_program("containerd", "containerd");
        require_program("ctr", "containerd");
        std::fs::create_dir_all(dir).expect("mkdir containerd dir");
        let socket = dir.join("c.sock");
        let config = format!(
            "version = 2\n\
             root = \"{root}\"\n\
             state = \"{state}\"\n\
             {disabled}\
             [grpc]\n  address = \"{sock}\"\n\
             [ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"\"\n\
             [metrics]\n  address = \"\"\n\
             [plugins]\n  [plugins.\"io.containerd.internal.v1.opt\"]\n    path = \"{opt}\"\n\
             {cri_section}",
            disabled = if cri.is_some() {
                ""
            } else {
                "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
            },
            cri_section = cri
                .map(|c| format!("[plugins.\"io.containerd.grpc.v1.cri\"]\n{c}\n"))
                .unwrap_or_default(),
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            sock = socket.display(),
            opt = dir.join("opt").display(),
        );
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config).expect("write config.toml");
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(&config_path);
        if let Some(ns) = ns {
            ns.enter(&mut cmd);
        }
        let mut daemon = Daemon::spawn("containerd", &mut cmd, dir.join("containerd.log"));
        let probe = socket.clone();
        daemon.wait_ready(|| {
            probe.exists()
                && Command::new("ctr")
                    .arg("-a")
                    .arg(&probe)
                    .arg("version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
        });
        Containerd {
            socket,
            dir: dir.to_path_buf(),
            daemon,
        }
    }

    /// A `ctr -a SOCKET ARGS` command.
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("-a").arg(&self.socket).args(args);
        cmd
    }

    /// Runs `ctr -a SOCKET ARGS` (with the deadline).
    pub fn ctr(&self, args: &[&str]) -> Ran {
        Ran::new(&mut self.ctr_command(args))
    }

    /// The dir `ctr` keeps its stdio FIFOs in (instead of
    /// /run/containerd/fifo).
    pub fn fifo_dir(&self) -> PathBuf {
        self.dir.join("fifo")
    }

    /// The runtime's `--root` the runc shim is told to use (instead of
    /// /run/containerd/runc).
    pub fn runtime_root(&self) -> PathBuf {
        self.dir.join("runtime-root")
    }

    /// The end of containerd's log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        self.daemon.log_tail(n)
    }

    /// Force-removes every task and container in every namespace but
    /// `except` (dockerd cleans its own `moby` namespace).
    fn remove_all(&self, except: &[&str]) {
        let namespaces = run_with_timeout(
            &mut self.ctr_command(&["namespaces", "ls", "-q"]),
            COMMAND_TIMEOUT,
        );
        for ns in String::from_utf8_lossy(&namespaces.stdout).lines() {
            if except.contains(&ns) {
                continue;
            }
            let tasks = run_with_timeout(
                &mut self.ctr_command(&["-n", ns, "task", "ls", "-q"]),
                COMMAND_TIMEOUT,
            );
            for id in String::from_utf8_lossy(&tasks.stdout).lines() {
                run_with_timeout(
                    &mut self.ctr_command(&["-n", ns, "task", "kill", "-a", "-s", "SIGKILL", id]),
                    COMMAND_TIMEOUT,
                );
                run_with_timeout(
                    &mut self.ctr_command(&["-n", ns, "task", "rm", "-f", id]),
                    COMMAND_TIMEOUT,
                );
            }
            let containers = run_with_timeout(
                &mut self.ctr_command(&["-n", ns, "c", "ls", "-q"]),
                COMMAND_TIMEOUT,
            );
            for id in String::from_utf8_lossy(&containers.stdout).lines() {
                run_with_timeout(
                    &mut self.ctr_command(&["-n", ns, "c", "rm", id]),
                    COMMAND_TIMEOUT,
                );
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.remove_all(&["moby"])));
        // The daemon field's drop stops containerd by its pid.
    }
}

/// A private containerd in its own sandbox, with [`IMAGE`] imported (from
/// an OCI archive a private podman saves), driving the runtime under test
/// through `ctr run --runc-binary`, which sets the runc shim's
/// `BinaryName` option.
pub struct ContainerdEngine {
    pub runtime: Runtime,
    // Field order is drop order: containerd stops before the sandbox sweeps.
    pub containerd: Containerd,
    pub sandbox: Sandbox,
}

impl ContainerdEngine {
    pub fn new(runtime: Runtime) -> ContainerdEngine {
        let sandbox = Sandbox::new("containerd");
        let containerd = Containerd::start(&sandbox.path("containerd"));
        let engine = ContainerdEngine {
            runtime,
            containerd,
            sandbox,
        };
        let archive = engine.sandbox.path("busybox-oci.tar");
        {
            let podman = Podman::new(runtime);
            podman
                .run(&[
                    "save",
                    "--format",
                    "oci-archive",
                    "-o",
                    archive.to_str().expect("utf-8 path"),
                    IMAGE,
                ])
                .ok();
        }
        engine
            .containerd
            .ctr(&["images", "import", archive.to_str().expect("utf-8 path")])
            .ok();
        engine
    }

    /// `ctr run` of [`IMAGE`] as container `id` with the runtime under test,
    /// its state in the sandbox and its cgroup at `/<sandbox>/<id>`; `opts`
    /// go before the image, `args` after the id.
    pub fn run(&self, opts: &[&str], id: &str, args: &[&str]) -> Ran {
        Ran::new(&mut self.run_command(opts, id, args))
    }

    /// The command [`ContainerdEngine::run`] runs.
    pub fn run_command(&self, opts: &[&str], id: &str, args: &[&str]) -> Command {
        let runtime = self.runtime.path();
        let root = self.containerd.runtime_root();
        let fifo = self.containerd.fifo_dir();
        let cgroup = format!("{}/{id}", self.sandbox.cgroup_parent());
        let mut all = vec![
            "run",
            "--runc-binary",
            runtime.to_str().expect("utf-8 path"),
            "--runc-root",
            root.to_str().expect("utf-8 path"),
            "--fifo-dir",
            fifo.to_str().expect("utf-8 path"),
            "--cgroup",
            &cgroup,
        ];
        all.extend_from_slice(opts);
        all.push(IMAGE);
        all.push(id);
        all.extend_from_slice(args);
        self.containerd.ctr_command(&all)
    }

    /// `ctr task exec --exec-id EXEC_ID ID ARGS`.
    pub fn exec(&self, id: &str, exec_id: &str, args: &[&str]) -> Ran {
        let fifo = self.containerd.fifo_dir();
        let mut all = vec![
            "task",
            "exec",
            "--exec-id",
            exec_id,
            "--fifo-dir",
            fifo.to_str().expect("utf-8 path"),
            id,
        ];
        all.extend_from_slice(args);
        self.containerd.ctr(&all)
    }

    /// The status column of `ctr task ls` for `id` (RUNNING, STOPPED,
    /// PAUSED...), or None if there is no such task.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = self.containerd.ctr(&["task", "ls"]).ok().stdout();
        out.lines().skip(1).find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.first() == Some(&id)).then(|| cols.get(2).unwrap_or(&"").to_string())
        })
    }

    /// The task's pid, from `ctr task ls`.
    pub fn task_pid(&self, id: &str) -> u32 {
        let out = self.containerd.ctr(&["task", "ls"]).ok().stdout();
        out.lines()
            .skip(1)
            .find_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                (cols.first() == Some(&id)).then(|| cols.get(1)?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no task {id} in ctr task ls: {out}"))
    }
}

// ---------------------------------------------------------------------------
// dockerd + docker
// ---------------------------------------------------------------------------

/// The name the runtime under test is registered under in dockerd
/// (`--add-runtime NAME=PATH`; "runc" is reserved by dockerd).
pub const DOCKER_RUNTIME_NAME: &str = "tested";

/// A private mount namespace other processes can be started in (the
/// one a private journald made for itself, [`crate::log_sinks::Journald`]):
/// [`MountNs::enter`] makes a command's child `setns(2)` into it before it
/// execs, so that daemons and clients see the same private `/run/systemd`.
#[derive(Clone, Debug)]
pub struct MountNs {
    /// `/proc/PID/ns/mnt` of a process in the namespace.
    pub path: PathBuf,
}

impl MountNs {
    /// Makes `cmd` run in this namespace.
    pub fn enter(&self, cmd: &mut Command) {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let ns = std::fs::File::open(&self.path)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.path.display()));
        // SAFETY: between fork and exec only setns(2) runs (async-signal
        // safe); the file stays open in the closure until then.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// The Docker CLI that talks to dockerd (Debian's docker.io; another
/// `docker` earlier on PATH may be an unrelated client).
pub const DOCKER_CLI: &str = "/usr/bin/docker";

/// A private dockerd (Debian docker.io 20.10) on a private containerd, with
/// no networking set-up (`--bridge=none`, no iptables, no forwarding), its
/// own data and exec roots, socket, pidfile, daemon.json and cgroup parent,
/// the runtime under test registered as [`DOCKER_RUNTIME_NAME`], and
/// [`IMAGE`] imported from a busybox tarball. Dropping it removes its
/// containers (`docker rm -f`), then stops dockerd and containerd by pid.
pub struct Dockerd {
    pub runtime: Runtime,
    // Field order is drop order: dockerd, then containerd, then the sweep.
    daemon: Daemon,
    pub containerd: Containerd,
    pub sandbox: Sandbox,
}

impl Dockerd {
    pub fn new(runtime: Runtime) -> Dockerd {
        Dockerd::start(runtime, None)
    }

    /// A private dockerd (and its containerd) in mount namespace `ns`.
    pub fn in_mount_ns(runtime: Runtime, ns: &MountNs) -> Dockerd {
        Dockerd::start(runtime, Some(ns))
    }

    fn start(runtime: Runtime, ns: Option<&MountNs>) -> Dockerd {
        require_program("dockerd", "docker.io");
        assert!(
            Path::new(DOCKER_CLI).exists(),
            "{DOCKER_CLI} not found: install the Debian package docker.io"
        );
        let sandbox = Sandbox::new("dockerd");
        let containerd = Containerd::start_in(&sandbox.path("containerd"), ns);
        // Our own daemon.json, so that /etc/docker/daemon.json is not read
        // and the daemon's trust key is not written to /etc/docker/key.json.
        let daemon_json = serde_json::json!({
            "deprecated-key-path": sandbox.path("key.json"),
        });
        std::fs::write(sandbox.path("daemon.json"), daemon_json.to_string())
            .expect("write daemon.json");
        let socket = sandbox.path("d.sock");
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(sandbox.path("daemon.json"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip6tables=false",
                "--ip-forward=false",
            ])
            .arg("--data-root")
            .arg(sandbox.path("data"))
            .arg("--exec-root")
            .arg(sandbox.path("exec"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--pidfile")
            .arg(sandbox.path("dockerd.pid"))
            .arg("--containerd")
            .arg(&containerd.socket)
            .arg("--add-runtime")
            .arg(format!(
                "{DOCKER_RUNTIME_NAME}={}",
                runtime.path().display()
            ))
            .arg("--cgroup-parent")
            .arg(sandbox.cgroup_parent())
            // root lacks CAP_SYS_RESOURCE here: keep RLIMIT_NOFILE below the hard limit.
            .args(["--default-ulimit", "nofile=20000:20000"]);
        if let Some(ns) = ns {
            ns.enter(&mut cmd);
        }
        let mut daemon = Daemon::spawn("dockerd", &mut cmd, sandbox.path("dockerd.log"));
        let cli_config = sandbox.path("cli");
        std::fs::create_dir_all(&cli_config).expect("mkdir docker cli config");
        let probe_socket = socket.clone();
        daemon.wait_ready(|| {
            probe_socket.exists()
                && Command::new(DOCKER_CLI)
                    .env("DOCKER_CONFIG", &cli_config)
                    .arg("-H")
                    .arg(format!("unix://{}", probe_socket.display()))
                    .arg("version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
        });
        let dockerd = Dockerd {
            runtime,
            daemon,
            containerd,
            sandbox,
        };
        let tar = dockerd.sandbox.path("busybox.tar");
        busybox_tarball(&dockerd.sandbox.dir.path, &tar);
        dockerd
            .docker(&[
                "import",
                "--change",
                "ENV PATH=/bin",
                tar.to_str().expect("utf-8 path"),
                IMAGE,
            ])
            .ok();
        dockerd
    }

    /// A `docker -H unix://SOCKET ARGS` command with a private CLI config.
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(DOCKER_CLI);
        cmd.env("DOCKER_CONFIG", self.sandbox.path("cli"))
            .arg("-H")
            .arg(format!("unix://{}", self.sandbox.path("d.sock").display()))
            .args(args);
        cmd
    }

    /// Runs a docker command (with the deadline).
    pub fn docker(&self, args: &[&str]) -> Ran {
        Ran::new(&mut self.docker_command(args))
    }

    /// `docker run --runtime tested --network none EXTRA`.
    pub fn run_container(&self, extra: &[&str]) -> Ran {
        Ran::new(&mut self.container_command(extra))
    }

    /// The command [`Dockerd::run_container`] runs.
    pub fn container_command(&self, extra: &[&str]) -> Command {
        let mut args = vec!["run", "--runtime", DOCKER_RUNTIME_NAME, "--network", "none"];
        args.extend_from_slice(extra);
        self.docker_command(&args)
    }

    /// Where the runc shim keeps the runtime's state for dockerd's
    /// containers (the runtime's `--root`).
    pub fn runtime_root(&self) -> PathBuf {
        self.sandbox.path("exec/runtime-runc/moby")
    }

    /// The end of dockerd's log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        self.daemon.log_tail(n)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ids = run_with_timeout(
                &mut self.docker_command(&["ps", "-a", "-q"]),
                COMMAND_TIMEOUT,
            );
            for id in String::from_utf8_lossy(&ids.stdout).lines() {
                run_with_timeout(&mut self.docker_command(&["rm", "-f", id]), COMMAND_TIMEOUT);
            }
            // A test that failed before its `network rm` would leave the
            // network's bridge on the host once dockerd is gone.
            run_with_timeout(
                &mut self.docker_command(&["network", "prune", "-f"]),
                COMMAND_TIMEOUT,
            );
        }));
        // Fields drop next: dockerd stops (by pid), then containerd, then
        // the sandbox sweeps up.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(
            unescape_mountinfo("/a\\040b\\011c"),
            PathBuf::from("/a b\tc")
        );
        assert_eq!(unescape_mountinfo("/plain"), PathBuf::from("/plain"));
        assert_eq!(unescape_mountinfo("/tail\\04"), PathBuf::from("/tail\\04"));
    }

    #[test]
    fn sigterm_bit_is_read_from_sigcgt() {
        assert!(sigterm_caught("Name:\tsh\nSigCgt:\t0000000000004000\n"));
        assert!(sigterm_caught("SigCgt:\t0000000000014002\n"));
        assert!(!sigterm_caught("SigCgt:\t0000000000010002\n"));
        assert!(!sigterm_caught("Name:\tsh\n"));
    }

    #[test]
    fn contains_finds_subslices_only() {
        assert!(contains(b"--root /tmp/bt1-x-0/root", b"/tmp/bt1-x-0"));
        assert!(!contains(b"--root /tmp/bt1-x-1", b"/tmp/bt1-x-0"));
        assert!(!contains(b"abc", b""));
    }
}
